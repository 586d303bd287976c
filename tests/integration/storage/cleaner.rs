//! Log compaction seen by real clients (librdkafka): keyed updates and tombstones produced,
//! the cleaner run by the broker, and every record consumed afterwards checked against what
//! was produced at its offset; a consumer reading while segments are swapped; restarts; and
//! kill -9 at every step of a clean (through the cleaner's test hook).

use crate::common::TestBroker;
use crate::common::raw::{
    RawClient, create_topic as raw_create_topic, find_coordinator, produce_to,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a record held: key and value (`None` = tombstone).
type Kv = (String, Option<String>);

/// Broker settings that make the cleaner look for work often.
const FAST_CLEANER: &[(&str, &str)] = &[("log.cleaner.backoff.ms", "100")];

/// A compacted topic whose segments roll after 100 ms of record time and hold 4 KiB, cleaned
/// as soon as anything is dirty.
const COMPACTED: &[(&str, &str)] = &[
    ("cleanup.policy", "compact"),
    ("segment.ms", "100"),
    ("internal.segment.bytes", "16384"),
    ("min.cleanable.dirty.ratio", "0.01"),
];

fn create_topic(b: &TestBroker, name: &str, configs: &[(&str, &str)]) {
    crate::common::create_topic(b, name, 1, configs);
}

fn producer(b: &TestBroker, codec: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.size", "8192")
        .set("compression.type", codec)
        .create()
        .expect("producer")
}

/// Produces `records` in order; returns offset → record as acknowledged.
fn produce(p: &FutureProducer, topic: &str, records: &[Kv]) -> BTreeMap<i64, Kv> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut pending = Vec::with_capacity(records.len());
        for (key, value) in records {
            let mut record = FutureRecord::<str, str>::to(topic).key(key.as_str());
            if let Some(v) = value {
                record = record.payload(v.as_str());
            }
            let fut = loop {
                match p.send_result(record) {
                    Ok(f) => break f,
                    Err((_, r)) => {
                        record = r;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            };
            pending.push((fut, key.clone(), value.clone()));
        }
        let mut acked = BTreeMap::new();
        for (fut, key, value) in pending {
            let delivery = fut
                .await
                .expect("delivery canceled")
                .expect("delivery failed");
            acked.insert(delivery.offset, (key, value));
        }
        acked
    })
}

/// `rounds` updates of `keys` keys, every seventh key (`key-0`, `key-7`, ...) deleted (a
/// tombstone) in the last round.
fn keyed_updates(keys: usize, rounds: usize, tag: &str) -> Vec<Kv> {
    let mut out = Vec::new();
    for round in 0..rounds {
        for k in 0..keys {
            let key = format!("key-{k}");
            let value = if round + 1 == rounds && k % 7 == 0 {
                None
            } else {
                Some(format!("{tag}-{k}-round-{round}-{}", "x".repeat(40)))
            };
            out.push((key, value));
        }
    }
    out
}

/// Every record of partition 0 from the beginning to the high watermark: (offset, record).
fn consume_all(b: &TestBroker, topic: &str) -> Vec<(i64, Kv)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("group.id", format!("reader-{topic}"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .create()
        .expect("consumer");
    let (_, high) = consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))
        .expect("watermarks");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut position = 0;
    while position < high {
        assert!(
            Instant::now() < deadline,
            "stuck at offset {position} of {high}"
        );
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = message.expect("consume error");
        let key = String::from_utf8(m.key().unwrap_or_default().to_vec()).expect("utf-8 key");
        let value = m
            .payload()
            .map(|v| String::from_utf8(v.to_vec()).expect("utf-8 value"));
        out.push((m.offset(), (key, value)));
        position = m.offset() + 1;
    }
    out
}

/// The cleaner's first dirty offset for `topic`-0 from the `cleaner-offset-checkpoint` file.
fn checkpointed(b: &TestBroker, topic: &str) -> Option<i64> {
    let text = std::fs::read_to_string(b.data_dir().join("cleaner-offset-checkpoint")).ok()?;
    text.lines().skip(2).find_map(|line| {
        let mut parts = line.split(' ');
        (parts.next() == Some(topic) && parts.next() == Some("0"))
            .then(|| parts.next().and_then(|o| o.parse().ok()))
            .flatten()
    })
}

/// Waits until the cleaner has cleaned `topic`-0 up to at least `offset`; returns where it is.
fn wait_cleaned(b: &TestBroker, topic: &str, offset: i64) -> i64 {
    crate::common::wait_for(Duration::from_secs(60), || {
        checkpointed(b, topic).filter(|c| *c >= offset)
    })
    .unwrap_or_else(|| {
        panic!(
            "{topic} not cleaned up to {offset}: {:?}",
            checkpointed(b, topic)
        )
    })
}

/// Rolls the active segment (its records age past segment.ms) so what was produced before
/// becomes cleanable; returns the offset of the roll record.
fn roll(p: &FutureProducer, topic: &str) -> i64 {
    std::thread::sleep(Duration::from_millis(150));
    let roll = produce(p, topic, &[("roll".to_string(), Some("roll".to_string()))]);
    *roll.keys().next().expect("one record")
}

/// Record by record, what a compacted log may hold: each consumed record is the one produced
/// at its offset, offsets ascend, everything from `cleaned_to` on is there, and below it
/// exactly the latest record of each key (tombstones included while their horizon lasts).
fn check_compacted(
    produced: &BTreeMap<i64, Kv>,
    consumed: &[(i64, Kv)],
    cleaned_to: i64,
    tombstones_kept: bool,
) {
    let mut last = -1;
    for (offset, record) in consumed {
        assert!(*offset > last, "offsets ascend: {offset} after {last}");
        last = *offset;
        assert_eq!(
            produced.get(offset),
            Some(record),
            "record at offset {offset}"
        );
    }
    let mut latest: HashMap<&str, i64> = HashMap::new();
    for (offset, (key, _)) in produced.range(..cleaned_to) {
        latest.insert(key, *offset);
    }
    let expected: Vec<i64> = produced
        .iter()
        .filter(|(offset, (key, value))| {
            **offset >= cleaned_to
                || (latest[key.as_str()] == **offset && (value.is_some() || tombstones_kept))
        })
        .map(|(offset, _)| *offset)
        .collect();
    let got: Vec<i64> = consumed.iter().map(|(o, _)| *o).collect();
    assert_eq!(got, expected, "offsets kept (cleaned up to {cleaned_to})");
}

#[test]
fn keyed_updates_and_tombstones_are_compacted_record_by_record() {
    let mut b = TestBroker::start_with(FAST_CLEANER);
    create_topic(&b, "compacted", COMPACTED);
    let p = producer(&b, "lz4");
    let mut produced = produce(&p, "compacted", &keyed_updates(200, 8, "a"));
    let roll_at = roll(&p, "compacted");
    produced.insert(roll_at, ("roll".into(), Some("roll".into())));
    let cleaned_to = wait_cleaned(&b, "compacted", roll_at);
    let consumed = consume_all(&b, "compacted");
    check_compacted(&produced, &consumed, cleaned_to, true);
    assert!(
        consumed.len() < produced.len() / 4,
        "compacted: {} of {}",
        consumed.len(),
        produced.len()
    );
    assert!(b.log_contains("Log cleaner thread 0 cleaned log compacted-0"));

    // A clean restart reads the same log back; the checkpoint carries the cleaner on.
    b.restart();
    assert_eq!(checkpointed(&b, "compacted"), Some(cleaned_to));
    assert_eq!(consume_all(&b, "compacted"), consumed);
}

#[test]
fn tombstones_disappear_after_delete_retention() {
    let b = TestBroker::start_with(FAST_CLEANER);
    let configs: Vec<(&str, &str)> = COMPACTED
        .iter()
        .copied()
        .chain([("delete.retention.ms", "0")])
        .collect();
    create_topic(&b, "deletes", &configs);
    let p = producer(&b, "none");
    let mut produced = produce(&p, "deletes", &keyed_updates(50, 3, "d"));
    let first_roll = roll(&p, "deletes");
    produced.insert(first_roll, ("roll".into(), Some("roll".into())));
    wait_cleaned(&b, "deletes", first_roll);
    // A clean keeps the tombstones it sees first, stamping a delete horizon of now + 0 ms;
    // the next clean drops them.
    produced.extend(produce(&p, "deletes", &keyed_updates(3, 1, "e")));
    let second_roll = roll(&p, "deletes");
    produced.insert(second_roll, ("roll".into(), Some("roll".into())));
    wait_cleaned(&b, "deletes", second_roll);
    produced.extend(produce(
        &p,
        "deletes",
        &[("key-1".into(), Some("f".into()))],
    ));
    let third_roll = roll(&p, "deletes");
    produced.insert(third_roll, ("roll".into(), Some("roll".into())));
    let cleaned_to = wait_cleaned(&b, "deletes", third_roll);
    let consumed = consume_all(&b, "deletes");
    check_compacted(&produced, &consumed, cleaned_to, false);
    assert!(
        consumed.iter().all(|(_, (_, v))| v.is_some()),
        "no tombstone left"
    );
}

#[test]
fn a_consumer_reading_during_cleaning_sees_whole_consistent_logs() {
    let b = TestBroker::start_with(FAST_CLEANER);
    create_topic(&b, "busy", COMPACTED);
    let p = producer(&b, "zstd");
    let mut produced = produce(&p, "busy", &keyed_updates(100, 30, "b"));
    let stop = Arc::new(AtomicBool::new(false));
    let snapshot = Arc::new(produced.clone());
    let bootstrap = b.bootstrap();
    let reader = {
        let (stop, snapshot) = (Arc::clone(&stop), Arc::clone(&snapshot));
        std::thread::spawn(move || {
            let mut passes = 0;
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", bootstrap.as_str())
                .set("group.id", "busy-reader")
                .set("enable.auto.commit", "false")
                .set("fetch.wait.max.ms", "20")
                .set("fetch.max.bytes", "65536")
                .set("message.max.bytes", "65536")
                .create()
                .expect("consumer");
            while !stop.load(Ordering::Acquire) || passes < 3 {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset("busy", 0, Offset::Beginning)
                    .expect("partition");
                consumer.assign(&tpl).expect("assign");
                let mut last = -1;
                let end = *snapshot.keys().next_back().expect("records");
                while last < end {
                    let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                        continue;
                    };
                    let m = message.expect("consume error");
                    assert!(m.offset() > last, "offsets ascend");
                    last = m.offset();
                    if let Some(expected) = snapshot.get(&m.offset()) {
                        assert_eq!(m.key(), Some(expected.0.as_bytes()));
                        assert_eq!(
                            m.payload().map(<[u8]>::to_vec),
                            expected.1.clone().map(String::into_bytes)
                        );
                    }
                }
                passes += 1;
            }
            passes
        })
    };
    let roll_at = roll(&p, "busy");
    produced.insert(roll_at, ("roll".into(), Some("roll".into())));
    let cleaned_to = wait_cleaned(&b, "busy", roll_at);
    stop.store(true, Ordering::Release);
    assert!(reader.join().expect("reader") >= 3);
    check_compacted(&produced, &consume_all(&b, "busy"), cleaned_to, true);
}

#[test]
fn kill_9_at_every_step_of_a_clean_leaves_a_consistent_log() {
    for step in [
        "after-cleaned-written",
        "after-swap-renamed",
        "after-old-segments-deleted",
        "after-index-swap",
        "after-swap",
    ] {
        let mut b =
            TestBroker::start_with_env(FAST_CLEANER, &[("STROM_TEST_CLEANER_PAUSE_AT", step)]);
        create_topic(&b, "crash", COMPACTED);
        let p = producer(&b, "gzip");
        let mut produced = produce(&p, "crash", &keyed_updates(60, 6, step));
        let roll_at = roll(&p, "crash");
        produced.insert(roll_at, ("roll".into(), Some("roll".into())));
        let needle = format!("Log cleaner test hook: paused at {step}");
        assert!(
            crate::common::wait_for(Duration::from_secs(60), || b
                .log_contains(&needle)
                .then_some(()))
            .is_some(),
            "{step}: the cleaner never reached the step"
        );
        drop(p);
        b.kill9();
        b.set_env("STROM_TEST_CLEANER_PAUSE_AT", None);
        // First without the cleaner, to see what recovery alone left.
        b.set_config("log.cleaner.enable", Some("false"));
        b.start_again();
        // Straight after recovery: no leftovers, and a log that is either the old one or the
        // cleaned one, record for record.
        let dir = b.partition_dir("crash", 0);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .expect("partition dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| !n.ends_with(".cleaned") && !n.ends_with(".swap")),
            "{step}: leftovers {names:?}"
        );
        let consumed = consume_all(&b, "crash");
        if step == "after-cleaned-written" {
            // Only `.cleaned` files existed: they are dropped, the old segments stay.
            assert_eq!(
                consumed.len(),
                produced.len(),
                "{step}: the log as produced"
            );
            check_compacted(&produced, &consumed, 0, true);
        } else {
            // A complete `.swap` existed: recovery finishes the swap.
            check_compacted(&produced, &consumed, roll_at, true);
        }
        // And the cleaner finishes the job after the restart.
        b.stop();
        b.set_config("log.cleaner.enable", None);
        b.start_again();
        let cleaned_to = wait_cleaned(&b, "crash", roll_at);
        check_compacted(&produced, &consume_all(&b, "crash"), cleaned_to, true);
        b.stop();
    }
}

/// An uncompressed batch of `n` records without keys.
fn keyless_batch(n: usize) -> bytes::Bytes {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32 - 1,
            timestamp: 0,
            key: None,
            value: Some(bytes::Bytes::from(format!("v{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode");
    buf.freeze()
}

#[test]
fn records_without_a_key_are_refused_by_a_compacted_topic() {
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    let created = raw_create_topic(&mut c, "nokey", 1, &[("cleanup.policy", "compact")]);
    assert_eq!(created.error_code, 0);
    let response = produce_to(&mut c, "nokey", 0, keyless_batch(4), -1);
    assert_eq!(response.error_code, 87, "INVALID_RECORD");
    assert_eq!(response.base_offset, -1);
    assert_eq!(response.log_start_offset, 0);
    let one = "Compacted topic cannot accept message without key in topic partition nokey-0.";
    assert_eq!(
        response.error_message.as_deref(),
        Some(
            format!(
                "One or more records have been rejected due to 4 record errors in total, and only showing the first three errors at most: [RecordError(batchIndex=0, message='{one}'), RecordError(batchIndex=1, message='{one}'), RecordError(batchIndex=2, message='{one}')]"
            )
            .as_str()
        )
    );
    let indexes: Vec<i32> = response
        .record_errors
        .iter()
        .map(|e| e.batch_index)
        .collect();
    assert_eq!(indexes, vec![0, 1, 2, 3]);
    assert_eq!(
        response.record_errors[0]
            .batch_index_error_message
            .as_deref(),
        Some(one)
    );
    // Keyed records are fine, and librdkafka sees the keyless refusal as INVALID_RECORD.
    assert_eq!(
        produce_to(
            &mut c,
            "nokey",
            0,
            crate::common::raw::record_batch(2, None),
            -1
        )
        .error_code,
        0
    );
    let p = producer(&b, "none");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let refused = rt.block_on(async {
        p.send(
            FutureRecord::<str, str>::to("nokey").payload("no key"),
            Duration::from_secs(10),
        )
        .await
    });
    let (err, _) = refused.expect_err("refused");
    assert_eq!(
        err.rdkafka_error_code(),
        Some(rdkafka::types::RDKafkaErrorCode::InvalidRecord)
    );
}

/// Commits offsets of `partitions` partitions of `topic` for `group` (a simple consumer's
/// commit: no generation, no member).
fn commit(c: &mut RawClient, group: &str, topic: &str, partitions: i32, offset: i64) {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::{GroupId, OffsetCommitRequest};
    use kafka_protocol::protocol::StrBytes;
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(crate::common::raw::topic_name(topic))
                .with_partitions(
                    (0..partitions)
                        .map(|p| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset + i64::from(p))
                        })
                        .collect(),
                ),
        ]);
    let r = c.call(&req, 8);
    assert!(r.topics[0].partitions.iter().all(|p| p.error_code == 0));
}

/// The committed offsets of `group` for `topic`, by partition.
fn committed(c: &mut RawClient, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    use kafka_protocol::messages::{GroupId, OffsetFetchRequest};
    use kafka_protocol::protocol::StrBytes;
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(crate::common::raw::topic_name(topic))
                .with_partition_indexes((0..partitions).collect()),
        ]));
    crate::common::wait_for(Duration::from_secs(30), || {
        let r = c.call(&req, 7);
        (r.error_code == 0).then(|| {
            r.topics[0]
                .partitions
                .iter()
                .map(|p| p.committed_offset)
                .collect()
        })
    })
    .expect("offsets fetched")
}

/// Records and milliseconds of the last `__consumer_offsets-0` load in the broker's log.
fn last_offsets_load(b: &TestBroker) -> (u64, u64) {
    let log = b.log.lock().expect("log");
    let line = log
        .iter()
        .rev()
        .find(|l| l.contains("Finished loading of metadata from __consumer_offsets-0"))
        .expect("a load of __consumer_offsets-0")
        .clone();
    let ms = line.split(" in ").nth(1).and_then(|r| r.split("ms").next());
    let records = line.split("ms: ").nth(1).and_then(|r| r.split(' ').next());
    (
        records.and_then(|r| r.parse().ok()).expect("records"),
        ms.and_then(|m| m.parse().ok()).expect("ms"),
    )
}

/// `__consumer_offsets` is compacted: after many commits of a few keys, start-up reads back a
/// number of records bounded by the live keys (plus the uncleaned active segment), not by the
/// commit history. Run with STROM_OFFSETS_COMMITS=100000 for the figure in the notes.
#[test]
fn consumer_offsets_start_up_load_is_bounded_by_live_keys() {
    let commits: i64 = std::env::var("STROM_OFFSETS_COMMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let partitions = 4;
    let mut b = TestBroker::start_with(&[
        ("offsets.topic.num.partitions", "1"),
        ("offsets.topic.segment.bytes", "1048576"),
        ("log.cleaner.backoff.ms", "100"),
        ("log.cleaner.enable", "false"),
    ]);
    let mut c = RawClient::connect(b.port);
    assert_eq!(
        raw_create_topic(&mut c, "tracked", partitions, &[]).error_code,
        0
    );
    find_coordinator(&mut c, "g");
    for i in 0..commits {
        commit(&mut c, "g", "tracked", partitions, i);
    }
    drop(c);
    b.restart();
    let mut c = RawClient::connect(b.port);
    find_coordinator(&mut c, "g");
    let last = commits - 1;
    let expected: Vec<i64> = (0..i64::from(partitions)).map(|p| last + p).collect();
    assert_eq!(committed(&mut c, "g", "tracked", partitions), expected);
    let (records_before, ms_before) = last_offsets_load(&b);
    assert!(records_before >= (commits * i64::from(partitions)) as u64);

    // With the cleaner on, the offsets topic is compacted...
    drop(c);
    b.stop();
    b.set_config("log.cleaner.enable", None);
    b.start_again();
    let end = std::fs::read_dir(b.partition_dir("__consumer_offsets", 0))
        .expect("dir")
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".log")?.parse::<i64>().ok()
        })
        .max()
        .expect("segments");
    wait_cleaned(&b, "__consumer_offsets", end);
    // ... so the next start-up reads back little.
    b.restart();
    let mut c = RawClient::connect(b.port);
    find_coordinator(&mut c, "g");
    assert_eq!(committed(&mut c, "g", "tracked", partitions), expected);
    let (records_after, ms_after) = last_offsets_load(&b);
    eprintln!(
        "__consumer_offsets load after {commits} commits of {partitions} keys: {records_before} records in {ms_before} ms before compaction, {records_after} records in {ms_after} ms after"
    );
    // What is left: one record per live key plus the active segment (at most 1 MiB of
    // uncleaned commits, and a commit record takes more than 64 bytes).
    let active_segment_records = (1 << 20) / 64;
    assert!(
        records_after <= active_segment_records + 10 && records_after * 4 < records_before,
        "bounded by live keys plus the active segment: {records_after} (before: {records_before})"
    );
}

/// `cleanup.policy` changed live (AlterConfigs) from delete to compact: the cleaner takes the
/// topic up without a restart.
#[test]
fn a_topic_switched_to_compact_is_compacted_without_a_restart() {
    use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    let b = TestBroker::start_with(FAST_CLEANER);
    let delete: Vec<(&str, &str)> = COMPACTED
        .iter()
        .map(|&(k, v)| {
            if k == "cleanup.policy" {
                (k, "delete")
            } else {
                (k, v)
            }
        })
        .collect();
    create_topic(&b, "switched", &delete);
    let p = producer(&b, "snappy");
    let mut produced = produce(&p, "switched", &keyed_updates(40, 5, "s"));
    let roll_at = roll(&p, "switched");
    produced.insert(roll_at, ("roll".into(), Some("roll".into())));
    assert_eq!(
        checkpointed(&b, "switched"),
        None,
        "not compacted while policy is delete"
    );

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .create()
        .expect("admin client");
    // Legacy AlterConfigs replaces the whole set: give every override again.
    let mut change = AlterConfig::new(ResourceSpecifier::Topic("switched"));
    for (k, v) in COMPACTED {
        change = change.set(k, v);
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let altered = rt
        .block_on(admin.alter_configs(&[change], &AdminOptions::new()))
        .expect("alter_configs");
    assert!(altered[0].is_ok(), "{:?}", altered[0]);
    let cleaned_to = wait_cleaned(&b, "switched", roll_at);
    check_compacted(&produced, &consume_all(&b, "switched"), cleaned_to, true);
}
