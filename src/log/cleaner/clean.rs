//! Kafka's `Cleaner`: one cleaning round of one log.
//!
//! 1. Build the offset map: read the dirty section `[first dirty, first uncleanable)` and
//!    record each key's latest offset, until the map is as full as the load factor allows.
//!    The round then covers offsets up to the last one mapped.
//! 2. Group the segments up to there (clean and dirty alike) so that each group fits in one
//!    segment (`segment.bytes`, `segment.index.bytes`, offsets within an `i32` of the base).
//! 3. Copy each group through the filter into `<base>.log.cleaned`, flush it, and swap it in
//!    for the group (see `UnifiedLog::replace_segments`).
//!
//! Segments are read through read-only mappings of their committed bytes; nothing here holds a
//! lock of the log except the short swap, so produce and fetch go on meanwhile.

use std::sync::Arc;

use super::filter::{Filter, Scratch, control_kind};
use super::offset_map::OffsetMap;
use super::throttle::Throttler;
use super::txn::CleanedTransactions;
use super::{CleanError, CleanerStats, MAX_EXPANDED_BATCH};
use crate::base::fsync::fsync_dir;
use crate::log::LogError;
use crate::log::batch::{BatchHeader, RECORD_BATCH_OVERHEAD};
use crate::log::compression::expand;
use crate::log::records::next_record;
use crate::log::segment::{
    BatchToAppend, CLEANED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX, LogSegment, SWAP_SUFFIX,
    TIME_INDEX_SUFFIX, file_name,
};
use crate::log::txn_index::TXN_INDEX_SUFFIX;

/// The files of a cleaned segment, the log last (see `UnifiedLog::replace_segments`).
const SUFFIXES: [&str; 4] = [
    INDEX_SUFFIX,
    TIME_INDEX_SUFFIX,
    TXN_INDEX_SUFFIX,
    LOG_SUFFIX,
];
use crate::log::unified_log::UnifiedLog;

/// A log chosen for cleaning and the offsets that bound the round (Kafka's `LogToClean`).
pub struct LogToClean {
    /// The log.
    pub log: Arc<UnifiedLog>,
    /// Where the dirty section starts (from `cleaner-offset-checkpoint`).
    pub first_dirty_offset: i64,
    /// Base offset of the first segment that may not be cleaned yet.
    pub first_uncleanable_offset: i64,
    /// Bytes of the clean section (before the first dirty offset).
    pub clean_bytes: u64,
    /// Bytes of the cleanable dirty section.
    pub cleanable_bytes: u64,
    /// `max.compaction.lag.ms` has passed for some dirty record: clean whatever the ratio.
    pub needs_compaction_now: bool,
}

impl LogToClean {
    /// Dirty share of the log (Kafka's `cleanableRatio`).
    pub fn cleanable_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.cleanable_bytes;
        if total == 0 {
            0.0
        } else {
            self.cleanable_bytes as f64 / total as f64
        }
    }
}

/// Context of one round, passed down to the segment loops.
pub struct Round<'a> {
    /// Fails with [`CleanError::Aborted`] once the round must stop (partition deleted,
    /// compaction turned off, broker shutting down).
    pub check_done: &'a dyn Fn() -> Result<(), CleanError>,
    /// Called after each step of the swap (the crash tests' pause points).
    pub step: &'a dyn Fn(&str),
    /// The time the round started.
    pub now_ms: i64,
}

/// One cleaner thread's machinery: its offset map and buffers.
pub struct Cleaner {
    /// Thread number, for log messages.
    pub id: usize,
    /// Key → latest offset, rebuilt every round.
    map: OffsetMap,
    /// `log.cleaner.io.buffer.load.factor`.
    load_factor: f64,
    /// `log.cleaner.io.buffer.size`: how much is read or written between checks and throttle
    /// accounting.
    io_buffer_size: usize,
    /// `log.cleaner.io.max.bytes.per.second`, shared by all threads.
    throttler: Arc<Throttler>,
    /// Filtered output waiting to be appended to the cleaned segment.
    out: Vec<u8>,
    /// Per-batch buffers of the filter.
    scratch: Scratch,
}

impl Cleaner {
    /// A cleaner with a map of `map_bytes`.
    pub fn new(
        id: usize,
        map_bytes: usize,
        load_factor: f64,
        io_buffer_size: usize,
        throttler: Arc<Throttler>,
    ) -> Cleaner {
        Cleaner {
            id,
            map: OffsetMap::new(map_bytes),
            load_factor,
            io_buffer_size: io_buffer_size.max(RECORD_BATCH_OVERHEAD),
            throttler,
            out: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    /// Keys one round may map (Kafka's `maxDesiredMapSize`), never the whole table.
    pub fn max_keys(&self) -> usize {
        ((self.map.slots() as f64 * self.load_factor) as usize).min(self.map.slots() - 1)
    }

    /// Cleans `job`'s log up to the end of what fits in the map. Returns the first offset not
    /// cleaned (the next round's first dirty offset) and the round's statistics.
    pub fn clean(
        &mut self,
        job: &LogToClean,
        round: &Round<'_>,
    ) -> Result<(i64, CleanerStats), CleanError> {
        let log = &job.log;
        tracing::info!(
            "Cleaner {}: Beginning cleaning of log {}",
            self.id,
            log.topic_partition()
        );
        let mut stats = CleanerStats::new();
        self.build_offset_map(
            log,
            job.first_dirty_offset,
            job.first_uncleanable_offset,
            &mut stats,
            round,
        )?;
        let end_offset = self.map.latest_offset() + 1;
        stats.index_done();
        let config = log.config();
        tracing::info!(
            "Cleaner {}: Cleaning log {} (cleaning prior to offset {}, discarding tombstones whose delete horizon has passed)...",
            self.id,
            log.topic_partition(),
            end_offset
        );
        let segments = log.segments_in(0, end_offset);
        let groups = group_segments_by_size(
            &segments,
            u64::try_from(config.segment_bytes).unwrap_or(0),
            u64::try_from(config.segment_index_bytes).unwrap_or(0),
            job.first_uncleanable_offset,
        );
        let mut txns = CleanedTransactions::default();
        for group in groups {
            self.clean_segments(log, &group, &mut stats, &mut txns, round)?;
        }
        stats.buffer_utilization = self.map.utilization();
        self.map.clear();
        stats.all_done();
        Ok((end_offset, stats))
    }

    fn build_offset_map(
        &mut self,
        log: &UnifiedLog,
        start: i64,
        end: i64,
        stats: &mut CleanerStats,
        round: &Round<'_>,
    ) -> Result<(), CleanError> {
        self.map.clear();
        let dirty = log.segments_in(start, end);
        tracing::info!(
            "Cleaner {}: Building offset map for log {} for {} segments in offset range [{start}, {end}).",
            self.id,
            log.topic_partition(),
            dirty.len()
        );
        let mut txns = CleanedTransactions::default();
        txns.add_aborted(log.collect_aborted_transactions(start, end));
        let max_keys = self.max_keys();
        for (i, segment) in dirty.iter().enumerate() {
            (round.check_done)()?;
            let next_start = dirty.get(i + 1).map_or(end, |s| s.base_offset());
            if self.map_segment(
                segment, start, next_start, max_keys, &mut txns, stats, round,
            )? {
                tracing::debug!(
                    "Cleaner {}: Offset map is full, {i} segments fully mapped, segment with base offset {} is partially mapped",
                    self.id,
                    segment.base_offset()
                );
                break;
            }
        }
        Ok(())
    }

    /// Adds the keyed records at or after `start` in `segment` to the map; true if the map
    /// filled up on the way.
    #[allow(clippy::too_many_arguments)]
    fn map_segment(
        &mut self,
        segment: &LogSegment,
        start: i64,
        next_start: i64,
        max_keys: usize,
        txns: &mut CleanedTransactions,
        stats: &mut CleanerStats,
        round: &Round<'_>,
    ) -> Result<bool, CleanError> {
        let Some(data) = segment.map_all()? else {
            self.map.update_latest_offset(next_start - 1);
            return Ok(false);
        };
        let mut position = segment.position_of(start) as usize;
        let mut unthrottled = 0usize;
        while position < data.len() {
            let header = whole_batch(&data, position, segment)?;
            let batch = &data[position..position + header.size()];
            if header.is_control() {
                let kind = control_kind(&header, batch)?;
                txns.on_control_batch(&header, kind);
                stats.map_messages_read += 1;
            } else if txns.on_data_batch(&header) {
                // Aborted data never makes it into the map.
                stats.map_messages_read += u64::try_from(header.record_count).unwrap_or(0);
            } else {
                let stored = &batch[RECORD_BATCH_OVERHEAD..];
                let expanded;
                let body: &[u8] = if header.compression() == 0 {
                    stored
                } else {
                    expanded = expand(header.compression(), stored, MAX_EXPANDED_BATCH)
                        .map_err(|e| CleanError::corrupt(&header, e))?;
                    &expanded
                };
                let mut at = 0usize;
                for _ in 0..header.record_count.max(0) {
                    let record =
                        next_record(body, &mut at).map_err(|e| CleanError::corrupt(&header, e))?;
                    let offset = header.base_offset + i64::from(record.offset_delta);
                    if let Some(key) = record.key.filter(|_| offset >= start) {
                        if self.map.size() >= max_keys {
                            return Ok(true);
                        }
                        self.map.put(key, offset);
                    }
                    stats.map_messages_read += 1;
                }
            }
            if header.last_offset() >= start {
                self.map.update_latest_offset(header.last_offset());
            }
            position += header.size();
            stats.map_bytes_read += header.size() as u64;
            unthrottled += header.size();
            if unthrottled >= self.io_buffer_size {
                (round.check_done)()?;
                self.throttler.maybe_throttle(unthrottled as f64);
                unthrottled = 0;
            }
        }
        self.throttler.maybe_throttle(unthrottled as f64);
        // Offsets may have gaps: the map covers everything up to the next segment.
        self.map.update_latest_offset(next_start - 1);
        Ok(false)
    }

    /// Cleans one group of segments into one and swaps it in.
    fn clean_segments(
        &mut self,
        log: &UnifiedLog,
        group: &[Arc<LogSegment>],
        stats: &mut CleanerStats,
        txns: &mut CleanedTransactions,
        round: &Round<'_>,
    ) -> Result<(), CleanError> {
        let Some(first) = group.first() else {
            return Ok(());
        };
        let base = first.base_offset();
        let dir = log.dir();
        let result = self
            .write_cleaned(log, group, stats, txns, round)
            .and_then(|()| {
                (round.step)("after-cleaned-written");
                for suffix in SUFFIXES {
                    let name = file_name(base, suffix);
                    let from = dir.join(name.clone() + CLEANED_SUFFIX);
                    let to = dir.join(name + SWAP_SUFFIX);
                    match std::fs::rename(&from, &to) {
                        Ok(()) => {}
                        // A segment without aborted transactions has no transaction index.
                        Err(e)
                            if suffix == TXN_INDEX_SUFFIX
                                && e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(LogError::io(&from, e).into()),
                    }
                }
                fsync_dir(dir).map_err(|e| LogError::io(dir, e))?;
                (round.step)("after-swap-renamed");
                (round.check_done)()?;
                tracing::info!(
                    "Cleaner {}: Swapping in cleaned segment {} for segment(s) {:?} in log {}",
                    self.id,
                    base,
                    group.iter().map(|s| s.base_offset()).collect::<Vec<_>>(),
                    log.topic_partition()
                );
                if log.replace_segments(group, round.step)? {
                    Ok(())
                } else {
                    Err(CleanError::Aborted)
                }
            });
        if result.is_err() {
            // Leftovers of a failed or aborted group; start-up would remove them too.
            for suffix in SUFFIXES {
                for temp in [CLEANED_SUFFIX, SWAP_SUFFIX] {
                    let _ = std::fs::remove_file(dir.join(file_name(base, suffix) + temp));
                }
            }
        }
        result
    }

    /// Writes the group's surviving batches to `<base>.log.cleaned`, flushed and closed.
    fn write_cleaned(
        &mut self,
        log: &UnifiedLog,
        group: &[Arc<LogSegment>],
        stats: &mut CleanerStats,
        txns: &mut CleanedTransactions,
        round: &Round<'_>,
    ) -> Result<(), CleanError> {
        let config = log.config();
        let base = group.first().map_or(0, |s| s.base_offset());
        let index_bytes = crate::log::unified_log::index_bytes(&config);
        let interval = usize::try_from(config.index_interval_bytes).unwrap_or(0);
        let cleaned = LogSegment::create_with_suffix(
            log.dir(),
            base,
            index_bytes,
            round.now_ms,
            CLEANED_SUFFIX,
        )?;
        let last_records = log.last_records_of_active_producers();
        let filter = Filter {
            map: &self.map,
            now_ms: round.now_ms,
            delete_retention_ms: config.delete_retention_ms,
            high_watermark: log.high_watermark(),
            last_records: &last_records,
        };
        for (i, segment) in group.iter().enumerate() {
            let upper = match group.get(i + 1) {
                Some(next) => next.base_offset(),
                None => segment.read_next_offset()?,
            };
            txns.add_aborted(log.collect_aborted_transactions(segment.base_offset(), upper));
            tracing::info!(
                "Cleaner {}: Cleaning {} in log {} into {base}, retaining deletes until their delete horizon.",
                self.id,
                segment.log_path().display(),
                log.topic_partition()
            );
            let Some(data) = segment.map_all()? else {
                continue;
            };
            let mut position = 0usize;
            while position < data.len() {
                (round.check_done)()?;
                let chunk_start = position;
                while position < data.len() && self.out.len() < self.io_buffer_size {
                    let header = whole_batch(&data, position, segment)?;
                    let batch = &data[position..position + header.size()];
                    filter.filter_batch(
                        batch,
                        &header,
                        txns,
                        stats,
                        &mut self.scratch,
                        &mut self.out,
                    )?;
                    position += header.size();
                }
                self.throttler
                    .maybe_throttle((position - chunk_start) as f64);
                if !self.out.is_empty() {
                    let batches = split_batches(&self.out);
                    cleaned.append(&batches, interval)?;
                    self.throttler.maybe_throttle(self.out.len() as f64);
                    self.out.clear();
                }
            }
            for txn in txns.take_retained() {
                cleaned.txn_index().append(txn)?;
            }
        }
        self.out = Vec::new();
        cleaned.on_become_inactive()?;
        cleaned.flush()?;
        if let Some(last) = group.last() {
            cleaned.set_last_modified(last.last_modified())?;
        }
        Ok(())
    }
}

/// The whole batches in `data` (the filter's output), as the segment appends them.
fn split_batches(data: &[u8]) -> Vec<BatchToAppend<'_>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(header) = BatchHeader::parse(&data[at..]) {
        let end = (at + header.size()).min(data.len());
        match BatchToAppend::whole(&data[at..end]) {
            Some(batch) => out.push(batch),
            None => break,
        }
        at = end;
    }
    out
}

/// The header of the whole batch at `position` of a segment's data; an error if the bytes do
/// not hold one (a non-active segment only holds whole batches).
fn whole_batch(
    data: &[u8],
    position: usize,
    segment: &LogSegment,
) -> Result<BatchHeader, CleanError> {
    BatchHeader::parse(&data[position..])
        .filter(|h| h.size() >= RECORD_BATCH_OVERHEAD && position + h.size() <= data.len())
        .ok_or_else(|| CleanError::Corrupt {
            offset: -1,
            reason: format!(
                "Log segment may be corrupt: no whole batch at position {position} of {}",
                segment.log_path().display()
            ),
        })
}

/// Kafka's `groupSegmentsBySize`: consecutive segments whose total log size fits
/// `max_size`, whose index sizes each fit `max_index_size`, and whose offsets stay within an
/// `i32` of the group's base (an empty segment adds no offsets).
pub fn group_segments_by_size(
    segments: &[Arc<LogSegment>],
    max_size: u64,
    max_index_size: u64,
    first_uncleanable_offset: i64,
) -> Vec<Vec<Arc<LogSegment>>> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < segments.len() {
        let head = &segments[i];
        let mut group = vec![Arc::clone(head)];
        let mut log_size = head.size();
        let (mut index_size, mut time_index_size) = head.index_sizes();
        i += 1;
        while i < segments.len() {
            let next = &segments[i];
            let (offset_bytes, time_bytes) = next.index_sizes();
            // Worst case last offset of `next`: just below its successor (or the uncleanable
            // offset for the last one).
            let next_last = segments
                .get(i + 1)
                .map_or(first_uncleanable_offset, |s| s.base_offset())
                - 1;
            let fits = log_size + next.size() <= max_size
                && index_size + offset_bytes <= max_index_size
                && time_index_size + time_bytes <= max_index_size
                && (next.size() == 0 || next_last - head.base_offset() <= i64::from(i32::MAX));
            if !fits {
                break;
            }
            log_size += next.size();
            index_size += offset_bytes;
            time_index_size += time_bytes;
            group.push(Arc::clone(next));
            i += 1;
        }
        groups.push(group);
    }
    groups
}
