//! Kafka's log cleaner: compaction of `cleanup.policy=compact` (and `compact,delete`) logs.
//!
//! Each log is a clean head (already compacted) and a dirty tail. A cleaner thread picks the
//! log with the largest dirty share above its `min.cleanable.dirty.ratio` (or one with records
//! older than `max.compaction.lag.ms`), maps each key of the dirty part to its latest offset,
//! and rewrites the log's old segments keeping only the latest record per key, tombstones
//! until their delete horizon (`delete.retention.ms`), transaction markers until their
//! transaction's data is gone, and the last batch of every active producer. The first offset
//! it did not clean goes to `cleaner-offset-checkpoint`, Kafka's file, so a restart resumes
//! there and Kafka itself can read a Strom log dir.
//!
//! Off the request path: the threads are plain OS threads (never tokio workers), read
//! segments that no longer change, write new files, and take the log's append lock only for
//! the few renames of the swap. Readers holding old segments keep reading them.
//!
//! Layout: `manager` (which log, from where; checkpoints; abort), `clean` (one round),
//! `filter` (one batch), `offset_map`, `txn` (transaction markers and aborted data),
//! `throttle` (`log.cleaner.io.max.bytes.per.second`).
//!
//! Test hook: with `STROM_TEST_CLEANER_PAUSE_AT=<step>` in the environment, a cleaner thread
//! that reaches `<step>` logs `Log cleaner test hook: paused at <step>` and waits there until
//! the broker shuts down, so a test can kill the process at that exact point. Steps, in
//! order: `after-cleaned-written`, `after-swap-renamed`, `after-old-segments-deleted`,
//! `after-index-swap`, `after-swap` (segments replaced, checkpoint not yet written). Nothing
//! else reads the variable.

mod clean;
mod filter;
mod manager;
mod offset_map;
mod throttle;
mod txn;

#[cfg(test)]
mod tests;

pub use clean::LogToClean;
pub use manager::CleanerManager;

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use self::clean::{Cleaner, Round};
use self::throttle::Throttler;
use crate::base::clock::now_ms;
use crate::config::CleanerConfig;
use crate::log::batch::BatchHeader;
use crate::log::error::LogError;
use crate::log::unified_log::UnifiedLog;

/// The test hook's environment variable (see the module docs).
pub const PAUSE_ENV: &str = "STROM_TEST_CLEANER_PAUSE_AT";
/// The most a stored compressed batch may expand to in the cleaner (which must hold a batch
/// expanded to rewrite it); a batch expanding further makes the round fail and the partition
/// uncleanable, as a corrupt batch does.
const MAX_EXPANDED_BATCH: u64 = 128 << 20;
/// Kafka's per-thread ceiling on the dedupe buffer.
const MAX_MAP_BYTES_PER_THREAD: i64 = i32::MAX as i64;

/// Why a cleaning round stopped.
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    /// The partition was deleted, stopped being compacted, or the broker is shutting down.
    #[error("the cleaning was aborted")]
    Aborted,
    /// Reading or writing the log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A stored batch could not be read.
    #[error("corrupt batch at offset {offset}: {reason}")]
    Corrupt {
        /// Base offset of the batch (-1 if unknown).
        offset: i64,
        /// What is wrong.
        reason: String,
    },
}

impl CleanError {
    fn corrupt(header: &BatchHeader, reason: impl fmt::Display) -> CleanError {
        CleanError::Corrupt {
            offset: header.base_offset,
            reason: reason.to_string(),
        }
    }
}

/// Kafka's `CleanerStats`: what one round read and wrote, for the summary it logs.
#[derive(Debug, Clone)]
pub struct CleanerStats {
    /// When the round began.
    started: Instant,
    /// When the offset map was complete.
    map_done: Option<Instant>,
    /// When the round ended.
    ended: Option<Instant>,
    /// Bytes read by the cleaning pass (clean and dirty segments).
    pub bytes_read: u64,
    /// Bytes written to cleaned segments.
    pub bytes_written: u64,
    /// Bytes read while building the offset map.
    pub map_bytes_read: u64,
    /// Records read while building the offset map.
    pub map_messages_read: u64,
    /// Records read by the cleaning pass.
    pub messages_read: u64,
    /// Records without a key found (and dropped).
    pub invalid_messages: u64,
    /// Records written.
    pub messages_written: u64,
    /// How full the offset map got.
    pub buffer_utilization: f64,
}

impl CleanerStats {
    fn new() -> CleanerStats {
        CleanerStats {
            started: Instant::now(),
            map_done: None,
            ended: None,
            bytes_read: 0,
            bytes_written: 0,
            map_bytes_read: 0,
            map_messages_read: 0,
            messages_read: 0,
            invalid_messages: 0,
            messages_written: 0,
            buffer_utilization: 0.0,
        }
    }

    fn index_done(&mut self) {
        self.map_done = Some(Instant::now());
    }

    fn all_done(&mut self) {
        self.ended = Some(Instant::now());
    }

    /// Seconds the whole round took.
    pub fn elapsed_secs(&self) -> f64 {
        self.ended
            .unwrap_or_else(Instant::now)
            .duration_since(self.started)
            .as_secs_f64()
    }

    /// Seconds spent building the offset map.
    pub fn elapsed_index_secs(&self) -> f64 {
        self.map_done
            .unwrap_or(self.started)
            .duration_since(self.started)
            .as_secs_f64()
    }

    /// Kafka's summary of a round (`LogCleaner.recordStats`), same wording and figures.
    fn summary(&self, thread: usize, log: &str, from: i64, to: i64) -> String {
        let mb = |bytes: f64| bytes / (1024.0 * 1024.0);
        let total = self.elapsed_secs();
        let index = self.elapsed_index_secs();
        let clean = total - index;
        let pct = |part: f64, whole: f64| {
            if whole > 0.0 {
                100.0 * part / whole
            } else {
                0.0
            }
        };
        format!(
            "\n\tLog cleaner thread {thread} cleaned log {log} (dirty section = [{from}, {to}])\n\
             \t{:.1} MB of log processed in {total:.1} seconds ({:.1} MB/sec).\n\
             \tIndexed {:.1} MB in {index:.1} seconds ({:.1} Mb/sec, {:.1}% of total time)\n\
             \tBuffer utilization: {:.1}%\n\
             \tCleaned {:.1} MB in {clean:.1} seconds ({:.1} Mb/sec, {:.1}% of total time)\n\
             \tStart size: {:.1} MB ({} messages)\n\
             \tEnd size: {:.1} MB ({} messages)\n\
             \t{:.1}% size reduction ({:.1}% fewer messages)\n",
            mb(self.bytes_read as f64),
            mb(self.bytes_read as f64) / total,
            mb(self.map_bytes_read as f64),
            mb(self.map_bytes_read as f64) / index,
            pct(index, total),
            100.0 * self.buffer_utilization,
            mb(self.bytes_read as f64),
            mb(self.bytes_read as f64) / clean,
            pct(clean, total),
            mb(self.bytes_read as f64),
            self.messages_read,
            mb(self.bytes_written as f64),
            self.messages_written,
            100.0 * (1.0 - self.bytes_written as f64 / self.bytes_read as f64),
            100.0 * (1.0 - self.messages_written as f64 / self.messages_read as f64),
        )
    }
}

/// Where the cleaner threads find the logs (the log manager's current set).
pub type LogSource = Arc<dyn Fn() -> Vec<Arc<UnifiedLog>> + Send + Sync>;

/// Stop and wake-up signals of the threads.
struct Control {
    /// Set at shutdown.
    stopping: Mutex<bool>,
    /// Wakes threads sleeping out their backoff (shutdown, or a topic became compacted).
    wake: Condvar,
}

impl Control {
    fn stopping(&self) -> bool {
        *self.stopping.lock()
    }

    /// Sleeps up to `timeout` unless woken or stopping.
    fn pause(&self, timeout: Duration) {
        let mut stopping = self.stopping.lock();
        if !*stopping {
            let _ = self.wake.wait_for(&mut stopping, timeout);
        }
    }
}

/// Kafka's `LogCleaner`: the cleaner threads and their shared state.
pub struct LogCleaner {
    /// Checkpoints, in-progress partitions, aborts.
    manager: Arc<CleanerManager>,
    /// Stop and wake-up signals.
    control: Arc<Control>,
    /// The running threads (none when `log.cleaner.enable` is false or before start).
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Whether threads were started: compacted logs' retention is then theirs.
    running: std::sync::atomic::AtomicBool,
}

impl LogCleaner {
    /// A cleaner over `manager`'s bookkeeping; no threads until [`start`](Self::start).
    pub fn new(manager: Arc<CleanerManager>) -> LogCleaner {
        LogCleaner {
            manager,
            control: Arc::new(Control {
                stopping: Mutex::new(false),
                wake: Condvar::new(),
            }),
            threads: Mutex::new(Vec::new()),
            running: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The bookkeeping shared with the log manager.
    pub fn manager(&self) -> &Arc<CleanerManager> {
        &self.manager
    }

    /// Whether cleaner threads run (they then also run the retention of `compact,delete`
    /// logs, as Kafka's do).
    pub fn is_running(&self) -> bool {
        self.running.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Starts `log.cleaner.threads` threads (nothing if `log.cleaner.enable` is false).
    /// Refuses, with Kafka's message, a dedupe buffer too small to hold one key per thread.
    pub fn start(&self, config: &CleanerConfig, logs: LogSource) -> Result<(), String> {
        if !config.enable || config.threads <= 0 {
            tracing::info!("Log cleaner is disabled: compacted topics will not be compacted");
            return Ok(());
        }
        let threads = config.threads as usize;
        let mut per_thread = config.dedupe_buffer_size / i64::from(config.threads);
        if per_thread > MAX_MAP_BYTES_PER_THREAD {
            tracing::warn!(
                "Cannot use more than 2G of cleaner buffer space per cleaner thread, ignoring excess buffer space..."
            );
            per_thread = MAX_MAP_BYTES_PER_THREAD;
        }
        let map_bytes = usize::try_from(per_thread).unwrap_or(0);
        let throttler = Arc::new(Throttler::new(config.max_io_bytes_per_second));
        let pause_at = std::env::var(PAUSE_ENV).ok();
        let mut handles = self.threads.lock();
        for id in 0..threads {
            let cleaner = Cleaner::new(
                id,
                map_bytes,
                config.dedupe_buffer_load_factor,
                usize::try_from(config.io_buffer_size).unwrap_or(0) / threads / 2,
                Arc::clone(&throttler),
            );
            if cleaner.max_keys() < 1 {
                return Err("offset map is too small to fit in even a single message, so log cleaning will never make progress. You can increase log.cleaner.dedupe.buffer.size or decrease log.cleaner.threads".into());
            }
            let worker = Worker {
                cleaner,
                manager: Arc::clone(&self.manager),
                control: Arc::clone(&self.control),
                logs: Arc::clone(&logs),
                backoff: Duration::from_millis(u64::try_from(config.backoff_ms).unwrap_or(0)),
                pause_at: pause_at.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("kafka-log-cleaner-thread-{id}"))
                .spawn(move || worker.run())
                .map_err(|e| format!("could not start a log cleaner thread: {e}"))?;
            handles.push(handle);
        }
        self.running
            .store(true, std::sync::atomic::Ordering::Release);
        tracing::info!("Starting the log cleaner ({threads} thread(s))");
        Ok(())
    }

    /// Wakes sleeping threads to look for work now: the entry point for "a topic's config
    /// changed" (e.g. `cleanup.policy` became `compact`).
    pub fn wake(&self) {
        self.control.wake.notify_all();
    }

    /// Stops the threads, aborting rounds in progress, and waits for them.
    pub fn shutdown(&self) {
        *self.control.stopping.lock() = true;
        self.control.wake.notify_all();
        let handles: Vec<JoinHandle<()>> = self.threads.lock().drain(..).collect();
        if !handles.is_empty() {
            tracing::info!("Shutting down the log cleaner.");
        }
        for handle in handles {
            if handle.join().is_err() {
                tracing::error!("A log cleaner thread panicked");
            }
        }
        self.running
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

/// One cleaner thread (Kafka's `CleanerThread`).
struct Worker {
    cleaner: Cleaner,
    manager: Arc<CleanerManager>,
    control: Arc<Control>,
    logs: LogSource,
    backoff: Duration,
    /// The test hook's step, if set.
    pause_at: Option<String>,
}

impl Worker {
    fn run(mut self) {
        tracing::info!("Starting kafka-log-cleaner-thread-{}", self.cleaner.id);
        while !self.control.stopping() {
            let logs = (self.logs)();
            let cleaned = self.clean_filthiest(&logs);
            let deletable = self.manager.grab_deletable(&logs);
            for log in &deletable {
                if let Err(e) = log.delete_old_segments(now_ms()) {
                    tracing::error!(
                        "Error while deleting old segments of {}: {e}",
                        log.topic_partition()
                    );
                }
            }
            self.manager.done_deleting(&deletable);
            if !cleaned {
                self.control.pause(self.backoff);
            }
        }
        tracing::info!("Stopped kafka-log-cleaner-thread-{}", self.cleaner.id);
    }

    /// Cleans the dirtiest log, if any qualifies; true if one was cleaned.
    fn clean_filthiest(&mut self, logs: &[Arc<UnifiedLog>]) -> bool {
        let Some(job) = self.manager.grab_filthiest(logs, now_ms()) else {
            return false;
        };
        let log = Arc::clone(&job.log);
        let tp = log.topic_partition().clone();
        let manager = Arc::clone(&self.manager);
        let control = Arc::clone(&self.control);
        let check_done = move || {
            if control.stopping() {
                return Err(CleanError::Aborted);
            }
            manager.check_aborted(&tp)
        };
        let (pause_at, hook_control) = (self.pause_at.clone(), Arc::clone(&self.control));
        let step = move |name: &str| pause_hook(pause_at.as_deref(), &hook_control, name);
        let round = Round {
            check_done: &check_done,
            step: &step,
            now_ms: now_ms(),
        };
        let start = job.first_dirty_offset;
        let mut end = start;
        match self.cleaner.clean(&job, &round) {
            Ok((next_dirty, stats)) => {
                end = next_dirty;
                step("after-swap");
                tracing::info!(
                    "{}",
                    stats.summary(
                        self.cleaner.id,
                        &log.topic_partition().to_string(),
                        start,
                        end
                    )
                );
                if stats.invalid_messages > 0 {
                    tracing::warn!(
                        "\tFound {} invalid messages during compaction.",
                        stats.invalid_messages
                    );
                }
            }
            Err(CleanError::Aborted) => {}
            Err(e) => {
                tracing::warn!(
                    "Unexpected exception thrown when cleaning log {}. Marking its partition ({}) as uncleanable: {e}",
                    log.dir().display(),
                    log.topic_partition()
                );
                self.manager.mark_uncleanable(&log);
            }
        }
        self.manager.done_cleaning(&log, end);
        true
    }
}

/// The test hook: waits at `name` if it is the configured step, until shutdown.
fn pause_hook(pause_at: Option<&str>, control: &Control, name: &str) {
    if pause_at != Some(name) {
        return;
    }
    tracing::info!("Log cleaner test hook: paused at {name}");
    while !control.stopping() {
        control.pause(Duration::from_millis(100));
    }
}
