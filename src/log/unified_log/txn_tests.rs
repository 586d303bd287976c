//! Transactions in the log: open transactions hold the last stable offset back, markers end
//! them, aborted ones go to `.txnindex`, and all of it survives restarts and crashes.

use super::test_util::new_log;
use super::{LoadHints, UnifiedLog};
use crate::config::LogConfig;
use crate::log::batch::test_support::{batch, idempotent_batch, transactional_batch};
use crate::log::control::{ControlRecordType, EndTxnMarker};
use crate::log::{AbortedTxn, BatchHeader, Isolation};

fn commit(epoch: i32) -> EndTxnMarker {
    EndTxnMarker {
        kind: ControlRecordType::Commit,
        coordinator_epoch: epoch,
    }
}

fn abort(epoch: i32) -> EndTxnMarker {
    EndTxnMarker {
        kind: ControlRecordType::Abort,
        coordinator_epoch: epoch,
    }
}

fn batches(data: &[u8]) -> Vec<(i64, bool)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(h) = BatchHeader::parse(&data[at..]) {
        out.push((h.base_offset, h.is_control()));
        at += h.size();
    }
    out
}

fn reopen(log: UnifiedLog, clean: bool) -> UnifiedLog {
    let (dir, tp, config) = (
        log.dir().to_path_buf(),
        log.topic_partition().clone(),
        log.config(),
    );
    if clean {
        log.close().expect("close");
    }
    drop(log);
    let hints = LoadHints {
        recovery_point: Some(0),
        log_start_offset: None,
        clean_shutdown: clean,
    };
    UnifiedLog::load(&dir, tp, config, hints, 0).expect("load")
}

#[test]
fn open_transactions_hold_back_the_lso_and_aborts_are_indexed() {
    let (_root, log) = new_log(LogConfig::default());
    log.append_as_leader(&batch(2, 1, 5), 0).expect("plain"); // 0-1
    log.append_as_leader(&transactional_batch(3, 1, 7, 0, 0), 0)
        .expect("txn 7"); // 2-4
    log.append_as_leader(&transactional_batch(1, 1, 8, 0, 0), 0)
        .expect("txn 8"); // 5
    log.append_as_leader(&batch(1, 1, 5), 0).expect("plain"); // 6
    assert_eq!(log.high_watermark(), 7);
    assert_eq!(log.last_stable_offset(), 2);
    assert_eq!(log.first_unstable_offset(), Some(2));
    assert!(log.has_ongoing_txn(7));

    let committed = log
        .read_isolated(0, 1 << 20, false, Isolation::ReadCommitted)
        .expect("read");
    assert_eq!(batches(&committed.records), vec![(0, false)]);
    assert_eq!(committed.last_stable_offset, 2);
    assert_eq!(committed.aborted_transactions, Some(vec![]));
    let uncommitted = log.read(0, 1 << 20, false).expect("read");
    assert_eq!(uncommitted.aborted_transactions, None);
    assert_eq!(batches(&uncommitted.records).len(), 4);

    // A non-transactional write while the producer's transaction is open.
    let err = log
        .append_as_leader(&idempotent_batch(1, 1, 5, 7, 0, 3), 0)
        .expect_err("not transactional");
    assert_eq!(err.error_code(), 48);

    let info = log.append_txn_marker(7, 0, abort(0), 10).expect("abort 7"); // 7
    assert_eq!(info.first_offset, 7);
    assert_eq!(log.last_stable_offset(), 5, "txn 8 still open");
    log.append_txn_marker(8, 0, commit(0), 10)
        .expect("commit 8"); // 8
    assert_eq!(log.last_stable_offset(), 9);
    assert_eq!(log.first_unstable_offset(), None);

    let all = log
        .read_isolated(0, 1 << 20, false, Isolation::ReadCommitted)
        .expect("read");
    assert_eq!(
        batches(&all.records),
        vec![
            (0, false),
            (2, false),
            (5, false),
            (6, false),
            (7, true),
            (8, true)
        ]
    );
    let aborted = AbortedTxn {
        producer_id: 7,
        first_offset: 2,
        last_offset: 7,
        last_stable_offset: 5,
    };
    assert_eq!(all.aborted_transactions, Some(vec![aborted]));
    let later = log
        .read_isolated(8, 1 << 20, false, Isolation::ReadCommitted)
        .expect("read");
    assert_eq!(later.aborted_transactions, Some(vec![]));
    assert_eq!(
        std::fs::metadata(log.dir().join("00000000000000000000.txnindex"))
            .expect("txnindex")
            .len(),
        34
    );
    let state = log.producer_state(7).expect("pid 7");
    assert_eq!(
        (state.current_txn_first_offset, state.coordinator_epoch),
        (None, 0)
    );

    // Fenced markers: older producer epoch, older coordinator epoch.
    assert_eq!(
        log.append_txn_marker(7, -1, commit(0), 10)
            .expect_err("epoch")
            .error_code(),
        47
    );
    log.append_as_leader(&transactional_batch(1, 1, 7, 1, 0), 0)
        .expect("next txn, new epoch");
    log.append_txn_marker(7, 1, commit(3), 10)
        .expect("coordinator epoch 3");
    assert_eq!(
        log.append_txn_marker(7, 1, commit(2), 10)
            .expect_err("zombie")
            .error_code(),
        52
    );
}

#[test]
fn transactions_survive_clean_and_unclean_restarts() {
    let one = batch(1, 0, 50).len();
    for clean in [true, false] {
        let (_root, log) = new_log(LogConfig {
            segment_bytes: (one * 3) as i32,
            ..LogConfig::default()
        });
        log.append_as_leader(&transactional_batch(1, 1, 1, 0, 0), 0)
            .expect("t1"); // 0
        log.append_as_leader(&transactional_batch(1, 1, 2, 0, 0), 0)
            .expect("t2"); // 1
        log.append_as_leader(&transactional_batch(1, 1, 1, 0, 1), 0)
            .expect("t1"); // 2
        log.append_txn_marker(1, 0, abort(0), 1).expect("abort 1"); // 3
        log.append_as_leader(&batch(1, 1, 50), 0).expect("plain"); // 4
        log.append_as_leader(&transactional_batch(1, 1, 3, 0, 0), 0)
            .expect("t3"); // 5
        log.append_txn_marker(3, 0, abort(0), 1).expect("abort 3"); // 6
        log.append_as_leader(&batch(1, 1, 50), 0).expect("plain"); // 7
        assert!(log.segment_count() > 1);
        let before: Vec<Vec<AbortedTxn>> = log
            .segment_base_offsets()
            .iter()
            .map(|b| log.collect_aborted_transactions(*b, *b + 1000))
            .collect();
        assert_eq!(log.last_stable_offset(), 1, "t2 open");
        // Unclean: the indexes are emptied and rebuilt from the markers.
        let log = reopen(log, clean);
        assert_eq!(log.last_stable_offset(), 1, "clean={clean}");
        assert!(log.has_ongoing_txn(2));
        assert!(!log.has_ongoing_txn(1));
        let after: Vec<Vec<AbortedTxn>> = log
            .segment_base_offsets()
            .iter()
            .map(|b| log.collect_aborted_transactions(*b, *b + 1000))
            .collect();
        assert_eq!(before, after, "clean={clean}");
        log.append_txn_marker(2, 0, commit(0), 1).expect("commit 2");
        assert_eq!(log.last_stable_offset(), log.log_end_offset());
        let log = reopen(log, clean);
        assert_eq!(log.last_stable_offset(), log.log_end_offset());
    }
}

#[test]
fn idle_producers_expire_unless_a_transaction_is_open() {
    let (_root, log) = new_log(LogConfig::default());
    log.append_as_leader(&idempotent_batch(1, 100, 5, 1, 0, 0), 0)
        .expect("pid 1");
    log.append_as_leader(&transactional_batch(1, 100, 2, 0, 0), 0)
        .expect("pid 2");
    assert_eq!(log.remove_expired_producers(150, 100), 0);
    assert_eq!(log.remove_expired_producers(1000, 100), 1);
    assert!(log.producer_state(1).is_none());
    assert!(log.producer_state(2).is_some(), "open transaction keeps it");
}
