//! End-to-end produce/consume with librdkafka (the `rdkafka` crate) against the real binary.

use crate::common::{TestBroker, create_topic};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::Duration;

fn producer(b: &TestBroker, extra: &[(&str, &str)]) -> FutureProducer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", b.bootstrap())
        .set("acks", "all")
        .set("linger.ms", "5");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().expect("producer")
}

/// Produces `n` keyed messages (keys k0..k49, values "<key>:<seq>") and returns
/// each acknowledged (partition, offset, key, value).
fn produce_keyed(p: &FutureProducer, topic: &str, n: usize) -> Vec<(i32, i64, String, String)> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut futures = Vec::with_capacity(n);
        let mut per_key: HashMap<String, usize> = HashMap::new();
        for i in 0..n {
            let key = format!("k{}", i % 50);
            let seq = per_key.entry(key.clone()).or_default();
            let value = format!("{key}:{seq}");
            *seq += 1;
            let mut record = FutureRecord::to(topic).key(&key).payload(&value);
            let fut = loop {
                match p.send_result(record) {
                    Ok(f) => break f,
                    // Queue full: let deliveries drain, then retry.
                    Err((_, r)) => {
                        record = r;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            };
            futures.push((fut, key, value));
        }
        let mut acked = Vec::with_capacity(n);
        for (f, key, value) in futures {
            let delivery = f
                .await
                .expect("delivery canceled")
                .expect("delivery failed");
            acked.push((delivery.partition, delivery.offset, key, value));
        }
        acked
    })
}

/// Reads every partition of `topic` from the beginning until `n` messages have arrived.
fn consume_all(
    b: &TestBroker,
    topic: &str,
    partitions: i32,
    n: usize,
) -> Vec<(i32, i64, String, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        // librdkafka needs a group id even for assign(); offsets are never committed here.
        .set("group.id", format!("reader-{topic}"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::with_capacity(n);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while out.len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "consumed only {} of {n}",
            out.len()
        );
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.expect("consume error");
            let key = String::from_utf8(m.key().unwrap_or_default().to_vec()).unwrap();
            let value = String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap();
            out.push((m.partition(), m.offset(), key, value));
        }
    }
    out
}

/// Per partition, offsets must be 0..n without gaps, and per key the sequence numbers
/// must arrive in order.
fn check_order_and_gaps(consumed: &[(i32, i64, String, String)]) {
    let mut next_offset: HashMap<i32, i64> = HashMap::new();
    let mut next_seq: HashMap<&str, usize> = HashMap::new();
    let mut key_partition: HashMap<&str, i32> = HashMap::new();
    for (p, off, key, value) in consumed {
        let expected = next_offset.entry(*p).or_insert(0);
        assert_eq!(off, expected, "gap or reorder in partition {p}");
        *expected += 1;
        let kp = key_partition.entry(key).or_insert(*p);
        assert_eq!(kp, p, "key {key} moved partitions");
        let seq: usize = value.rsplit(':').next().unwrap().parse().unwrap();
        let want = next_seq.entry(key).or_insert(0);
        assert_eq!(seq, *want, "key {key} out of order");
        *want += 1;
    }
}

#[test]
fn hundred_thousand_keyed_messages_round_trip_in_order() {
    let b = TestBroker::start();
    create_topic(&b, "orders", 3, &[]);
    let p = producer(&b, &[]);
    let acked = produce_keyed(&p, "orders", 100_000);
    p.flush(Duration::from_secs(30)).unwrap();
    let consumed = consume_all(&b, "orders", 3, 100_000);
    assert_eq!(consumed.len(), 100_000);
    check_order_and_gaps(&consumed);
    // Every acknowledged (partition, offset) holds what was sent.
    let by_pos: HashMap<(i32, i64), &(i32, i64, String, String)> =
        consumed.iter().map(|c| ((c.0, c.1), c)).collect();
    for (p, off, key, value) in &acked {
        let c = by_pos[&(*p, *off)];
        assert_eq!((&c.2, &c.3), (key, value));
    }
}

#[test]
fn every_compression_codec_round_trips() {
    let b = TestBroker::start();
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        create_topic(&b, &topic, 1, &[]);
        let p = producer(
            &b,
            &[("compression.type", codec), ("batch.num.messages", "100")],
        );
        produce_keyed(&p, &topic, 1_000);
        let consumed = consume_all(&b, &topic, 1, 1_000);
        check_order_and_gaps(&consumed);
    }
    // Stored as sent: the compressed batches are on disk with their codec bits intact.
    // librdkafka sends a batch uncompressed when compressing would not shrink it (a lone small
    // message, as a loaded machine may produce first), so: every batch is zstd or plain, and
    // some are zstd.
    let log = std::fs::read(
        crate::common::segment_files(&b.partition_dir("codec-zstd", 0), "log")[0].clone(),
    )
    .unwrap();
    let mut codecs = Vec::new();
    let mut at = 0;
    while at + 23 <= log.len() {
        let length = i32::from_be_bytes(log[at + 8..at + 12].try_into().unwrap()) as usize;
        codecs.push(i16::from_be_bytes([log[at + 21], log[at + 22]]) & 0x7);
        at += 12 + length;
    }
    assert!(
        codecs.iter().all(|c| *c == 0 || *c == 4) && codecs.contains(&4),
        "batch codecs on disk: {codecs:?}"
    );
}

#[test]
fn idempotent_producer_round_trips() {
    let b = TestBroker::start();
    create_topic(&b, "idem", 2, &[]);
    let p = producer(&b, &[("enable.idempotence", "true")]);
    produce_keyed(&p, "idem", 5_000);
    let consumed = consume_all(&b, "idem", 2, 5_000);
    check_order_and_gaps(&consumed);
}

#[test]
fn offsets_for_times_uses_the_time_index() {
    let b = TestBroker::start();
    create_topic(&b, "times", 1, &[]);
    let p = producer(&b, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for i in 0..100i64 {
            let payload = format!("v{i}");
            let rec = FutureRecord::to("times")
                .key("k")
                .payload(&payload)
                .timestamp(1_000_000 + i * 1000);
            p.send(rec, Duration::from_secs(10)).await.expect("send");
        }
    });
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("times", 0, Offset::Offset(1_000_000 + 42 * 1000 - 500))
        .unwrap();
    let found = consumer
        .offsets_for_times(tpl, Duration::from_secs(10))
        .expect("offsets_for_times");
    assert_eq!(
        found.find_partition("times", 0).unwrap().offset(),
        Offset::Offset(42)
    );
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("times", 0, Offset::Offset(9_000_000))
        .unwrap();
    let found = consumer
        .offsets_for_times(tpl, Duration::from_secs(10))
        .expect("offsets_for_times");
    assert_eq!(
        found.find_partition("times", 0).unwrap().offset(),
        Offset::End
    );
}

#[test]
fn data_survives_a_clean_restart() {
    let mut b = TestBroker::start();
    create_topic(&b, "durable", 2, &[]);
    let p = producer(&b, &[]);
    produce_keyed(&p, "durable", 2_000);
    drop(p);
    b.restart();
    assert!(
        b.log_contains("shut down completed"),
        "no clean shutdown logged"
    );
    let consumed = consume_all(&b, "durable", 2, 2_000);
    check_order_and_gaps(&consumed);
    // Appends continue after the restored end.
    let p = producer(&b, &[]);
    let more = produce_keyed(&p, "durable", 10);
    assert!(more.iter().all(|(_, off, _, _)| *off >= 900));
}

#[test]
fn acknowledged_messages_survive_kill_9() {
    let mut b = TestBroker::start();
    create_topic(&b, "crash", 3, &[]);
    let p = producer(&b, &[("message.timeout.ms", "10000")]);
    let acked = produce_keyed(&p, "crash", 20_000);
    drop(p);
    b.kill9();
    b.start_again();
    assert!(!b.log_contains("shut down completed"));
    let consumed = consume_all(&b, "crash", 3, acked.len());
    let got: std::collections::HashSet<(i32, i64)> = consumed.iter().map(|c| (c.0, c.1)).collect();
    for (p, off, _, _) in &acked {
        assert!(got.contains(&(*p, *off)), "acknowledged {p}/{off} lost");
    }
    check_order_and_gaps(&consumed);
}
