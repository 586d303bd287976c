//! Retention: deleting whole old segments by time or size, as Kafka's
//! `UnifiedLog.deleteOldSegments` with `cleanup.policy=delete`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::UnifiedLog;
use crate::log::error::LogError;
use crate::log::segment::LogSegment;

impl UnifiedLog {
    /// DeleteRecords: moves the log start offset up to `offset` (-1 means the high watermark)
    /// so nothing below it can be read; whole segments below it go at the next retention
    /// pass. An offset above the high watermark is OFFSET_OUT_OF_RANGE. Returns the new log
    /// start offset (the low watermark).
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let _producers = self.producers.lock();
        let high_watermark = self.high_watermark();
        let target = if offset == -1 { high_watermark } else { offset };
        if target < 0 || target > high_watermark {
            return Err(LogError::OffsetOutOfRange {
                partition: self.tp.to_string(),
                offset: target,
                log_start_offset: self.log_start_offset(),
                log_end_offset: high_watermark,
            });
        }
        let current = self.log_start_offset();
        if target > current {
            self.log_start_offset.store(target, Ordering::Release);
            tracing::info!(
                "[UnifiedLog partition={}, dir={}] Incremented log start offset to {target} due to client delete records request",
                self.tp,
                self.parent_dir_display()
            );
        }
        Ok(target.max(current))
    }

    /// Deletes segments that are entirely below the log start offset, older than
    /// `retention.ms` (by their largest record timestamp), or beyond `retention.bytes`, oldest
    /// first and never the active segment; advances the log start offset to the first kept
    /// segment. Returns how many segments were deleted.
    pub fn delete_old_segments(&self, now_ms: i64) -> Result<usize, LogError> {
        let config = self.config();
        let mut producers = self.producers.lock();
        if self.is_offline() {
            return Ok(0);
        }
        let segments: Vec<Arc<LogSegment>> = self.segments.read().values().cloned().collect();
        let Some((_active, candidates)) = segments.split_last() else {
            return Ok(0);
        };
        let log_start = self.log_start_offset();
        let mut doomed = 0usize;
        let mut reasons = Vec::new();
        // Segments wholly below the log start offset (moved by DeleteRecords or a checkpoint).
        while doomed < candidates.len() && segments[doomed + 1].base_offset() <= log_start {
            doomed += 1;
        }
        if config.cleanup_policy.delete && config.retention_ms >= 0 {
            while doomed < candidates.len()
                && now_ms - candidates[doomed].largest_timestamp() > config.retention_ms
            {
                tracing::info!(
                    "[UnifiedLog partition={}, dir={}] Deleting segment {} due to log retention time {}ms breach based on the largest record timestamp in the segment",
                    self.tp,
                    self.parent_dir_display(),
                    candidates[doomed].log_path().display(),
                    config.retention_ms
                );
                doomed += 1;
                reasons.push("retention time");
            }
        }
        if config.cleanup_policy.delete && config.retention_bytes >= 0 {
            let total: u64 = segments.iter().map(|s| s.size()).sum();
            let kept: u64 = candidates[..doomed].iter().map(|s| s.size()).sum();
            let mut excess = total as i64 - kept as i64 - config.retention_bytes;
            while doomed < candidates.len() && excess - candidates[doomed].size() as i64 >= 0 {
                excess -= candidates[doomed].size() as i64;
                tracing::info!(
                    "[UnifiedLog partition={}, dir={}] Deleting segment {} due to log retention size {} breach. Log size after deletion will be {}.",
                    self.tp,
                    self.parent_dir_display(),
                    candidates[doomed].log_path().display(),
                    config.retention_bytes,
                    excess + config.retention_bytes
                );
                doomed += 1;
                reasons.push("retention size");
            }
        }
        if doomed == 0 {
            return Ok(0);
        }
        let new_start = segments[doomed].base_offset().max(log_start);
        if new_start > log_start {
            self.log_start_offset.store(new_start, Ordering::Release);
            tracing::info!(
                "[UnifiedLog partition={}, dir={}] Incremented log start offset to {new_start} due to {}",
                self.tp,
                self.parent_dir_display(),
                reasons.first().copied().unwrap_or("segment deletion")
            );
        }
        {
            let mut map = self.segments.write();
            for segment in &segments[..doomed] {
                map.remove(&segment.base_offset());
            }
        }
        let deleted = segments[..doomed]
            .iter()
            .try_for_each(|segment| segment.delete_files())
            .and_then(|()| producers.delete_snapshots_before(new_start));
        self.durability.note(deleted)?;
        Ok(doomed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{append_n, new_log};
    use crate::config::{CleanupPolicy, LogConfig};
    use crate::log::batch::test_support::batch;

    fn segmented(extra: LogConfig) -> (tempfile::TempDir, crate::log::UnifiedLog, u64) {
        let one = batch(1, 0, 50).len();
        let config = LogConfig {
            segment_bytes: (one * 2) as i32,
            ..extra
        };
        let (root, log) = new_log(config);
        // Timestamps 1000..1006 → segments [0,1] [2,3] [4,5] [6].
        append_n(&log, 7, 1, 1000);
        assert_eq!(log.segment_base_offsets(), vec![0, 2, 4, 6]);
        (root, log, one as u64)
    }

    #[test]
    fn deletes_by_time_but_never_the_active_segment() {
        let (_root, log, _) = segmented(LogConfig {
            retention_ms: 100,
            ..LogConfig::default()
        });
        assert_eq!(
            log.delete_old_segments(1100).expect("retention"),
            0,
            "nothing old enough"
        );
        assert_eq!(
            log.delete_old_segments(1104).expect("retention"),
            2,
            "largest ts 1001 and 1003"
        );
        assert_eq!(log.segment_base_offsets(), vec![4, 6]);
        assert_eq!(log.log_start_offset(), 4);
        assert!(!log.dir().join("00000000000000000000.log").exists());
        assert!(!log.dir().join("00000000000000000002.index").exists());
        assert_eq!(log.read(2, 100, true).expect_err("deleted").error_code(), 1);
        assert_eq!(log.delete_old_segments(i64::MAX / 2).expect("retention"), 1);
        assert_eq!(log.segment_base_offsets(), vec![6], "active segment kept");
        assert_eq!(
            log.read(6, 1 << 20, true).expect("read").records.len() as u64,
            log.size_in_bytes()
        );
    }

    #[test]
    fn deletes_by_size() {
        let (_root, log, one) = segmented(LogConfig {
            retention_ms: -1,
            retention_bytes: 0,
            ..LogConfig::default()
        });
        log.update_config(LogConfig {
            retention_bytes: (one * 3) as i64,
            ..log.config()
        });
        // 7 batches, 3 allowed: deleting [0,1] and [2,3] leaves 3.
        assert_eq!(log.delete_old_segments(0).expect("retention"), 2);
        assert_eq!(log.size_in_bytes(), one * 3);
        assert_eq!(log.log_start_offset(), 4);
        log.update_config(LogConfig {
            retention_bytes: 0,
            ..log.config()
        });
        assert_eq!(log.delete_old_segments(0).expect("retention"), 1);
        assert_eq!(log.segment_count(), 1, "active segment kept");
    }

    #[test]
    fn compact_only_topics_are_left_alone() {
        let compact = CleanupPolicy {
            delete: false,
            compact: true,
        };
        let (_root, log, _) = segmented(LogConfig {
            retention_ms: 0,
            cleanup_policy: compact,
            ..LogConfig::default()
        });
        assert_eq!(log.delete_old_segments(i64::MAX / 2).expect("retention"), 0);
    }
}
