//! Kafka's `ProducerStateManager`: per producer id, the epoch and the metadata of the last five
//! batches, so an idempotent producer's retries are recognised as duplicates and gaps or
//! fenced epochs are refused.
//!
//! It also tracks transactions (Kafka's `ongoingTxns`): a producer's first transactional batch
//! opens a transaction in this partition at its offset, and the producer's COMMIT or ABORT
//! marker closes it. The first offset of the oldest open transaction is the partition's first
//! unstable offset, which bounds the last stable offset (LSO) `read_committed` consumers read
//! up to.
//!
//! The state is rebuilt at start-up from the newest `<offset>.snapshot` file plus the batches
//! after it; see [`super::producer_snapshot`] for the file format.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use super::TopicPartition;
use super::batch::{AppendOrigin, BatchHeader, NO_SEQUENCE, increment_sequence};
use super::control::{ControlRecordType, EndTxnMarker};
use super::error::LogError;
use super::producer_snapshot::{self, SnapshotEntry};

/// Batches remembered per producer for duplicate detection (Kafka's
/// `NUM_BATCHES_TO_RETAIN`, matching the producer's max in-flight requests).
const NUM_BATCHES_TO_RETAIN: usize = 5;
/// `NO_PRODUCER_EPOCH`.
const NO_PRODUCER_EPOCH: i16 = -1;

/// Offsets and sequences of one appended batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    /// Sequence of the first record.
    pub first_seq: i32,
    /// Sequence of the last record.
    pub last_seq: i32,
    /// Offset of the first record.
    pub first_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The batch's max timestamp as stored.
    pub timestamp: i64,
}

/// What the log remembers about one producer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerStateEntry {
    /// Current epoch; batches with a lower one are fenced.
    pub epoch: i16,
    /// The last (up to five) batches, oldest first.
    pub batches: VecDeque<BatchMetadata>,
    /// Epoch of the transaction coordinator that last wrote a marker (kept for the snapshot).
    pub coordinator_epoch: i32,
    /// Max timestamp of the last batch.
    pub last_timestamp: i64,
    /// First offset of the producer's open transaction in this partition, if one is open.
    pub current_txn_first_offset: Option<i64>,
}

/// A transaction ended by a marker (Kafka's `CompletedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    /// The producer.
    pub producer_id: i64,
    /// Offset of the transaction's first batch in this partition.
    pub first_offset: i64,
    /// Offset of the marker.
    pub last_offset: i64,
    /// Whether the marker was ABORT.
    pub is_aborted: bool,
}

impl ProducerStateEntry {
    fn empty() -> ProducerStateEntry {
        ProducerStateEntry {
            epoch: NO_PRODUCER_EPOCH,
            batches: VecDeque::new(),
            coordinator_epoch: -1,
            last_timestamp: -1,
            current_txn_first_offset: None,
        }
    }

    fn last_seq(&self) -> i32 {
        self.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq)
    }

    fn add(&mut self, epoch: i16, batch: BatchMetadata) {
        if epoch != self.epoch {
            self.batches.clear();
            self.epoch = epoch;
        }
        if self.batches.len() == NUM_BATCHES_TO_RETAIN {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
        self.last_timestamp = batch.timestamp;
    }

    /// A marker ends the transaction: Kafka's `ProducerStateEntry.update`.
    fn end_txn(&mut self, epoch: i16, coordinator_epoch: i32, timestamp: i64) {
        if epoch != self.epoch {
            self.batches.clear();
            self.epoch = epoch;
        }
        self.coordinator_epoch = coordinator_epoch;
        self.last_timestamp = timestamp;
        self.current_txn_first_offset = None;
    }
}

/// Per-partition idempotent producer state with its snapshot files.
pub struct ProducerStateManager {
    tp: TopicPartition,
    dir: PathBuf,
    producers: HashMap<i64, ProducerStateEntry>,
    /// Open transactions by first offset, with their producer id.
    ongoing_txns: BTreeMap<i64, i64>,
    snapshots: BTreeMap<i64, PathBuf>,
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    i64::from(next_seq) == i64::from(last_seq) + 1 || (next_seq == 0 && last_seq == i32::MAX)
}

impl ProducerStateManager {
    /// A manager for the partition in `dir`, aware of the snapshot files already there.
    pub fn new(tp: TopicPartition, dir: &Path) -> Result<ProducerStateManager, LogError> {
        let snapshots = producer_snapshot::list(dir)?;
        Ok(ProducerStateManager {
            tp,
            dir: dir.to_path_buf(),
            producers: HashMap::new(),
            ongoing_txns: BTreeMap::new(),
            snapshots,
        })
    }

    /// Every producer with its state, for DescribeProducers.
    pub fn entries(&self) -> impl Iterator<Item = (i64, &ProducerStateEntry)> {
        self.producers.iter().map(|(pid, e)| (*pid, e))
    }

    /// Number of producers tracked.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Whether no producer is tracked.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// First offset of the oldest open transaction (Kafka's first unstable offset); the last
    /// stable offset is this or the high watermark, whichever is lower.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing_txns.keys().next().copied()
    }

    /// Open transactions as (first offset, producer id), oldest first.
    pub fn ongoing_txns(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing_txns.iter().map(|(o, p)| (*o, *p))
    }

    /// Forgets producers idle for `expiration_ms` with no open transaction (Kafka's
    /// `removeExpiredProducers`, driven by `producer.id.expiration.ms`). Returns how many.
    pub fn remove_expired_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, e| !is_expired(e, now_ms, expiration_ms));
        before - self.producers.len()
    }

    /// The entry for `producer_id`, if any.
    pub fn entry(&self, producer_id: i64) -> Option<&ProducerStateEntry> {
        self.producers.get(&producer_id)
    }

    /// For the log cleaner, per producer: the last offset of its last data batch (`None` if it
    /// has none, e.g. its last write was a transaction marker) and its epoch (Kafka's
    /// `lastRecordsOfActiveProducers`). The cleaner keeps those batches, possibly emptied, so
    /// sequence numbers and epochs survive compaction.
    pub fn last_records(&self) -> HashMap<i64, (Option<i64>, i16)> {
        self.producers
            .iter()
            .map(|(id, e)| (*id, (e.batches.back().map(|b| b.last_offset), e.epoch)))
            .collect()
    }

    /// If `header` (a produced batch, offsets not yet assigned) repeats one of the last five
    /// batches of its producer, that batch's metadata: the append must answer with it and
    /// write nothing.
    pub fn find_duplicate(&self, header: &BatchHeader) -> Option<BatchMetadata> {
        if header.producer_id < 0 {
            return None;
        }
        let entry = self.producers.get(&header.producer_id)?;
        if entry.epoch != header.producer_epoch {
            return None;
        }
        let (first, last) = (header.base_sequence, header.last_sequence());
        entry
            .batches
            .iter()
            .find(|b| b.first_seq == first && b.last_seq == last)
            .copied()
    }

    /// Checks a produced batch against the producer's state the way Kafka's
    /// `ProducerAppendInfo` does for client appends: a lower epoch is fenced; a new epoch must
    /// start at sequence 0 (unless the producer is unknown); the same epoch must continue the
    /// sequence (wrapping at `i32::MAX`). `pending` holds the state as updated by earlier
    /// batches of the same append.
    pub fn check_sequence(
        &self,
        header: &BatchHeader,
        offset: i64,
        pending: &HashMap<i64, ProducerStateEntry>,
        origin: AppendOrigin,
    ) -> Result<(), LogError> {
        let pid = header.producer_id;
        let current = pending.get(&pid).or_else(|| self.producers.get(&pid));
        let (epoch, last_seq) = current.map_or((NO_PRODUCER_EPOCH, NO_SEQUENCE), |e| {
            (e.epoch, e.last_seq())
        });
        if header.producer_epoch < epoch {
            return Err(LogError::InvalidProducerEpoch {
                partition: self.tp.to_string(),
                producer_id: pid,
                offset,
                found: header.producer_epoch,
                current: epoch,
            });
        }
        let first = header.base_sequence;
        let out_of_order = if origin == AppendOrigin::Coordinator {
            false
        } else if header.producer_epoch != epoch {
            first != 0 && epoch != NO_PRODUCER_EPOCH
        } else {
            epoch != NO_PRODUCER_EPOCH && !in_sequence(last_seq, first)
        };
        if out_of_order {
            return Err(LogError::OutOfOrderSequence {
                partition: self.tp.to_string(),
                producer_id: pid,
                offset,
                found: first,
                last: last_seq,
            });
        }
        if current.is_some_and(|e| e.current_txn_first_offset.is_some())
            && !header.is_transactional()
        {
            return Err(LogError::InvalidTxnState(format!(
                "Expected transactional write from producer {pid} at offset {offset} in partition {}",
                self.tp
            )));
        }
        Ok(())
    }

    /// Checks a marker for `producer_id` against its state as Kafka's `appendEndTxnMarker`
    /// does: an older producer epoch is fenced (INVALID_PRODUCER_EPOCH), an older coordinator
    /// epoch is a zombie coordinator (TRANSACTION_COORDINATOR_FENCED).
    pub fn check_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        marker: &EndTxnMarker,
        offset: i64,
    ) -> Result<(), LogError> {
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(());
        };
        if producer_epoch < entry.epoch {
            return Err(LogError::InvalidProducerEpoch {
                partition: self.tp.to_string(),
                producer_id,
                offset,
                found: producer_epoch,
                current: entry.epoch,
            });
        }
        if marker.coordinator_epoch < entry.coordinator_epoch {
            return Err(LogError::TransactionCoordinatorFenced(format!(
                "Invalid coordinator epoch for producerId {producer_id} at offset {offset} in partition {}: {} (zombie), {} (current)",
                self.tp, marker.coordinator_epoch, entry.coordinator_epoch
            )));
        }
        Ok(())
    }

    /// Applies a marker written at `offset`: the producer's open transaction (if any) is
    /// complete. Returns it, with the LSO to record in the transaction index when aborted.
    pub fn apply_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        marker: &EndTxnMarker,
        offset: i64,
        timestamp: i64,
    ) -> Option<(CompletedTxn, i64)> {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(ProducerStateEntry::empty);
        let completed = entry.current_txn_first_offset.map(|first| CompletedTxn {
            producer_id,
            first_offset: first,
            last_offset: offset,
            is_aborted: marker.kind == ControlRecordType::Abort,
        });
        entry.end_txn(producer_epoch, marker.coordinator_epoch, timestamp);
        let completed = completed?;
        let lso = self
            .ongoing_txns
            .iter()
            .find(|(_, pid)| **pid != producer_id)
            .map_or(completed.last_offset + 1, |(first, _)| *first);
        self.ongoing_txns.remove(&completed.first_offset);
        Some((completed, lso))
    }

    /// The entry `header` (offsets assigned) leaves behind, starting from `pending` or the
    /// current state; the caller keeps it in `pending` until the append is written.
    pub fn updated_entry(
        &self,
        header: &BatchHeader,
        pending: &HashMap<i64, ProducerStateEntry>,
    ) -> ProducerStateEntry {
        let mut entry = pending
            .get(&header.producer_id)
            .or_else(|| self.producers.get(&header.producer_id))
            .cloned()
            .unwrap_or_else(ProducerStateEntry::empty);
        if header.is_transactional() && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(header.base_offset);
        }
        entry.add(
            header.producer_epoch,
            BatchMetadata {
                first_seq: header.base_sequence,
                last_seq: header.last_sequence(),
                first_offset: header.base_offset,
                last_offset: header.last_offset(),
                timestamp: header.max_timestamp,
            },
        );
        entry
    }

    /// Installs entries computed by [`Self::updated_entry`] once their batches are in the log.
    pub fn apply(&mut self, pending: HashMap<i64, ProducerStateEntry>) {
        for (pid, entry) in pending {
            if let Some(first) = entry.current_txn_first_offset {
                self.ongoing_txns.insert(first, pid);
            }
            self.producers.insert(pid, entry);
        }
    }

    /// Replays a stored data batch (recovery): no checks, just the state it leaves behind.
    /// Control batches go through [`Self::apply_marker`].
    pub fn replay(&mut self, header: &BatchHeader) {
        if header.producer_id < 0 || header.is_control() {
            return;
        }
        let entry = self.updated_entry(header, &HashMap::new());
        if let Some(first) = entry.current_txn_first_offset {
            self.ongoing_txns.insert(first, header.producer_id);
        }
        self.producers.insert(header.producer_id, entry);
    }

    /// Loads the newest valid snapshot at or below `max_offset`, deleting newer ones (they
    /// describe data that is no longer in the log) and corrupt ones. Returns its offset.
    pub fn load_latest_snapshot(&mut self, max_offset: i64) -> Result<Option<i64>, LogError> {
        self.producers.clear();
        self.ongoing_txns.clear();
        let stale: Vec<i64> = self
            .snapshots
            .range(max_offset + 1..)
            .map(|(o, _)| *o)
            .collect();
        for offset in stale {
            self.remove_snapshot(offset)?;
        }
        while let Some((&offset, path)) = self.snapshots.iter().next_back() {
            tracing::info!(
                "[ProducerStateManager partition={}] Loading producer state from snapshot file '{}'",
                self.tp,
                path.display()
            );
            match producer_snapshot::read(path) {
                Ok(entries) => {
                    for e in entries {
                        if e.current_txn_first_offset >= 0 {
                            self.ongoing_txns
                                .insert(e.current_txn_first_offset, e.producer_id);
                        }
                        self.producers
                            .insert(e.producer_id, entry_from_snapshot(&e));
                    }
                    return Ok(Some(offset));
                }
                Err(reason) => {
                    tracing::warn!(
                        "[ProducerStateManager partition={}] Failed to load producer snapshot from '{}': {reason}",
                        self.tp,
                        path.display()
                    );
                    self.remove_snapshot(offset)?;
                }
            }
        }
        Ok(None)
    }

    /// Writes the state as `<offset>.snapshot` (fsynced when `sync`).
    pub fn take_snapshot(&mut self, offset: i64, sync: bool) -> Result<(), LogError> {
        let entries: Vec<SnapshotEntry> = self
            .producers
            .iter()
            .map(|(pid, e)| {
                let last = e.batches.back();
                SnapshotEntry {
                    producer_id: *pid,
                    epoch: e.epoch,
                    last_sequence: last.map_or(NO_SEQUENCE, |b| b.last_seq),
                    last_offset: last.map_or(-1, |b| b.last_offset),
                    offset_delta: last.map_or(0, |b| (b.last_offset - b.first_offset) as i32),
                    timestamp: e.last_timestamp,
                    coordinator_epoch: e.coordinator_epoch,
                    current_txn_first_offset: e.current_txn_first_offset.unwrap_or(-1),
                }
            })
            .collect();
        let path = producer_snapshot::path(&self.dir, offset);
        producer_snapshot::write(&path, &entries, sync)?;
        self.snapshots.insert(offset, path);
        Ok(())
    }

    /// Deletes snapshot files below `offset` (segments before it were deleted), keeping the
    /// newest one so the state stays reloadable.
    pub fn delete_snapshots_before(&mut self, offset: i64) -> Result<(), LogError> {
        let newest = self.snapshots.keys().next_back().copied();
        let old: Vec<i64> = self
            .snapshots
            .range(..offset)
            .map(|(o, _)| *o)
            .filter(|o| Some(*o) != newest)
            .collect();
        for o in old {
            self.remove_snapshot(o)?;
        }
        Ok(())
    }

    fn remove_snapshot(&mut self, offset: i64) -> Result<(), LogError> {
        if let Some(path) = self.snapshots.remove(&offset) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(path, e)),
            }
        }
        Ok(())
    }
}

/// Kafka's `isProducerExpired`: idle past the expiration and no open transaction.
fn is_expired(e: &ProducerStateEntry, now_ms: i64, expiration_ms: i64) -> bool {
    e.current_txn_first_offset.is_none() && now_ms.saturating_sub(e.last_timestamp) >= expiration_ms
}

fn entry_from_snapshot(e: &SnapshotEntry) -> ProducerStateEntry {
    let mut batches = VecDeque::new();
    if e.last_offset >= 0 {
        let first_seq = if e.last_sequence == NO_SEQUENCE {
            NO_SEQUENCE
        } else {
            // Inverse of increment_sequence, wrapping below 0 back to i32::MAX.
            let back = i64::from(e.last_sequence) - i64::from(e.offset_delta);
            if back < 0 {
                (back + i64::from(i32::MAX) + 1) as i32
            } else {
                back as i32
            }
        };
        debug_assert!(
            e.last_sequence == NO_SEQUENCE
                || increment_sequence(first_seq, e.offset_delta) == e.last_sequence
        );
        batches.push_back(BatchMetadata {
            first_seq,
            last_seq: e.last_sequence,
            first_offset: e.last_offset - i64::from(e.offset_delta),
            last_offset: e.last_offset,
            timestamp: e.timestamp,
        });
    }
    ProducerStateEntry {
        epoch: e.epoch,
        batches,
        coordinator_epoch: e.coordinator_epoch,
        last_timestamp: e.timestamp,
        current_txn_first_offset: (e.current_txn_first_offset >= 0)
            .then_some(e.current_txn_first_offset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::test_support::idempotent_batch;

    fn header(pid: i64, epoch: i16, seq: i32, count: usize, offset: i64) -> BatchHeader {
        let mut h =
            BatchHeader::parse(&idempotent_batch(count, 10, 1, pid, epoch, 0)).expect("header");
        h.base_offset = offset;
        h.base_sequence = seq;
        h
    }

    fn append(m: &mut ProducerStateManager, h: &BatchHeader) -> Result<(), LogError> {
        let pending = HashMap::new();
        m.check_sequence(h, h.base_offset, &pending, AppendOrigin::Client)?;
        let mut p = HashMap::new();
        p.insert(h.producer_id, m.updated_entry(h, &pending));
        m.apply(p);
        Ok(())
    }

    fn manager(dir: &Path) -> ProducerStateManager {
        ProducerStateManager::new(
            TopicPartition {
                topic: "t".into(),
                partition: 0,
            },
            dir,
        )
        .expect("new")
    }

    #[test]
    fn duplicates_gaps_and_epochs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut m = manager(dir.path());
        append(&mut m, &header(7, 0, 0, 3, 0)).expect("first");
        append(&mut m, &header(7, 0, 3, 2, 3)).expect("in sequence");
        let dup = m
            .find_duplicate(&header(7, 0, 0, 3, 0))
            .expect("duplicate of the first batch");
        assert_eq!((dup.first_offset, dup.last_offset), (0, 2));
        assert!(
            m.find_duplicate(&header(7, 1, 0, 3, 0)).is_none(),
            "other epoch"
        );
        let gap = append(&mut m, &header(7, 0, 9, 1, 5)).expect_err("gap");
        assert_eq!(gap.error_code(), 45);
        let fenced = append(&mut m, &header(7, -1, 5, 1, 5));
        assert_eq!(fenced.expect_err("lower epoch").error_code(), 47);
        let bad_new_epoch = append(&mut m, &header(7, 1, 4, 1, 5));
        assert_eq!(
            bad_new_epoch
                .expect_err("new epoch must start at 0")
                .error_code(),
            45
        );
        append(&mut m, &header(7, 1, 0, 1, 5)).expect("new epoch from 0");
        append(&mut m, &header(8, 3, 42, 1, 6)).expect("unknown producer may start anywhere");
    }

    #[test]
    fn keeps_only_five_batches_and_wraps_sequences() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut m = manager(dir.path());
        for i in 0..7 {
            append(&mut m, &header(1, 0, i, 1, i64::from(i))).expect("append");
        }
        assert_eq!(m.entry(1).expect("entry").batches.len(), 5);
        assert!(
            m.find_duplicate(&header(1, 0, 1, 1, 0)).is_none(),
            "evicted"
        );
        assert!(m.find_duplicate(&header(1, 0, 6, 1, 0)).is_some());
        append(&mut m, &header(2, 0, i32::MAX - 1, 2, 10)).expect("up to MAX");
        append(&mut m, &header(2, 0, 0, 1, 12)).expect("wraps to 0");
    }

    #[test]
    fn snapshot_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut m = manager(dir.path());
        append(&mut m, &header(7, 2, 10, 3, 100)).expect("append");
        append(&mut m, &header(9, 0, i32::MAX, 2, 103)).expect("append");
        m.take_snapshot(105, true).expect("snapshot");
        assert!(dir.path().join("00000000000000000105.snapshot").exists());
        let mut reloaded = manager(dir.path());
        assert_eq!(reloaded.load_latest_snapshot(200).expect("load"), Some(105));
        let e = reloaded.entry(7).expect("pid 7");
        assert_eq!(e.epoch, 2);
        assert_eq!(
            e.batches.back().copied(),
            m.entry(7).expect("orig").batches.back().copied()
        );
        assert_eq!(
            reloaded
                .entry(9)
                .expect("pid 9")
                .batches
                .back()
                .map(|b| (b.first_seq, b.last_seq)),
            Some((i32::MAX, 0))
        );
        assert!(
            reloaded.find_duplicate(&header(7, 2, 10, 3, 0)).is_some(),
            "last batch survives"
        );
        append(&mut reloaded, &header(7, 2, 13, 1, 105)).expect("sequence continues");
        // A snapshot above the log end is dropped.
        assert_eq!(reloaded.load_latest_snapshot(104).expect("load"), None);
        assert!(!dir.path().join("00000000000000000105.snapshot").exists());
    }

    #[test]
    fn corrupt_snapshot_falls_back_to_an_older_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut m = manager(dir.path());
        append(&mut m, &header(7, 0, 0, 1, 0)).expect("append");
        m.take_snapshot(1, false).expect("snap 1");
        append(&mut m, &header(7, 0, 1, 1, 1)).expect("append");
        m.take_snapshot(2, false).expect("snap 2");
        let newest = dir.path().join("00000000000000000002.snapshot");
        let mut bytes = std::fs::read(&newest).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&newest, bytes).expect("corrupt");
        let mut reloaded = manager(dir.path());
        assert_eq!(reloaded.load_latest_snapshot(10).expect("load"), Some(1));
        assert!(!newest.exists());
    }
}
