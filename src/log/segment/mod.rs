//! Kafka's `LogSegment`: one `.log` file of whole record batches plus its offset and time
//! indexes.
//!
//! Appends come from one writer at a time (the owning log's append lock); reads run
//! concurrently. A reader never sees a half-written batch because the committed size is
//! published only after the bytes are in the file, and reads stop there.

use crate::base::clock::now_ms;
use std::fs::{File, OpenOptions};
use std::io::IoSlice;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;

mod read;
mod recover;

use super::batch::{BatchHeader, RECORD_BATCH_OVERHEAD};
use super::error::LogError;
use super::file_records::SharedMapping;
use super::offset_index::OffsetIndex;
use super::time_index::TimeIndex;
use super::txn_index::{TXN_INDEX_SUFFIX, TransactionIndex};
use crate::base::fs;
use crate::config::LogConfig;

/// Suffix of segment data files.
pub const LOG_SUFFIX: &str = ".log";
/// Suffix of offset index files.
pub const INDEX_SUFFIX: &str = ".index";
/// Suffix of time index files.
pub const TIME_INDEX_SUFFIX: &str = ".timeindex";
/// Suffix the cleaner gives the segment it is writing (Kafka's `CleanedFileSuffix`).
pub const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of a complete cleaned segment waiting to replace the segments it cleaned (Kafka's
/// `SwapFileSuffix`); start-up finishes an interrupted swap.
pub const SWAP_SUFFIX: &str = ".swap";

/// Kafka's file name for a segment file: the base offset zero-padded to 20 digits.
pub fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

/// One batch as it is written: its header with the broker's fields stamped, then the rest of
/// the batch exactly as the producer sent it.
pub struct BatchToAppend<'a> {
    /// The stamped header.
    pub header: [u8; RECORD_BATCH_OVERHEAD],
    /// Everything after the header, untouched.
    pub rest: &'a [u8],
}

impl<'a> BatchToAppend<'a> {
    /// Splits a whole stored-form batch (at least a header long).
    pub fn whole(batch: &'a [u8]) -> Option<BatchToAppend<'a>> {
        let header = batch.get(..RECORD_BATCH_OVERHEAD)?.try_into().ok()?;
        Some(BatchToAppend {
            header,
            rest: &batch[RECORD_BATCH_OVERHEAD..],
        })
    }
}

/// What recovering a segment found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryOutcome {
    /// Bytes cut from the end because they did not form valid batches.
    pub truncated_bytes: u64,
    /// Offset after the last valid batch, if the segment holds any.
    pub next_offset: Option<i64>,
}

/// How much a read took from one segment.
#[derive(Debug, Clone, Copy)]
pub struct ReadProgress {
    /// Bytes of whole batches added to the output.
    pub bytes: usize,
    /// True when the read reached the end of the segment's data, so it may continue in the
    /// next segment.
    pub exhausted: bool,
    /// The offset after the last batch read (`None` when nothing was read).
    pub next_offset: Option<i64>,
}

struct SegmentState {
    /// `.index`: offset → file position, one entry per `index.interval.bytes`.
    offset_index: OffsetIndex,
    /// `.timeindex`: timestamp → offset, for ListOffsets by time and time-based retention.
    time_index: TimeIndex,
    /// Bytes appended since the last index entry, against `index.interval.bytes`.
    bytes_since_last_index_entry: usize,
    /// Largest batch timestamp in the segment (retention by time compares it).
    max_timestamp: i64,
    /// Offset of the batch holding `max_timestamp` (ListOffsets MAX_TIMESTAMP, KIP-734).
    offset_of_max_timestamp: i64,
    /// The first batch's max timestamp: `segment.ms` rolls relative to it, as Kafka's
    /// `rollingBasedTimestamp`.
    rolling_based_timestamp: Option<i64>,
    /// When the segment was created or opened: the `segment.ms` clock for an empty segment.
    created_ms: i64,
}

/// One segment of a partition log.
pub struct LogSegment {
    /// Offset of the segment's first batch, its file name.
    base_offset: i64,
    /// The `.log` file's path, for errors and deletion.
    log_path: PathBuf,
    /// The `.log` file, written at `size` and read at positions below it; shared with the
    /// fetch replies that send its bytes.
    file: Arc<File>,
    /// The one read-only mapping of the file that fetch replies borrow.
    mapping: SharedMapping,
    /// Bytes of whole, indexed batches; readers never look past it.
    size: AtomicU64,
    /// The indexes and the timestamps that go with them, changed only by the appender.
    state: RwLock<SegmentState>,
    /// Aborted transactions whose ABORT marker is in this segment (`.txnindex`).
    txn_index: TransactionIndex,
}

impl LogSegment {
    /// Creates an empty segment at `base_offset` in `dir` with indexes preallocated to
    /// `index_bytes`.
    pub fn create(
        dir: &Path,
        base_offset: i64,
        index_bytes: usize,
        now_ms: i64,
    ) -> Result<LogSegment, LogError> {
        LogSegment::create_with_suffix(dir, base_offset, index_bytes, now_ms, "")
    }

    /// Like [`create`](Self::create), with `suffix` after each file name: the cleaner writes
    /// its output as `<base>.log.cleaned` (and `.index.cleaned`, `.timeindex.cleaned`,
    /// `.txnindex.cleaned`).
    pub fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        index_bytes: usize,
        now_ms: i64,
        suffix: &str,
    ) -> Result<LogSegment, LogError> {
        let named = |kind: &str| dir.join(file_name(base_offset, kind) + suffix);
        let log_path = named(LOG_SUFFIX);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .map_err(|e| LogError::io(&log_path, e))?;
        let index_path = named(INDEX_SUFFIX);
        let time_index_path = named(TIME_INDEX_SUFFIX);
        let txn_index_path = named(TXN_INDEX_SUFFIX);
        let indexes = OffsetIndex::open(&index_path, base_offset, Some(index_bytes)).and_then(
            |offset_index| {
                let time_index = TimeIndex::open(&time_index_path, base_offset, Some(index_bytes))?;
                // A new segment has no aborted transactions: drop a leftover index of the same
                // name.
                let txn_index = TransactionIndex::open(&txn_index_path, base_offset)?;
                txn_index.delete_file()?;
                Ok((offset_index, time_index, txn_index))
            },
        );
        let (offset_index, time_index, txn_index) = match indexes {
            Ok(indexes) => indexes,
            Err(e) => {
                // Leave no half-created segment for start-up to find.
                for path in [&log_path, &index_path, &time_index_path] {
                    let _ = std::fs::remove_file(path);
                }
                return Err(e);
            }
        };
        Ok(LogSegment {
            base_offset,
            log_path,
            file: Arc::new(file),
            mapping: SharedMapping::new(),
            txn_index,
            size: AtomicU64::new(0),
            state: RwLock::new(SegmentState {
                offset_index,
                time_index,
                bytes_since_last_index_entry: 0,
                max_timestamp: -1,
                offset_of_max_timestamp: base_offset,
                rolling_based_timestamp: None,
                created_ms: now_ms,
            }),
        })
    }

    /// Opens an existing segment. `index_capacity` is set for the active segment, whose
    /// indexes must take appends. Returns the segment and whether its indexes must be rebuilt
    /// (missing or failing Kafka's sanity check).
    pub fn open(
        dir: &Path,
        base_offset: i64,
        index_capacity: Option<usize>,
    ) -> Result<(LogSegment, bool), LogError> {
        LogSegment::open_with_suffix(dir, base_offset, index_capacity, "")
    }

    /// Opens the complete cleaned segment `<base>.log.swap` (with its `.swap` indexes) as the
    /// segment it is about to become: the returned segment already names the files without
    /// the suffix, so after the caller renames them it is exact. Opening before renaming
    /// keeps every failure before the first destructive step of a swap.
    pub fn open_swap(dir: &Path, base_offset: i64) -> Result<LogSegment, LogError> {
        Ok(LogSegment::open_with_suffix(dir, base_offset, None, SWAP_SUFFIX)?.0)
    }

    fn open_with_suffix(
        dir: &Path,
        base_offset: i64,
        index_capacity: Option<usize>,
        suffix: &str,
    ) -> Result<(LogSegment, bool), LogError> {
        let log_path = dir.join(file_name(base_offset, LOG_SUFFIX));
        let opened = |path: &Path| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(opened(&log_path))
            .map_err(|e| LogError::io(opened(&log_path), e))?;
        let size = file
            .metadata()
            .map_err(|e| LogError::io(&log_path, e))?
            .len();
        let index_path = dir.join(file_name(base_offset, INDEX_SUFFIX));
        let time_index_path = dir.join(file_name(base_offset, TIME_INDEX_SUFFIX));
        let missing = !opened(&index_path).exists() || !opened(&time_index_path).exists();
        let mut offset_index =
            OffsetIndex::open(&opened(&index_path), base_offset, index_capacity)?;
        let mut time_index =
            TimeIndex::open(&opened(&time_index_path), base_offset, index_capacity)?;
        let txn_index_path = TransactionIndex::path_for(dir, base_offset);
        let mut txn_index = TransactionIndex::open(&opened(&txn_index_path), base_offset)?;
        offset_index.set_path(index_path);
        time_index.set_path(time_index_path);
        txn_index.set_path(txn_index_path);
        let insane = !offset_index.is_sane() || !time_index.is_sane() || !txn_index.is_sane();
        let (max_timestamp, offset_of_max_timestamp) =
            time_index.last_entry().unwrap_or((-1, base_offset));
        let segment = LogSegment {
            base_offset,
            log_path,
            file: Arc::new(file),
            mapping: SharedMapping::new(),
            txn_index,
            size: AtomicU64::new(size),
            state: RwLock::new(SegmentState {
                offset_index,
                time_index,
                bytes_since_last_index_entry: 0,
                max_timestamp,
                offset_of_max_timestamp,
                rolling_based_timestamp: None,
                created_ms: now_ms(),
            }),
        };
        if index_capacity.is_some() && size > 0 {
            let first = segment.read_header(0)?;
            segment.state.write().rolling_based_timestamp = first.map(|h| h.max_timestamp);
        }
        Ok((segment, missing || insane))
    }

    /// Offset of the segment's first batch (its name).
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Committed size of the `.log` file in bytes.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Path of the `.log` file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The segment's aborted transaction index (`.txnindex`).
    pub fn txn_index(&self) -> &TransactionIndex {
        &self.txn_index
    }

    /// Largest batch max timestamp and the last offset of that batch, `(-1, base)` if none.
    pub fn max_timestamp_and_offset(&self) -> (i64, i64) {
        let s = self.state.read();
        (s.max_timestamp, s.offset_of_max_timestamp)
    }

    /// The timestamp retention compares against: the largest record timestamp, or the file's
    /// modification time when no batch carries one (Kafka's `largestTimestamp`).
    pub fn largest_timestamp(&self) -> i64 {
        let max = self.state.read().max_timestamp;
        if max >= 0 {
            return max;
        }
        std::fs::metadata(&self.log_path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64)
    }

    /// Appends batches whose offsets are already assigned, writing them to the file (page
    /// cache) with one vectored write of each stamped header and its untouched rest, and
    /// indexing them every `index_interval_bytes`, then publishes the new size.
    ///
    /// All or nothing: if a write fails (a full disk), the bytes already written are cut off
    /// again and the indexes rolled back, so the file never holds a partial batch past the
    /// committed size. Only if that cut fails too is the error [`LogError::Inconsistent`].
    pub fn append(
        &self,
        batches: &[BatchToAppend<'_>],
        index_interval_bytes: usize,
    ) -> Result<(), LogError> {
        let position = self.size();
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(batches.len() * 2);
        for b in batches {
            slices.push(IoSlice::new(&b.header));
            slices.push(IoSlice::new(b.rest));
        }
        let written =
            match fs::write_all_vectored_at(&self.file, &mut slices, position, &self.log_path) {
                Ok(n) => n,
                Err(e) => return Err(self.undo_write(position, e)),
            };
        let mut state = self.state.write();
        let before = state.marks();
        let mut at = position;
        for b in batches {
            let Some(header) = BatchHeader::parse(&b.header) else {
                continue;
            };
            if state.rolling_based_timestamp.is_none() && at == 0 {
                state.rolling_based_timestamp = Some(header.max_timestamp);
            }
            if let Err(e) = index_batch(&mut state, &header, at, index_interval_bytes) {
                state.restore(before);
                drop(state);
                let cause = match e {
                    LogError::Io { source, .. } => source,
                    other => std::io::Error::other(other.to_string()),
                };
                return Err(self.undo_write(position, cause));
            }
            at += (b.header.len() + b.rest.len()) as u64;
        }
        drop(state);
        // Publish only now: readers never look past the size, so they never see a batch that
        // a failed index write would take back. Index entries ahead of the size are harmless:
        // lookups are for offsets below the published log end.
        self.size.store(position + written, Ordering::Release);
        Ok(())
    }

    /// Cuts the file back to `position` after a failed append; the error to report.
    fn undo_write(&self, position: u64, cause: std::io::Error) -> LogError {
        match fs::set_len(&self.file, position, &self.log_path) {
            Ok(()) => LogError::io(&self.log_path, cause),
            Err(undo) => {
                tracing::error!(
                    "Could not truncate {} back to {position} bytes after a failed append ({cause}): {undo}",
                    self.log_path.display()
                );
                LogError::Inconsistent {
                    path: self.log_path.clone(),
                    source: cause,
                }
            }
        }
    }

    /// Kafka's `LogSegment.shouldRoll`: the append would overflow `segment.bytes`, the segment
    /// has aged past `segment.ms` (by record timestamps when present), an index is full, or
    /// the offsets would not fit the index's 4-byte relative offsets.
    pub fn should_roll(
        &self,
        config: &LogConfig,
        incoming_bytes: usize,
        max_timestamp_in_messages: i64,
        max_offset_in_messages: i64,
        now_ms: i64,
    ) -> bool {
        let size = self.size();
        let state = self.state.read();
        let waited = match state.rolling_based_timestamp {
            Some(ts) if ts >= 0 => max_timestamp_in_messages - ts,
            _ => now_ms - state.created_ms,
        };
        let max_bytes = i64::from(config.segment_bytes.max(0)) - incoming_bytes as i64;
        size as i64 > max_bytes
            || (size > 0 && waited > config.segment_ms - config.segment_jitter_ms.max(0))
            || state.offset_index.is_full()
            || state.time_index.is_full()
            || max_offset_in_messages - self.base_offset > i64::from(i32::MAX)
    }

    /// Called when the segment stops being the active one (roll) or the log closes: records
    /// the final time index entry and trims both indexes to their real size.
    pub fn on_become_inactive(&self) -> Result<(), LogError> {
        let mut state = self.state.write();
        let (ts, off) = (state.max_timestamp, state.offset_of_max_timestamp);
        if ts >= 0 {
            state.time_index.maybe_append(ts, off, true)?;
        }
        state.offset_index.trim()?;
        state.time_index.trim()
    }

    /// Bytes of the offset and time index entries: what Kafka's cleaner adds up against
    /// `segment.index.bytes` when it merges segments.
    pub fn index_sizes(&self) -> (u64, u64) {
        let state = self.state.read();
        (
            (state.offset_index.entries() * 8) as u64,
            (state.time_index.entries() * 12) as u64,
        )
    }

    /// The `.log` file's modification time in ms (Kafka's `lastModified`), 0 if unknown.
    pub fn last_modified(&self) -> i64 {
        self.file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64)
    }

    /// Sets the `.log` file's modification time: a cleaned segment keeps the time of the last
    /// segment it replaces, as Kafka's cleaner does.
    pub fn set_last_modified(&self, ms: i64) -> Result<(), LogError> {
        let time = UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
        self.file
            .set_modified(time.min(SystemTime::now()))
            .map_err(|e| LogError::io(&self.log_path, e))
    }

    /// The max timestamp of the first batch, if it has one (Kafka's
    /// `getFirstBatchTimestamp`, what `max.compaction.lag.ms` is measured from).
    pub fn first_batch_timestamp(&self) -> Result<Option<i64>, LogError> {
        if let Some(ts) = self.state.read().rolling_based_timestamp {
            return Ok((ts >= 0).then_some(ts));
        }
        Ok(self
            .read_header(0)?
            .map(|h| h.max_timestamp)
            .filter(|ts| *ts >= 0))
    }

    /// Forces the `.log` file and its indexes to disk.
    pub fn flush(&self) -> Result<(), LogError> {
        fs::sync_file(&self.file, &self.log_path).map_err(|e| LogError::io(&self.log_path, e))?;
        let state = self.state.read();
        state.offset_index.flush()?;
        state.time_index.flush()?;
        self.txn_index.flush()
    }

    /// Removes the segment's files. Readers holding the segment keep working on the open
    /// descriptor and mapping until they drop it.
    pub fn delete_files(&self) -> Result<(), LogError> {
        let state = self.state.read();
        for path in [
            self.log_path.as_path(),
            state.offset_index.path(),
            state.time_index.path(),
        ] {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(path, e)),
            }
        }
        self.txn_index.delete_file()
    }
}

/// Kafka's per-batch index maintenance in `LogSegment.append`: track the max timestamp, and
/// once more than `index.interval.bytes` were written since the last entry, index this batch.
/// An error if an index entry could not be written.
fn index_batch(
    state: &mut SegmentState,
    header: &BatchHeader,
    position: u64,
    index_interval_bytes: usize,
) -> Result<(), LogError> {
    if header.max_timestamp > state.max_timestamp {
        state.max_timestamp = header.max_timestamp;
        state.offset_of_max_timestamp = header.last_offset();
    }
    if state.bytes_since_last_index_entry > index_interval_bytes {
        state
            .offset_index
            .append(header.last_offset(), position as u32)?;
        let (ts, off) = (state.max_timestamp, state.offset_of_max_timestamp);
        state.time_index.maybe_append(ts, off, false)?;
        state.bytes_since_last_index_entry = 0;
    }
    state.bytes_since_last_index_entry += header.size();
    Ok(())
}

/// What an append changes in [`SegmentState`], saved to roll a failed append back.
#[derive(Clone, Copy)]
struct Marks {
    offset_entries: usize,
    time_entries: usize,
    bytes_since_last_index_entry: usize,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    rolling_based_timestamp: Option<i64>,
}

impl SegmentState {
    fn marks(&self) -> Marks {
        Marks {
            offset_entries: self.offset_index.entries(),
            time_entries: self.time_index.entries(),
            bytes_since_last_index_entry: self.bytes_since_last_index_entry,
            max_timestamp: self.max_timestamp,
            offset_of_max_timestamp: self.offset_of_max_timestamp,
            rolling_based_timestamp: self.rolling_based_timestamp,
        }
    }

    fn restore(&mut self, m: Marks) {
        self.offset_index.truncate_entries(m.offset_entries);
        self.time_index.truncate_entries(m.time_entries);
        self.bytes_since_last_index_entry = m.bytes_since_last_index_entry;
        self.max_timestamp = m.max_timestamp;
        self.offset_of_max_timestamp = m.offset_of_max_timestamp;
        self.rolling_based_timestamp = m.rolling_based_timestamp;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::TopicPartition;
    use crate::log::batch::test_support::batch;
    use crate::log::batch::{assign_offsets, validate_produce_batches};
    use std::os::unix::fs::FileExt;

    /// Appends `n` batches of `per` records each, offsets from `base`.
    pub(crate) fn fill(seg: &LogSegment, base: i64, n: usize, per: usize, interval: usize) -> i64 {
        let tp = TopicPartition {
            topic: "t".into(),
            partition: 0,
        };
        let mut next = base;
        for i in 0..n {
            let mut b = batch(per, 1000 + i as i64, 100);
            let v = validate_produce_batches(&b, 1 << 20, &tp).expect("valid")[0];
            assign_offsets(&mut b, next, 0, None, v.records_max_timestamp);
            let whole = BatchToAppend::whole(&b).expect("batch");
            seg.append(&[whole], interval).expect("append");
            next += per as i64;
        }
        next
    }

    #[test]
    fn append_indexes_and_translates_offsets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seg = LogSegment::create(dir.path(), 0, 4096, 0).expect("create");
        let next = fill(&seg, 0, 50, 2, 500);
        assert_eq!(next, 100);
        assert!(
            seg.state.read().offset_index.entries() > 5,
            "indexed every ~500 bytes"
        );
        for target in [0, 1, 37, 98, 99] {
            let (_, h) = seg.translate_offset(target).expect("io").expect("found");
            assert!(h.base_offset <= target && h.last_offset() >= target);
        }
        assert!(seg.translate_offset(100).expect("io").is_none());
        assert_eq!(seg.read_next_offset().expect("next"), 100);
        assert_eq!(seg.max_timestamp_and_offset(), (1049 + 1, 99));
    }

    #[test]
    fn read_returns_whole_batches_and_honours_kip74() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seg = LogSegment::create(dir.path(), 0, 4096, 0).expect("create");
        fill(&seg, 0, 10, 1, 4096);
        let one = seg.read_header(0).expect("io").expect("header").size();
        let (r, p) = seg.read(3, one * 2 + 5, false, i64::MAX).expect("read");
        assert_eq!((p.bytes, r.len(), p.exhausted), (one * 2, one * 2, false));
        assert_eq!(BatchHeader::parse(&r).expect("header").base_offset, 3);
        assert_eq!(r.position(), 3 * one as u64);
        let mut via_file = vec![0u8; r.len()];
        r.read_at(0, &mut via_file).expect("pread");
        assert_eq!(&via_file[..], &r[..], "file and mapping agree");
        let (r, p) = seg.read(3, 10, false, i64::MAX).expect("read");
        assert_eq!(
            (p.bytes, r.len()),
            (0, 0),
            "too small without min_one_batch"
        );
        let (r, _) = seg.read(3, 10, true, i64::MAX).expect("read");
        assert_eq!(r.len(), one, "KIP-74: first batch whole");
        let (r, _) = seg.read(8, 1 << 20, false, 9).expect("read");
        assert_eq!(r.len(), one, "stops at the high watermark");
    }

    #[test]
    fn reads_share_one_mapping_while_any_is_alive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seg = LogSegment::create(dir.path(), 0, 4096, 0).expect("create");
        fill(&seg, 0, 4, 1, 4096);
        let (a, _) = seg.read(0, 1 << 20, false, i64::MAX).expect("read");
        let (b, _) = seg.read(1, 1 << 20, false, i64::MAX).expect("read");
        let base = |r: &crate::log::FileRecords| r.as_ptr() as usize - r.position() as usize;
        assert_eq!(base(&a), base(&b), "one mapping for both");
        fill(&seg, 4, 4, 1, 4096);
        let (c, _) = seg.read(5, 1 << 20, false, i64::MAX).expect("read");
        assert_eq!(
            base(&a),
            base(&c),
            "growth within the mapped step reuses it"
        );
        assert_eq!(BatchHeader::parse(&c).expect("header").base_offset, 5);
    }

    #[test]
    fn roll_conditions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seg = LogSegment::create(dir.path(), 0, 4096, 0).expect("create");
        let config = LogConfig {
            segment_bytes: 1000,
            segment_ms: 60_000,
            ..LogConfig::default()
        };
        assert!(
            !seg.should_roll(&config, 500, 0, 0, 1_000_000),
            "empty segments never roll by time"
        );
        fill(&seg, 0, 1, 1, 4096);
        let size = seg.size() as usize;
        assert!(!seg.should_roll(&config, 1000 - size, 1000, 1, 0));
        assert!(seg.should_roll(&config, 1001 - size, 1000, 1, 0), "size");
        assert!(
            seg.should_roll(&config, 1, 1000 + 60_001, 1, 0),
            "time by record timestamps"
        );
        assert!(
            seg.should_roll(&config, 1, 1000, i64::from(i32::MAX) + 1, 0),
            "relative offset overflow"
        );
    }

    #[test]
    fn reopen_after_close_finds_next_offset_and_max_timestamp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seg = LogSegment::create(dir.path(), 5, 4096, 0).expect("create");
        fill(&seg, 5, 20, 3, 300);
        seg.on_become_inactive().expect("close");
        drop(seg);
        let (seg, rebuild) = LogSegment::open(dir.path(), 5, Some(4096)).expect("open");
        assert!(!rebuild);
        assert_eq!(seg.read_next_offset().expect("next"), 65);
        assert_eq!(seg.max_timestamp_and_offset(), (1019 + 2, 64));
    }

    #[test]
    fn recover_truncates_a_torn_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seg = LogSegment::create(dir.path(), 0, 4096, 0).expect("create");
        fill(&seg, 0, 5, 2, 4096);
        let good = seg.size();
        let half = seg.read_bytes(0, 40).expect("read");
        seg.file.write_all_at(&half, good).expect("tear");
        let outcome = seg.recover(4096).expect("recover");
        assert_eq!(
            outcome,
            RecoveryOutcome {
                truncated_bytes: 40,
                next_offset: Some(10)
            }
        );
        assert_eq!(seg.size(), good);
        assert_eq!(std::fs::metadata(seg.log_path()).expect("meta").len(), good);
    }
}
