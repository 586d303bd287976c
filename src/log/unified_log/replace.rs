//! What the log cleaner needs from a log: views of its segments, the producers whose last
//! batches must survive compaction, and Kafka's crash-safe swap of cleaned segments
//! (`LocalLog.replaceSegments`).
//!
//! The swap, for a group of segments `[X, B, C]` cleaned into `X.log.cleaned`:
//!
//! 1. (cleaner, no lock) the cleaned files are flushed and renamed `.cleaned` → `.swap`.
//! 2. (append lock) the old segments other than `X` are deleted, the `.swap` indexes renamed
//!    over `X`'s, and last `X.log.swap` renamed over `X.log`; the segment map is updated.
//! 3. the directory is fsynced.
//!
//! A crash at any point leaves either the old segments, or a `.swap` segment that start-up
//! recovery completes (see `load.rs`): the swap file covers every offset of the segments it
//! replaces, so whichever of them are still on disk are deleted and the swap renamed. Readers
//! that took the old segments before the swap keep reading them through their open
//! descriptors (and mappings), which stay valid after the files are unlinked or replaced.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::UnifiedLog;
use crate::base::fsync::fsync_dir;
use crate::log::error::LogError;
use crate::log::segment::{
    INDEX_SUFFIX, LOG_SUFFIX, LogSegment, SWAP_SUFFIX, TIME_INDEX_SUFFIX, file_name,
};
use crate::log::txn_index::TXN_INDEX_SUFFIX;

/// What the cleaner must keep of an active producer (Kafka's `LastRecord`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastRecord {
    /// Last offset of the producer's last data batch, if any.
    pub last_data_offset: Option<i64>,
    /// The producer's current epoch.
    pub producer_epoch: i16,
}

impl UnifiedLog {
    /// The segments overlapping offsets `[from, to)`, oldest first (Kafka's
    /// `logSegments(from, to)`): the one holding `from` and every later one starting below `to`.
    pub fn segments_in(&self, from: i64, to: i64) -> Vec<Arc<LogSegment>> {
        let mut segments = self.segments_from(from);
        segments.retain(|s| s.base_offset() < to);
        segments
    }

    /// Base offset of the active segment.
    pub fn active_segment_base(&self) -> i64 {
        self.active_segment().base_offset()
    }

    /// The segments from the one holding `from` up to, not including, the active one (Kafka's
    /// `nonActiveLogSegmentsFrom`).
    pub fn non_active_segments_from(&self, from: i64) -> Vec<Arc<LogSegment>> {
        self.segments_in(from, self.active_segment_base())
    }

    /// Per active producer, the batch the cleaner must keep (Kafka's
    /// `lastRecordsOfActiveProducers`).
    pub fn last_records_of_active_producers(&self) -> HashMap<i64, LastRecord> {
        self.producers
            .lock()
            .last_records()
            .into_iter()
            .map(|(id, (last_data_offset, producer_epoch))| {
                (
                    id,
                    LastRecord {
                        last_data_offset,
                        producer_epoch,
                    },
                )
            })
            .collect()
    }

    /// Replaces `old` (consecutive segments, oldest first) with the cleaned segment waiting
    /// as `<first base>.log.swap`, as described in the module docs. `step` is called after
    /// each destructive step (the cleaner's test hook). Returns false, changing nothing, if
    /// the log no longer holds exactly these segments (a retention pass or a deletion came
    /// first); the caller then drops the swap files.
    pub fn replace_segments(
        &self,
        old: &[Arc<LogSegment>],
        step: &dyn Fn(&str),
    ) -> Result<bool, LogError> {
        let Some(first) = old.first() else {
            return Ok(false);
        };
        let base = first.base_offset();
        let appends = self.producers.lock();
        {
            let map = self.segments.read();
            let unchanged = old.iter().all(|s| {
                map.get(&s.base_offset())
                    .is_some_and(|current| Arc::ptr_eq(current, s))
            });
            if !unchanged {
                return Ok(false);
            }
        }
        let cleaned = Arc::new(LogSegment::open_swap(&self.dir, base)?);
        for segment in &old[1..] {
            segment.delete_files()?;
        }
        step("after-old-segments-deleted");
        for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            rename_swap(&self.dir, base, suffix)?;
        }
        // The cleaned segment has a transaction index only if it kept aborted transactions;
        // otherwise the old one (if any) must not stay behind under its name.
        if self
            .dir
            .join(file_name(base, TXN_INDEX_SUFFIX) + SWAP_SUFFIX)
            .exists()
        {
            rename_swap(&self.dir, base, TXN_INDEX_SUFFIX)?;
        } else {
            first.txn_index().delete_file()?;
        }
        step("after-index-swap");
        rename_swap(&self.dir, base, LOG_SUFFIX)?;
        {
            let mut map = self.segments.write();
            for segment in old {
                map.remove(&segment.base_offset());
            }
            map.insert(base, cleaned);
        }
        drop(appends);
        fsync_dir(&self.dir).map_err(|e| LogError::io(&self.dir, e))?;
        Ok(true)
    }
}

/// Renames `<base><suffix>.swap` to `<base><suffix>`, replacing the old file.
fn rename_swap(dir: &Path, base: i64, suffix: &str) -> Result<(), LogError> {
    let to = dir.join(file_name(base, suffix));
    let from = dir.join(file_name(base, suffix) + SWAP_SUFFIX);
    std::fs::rename(&from, &to).map_err(|e| LogError::io(&from, e))
}
