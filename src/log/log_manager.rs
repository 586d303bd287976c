//! Kafka's `LogManager`: every partition log in every log dir, their start-up recovery, the
//! dir-level checkpoints and the clean-shutdown marker.

use crate::base::clock::now_ms;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use uuid::Uuid;

use super::TopicPartition;
use super::checkpoint::{self, LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT};
use super::cleaner::{CleanerManager, LogCleaner, LogSource};
use super::error::LogError;
use super::segment::LOG_SUFFIX;
use super::unified_log::{LoadHints, UnifiedLog};
use crate::base::fs;
use crate::base::fsync::fsync_dir;
use crate::config::{CleanerConfig, LogConfig};

/// Kafka's clean shutdown marker, written last on a clean shutdown and removed at start-up.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// Suffix of directories of deleted partitions awaiting removal.
const DELETE_DIR_SUFFIX: &str = "-delete";
/// Suffix of directories of logs set aside because their topic no longer exists.
const STRAY_DIR_SUFFIX: &str = "-stray";
const NOT_PARTITION_SUFFIXES: [&str; 3] = [DELETE_DIR_SUFFIX, STRAY_DIR_SUFFIX, "-future"];
/// The longest file name most file systems take.
const MAX_FILE_NAME_BYTES: usize = 255;

/// Kafka's `logDirNameWithSuffixCappedLength`: `<topic>-<partition>.<uuid><suffix>`, the topic
/// cut short so the name fits in 255 bytes (a topic name may be 249 characters, and the
/// suffix takes up to 52 more).
fn renamed_dir_name(tp: &TopicPartition, suffix: &str) -> String {
    let tail = format!("-{}.{}{suffix}", tp.partition, Uuid::new_v4().simple());
    let keep = tp
        .topic
        .len()
        .min(MAX_FILE_NAME_BYTES.saturating_sub(tail.len()));
    // Topic names are ASCII ([a-zA-Z0-9._-]), so any byte is a character boundary; stay safe
    // for anything else.
    let mut cut = keep;
    while !tp.topic.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{tail}", &tp.topic[..cut])
}

/// A partition log taken out of service by [`LogManager::detach`], its directory renamed for
/// deletion but not removed yet.
pub struct DetachedLog {
    /// The log, kept to put it back.
    log: Arc<UnifiedLog>,
    /// Where its directory is now.
    renamed: PathBuf,
}
/// The KRaft metadata log, written by the storage tool, not a partition of ours.
const CLUSTER_METADATA_DIR: &str = "__cluster_metadata-0";

/// One log dir in a DescribeLogDirs answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDirDescription {
    /// The log dir.
    pub path: PathBuf,
    /// Capacity of its file system in bytes (-1 if unknown, as Kafka reports it).
    pub total_bytes: i64,
    /// Bytes available to the broker on that file system (-1 if unknown).
    pub usable_bytes: i64,
    /// The partitions stored there, with the bytes in their segment files.
    pub partitions: Vec<(TopicPartition, u64)>,
}

/// All partition logs of the broker.
pub struct LogManager {
    /// `log.dirs`: where partition directories live; new ones go to the least loaded dir.
    log_dirs: Vec<PathBuf>,
    /// Every partition log, by partition.
    logs: RwLock<BTreeMap<TopicPartition, Arc<UnifiedLog>>>,
    /// Serialises creation so two callers never create one partition's directory twice.
    create_lock: Mutex<()>,
    /// The log cleaner (threads start with [`LogManager::start_cleaner`]).
    cleaner: LogCleaner,
    /// Log dirs where an operation of the manager itself (a checkpoint, a directory rename)
    /// failed; with the dirs of logs that saw I/O errors, they are not marked clean at
    /// shutdown.
    failed_dirs: Mutex<BTreeSet<PathBuf>>,
}

/// Kafka's `parseTopicPartitionName` for a directory name; `None` for anything that is not a
/// live partition directory.
fn parse_partition_dir(name: &str) -> Option<TopicPartition> {
    if name == CLUSTER_METADATA_DIR || NOT_PARTITION_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return None;
    }
    let (topic, partition) = name.rsplit_once('-')?;
    if topic.is_empty() || partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(TopicPartition {
        topic: topic.to_string(),
        partition: partition.parse().ok()?,
    })
}

fn read_checkpoint(path: &Path) -> BTreeMap<TopicPartition, i64> {
    match checkpoint::read(path) {
        Ok(entries) => entries.into_iter().collect(),
        Err(e) => {
            tracing::warn!(
                "Error occurred while reading checkpoint file {}, resetting it: {e}",
                path.display()
            );
            BTreeMap::new()
        }
    }
}

impl LogManager {
    /// Opens every partition directory in `log_dirs`. After a clean shutdown (marker present)
    /// no log is rescanned; otherwise each log recovers from its checkpointed recovery point.
    /// Up to `recovery_threads` logs per dir load in parallel. `topic_config` gives each
    /// topic's configuration. Directories of deleted partitions are removed in the background.
    pub fn startup(
        log_dirs: &[PathBuf],
        topic_config: &dyn Fn(&str) -> LogConfig,
        recovery_threads: usize,
    ) -> Result<LogManager, LogError> {
        let mut logs = BTreeMap::new();
        for dir in log_dirs {
            for log in load_dir(dir, topic_config, recovery_threads)? {
                let tp = log.topic_partition().clone();
                if let Some(other) = logs.insert(tp.clone(), log) {
                    return Err(LogError::MalformedFile {
                        path: other.dir().to_path_buf(),
                        reason: format!("Duplicate log directories for {tp} are found"),
                    });
                }
            }
        }
        let loaded: Vec<Arc<UnifiedLog>> = logs.values().cloned().collect();
        let cleaner = LogCleaner::new(Arc::new(CleanerManager::new(log_dirs, &loaded)));
        Ok(LogManager {
            log_dirs: log_dirs.to_vec(),
            logs: RwLock::new(logs),
            create_lock: Mutex::new(()),
            cleaner,
            failed_dirs: Mutex::new(BTreeSet::new()),
        })
    }

    /// Partition directories and segments (`.log` files) in `log_dirs`, counted without
    /// opening anything: what start-up checks the open-file limit against.
    pub fn count_on_disk(log_dirs: &[PathBuf]) -> (u64, u64) {
        let (mut partitions, mut segments) = (0u64, 0u64);
        for dir in log_dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if parse_partition_dir(&name.to_string_lossy()).is_none() {
                    continue;
                }
                let Ok(files) = std::fs::read_dir(entry.path()) else {
                    continue;
                };
                partitions += 1;
                segments += files
                    .flatten()
                    .filter(|f| f.file_name().to_string_lossy().ends_with(LOG_SUFFIX))
                    .count() as u64;
            }
        }
        (partitions, segments)
    }

    /// Starts the log cleaner threads (`log.cleaner.*`); they find logs through this manager
    /// and stop at [`shutdown`](Self::shutdown).
    pub fn start_cleaner(self: &Arc<Self>, config: &CleanerConfig) -> Result<(), String> {
        let manager = Arc::downgrade(self);
        let source: LogSource =
            Arc::new(move || manager.upgrade().map(|m| m.all_logs()).unwrap_or_default());
        self.cleaner.start(config, source)
    }

    /// The log cleaner.
    pub fn cleaner(&self) -> &LogCleaner {
        &self.cleaner
    }

    /// Applies a topic's new configuration to its logs (the entry point for AlterConfigs):
    /// retention and roll settings apply from the next pass, a topic that stops being
    /// compacted has its cleaning aborted (Kafka's `updateTopicConfig`), and one that becomes
    /// compacted is looked at by the cleaner right away.
    pub fn update_topic_config(&self, topic: &str, config: &LogConfig) {
        let logs: Vec<Arc<UnifiedLog>> = self
            .all_logs()
            .into_iter()
            .filter(|l| l.topic_partition().topic == topic)
            .collect();
        for log in logs {
            let was_compacted = log.config().cleanup_policy.compact;
            log.update_config(config.clone());
            if was_compacted && !config.cleanup_policy.compact {
                self.cleaner.manager().abort_cleaning(log.topic_partition());
            }
        }
        if config.cleanup_policy.compact {
            self.cleaner.wake();
        }
    }

    /// The log of `tp`, if this broker has one.
    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<UnifiedLog>> {
        self.logs.read().get(tp).cloned()
    }

    /// The log of `tp`, creating its directory (in the log dir holding the fewest partitions)
    /// with `partition.metadata` and an empty first segment if it does not exist. A log or
    /// directory left on disk for another topic id (a topic deleted and created again, a
    /// deletion that did not finish) is set aside as stray and never served as this topic's.
    /// A creation that fails leaves no directory behind.
    pub fn get_or_create(
        &self,
        tp: &TopicPartition,
        topic_id: Uuid,
        config: LogConfig,
    ) -> Result<Arc<UnifiedLog>, LogError> {
        let is_ours = |log: &UnifiedLog| log.topic_id() == topic_id || log.topic_id().is_nil();
        if let Some(log) = self.get(tp).filter(|l| is_ours(l)) {
            return Ok(log);
        }
        let _guard = self.create_lock.lock();
        if let Some(log) = self.get(tp) {
            if is_ours(&log) {
                return Ok(log);
            }
            self.set_aside_as_stray(tp, &log)?;
        }
        let parent = self.least_loaded_dir()?;
        let dir = parent.join(tp.to_string());
        if dir.exists() {
            let log = UnifiedLog::load(
                &dir,
                tp.clone(),
                config.clone(),
                LoadHints::default(),
                now_ms(),
            );
            match log {
                Ok(log) if is_ours(&log) => {
                    let log = Arc::new(log);
                    self.logs.write().insert(tp.clone(), Arc::clone(&log));
                    return Ok(log);
                }
                Ok(log) => self.set_aside_as_stray(tp, &log)?,
                Err(e) => {
                    tracing::warn!("Could not load the log left in {}: {e}", dir.display());
                    self.rename_aside(tp, &dir, STRAY_DIR_SUFFIX)?;
                }
            }
        }
        let created = std::fs::create_dir_all(&dir)
            .map_err(|e| LogError::io(&dir, e))
            .and_then(|()| UnifiedLog::create(&dir, tp.clone(), topic_id, config, now_ms()))
            .and_then(|log| {
                fsync_dir(&parent).map_err(|e| LogError::io(&parent, e))?;
                Ok(log)
            });
        let log = match created {
            Ok(log) => log,
            Err(e) => {
                self.failed_dirs.lock().insert(parent.clone());
                if let Err(undo) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!(
                        "Could not remove {} after a failed creation: {undo}",
                        dir.display()
                    );
                }
                return Err(e);
            }
        };
        tracing::info!(
            "Created log for partition {tp} in {} with properties {:?}",
            dir.display(),
            log.config()
        );
        let log = Arc::new(log);
        self.logs.write().insert(tp.clone(), Arc::clone(&log));
        Ok(log)
    }

    /// Takes `log` (of another topic id than wanted) out of service and renames its directory
    /// to Kafka's `-stray` form, kept for inspection and never loaded again.
    fn set_aside_as_stray(&self, tp: &TopicPartition, log: &UnifiedLog) -> Result<(), LogError> {
        tracing::warn!(
            "The log of {tp} in {} belongs to topic id {}, not the topic of that name now; setting it aside",
            log.dir().display(),
            log.topic_id()
        );
        self.logs.write().remove(tp);
        self.cleaner.manager().abort_cleaning(tp);
        self.rename_aside(tp, log.dir(), STRAY_DIR_SUFFIX).map(drop)
    }

    /// Renames the directory of `tp` to Kafka's `<topic>-<partition>.<uuid><suffix>` form (the
    /// topic cut so the name fits in 255 bytes) and syncs its parent; the new path.
    fn rename_aside(
        &self,
        tp: &TopicPartition,
        dir: &Path,
        suffix: &str,
    ) -> Result<PathBuf, LogError> {
        let parent = dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let renamed = parent.join(renamed_dir_name(tp, suffix));
        fs::rename(dir, &renamed).map_err(|e| {
            self.failed_dirs.lock().insert(parent.clone());
            LogError::io(dir, e)
        })?;
        if let Err(e) = fsync_dir(&parent) {
            // The rename happened; only its durability is in doubt (start-up sets a deleted
            // topic's log aside again if it comes back).
            self.failed_dirs.lock().insert(parent.clone());
            tracing::warn!(
                "Could not sync {} after renaming {}: {e}",
                parent.display(),
                dir.display()
            );
        }
        Ok(renamed)
    }

    fn least_loaded_dir(&self) -> Result<PathBuf, LogError> {
        let logs = self.logs.read();
        self.log_dirs
            .iter()
            .min_by_key(|d| {
                logs.values()
                    .filter(|l| l.dir().parent() == Some(d.as_path()))
                    .count()
            })
            .cloned()
            .ok_or_else(|| LogError::MalformedFile {
                path: PathBuf::new(),
                reason: "no log dirs configured".into(),
            })
    }

    /// Takes the log of `tp` out of service and renames its directory to Kafka's
    /// `<topic>-<partition>.<uuid>-delete` form, the first step of deleting it. `None` for an
    /// unknown partition; an error (the log still in service) if the rename fails. Finish with
    /// [`Self::finish_delete`] or put it back with [`Self::undo_delete`].
    pub fn detach(&self, tp: &TopicPartition) -> Result<Option<DetachedLog>, LogError> {
        let Some(log) = self.logs.write().remove(tp) else {
            return Ok(None);
        };
        // The cleaner must let go of the log before its directory moves.
        self.cleaner.manager().abort_cleaning(tp);
        match self.rename_aside(tp, log.dir(), DELETE_DIR_SUFFIX) {
            Ok(renamed) => {
                tracing::info!(
                    "Log for partition {tp} is renamed to {} and is scheduled for deletion",
                    renamed.display()
                );
                if let Some(parent) = log.dir().parent() {
                    self.cleaner.manager().remove_partition(parent, tp);
                }
                Ok(Some(DetachedLog { log, renamed }))
            }
            Err(e) => {
                self.logs.write().insert(tp.clone(), log);
                Err(e)
            }
        }
    }

    /// Removes a detached log's directory in the background.
    pub fn finish_delete(&self, detached: DetachedLog) {
        remove_in_background(detached.renamed);
    }

    /// Renames a detached log's directory back and puts the log in service again.
    pub fn undo_delete(&self, detached: DetachedLog) -> Result<(), LogError> {
        let DetachedLog { log, renamed } = detached;
        fs::rename(&renamed, log.dir()).map_err(|e| {
            tracing::error!(
                "Could not rename {} back to {}: {e}; the log of {} is lost at the next start-up",
                renamed.display(),
                log.dir().display(),
                log.topic_partition()
            );
            LogError::io(&renamed, e)
        })?;
        self.logs.write().insert(log.topic_partition().clone(), log);
        Ok(())
    }

    /// Deletes the log of `tp` (detach, then remove in the background). Deleting an unknown
    /// partition does nothing.
    pub fn delete(&self, tp: &TopicPartition) -> Result<(), LogError> {
        if let Some(detached) = self.detach(tp)? {
            self.finish_delete(detached);
        }
        Ok(())
    }

    /// Every log, ordered by partition.
    pub fn all_logs(&self) -> Vec<Arc<UnifiedLog>> {
        self.logs.read().values().cloned().collect()
    }

    /// For DescribeLogDirs: each dir's path, file system capacity and free space, and its
    /// partitions with their sizes.
    pub fn describe_dirs(&self) -> Vec<LogDirDescription> {
        let logs = self.all_logs();
        self.log_dirs
            .iter()
            .map(|dir| {
                let (total_bytes, usable_bytes) = fs_space(dir);
                let partitions = logs
                    .iter()
                    .filter(|l| l.dir().parent() == Some(dir.as_path()))
                    .map(|l| (l.topic_partition().clone(), l.size_in_bytes()))
                    .collect();
                LogDirDescription {
                    path: dir.clone(),
                    total_bytes,
                    usable_bytes,
                    partitions,
                }
            })
            .collect()
    }

    /// Retention pass over every log (run every `log.retention.check.interval.ms`): deletes
    /// expired or excess segments, never an active one. Returns how many were deleted. While
    /// the cleaner runs, compacted logs are left to it (as in Kafka), so retention never
    /// races a clean of the same log.
    pub fn cleanup_logs(&self, now_ms: i64) -> usize {
        let started = Instant::now();
        let mut total = 0;
        let cleaner_owns_compacted = self.cleaner.is_running();
        for log in self.all_logs() {
            if cleaner_owns_compacted && log.config().cleanup_policy.compact {
                continue;
            }
            match log.delete_old_segments(now_ms) {
                Ok(n) => total += n,
                Err(e) => tracing::error!(
                    "Error while deleting old segments of {}: {e}",
                    log.topic_partition()
                ),
            }
        }
        tracing::debug!(
            "Log cleanup completed. {total} files deleted in {} ms",
            started.elapsed().as_millis()
        );
        total
    }

    /// Forgets, in every log, producers idle for `expiration_ms` with no open transaction
    /// (run every `producer.id.expiration.check.interval.ms`, as Kafka's
    /// `PeriodicProducerExpirationCheck`). Returns how many were removed.
    pub fn remove_expired_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        self.all_logs()
            .iter()
            .map(|log| log.remove_expired_producers(now_ms, expiration_ms))
            .sum()
    }

    /// Flushes logs whose `flush.ms` has elapsed (run every `log.flush.scheduler.interval.ms`).
    pub fn flush_dirty_logs(&self, now_ms: i64) {
        for log in self.all_logs() {
            if let Err(e) = log.flush_if_due(now_ms) {
                tracing::error!("Error flushing topic {}: {e}", log.topic_partition());
            }
        }
    }

    /// Writes `recovery-point-offset-checkpoint` and `log-start-offset-checkpoint` in every dir
    /// (all dirs are tried; the first error is returned).
    pub fn checkpoint(&self) -> Result<(), LogError> {
        let logs = self.all_logs();
        let mut result = Ok(());
        for dir in &self.log_dirs {
            if let Err(e) = self.checkpoint_dir(dir, &logs) {
                self.failed_dirs.lock().insert(dir.clone());
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        result
    }

    fn checkpoint_dir(&self, dir: &Path, logs: &[Arc<UnifiedLog>]) -> Result<(), LogError> {
        let here: Vec<&Arc<UnifiedLog>> = logs
            .iter()
            .filter(|l| l.dir().parent() == Some(dir))
            .collect();
        let recovery: Vec<(TopicPartition, i64)> = here
            .iter()
            .map(|l| (l.topic_partition().clone(), l.recovery_point()))
            .collect();
        let starts: Vec<(TopicPartition, i64)> = here
            .iter()
            .filter(|l| {
                l.segment_base_offsets()
                    .first()
                    .is_some_and(|b| l.log_start_offset() > *b)
            })
            .map(|l| (l.topic_partition().clone(), l.log_start_offset()))
            .collect();
        for (name, entries) in [
            (RECOVERY_POINT_CHECKPOINT, recovery),
            (LOG_START_OFFSET_CHECKPOINT, starts),
        ] {
            let path = dir.join(name);
            checkpoint::write(&path, &entries).map_err(|e| LogError::MalformedFile {
                path,
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// Clean shutdown: flush every log, trim indexes, snapshot producer state, write the
    /// checkpoints, then the clean-shutdown marker in each dir, except in a dir that saw an
    /// I/O error since start-up: the next start-up then recovers its logs from their recovery
    /// points instead of trusting them. Offline logs are left as they are for that recovery.
    /// Every log and dir is tried; the first error is returned.
    pub fn shutdown(&self) -> Result<(), LogError> {
        tracing::info!("Shutting down.");
        self.cleaner.shutdown();
        let logs = self.all_logs();
        let mut result = Ok(());
        let mut keep_first = |r: Result<(), LogError>| {
            if let Err(e) = r {
                tracing::error!("Error during log shutdown: {e}");
                if result.is_ok() {
                    result = Err(e);
                }
            }
        };
        for log in logs.iter().filter(|l| !l.is_offline()) {
            keep_first(log.close());
        }
        keep_first(self.checkpoint());
        for dir in &self.log_dirs {
            let saw_errors = self.failed_dirs.lock().contains(dir)
                || logs
                    .iter()
                    .any(|l| l.dir().parent() == Some(dir.as_path()) && l.saw_io_error());
            if saw_errors {
                tracing::warn!(
                    "Not marking log dir {} clean: it saw I/O errors, so the next start-up recovers its logs",
                    dir.display()
                );
                continue;
            }
            keep_first(write_clean_shutdown_marker(dir));
        }
        tracing::info!("Shutdown complete.");
        result
    }
}

/// Writes `.kafka_cleanshutdown` durably in `dir`; a marker that could not be made durable
/// is removed again, so start-up never trusts a shutdown that did not finish.
fn write_clean_shutdown_marker(dir: &Path) -> Result<(), LogError> {
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    let written = std::fs::File::create(&path)
        .and_then(|file| {
            fs::write_all(&file, br#"{"version":0,"brokerEpoch":-1}"#, &path)?;
            fs::sync_file(&file, &path)
        })
        .and_then(|()| fsync_dir(dir));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&path);
        LogError::io(&path, e)
    })
}

/// Loads every partition directory of one log dir with up to `threads` loader threads.
fn load_dir(
    dir: &Path,
    topic_config: &dyn Fn(&str) -> LogConfig,
    threads: usize,
) -> Result<Vec<Arc<UnifiedLog>>, LogError> {
    let started = Instant::now();
    std::fs::create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
    let marker = dir.join(CLEAN_SHUTDOWN_FILE);
    let clean_shutdown = marker.exists();
    if !clean_shutdown {
        tracing::info!(
            "Attempting recovery for all logs in {} since no clean shutdown file was found",
            dir.display()
        );
    }
    let recovery_points = read_checkpoint(&dir.join(RECOVERY_POINT_CHECKPOINT));
    let log_starts = read_checkpoint(&dir.join(LOG_START_OFFSET_CHECKPOINT));
    let mut work = VecDeque::new();
    for entry in std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        if !entry
            .file_type()
            .map_err(|e| LogError::io(entry.path(), e))?
            .is_dir()
        {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(DELETE_DIR_SUFFIX) {
            remove_in_background(entry.path());
        } else if let Some(tp) = parse_partition_dir(&name) {
            let hints = LoadHints {
                recovery_point: recovery_points.get(&tp).copied(),
                log_start_offset: log_starts.get(&tp).copied(),
                clean_shutdown,
            };
            let config = topic_config(&tp.topic);
            work.push_back((entry.path(), tp, config, hints));
        }
    }
    let total = work.len();
    let queue = Mutex::new(work);
    let results = Mutex::new(Vec::with_capacity(total));
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, total.max(1)) {
            scope.spawn(|| {
                while let Some((path, tp, config, hints)) = queue.lock().pop_front() {
                    let load_started = Instant::now();
                    let loaded = UnifiedLog::load(&path, tp, config, hints, now_ms());
                    if let Ok(log) = &loaded {
                        tracing::info!(
                            "Completed load of log {} with {} segments, local-log-start-offset {} and log-end-offset {} in {}ms",
                            log.topic_partition(),
                            log.segment_count(),
                            log.log_start_offset(),
                            log.log_end_offset(),
                            load_started.elapsed().as_millis()
                        );
                    }
                    results.lock().push(loaded.map(Arc::new));
                }
            });
        }
    });
    let logs = results
        .into_inner()
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    match std::fs::remove_file(&marker) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(LogError::io(&marker, e)),
    }
    tracing::info!(
        "Loaded {} logs in {}ms from {}",
        logs.len(),
        started.elapsed().as_millis(),
        dir.display()
    );
    Ok(logs)
}

fn remove_in_background(path: PathBuf) {
    let spawned = std::thread::Builder::new()
        .name("kafka-delete-logs".into())
        .spawn(move || match std::fs::remove_dir_all(&path) {
            Ok(()) => tracing::info!("Deleted log directory {}.", path.display()),
            Err(e) => tracing::error!("Exception while deleting {}: {e}", path.display()),
        });
    if let Err(e) = spawned {
        tracing::warn!("Could not start deleting log directory: {e}");
    }
}

/// Total and available bytes of the file system holding `dir` (-1, -1 if unknown).
fn fs_space(dir: &Path) -> (i64, i64) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return (-1, -1);
    };
    // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return (-1, -1);
    }
    let block = stat.f_frsize as u64;
    let clamp = |blocks: u64| i64::try_from(blocks.saturating_mul(block)).unwrap_or(i64::MAX);
    (clamp(stat.f_blocks as u64), clamp(stat.f_bavail as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::test_support::batch;

    fn start(dirs: &[PathBuf]) -> LogManager {
        LogManager::startup(dirs, &|_| LogConfig::default(), 2).expect("startup")
    }

    #[test]
    fn parses_partition_directory_names_like_kafka() {
        assert_eq!(
            parse_partition_dir("orders-0"),
            Some(TopicPartition::new("orders", 0))
        );
        assert_eq!(
            parse_partition_dir("my-topic-12"),
            Some(TopicPartition::new("my-topic", 12))
        );
        for skip in [
            "__cluster_metadata-0",
            "t-0.abc-delete",
            "t-0-delete",
            "t-0.x-stray",
            "t-0.x-future",
            "t-x",
            "-0",
            "t-",
        ] {
            assert_eq!(parse_partition_dir(skip), None, "{skip}");
        }
    }

    #[test]
    fn creates_spreads_restarts_and_deletes() {
        let root = tempfile::tempdir().expect("tempdir");
        let dirs = vec![root.path().join("a"), root.path().join("b")];
        let mgr = start(&dirs);
        let id = Uuid::from_u128(1);
        let t0 = mgr
            .get_or_create(&TopicPartition::new("t", 0), id, LogConfig::default())
            .expect("create");
        let t1 = mgr
            .get_or_create(&TopicPartition::new("t", 1), id, LogConfig::default())
            .expect("create");
        assert_ne!(t0.dir().parent(), t1.dir().parent(), "spread over the dirs");
        assert!(Arc::ptr_eq(
            &t0,
            &mgr.get_or_create(&TopicPartition::new("t", 0), id, LogConfig::default())
                .expect("get")
        ));
        t0.append_as_leader(&batch(3, 5, 10), 0).expect("append");
        std::fs::create_dir_all(dirs[0].join("__cluster_metadata-0")).expect("metadata dir");
        std::fs::write(dirs[0].join("meta.properties"), "version=1\n").expect("meta");
        mgr.shutdown().expect("shutdown");
        assert!(dirs[0].join(CLEAN_SHUTDOWN_FILE).exists());
        let rp = std::fs::read_to_string(
            t0.dir()
                .parent()
                .expect("parent")
                .join(RECOVERY_POINT_CHECKPOINT),
        )
        .expect("rp");
        assert_eq!(rp, "0\n1\nt 0 3\n");
        drop((t0, t1, mgr));

        let mgr = start(&dirs);
        assert!(
            !dirs[0].join(CLEAN_SHUTDOWN_FILE).exists(),
            "marker removed at start-up"
        );
        assert_eq!(mgr.all_logs().len(), 2);
        let t0 = mgr.get(&TopicPartition::new("t", 0)).expect("loaded");
        assert_eq!(t0.log_end_offset(), 3);
        assert_eq!(t0.topic_id(), id);
        let described = mgr.describe_dirs();
        assert_eq!(described.len(), 2);
        assert!(described.iter().all(|d| d.total_bytes >= d.usable_bytes
            && d.usable_bytes > 0
            && d.partitions.len() == 1));

        let old_dir = t0.dir().to_path_buf();
        mgr.delete(&TopicPartition::new("t", 0)).expect("delete");
        assert!(mgr.get(&TopicPartition::new("t", 0)).is_none());
        assert!(!old_dir.exists());
        mgr.delete(&TopicPartition::new("t", 0))
            .expect("deleting twice is fine");
    }

    /// A log on disk of another topic id (a deleted topic's directory that came back, then a
    /// new topic of the same name) is set aside as `-stray`, never served as the new topic's.
    #[test]
    fn a_log_of_another_topic_id_is_set_aside() {
        let root = tempfile::tempdir().expect("tempdir");
        let dirs = vec![root.path().to_path_buf()];
        let tp = TopicPartition::new("t", 0);
        let mgr = start(&dirs);
        let old = mgr
            .get_or_create(&tp, Uuid::from_u128(1), LogConfig::default())
            .expect("create");
        old.append_as_leader(&batch(3, 5, 10), 0).expect("append");
        mgr.shutdown().expect("shutdown");
        drop((old, mgr));
        let mgr = start(&dirs);
        let new = mgr
            .get_or_create(&tp, Uuid::from_u128(2), LogConfig::default())
            .expect("create the new topic's log");
        assert_eq!(new.topic_id(), Uuid::from_u128(2));
        assert_eq!(new.log_end_offset(), 0, "the old records are not served");
        let stray: Vec<String> = std::fs::read_dir(root.path())
            .expect("read dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(STRAY_DIR_SUFFIX))
            .collect();
        assert_eq!(stray.len(), 1, "{stray:?}");
        assert!(stray[0].starts_with("t-0."), "{stray:?}");
    }

    #[test]
    fn renamed_dir_names_fit_in_255_bytes_as_kafkas_do() {
        let long = TopicPartition::new("x".repeat(249), 12);
        let name = renamed_dir_name(&long, DELETE_DIR_SUFFIX);
        assert_eq!(name.len(), 255);
        assert!(name.ends_with("-delete"));
        assert!(name.contains("-12."));
        let short = renamed_dir_name(&TopicPartition::new("t", 0), STRAY_DIR_SUFFIX);
        assert!(
            short.starts_with("t-0.") && short.ends_with("-stray"),
            "{short}"
        );
        assert_eq!(short.len(), "t-0.".len() + 32 + "-stray".len());
        assert_eq!(parse_partition_dir(&name), None);
    }

    #[test]
    fn unclean_restart_recovers_from_the_checkpoint() {
        let root = tempfile::tempdir().expect("tempdir");
        let dirs = vec![root.path().to_path_buf()];
        let mgr = start(&dirs);
        let log = mgr
            .get_or_create(
                &TopicPartition::new("t", 0),
                Uuid::nil(),
                LogConfig::default(),
            )
            .expect("create");
        log.append_as_leader(&batch(2, 5, 10), 0).expect("append");
        mgr.checkpoint().expect("checkpoint");
        log.append_as_leader(&batch(2, 5, 10), 0).expect("append");
        let path = log.dir().join("00000000000000000000.log");
        drop((log, mgr)); // no shutdown: a crash
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0]);
        std::fs::write(&path, &bytes).expect("garbage tail");
        let mgr = start(&dirs);
        let log = mgr.get(&TopicPartition::new("t", 0)).expect("loaded");
        assert_eq!(log.log_end_offset(), 4);
        assert_eq!(
            std::fs::metadata(&path).expect("meta").len() as usize,
            bytes.len() - 7
        );
    }

    #[test]
    fn cleanup_and_flush_run_over_all_logs() {
        let root = tempfile::tempdir().expect("tempdir");
        let mgr = start(&[root.path().to_path_buf()]);
        let one = batch(1, 0, 10).len() as i32;
        let config = LogConfig {
            segment_bytes: one,
            retention_ms: 10,
            flush_ms: 0,
            ..LogConfig::default()
        };
        let log = mgr
            .get_or_create(&TopicPartition::new("t", 0), Uuid::nil(), config)
            .expect("create");
        for _ in 0..3 {
            log.append_as_leader(&batch(1, 0, 10), 0).expect("append");
        }
        mgr.flush_dirty_logs(now_ms());
        assert_eq!(log.recovery_point(), 3);
        assert_eq!(mgr.cleanup_logs(1000), 2);
        assert_eq!(log.log_start_offset(), 2);
        mgr.checkpoint().expect("checkpoint");
        let starts =
            std::fs::read_to_string(root.path().join(LOG_START_OFFSET_CHECKPOINT)).expect("read");
        // Kafka only checkpoints a start offset that lies inside the first segment.
        assert_eq!(starts, "0\n0\n");
    }
}
