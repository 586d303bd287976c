//! What is on disk: the recovery point, the fsyncs that advance it, and the log's health
//! after I/O errors.
//!
//! A roll hands the fsync of the segments it leaves behind to the one background flusher
//! thread, which runs the flushes of every log in the order they were scheduled. Each flush
//! covers every segment from the recovery point up to the new segment's base, not just the
//! segment that rolled, and only then moves the recovery point there (Kafka's
//! `flushUptoOffsetExclusive`): the recovery point never passes a segment that is not synced,
//! whatever order flushes finish in and even if an earlier one failed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::base::fsync::fsync_dir;
use crate::log::TopicPartition;
use crate::log::error::LogError;
use crate::log::segment::LogSegment;

/// The state of a log the background flusher shares with it.
pub(super) struct Durability {
    /// The partition, for messages.
    tp: TopicPartition,
    /// The partition directory, fsynced after its segments (new files in it).
    dir: PathBuf,
    /// Everything below this offset is fsynced; recovery after a crash starts here.
    recovery_point: AtomicI64,
    /// Set by the first I/O error on this log's files: its dir is then not marked clean at
    /// shutdown, so the next start-up checks the files past the recovery point.
    saw_io_error: AtomicBool,
    /// Set when an I/O error could not be undone (a failed fsync, a failed write that could
    /// not be cut back): memory and files may disagree, so every request is refused with
    /// KAFKA_STORAGE_ERROR until a restart recovers the log from its files. Kafka takes the
    /// whole log dir offline, and halts a broker whose only dir that is; Strom keeps the
    /// broker's other partitions serving.
    offline: AtomicBool,
}

impl Durability {
    pub(super) fn new(tp: TopicPartition, dir: &Path, recovery_point: i64) -> Durability {
        Durability {
            tp,
            dir: dir.to_path_buf(),
            recovery_point: AtomicI64::new(recovery_point),
            saw_io_error: AtomicBool::new(false),
            offline: AtomicBool::new(false),
        }
    }

    pub(super) fn recovery_point(&self) -> i64 {
        self.recovery_point.load(Ordering::Acquire)
    }

    pub(super) fn saw_io_error(&self) -> bool {
        self.saw_io_error.load(Ordering::Acquire)
    }

    pub(super) fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    /// `Err(Offline)` once the log is offline.
    pub(super) fn check_online(&self) -> Result<(), LogError> {
        if self.is_offline() {
            return Err(LogError::Offline {
                partition: self.tp.to_string(),
                dir: self.dir.parent().unwrap_or(&self.dir).to_path_buf(),
            });
        }
        Ok(())
    }

    /// Notes what an operation on the files did: any I/O error marks the log as having seen
    /// one, one that could not be undone takes it offline.
    pub(super) fn note<T>(&self, result: Result<T, LogError>) -> Result<T, LogError> {
        if let Err(e) = &result
            && e.is_io()
        {
            self.saw_io_error.store(true, Ordering::Release);
            if matches!(e, LogError::Inconsistent { .. })
                && !self.offline.swap(true, Ordering::AcqRel)
            {
                tracing::error!(
                    "[UnifiedLog partition={}, dir={}] Taking the log offline after an I/O error that could not be undone: {e}. Its files are recovered at the next start-up.",
                    self.tp,
                    self.dir.parent().unwrap_or(&self.dir).display()
                );
            }
        }
        result
    }

    /// Fsyncs `segments` (every segment from the one holding the recovery point to below
    /// `up_to`) in order and the partition directory, then moves the recovery point to
    /// `up_to`. A failed fsync takes the log offline: after one the kernel may have dropped
    /// the dirty pages, and a later fsync would report success.
    pub(super) fn flush_up_to(
        &self,
        segments: &[Arc<LogSegment>],
        up_to: i64,
    ) -> Result<(), LogError> {
        self.check_online()?;
        let synced = segments
            .iter()
            .try_for_each(|s| s.flush())
            .and_then(|()| fsync_dir(&self.dir).map_err(|e| LogError::io(&self.dir, e)));
        self.note(synced.map_err(LogError::into_inconsistent))?;
        self.recovery_point.fetch_max(up_to, Ordering::AcqRel);
        Ok(())
    }

    /// [`Self::flush_up_to`] on the background flusher, after every flush scheduled before.
    pub(super) fn flush_in_background(
        self: &Arc<Self>,
        segments: Vec<Arc<LogSegment>>,
        up_to: i64,
    ) {
        let durability = Arc::clone(self);
        schedule(Box::new(move || {
            // A log deleted meanwhile has nothing left to flush.
            if !durability.dir.exists() {
                return;
            }
            if let Err(e) = durability.flush_up_to(&segments, up_to)
                && !matches!(e, LogError::Offline { .. })
            {
                tracing::error!(
                    "Error while flushing log for {} in dir {} with offset {up_to} (exclusive): {e}",
                    durability.tp,
                    durability.dir.display()
                );
            }
        }));
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The flusher thread's queue, started on first use.
fn queue() -> &'static Mutex<Option<Sender<Job>>> {
    static QUEUE: OnceLock<Mutex<Option<Sender<Job>>>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("log-flusher".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job();
                }
            });
        match spawned {
            Ok(_) => Mutex::new(Some(tx)),
            Err(e) => {
                tracing::warn!("Could not start the log flusher thread, flushing inline: {e}");
                Mutex::new(None)
            }
        }
    })
}

/// Runs `job` on the flusher thread after every job scheduled before it (inline if the thread
/// could not be started).
fn schedule(job: Job) {
    let sent = match &*queue().lock() {
        Some(tx) => tx.send(job).map_err(|e| e.0),
        None => Err(job),
    };
    if let Err(job) = sent {
        job();
    }
}

/// Waits until every flush scheduled so far has run (tests).
#[cfg(test)]
pub(crate) fn wait_for_flusher() {
    let (tx, rx) = channel();
    schedule(Box::new(move || {
        let _ = tx.send(());
    }));
    let _ = rx.recv();
}
