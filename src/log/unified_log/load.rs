//! Opening an existing partition directory (Kafka's `LogLoader`): find the segments, check
//! their indexes, recover everything past the recovery point after an unclean shutdown, and
//! rebuild producer state from the newest snapshot.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use uuid::Uuid;

use super::{UnifiedLog, index_bytes};
use crate::base::fsync::fsync_dir;
use crate::config::LogConfig;
use crate::log::TopicPartition;
use crate::log::batch::{BatchHeader, RECORD_BATCH_OVERHEAD};
use crate::log::control::{ControlBatch, parse_control_batch};
use crate::log::error::LogError;
use crate::log::partition_metadata;
use crate::log::producer_state::ProducerStateManager;
use crate::log::segment::{
    CLEANED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, LogSegment, SWAP_SUFFIX, TIME_INDEX_SUFFIX,
};
use crate::log::txn_index::{AbortedTxn, TXN_INDEX_SUFFIX};

/// What the log manager knows about a partition from the dir-level checkpoints.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadHints {
    /// From `recovery-point-offset-checkpoint`.
    pub recovery_point: Option<i64>,
    /// From `log-start-offset-checkpoint`.
    pub log_start_offset: Option<i64>,
    /// Whether the dir had `.kafka_cleanshutdown`.
    pub clean_shutdown: bool,
}

/// Suffixes of leftovers from interrupted operations, removed on load (`.cleaned` and `.swap`
/// files of an interrupted clean are dealt with first, by [`recover_interrupted_swaps`]).
const LEFTOVER_SUFFIXES: [&str; 2] = [".deleted", ".tmp"];
/// Suffixes of the files that make up a segment.
const SEGMENT_SUFFIXES: [&str; 4] = [
    LOG_SUFFIX,
    INDEX_SUFFIX,
    TIME_INDEX_SUFFIX,
    TXN_INDEX_SUFFIX,
];

impl UnifiedLog {
    /// Opens the log in `dir`. After a clean shutdown nothing is scanned beyond the last index
    /// interval of the active segment, whose batches there are CRC-checked; otherwise every segment from the one holding the
    /// recovery point on is scanned with CRC checks, a torn tail truncated (and later segments
    /// dropped), and indexes rebuilt. Producer state comes from the newest snapshot at or
    /// below the log end plus the batches after it.
    pub fn load(
        dir: &Path,
        tp: TopicPartition,
        config: LogConfig,
        hints: LoadHints,
        now_ms: i64,
    ) -> Result<UnifiedLog, LogError> {
        let topic_id = partition_metadata::read(dir)?.unwrap_or(Uuid::nil());
        let prefix = format!(
            "[LogLoader partition={tp}, dir={}]",
            dir.parent()
                .map_or_else(String::new, |p| p.display().to_string())
        );
        recover_interrupted_swaps(dir, &prefix)?;
        let bases = scan_dir(dir)?;
        let capacity = index_bytes(&config);
        let interval = usize::try_from(config.index_interval_bytes).unwrap_or(0);

        let mut segments: BTreeMap<i64, Arc<LogSegment>> = BTreeMap::new();
        if bases.is_empty() {
            let base = hints.log_start_offset.unwrap_or(0).max(0);
            segments.insert(
                base,
                Arc::new(LogSegment::create(dir, base, capacity, now_ms)?),
            );
        }
        // Segments to scan: after an unclean shutdown, the one holding the recovery point and
        // all later ones.
        let recover_from = if hints.clean_shutdown {
            i64::MAX
        } else {
            let rp = hints.recovery_point.unwrap_or(0);
            bases
                .iter()
                .copied()
                .filter(|b| *b <= rp)
                .max()
                .unwrap_or(i64::MIN)
        };
        let last_base = bases.last().copied();
        let mut truncated_at: Option<i64> = None;
        // Segments whose `.txnindex` was emptied by recovery, to be rebuilt from their markers
        // while producer state is replayed.
        let mut rebuild_txn_index_from: Option<i64> = None;
        for &base in &bases {
            if truncated_at.is_some() {
                delete_segment_files(dir, base, &prefix)?;
                continue;
            }
            let active = Some(base) == last_base;
            let must_recover = base >= recover_from;
            let (segment, broken_index) =
                LogSegment::open(dir, base, (active || must_recover).then_some(capacity))?;
            let segment = if broken_index && !active && !must_recover {
                tracing::warn!(
                    "{prefix} Found a corrupted index file for segment {base}, rebuilding index files"
                );
                drop(segment);
                LogSegment::open(dir, base, Some(capacity))?.0
            } else {
                segment
            };
            // A clean shutdown vouches for the files, but not for bytes a failed write left
            // past the last batch: check the active segment's tail, and recover it if torn.
            let torn_tail = active && !must_recover && !broken_index && !segment.tail_is_valid()?;
            if torn_tail {
                tracing::warn!(
                    "{prefix} The active segment {} does not end in a whole, valid batch after a clean shutdown; recovering it",
                    segment.log_path().display()
                );
            }
            if must_recover || broken_index || torn_tail {
                segment.txn_index().reset()?;
                rebuild_txn_index_from.get_or_insert(base);
                let outcome = segment.recover(interval)?;
                if outcome.truncated_bytes > 0 {
                    let from = outcome.next_offset.unwrap_or(base);
                    tracing::warn!(
                        "{prefix} Truncated {} invalid bytes at the end of segment {} during recovery; records from offset {from} on were dropped",
                        outcome.truncated_bytes,
                        segment.log_path().display()
                    );
                    if !active {
                        truncated_at = Some(from);
                    }
                }
                if !active && truncated_at.is_none() {
                    segment.on_become_inactive()?;
                }
            }
            segments.insert(base, Arc::new(segment));
        }
        if let Some(from) = truncated_at {
            let dropped: Vec<i64> = bases.iter().copied().filter(|b| *b > from).collect();
            tracing::warn!(
                "{prefix} Deleting segments {dropped:?} after the truncation at offset {from} during recovery"
            );
        }

        let (&first_base, _) = segments
            .iter()
            .next()
            .ok_or_else(|| LogError::MalformedFile {
                path: dir.to_path_buf(),
                reason: "no segments after load".into(),
            })?;
        let active =
            segments
                .values()
                .next_back()
                .cloned()
                .ok_or_else(|| LogError::MalformedFile {
                    path: dir.to_path_buf(),
                    reason: "no active segment after load".into(),
                })?;
        let log_end_offset = active.read_next_offset()?;
        let log_start_offset = hints
            .log_start_offset
            .unwrap_or(first_base)
            .max(first_base)
            .min(log_end_offset);

        let mut producers = ProducerStateManager::new(tp.clone(), dir)?;
        // Markers in recovered segments must be replayed to rebuild their transaction
        // indexes: start from a snapshot at or below the first of them (snapshots above it
        // may describe data recovery just cut off, so they go).
        let snapshot_limit =
            rebuild_txn_index_from.map_or(log_end_offset, |base| base.min(log_end_offset));
        let snapshot = producers.load_latest_snapshot(snapshot_limit)?;
        let log = UnifiedLog::assemble(
            dir,
            tp,
            topic_id,
            config,
            segments,
            producers,
            log_start_offset,
            log_end_offset,
            now_ms,
        );
        let replay_from = snapshot.unwrap_or(log_start_offset).max(log_start_offset);
        if replay_from < log_end_offset {
            let started = Instant::now();
            log.replay_producer_state(replay_from, rebuild_txn_index_from.unwrap_or(i64::MAX))?;
            tracing::info!(
                "{prefix} Producer state recovery took {}ms for segment recovery from offset {replay_from}",
                started.elapsed().as_millis()
            );
        }
        Ok(log)
    }

    /// Feeds every batch from `from` to the log end through the producer state. Markers
    /// complete transactions; those in segments at or after `index_from` (whose transaction
    /// indexes recovery emptied) also add their aborted transactions to the index.
    fn replay_producer_state(&self, from: i64, index_from: i64) -> Result<(), LogError> {
        let mut producers = self.producers.lock();
        for segment in self.segments_from(from) {
            let Some((mut position, _)) = segment.translate_offset(from)? else {
                continue;
            };
            let rebuild_index = segment.base_offset() >= index_from;
            while let Some(header) = segment.read_header(position)? {
                if header.size() < crate::log::RECORD_BATCH_OVERHEAD {
                    break;
                }
                if header.is_control() && header.producer_id >= 0 {
                    let bytes = segment.read_bytes(position, header.size())?;
                    match parse_control_batch(&bytes) {
                        Ok(ControlBatch::Marker(marker)) => {
                            let done = producers.apply_marker(
                                header.producer_id,
                                header.producer_epoch,
                                &marker,
                                header.base_offset,
                                header.max_timestamp,
                            );
                            if let Some((txn, lso)) = done
                                && txn.is_aborted
                                && rebuild_index
                            {
                                segment.txn_index().append(AbortedTxn {
                                    producer_id: txn.producer_id,
                                    first_offset: txn.first_offset,
                                    last_offset: txn.last_offset,
                                    last_stable_offset: lso,
                                })?;
                            }
                        }
                        Ok(_) => {}
                        Err(reason) => tracing::warn!(
                            "[ProducerStateManager partition={}] Skipping unreadable control batch at offset {}: {reason}",
                            self.tp,
                            header.base_offset
                        ),
                    }
                } else {
                    producers.replay(&header);
                }
                position += header.size() as u64;
            }
        }
        self.publish_first_unstable(&producers);
        Ok(())
    }
}

/// Kafka's `LogLoader` handling of an interrupted clean (`removeTempFilesAndCollectSwapFiles`
/// and the swap completion after it): `.cleaned` files are incomplete and go, as does any
/// `.swap` file at or after the first `.cleaned` one (its operation never finished). A
/// remaining `<base>.log.swap` is a complete cleaned segment: every segment file whose base
/// offset lies in the offsets it covers is deleted, and the swap is renamed into place. Its
/// `.swap` indexes are dropped so the loader rebuilds them from the data.
fn recover_interrupted_swaps(dir: &Path, prefix: &str) -> Result<(), LogError> {
    let mut swaps = Vec::new();
    let mut cleaned = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(CLEANED_SUFFIX) {
            cleaned.push((base_offset_of(stem), entry.path()));
        } else if let Some(stem) = name.strip_suffix(SWAP_SUFFIX) {
            swaps.push((
                base_offset_of(stem),
                stem.ends_with(LOG_SUFFIX),
                entry.path(),
            ));
        }
    }
    let min_cleaned = cleaned
        .iter()
        .filter_map(|(b, _)| *b)
        .min()
        .unwrap_or(i64::MAX);
    for (_, path) in &cleaned {
        tracing::debug!("{prefix} Deleting stray .clean file {}", path.display());
        remove_if_exists(path)?;
    }
    let mut ranges = Vec::new();
    for (base, is_log, path) in &swaps {
        match base {
            Some(base) if *base < min_cleaned && *is_log => {
                tracing::info!(
                    "{prefix} Found log file {} from interrupted swap operation, which is recoverable from .swap files by renaming.",
                    path.display()
                );
                ranges.push((*base, scan_next_offset(path, *base)?, path.clone()));
            }
            _ => {
                tracing::debug!("{prefix} Deleting invalid swap file {}", path.display());
                remove_if_exists(path)?;
            }
        }
    }
    if ranges.is_empty() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(base) = SEGMENT_SUFFIXES
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .and_then(|stem| stem.parse::<i64>().ok())
        else {
            continue;
        };
        if ranges
            .iter()
            .any(|(from, to, _)| base >= *from && base < *to)
        {
            tracing::info!(
                "{prefix} Deleting segment files {name} that is compacted but has not been deleted yet."
            );
            remove_if_exists(&entry.path())?;
        }
    }
    for (base, _, path) in &ranges {
        tracing::info!(
            "{prefix} Recovering file {} by renaming from .swap files.",
            path.display()
        );
        let target = dir.join(crate::log::segment::file_name(*base, LOG_SUFFIX));
        std::fs::rename(path, &target).map_err(|e| LogError::io(path, e))?;
    }
    fsync_dir(dir).map_err(|e| LogError::io(dir, e))
}

/// The base offset in a segment file name stem such as `00000000000000000042.log`.
fn base_offset_of(stem: &str) -> Option<i64> {
    stem.split('.')
        .next()
        .and_then(|digits| digits.parse().ok())
}

/// The offset after the last whole batch of the segment file at `path` (the swap's coverage).
fn scan_next_offset(path: &Path, base: i64) -> Result<i64, LogError> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).map_err(|e| LogError::io(path, e))?;
    let len = file.metadata().map_err(|e| LogError::io(path, e))?.len();
    let mut header = [0u8; RECORD_BATCH_OVERHEAD];
    let (mut position, mut next) = (0u64, base);
    while position + RECORD_BATCH_OVERHEAD as u64 <= len {
        file.read_exact_at(&mut header, position)
            .map_err(|e| LogError::io(path, e))?;
        let Some(h) = BatchHeader::parse(&header) else {
            break;
        };
        if h.size() < RECORD_BATCH_OVERHEAD || position + h.size() as u64 > len {
            break;
        }
        next = h.last_offset() + 1;
        position += h.size() as u64;
    }
    Ok(next)
}

fn remove_if_exists(path: &Path) -> Result<(), LogError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io(path, e)),
    }
}

/// Base offsets of the segments in `dir`, after removing leftovers of interrupted operations
/// and index files whose `.log` is gone.
fn scan_dir(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if LEFTOVER_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            std::fs::remove_file(entry.path()).map_err(|e| LogError::io(entry.path(), e))?;
            continue;
        }
        let parse = |suffix: &str| {
            name.strip_suffix(suffix)
                .and_then(|stem| stem.parse::<i64>().ok())
        };
        if let Some(base) = parse(LOG_SUFFIX) {
            logs.push(base);
        } else if let Some(base) = parse(INDEX_SUFFIX)
            .or_else(|| parse(TIME_INDEX_SUFFIX))
            .or_else(|| parse(TXN_INDEX_SUFFIX))
        {
            indexes.push((Some(base), entry.path()));
        }
    }
    for (base, path) in indexes {
        if base.is_some_and(|b| !logs.contains(&b)) {
            std::fs::remove_file(&path).map_err(|e| LogError::io(&path, e))?;
        }
    }
    logs.sort_unstable();
    Ok(logs)
}

fn delete_segment_files(dir: &Path, base: i64, prefix: &str) -> Result<(), LogError> {
    tracing::info!("{prefix} Deleting segment files of segment {base} as part of log recovery");
    for suffix in SEGMENT_SUFFIXES {
        remove_if_exists(&dir.join(crate::log::segment::file_name(base, suffix)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{append_n, new_log};
    use super::*;
    use crate::log::batch::test_support::{batch, idempotent_batch};
    use std::io::Write;

    fn reopen(log: UnifiedLog, clean: bool) -> UnifiedLog {
        let rp = log.recovery_point();
        reopen_from(log, clean, rp)
    }

    fn reopen_from(log: UnifiedLog, clean: bool, rp: i64) -> UnifiedLog {
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
            recovery_point: Some(rp),
            log_start_offset: None,
            clean_shutdown: clean,
        };
        UnifiedLog::load(&dir, tp, config, hints, 0).expect("load")
    }

    #[test]
    fn recovers_a_torn_tail_and_keeps_appending() {
        let (_root, log) = new_log(LogConfig::default());
        append_n(&log, 5, 2, 100);
        let path = log.dir().join("00000000000000000000.log");
        let good_len = std::fs::metadata(&path).expect("meta").len();
        let half = batch(3, 0, 40);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        f.write_all(&half[..half.len() / 2]).expect("tear");
        drop(f);
        let log = reopen(log, false);
        assert_eq!(
            std::fs::metadata(&path).expect("meta").len(),
            good_len,
            "torn batch truncated"
        );
        assert_eq!(log.log_end_offset(), 10);
        let info = log
            .append_as_leader(&batch(1, 5, 5), 0)
            .expect("append after recovery");
        assert_eq!(info.first_offset, 10);
        assert_eq!(
            log.read(0, 1 << 20, false).expect("read").records.len() as u64,
            log.size_in_bytes()
        );
    }

    #[test]
    fn garbage_in_a_middle_segment_drops_the_later_ones() {
        let one = batch(1, 0, 50).len();
        let (_root, log) = new_log(LogConfig {
            segment_bytes: (one * 2) as i32,
            ..LogConfig::default()
        });
        append_n(&log, 6, 1, 100);
        assert_eq!(log.segment_base_offsets(), vec![0, 2, 4]);
        let middle = log.dir().join("00000000000000000002.log");
        let mut bytes = std::fs::read(&middle).expect("read");
        let at = one + 30;
        bytes[at] ^= 0xFF;
        std::fs::write(&middle, &bytes).expect("corrupt second batch");
        // Rolled segments are flushed in the background, which moves the recovery point past
        // them; pretend the crash came first.
        let log = reopen_from(log, false, 0);
        assert_eq!(log.segment_base_offsets(), vec![0, 2]);
        assert_eq!(log.log_end_offset(), 3);
        assert!(!log.dir().join("00000000000000000004.log").exists());
        assert_eq!(
            log.append_as_leader(&batch(1, 0, 5), 0)
                .expect("append")
                .first_offset,
            3
        );
    }

    #[test]
    fn clean_restart_does_not_rescan() {
        let (_root, log) = new_log(LogConfig {
            index_interval_bytes: 100,
            ..LogConfig::default()
        });
        append_n(&log, 20, 3, 100);
        log.append_as_leader(&idempotent_batch(2, 1, 5, 9, 0, 0), 0)
            .expect("idempotent");
        let path = log.dir().join("00000000000000000000.log");
        let log = reopen(log, true);
        assert_eq!(log.log_end_offset(), 62);
        // Corrupt an early batch: a clean restart must not notice (no scan), an unclean one would.
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[100] ^= 0xFF;
        std::fs::write(&path, &bytes).expect("corrupt");
        let log = reopen(log, true);
        assert_eq!(
            log.log_end_offset(),
            62,
            "clean shutdown: no rescan, nothing truncated"
        );
        assert_eq!(
            log.producer_state(9).map(|e| e.epoch),
            Some(0),
            "from the shutdown snapshot"
        );
        let dup = log
            .append_as_leader(&idempotent_batch(2, 1, 5, 9, 0, 0), 0)
            .expect("retry");
        assert!(dup.duplicate);
        let log = reopen(log, false);
        assert_eq!(
            log.log_end_offset(),
            0,
            "unclean: first batch is corrupt, everything after dropped"
        );
    }

    #[test]
    fn producer_state_is_rebuilt_after_an_unclean_shutdown() {
        let one = batch(1, 0, 50).len();
        let (_root, log) = new_log(LogConfig {
            segment_bytes: (one * 3) as i32,
            ..LogConfig::default()
        });
        for seq in 0..6 {
            log.append_as_leader(&idempotent_batch(1, 1, 50, 5, 0, seq), 0)
                .expect("append");
        }
        assert!(log.segment_count() > 1);
        let log = reopen(log, false);
        let dup = log
            .append_as_leader(&idempotent_batch(1, 1, 50, 5, 0, 5), 0)
            .expect("retry");
        assert!(dup.duplicate, "last batch remembered after replay");
        let gap = log
            .append_as_leader(&idempotent_batch(1, 1, 50, 5, 0, 9), 0)
            .expect_err("gap");
        assert_eq!(gap.error_code(), 45);
        log.append_as_leader(&idempotent_batch(1, 1, 50, 5, 0, 6), 0)
            .expect("continues");
    }

    #[test]
    fn rebuilds_missing_indexes_and_removes_leftovers() {
        let one = batch(1, 0, 50).len();
        let config = LogConfig {
            segment_bytes: (one * 4) as i32,
            index_interval_bytes: 1,
            ..LogConfig::default()
        };
        let (_root, log) = new_log(config);
        append_n(&log, 10, 1, 100);
        let dir = log.dir().to_path_buf();
        let log = reopen(log, true);
        drop(log);
        std::fs::remove_file(dir.join("00000000000000000000.index")).expect("rm index");
        std::fs::write(dir.join("00000000000000000099.index"), b"orphan").expect("orphan");
        std::fs::write(dir.join("00000000000000000004.log.deleted"), b"old").expect("leftover");
        let log = UnifiedLog::load(
            &dir,
            TopicPartition::new("t", 0),
            LogConfig {
                index_interval_bytes: 1,
                ..LogConfig::default()
            },
            LoadHints {
                clean_shutdown: true,
                ..LoadHints::default()
            },
            0,
        )
        .expect("load");
        assert!(dir.join("00000000000000000000.index").exists());
        assert!(!dir.join("00000000000000000099.index").exists());
        assert!(!dir.join("00000000000000000004.log.deleted").exists());
        assert!(
            std::fs::metadata(dir.join("00000000000000000000.index"))
                .expect("meta")
                .len()
                > 0
        );
        assert_eq!(log.read(2, 1, true).expect("read").records.len(), one);
        assert_eq!(log.topic_id(), Uuid::from_u128(7));
    }
}
