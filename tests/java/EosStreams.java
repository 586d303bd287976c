import java.util.Properties;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;

/**
 * A Kafka Streams application with processing.guarantee=exactly_once_v2: uppercases every
 * record of the input topic into the output topic. Runs until killed.
 *
 *   EosStreams BOOTSTRAP INPUT OUTPUT APPLICATION_ID STATE_DIR
 */
public class EosStreams {
  public static void main(String[] a) throws Exception {
    Properties p = new Properties();
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a[0]);
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, a[3]);
    p.put(StreamsConfig.STATE_DIR_CONFIG, a[4]);
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, "100");
    p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.String().getClass());
    p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.String().getClass());
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
    p.put(StreamsConfig.consumerPrefix("max.poll.records"), 50);
    StreamsBuilder b = new StreamsBuilder();
    b.<String, String>stream(a[1]).mapValues(v -> v.toUpperCase()).to(a[2]);
    KafkaStreams streams = new KafkaStreams(b.build(), p);
    streams.setUncaughtExceptionHandler(e -> {
      System.out.println("streams error: " + e);
      return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
    });
    streams.start();
    System.out.println("started");
    Thread.sleep(Long.MAX_VALUE);
  }
}
