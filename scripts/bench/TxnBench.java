import java.util.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Transactional produce load for scripts/bench.sh: records of a fixed size in transactions of
 * a fixed number of records (acks=all, idempotent, as transactions require), one producer.
 *
 *   TxnBench BOOTSTRAP TOPIC RECORDS SIZE PER_TXN
 *
 * Prints one line: "TXN-BENCH records=N seconds=S txns=T commit_p50_ms=.. commit_p99_ms=.."
 * (commit latency: commitTransaction() call to return, which includes flushing the last
 * records of the transaction).
 */
public class TxnBench {
  public static void main(String[] a) throws Exception {
    String bootstrap = a[0], topic = a[1];
    long records = Long.parseLong(a[2]);
    int size = Integer.parseInt(a[3]);
    int perTxn = Integer.parseInt(a[4]);
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("transactional.id", "txn-bench-" + topic + "-" + System.nanoTime());
    p.put("linger.ms", "5");
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
      producer.initTransactions();
      byte[] value = new byte[size];
      Arrays.fill(value, (byte) 'x');
      List<Double> commits = new ArrayList<>();
      long sent = 0, txns = 0;
      long start = System.nanoTime();
      while (sent < records) {
        producer.beginTransaction();
        long n = Math.min(perTxn, records - sent);
        for (long i = 0; i < n; i++) producer.send(new ProducerRecord<>(topic, value));
        long c0 = System.nanoTime();
        producer.commitTransaction();
        commits.add((System.nanoTime() - c0) / 1e6);
        sent += n;
        txns++;
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      Collections.sort(commits);
      double p50 = commits.get(commits.size() / 2);
      double p99 = commits.get(Math.min(commits.size() - 1, (int) (commits.size() * 0.99)));
      System.out.printf(Locale.ROOT,
          "TXN-BENCH records=%d seconds=%.3f txns=%d commit_p50_ms=%.2f commit_p99_ms=%.2f%n",
          sent, seconds, txns, p50, p99);
    }
  }
}
