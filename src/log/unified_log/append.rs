//! The produce path: validate, deduplicate, assign offsets, roll, write, publish.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{UnifiedLog, index_bytes};
use crate::config::{LogConfig, TimestampType};
use crate::log::LogAppendInfo;
use crate::log::batch::{
    AppendOrigin, check_create_time, check_keys_for_compaction, stamp_header, validate_batches,
};
use crate::log::control::{EndTxnMarker, encode_end_txn_marker};
use crate::log::error::LogError;
use crate::log::producer_state::ProducerStateManager;
use crate::log::segment::{BatchToAppend, LogSegment};
use crate::log::txn_index::AbortedTxn;

impl UnifiedLog {
    /// Validates `records` (one partition's produce payload: one or more v2 batches), answers
    /// an idempotent retry with the original offsets, checks producer sequences, assigns
    /// offsets by stamping a copy of each batch header, rolls the segment if due, writes each
    /// stamped header with the untouched rest of its batch (in the page cache when this
    /// returns; the payload is never copied in memory), flushes per `flush.messages`, and
    /// wakes fetchers.
    pub fn append_as_leader(&self, records: &[u8], now_ms: i64) -> Result<LogAppendInfo, LogError> {
        self.append(records, now_ms, AppendOrigin::Client)
    }

    /// A coordinator's append to its internal topic (Kafka's origin COORDINATOR): batches
    /// may carry a producer id without sequence numbers (transactional offset commits), are
    /// never taken for duplicates, and only their producer epoch is checked.
    pub fn append_as_coordinator(
        &self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<LogAppendInfo, LogError> {
        self.append(records, now_ms, AppendOrigin::Coordinator)
    }

    fn append(
        &self,
        records: &[u8],
        now_ms: i64,
        origin: AppendOrigin,
    ) -> Result<LogAppendInfo, LogError> {
        self.check_online()?;
        let config = self.config();
        let max_message_bytes = usize::try_from(config.max_message_bytes).unwrap_or(0);
        let batches = validate_batches(records, max_message_bytes, &self.tp, origin)?;
        if config.cleanup_policy.compact {
            check_keys_for_compaction(records, &batches, &self.tp)?;
        }
        let segment_bytes = usize::try_from(config.segment_bytes).unwrap_or(0);
        if records.len() > segment_bytes {
            return Err(LogError::RecordListTooLarge {
                partition: self.tp.to_string(),
                size: records.len(),
                max: segment_bytes,
            });
        }
        let log_append_time =
            (config.message_timestamp_type == TimestampType::LogAppendTime).then_some(now_ms);
        if log_append_time.is_none() {
            let mut offset = self.log_end_offset();
            for batch in &batches {
                check_create_time(
                    batch,
                    now_ms,
                    offset,
                    config.message_timestamp_before_max_ms,
                    config.message_timestamp_after_max_ms,
                )?;
                offset += i64::from(batch.header.record_count);
            }
        }

        let mut producers = self.producers.lock();
        let log_start_offset = self.log_start_offset();
        for batch in batches.iter().filter(|_| origin == AppendOrigin::Client) {
            if let Some(dup) = producers.find_duplicate(&batch.header) {
                return Ok(LogAppendInfo {
                    first_offset: dup.first_offset,
                    last_offset: dup.last_offset,
                    log_append_time: if log_append_time.is_some() {
                        dup.timestamp
                    } else {
                        -1
                    },
                    log_start_offset,
                    record_count: dup.last_offset - dup.first_offset + 1,
                    duplicate: true,
                });
            }
        }

        let first_offset = self.log_end_offset();
        let mut next_offset = first_offset;
        let mut max_timestamp = -1i64;
        let mut pending = HashMap::new();
        let mut to_write = Vec::with_capacity(batches.len());
        for batch in &batches {
            let header = batch.header;
            if header.producer_id >= 0 {
                producers.check_sequence(&header, next_offset, &pending, origin)?;
            }
            let bytes = &records[batch.position..batch.position + header.size()];
            let Some(mut stored_batch) = BatchToAppend::whole(bytes) else {
                // Validation guarantees a whole header; a clear error rather than a panic.
                return Err(LogError::CorruptMessage(format!(
                    "batch at position {} of an append to {} is shorter than its header",
                    batch.position, self.tp
                )));
            };
            let stored_max = stamp_header(
                &mut stored_batch.header,
                stored_batch.rest,
                next_offset,
                self.leader_epoch(),
                log_append_time,
                batch.records_max_timestamp,
            );
            to_write.push(stored_batch);
            if header.producer_id >= 0 {
                let mut stored = header;
                stored.base_offset = next_offset;
                stored.max_timestamp = stored_max;
                let entry = producers.updated_entry(&stored, &pending);
                pending.insert(header.producer_id, entry);
            }
            max_timestamp = max_timestamp.max(stored_max);
            next_offset += i64::from(header.record_count);
        }
        let last_offset = next_offset - 1;

        let mut segment = self.active_segment();
        if segment.size() > 0
            && segment.should_roll(&config, records.len(), max_timestamp, last_offset, now_ms)
        {
            segment =
                self.durability
                    .note(self.roll(&mut producers, first_offset, &config, now_ms))?;
        }
        let interval = usize::try_from(config.index_interval_bytes).unwrap_or(0);
        self.durability.note(segment.append(&to_write, interval))?;
        let appended = next_offset - first_offset;
        let unflushed = self
            .unflushed_messages
            .fetch_add(appended, Ordering::AcqRel)
            + appended;
        if unflushed >= config.flush_messages {
            // Before publishing, as Kafka flushes under its append lock: a client told
            // KAFKA_STORAGE_ERROR because the flush failed never finds the records readable.
            self.flush_through(next_offset)?;
        }
        producers.apply(pending);
        self.publish_first_unstable(&producers);
        self.log_end_offset.store(next_offset, Ordering::Release);
        drop(producers);

        self.notify.notify_waiters();
        Ok(LogAppendInfo {
            first_offset,
            last_offset,
            log_append_time: log_append_time.unwrap_or(-1),
            log_start_offset,
            record_count: appended,
            duplicate: false,
        })
    }

    /// Writes a transaction marker for `producer_id` (the transaction coordinator's
    /// WriteTxnMarkers): a COMMIT or ABORT control batch, as Kafka's `appendAsLeader` with
    /// origin COORDINATOR. The producer's open transaction in this partition (if any) ends;
    /// an aborted one is added to the active segment's `.txnindex` before the last stable
    /// offset moves past it. Fails with INVALID_PRODUCER_EPOCH for an older producer epoch and
    /// TRANSACTION_COORDINATOR_FENCED for an older coordinator epoch.
    pub fn append_txn_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        marker: EndTxnMarker,
        now_ms: i64,
    ) -> Result<LogAppendInfo, LogError> {
        self.check_online()?;
        let config = self.config();
        let records = encode_end_txn_marker(producer_id, producer_epoch, marker, now_ms);
        let mut producers = self.producers.lock();
        let offset = self.log_end_offset();
        producers.check_marker(producer_id, producer_epoch, &marker, offset)?;
        let Some(mut batch) = BatchToAppend::whole(&records) else {
            return Err(LogError::CorruptMessage(
                "encoded transaction marker is shorter than a batch header".to_string(),
            ));
        };
        stamp_header(
            &mut batch.header,
            batch.rest,
            offset,
            self.leader_epoch(),
            None,
            Some(now_ms),
        );
        let mut segment = self.active_segment();
        if segment.size() > 0 && segment.should_roll(&config, records.len(), now_ms, offset, now_ms)
        {
            segment = self
                .durability
                .note(self.roll(&mut producers, offset, &config, now_ms))?;
        }
        let interval = usize::try_from(config.index_interval_bytes).unwrap_or(0);
        self.durability.note(segment.append(&[batch], interval))?;
        let unflushed = self.unflushed_messages.fetch_add(1, Ordering::AcqRel) + 1;
        if unflushed >= config.flush_messages {
            // Before publishing, as for data batches.
            self.flush_through(offset + 1)?;
        }
        if let Some((txn, lso)) =
            producers.apply_marker(producer_id, producer_epoch, &marker, offset, now_ms)
            && txn.is_aborted
        {
            // The marker is in the segment and the producer state moved on: a failed index
            // write cannot be undone (Kafka recovers the index with the log dir).
            let indexed = segment.txn_index().append(AbortedTxn {
                producer_id,
                first_offset: txn.first_offset,
                last_offset: txn.last_offset,
                last_stable_offset: lso,
            });
            self.durability
                .note(indexed.map_err(LogError::into_inconsistent))?;
        }
        self.publish_first_unstable(&producers);
        self.log_end_offset.store(offset + 1, Ordering::Release);
        let log_start_offset = self.log_start_offset();
        drop(producers);
        self.notify.notify_waiters();
        Ok(LogAppendInfo {
            first_offset: offset,
            last_offset: offset,
            log_append_time: -1,
            log_start_offset,
            record_count: 1,
            duplicate: false,
        })
    }

    /// Starts a new active segment at `new_base`: the old one gets its final time index entry
    /// and trimmed indexes, producer state is snapshotted at the new base, and the background
    /// flusher fsyncs every segment below the new base, after which the recovery point moves
    /// there. A roll that fails leaves the old segment active.
    fn roll(
        &self,
        producers: &mut ProducerStateManager,
        new_base: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<Arc<LogSegment>, LogError> {
        let started = Instant::now();
        let old = self.active_segment();
        let segment = Arc::new(LogSegment::create(
            &self.dir,
            new_base,
            index_bytes(config),
            now_ms,
        )?);
        if let Err(e) = old.on_become_inactive() {
            if let Err(undo) = segment.delete_files() {
                tracing::warn!("Could not remove the segment of a failed roll: {undo}");
            }
            return Err(e);
        }
        self.segments.write().insert(new_base, Arc::clone(&segment));
        tracing::info!(
            "[LocalLog partition={}, dir={}] Rolled new log segment at offset {new_base} in {} ms.",
            self.tp,
            self.parent_dir_display(),
            started.elapsed().as_millis()
        );
        let unsynced: Vec<Arc<LogSegment>> = self
            .segments_from(self.recovery_point())
            .into_iter()
            .filter(|s| s.base_offset() < new_base)
            .collect();
        self.durability.flush_in_background(unsynced, new_base);
        // The new segment is in place: a snapshot that cannot be written only means a longer
        // producer-state rebuild after a crash.
        if let Err(e) = self
            .durability
            .note(producers.take_snapshot(new_base, false))
        {
            tracing::warn!(
                "[LocalLog partition={}] Could not write the producer snapshot at {new_base}: {e}",
                self.tp
            );
        }
        Ok(segment)
    }

    pub(super) fn parent_dir_display(&self) -> String {
        self.dir
            .parent()
            .map_or_else(String::new, |p| p.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{append_n, new_log};
    use crate::config::{LogConfig, TimestampType};
    use crate::log::batch::test_support::{batch, idempotent_batch};
    use crate::log::check_stored_batch;

    #[test]
    fn assigns_consecutive_offsets() {
        let (_root, log) = new_log(LogConfig::default());
        let a = log.append_as_leader(&batch(3, 100, 10), 0).expect("append");
        let b = log.append_as_leader(&batch(2, 200, 10), 0).expect("append");
        assert_eq!((a.first_offset, a.last_offset, a.record_count), (0, 2, 3));
        assert_eq!((b.first_offset, b.last_offset), (3, 4));
        assert_eq!(a.log_append_time, -1);
        assert_eq!(log.log_end_offset(), 5);
        assert_eq!(log.high_watermark(), 5);
        let data = log.read(3, 1 << 20, false).expect("read").records;
        let h = check_stored_batch(&data).expect("stored batch intact");
        assert_eq!((h.base_offset, h.partition_leader_epoch), (3, 0));
    }

    #[test]
    fn log_append_time_stamps_the_batch() {
        let config = LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            ..LogConfig::default()
        };
        let (_root, log) = new_log(config);
        let info = log
            .append_as_leader(&batch(2, 100, 10), 777)
            .expect("append");
        assert_eq!(info.log_append_time, 777);
        let data = log.read(0, 1 << 20, false).expect("read").records;
        let h = check_stored_batch(&data).expect("crc recomputed");
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 777);
    }

    #[test]
    fn rejects_before_writing() {
        let config = LogConfig {
            max_message_bytes: 200,
            ..LogConfig::default()
        };
        let (_root, log) = new_log(config);
        let err = log
            .append_as_leader(&batch(5, 1, 100), 0)
            .expect_err("too large");
        assert_eq!(err.error_code(), 10);
        let config = LogConfig {
            segment_bytes: 100,
            ..LogConfig::default()
        };
        log.update_config(config);
        let err = log
            .append_as_leader(&batch(1, 1, 100), 0)
            .expect_err("bigger than a segment");
        assert_eq!(err.error_code(), 18);
        log.update_config(LogConfig::default());
        let future = 1_000 + LogConfig::default().message_timestamp_after_max_ms;
        let err = log
            .append_as_leader(&batch(1, future, 1), 999)
            .expect_err("future timestamp");
        assert_eq!(err.error_code(), 32);
        assert_eq!(log.log_end_offset(), 0);
        assert_eq!(log.size_in_bytes(), 0);
    }

    #[test]
    fn rolls_by_size_and_by_time() {
        let one = batch(1, 0, 50).len() as i32;
        let config = LogConfig {
            segment_bytes: one * 3,
            ..LogConfig::default()
        };
        let (_root, log) = new_log(config);
        append_n(&log, 7, 1, 1000);
        assert_eq!(log.segment_base_offsets(), vec![0, 3, 6]);
        assert!(log.dir().join("00000000000000000003.log").exists());
        assert!(
            log.dir().join("00000000000000000003.snapshot").exists(),
            "snapshot on roll"
        );
        let trimmed =
            std::fs::metadata(log.dir().join("00000000000000000000.index")).expect("index");
        assert_eq!(
            trimmed.len(),
            0,
            "rolled segment's index trimmed to its entries"
        );

        let config = LogConfig {
            segment_ms: 1000,
            ..LogConfig::default()
        };
        let (_root, log) = new_log(config);
        log.append_as_leader(&batch(1, 10_000, 10), 0)
            .expect("append");
        log.append_as_leader(&batch(1, 10_500, 10), 0)
            .expect("append");
        assert_eq!(log.segment_count(), 1);
        log.append_as_leader(&batch(1, 11_001, 10), 0)
            .expect("append");
        assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    }

    #[test]
    fn idempotent_duplicate_gap_and_epoch() {
        let (_root, log) = new_log(LogConfig::default());
        let first = log
            .append_as_leader(&idempotent_batch(3, 1, 5, 42, 0, 0), 0)
            .expect("first");
        log.append_as_leader(&batch(2, 1, 5), 0)
            .expect("other traffic");
        let retry = log
            .append_as_leader(&idempotent_batch(3, 1, 5, 42, 0, 0), 0)
            .expect("retry");
        assert!(retry.duplicate);
        assert_eq!(
            (retry.first_offset, retry.last_offset),
            (first.first_offset, first.last_offset)
        );
        assert_eq!(log.log_end_offset(), 5, "duplicate wrote nothing");
        let gap = log
            .append_as_leader(&idempotent_batch(1, 1, 5, 42, 0, 7), 0)
            .expect_err("gap");
        assert_eq!(gap.error_code(), 45);
        let fenced = log.append_as_leader(&idempotent_batch(1, 1, 5, 42, -1, 3), 0);
        assert_eq!(fenced.expect_err("old epoch").error_code(), 47);
        let next = log
            .append_as_leader(&idempotent_batch(1, 1, 5, 42, 0, 3), 0)
            .expect("next seq");
        assert_eq!((next.first_offset, next.duplicate), (5, false));
        assert_eq!(log.log_end_offset(), 6);
    }

    #[test]
    fn flush_messages_advances_the_recovery_point() {
        let config = LogConfig {
            flush_messages: 2,
            ..LogConfig::default()
        };
        let (_root, log) = new_log(config);
        append_n(&log, 1, 1, 0);
        assert_eq!(log.recovery_point(), 0);
        append_n(&log, 1, 1, 0);
        assert_eq!(log.recovery_point(), 2);
    }
}
