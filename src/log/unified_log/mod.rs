//! Kafka's `UnifiedLog` for one partition: the ordered segments, the offsets that bound them,
//! and the idempotent producer state.
//!
//! Concurrency: appends (and rolls, retention) serialize on one mutex; reads take a snapshot
//! of the segment list under a read lock and then map the committed bytes of the segments they
//! need, so fetches never wait for the append path. The log end offset is published (release) only
//! after a batch is fully written and indexed.

mod append;
mod durability;
mod load;
mod read;
mod replace;
mod retention;
#[cfg(test)]
mod txn_tests;

pub use load::LoadHints;
pub use replace::LastRecord;

use durability::Durability;
#[cfg(test)]
pub(crate) use durability::wait_for_flusher;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};

use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use uuid::Uuid;

use super::TopicPartition;
use super::error::LogError;
use super::leader_epoch::LeaderEpochCache;
use super::partition_metadata;
use super::producer_state::ProducerStateManager;
use super::segment::LogSegment;
use super::txn_index::AbortedTxn;
use crate::base::fsync::fsync_dir;
use crate::config::LogConfig;

/// One partition's log.
pub struct UnifiedLog {
    /// The partition, for log messages and checkpoint entries.
    tp: TopicPartition,
    /// The partition directory (`<topic>-<partition>`) holding the segments.
    dir: PathBuf,
    /// The topic id written in `partition.metadata`, checked against the catalog at load.
    topic_id: Uuid,
    /// The topic's effective log settings; replaced when its configuration changes.
    config: RwLock<LogConfig>,
    /// Segments by base offset. Readers clone the `Arc`s they need and drop the lock, so a
    /// segment deleted by retention stays readable until its last reader is done.
    segments: RwLock<BTreeMap<i64, Arc<LogSegment>>>,
    /// Idempotent producer state. Its mutex is also the append lock: appends, rolls and
    /// retention serialize on it, which keeps offsets and sequence checks consistent.
    producers: Mutex<ProducerStateManager>,
    /// Next offset to assign; published (release) only after a batch is written and indexed,
    /// so a reader that sees it can read everything below it.
    log_end_offset: AtomicI64,
    /// First offset of the oldest open transaction, `i64::MAX` when none. Stored before the
    /// log end offset is published, so a reader that loads the log end offset first never
    /// sees an LSO past an open transaction.
    first_unstable_offset: AtomicI64,
    /// First offset still in the log (moves with retention).
    log_start_offset: AtomicI64,
    /// The recovery point and the log's health after I/O errors, shared with the background
    /// flusher.
    durability: Arc<Durability>,
    /// Messages appended since the last flush, for `flush.messages`.
    unflushed_messages: AtomicI64,
    /// When the log was last flushed, for `flush.ms`.
    last_flush_ms: AtomicI64,
    /// Wakes fetch long-polls waiting for data when an append publishes new offsets.
    notify: Notify,
    /// The partition's leader epoch from the cluster metadata, stamped on every appended
    /// batch (0 unless the partition was taken over from another leader).
    leader_epoch: AtomicI32,
    /// Where each leader epoch started (`leader-epoch-checkpoint`), for OffsetForLeaderEpoch.
    epochs: Mutex<LeaderEpochCache>,
}

impl UnifiedLog {
    /// Creates a new, empty log in `dir` (which must exist): `partition.metadata` and the first
    /// segment at offset 0.
    pub fn create(
        dir: &Path,
        tp: TopicPartition,
        topic_id: Uuid,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<UnifiedLog, LogError> {
        partition_metadata::write(dir, topic_id)?;
        let segment = LogSegment::create(dir, 0, index_bytes(&config), now_ms)?;
        let mut segments = BTreeMap::new();
        segments.insert(0, Arc::new(segment));
        fsync_dir(dir).map_err(|e| LogError::io(dir, e))?;
        let producers = ProducerStateManager::new(tp.clone(), dir)?;
        let log =
            UnifiedLog::assemble(dir, tp, topic_id, config, segments, producers, 0, 0, now_ms);
        // A new partition's leader starts epoch 0 at offset 0, as Kafka records it.
        log.epochs.lock().assign(dir, 0, 0)?;
        Ok(log)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        dir: &Path,
        tp: TopicPartition,
        topic_id: Uuid,
        config: LogConfig,
        segments: BTreeMap<i64, Arc<LogSegment>>,
        producers: ProducerStateManager,
        log_start_offset: i64,
        log_end_offset: i64,
        now_ms: i64,
    ) -> UnifiedLog {
        let durability = Arc::new(Durability::new(tp.clone(), dir, log_end_offset));
        let first_unstable = producers.first_unstable_offset().unwrap_or(i64::MAX);
        UnifiedLog {
            tp,
            dir: dir.to_path_buf(),
            topic_id,
            config: RwLock::new(config),
            segments: RwLock::new(segments),
            producers: Mutex::new(producers),
            log_end_offset: AtomicI64::new(log_end_offset),
            first_unstable_offset: AtomicI64::new(first_unstable),
            log_start_offset: AtomicI64::new(log_start_offset),
            durability,
            unflushed_messages: AtomicI64::new(0),
            last_flush_ms: AtomicI64::new(now_ms),
            notify: Notify::new(),
            leader_epoch: AtomicI32::new(0),
            epochs: Mutex::new(LeaderEpochCache::load(dir)),
        }
    }

    /// The partition this log stores.
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    /// The topic id from `partition.metadata` (nil if the file was missing).
    pub fn topic_id(&self) -> Uuid {
        self.topic_id
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The topic's current log configuration.
    pub fn config(&self) -> LogConfig {
        self.config.read().clone()
    }

    /// Applies new topic configuration (AlterConfigs); takes effect from the next append.
    pub fn update_config(&self, config: LogConfig) {
        *self.config.write() = config;
    }

    /// The leader epoch appended batches are stamped with.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// Sets the leader epoch from the cluster metadata and records where it starts in
    /// `leader-epoch-checkpoint` (a log without one, from before the file was kept, has only
    /// ever been written in this epoch, so it starts at the log start offset).
    pub fn set_leader_epoch(&self, epoch: i32) {
        let _appends = self.producers.lock();
        self.leader_epoch.store(epoch, Ordering::Release);
        let mut epochs = self.epochs.lock();
        let start = if epochs.latest_epoch().is_none() {
            self.log_start_offset()
        } else {
            self.log_end_offset()
        };
        if let Err(e) = epochs.assign(&self.dir, epoch, start) {
            tracing::warn!(
                "Error writing the leader epoch checkpoint of {}: {e}",
                self.tp
            );
        }
    }

    /// OffsetForLeaderEpoch: the epoch at or below `requested` and the offset where it ended
    /// (`(-1, -1)` for an epoch newer than any this log has).
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        self.epochs
            .lock()
            .end_offset_for(requested, self.log_end_offset())
    }

    /// First offset still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// Offset the next appended record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }

    /// Offset below which data is committed: the log end offset, as there are no followers.
    pub fn high_watermark(&self) -> i64 {
        self.log_end_offset()
    }

    /// The last stable offset (Kafka's LSO): below it every transaction is decided, so
    /// `read_committed` consumers read up to here. The high watermark unless a transaction
    /// is open, then the first offset of the oldest open one.
    pub fn last_stable_offset(&self) -> i64 {
        let high_watermark = self.high_watermark();
        let first_unstable = self.first_unstable_offset.load(Ordering::Acquire);
        high_watermark.min(first_unstable)
    }

    /// First offset of the oldest open transaction, if any (the cleaner cleans only below
    /// it, as Kafka's `firstUnstableOffset`).
    pub fn first_unstable_offset(&self) -> Option<i64> {
        let first = self.first_unstable_offset.load(Ordering::Acquire);
        (first != i64::MAX).then_some(first)
    }

    /// Whether `producer_id` has an open transaction in this partition.
    pub fn has_ongoing_txn(&self, producer_id: i64) -> bool {
        self.producers
            .lock()
            .entry(producer_id)
            .is_some_and(|e| e.current_txn_first_offset.is_some())
    }

    /// Every producer's state, for DescribeProducers.
    pub fn producer_states(&self) -> Vec<(i64, super::ProducerStateEntry)> {
        self.producers
            .lock()
            .entries()
            .map(|(pid, e)| (pid, e.clone()))
            .collect()
    }

    /// Forgets producers idle for `producer.id.expiration.ms` with no open transaction, as
    /// Kafka's periodic producer expiration. Returns how many were removed.
    pub fn remove_expired_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        self.producers
            .lock()
            .remove_expired_producers(now_ms, expiration_ms)
    }

    /// The aborted transactions with data in `[start_offset, upper_bound_offset)`, from the
    /// transaction indexes of the segment holding `start_offset` and later ones, as Kafka's
    /// `collectAbortedTransactions` (fetch and the cleaner use it).
    pub fn collect_aborted_transactions(
        &self,
        start_offset: i64,
        upper_bound_offset: i64,
    ) -> Vec<AbortedTxn> {
        let mut out = Vec::new();
        for segment in self.segments_from(start_offset) {
            let found = segment
                .txn_index()
                .collect_aborted_txns(start_offset, upper_bound_offset);
            out.extend(found.aborted);
            if found.complete {
                break;
            }
        }
        out
    }

    /// Publishes the first unstable offset from the producer state (before the log end
    /// offset moves).
    fn publish_first_unstable(&self, producers: &ProducerStateManager) {
        let first = producers.first_unstable_offset().unwrap_or(i64::MAX);
        self.first_unstable_offset.store(first, Ordering::Release);
    }

    /// Offset below which all data is known to be on disk; recovery starts here.
    pub fn recovery_point(&self) -> i64 {
        self.durability.recovery_point()
    }

    /// Bytes in all segment files.
    pub fn size_in_bytes(&self) -> u64 {
        self.segments.read().values().map(|s| s.size()).sum()
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments.read().len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.read().keys().copied().collect()
    }

    /// Notified (all waiters) after every successful append; fetch long-polls wait on it.
    pub fn append_notify(&self) -> &Notify {
        &self.notify
    }

    /// Whether any operation on this log's files failed since it was opened; its log dir is
    /// then not marked clean at shutdown.
    pub fn saw_io_error(&self) -> bool {
        self.durability.saw_io_error()
    }

    /// Whether the log is offline after an I/O error it could not undo.
    pub fn is_offline(&self) -> bool {
        self.durability.is_offline()
    }

    /// `Err(Offline)` (KAFKA_STORAGE_ERROR) once the log is offline.
    pub fn check_online(&self) -> Result<(), LogError> {
        self.durability.check_online()
    }

    /// Forces everything appended so far to disk (F_FULLFSYNC on macOS) and advances the
    /// recovery point to the log end offset. A failed fsync takes the log offline.
    pub fn flush(&self) -> Result<(), LogError> {
        self.flush_through(self.log_end_offset())
    }

    /// Forces everything below `end` to disk and moves the recovery point there.
    fn flush_through(&self, end: i64) -> Result<(), LogError> {
        let segments = self.segments_from(self.recovery_point());
        self.durability.flush_up_to(&segments, end)?;
        self.unflushed_messages.store(0, Ordering::Release);
        Ok(())
    }

    /// Flushes if `flush.ms` has passed since the last flush and data is waiting.
    pub fn flush_if_due(&self, now_ms: i64) -> Result<(), LogError> {
        let flush_ms = self.config.read().flush_ms;
        let last = self.last_flush_ms.load(Ordering::Acquire);
        if !self.is_offline()
            && self.recovery_point() < self.log_end_offset()
            && now_ms.saturating_sub(last) >= flush_ms
        {
            self.flush()?;
            self.last_flush_ms.store(now_ms, Ordering::Release);
        }
        Ok(())
    }

    /// Clean close: flush, trim the active segment's indexes, and snapshot producer state at
    /// the log end offset so the next start-up needs no scan. An offline log is left as it
    /// is for start-up recovery.
    pub fn close(&self) -> Result<(), LogError> {
        let mut producers = self.producers.lock();
        self.flush()?;
        let closed = self
            .active_segment()
            .on_become_inactive()
            .and_then(|()| producers.take_snapshot(self.log_end_offset(), true));
        self.durability.note(closed)
    }

    /// Producer state for one producer id (tests and DescribeProducers).
    pub fn producer_state(&self, producer_id: i64) -> Option<super::ProducerStateEntry> {
        self.producers.lock().entry(producer_id).cloned()
    }

    fn active_segment(&self) -> Arc<LogSegment> {
        let active = self.segments.read().values().next_back().cloned();
        active.expect("log has an active segment") // invariant: created with one, retention keeps the last
    }

    /// The segment holding `offset` (or the first one) and every later segment.
    fn segments_from(&self, offset: i64) -> Vec<Arc<LogSegment>> {
        let segments = self.segments.read();
        let floor = segments
            .range(..=offset)
            .next_back()
            .map_or(i64::MIN, |(base, _)| *base);
        segments
            .range(floor..)
            .map(|(_, s)| Arc::clone(s))
            .collect()
    }
}

/// `segment.index.bytes` as a byte count.
pub(crate) fn index_bytes(config: &LogConfig) -> usize {
    usize::try_from(config.segment_index_bytes)
        .unwrap_or(0)
        .max(24)
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;
    use crate::log::batch::test_support::batch;

    /// A fresh log in a temp dir (kept alive by the returned guard).
    pub fn new_log(config: LogConfig) -> (tempfile::TempDir, UnifiedLog) {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("t-0");
        std::fs::create_dir(&dir).expect("mkdir");
        let log = UnifiedLog::create(
            &dir,
            TopicPartition::new("t", 0),
            Uuid::from_u128(7),
            config,
            0,
        )
        .expect("create log");
        (root, log)
    }

    /// Appends `n` single-batch produces of `per` records with timestamps from `ts`.
    pub fn append_n(log: &UnifiedLog, n: usize, per: usize, ts: i64) {
        for i in 0..n {
            log.append_as_leader(&batch(per, ts + i as i64, 50), 0)
                .expect("append");
        }
    }
}
