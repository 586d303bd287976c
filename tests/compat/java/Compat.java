// The compatibility scenario with the reference Java client (org.apache.kafka:kafka-clients).
//
// Same steps and output lines as every other program in tests/compat (see README.md there):
//   CLIENT <name> <version> <engine>
//   STEP <n> <name> PASS|FAIL|SKIP <detail>
// Usage: java -cp CLASSPATH Compat --bootstrap HOST:PORT --topic BASE

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class Compat {
    static final int MESSAGES = 1000;
    static final int KEYS = 50;
    static final int FIRST_HALF = 500;
    static final int PARTITIONS = 3;
    static final int FEATURE_BATCH = 10;
    // Explicit CreateTime far from "now", so a broker that stamps its own clock is caught.
    static final long BASE_TIMESTAMP_MS = 1_600_000_000_000L;
    static final Duration PHASE_TIMEOUT = Duration.ofSeconds(30);
    static final List<String> STEPS = List.of("create-topic", "produce-1000",
            "consume-500-commit", "resume-committed", "key-partition-order", "gzip", "snappy",
            "lz4", "zstd", "idempotent", "headers", "timestamps");
    static final List<String> CODECS = List.of("gzip", "snappy", "lz4", "zstd");
    static final List<String> FEATURES = List.of("gzip", "snappy", "lz4", "zstd",
            "idempotent", "headers", "timestamps");

    record Rec(int partition, long offset, String key, String value, List<Header> headers,
               long timestamp) {}

    /** A step's verdict; a client exception becomes a failed Check with its message. */
    record Check(boolean ok, String detail) {}

    static boolean failed = false;
    static String bootstrap;

    public static void main(String[] args) {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            opts.put(args[i], args[i + 1]);
        }
        bootstrap = opts.get("--bootstrap");
        final String topic = opts.get("--topic");
        if (bootstrap == null || topic == null) {
            System.err.println("usage: Compat --bootstrap HOST:PORT --topic BASE");
            System.exit(2);
        }
        String features = topic + "-features";
        String group = topic + "-group";
        System.out.println("CLIENT kafka-clients " + clientVersion() + " java-"
                + System.getProperty("java.version"));

        step("create-topic", () -> {
            try (Admin admin = Admin.create(props())) {
                admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1),
                        new NewTopic(features, 1, (short) 1))).all().get(PHASE_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
                int n = admin.describeTopics(List.of(topic)).allTopicNames()
                        .get(PHASE_TIMEOUT.toSeconds(), TimeUnit.SECONDS).get(topic).partitions().size();
                return new Check(n == PARTITIONS, topic + " has " + n + " partitions");
            }
        });

        List<ProducerRecord<String, String>> main = new ArrayList<>();
        for (int i = 0; i < MESSAGES; i++) {
            String key = "k" + (i % KEYS);
            main.add(new ProducerRecord<>(topic, key, key + ":" + (i / KEYS)));
        }
        step("produce-1000", () -> {
            produce(main, null);
            return new Check(true, MESSAGES + " acknowledged (acks=all)");
        });

        // Steps 6-12 before the group steps, so a group problem cannot hide them. Every feature
        // batch goes to the features topic, all are read back in one pass, and the lines are
        // printed in step order.
        Map<String, String> produceError = new HashMap<>();
        int sent = 0;
        for (String tag : FEATURES) {
            List<ProducerRecord<String, String>> batch = new ArrayList<>();
            for (int i = 0; i < FEATURE_BATCH; i++) {
                Long ts = tag.equals("timestamps") ? BASE_TIMESTAMP_MS + i : null;
                var headers = tag.equals("headers") ? featureHeaders(i) : new RecordHeaders();
                batch.add(new ProducerRecord<>(features, null, ts, "f", featureValue(tag, i),
                        headers));
            }
            try {
                produce(batch, tag.equals("headers") || tag.equals("timestamps") ? null : tag);
                sent++;
            } catch (Exception e) {
                e.printStackTrace();
                produceError.put(tag, "produce failed: " + e);
            }
        }
        List<Rec> records = List.of();
        String consumeError = null;
        try {
            records = consumePartition(features, FEATURE_BATCH * sent);
        } catch (Exception e) {
            e.printStackTrace();
            consumeError = "consuming the batches failed: " + e;
        }
        Map<String, List<Rec>> byTag = new HashMap<>();
        for (Rec r : records) {
            byTag.computeIfAbsent(r.value().split(":", 2)[0], k -> new ArrayList<>()).add(r);
        }
        for (String tag : FEATURES) {
            String error = produceError.getOrDefault(tag, consumeError);
            Check c = error != null ? new Check(false, error)
                    : checkFeature(tag, byTag.getOrDefault(tag, List.of()));
            report(tag, c.ok(), c.detail());
        }

        List<Rec> first = new ArrayList<>();
        List<Rec> second = new ArrayList<>();
        step("consume-500-commit", () -> {
            first.addAll(consumeGroup(topic, group, FIRST_HALF));
            if (first.size() != FIRST_HALF) {
                return new Check(false, "consumed " + first.size() + " of " + FIRST_HALF);
            }
            return new Check(true, "consumed " + FIRST_HALF + ", committed " + nextOffsets(first));
        });
        step("resume-committed", () -> {
            second.addAll(consumeGroup(topic, group, MESSAGES - first.size()));
            return checkResume(first, second);
        });
        List<Rec> all = new ArrayList<>(first);
        all.addAll(second);
        step("key-partition-order", () -> checkKeyOrder(all));
        System.exit(failed ? 1 : 0);
    }

    /** The version the jar was built as (kafka/kafka-version.properties, in every release). */
    static String clientVersion() {
        Properties p = new Properties();
        try (var in = KafkaProducer.class.getResourceAsStream("/kafka/kafka-version.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (java.io.IOException e) {
            return "unknown";
        }
        return p.getProperty("version", "unknown");
    }

    interface StepBody {
        Check run() throws Exception;
    }

    static void step(String name, StepBody body) {
        try {
            Check c = body.run();
            report(name, c.ok(), c.detail());
        } catch (Exception e) {
            e.printStackTrace();
            report(name, false, e.toString().replace('\n', ' '));
        }
    }

    static void report(String name, boolean ok, String detail) {
        failed |= !ok;
        System.out.println("STEP " + (STEPS.indexOf(name) + 1) + " " + name + " "
                + (ok ? "PASS" : "FAIL") + " " + detail);
        System.out.flush();
    }

    /** Common settings; the client-side deadlines follow the phase timeout, so a broker that
     * never answers fails the step instead of blocking for Kafka's 60 s defaults. */
    static Properties props() {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("default.api.timeout.ms", String.valueOf(PHASE_TIMEOUT.toMillis()));
        return p;
    }

    /** Sends with acks=all; `feature` is a codec, "idempotent" or null. Throws on any error. */
    static void produce(List<ProducerRecord<String, String>> records, String feature)
            throws Exception {
        Properties p = props();
        p.put("acks", "all");
        p.put("linger.ms", "5");
        p.put("max.block.ms", String.valueOf(PHASE_TIMEOUT.toMillis()));
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        if ("idempotent".equals(feature)) {
            p.put("enable.idempotence", "true");
        } else if (feature != null) {
            p.put("compression.type", feature);
        }
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (var r : records) {
                acks.add(producer.send(r));
            }
            producer.flush();
            for (var a : acks) {
                a.get(PHASE_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            }
        }
    }

    static KafkaConsumer<String, String> consumer(String group) {
        Properties p = props();
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        if (group != null) {
            p.put("group.id", group);
        }
        return new KafkaConsumer<>(p);
    }

    static List<Rec> pollUntil(KafkaConsumer<String, String> c, int want) {
        List<Rec> out = new ArrayList<>();
        long end = System.nanoTime() + PHASE_TIMEOUT.toNanos();
        while (out.size() < want && System.nanoTime() < end) {
            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                if (out.size() == want) {
                    break; // fetched but not consumed: not committed either
                }
                List<Header> hs = new ArrayList<>();
                r.headers().forEach(hs::add);
                out.add(new Rec(r.partition(), r.offset(), r.key(), r.value(), hs,
                        r.timestamp()));
            }
        }
        return out;
    }

    /** Joins `group`, consumes `want` records, commits exactly those, closes. */
    static List<Rec> consumeGroup(String topic, String group, int want) {
        try (var c = consumer(group)) {
            c.subscribe(List.of(topic));
            List<Rec> out = pollUntil(c, want);
            Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
            nextOffsets(out).forEach((p, o) ->
                    commit.put(new TopicPartition(topic, p), new OffsetAndMetadata(o)));
            if (!commit.isEmpty()) {
                c.commitSync(commit, PHASE_TIMEOUT);
            }
            return out;
        }
    }

    static List<Rec> consumePartition(String topic, int want) {
        try (var c = consumer(null)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            return pollUntil(c, want);
        }
    }

    static Map<Integer, Long> nextOffsets(List<Rec> records) {
        Map<Integer, Long> out = new TreeMap<>();
        for (Rec r : records) {
            out.merge(r.partition(), r.offset() + 1, Math::max);
        }
        return out;
    }

    static Check checkResume(List<Rec> first, List<Rec> second) {
        Map<Integer, Long> committed = nextOffsets(first);
        Map<Integer, Long> starts = new TreeMap<>();
        for (Rec r : second) {
            starts.putIfAbsent(r.partition(), r.offset());
        }
        for (var e : starts.entrySet()) {
            long want = committed.getOrDefault(e.getKey(), 0L);
            if (e.getValue() != want) {
                return new Check(false, "partition " + e.getKey() + " resumed at "
                        + e.getValue() + ", committed " + want);
            }
        }
        Set<String> seenFirst = new HashSet<>();
        first.forEach(r -> seenFirst.add(r.value()));
        for (Rec r : second) {
            if (seenFirst.contains(r.value())) {
                return new Check(false, "first-half record delivered again: " + r.value());
            }
        }
        Set<String> union = new HashSet<>(seenFirst);
        second.forEach(r -> union.add(r.value()));
        if (union.size() != MESSAGES || second.size() != MESSAGES - first.size()) {
            return new Check(false, (MESSAGES - union.size()) + " of " + MESSAGES
                    + " never consumed");
        }
        return new Check(true, "resumed at " + starts + "; all " + MESSAGES + " seen once");
    }

    /** Step 5; needs all messages, since a check over fewer would pass on what it never saw. */
    static Check checkKeyOrder(List<Rec> records) {
        if (records.size() < MESSAGES) {
            return new Check(false, "only " + records.size() + " of " + MESSAGES
                    + " records consumed; nothing to check");
        }
        Map<String, Set<Integer>> partitions = new TreeMap<>();
        Map<String, List<Integer>> seqs = new HashMap<>();
        for (Rec r : records) {
            partitions.computeIfAbsent(r.key(), k -> new TreeSet<>()).add(r.partition());
            String[] kv = r.value().split(":", 2);
            if (!kv[0].equals(r.key())) {
                return new Check(false, "key " + r.key() + " carries value " + r.value());
            }
            seqs.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(Integer.parseInt(kv[1]));
        }
        Set<Integer> used = new TreeSet<>();
        for (var e : partitions.entrySet()) {
            if (e.getValue().size() > 1) {
                return new Check(false, "key " + e.getKey() + " on partitions " + e.getValue());
            }
            used.addAll(e.getValue());
        }
        for (var e : seqs.entrySet()) {
            List<Integer> sorted = new ArrayList<>(e.getValue());
            sorted.sort(null);
            if (!sorted.equals(e.getValue())) {
                return new Check(false, "key " + e.getKey() + " out of order: " + e.getValue());
            }
        }
        return new Check(true, partitions.size() + " keys, each on one partition (partitions used: "
                + used + ")");
    }

    static String featureValue(String tag, int i) {
        return tag + ":" + i + ":" + "x".repeat(200);
    }

    static RecordHeaders featureHeaders(int i) {
        RecordHeaders h = new RecordHeaders();
        h.add("trace", ("t" + i).getBytes(StandardCharsets.UTF_8));
        h.add("dup", "a".getBytes(StandardCharsets.UTF_8));
        h.add("dup", "b".getBytes(StandardCharsets.UTF_8));
        h.add("empty", new byte[0]);
        return h;
    }

    static Check checkFeature(String tag, List<Rec> got) {
        List<String> values = new ArrayList<>();
        got.forEach(r -> values.add(r.value()));
        List<String> want = new ArrayList<>();
        for (int i = 0; i < FEATURE_BATCH; i++) {
            want.add(featureValue(tag, i));
        }
        if (!values.equals(want)) {
            return new Check(false, "consumed " + got.size() + " of " + FEATURE_BATCH
                    + " or out of order");
        }
        for (int i = 0; i < got.size(); i++) {
            Rec r = got.get(i);
            if (tag.equals("headers") && !sameHeaders(r.headers(), featureHeaders(i))) {
                return new Check(false, "headers differ at " + i + ": " + r.headers());
            }
            if (tag.equals("timestamps") && r.timestamp() != BASE_TIMESTAMP_MS + i) {
                return new Check(false, "timestamp " + r.timestamp() + ", sent "
                        + (BASE_TIMESTAMP_MS + i));
            }
        }
        return new Check(true, FEATURE_BATCH + " records round-tripped");
    }

    static boolean sameHeaders(List<Header> got, RecordHeaders want) {
        List<String> a = new ArrayList<>();
        got.forEach(h -> a.add(headerText(h)));
        List<String> b = new ArrayList<>();
        want.forEach(h -> b.add(headerText(h)));
        return a.equals(b);
    }

    static String headerText(Header h) {
        byte[] v = h.value() == null ? new byte[0] : h.value();
        return h.key() + "=" + new String(v, StandardCharsets.UTF_8);
    }
}
