//! The fetch path and ListOffsets lookups.

use super::UnifiedLog;
use crate::log::batch::{BatchHeader, RECORD_BATCH_OVERHEAD};
use crate::log::compression::reader;
use crate::log::error::LogError;
use crate::log::records::walk_records;
use crate::log::segment::LogSegment;
use crate::log::{FetchDataInfo, FileRecords, Isolation, TimestampAndOffset};

impl UnifiedLog {
    /// Whole batches starting at the one containing `offset`, at most `max_bytes`, from one
    /// segment: the first holding data at or after `offset` (Kafka's `LocalLog.read`; the
    /// client fetches again for the next segment). With `min_one_batch` the first batch comes
    /// whole even if larger (KIP-74). The records are a slice of the segment file, not read.
    /// `OffsetOutOfRange` below the log start or above the log end; empty at the log end.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<FetchDataInfo, LogError> {
        self.read_isolated(offset, max_bytes, min_one_batch, Isolation::ReadUncommitted)
    }

    /// [`read`](Self::read) at an isolation level: `ReadCommitted` stops at the last stable
    /// offset and lists the aborted transactions overlapping the data returned (Kafka's
    /// `FetchIsolation.TXN_COMMITTED`), so the consumer can drop their records.
    pub fn read_isolated(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        isolation: Isolation,
    ) -> Result<FetchDataInfo, LogError> {
        self.check_online()?;
        // The high watermark first: the LSO read after it is never past an open transaction.
        let high_watermark = self.high_watermark();
        let last_stable_offset = self.last_stable_offset();
        let max_offset = match isolation {
            Isolation::ReadUncommitted => high_watermark,
            Isolation::ReadCommitted => last_stable_offset,
        };
        let log_start_offset = self.log_start_offset();
        if offset < log_start_offset || offset > high_watermark {
            return Err(LogError::OffsetOutOfRange {
                partition: self.tp.to_string(),
                offset,
                log_start_offset,
                log_end_offset: high_watermark,
            });
        }
        let mut records = FileRecords::empty();
        let mut next_offset = None;
        if offset < max_offset {
            for segment in self.segments_from(offset) {
                let (read, progress) =
                    segment.read(offset, max_bytes, min_one_batch, max_offset)?;
                records = read;
                next_offset = progress.next_offset;
                if !records.is_empty() || !progress.exhausted {
                    break;
                }
            }
        }
        let aborted_transactions = match isolation {
            Isolation::ReadUncommitted => None,
            Isolation::ReadCommitted => Some(match next_offset {
                Some(upper) => self.collect_aborted_transactions(offset, upper),
                None => Vec::new(),
            }),
        };
        Ok(FetchDataInfo {
            records,
            high_watermark,
            last_stable_offset,
            log_start_offset,
            aborted_transactions,
        })
    }

    /// ListOffsets by timestamp: the earliest record with timestamp >= `target`, exact to the
    /// record (compressed batches are decompressed). `None` if no record is that recent.
    pub fn fetch_offset_by_timestamp(
        &self,
        target: i64,
    ) -> Result<Option<TimestampAndOffset>, LogError> {
        self.check_online()?;
        let start = self.log_start_offset();
        for segment in self.segments_from(start) {
            if segment.max_timestamp_and_offset().0 < target {
                continue;
            }
            let mut position = segment.timestamp_search_start(target, start);
            while let Some((at, header)) = segment.find_batch_from(position, |h| {
                h.max_timestamp >= target && h.last_offset() >= start
            })? {
                let found = first_record(&segment, at, &header, |ts, off| {
                    ts >= target && off >= start
                })?;
                if found.is_some() {
                    return Ok(found);
                }
                position = at + header.size() as u64;
            }
        }
        Ok(None)
    }

    /// ListOffsets `MAX_TIMESTAMP` (-3): the first record carrying the largest timestamp in the
    /// log. `None` for a log without records.
    pub fn max_timestamp_and_offset(&self) -> Result<Option<TimestampAndOffset>, LogError> {
        self.check_online()?;
        let segments = self.segments_from(self.log_start_offset());
        let mut best: Option<(i64, i64, &LogSegment)> = None;
        for segment in &segments {
            let (ts, off) = segment.max_timestamp_and_offset();
            if ts >= 0 && best.is_none_or(|(best_ts, _, _)| ts > best_ts) {
                best = Some((ts, off, segment));
            }
        }
        let Some((max_ts, offset, segment)) = best else {
            return Ok(None);
        };
        let mut position = match segment.translate_offset(offset)? {
            Some((at, _)) => at,
            None => return Ok(None),
        };
        // The index points at the batch whose last offset is `offset`; the record itself is
        // the first one in it carrying `max_ts` (searching on if a rebuild moved things).
        while let Some((at, header)) =
            segment.find_batch_from(position, |h| h.max_timestamp >= max_ts)?
        {
            let found = first_record(segment, at, &header, |ts, _| ts == max_ts)?;
            if found.is_some() {
                return Ok(found);
            }
            position = at + header.size() as u64;
        }
        Ok(None)
    }
}

/// The first record of the batch at `position` for which `matches(timestamp, offset)`.
fn first_record(
    segment: &LogSegment,
    position: u64,
    header: &BatchHeader,
    matches: impl Fn(i64, i64) -> bool,
) -> Result<Option<TimestampAndOffset>, LogError> {
    let answer = |timestamp, offset| TimestampAndOffset {
        timestamp,
        offset,
        leader_epoch: header.partition_leader_epoch,
    };
    if header.is_log_append_time() {
        // Every record of a LogAppendTime batch carries the batch's max timestamp.
        return Ok((header.base_offset..=header.last_offset())
            .find(|&off| matches(header.max_timestamp, off))
            .map(|off| answer(header.max_timestamp, off)));
    }
    let batch = segment.read_bytes(position, header.size())?;
    // Streamed, never expanded whole: memory stays bounded whatever the batch expands to.
    let body = reader(header.compression(), &batch[RECORD_BATCH_OVERHEAD..]).map_err(|e| {
        LogError::CorruptMessage(format!(
            "batch at offset {} in {}: {e}",
            header.base_offset,
            segment.log_path().display()
        ))
    })?;
    let mut found = None;
    walk_records(body, header.record_count, |r| {
        // Java's long arithmetic, as Kafka's `DefaultRecord` computes it: a batch may carry
        // any base timestamp and deltas, and an overflow is not a reason to fail (or panic).
        let (ts, off) = (
            header.base_timestamp.wrapping_add(r.timestamp_delta),
            header.base_offset.wrapping_add(i64::from(r.offset_delta)),
        );
        if found.is_none() && matches(ts, off) {
            found = Some(answer(ts, off));
        }
    })
    .map_err(|e| {
        LogError::CorruptMessage(format!("batch at offset {}: {e}", header.base_offset))
    })?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{append_n, new_log};
    use crate::config::LogConfig;
    use crate::log::batch::test_support::batch;
    use crate::log::{BatchHeader, TimestampAndOffset};
    use bytes::BytesMut;
    use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};
    use proptest::prelude::*;
    use std::io::Write;

    fn batches_in(data: &[u8]) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let mut at = 0;
        while let Some(h) = BatchHeader::parse(&data[at..]) {
            out.push((h.base_offset, h.last_offset()));
            at += h.size();
        }
        assert_eq!(at, data.len(), "only whole batches");
        out
    }

    #[test]
    fn reads_one_segment_at_a_time_with_max_bytes_and_kip74() {
        let one = batch(2, 0, 50).len();
        let config = LogConfig {
            segment_bytes: (one * 3) as i32,
            index_interval_bytes: 1,
            ..LogConfig::default()
        };
        let (_root, log) = new_log(config);
        append_n(&log, 10, 2, 1000);
        assert_eq!(log.segment_count(), 4);
        let first = log.read(0, 1 << 20, false).expect("read");
        assert_eq!(
            batches_in(&first.records),
            vec![(0, 1), (2, 3), (4, 5)],
            "one segment, as Kafka's LocalLog.read"
        );
        assert_eq!(first.high_watermark, 20);
        let mut next = 0;
        let mut all = Vec::new();
        while next < 20 {
            let got = log.read(next, 1 << 20, false).expect("read");
            let b = batches_in(&got.records);
            next = b.last().expect("progress").1 + 1;
            all.extend(b);
        }
        assert_eq!(all.len(), 10, "reading on covers every segment");
        let mid = log.read(7, one * 2 + 10, false).expect("read");
        assert_eq!(batches_in(&mid.records), vec![(6, 7), (8, 9)]);
        assert!(
            log.read(7, one - 1, false)
                .expect("read")
                .records
                .is_empty()
        );
        assert_eq!(
            batches_in(&log.read(7, 1, true).expect("read").records),
            vec![(6, 7)]
        );
        assert!(log.read(20, 100, true).expect("at end").records.is_empty());
        assert_eq!(
            log.read(21, 100, true).expect_err("past end").error_code(),
            1
        );
        assert_eq!(
            log.read(-1, 100, true)
                .expect_err("before start")
                .error_code(),
            1
        );
    }

    #[test]
    fn finds_offsets_by_timestamp_and_max_timestamp() {
        let one = batch(3, 0, 10).len();
        let config = LogConfig {
            segment_bytes: (one * 2) as i32,
            index_interval_bytes: 1,
            ..LogConfig::default()
        };
        let (_root, log) = new_log(config);
        assert_eq!(log.max_timestamp_and_offset().expect("empty"), None);
        // Batches of 3 records with timestamps 100..102, 200..202, ... 500..502.
        for i in 1..=5 {
            log.append_as_leader(&batch(3, i * 100, 10), 0)
                .expect("append");
        }
        let at = |t| {
            log.fetch_offset_by_timestamp(t)
                .expect("lookup")
                .map(|x| (x.timestamp, x.offset))
        };
        assert_eq!(at(0), Some((100, 0)));
        assert_eq!(at(101), Some((101, 1)));
        assert_eq!(at(150), Some((200, 3)));
        assert_eq!(at(402), Some((402, 11)));
        assert_eq!(at(503), None);
        assert_eq!(
            log.max_timestamp_and_offset().expect("max"),
            Some(TimestampAndOffset {
                timestamp: 502,
                offset: 14,
                leader_epoch: 0
            })
        );
    }

    /// Issue #10 item 13: a stored batch whose base timestamp plus a record's delta overflows
    /// used to panic the lookup (debug builds); Kafka wraps, as Java longs do.
    #[test]
    fn timestamp_lookup_survives_extreme_timestamp_deltas() {
        let (_root, log) = new_log(LogConfig {
            message_timestamp_after_max_ms: i64::MAX,
            ..LogConfig::default()
        });
        let mut b = batch(2, 0, 10);
        b[27..35].copy_from_slice(&i64::MAX.to_be_bytes());
        let crc = crate::log::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        log.append_as_leader(&b, 0).expect("append");
        let hit = log.fetch_offset_by_timestamp(0).expect("lookup");
        assert_eq!(hit.map(|h| (h.offset, h.timestamp)), Some((0, i64::MAX)));
        assert!(log.max_timestamp_and_offset().expect("max").is_some());
    }

    #[test]
    fn timestamp_lookup_decompresses_batches() {
        let (_root, log) = new_log(LogConfig::default());
        let records: Vec<_> = (0..4)
            .map(|i| kafka_protocol::records::Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: kafka_protocol::records::TimestampType::Creation,
                offset: i,
                sequence: i as i32,
                timestamp: 1000 + i * 10,
                key: None,
                value: Some(bytes::Bytes::from_static(
                    b"compressible compressible compressible",
                )),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode_with_custom_compression(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::Gzip,
            },
            Some(|raw: &mut BytesMut, out: &mut BytesMut, _c: Compression| {
                let mut gz =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(raw)?;
                out.extend_from_slice(&gz.finish()?);
                Ok(())
            }),
        )
        .expect("encode gzip batch");
        log.append_as_leader(&buf, 0).expect("append compressed");
        let hit = log
            .fetch_offset_by_timestamp(1015)
            .expect("lookup")
            .expect("found");
        assert_eq!((hit.timestamp, hit.offset), (1020, 2));
        assert_eq!(
            log.max_timestamp_and_offset()
                .expect("max")
                .map(|x| x.offset),
            Some(3)
        );
    }

    #[test]
    fn concurrent_reads_see_only_whole_committed_batches() {
        let one = batch(2, 0, 50).len();
        let config = LogConfig {
            segment_bytes: (one * 5) as i32,
            index_interval_bytes: 1,
            ..LogConfig::default()
        };
        let (_root, log) = new_log(config);
        let log = std::sync::Arc::new(log);
        let reader = {
            let log = std::sync::Arc::clone(&log);
            std::thread::spawn(move || {
                let mut reads = 0;
                loop {
                    let done = log.log_end_offset() >= 400;
                    let got = log.read(0, 1 << 20, false).expect("read");
                    let mut expected_base = 0;
                    let mut at = 0;
                    while at < got.records.len() {
                        let h = crate::log::check_stored_batch(&got.records[at..])
                            .expect("whole, valid batch");
                        assert_eq!(h.base_offset, expected_base, "no gaps");
                        expected_base = h.last_offset() + 1;
                        at += h.size();
                    }
                    assert!(
                        expected_base <= got.high_watermark,
                        "nothing past the high watermark"
                    );
                    reads += 1;
                    if done {
                        break reads;
                    }
                }
            })
        };
        append_n(&log, 200, 2, 0);
        assert!(reader.join().expect("reader thread") > 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn append_read_round_trip(sizes in proptest::collection::vec((1usize..5, 0usize..150), 1..25), seg in 800i32..3000) {
            let config = LogConfig { segment_bytes: seg, index_interval_bytes: 256, ..LogConfig::default() };
            let (_root, log) = new_log(config);
            let mut expected = Vec::new();
            for (i, (count, value)) in sizes.iter().enumerate() {
                let info = log.append_as_leader(&batch(*count, i as i64, *value), 0).expect("append");
                expected.push((info.first_offset, info.last_offset));
            }
            let mut all = Vec::new();
            let mut next = 0;
            while next < log.log_end_offset() {
                let got = batches_in(&log.read(next, usize::MAX / 2, false).expect("read").records);
                next = got.last().map_or(i64::MAX, |b| b.1 + 1);
                all.extend(got);
            }
            prop_assert_eq!(all, expected.clone());
            for (first, last) in &expected {
                for target in *first..=*last {
                    let got = log.read(target, 1, true).expect("read");
                    prop_assert_eq!(batches_in(&got.records), vec![(*first, *last)]);
                }
            }
        }
    }
}
