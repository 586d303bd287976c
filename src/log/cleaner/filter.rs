//! One batch through the cleaner: Kafka's `MemoryRecords.filterTo` with the `RecordFilter`
//! of `Cleaner.cleanInto`.
//!
//! Per batch, the transaction state says whether it belongs to an aborted transaction (or is
//! a marker no longer needed); the batch is then dropped whole, kept whole (byte for byte), or
//! rebuilt with the records that survive: the latest record of each key, tombstones until
//! their delete horizon. A rebuilt batch keeps its base offset, last offset delta, producer id,
//! epoch and base sequence (so idempotence survives), its codec and timestamp type. A batch
//! that keeps a tombstone gets a delete horizon (KIP-534: its base timestamp becomes
//! `now + delete.retention.ms`, flagged in the attributes); the tombstone goes in a later
//! clean after that time. The last batch of each active producer, and the batch ending at the
//! high watermark, are kept even when empty (as a bare header).

use std::collections::HashMap;

use super::offset_map::OffsetMap;
use super::txn::CleanedTransactions;
use super::{CleanError, CleanerStats, MAX_EXPANDED_BATCH};
use crate::log::batch::{BatchHeader, RECORD_BATCH_OVERHEAD, cleaned_attributes, write_batch};
use crate::log::compression::{compress, expand};
use crate::log::control::{ControlBatch, ControlRecordType, parse_control_batch};
use crate::log::records::{RecordView, next_record, write_record};
use crate::log::unified_log::LastRecord;

/// Kafka's `BatchRetention`: what to do with a batch whose records all go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchRetention {
    /// Drop the batch without looking at its records.
    Delete,
    /// Drop it if no record survives.
    DeleteEmpty,
    /// Keep at least its header even if no record survives.
    RetainEmpty,
}

/// The decisions of one cleaning pass over a group of segments.
pub struct Filter<'a> {
    /// Key → latest offset in the dirty section.
    pub map: &'a OffsetMap,
    /// The time the clean started; delete horizons are compared with it.
    pub now_ms: i64,
    /// `delete.retention.ms`: the delete horizon given to batches that keep tombstones.
    pub delete_retention_ms: i64,
    /// The batch ending here is kept even if emptied, so the log's last offset survives.
    pub high_watermark: i64,
    /// Batches that hold the last sequence or epoch of an active producer.
    pub last_records: &'a HashMap<i64, LastRecord>,
}

/// Buffers reused from batch to batch.
#[derive(Default)]
pub struct Scratch {
    /// Decompressed records of the current batch.
    expanded: Vec<u8>,
    /// Byte positions (in the records section) of the records kept.
    retained: Vec<usize>,
    /// The kept records, re-encoded, before compression.
    records: Vec<u8>,
}

impl Filter<'_> {
    /// Filters the whole batch `batch` (header included), appending what is kept to `out`.
    pub fn filter_batch(
        &self,
        batch: &[u8],
        header: &BatchHeader,
        txns: &mut CleanedTransactions,
        stats: &mut CleanerStats,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Result<(), CleanError> {
        stats.bytes_read += batch.len() as u64;
        let stored = &batch[RECORD_BATCH_OVERHEAD..];
        let control = header.is_control();
        let can_discard = if control {
            let kind = control_kind(header, batch)?;
            txns.on_control_batch(header, kind)
        } else {
            txns.on_data_batch(header)
        };
        // A marker outlives its transaction's data until its own delete horizon.
        let discard_records = if control {
            can_discard && header.delete_horizon_ms().is_some_and(|h| h <= self.now_ms)
        } else {
            can_discard
        };
        // Kept even if emptied: the last batch of an active producer (its sequence and
        // epoch), and the batch ending at the high watermark (the log's last offset).
        let retention = if (header.producer_id >= 0 && self.is_last_of_producer(header))
            || header.last_offset() + 1 == self.high_watermark
        {
            BatchRetention::RetainEmpty
        } else if discard_records {
            BatchRetention::Delete
        } else {
            BatchRetention::DeleteEmpty
        };
        if retention == BatchRetention::Delete {
            return Ok(());
        }
        let marker_for_empty_txn = can_discard && control;

        let Scratch {
            expanded,
            retained,
            records,
        } = scratch;
        let body: &[u8] = if header.compression() == 0 {
            stored
        } else {
            *expanded = expand(header.compression(), stored, MAX_EXPANDED_BATCH)
                .map_err(|e| CleanError::corrupt(header, e))?;
            expanded
        };
        retained.clear();
        let mut all_kept = true;
        let mut tombstones = false;
        let mut pos = 0usize;
        for _ in 0..header.record_count.max(0) {
            let start = pos;
            let record = next_record(body, &mut pos).map_err(|e| CleanError::corrupt(header, e))?;
            stats.messages_read += 1;
            let keep = if discard_records {
                false
            } else if control {
                true
            } else {
                self.retain_record(header, &record, stats)
            };
            if keep {
                retained.push(start);
                tombstones |= !record.has_value;
            } else {
                all_kept = false;
            }
        }

        if !retained.is_empty() {
            let needs_horizon =
                (tombstones || marker_for_empty_txn) && header.delete_horizon_ms().is_none();
            if all_kept && !needs_horizon {
                out.extend_from_slice(batch);
                stats.messages_written += retained.len() as u64;
                stats.bytes_written += batch.len() as u64;
                return Ok(());
            }
            let horizon = if needs_horizon {
                Some(self.now_ms.saturating_add(self.delete_retention_ms))
            } else {
                header.delete_horizon_ms()
            };
            records.clear();
            let mut base_timestamp = horizon;
            let mut max_timestamp = -1i64;
            for &start in retained.iter() {
                let record = next_record(body, &mut { start })
                    .map_err(|e| CleanError::corrupt(header, e))?;
                let timestamp = header.record_timestamp(record.timestamp_delta);
                let base = *base_timestamp.get_or_insert(timestamp);
                max_timestamp = max_timestamp.max(timestamp);
                write_record(records, &record, timestamp.wrapping_sub(base));
            }
            if header.is_log_append_time() {
                max_timestamp = header.max_timestamp;
            }
            let compressed;
            let section: &[u8] = if header.compression() == 0 {
                records
            } else {
                compressed = compress(header.compression(), records)
                    .map_err(|e| CleanError::corrupt(header, e))?;
                &compressed
            };
            let rebuilt = BatchHeader {
                attributes: cleaned_attributes(
                    header,
                    header.compression() != 0,
                    horizon.is_some(),
                ),
                base_timestamp: base_timestamp.unwrap_or(-1),
                max_timestamp,
                record_count: retained.len() as i32,
                ..*header
            };
            let before = out.len();
            write_batch(out, &rebuilt, section);
            stats.messages_written += retained.len() as u64;
            stats.bytes_written += (out.len() - before) as u64;
        } else if retention == BatchRetention::RetainEmpty {
            let empty = BatchHeader {
                attributes: cleaned_attributes(header, false, false),
                base_timestamp: header.max_timestamp,
                record_count: 0,
                ..*header
            };
            write_batch(out, &empty, &[]);
            stats.bytes_written += RECORD_BATCH_OVERHEAD as u64;
        }
        Ok(())
    }

    /// Kafka's `Cleaner.shouldRetainRecord`: records past the mapped range stay; otherwise a
    /// record stays if it is its key's latest, and is a value or a tombstone whose batch has
    /// no delete horizon yet or one still in the future. Records without a key are dropped
    /// (and counted as invalid).
    fn retain_record(
        &self,
        header: &BatchHeader,
        record: &RecordView<'_>,
        stats: &mut CleanerStats,
    ) -> bool {
        let offset = header.base_offset + i64::from(record.offset_delta);
        if offset > self.map.latest_offset() {
            return true;
        }
        let Some(key) = record.key else {
            stats.invalid_messages += 1;
            return false;
        };
        let latest = offset >= self.map.get(key);
        let keep_deletes = header
            .delete_horizon_ms()
            .is_none_or(|horizon| self.now_ms < horizon);
        latest && (record.has_value || keep_deletes)
    }

    /// Whether the batch holds the last sequence (or, for a marker, the last epoch) of an
    /// active producer.
    fn is_last_of_producer(&self, header: &BatchHeader) -> bool {
        self.last_records
            .get(&header.producer_id)
            .is_some_and(|last| match last.last_data_offset {
                Some(offset) => header.last_offset() == offset,
                None => header.is_control() && header.producer_epoch == last.producer_epoch,
            })
    }
}

/// The type of a whole control batch's record; `None` for a batch already emptied.
pub fn control_kind(
    header: &BatchHeader,
    batch: &[u8],
) -> Result<Option<ControlRecordType>, CleanError> {
    match parse_control_batch(batch).map_err(|e| CleanError::corrupt(header, e))? {
        ControlBatch::Empty => Ok(None),
        ControlBatch::Marker(marker) => Ok(Some(marker.kind)),
        ControlBatch::Other(kind) => Ok(Some(kind)),
    }
}
