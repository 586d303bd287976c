//! The v2 record batch header: parsing, validation of produced batches, and the in-place
//! rewrite that assigns offsets.
//!
//! A batch is stored on disk exactly as the producer sent it except for the header fields the
//! broker owns (base offset, partition leader epoch, and for `LogAppendTime` the timestamp type
//! and max timestamp). Validation checks sizes, magic, CRC and counts, and walks every record's
//! length and timestamp, through a bounded decompressing stream for compressed batches.

use super::TopicPartition;
use super::compression;
use super::crc::{crc32c, crc32c_parts};
use super::error::{LogError, RecordError};
use super::records::{WalkError, walk_records};

/// Bytes before the batch length field's end: base offset (8) + batch length (4).
pub const LOG_OVERHEAD: usize = 12;
/// Size of the v2 batch header, up to the first record.
pub const RECORD_BATCH_OVERHEAD: usize = 61;
const LENGTH_OFFSET: usize = 8;
const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const BASE_TIMESTAMP_OFFSET: usize = 27;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
const BASE_SEQUENCE_OFFSET: usize = 53;
const RECORDS_COUNT_OFFSET: usize = 57;

/// The only batch format Kafka 4 accepts.
pub const MAGIC_V2: i8 = 2;
const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_MASK: i16 = 0x08;
const TRANSACTIONAL_MASK: i16 = 0x10;
const CONTROL_MASK: i16 = 0x20;
/// KIP-534: the batch's base timestamp is the time after which the cleaner may drop its
/// tombstones (and, for a control batch, the marker itself).
const DELETE_HORIZON_MASK: i16 = 0x40;
/// `NO_SEQUENCE` in Kafka.
pub const NO_SEQUENCE: i32 = -1;

/// The fixed-size header of a v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the length field; the batch occupies `batch_length + 12` bytes.
    pub batch_length: i32,
    /// Leader epoch the batch was appended under.
    pub partition_leader_epoch: i32,
    /// Format version; always 2 for batches this log writes.
    pub magic: i8,
    /// CRC-32C of everything from the attributes to the end of the batch.
    pub crc: u32,
    /// Compression codec, timestamp type, transactional and control flags.
    pub attributes: i16,
    /// `last offset - base offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest record timestamp (or the append time under `LogAppendTime`).
    pub max_timestamp: i64,
    /// Idempotent producer id, -1 if none.
    pub producer_id: i64,
    /// Producer epoch, -1 if none.
    pub producer_epoch: i16,
    /// Sequence number of the first record, -1 if none.
    pub base_sequence: i32,
    /// Number of records in the batch.
    pub record_count: i32,
}

fn be_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([buf[at], buf[at + 1]])
}
fn be_i32(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}
fn be_i64(buf: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(b)
}

impl BatchHeader {
    /// Parses the header at the start of `buf`; `None` if fewer than 61 bytes are there.
    pub fn parse(buf: &[u8]) -> Option<BatchHeader> {
        if buf.len() < RECORD_BATCH_OVERHEAD {
            return None;
        }
        Some(BatchHeader {
            base_offset: be_i64(buf, 0),
            batch_length: be_i32(buf, LENGTH_OFFSET),
            partition_leader_epoch: be_i32(buf, PARTITION_LEADER_EPOCH_OFFSET),
            magic: buf[MAGIC_OFFSET] as i8,
            crc: be_i32(buf, CRC_OFFSET) as u32,
            attributes: be_i16(buf, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_OFFSET),
            base_timestamp: be_i64(buf, BASE_TIMESTAMP_OFFSET),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(buf, PRODUCER_ID_OFFSET),
            producer_epoch: be_i16(buf, PRODUCER_EPOCH_OFFSET),
            base_sequence: be_i32(buf, BASE_SEQUENCE_OFFSET),
            record_count: be_i32(buf, RECORDS_COUNT_OFFSET),
        })
    }

    /// Total bytes the batch occupies, log overhead included (0 if the length is negative).
    pub fn size(&self) -> usize {
        usize::try_from(self.batch_length).unwrap_or(0) + LOG_OVERHEAD
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Compression codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> u8 {
        (self.attributes & COMPRESSION_MASK) as u8
    }

    /// Whether `max_timestamp` is the broker's append time rather than the producer's.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_MASK != 0
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_MASK != 0
    }

    /// Whether the batch holds control records (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_MASK != 0
    }

    /// The delete horizon the log cleaner stamped on this batch (KIP-534): its base timestamp
    /// when the flag is set.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_MASK != 0).then_some(self.base_timestamp)
    }

    /// The timestamp of a record with `timestamp_delta` in this batch: the append time for
    /// `LogAppendTime` batches, else base timestamp plus delta (Kafka's `DefaultRecord`).
    pub fn record_timestamp(&self, timestamp_delta: i64) -> i64 {
        if self.is_log_append_time() {
            self.max_timestamp
        } else {
            self.base_timestamp.wrapping_add(timestamp_delta)
        }
    }

    /// Sequence of the last record, wrapping at `i32::MAX` as Kafka's
    /// `DefaultRecordBatch.incrementSequence` does.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence == NO_SEQUENCE {
            return NO_SEQUENCE;
        }
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// `sequence + increment`, wrapping past `i32::MAX` to 0 (Kafka's sequence arithmetic).
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// Checks that a batch read back from a segment is intact: complete, v2, CRC valid. Used by
/// recovery, where any failure means the tail of the segment is torn.
pub fn check_stored_batch(buf: &[u8]) -> Result<BatchHeader, String> {
    let header = BatchHeader::parse(buf).ok_or("incomplete batch header")?;
    if header.size() < RECORD_BATCH_OVERHEAD {
        return Err(format!(
            "batch length {} below the v2 minimum",
            header.batch_length
        ));
    }
    if header.magic != MAGIC_V2 {
        return Err(format!("unexpected magic {}", header.magic));
    }
    if buf.len() < header.size() {
        return Err(format!(
            "batch of {} bytes but only {} present",
            header.size(),
            buf.len()
        ));
    }
    let computed = crc32c(&buf[ATTRIBUTES_OFFSET..header.size()]);
    if computed != header.crc {
        return Err(format!(
            "stored crc = {}, computed crc = {computed}",
            header.crc
        ));
    }
    Ok(header)
}

/// A produced batch that passed validation, with where it sits in the request buffer.
#[derive(Debug, Clone, Copy)]
pub struct ValidatedBatch {
    /// Byte position of the batch in the produce payload.
    pub position: usize,
    /// Its header as sent.
    pub header: BatchHeader,
    /// The largest record timestamp, found by walking the records (None only for a batch
    /// without records, which validation refuses).
    pub records_max_timestamp: Option<i64>,
    /// Records without a key (which a compacted topic refuses).
    pub keyless_records: u32,
}

/// Validates a produce payload (one or more v2 batches) the way Kafka's `UnifiedLog` and
/// `LogValidator` do for client appends, without decompressing anything.
pub fn validate_produce_batches(
    buf: &[u8],
    max_message_bytes: usize,
    tp: &TopicPartition,
) -> Result<Vec<ValidatedBatch>, LogError> {
    validate_batches(buf, max_message_bytes, tp, AppendOrigin::Client)
}

/// Who appends: Kafka's `AppendOrigin`. Coordinators write their own transactional batches
/// (transactional offset commits) without sequence numbers, and only their producer epoch is
/// checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A producer's Produce request: every rule applies.
    Client,
    /// A coordinator writing to its internal topic.
    Coordinator,
}

/// [`validate_produce_batches`] for an append from `origin`.
pub(crate) fn validate_batches(
    buf: &[u8],
    max_message_bytes: usize,
    tp: &TopicPartition,
    origin: AppendOrigin,
) -> Result<Vec<ValidatedBatch>, LogError> {
    let mut batches = Vec::with_capacity(1);
    let mut pos = 0usize;
    while pos < buf.len() || batches.is_empty() {
        batches.push(validate_one(
            &buf[pos..],
            pos,
            max_message_bytes,
            tp,
            origin,
        )?);
        pos += batches[batches.len() - 1].header.size();
    }
    Ok(batches)
}

fn validate_one(
    buf: &[u8],
    position: usize,
    max_message_bytes: usize,
    tp: &TopicPartition,
    origin: AppendOrigin,
) -> Result<ValidatedBatch, LogError> {
    if buf.len() <= MAGIC_OFFSET {
        return Err(LogError::InvalidRecord(format!(
            "Produce request to {tp} must have at least one complete record batch ({} trailing bytes)",
            buf.len()
        )));
    }
    // Kafka checks the magic first: an old-format message set is INVALID_RECORD, whatever
    // its (differently laid out) size fields say.
    let magic = buf[MAGIC_OFFSET] as i8;
    if magic != MAGIC_V2 {
        return Err(LogError::InvalidRecord(format!(
            "Produce requests are only allowed to contain record batches with magic version 2 (got {magic})"
        )));
    }
    let batch_length = be_i32(buf, LENGTH_OFFSET);
    let min_length = (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32;
    if batch_length < min_length {
        return Err(LogError::CorruptMessage(format!(
            "Record batch is corrupt (the size {} is smaller than the minimum allowed overhead {RECORD_BATCH_OVERHEAD})",
            i64::from(batch_length) + LOG_OVERHEAD as i64
        )));
    }
    let size = batch_length as usize + LOG_OVERHEAD;
    if size > buf.len() {
        return Err(LogError::InvalidRecord(format!(
            "Produce request to {tp} holds a truncated record batch: {size} bytes declared, {} present",
            buf.len()
        )));
    }
    let batch = &buf[..size];
    let header = BatchHeader::parse(batch).ok_or_else(|| {
        // invariant: size >= RECORD_BATCH_OVERHEAD was checked above, so this cannot happen;
        // report it as corruption rather than panicking.
        LogError::CorruptMessage("Record batch header is incomplete".into())
    })?;
    if header.base_offset != 0 {
        return Err(LogError::InvalidRecord(format!(
            "The baseOffset of the record batch in the append to {tp} should be 0, but it is {}",
            header.base_offset
        )));
    }
    if size > max_message_bytes {
        return Err(LogError::MessageTooLarge {
            partition: tp.to_string(),
            size,
            max: max_message_bytes,
        });
    }
    let computed = crc32c(&batch[ATTRIBUTES_OFFSET..]);
    if computed != header.crc {
        return Err(LogError::CorruptMessage(format!(
            "Record is corrupt (stored crc = {}, computed crc = {computed})",
            header.crc
        )));
    }
    validate_header_rules(&header, tp, origin)?;
    // Every record is walked, through a bounded decompressing stream for compressed batches
    // (Kafka's LogValidator iterates the records of both kinds).
    let records = compression::reader(header.compression(), &batch[RECORD_BATCH_OVERHEAD..])
        .map_err(|e| records_error(WalkError::Undecompressable(e.to_string()), tp))?;
    let mut max_delta: Option<i64> = None;
    let mut keyless_records = 0u32;
    walk_records(records, header.record_count, |r| {
        max_delta = Some(max_delta.map_or(r.timestamp_delta, |m| m.max(r.timestamp_delta)));
        keyless_records += u32::from(!r.has_key);
    })
    .map_err(|e| records_error(e, tp))?;
    let records_max_timestamp = max_delta.map(|d| header.base_timestamp.saturating_add(d));
    Ok(ValidatedBatch {
        position,
        header,
        records_max_timestamp,
        keyless_records,
    })
}

/// A batch whose records do not parse (`INVALID_RECORD`) or do not decompress.
fn records_error(e: WalkError, tp: &TopicPartition) -> LogError {
    let message = format!("{e} in record batch appended to {tp}");
    match e {
        WalkError::Invalid(_) => LogError::InvalidRecord(message),
        WalkError::Undecompressable(_) => LogError::Undecompressable(message),
    }
}

/// Kafka's `LogValidator.validateBatch` rules that only need the header.
fn validate_header_rules(
    header: &BatchHeader,
    tp: &TopicPartition,
    origin: AppendOrigin,
) -> Result<(), LogError> {
    if header.last_offset_delta < 0 {
        return Err(LogError::InvalidRecord(format!(
            "Batch has an invalid offset range: [{}, {}] in append to {tp}",
            header.base_offset,
            header.last_offset()
        )));
    }
    if header.record_count <= 0 {
        return Err(LogError::InvalidRecord(format!(
            "Invalid reported count for record batch: {} in append to {tp}",
            header.record_count
        )));
    }
    if i64::from(header.last_offset_delta) + 1 != i64::from(header.record_count) {
        return Err(LogError::InvalidRecord(format!(
            "Inconsistent batch offset range [{}, {}] and count of records {} in append to {tp}",
            header.base_offset,
            header.last_offset(),
            header.record_count
        )));
    }
    if header.compression() > 4 {
        return Err(LogError::InvalidRecord(format!(
            "Unknown compression type id {} in append to {tp}",
            header.compression()
        )));
    }
    if header.is_control() {
        return Err(LogError::InvalidRecord(format!(
            "Clients are not allowed to write control records (append to {tp})"
        )));
    }
    if header.is_transactional() && header.producer_id < 0 {
        return Err(LogError::InvalidRecord(format!(
            "Transactional record batch without a producer id in append to {tp}"
        )));
    }
    if header.producer_id >= 0 && header.base_sequence < 0 && origin == AppendOrigin::Client {
        return Err(LogError::InvalidRecord(format!(
            "Invalid sequence number {} in record batch with producerId {}",
            header.base_sequence, header.producer_id
        )));
    }
    Ok(())
}

/// Kafka's `LogValidator.validateTimestamp` for `CreateTime` topics: refuses a batch whose
/// newest record is more than `message.timestamp.after.max.ms` in the future, or whose first
/// record is more than `message.timestamp.before.max.ms` in the past (`INVALID_TIMESTAMP`).
/// The upper bound judges the newest record, the lower bound the header's base timestamp (the
/// first record's).
pub fn check_create_time(
    batch: &ValidatedBatch,
    now_ms: i64,
    offset: i64,
    before_max_ms: i64,
    after_max_ms: i64,
) -> Result<(), LogError> {
    let newest = batch
        .records_max_timestamp
        .unwrap_or(batch.header.max_timestamp);
    let latest_allowed = now_ms.saturating_add(after_max_ms);
    let earliest_allowed = now_ms.saturating_sub(before_max_ms);
    let out_of_range = if newest > latest_allowed {
        Some(newest)
    } else if batch.header.base_timestamp < earliest_allowed {
        Some(batch.header.base_timestamp)
    } else {
        None
    };
    if let Some(ts) = out_of_range {
        return Err(LogError::InvalidTimestamp(format!(
            "Timestamp {ts} of message with offset {offset} is out of range. The timestamp should be within [{earliest_allowed}, {latest_allowed}]"
        )));
    }
    Ok(())
}

/// Kafka's `LogValidator.validateKey`: a compacted topic refuses records without a key, each
/// one reported as a `RecordError` with its index in the batch. Validation already counted
/// them; only a batch that has some is walked again to name them.
pub fn check_keys_for_compaction(
    buf: &[u8],
    batches: &[ValidatedBatch],
    tp: &TopicPartition,
) -> Result<(), LogError> {
    let mut errors = Vec::new();
    for batch in batches.iter().filter(|b| b.keyless_records > 0) {
        let header = &batch.header;
        let stored = &buf[batch.position + RECORD_BATCH_OVERHEAD..batch.position + header.size()];
        let records = compression::reader(header.compression(), stored)
            .map_err(|e| records_error(WalkError::Undecompressable(e.to_string()), tp))?;
        let mut index = 0i32;
        walk_records(records, header.record_count, |r| {
            if !r.has_key {
                errors.push(RecordError {
                    batch_index: index,
                    message: format!(
                        "Compacted topic cannot accept message without key in topic partition {tp}."
                    ),
                });
            }
            index += 1;
        })
        .map_err(|e| records_error(e, tp))?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(LogError::RecordErrors(errors))
    }
}

/// Writes a v2 batch built by the broker itself (the log cleaner's filtered batches): the
/// fields of `header` except length and CRC, which are computed, then `records`, the records
/// section as stored (compressed when the attributes say so).
pub fn write_batch(out: &mut Vec<u8>, header: &BatchHeader, records: &[u8]) {
    let start = out.len();
    let length = (RECORD_BATCH_OVERHEAD - LOG_OVERHEAD + records.len()) as i32;
    out.extend_from_slice(&header.base_offset.to_be_bytes());
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&header.partition_leader_epoch.to_be_bytes());
    out.push(MAGIC_V2 as u8);
    out.extend_from_slice(&[0; 4]); // CRC, filled below
    out.extend_from_slice(&header.attributes.to_be_bytes());
    out.extend_from_slice(&header.last_offset_delta.to_be_bytes());
    out.extend_from_slice(&header.base_timestamp.to_be_bytes());
    out.extend_from_slice(&header.max_timestamp.to_be_bytes());
    out.extend_from_slice(&header.producer_id.to_be_bytes());
    out.extend_from_slice(&header.producer_epoch.to_be_bytes());
    out.extend_from_slice(&header.base_sequence.to_be_bytes());
    out.extend_from_slice(&header.record_count.to_be_bytes());
    out.extend_from_slice(records);
    let crc = crc32c(&out[start + ATTRIBUTES_OFFSET..]);
    out[start + CRC_OFFSET..start + CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// The attributes of a batch rewritten by the cleaner: the original's codec, timestamp type,
/// transactional and control flags, with or without the delete horizon flag.
pub fn cleaned_attributes(original: &BatchHeader, compressed: bool, delete_horizon: bool) -> i16 {
    let keep = TIMESTAMP_TYPE_MASK | TRANSACTIONAL_MASK | CONTROL_MASK;
    let mut attributes = original.attributes & keep;
    if compressed {
        attributes |= original.attributes & COMPRESSION_MASK;
    }
    if delete_horizon {
        attributes |= DELETE_HORIZON_MASK;
    }
    attributes
}

/// Stamps the broker-owned header fields of a validated batch into `header`, a copy of its
/// first [`RECORD_BATCH_OVERHEAD`] bytes, leaving the rest of the batch (`rest`) untouched:
/// base offset, partition leader epoch and, when `max_timestamp` differs from what the batch
/// carries (or the topic uses `LogAppendTime`), the timestamp type and max timestamp with a
/// fresh CRC over the stamped header and `rest`. The stored batch is `header` then `rest`, so
/// the payload is written from the request as received. Returns the max timestamp as stored.
pub fn stamp_header(
    header: &mut [u8; RECORD_BATCH_OVERHEAD],
    rest: &[u8],
    base_offset: i64,
    leader_epoch: i32,
    log_append_time: Option<i64>,
    records_max_timestamp: Option<i64>,
) -> i64 {
    header[0..8].copy_from_slice(&base_offset.to_be_bytes());
    header[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&leader_epoch.to_be_bytes());
    let attributes = be_i16(header, ATTRIBUTES_OFFSET);
    let current_max = be_i64(header, MAX_TIMESTAMP_OFFSET);
    let (new_attributes, new_max) = match log_append_time {
        Some(now) => (attributes | TIMESTAMP_TYPE_MASK, now),
        None => (
            attributes & !TIMESTAMP_TYPE_MASK,
            records_max_timestamp.unwrap_or(current_max),
        ),
    };
    if new_attributes != attributes || new_max != current_max {
        header[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2]
            .copy_from_slice(&new_attributes.to_be_bytes());
        header[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
            .copy_from_slice(&new_max.to_be_bytes());
        let crc = crc32c_parts(&[&header[ATTRIBUTES_OFFSET..], rest]);
        header[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    }
    new_max
}

/// [`stamp_header`] on a whole batch in one buffer, in place. Returns the stored max timestamp.
pub fn assign_offsets(
    batch: &mut [u8],
    base_offset: i64,
    leader_epoch: i32,
    log_append_time: Option<i64>,
    records_max_timestamp: Option<i64>,
) -> i64 {
    let (head, rest) = batch.split_at_mut(RECORD_BATCH_OVERHEAD);
    let mut header = [0u8; RECORD_BATCH_OVERHEAD];
    header.copy_from_slice(head);
    let max = stamp_header(
        &mut header,
        rest,
        base_offset,
        leader_epoch,
        log_append_time,
        records_max_timestamp,
    );
    head.copy_from_slice(&header);
    max
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builds real batches with kafka-protocol's encoder for tests across the log module.
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    /// An uncompressed batch of `count` records with timestamps `ts, ts+1, ...`, base offset 0.
    pub fn batch(count: usize, ts: i64, value_len: usize) -> BytesMut {
        idempotent_batch(count, ts, value_len, -1, -1, -1)
    }

    /// Like [`batch`] but with producer id, epoch and base sequence.
    pub fn idempotent_batch(
        count: usize,
        ts: i64,
        value_len: usize,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> BytesMut {
        let records: Vec<Record> = (0..count)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id,
                producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // The encoder groups records whose offset - sequence agree into one batch.
                sequence: base_sequence.max(0) + i as i32,
                timestamp: ts + i as i64,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(vec![b'v'; value_len])),
                headers: IndexMap::new(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .expect("encoding test records");
        if base_sequence < 0 {
            // Not idempotent: the producer sends NO_SEQUENCE.
            buf[super::BASE_SEQUENCE_OFFSET..super::BASE_SEQUENCE_OFFSET + 4]
                .copy_from_slice(&super::NO_SEQUENCE.to_be_bytes());
            let crc = super::crc32c(&buf[super::ATTRIBUTES_OFFSET..]);
            buf[super::CRC_OFFSET..super::CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        }
        buf
    }

    /// Like [`idempotent_batch`] with the transactional attribute set.
    pub fn transactional_batch(
        count: usize,
        ts: i64,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> BytesMut {
        let mut buf = idempotent_batch(count, ts, 10, producer_id, producer_epoch, base_sequence);
        let attributes = super::be_i16(&buf, super::ATTRIBUTES_OFFSET) | super::TRANSACTIONAL_MASK;
        buf[super::ATTRIBUTES_OFFSET..super::ATTRIBUTES_OFFSET + 2]
            .copy_from_slice(&attributes.to_be_bytes());
        let crc = super::crc32c(&buf[super::ATTRIBUTES_OFFSET..]);
        buf[super::CRC_OFFSET..super::CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::batch;
    use super::*;

    fn tp() -> TopicPartition {
        TopicPartition {
            topic: "t".into(),
            partition: 0,
        }
    }

    #[test]
    fn accepts_a_good_batch_and_reads_its_header() {
        let buf = batch(3, 1000, 10);
        let v = validate_produce_batches(&buf, 1 << 20, &tp()).expect("valid");
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].header.record_count, 3);
        assert_eq!(v[0].header.last_offset_delta, 2);
        assert_eq!(v[0].records_max_timestamp, Some(1002));
        assert_eq!(v[0].header.size(), buf.len());
    }

    #[test]
    fn accepts_several_batches() {
        let mut buf = batch(2, 1, 1);
        buf.extend_from_slice(&batch(1, 5, 1));
        assert_eq!(
            validate_produce_batches(&buf, 1 << 20, &tp())
                .expect("valid")
                .len(),
            2
        );
    }

    #[test]
    fn rejects_bad_crc() {
        let mut buf = batch(2, 1, 4);
        let last = buf.len() - 1;
        buf[last] ^= 0xFF;
        let err = validate_produce_batches(&buf, 1 << 20, &tp()).expect_err("crc");
        assert_eq!(err.error_code(), 2, "{err}");
    }

    #[test]
    fn rejects_old_magic() {
        let mut buf = batch(1, 1, 1);
        buf[MAGIC_OFFSET] = 1;
        let err = validate_produce_batches(&buf, 1 << 20, &tp()).expect_err("magic");
        assert_eq!(err.error_code(), 87, "{err}");
    }

    #[test]
    fn rejects_count_mismatch_with_valid_crc() {
        let mut buf = batch(3, 1, 1);
        buf[RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4].copy_from_slice(&2i32.to_be_bytes());
        let crc = crc32c(&buf[ATTRIBUTES_OFFSET..]);
        buf[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        let err = validate_produce_batches(&buf, 1 << 20, &tp()).expect_err("count");
        assert_eq!(err.error_code(), 87, "{err}");
        // Offsets and count agree, but the records section holds three records.
        buf[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
            .copy_from_slice(&1i32.to_be_bytes());
        let crc = crc32c(&buf[ATTRIBUTES_OFFSET..]);
        buf[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        let err = validate_produce_batches(&buf, 1 << 20, &tp()).expect_err("records");
        assert_eq!(err.error_code(), 87, "{err}");
    }

    #[test]
    fn rejects_truncated_and_short_batches() {
        let buf = batch(3, 1, 10);
        let err = validate_produce_batches(&buf[..buf.len() - 3], 1 << 20, &tp()).expect_err("cut");
        assert_eq!(err.error_code(), 87, "{err}");
        let err = validate_produce_batches(&buf[..5], 1 << 20, &tp()).expect_err("tiny");
        assert_eq!(err.error_code(), 87, "{err}");
        let err = validate_produce_batches(&[], 1 << 20, &tp()).expect_err("empty");
        assert_eq!(err.error_code(), 87, "{err}");
        let mut short = buf.clone();
        short[LENGTH_OFFSET..LENGTH_OFFSET + 4].copy_from_slice(&20i32.to_be_bytes());
        let err = validate_produce_batches(&short, 1 << 20, &tp()).expect_err("short");
        assert_eq!(err.error_code(), 2, "{err}");
        // Every prefix is an error, never a panic (the magic byte sits past the size field).
        for len in 0..buf.len() {
            assert!(
                validate_produce_batches(&buf[..len], 1 << 20, &tp()).is_err(),
                "{len}"
            );
        }
    }

    #[test]
    fn old_magic_is_invalid_record_whatever_its_size_fields_say() {
        let mut old = batch(3, 1, 10);
        old[MAGIC_OFFSET] = 1;
        old[LENGTH_OFFSET..LENGTH_OFFSET + 4].copy_from_slice(&20i32.to_be_bytes());
        let err = validate_produce_batches(&old, 1 << 20, &tp()).expect_err("magic 1");
        assert_eq!(err.error_code(), 87, "{err}");
    }

    #[test]
    fn rejects_too_large_and_nonzero_base_offset() {
        let buf = batch(3, 1, 100);
        let err = validate_produce_batches(&buf, buf.len() - 1, &tp()).expect_err("large");
        assert_eq!(err.error_code(), 10, "{err}");
        assert!(validate_produce_batches(&buf, buf.len(), &tp()).is_ok());
        let mut moved = buf.clone();
        moved[0..8].copy_from_slice(&5i64.to_be_bytes());
        let err = validate_produce_batches(&moved, 1 << 20, &tp()).expect_err("base offset");
        assert_eq!(err.error_code(), 87, "{err}");
    }

    #[test]
    fn assigning_offsets_keeps_the_crc_valid() {
        let mut buf = batch(4, 500, 8);
        let v = validate_produce_batches(&buf, 1 << 20, &tp()).expect("valid")[0];
        let max = assign_offsets(&mut buf, 42, 0, None, v.records_max_timestamp);
        assert_eq!(max, 503);
        let h = check_stored_batch(&buf).expect("crc still valid");
        assert_eq!(
            (h.base_offset, h.last_offset(), h.partition_leader_epoch),
            (42, 45, 0)
        );
        assert!(!h.is_log_append_time());

        let max = assign_offsets(&mut buf, 7, 0, Some(99_999), v.records_max_timestamp);
        assert_eq!(max, 99_999);
        let h = check_stored_batch(&buf).expect("crc recomputed");
        assert!(h.is_log_append_time());
        assert_eq!((h.base_offset, h.max_timestamp), (7, 99_999));
    }

    #[test]
    fn create_time_max_timestamp_is_taken_from_the_records() {
        let mut buf = batch(2, 100, 1);
        buf[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&5i64.to_be_bytes());
        let crc = crc32c(&buf[ATTRIBUTES_OFFSET..]);
        buf[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        let v = validate_produce_batches(&buf, 1 << 20, &tp()).expect("valid")[0];
        assert_eq!(
            assign_offsets(&mut buf, 0, 0, None, v.records_max_timestamp),
            101
        );
        assert_eq!(check_stored_batch(&buf).expect("valid").max_timestamp, 101);
    }

    #[test]
    fn create_time_more_than_an_hour_ahead_is_refused() {
        let buf = batch(2, 10_000_000, 1);
        let v = validate_produce_batches(&buf, 1 << 20, &tp()).expect("valid")[0];
        let hour = 3_600_000;
        assert!(check_create_time(&v, 10_000_001 - hour, 0, i64::MAX, hour).is_ok());
        let err = check_create_time(&v, 10_000_000 - hour, 0, i64::MAX, hour).expect_err("ahead");
        assert_eq!(err.error_code(), 32, "{err}");
        let err = check_create_time(&v, 10_000_000 + 5_000, 0, 1_000, hour).expect_err("too old");
        assert_eq!(err.error_code(), 32, "{err}");
    }

    #[test]
    fn sequence_wraps_at_i32_max() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(increment_sequence(5, 2), 7);
    }
}
