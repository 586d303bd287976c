//! Record-level parsing of a v2 batch's records section: enough to check each record's structure
//! and read its timestamp and offset deltas and whether it has a key, without allocating or
//! copying per record; and, for the log cleaner, records borrowed whole from an expanded
//! section ([`RecordView`]) and written back with a new timestamp delta.
//!
//! Each record is `length: varint` followed by `length` bytes: `attributes: int8`,
//! `timestampDelta: varlong`, `offsetDelta: varint`, `key` and `value` (varint length, -1 for
//! null, then the bytes), `headers: varint` count of (key, value) pairs alike.

use std::io::BufRead;

/// The parts of a record the log needs: where it sits in the batch and when it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSummary {
    /// Offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// Timestamp relative to the batch's base timestamp.
    pub timestamp_delta: i64,
    /// Whether the key is non-null (compacted topics refuse records without one).
    pub has_key: bool,
}

/// Reads a zigzag varint (Kafka's `ByteUtils.readVarint`) at `*pos`, advancing it.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Option<i32> {
    let mut r = RecordReader::new(buf.get(*pos..)?);
    let value = r.varint().ok()?;
    *pos = buf.len() - r.body.len();
    Some(value)
}

/// Reads a zigzag varlong (Kafka's `ByteUtils.readVarlong`) at `*pos`, advancing it.
pub fn read_varlong(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let mut r = RecordReader::new(buf.get(*pos..)?);
    let value = r.varlong().ok()?;
    *pos = buf.len() - r.body.len();
    Some(value)
}

/// The error for a record that does not parse, in Kafka's words.
const INVALID_RECORD: &str = "Found invalid record structure";

/// Why the records of a batch could not be walked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    /// A record or the record count breaks the format (Kafka's `InvalidRecordException`),
    /// including records that end before the count does.
    #[error("{0}")]
    Invalid(String),
    /// The decompressor refused its input (Kafka: "Failed to decompress record stream").
    #[error("{0}")]
    Undecompressable(String),
}

impl From<&str> for WalkError {
    fn from(reason: &str) -> WalkError {
        WalkError::Invalid(reason.into())
    }
}

impl From<String> for WalkError {
    fn from(reason: String) -> WalkError {
        WalkError::Invalid(reason)
    }
}

/// Walks `count` records of a batch's records section, calling `visit` for each, with Kafka's
/// checks (`DefaultRecord.readFrom`): every record's key, value and headers must add up to its
/// length, and exactly `count` records must fill the section. Fails with Kafka's wording.
///
/// `body` is either the stored bytes of an uncompressed batch (a `&[u8]`, walked in place) or a
/// decompressing reader from [`super::compression::reader`]. Keys, values and headers are
/// skipped, never copied, so a compressed batch is never expanded whole: memory stays the
/// decompressor's own, whatever the records add up to (Kafka's `skipKeyValueIterator`).
pub fn walk_records(
    body: impl BufRead,
    count: i32,
    mut visit: impl FnMut(RecordSummary),
) -> Result<(), WalkError> {
    let mut r = RecordReader::new(body);
    for _ in 0..count {
        let start = r.begin_record()?;
        let key = r.skip_field()?;
        r.skip_field()?; // value
        r.finish_record(start.length)?;
        visit(RecordSummary {
            offset_delta: start.offset_delta,
            timestamp_delta: start.timestamp_delta,
            has_key: key >= 0,
        });
    }
    if !r.body.fill_buf().map_err(stream_error)?.is_empty() {
        return Err("Incorrect declared batch size, records still remaining in file".into());
    }
    Ok(())
}

/// One record of an uncompressed (or expanded) records section, borrowed from it: what the
/// cleaner decides on parsed, the rest (key, value, headers) kept as bytes to copy as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// The record's attributes byte (unused by Kafka so far, copied through).
    pub attributes: u8,
    /// Offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// Timestamp relative to the batch's base timestamp.
    pub timestamp_delta: i64,
    /// The key; `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// Whether the value is non-null (a null value is a tombstone).
    pub has_value: bool,
    /// Everything from the key length to the end of the headers, unchanged.
    pub tail: &'a [u8],
}

/// Parses the record at `*pos` of `body` with [`walk_records`]' checks, advancing `*pos`.
pub fn next_record<'a>(body: &'a [u8], pos: &mut usize) -> Result<RecordView<'a>, WalkError> {
    let rest = body.get(*pos..).ok_or(INVALID_RECORD)?;
    let mut r = RecordReader::new(rest);
    // Positions in `rest` follow from how much of it the reader has left.
    let at = |r: &RecordReader<&[u8]>| rest.len() - r.body.len();
    let start = r.begin_record()?;
    let tail_start = at(&r);
    let key_len = r.skip_field()?;
    let key_end = at(&r);
    let has_value = r.skip_field()? >= 0;
    r.finish_record(start.length)?;
    let end = at(&r);
    let key = usize::try_from(key_len)
        .ok()
        .map(|len| &rest[key_end - len..key_end]);
    *pos += end;
    Ok(RecordView {
        attributes: start.attributes,
        offset_delta: start.offset_delta,
        timestamp_delta: start.timestamp_delta,
        key,
        has_value,
        tail: &rest[tail_start..end],
    })
}

/// Appends `value` as a zigzag varint (Kafka's `ByteUtils.writeVarint`).
pub fn write_varint(out: &mut Vec<u8>, value: i32) {
    write_unsigned(out, u64::from(((value << 1) ^ (value >> 31)) as u32));
}

/// Appends `value` as a zigzag varlong (Kafka's `ByteUtils.writeVarlong`).
pub fn write_varlong(out: &mut Vec<u8>, value: i64) {
    write_unsigned(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn write_unsigned(out: &mut Vec<u8>, mut raw: u64) {
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

/// Bytes `value` takes as a zigzag varlong.
pub fn varlong_size(value: i64) -> usize {
    let raw = ((value << 1) ^ (value >> 63)) as u64;
    (64 - raw.leading_zeros() as usize).max(1).div_ceil(7)
}

/// Appends `record` with a new timestamp delta (the offset delta and everything after it
/// unchanged): how the cleaner re-bases the records it keeps.
pub fn write_record(out: &mut Vec<u8>, record: &RecordView<'_>, timestamp_delta: i64) {
    let body_len = 1
        + varlong_size(timestamp_delta)
        + varlong_size(i64::from(record.offset_delta))
        + record.tail.len();
    write_varlong(out, body_len as i64);
    out.push(record.attributes);
    write_varlong(out, timestamp_delta);
    write_varint(out, record.offset_delta);
    out.extend_from_slice(record.tail);
}

/// The fields before a record's key.
struct RecordStart {
    /// The record's length.
    length: i32,
    attributes: u8,
    timestamp_delta: i64,
    offset_delta: i32,
}

/// Reads the fields of one record at a time, never past its length.
struct RecordReader<R> {
    body: R,
    /// Bytes left in the current record.
    left: usize,
}

impl<R: BufRead> RecordReader<R> {
    fn new(body: R) -> RecordReader<R> {
        RecordReader {
            body,
            left: usize::MAX,
        }
    }

    fn byte(&mut self) -> Result<u8, WalkError> {
        if self.left == 0 {
            return Err(INVALID_RECORD.into());
        }
        let byte = *self
            .body
            .fill_buf()
            .map_err(stream_error)?
            .first()
            .ok_or(INVALID_RECORD)?;
        self.body.consume(1);
        self.left -= 1;
        Ok(byte)
    }

    fn unsigned(&mut self, max_bytes: usize) -> Result<u64, WalkError> {
        let mut value = 0u64;
        for i in 0..max_bytes {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(INVALID_RECORD.into())
    }

    /// A record's length and the fields before its key.
    fn begin_record(&mut self) -> Result<RecordStart, WalkError> {
        self.left = usize::MAX;
        let length = self.varint()?;
        self.left = usize::try_from(length)
            .map_err(|_| WalkError::from(format!("Invalid record size {length}: negative")))?;
        Ok(RecordStart {
            length,
            attributes: self.byte()?,
            timestamp_delta: self.varlong()?,
            offset_delta: self.varint()?,
        })
    }

    /// The headers after a record's value, and the check that they end the record.
    fn finish_record(&mut self, length: i32) -> Result<(), WalkError> {
        let headers = self.varint()?;
        if headers < 0 {
            return Err(format!("Found invalid number of record headers {headers}").into());
        }
        for _ in 0..headers {
            let key = self.skip_field()?;
            if key < 0 {
                return Err(format!("Invalid negative header key size {key}").into());
            }
            self.skip_field()?;
        }
        if self.left > 0 {
            return Err(format!(
                "Invalid record size: expected to read {length} bytes in record payload, but there are still {} bytes remaining",
                self.left
            )
            .into());
        }
        Ok(())
    }

    /// A zigzag varint (Kafka's `ByteUtils.readVarint`).
    fn varint(&mut self) -> Result<i32, WalkError> {
        let raw = u32::try_from(self.unsigned(5)?).map_err(|_| INVALID_RECORD)?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// A zigzag varlong (Kafka's `ByteUtils.readVarlong`).
    fn varlong(&mut self) -> Result<i64, WalkError> {
        let raw = self.unsigned(10)?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// Skips a length-delimited field (a negative length is null) and returns its length.
    fn skip_field(&mut self) -> Result<i32, WalkError> {
        let len = self.varint()?;
        let mut n = usize::try_from(len).unwrap_or(0);
        if n > self.left {
            return Err(INVALID_RECORD.into());
        }
        self.left -= n;
        while n > 0 {
            let available = self.body.fill_buf().map_err(stream_error)?.len();
            if available == 0 {
                return Err(INVALID_RECORD.into());
            }
            let step = available.min(n);
            self.body.consume(step);
            n -= step;
        }
        Ok(len)
    }
}

/// A read failure, which only a decompressor reports (its message names the codec); records
/// that merely end early are [`WalkError::Invalid`].
fn stream_error(e: std::io::Error) -> WalkError {
    WalkError::Undecompressable(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zigzag(v: i64) -> u64 {
        ((v << 1) ^ (v >> 63)) as u64
    }

    fn put_varlong(out: &mut Vec<u8>, v: i64) {
        let mut raw = zigzag(v);
        while raw >= 0x80 {
            out.push((raw as u8) | 0x80);
            raw >>= 7;
        }
        out.push(raw as u8);
    }

    fn record(ts_delta: i64, off_delta: i64, value: &[u8]) -> Vec<u8> {
        let mut body = vec![0u8];
        put_varlong(&mut body, ts_delta);
        put_varlong(&mut body, off_delta);
        put_varlong(&mut body, -1); // null key
        put_varlong(&mut body, value.len() as i64);
        body.extend_from_slice(value);
        put_varlong(&mut body, 0); // no headers
        let mut out = Vec::new();
        put_varlong(&mut out, body.len() as i64);
        out.extend(body);
        out
    }

    #[test]
    fn varints_round_trip() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            i32::MAX as i64,
            i32::MIN as i64,
        ] {
            let mut buf = Vec::new();
            put_varlong(&mut buf, v);
            let mut pos = 0;
            assert_eq!(read_varint(&buf, &mut pos), Some(v as i32));
            assert_eq!(pos, buf.len());
        }
        let mut buf = Vec::new();
        put_varlong(&mut buf, i64::MIN);
        assert_eq!(read_varlong(&buf, &mut 0), Some(i64::MIN));
        assert_eq!(read_varint(&[0x80, 0x80], &mut 0), None);
    }

    #[test]
    fn walks_records_and_rejects_bad_counts() {
        let mut body = record(0, 0, b"a");
        body.extend(record(7, 1, b"bb"));
        let mut seen = Vec::new();
        walk_records(&body[..], 2, |r| seen.push(r)).expect("two good records");
        assert_eq!(
            seen,
            vec![
                RecordSummary {
                    offset_delta: 0,
                    timestamp_delta: 0,
                    has_key: false
                },
                RecordSummary {
                    offset_delta: 1,
                    timestamp_delta: 7,
                    has_key: false
                }
            ]
        );
        assert!(walk_records(&body[..], 1, |_| {}).is_err(), "bytes remain");
        assert!(
            walk_records(&body[..], 3, |_| {}).is_err(),
            "too few records"
        );
        assert!(
            walk_records(&body[..body.len() - 1], 2, |_| {}).is_err(),
            "truncated"
        );
    }

    /// A record of `fields` (after attributes and the two deltas) behind its length.
    fn raw_record(fields: &[i64], extra: &[u8]) -> Vec<u8> {
        let mut body = vec![0u8, 0, 0];
        for &f in fields {
            put_varlong(&mut body, f);
        }
        body.extend_from_slice(extra);
        let mut out = Vec::new();
        put_varlong(&mut out, body.len() as i64);
        out.extend(body);
        out
    }

    #[test]
    fn checks_each_record_adds_up_as_kafka_does() {
        let walk = |r: &[u8]| walk_records(r, 1, |_| {});
        // Null key, 1-byte value, one header ("k" → null).
        assert_eq!(walk(&raw_record(&[-1, 1], &[b'v', 2, 2, b'k', 1])), Ok(()));
        assert_eq!(
            walk(&raw_record(&[-1, -1, -1], &[])),
            Err(WalkError::from("Found invalid number of record headers -1"))
        );
        assert_eq!(
            walk(&raw_record(&[-1, -1, 1, -1, -1], &[])),
            Err(WalkError::from("Invalid negative header key size -1"))
        );
        // A value longer than the record.
        assert_eq!(
            walk(&raw_record(&[-1, 5, 0], &[])),
            Err(WalkError::from(INVALID_RECORD))
        );
        // Bytes left in the record after its headers.
        assert!(
            walk(&raw_record(&[-1, -1, 0], &[9]))
                .unwrap_err()
                .to_string()
                .contains("bytes remaining"),
        );
    }

    #[test]
    fn writers_agree_with_readers() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            i64::from(i32::MAX),
            i64::MIN,
            i64::MAX,
        ] {
            let mut ours = Vec::new();
            write_varlong(&mut ours, v);
            let mut theirs = Vec::new();
            put_varlong(&mut theirs, v);
            assert_eq!(ours, theirs);
            assert_eq!(ours.len(), varlong_size(v));
            if let Ok(narrow) = i32::try_from(v) {
                let mut int = Vec::new();
                write_varint(&mut int, narrow);
                assert_eq!(int, ours);
            }
        }
    }

    #[test]
    fn record_views_borrow_keys_and_rewrite_only_the_timestamp() {
        // key "key", value "value", one header ("h", null)
        let mut body = vec![0u8];
        put_varlong(&mut body, 5);
        put_varlong(&mut body, 3);
        put_varlong(&mut body, 3);
        body.extend_from_slice(b"key");
        put_varlong(&mut body, 5);
        body.extend_from_slice(b"value");
        put_varlong(&mut body, 1);
        put_varlong(&mut body, 1);
        body.push(b'h');
        put_varlong(&mut body, -1);
        let mut original = Vec::new();
        put_varlong(&mut original, body.len() as i64);
        original.extend(body);
        let mut section = original.clone();
        section.extend(record(0, 4, b"v")); // null key
        let mut pos = 0;
        let view = next_record(&section, &mut pos).expect("parse");
        assert_eq!(pos, original.len());
        assert_eq!((view.offset_delta, view.timestamp_delta), (3, 5));
        assert_eq!((view.key, view.has_value), (Some(&b"key"[..]), true));
        let second = next_record(&section, &mut pos).expect("second");
        assert_eq!(
            (second.key, second.has_value, pos),
            (None, true, section.len())
        );
        let mut same = Vec::new();
        write_record(&mut same, &view, 5);
        assert_eq!(same, original);
        let mut moved = Vec::new();
        write_record(&mut moved, &view, -1_000_000_000_000);
        let again = next_record(&moved, &mut 0).expect("rewritten");
        assert_eq!(again.timestamp_delta, -1_000_000_000_000);
        assert_eq!(
            (again.offset_delta, again.key, again.tail),
            (3, view.key, view.tail)
        );
        assert!(next_record(&original[..original.len() - 1], &mut 0).is_err());
    }
}
