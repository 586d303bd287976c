//! Record-level parsing of a v2 batch's records section: enough to check each record's structure
//! and read its timestamp and offset deltas, without allocating or copying per record.
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
        r.left = usize::MAX;
        let length = r.varint()?;
        r.left = usize::try_from(length)
            .map_err(|_| WalkError::from(format!("Invalid record size {length}: negative")))?;
        let _attributes = r.byte()?;
        let timestamp_delta = r.varlong()?;
        let offset_delta = r.varint()?;
        r.skip_field()?; // key
        r.skip_field()?; // value
        let headers = r.varint()?;
        if headers < 0 {
            return Err(format!("Found invalid number of record headers {headers}").into());
        }
        for _ in 0..headers {
            let key = r.skip_field()?;
            if key < 0 {
                return Err(format!("Invalid negative header key size {key}").into());
            }
            r.skip_field()?;
        }
        if r.left > 0 {
            return Err(format!(
                "Invalid record size: expected to read {length} bytes in record payload, but there are still {} bytes remaining",
                r.left
            )
            .into());
        }
        visit(RecordSummary {
            offset_delta,
            timestamp_delta,
        });
    }
    if !r.body.fill_buf().map_err(stream_error)?.is_empty() {
        return Err("Incorrect declared batch size, records still remaining in file".into());
    }
    Ok(())
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
                    timestamp_delta: 0
                },
                RecordSummary {
                    offset_delta: 1,
                    timestamp_delta: 7
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
}
