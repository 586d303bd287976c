//! The cleaning pass against a model of Kafka's compaction semantics, segment grouping, the
//! swap under concurrent readers, and crash recovery at every step of the swap.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use proptest::prelude::*;

use super::clean::{Cleaner, Round, group_segments_by_size};
use super::manager::CleanerManager;
use super::throttle::Throttler;
use super::{CleanError, LogToClean};
use crate::config::{CleanupPolicy, LogConfig};
use crate::log::compression::{compress, expand};
use crate::log::unified_log::{LoadHints, UnifiedLog};
use crate::log::{BatchHeader, TopicPartition, check_stored_batch};

/// One produced record: key, value (None = tombstone).
type Kv = (Option<Vec<u8>>, Option<Vec<u8>>);
/// A record read back: offset, key, value, timestamp.
type Stored = (i64, Option<Vec<u8>>, Option<Vec<u8>>, i64);

fn compacted(segment_bytes: i32) -> LogConfig {
    LogConfig {
        segment_bytes,
        cleanup_policy: CleanupPolicy {
            delete: false,
            compact: true,
        },
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 1_000,
        index_interval_bytes: 128,
        ..LogConfig::default()
    }
}

fn new_log(config: LogConfig) -> (tempfile::TempDir, Arc<UnifiedLog>) {
    let (root, log) = crate::log::unified_log::test_util::new_log(config);
    (root, Arc::new(log))
}

/// An encoded batch of `records` with timestamps `ts, ts+1, ...`.
fn keyed_batch(records: &[Kv], ts: i64, compression: Compression) -> BytesMut {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: ts + i as i64,
            key: key.clone().map(Bytes::from),
            value: value.clone().map(Bytes::from),
            headers: IndexMap::new(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode_with_custom_compression(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
        Some(|raw: &mut BytesMut, out: &mut BytesMut, c: Compression| {
            out.extend_from_slice(&compress(codec_id(c), raw)?);
            Ok(())
        }),
    )
    .expect("encode");
    // Not idempotent: NO_SEQUENCE, as producers without idempotence send.
    buf[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    let crc = crate::log::crc32c(&buf[21..]);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
    buf
}

/// Every batch in the log, whole, with its CRC checked.
fn stored_batches(log: &UnifiedLog) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let data = log.read(offset, 1 << 20, true).expect("read").records;
        if data.is_empty() {
            break;
        }
        let mut at = 0;
        while let Some(h) = BatchHeader::parse(&data[at..]) {
            check_stored_batch(&data[at..at + h.size()]).expect("stored batch intact");
            out.push(data.bytes().slice(at..at + h.size()));
            offset = h.last_offset() + 1;
            at += h.size();
        }
    }
    out
}

/// Every record in the log: (offset, key, value, timestamp).
fn read_all(log: &UnifiedLog) -> Vec<Stored> {
    let mut out = Vec::new();
    for mut batch in stored_batches(log) {
        let set = RecordBatchDecoder::decode_with_custom_compression(
            &mut batch,
            Some(|raw: &mut Bytes, c: Compression| {
                Ok(Bytes::from(expand(codec_id(c), raw, 1 << 30)?))
            }),
        )
        .expect("decode");
        for r in set.records {
            out.push((
                r.offset,
                r.key.map(|k| k.to_vec()),
                r.value.map(|v| v.to_vec()),
                r.timestamp,
            ));
        }
    }
    out
}

/// Appends `key`ed filler until the active segment rolls, so the data before it is cleanable.
fn fill_until_roll(log: &UnifiedLog, key: &str, ts: i64) {
    let base = log.active_segment_base();
    while log.active_segment_base() == base {
        let record = (Some(key.as_bytes().to_vec()), Some(b"filler".to_vec()));
        log.append_as_leader(&keyed_batch(&[record], ts, Compression::None), 0)
            .expect("append");
    }
}

fn cleaner(map_bytes: usize) -> Cleaner {
    Cleaner::new(0, map_bytes, 0.9, 4096, Arc::new(Throttler::new(f64::MAX)))
}

/// One round as a cleaner thread runs it: pick, clean, checkpoint.
fn clean_once(
    manager: &CleanerManager,
    cleaner: &mut Cleaner,
    log: &Arc<UnifiedLog>,
    now_ms: i64,
    step: &dyn Fn(&str),
) -> Option<(i64, i64)> {
    let job = manager.grab_filthiest(std::slice::from_ref(log), now_ms)?;
    let start = job.first_dirty_offset;
    let round = Round {
        check_done: &|| Ok(()),
        step,
        now_ms,
    };
    let result = cleaner.clean(&job, &round);
    let end = result.as_ref().map_or(start, |(end, _)| *end);
    manager.done_cleaning(log, end);
    result.expect("clean");
    Some((start, end))
}

/// Kafka's semantics, record by record: what a compacted log holds after each round.
#[derive(Default)]
struct Model {
    /// Each record and the delete horizon of its batch, once it got one.
    records: Vec<(Stored, Option<i64>)>,
}

impl Model {
    fn produce(&mut self, first_offset: i64, records: &[Kv], ts: i64) {
        for (i, (k, v)) in records.iter().enumerate() {
            let stored = (first_offset + i as i64, k.clone(), v.clone(), ts + i as i64);
            self.records.push((stored, None));
        }
    }

    /// A round that mapped `[dirty, end)` at `now`.
    fn clean(&mut self, dirty: i64, end: i64, now: i64, retention: i64) {
        let mut latest: HashMap<Vec<u8>, i64> = HashMap::new();
        for ((offset, key, ..), _) in &self.records {
            if let Some(k) = key.as_ref().filter(|_| *offset >= dirty && *offset < end) {
                latest.insert(k.clone(), *offset);
            }
        }
        self.records
            .retain_mut(|((offset, key, value, _), horizon)| {
                if *offset >= end {
                    return true;
                }
                let Some(k) = key else { return false };
                let found = latest.get(k).copied().unwrap_or(-1);
                let keep = *offset >= found && (value.is_some() || horizon.is_none_or(|h| now < h));
                if keep && value.is_none() && horizon.is_none() {
                    *horizon = Some(now + retention);
                }
                keep
            });
    }

    fn view(&self) -> Vec<Stored> {
        self.records.iter().map(|(r, _)| r.clone()).collect()
    }
}

fn codec_id(c: Compression) -> u8 {
    match c {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
    }
}

fn codec(n: u8) -> Compression {
    match n % 5 {
        0 => Compression::None,
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        _ => Compression::Zstd,
    }
}

fn arb_batch() -> impl Strategy<Value = (Vec<Kv>, u8)> {
    let record = (0u8..12, prop::option::weighted(0.8, 0u16..1000)).prop_map(|(k, v)| {
        (
            Some(format!("key-{k}").into_bytes()),
            v.map(|v| format!("value-{v}").into_bytes()),
        )
    });
    (prop::collection::vec(record, 1..6), 0u8..5)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random keyed logs with tombstones and mixed codecs, cleaned in rounds with time moving
    /// on (so delete horizons pass), small and large offset maps: after each round the log
    /// holds exactly what Kafka's rules keep.
    #[test]
    fn cleaning_matches_kafkas_semantics(
        rounds in prop::collection::vec(prop::collection::vec(arb_batch(), 1..12), 1..5),
        tiny_map in any::<bool>(),
    ) {
        let (_root, log) = new_log(compacted(600));
        let manager = CleanerManager::new(&[log.dir().parent().expect("parent").to_path_buf()], &[]);
        let mut cleaner = cleaner(if tiny_map { 24 * 8 } else { 1 << 20 });
        let mut model = Model::default();
        let mut now = 10_000i64;
        for batches in rounds {
            for (records, c) in batches {
                let first = log.log_end_offset();
                log.append_as_leader(&keyed_batch(&records, now, codec(c)), now).expect("append");
                model.produce(first, &records, now);
                now += 7;
            }
            now += 400; // delete.retention.ms is 1000: tombstones go after a few rounds
            while let Some((dirty, end)) = clean_once(&manager, &mut cleaner, &log, now, &|_| {}) {
                model.clean(dirty, end, now, 1_000);
                prop_assert_eq!(read_all(&log), model.view());
                if end >= log.active_segment_base() {
                    break;
                }
            }
        }
        for segment in log.segments_in(0, log.active_segment_base()) {
            prop_assert!(segment.size() <= 600, "grouping keeps segments within segment.bytes");
        }
    }
}

#[test]
fn tombstones_get_a_delete_horizon_and_go_after_it() {
    let (_root, log) = new_log(compacted(300));
    let manager = CleanerManager::new(&[log.dir().parent().expect("parent").to_path_buf()], &[]);
    let mut cleaner = cleaner(1 << 20);
    let k = |s: &str| Some(s.as_bytes().to_vec());
    log.append_as_leader(
        &keyed_batch(
            &[(k("a"), k("1")), (k("b"), k("2"))],
            100,
            Compression::None,
        ),
        0,
    )
    .expect("append");
    log.append_as_leader(&keyed_batch(&[(k("a"), None)], 200, Compression::Lz4), 0)
        .expect("append");
    fill_until_roll(&log, "c", 300);
    clean_once(&manager, &mut cleaner, &log, 50_000, &|_| {}).expect("round");
    let records = read_all(&log);
    let tombstone = records
        .iter()
        .find(|r| r.1 == k("a"))
        .expect("tombstone kept until its horizon");
    assert_eq!(
        (tombstone.0, &tombstone.2, tombstone.3),
        (2, &None, 200),
        "offset and timestamp kept"
    );
    assert!(records.iter().any(|r| r.1 == k("b")), "b untouched");
    // The batch holding the tombstone now carries the horizon.
    let data = log.read(2, 1 << 20, true).expect("read").records;
    let header = BatchHeader::parse(&data).expect("header");
    assert_eq!(header.delete_horizon_ms(), Some(51_000));
    assert_eq!(header.compression(), 3, "codec kept");
    // Before the horizon a new round keeps it; after, it goes.
    fill_until_roll(&log, "d", 400);
    clean_once(&manager, &mut cleaner, &log, 50_999, &|_| {}).expect("round");
    assert!(read_all(&log).iter().any(|r| r.1 == k("a")));
    fill_until_roll(&log, "e", 500);
    clean_once(&manager, &mut cleaner, &log, 51_000, &|_| {}).expect("round");
    assert!(
        !read_all(&log).iter().any(|r| r.1 == k("a")),
        "gone after its horizon"
    );
}

#[test]
fn records_without_keys_are_dropped_by_the_cleaner() {
    // A topic that became compacted after keyless data was written.
    let config = LogConfig {
        cleanup_policy: CleanupPolicy {
            delete: true,
            compact: false,
        },
        ..compacted(200)
    };
    let (_root, log) = new_log(config.clone());
    for _ in 0..4 {
        log.append_as_leader(
            &keyed_batch(&[(None, Some(b"v".to_vec()))], 1, Compression::None),
            0,
        )
        .expect("append");
    }
    let err = {
        log.update_config(compacted(200));
        log.append_as_leader(
            &keyed_batch(&[(None, Some(b"v".to_vec()))], 1, Compression::Gzip),
            0,
        )
        .expect_err("keyless record in a compacted topic")
    };
    assert_eq!(err.error_code(), 87);
    assert_eq!(
        err.to_string(),
        "One or more records have been rejected due to 1 record errors in total, and only showing the first three errors at most: [RecordError(batchIndex=0, message='Compacted topic cannot accept message without key in topic partition t-0.')]"
    );
    log.append_as_leader(
        &keyed_batch(
            &[(Some(b"k".to_vec()), Some(b"v".to_vec()))],
            1,
            Compression::None,
        ),
        0,
    )
    .expect("keyed record");
    let manager = CleanerManager::new(&[log.dir().parent().expect("parent").to_path_buf()], &[]);
    clean_once(&manager, &mut cleaner(1 << 20), &log, 10, &|_| {}).expect("round");
    let records = read_all(&log);
    assert!(
        records
            .iter()
            .all(|r| r.1.is_some() || r.0 >= log.active_segment_base())
    );
}

#[test]
fn groups_respect_size_index_and_offset_limits() {
    let (_root, log) = new_log(LogConfig {
        index_interval_bytes: 1,
        ..compacted(300)
    });
    let k = |i: usize| Some(format!("k{i}").into_bytes());
    for i in 0..40 {
        log.append_as_leader(&keyed_batch(&[(k(i), k(i))], 1, Compression::None), 0)
            .expect("append");
    }
    let segments = log.segments_in(0, log.active_segment_base());
    let sizes: Vec<u64> = segments.iter().map(|s| s.size()).collect();
    let groups = group_segments_by_size(&segments, 600, u64::MAX, log.active_segment_base());
    for group in &groups {
        assert!(group.iter().map(|s| s.size()).sum::<u64>() <= 600);
    }
    assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), sizes.len());
    assert!(groups.len() < sizes.len(), "segments merged");
    let by_index = group_segments_by_size(&segments, u64::MAX, 16, log.active_segment_base());
    assert!(
        by_index.iter().all(|g| g.len() <= 2),
        "two 8-byte entries per group at most"
    );
}

#[test]
fn readers_never_see_a_torn_log_while_segments_are_swapped() {
    let (_root, log) = new_log(compacted(2_000));
    let k = |i: usize| Some(format!("key-{}", i % 50).into_bytes());
    for i in 0..600 {
        log.append_as_leader(
            &keyed_batch(&[(k(i), Some(vec![b'x'; 40]))], i as i64, Compression::None),
            0,
        )
        .expect("append");
    }
    let before = log.read(0, 1 << 20, true).expect("read").records;
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(Ordering::Acquire) || reads < 10 {
                let mut offset = 0;
                let mut last = -1;
                while offset < log.log_end_offset() {
                    let data = log.read(offset, 64 * 1024, true).expect("read").records;
                    let mut at = 0;
                    while let Some(h) = BatchHeader::parse(&data[at..]) {
                        check_stored_batch(&data[at..at + h.size()]).expect("whole, valid batch");
                        assert!(h.base_offset > last, "offsets ascend");
                        last = h.last_offset();
                        at += h.size();
                    }
                    assert_eq!(at, data.len(), "only whole batches");
                    offset = last + 1;
                }
                reads += 1;
            }
            reads
        })
    };
    let manager = CleanerManager::new(&[log.dir().parent().expect("parent").to_path_buf()], &[]);
    clean_once(&manager, &mut cleaner(1 << 20), &log, 0, &|_| {}).expect("round");
    stop.store(true, Ordering::Release);
    assert!(reader.join().expect("reader") >= 10);
    // Bytes handed out before the swap are still the old bytes.
    check_stored_batch(&before).expect("old mapping still valid");
    let active = log.active_segment_base();
    let mut cleaned_keys: Vec<_> = read_all(&log)
        .into_iter()
        .filter(|r| r.0 < active)
        .map(|r| r.1)
        .collect();
    let total = cleaned_keys.len();
    cleaned_keys.sort();
    cleaned_keys.dedup();
    assert_eq!(
        cleaned_keys.len(),
        total,
        "one record per key in the cleaned part"
    );
}

/// A "crash" at each step of a round: the process dies (here: the thread unwinds, leaving
/// every file as it was) and the log is loaded again as after kill -9. The loaded log must
/// hold either everything produced or the cleaned result, whole and readable.
#[test]
fn crash_at_every_step_of_a_swap_recovers_a_consistent_log() {
    let steps = [
        "after-cleaned-written",
        "after-swap-renamed",
        "after-old-segments-deleted",
        "after-index-swap",
    ];
    for step in steps {
        let (_root, log) = new_log(compacted(400));
        let k = |i: usize| Some(format!("key-{}", i % 7).into_bytes());
        let mut model = Model::default();
        for i in 0..80 {
            let records = [(k(i), Some(format!("v{i}").into_bytes()))];
            model.produce(log.log_end_offset(), &records, i as i64);
            log.append_as_leader(&keyed_batch(&records, i as i64, Compression::None), 0)
                .expect("append");
        }
        let before = model.view();
        // One group, so a crash leaves the log either before or after the whole round.
        log.update_config(compacted(1 << 20));
        let manager =
            CleanerManager::new(&[log.dir().parent().expect("parent").to_path_buf()], &[]);
        let mut c = cleaner(1 << 20);
        let crash = |name: &str| {
            if name == step {
                panic!("simulated crash at {name}");
            }
        };
        let job = manager
            .grab_filthiest(std::slice::from_ref(&log), 0)
            .expect("job");
        let end = job.first_uncleanable_offset;
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            c.clean(
                &job,
                &Round {
                    check_done: &|| Ok(()),
                    step: &crash,
                    now_ms: 0,
                },
            )
        }));
        assert!(outcome.is_err(), "{step}: crashed");
        let (dir, tp, config) = (
            log.dir().to_path_buf(),
            log.topic_partition().clone(),
            log.config(),
        );
        drop((job, log));
        let hints = LoadHints {
            recovery_point: Some(0),
            log_start_offset: None,
            clean_shutdown: false,
        };
        let reloaded = UnifiedLog::load(&dir, tp, config, hints, 0).expect("load after crash");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| !n.ends_with(".cleaned") && !n.ends_with(".swap")),
            "{step}: no leftovers: {names:?}"
        );
        let mut after = Model {
            records: model.records.clone(),
        };
        after.clean(0, end, 0, 1_000);
        let got = read_all(&reloaded);
        assert!(got == before || got == after.view(), "{step}: {got:?}");
        assert_eq!(reloaded.log_end_offset(), 80, "{step}");
        // It keeps working: appends and another clean.
        let reloaded = Arc::new(reloaded);
        reloaded
            .append_as_leader(&keyed_batch(&[(k(1), None)], 100, Compression::None), 0)
            .expect("append after recovery");
        let manager = CleanerManager::new(&[dir.parent().expect("parent").to_path_buf()], &[]);
        clean_once(&manager, &mut cleaner(1 << 20), &reloaded, 0, &|_| {});
    }
}

#[test]
fn an_aborted_round_leaves_the_log_and_no_files_behind() {
    let (_root, log) = new_log(compacted(300));
    let k = |i: usize| Some(format!("key-{}", i % 3).into_bytes());
    for i in 0..40 {
        log.append_as_leader(&keyed_batch(&[(k(i), k(i))], 0, Compression::None), 0)
            .expect("append");
    }
    let before = read_all(&log);
    let manager = CleanerManager::new(&[log.dir().parent().expect("parent").to_path_buf()], &[]);
    let job: LogToClean = manager
        .grab_filthiest(std::slice::from_ref(&log), 0)
        .expect("job");
    let aborted = cleaner(1 << 20).clean(
        &job,
        &Round {
            check_done: &|| Err(CleanError::Aborted),
            step: &|_| {},
            now_ms: 0,
        },
    );
    assert!(matches!(aborted, Err(CleanError::Aborted)));
    manager.done_cleaning(&log, job.first_dirty_offset);
    assert_eq!(read_all(&log), before);
    let leftovers = std::fs::read_dir(log.dir())
        .expect("dir")
        .filter(|e| {
            let name = e.as_ref().expect("entry").file_name();
            let name = name.to_string_lossy();
            name.ends_with(".cleaned") || name.ends_with(".swap")
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn checkpoint_is_kafkas_file_and_resets_when_out_of_range() {
    let (root, log) = new_log(compacted(300));
    let k = |i: usize| Some(format!("key-{}", i % 3).into_bytes());
    for i in 0..30 {
        log.append_as_leader(&keyed_batch(&[(k(i), k(i))], 0, Compression::None), 0)
            .expect("append");
    }
    let dirs = [root.path().to_path_buf()];
    let manager = CleanerManager::new(&dirs, &[]);
    let (_, end) = clean_once(&manager, &mut cleaner(1 << 20), &log, 0, &|_| {}).expect("round");
    let text =
        std::fs::read_to_string(root.path().join("cleaner-offset-checkpoint")).expect("file");
    assert_eq!(text, format!("0\n1\nt 0 {end}\n"));
    let reread = CleanerManager::new(&dirs, std::slice::from_ref(&log));
    assert_eq!(
        reread.checkpointed_offset(root.path(), &TopicPartition::new("t", 0)),
        Some(end)
    );
    let forgotten = CleanerManager::new(&dirs, &[]);
    assert_eq!(
        forgotten.checkpointed_offset(root.path(), &TopicPartition::new("t", 0)),
        None
    );
    // An offset past the log end (a truncated log) starts over from the log start.
    let offsets = super::manager::cleanable_offsets(&log, Some(10_000), 0);
    assert_eq!(
        (offsets.first_dirty_offset, offsets.force_update_checkpoint),
        (0, true)
    );
}

#[test]
fn compaction_lags_bound_what_is_cleaned() {
    let (_root, log) = new_log(LogConfig {
        min_compaction_lag_ms: 1_000,
        min_cleanable_dirty_ratio: 0.99,
        max_compaction_lag_ms: 5_000,
        ..compacted(300)
    });
    let k = |i: usize| Some(format!("key-{}", i % 3).into_bytes());
    for i in 0..30 {
        log.append_as_leader(
            &keyed_batch(&[(k(i), k(i))], 10_000 + i as i64 * 100, Compression::None),
            0,
        )
        .expect("append");
    }
    let young = super::manager::cleanable_offsets(&log, None, 12_000);
    assert!(
        young.first_uncleanable_dirty_offset > 0
            && young.first_uncleanable_dirty_offset < log.active_segment_base(),
        "min.compaction.lag.ms holds back segments with records younger than the lag"
    );
    assert_eq!(
        super::manager::cleanable_offsets(&log, None, 10_000).first_uncleanable_dirty_offset,
        0
    );
    assert_eq!(super::manager::max_compaction_delay(&log, 0, 10_000), 0);
    assert_eq!(
        super::manager::max_compaction_delay(&log, 0, 20_000),
        20_000 - 5_000 - 10_000
    );
    let manager = CleanerManager::new(&[log.dir().parent().expect("parent").to_path_buf()], &[]);
    // The first round's ratio is 1.0; after it the dirty ratio stays below 0.99 ...
    clean_once(&manager, &mut cleaner(1 << 20), &log, 100_000, &|_| {}).expect("first round");
    fill_until_roll(&log, "key-9", 50_000);
    let patient = LogConfig {
        max_compaction_lag_ms: i64::MAX,
        ..log.config()
    };
    let eager = log.config();
    log.update_config(patient);
    assert!(
        manager
            .grab_filthiest(std::slice::from_ref(&log), 100_000)
            .is_none()
    );
    // ... but past max.compaction.lag.ms the log is cleaned anyway, whatever its ratio.
    log.update_config(eager);
    let job = manager
        .grab_filthiest(std::slice::from_ref(&log), 100_000)
        .expect("overdue");
    assert!(job.needs_compaction_now && job.cleanable_ratio() < 0.99);
}

/// Batches in the log: (base offset, last offset, is control, record count, delete horizon).
fn layout(log: &UnifiedLog) -> Vec<(i64, i64, bool, i32, Option<i64>)> {
    stored_batches(log)
        .iter()
        .filter_map(|b| BatchHeader::parse(b))
        .map(|h| {
            (
                h.base_offset,
                h.last_offset(),
                h.is_control(),
                h.record_count,
                h.delete_horizon_ms(),
            )
        })
        .collect()
}

/// Kafka's transaction-aware cleaning: aborted data goes, its ABORT marker stays while any
/// of the data is left, then gets a delete horizon and goes after it; committed data is
/// compacted like any other; a producer's last batch stays (emptied if need be).
#[test]
fn aborted_transactions_and_markers_are_cleaned_as_kafka_does() {
    use crate::log::batch::test_support::transactional_batch;
    use crate::log::control::{ControlRecordType, EndTxnMarker};
    let marker = |kind| EndTxnMarker {
        kind,
        coordinator_epoch: 0,
    };
    let (_root, log) = new_log(LogConfig {
        delete_retention_ms: 100,
        ..compacted(400)
    });
    // Producer 7: an aborted transaction (keys k0, k1), then a committed one (k0).
    log.append_as_leader(&transactional_batch(2, 1, 7, 0, 0), 0)
        .expect("txn data"); // 0-1
    log.append_txn_marker(7, 0, marker(ControlRecordType::Abort), 1)
        .expect("abort"); // 2
    log.append_as_leader(&transactional_batch(1, 1, 7, 0, 2), 0)
        .expect("txn data"); // 3
    log.append_txn_marker(7, 0, marker(ControlRecordType::Commit), 1)
        .expect("commit"); // 4
    fill_until_roll(&log, "filler", 1);
    let manager = CleanerManager::new(&[log.dir().parent().expect("parent").to_path_buf()], &[]);
    let mut c = cleaner(1 << 20);

    clean_once(&manager, &mut c, &log, 1_000, &|_| {}).expect("round 1");
    let batches = layout(&log);
    assert_eq!(
        &batches[..3],
        &[
            (2, 2, true, 1, None),  // the abort marker stays: its data was seen this round
            (3, 3, false, 1, None), // committed k0
            (4, 4, true, 1, None),  // the commit marker stays with its data
        ],
        "aborted data gone: {batches:?}"
    );
    let first = &log.segments_in(0, 1)[0];
    assert_eq!(
        first
            .txn_index()
            .all()
            .iter()
            .map(|t| t.producer_id)
            .collect::<Vec<_>>(),
        vec![7],
        "the cleaned segment's transaction index keeps the aborted transaction"
    );
    // Read-committed consumers still get the aborted transaction for the marker.
    assert_eq!(log.collect_aborted_transactions(0, 5).len(), 1);

    fill_until_roll(&log, "filler2", 1);
    clean_once(&manager, &mut c, &log, 2_000, &|_| {}).expect("round 2");
    let batches = layout(&log);
    assert_eq!(
        batches[0],
        (2, 2, true, 1, Some(2_100)),
        "no data left: the marker gets a delete horizon"
    );

    fill_until_roll(&log, "filler3", 1);
    clean_once(&manager, &mut c, &log, 3_000, &|_| {}).expect("round 3");
    let batches = layout(&log);
    assert_eq!(
        batches[0].0, 3,
        "the abort marker went after its horizon: {batches:?}"
    );
    assert_eq!(
        batches[1],
        (4, 4, true, 1, None),
        "the commit marker stays with its data"
    );
    assert!(
        log.collect_aborted_transactions(0, 5).is_empty(),
        "and the transaction index entry went with the marker"
    );
    let stale = log.dir().join("00000000000000000000.txnindex");
    assert!(
        !stale.exists(),
        "no stale index left under the cleaned segment's name"
    );
}
