import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.serialization.*;

/**
 * Exactly-once checks with Kafka's own Java client, against a broker at args[0]:
 *  - a consume-transform-produce loop with sendOffsetsToTransaction, many transactions per
 *    producer, every third one aborted;
 *  - a read_committed consumer sees exactly the committed records, a read_uncommitted one
 *    sees the aborted ones too;
 *  - a zombie producer is fenced by a second instance with the same transactional.id.
 * Prints "OK <check>" lines and exits 0, or throws.
 */
public class TxnClient {
  static String bootstrap;

  static Properties common() {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    return p;
  }

  static KafkaProducer<String, String> producer(String txnId) {
    Properties p = common();
    p.put("transactional.id", txnId);
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    p.put("transaction.timeout.ms", "30000");
    return new KafkaProducer<>(p);
  }

  static KafkaConsumer<String, String> consumer(String group, String isolation) {
    Properties p = common();
    p.put("group.id", group);
    p.put("isolation.level", isolation);
    p.put("enable.auto.commit", "false");
    p.put("auto.offset.reset", "earliest");
    p.put("max.poll.records", "10");
    p.put("key.deserializer", StringDeserializer.class.getName());
    p.put("value.deserializer", StringDeserializer.class.getName());
    return new KafkaConsumer<>(p);
  }

  static List<String> drain(String topic, String isolation, int expected) {
    try (KafkaConsumer<String, String> c = consumer("drain-" + UUID.randomUUID(), isolation)) {
      c.subscribe(List.of(topic));
      List<String> out = new ArrayList<>();
      long deadline = System.currentTimeMillis() + 60000;
      int idle = 0;
      while (System.currentTimeMillis() < deadline) {
        ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(500));
        for (ConsumerRecord<String, String> r : rs) out.add(r.value());
        if (out.size() >= expected && rs.isEmpty() && ++idle > 3) break;
      }
      return out;
    }
  }

  public static void main(String[] args) throws Exception {
    bootstrap = args[0];
    String suffix = args.length > 1 ? args[1] : "";
    String in = "txn-in" + suffix, out = "txn-out" + suffix;
    try (Admin admin = Admin.create(common())) {
      admin.createTopics(List.of(new NewTopic(in, 2, (short) 1), new NewTopic(out, 3, (short) 1))).all().get();
    }
    // Input: 200 plain records.
    try (KafkaProducer<String, String> p = new KafkaProducer<>(common(), new StringSerializer(), new StringSerializer())) {
      for (int i = 0; i < 200; i++) p.send(new ProducerRecord<>(in, "k" + i, "v" + i));
    }
    // Consume-transform-produce: batches of 10 input records per transaction, every third aborted.
    Set<String> committed = new HashSet<>();
    int aborted = 0;
    try (KafkaProducer<String, String> p = producer("ctp" + suffix);
         KafkaConsumer<String, String> c = consumer("ctp-group" + suffix, "read_committed")) {
      p.initTransactions();
      c.subscribe(List.of(in));
      int consumed = 0, txn = 0;
      long deadline = System.currentTimeMillis() + 120000;
      while (consumed < 200 && System.currentTimeMillis() < deadline) {
        ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(500));
        if (rs.isEmpty()) continue;
        p.beginTransaction();
        List<String> outputs = new ArrayList<>();
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (ConsumerRecord<String, String> r : rs) {
          String v = r.value().toUpperCase();
          p.send(new ProducerRecord<>(out, r.key(), v));
          outputs.add(v);
          offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
        }
        p.sendOffsetsToTransaction(offsets, c.groupMetadata());
        if (++txn % 3 == 0) {
          // abortTransaction drops records not yet sent: deliver them first, so the aborted
          // data is in the log (read_uncommitted must see it, read_committed must not).
          p.flush();
          p.abortTransaction();
          aborted++;
          // Rewind to the last committed offsets: the aborted input is processed again.
          for (TopicPartition tp : offsets.keySet()) {
            OffsetAndMetadata om = c.committed(Set.of(tp)).get(tp);
            c.seek(tp, om == null ? 0 : om.offset());
          }
        } else {
          p.commitTransaction();
          committed.addAll(outputs);
          consumed += outputs.size();
        }
      }
      if (consumed != 200) throw new AssertionError("consumed " + consumed + " of 200");
      Map<TopicPartition, OffsetAndMetadata> done = c.committed(Set.of(new TopicPartition(in, 0), new TopicPartition(in, 1)));
      long total = done.values().stream().filter(Objects::nonNull).mapToLong(OffsetAndMetadata::offset).sum();
      if (total != 200) throw new AssertionError("committed offsets sum " + total + ": " + done);
    }
    System.out.println("OK consume-transform-produce " + committed.size() + " committed, " + aborted + " transactions aborted");

    List<String> readCommitted = drain(out, "read_committed", 200);
    if (readCommitted.size() != 200 || !new HashSet<>(readCommitted).equals(committed))
      throw new AssertionError("read_committed saw " + readCommitted.size() + " records, expected exactly the 200 committed");
    System.out.println("OK read_committed sees exactly the committed records");
    List<String> readUncommitted = drain(out, "read_uncommitted", 201);
    if (readUncommitted.size() <= 200)
      throw new AssertionError("read_uncommitted saw only " + readUncommitted.size() + " records; aborted ones missing");
    System.out.println("OK read_uncommitted also sees the " + (readUncommitted.size() - 200) + " aborted records");

    // Zombie fencing: a second instance with the same transactional.id fences the first.
    KafkaProducer<String, String> zombie = producer("fence" + suffix);
    zombie.initTransactions();
    zombie.beginTransaction();
    zombie.send(new ProducerRecord<>(out, "z", "zombie-open")).get();
    try (KafkaProducer<String, String> next = producer("fence" + suffix)) {
      next.initTransactions();
      next.beginTransaction();
      next.send(new ProducerRecord<>(out, "n", "next")).get();
      next.commitTransaction();
    }
    boolean fenced = false;
    try {
      zombie.send(new ProducerRecord<>(out, "z", "zombie-late")).get();
      zombie.commitTransaction();
    } catch (ProducerFencedException | InvalidProducerEpochException e) {
      fenced = true;
    } catch (ExecutionException e) {
      fenced = e.getCause() instanceof ProducerFencedException || e.getCause() instanceof InvalidProducerEpochException;
      if (!fenced) throw e;
    } catch (org.apache.kafka.common.KafkaException e) {
      fenced = e instanceof ProducerFencedException || e.getCause() instanceof ProducerFencedException
          || e.getCause() instanceof InvalidProducerEpochException;
      if (!fenced) throw e;
    }
    try { zombie.close(Duration.ofSeconds(5)); } catch (Exception ignored) { }
    if (!fenced) throw new AssertionError("zombie was not fenced");
    List<String> after = drain(out, "read_committed", 201);
    if (after.contains("zombie-open") || after.contains("zombie-late") || !after.contains("next"))
      throw new AssertionError("after fencing, read_committed saw " + after.subList(Math.max(0, after.size() - 5), after.size()));
    System.out.println("OK zombie fenced; its records never visible to read_committed");
  }
}
