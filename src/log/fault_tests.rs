//! Fault injection: a workload of appends (plain and idempotent), rolls, configured flushes,
//! checkpoints and a shutdown is run once to count its file operations, then again once per
//! operation with that one write, fsync, rename or truncation failing (through the
//! [`crate::base::fs`] shim), ending either in a clean shutdown or a crash. Every run must
//! reopen consistent: offsets continuous from the log start, every acknowledged record at its
//! offset with its content, no idempotent batch twice, appends continuing at the log end, and no
//! clean-shutdown marker in a dir that saw the failure.

use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::batch::BatchHeader;
use super::batch::test_support::{batch, idempotent_batch};
use super::log_manager::CLEAN_SHUTDOWN_FILE;
use super::unified_log::wait_for_flusher;
use super::{LogManager, TopicPartition, UnifiedLog};
use crate::base::fs::{FaultPlan, Op};
use crate::config::LogConfig;

/// Batches the workload tries to append.
const BATCHES: i64 = 12;

fn config() -> LogConfig {
    let large = batch(2, 0, 200).len() as i32;
    LogConfig {
        // A few batches a segment: several rolls (background flushes, snapshots, index trims).
        segment_bytes: large * 2,
        // A configured flush every other batch.
        flush_messages: 4,
        // An index entry for every batch.
        index_interval_bytes: 0,
        ..LogConfig::default()
    }
}

fn tp() -> TopicPartition {
    TopicPartition::new("faulty", 0)
}

/// Batch `i`: two records stamped `1000 + 10 i`, every third one large (a failed large write
/// followed by small ones is what left a torn tail behind); odd ones come from idempotent
/// producer `100 + i`, which a retry of a batch that did get written must not duplicate.
fn nth_batch(i: i64) -> bytes::BytesMut {
    let ts = 1000 + 10 * i;
    let value_len = if i % 3 == 0 { 200 } else { 30 };
    if i % 2 == 1 {
        idempotent_batch(2, ts, value_len, 100 + i, 0, 0)
    } else {
        batch(2, ts, value_len)
    }
}

fn id_of(header: &BatchHeader) -> i64 {
    (header.max_timestamp - 1 - 1000) / 10
}

/// Runs the workload in `root`; returns the acknowledged `(offset, batch)` pairs.
fn workload(root: &Path, clean_shutdown: bool) -> Vec<(i64, i64)> {
    let dirs = [root.join("data")];
    let manager = LogManager::startup(&dirs, &|_| config(), 1).expect("start-up before faults");
    // Like a client, retry a failed creation; a failed append is retried for idempotent
    // batches only (a plain one is given up, and the next, smaller one follows it).
    let log = manager
        .get_or_create(&tp(), Uuid::from_u128(5), config())
        .or_else(|_| manager.get_or_create(&tp(), Uuid::from_u128(5), config()));
    let mut acked = Vec::new();
    if let Ok(log) = log {
        for i in 0..BATCHES {
            let appended = log.append_as_leader(&nth_batch(i), 0).or_else(|e| {
                if i % 2 == 1 {
                    log.append_as_leader(&nth_batch(i), 0)
                } else {
                    Err(e)
                }
            });
            if let Ok(info) = appended {
                acked.push((info.first_offset, i));
            }
            if i % 4 == 3 {
                let _ = manager.checkpoint();
            }
        }
    }
    wait_for_flusher();
    if clean_shutdown {
        let _ = manager.shutdown();
    }
    acked
}

/// Reopens `root` after a workload and checks the log; returns its log end offset.
fn check(root: &Path, acked: &[(i64, i64)], what: &str) -> i64 {
    let dirs = [root.join("data")];
    let manager = LogManager::startup(&dirs, &|_| config(), 1)
        .unwrap_or_else(|e| panic!("{what}: start-up after the fault failed: {e}"));
    let Some(log) = manager.get(&tp()) else {
        assert!(acked.is_empty(), "{what}: acknowledged records but no log");
        return 0;
    };
    let batches = read_all(&log, what);
    let mut seen_idempotent = std::collections::HashSet::new();
    for (header, _) in &batches {
        let id = id_of(header);
        if header.producer_id >= 0 {
            assert!(
                seen_idempotent.insert(id),
                "{what}: idempotent batch {id} twice"
            );
        }
    }
    for &(offset, id) in acked {
        let found = batches.iter().find(|(h, _)| h.base_offset == offset);
        let Some((header, _)) = found else {
            panic!("{what}: acknowledged batch {id} at offset {offset} lost; log: {batches:?}");
        };
        assert_eq!(
            id_of(header),
            id,
            "{what}: offset {offset} holds another batch"
        );
    }
    let end = log.log_end_offset();
    let next = log
        .append_as_leader(&batch(1, 5000, 10), 0)
        .unwrap_or_else(|e| panic!("{what}: append after reopening failed: {e}"));
    assert_eq!(
        next.first_offset, end,
        "{what}: appends continue at the end"
    );
    drop(log);
    manager.shutdown().expect("clean shutdown without faults");
    end
}

/// Every batch of the log in order, checking offsets are continuous.
fn read_all(log: &UnifiedLog, what: &str) -> Vec<(BatchHeader, usize)> {
    let end = log.log_end_offset();
    let mut next = log.log_start_offset();
    let mut out = Vec::new();
    while next < end {
        let data = log
            .read(next, 1 << 20, true)
            .unwrap_or_else(|e| panic!("{what}: read at {next} failed: {e}"))
            .records;
        assert!(
            !data.is_empty(),
            "{what}: nothing at {next} below the end {end}"
        );
        let mut at = 0;
        while let Some(header) = BatchHeader::parse(&data[at..]) {
            assert_eq!(header.base_offset, next, "{what}: offsets not continuous");
            next = header.last_offset() + 1;
            out.push((header, at));
            at += header.size();
        }
    }
    assert_eq!(next, end, "{what}: batches end at the log end offset");
    out
}

/// A temp dir, in memory where there is a tmpfs (/dev/shm on Linux): the runs fsync a lot,
/// and on a disk that takes minutes, not seconds.
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("tempdir")
}

fn marker(root: &Path) -> PathBuf {
    root.join("data").join(CLEAN_SHUTDOWN_FILE)
}

#[test]
fn every_single_io_failure_leaves_a_consistent_log() {
    let mut runs = 0;
    let mut fired = 0;
    for clean_shutdown in [true, false] {
        let dry = scratch();
        let plan = FaultPlan::arm(dry.path(), None);
        let acked = workload(dry.path(), clean_shutdown);
        let operations = plan.seen();
        drop(plan);
        assert_eq!(acked.len() as i64, BATCHES, "no faults, all acknowledged");
        assert!(operations > 50, "the workload writes, syncs and renames");
        check(dry.path(), &acked, "no fault");
        // The flusher thread's operations interleave with the appends', so the count varies
        // a little from run to run: try a few beyond it.
        for n in 0..operations + 5 {
            let root = scratch();
            let plan = FaultPlan::arm(root.path(), Some(n));
            let acked = workload(root.path(), clean_shutdown);
            let failed = plan.fired();
            drop(plan);
            let what = format!("clean={clean_shutdown}, operation {n} failed: {failed:?}");
            if failed.is_some() {
                fired += 1;
                if clean_shutdown {
                    assert!(
                        !marker(root.path()).exists(),
                        "{what}: dir marked clean after an I/O error"
                    );
                }
            }
            check(root.path(), &acked, &what);
            runs += 1;
        }
    }
    println!("fault injection: {runs} runs, {fired} with a failed operation");
}

/// Issue #10 item 12: each roll used to start its own thread that synced only the segment it
/// left and then moved the recovery point to the new base; when an earlier segment's fsync
/// failed (or was still running), a later roll's thread moved the recovery point past it, and
/// a crash then skipped recovering unsynced data. Now every flush covers all segments from the
/// recovery point up, in order, on one flusher thread, and a failed fsync stops the recovery
/// point (and takes the log offline).
#[test]
fn the_recovery_point_never_passes_a_segment_whose_fsync_failed() {
    let root = scratch();
    let dir = root.path().join("t-0");
    std::fs::create_dir(&dir).expect("mkdir");
    let one = batch(1, 0, 50).len() as i32;
    let config = LogConfig {
        segment_bytes: one,
        ..LogConfig::default()
    };
    let log = UnifiedLog::create(&dir, TopicPartition::new("t", 0), Uuid::nil(), config, 0)
        .expect("create");
    let plan = FaultPlan::arm_on(root.path(), Op::Sync, "00000000000000000000.log");
    for ts in 0..4 {
        // Each append rolls; appends fail once the log is offline.
        let _ = log.append_as_leader(&batch(1, ts, 50), 0);
    }
    wait_for_flusher();
    assert!(plan.fired().is_some(), "segment 0 fsync attempted");
    assert_eq!(
        log.recovery_point(),
        0,
        "the recovery point passed segment 0, whose fsync failed"
    );
    assert!(log.is_offline());
    assert!(log.saw_io_error());
}

/// Issue #10 item 13: with `flush.messages` the flush ran after the records were published, so
/// a failed fsync told the client KAFKA_STORAGE_ERROR for records consumers could already read.
/// Now the flush comes first: the client's 56 and what readers see agree.
#[test]
fn a_failed_configured_flush_never_leaves_the_records_readable() {
    let root = scratch();
    let dir = root.path().join("t-0");
    std::fs::create_dir(&dir).expect("mkdir");
    let config = LogConfig {
        flush_messages: 1,
        ..LogConfig::default()
    };
    let log = UnifiedLog::create(&dir, TopicPartition::new("t", 0), Uuid::nil(), config, 0)
        .expect("create");
    log.append_as_leader(&batch(1, 0, 10), 0).expect("first");
    let plan = FaultPlan::arm_on(root.path(), Op::Sync, "00000000000000000000.log");
    let err = log
        .append_as_leader(&batch(1, 1, 10), 0)
        .expect_err("the flush fails");
    assert_eq!(err.error_code(), 56);
    drop(plan);
    assert_eq!(
        log.log_end_offset(),
        1,
        "the failed append was not published"
    );
    let read = log.read(0, 1 << 20, true);
    assert!(
        read.as_ref().is_err_and(|e| e.error_code() == 56),
        "an offline log answers KAFKA_STORAGE_ERROR, not the records: {:?}",
        read.map(|r| r.records.len())
    );
}
