//! Kafka's `LogCleanerManager`: which compacted log is dirtiest, from which offset its dirty
//! section starts (the `cleaner-offset-checkpoint` file of each log dir), and which partitions
//! are being cleaned, so a deletion or a policy change can abort a round and wait for it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::CleanError;
use super::clean::LogToClean;
use crate::log::TopicPartition;
use crate::log::checkpoint::{self, CLEANER_OFFSET_CHECKPOINT};
use crate::log::unified_log::UnifiedLog;

/// A partition the cleaner threads are working on (Kafka's `LogCleaningState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// A thread is cleaning it, or running its retention.
    InProgress,
    /// Someone asked the thread to stop and is waiting for it.
    Aborted,
}

/// The cleaning bookkeeping of all log dirs.
struct State {
    /// Per log dir: the first dirty offset of each compacted partition.
    checkpoints: BTreeMap<PathBuf, BTreeMap<TopicPartition, i64>>,
    /// Partitions a cleaner thread holds.
    in_progress: HashMap<TopicPartition, Progress>,
    /// Per log dir: partitions whose cleaning failed; skipped until restart or deletion.
    uncleanable: HashMap<PathBuf, BTreeSet<TopicPartition>>,
}

/// Shared by the cleaner threads and the log manager.
pub struct CleanerManager {
    /// Everything above, under one lock as in Kafka.
    state: Mutex<State>,
    /// Signalled whenever a partition leaves the in-progress set.
    released: Condvar,
}

/// Where a log's dirty section starts and where its cleanable part ends (Kafka's
/// `OffsetsToClean`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetsToClean {
    /// First offset not cleaned yet.
    pub first_dirty_offset: i64,
    /// First offset the cleaner may not touch yet.
    pub first_uncleanable_dirty_offset: i64,
    /// The checkpoint was invalid and must be rewritten with `first_dirty_offset`.
    pub force_update_checkpoint: bool,
}

/// The log dir holding `log`.
fn dir_of(log: &UnifiedLog) -> PathBuf {
    log.dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

impl CleanerManager {
    /// Reads `cleaner-offset-checkpoint` in each of `dirs`, keeping entries of `logs` only.
    pub fn new(dirs: &[PathBuf], logs: &[Arc<UnifiedLog>]) -> CleanerManager {
        let mut checkpoints = BTreeMap::new();
        for dir in dirs {
            let path = dir.join(CLEANER_OFFSET_CHECKPOINT);
            let entries = match checkpoint::read(&path) {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::warn!(
                        "Error occurred while reading checkpoint file {}, resetting it: {e}",
                        path.display()
                    );
                    Vec::new()
                }
            };
            let live: BTreeMap<TopicPartition, i64> = entries
                .into_iter()
                .filter(|(tp, _)| {
                    logs.iter()
                        .any(|l| l.topic_partition() == tp && dir_of(l) == *dir)
                })
                .collect();
            checkpoints.insert(dir.clone(), live);
        }
        CleanerManager {
            state: Mutex::new(State {
                checkpoints,
                in_progress: HashMap::new(),
                uncleanable: HashMap::new(),
            }),
            released: Condvar::new(),
        }
    }

    /// The checkpointed first dirty offset of `tp` in `dir`.
    pub fn checkpointed_offset(&self, dir: &Path, tp: &TopicPartition) -> Option<i64> {
        self.state.lock().checkpoints.get(dir)?.get(tp).copied()
    }

    /// Kafka's `grabFilthiestCompactedLog`: among compacted logs not being cleaned and not
    /// marked uncleanable, the one with the largest dirty ratio above its
    /// `min.cleanable.dirty.ratio` (or with records older than `max.compaction.lag.ms`),
    /// marked in progress.
    pub fn grab_filthiest(&self, logs: &[Arc<UnifiedLog>], now_ms: i64) -> Option<LogToClean> {
        let mut state = self.state.lock();
        let mut candidates = Vec::new();
        for log in logs {
            let config = log.config();
            let tp = log.topic_partition();
            let dir = dir_of(log);
            if !config.cleanup_policy.compact
                || state.in_progress.contains_key(tp)
                || state.uncleanable.get(&dir).is_some_and(|s| s.contains(tp))
            {
                continue;
            }
            let last = state.checkpoints.get(&dir).and_then(|c| c.get(tp)).copied();
            let offsets = cleanable_offsets(log, last, now_ms);
            if offsets.force_update_checkpoint {
                update_checkpoint(
                    &mut state,
                    &dir,
                    Some((tp.clone(), offsets.first_dirty_offset)),
                    None,
                );
            }
            let delay = max_compaction_delay(log, offsets.first_dirty_offset, now_ms);
            let (first_uncleanable_offset, cleanable_bytes) = calculate_cleanable_bytes(
                log,
                offsets.first_dirty_offset,
                offsets.first_uncleanable_dirty_offset,
            );
            let clean_bytes = log
                .segments_in(-1, offsets.first_dirty_offset)
                .iter()
                .map(|s| s.size())
                .sum();
            let job = LogToClean {
                log: Arc::clone(log),
                first_dirty_offset: offsets.first_dirty_offset,
                first_uncleanable_offset,
                clean_bytes,
                cleanable_bytes,
                needs_compaction_now: delay > 0,
            };
            if job.clean_bytes + job.cleanable_bytes == 0 {
                continue;
            }
            let ratio = job.cleanable_ratio();
            if (job.needs_compaction_now && job.cleanable_bytes > 0)
                || ratio > config.min_cleanable_dirty_ratio
            {
                candidates.push((ratio, job));
            }
        }
        let (_, filthiest) = candidates.into_iter().max_by(|a, b| a.0.total_cmp(&b.0))?;
        state.in_progress.insert(
            filthiest.log.topic_partition().clone(),
            Progress::InProgress,
        );
        Some(filthiest)
    }

    /// Kafka's `deletableLogs`: the compacted logs that also use `delete` and are free, marked
    /// in progress; the cleaner thread runs their retention so it never races a clean.
    pub fn grab_deletable(&self, logs: &[Arc<UnifiedLog>]) -> Vec<Arc<UnifiedLog>> {
        let mut state = self.state.lock();
        let mut grabbed = Vec::new();
        for log in logs {
            let policy = log.config().cleanup_policy;
            let tp = log.topic_partition();
            let uncleanable = state
                .uncleanable
                .get(&dir_of(log))
                .is_some_and(|s| s.contains(tp));
            if policy.compact
                && policy.delete
                && !state.in_progress.contains_key(tp)
                && !uncleanable
            {
                state.in_progress.insert(tp.clone(), Progress::InProgress);
                grabbed.push(Arc::clone(log));
            }
        }
        grabbed
    }

    /// Releases partitions taken by [`grab_deletable`](Self::grab_deletable).
    pub fn done_deleting(&self, logs: &[Arc<UnifiedLog>]) {
        let mut state = self.state.lock();
        for log in logs {
            state.in_progress.remove(log.topic_partition());
        }
        self.released.notify_all();
    }

    /// Kafka's `doneCleaning`: records `end_offset` as the next first dirty offset (unless the
    /// round was aborted) and releases the partition.
    pub fn done_cleaning(&self, log: &UnifiedLog, end_offset: i64) {
        let mut state = self.state.lock();
        let tp = log.topic_partition().clone();
        if state.in_progress.remove(&tp) == Some(Progress::InProgress) {
            update_checkpoint(&mut state, &dir_of(log), Some((tp, end_offset)), None);
        }
        self.released.notify_all();
    }

    /// Fails with [`CleanError::Aborted`] once someone aborted the cleaning of `tp` (Kafka's
    /// `checkCleaningAborted`).
    pub fn check_aborted(&self, tp: &TopicPartition) -> Result<(), CleanError> {
        match self.state.lock().in_progress.get(tp) {
            Some(Progress::Aborted) => Err(CleanError::Aborted),
            _ => Ok(()),
        }
    }

    /// Kafka's `abortCleaning`: stops a round of `tp` in progress and waits until its thread
    /// let go. Callers must hold no lock of the log.
    pub fn abort_cleaning(&self, tp: &TopicPartition) {
        let mut state = self.state.lock();
        if let Some(progress) = state.in_progress.get_mut(tp) {
            *progress = Progress::Aborted;
            tracing::info!("The cleaning for partition {tp} is aborted");
        }
        while state.in_progress.contains_key(tp) {
            self.released.wait(&mut state);
        }
    }

    /// Kafka's `markPartitionUncleanable`: a round failed; skip the partition from now on.
    pub fn mark_uncleanable(&self, log: &UnifiedLog) {
        self.state
            .lock()
            .uncleanable
            .entry(dir_of(log))
            .or_default()
            .insert(log.topic_partition().clone());
    }

    /// The partition's log is gone: forget its checkpoint entry and its uncleanable mark.
    pub fn remove_partition(&self, dir: &Path, tp: &TopicPartition) {
        let mut state = self.state.lock();
        if let Some(set) = state.uncleanable.get_mut(dir) {
            set.remove(tp);
        }
        let present = state
            .checkpoints
            .get(dir)
            .is_some_and(|c| c.contains_key(tp));
        if present {
            update_checkpoint(&mut state, dir, None, Some(tp));
        }
    }

    /// Whether some partition of `dir` is marked uncleanable (for tests and logs).
    pub fn is_uncleanable(&self, log: &UnifiedLog) -> bool {
        self.state
            .lock()
            .uncleanable
            .get(&dir_of(log))
            .is_some_and(|s| s.contains(log.topic_partition()))
    }
}

/// Applies one change to a dir's checkpoint and rewrites its file (Kafka's
/// `updateCheckpoints`). A failed write is logged: the old file stays, which only means some
/// cleaning is repeated.
fn update_checkpoint(
    state: &mut State,
    dir: &Path,
    set: Option<(TopicPartition, i64)>,
    remove: Option<&TopicPartition>,
) {
    let entries = state.checkpoints.entry(dir.to_path_buf()).or_default();
    if let Some(tp) = remove {
        entries.remove(tp);
    }
    if let Some((tp, offset)) = set {
        entries.insert(tp, offset);
    }
    let list: Vec<(TopicPartition, i64)> = entries.iter().map(|(tp, o)| (tp.clone(), *o)).collect();
    let path = dir.join(CLEANER_OFFSET_CHECKPOINT);
    if let Err(e) = checkpoint::write(&path, &list) {
        tracing::error!(
            "Failed to access checkpoint file {} in dir {}: {e}",
            CLEANER_OFFSET_CHECKPOINT,
            dir.display()
        );
    }
}

/// Kafka's `cleanableOffsets`: the first dirty offset (the checkpoint, reset to the log start
/// when it is out of range) and the first offset that may not be cleaned: the last stable
/// offset, the active segment, and with `min.compaction.lag.ms` the first segment holding a
/// record younger than the lag.
pub fn cleanable_offsets(
    log: &UnifiedLog,
    checkpointed: Option<i64>,
    now_ms: i64,
) -> OffsetsToClean {
    let log_start = log.log_start_offset();
    let checkpoint_dirty = checkpointed.unwrap_or(log_start);
    let config = log.config();
    let (first_dirty_offset, force_update_checkpoint) = if checkpoint_dirty < log_start {
        if !config.cleanup_policy.delete {
            tracing::warn!(
                "Resetting first dirty offset of {} to log start offset {log_start} since the checkpointed offset {checkpoint_dirty} is invalid.",
                log.topic_partition()
            );
        }
        (log_start, true)
    } else if checkpoint_dirty > log.log_end_offset() {
        tracing::warn!(
            "The last checkpoint dirty offset for partition {} is {checkpoint_dirty}, which is larger than the log end offset {}. Resetting to the log start offset {log_start}.",
            log.topic_partition(),
            log.log_end_offset()
        );
        (log_start, true)
    } else {
        (checkpoint_dirty, false)
    };
    let min_lag = config.min_compaction_lag_ms.max(0);
    let mut uncleanable = log.last_stable_offset().min(log.active_segment_base());
    if min_lag > 0 {
        let young = log
            .non_active_segments_from(first_dirty_offset)
            .into_iter()
            .find(|s| s.largest_timestamp() > now_ms.saturating_sub(min_lag));
        if let Some(segment) = young {
            uncleanable = uncleanable.min(segment.base_offset());
        }
    }
    OffsetsToClean {
        first_dirty_offset,
        first_uncleanable_dirty_offset: first_dirty_offset.max(uncleanable),
        force_update_checkpoint,
    }
}

/// Kafka's `maxCompactionDelay`: how far past `max.compaction.lag.ms` the oldest dirty
/// segment's first batch is (0 if none is).
pub fn max_compaction_delay(log: &UnifiedLog, first_dirty_offset: i64, now_ms: i64) -> i64 {
    let earliest = log
        .non_active_segments_from(first_dirty_offset)
        .iter()
        .filter_map(|s| s.first_batch_timestamp().ok().flatten())
        .filter(|ts| *ts > 0)
        .min()
        .unwrap_or(i64::MAX);
    let clean_until = now_ms.saturating_sub(log.config().max_compaction_lag_ms.max(0));
    if earliest < clean_until {
        clean_until - earliest
    } else {
        0
    }
}

/// Kafka's `calculateCleanableBytes`: the base of the segment holding the uncleanable offset
/// (or the active segment) and the bytes of the segments from the first dirty one up to it.
pub fn calculate_cleanable_bytes(
    log: &UnifiedLog,
    first_dirty_offset: i64,
    uncleanable_offset: i64,
) -> (i64, u64) {
    let first_uncleanable = log
        .non_active_segments_from(uncleanable_offset)
        .first()
        .map_or_else(|| log.active_segment_base(), |s| s.base_offset());
    let bytes = log
        .segments_in(first_dirty_offset.min(first_uncleanable), first_uncleanable)
        .iter()
        .map(|s| s.size())
        .sum();
    (first_uncleanable, bytes)
}
