//! Record-level parsing of a v2 batch's records section: enough to count records, read their
//! timestamps, offset deltas and keys, and tell tombstones apart, without allocating per
//! record; and the writer the log cleaner uses to re-base the records it keeps.
//!
//! Each record is `length: varint` followed by `length` bytes: `attributes: int8`,
//! `timestampDelta: varlong`, `offsetDelta: varint`, `keyLength: varint` and key,
//! `valueLength: varint` and value (-1 for null), then headers, which are kept as bytes.

/// Reads a zigzag varint (Kafka's `ByteUtils.readVarint`) at `*pos`, advancing it.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Option<i32> {
    let raw = read_unsigned_varlong(buf, pos, 5)?;
    let raw = u32::try_from(raw).ok()?;
    Some(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Reads a zigzag varlong (Kafka's `ByteUtils.readVarlong`) at `*pos`, advancing it.
pub fn read_varlong(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let raw = read_unsigned_varlong(buf, pos, 10)?;
    Some(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

fn read_unsigned_varlong(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..max_bytes {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// One record of an uncompressed records section, borrowed from it: the fields the log needs
/// parsed, the rest (key, value, headers) kept as bytes so it can be copied as is.
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

/// Parses the record at `*pos` of `body`, advancing `*pos` past it. Fails with Kafka's
/// wording if the record is malformed or runs past the end.
pub fn next_record<'a>(body: &'a [u8], pos: &mut usize) -> Result<RecordView<'a>, String> {
    const INVALID: &str = "Found invalid record structure";
    let length = read_varint(body, pos).ok_or(INVALID)?;
    let length =
        usize::try_from(length).map_err(|_| format!("Invalid record size {length}: negative"))?;
    let end = pos
        .checked_add(length)
        .filter(|&end| end <= body.len())
        .ok_or(INVALID)?;
    let record = &body[*pos..end];
    *pos = end;
    let attributes = *record.first().ok_or(INVALID)?;
    let mut cursor = 1usize;
    let timestamp_delta = read_varlong(record, &mut cursor).ok_or(INVALID)?;
    let offset_delta = read_varint(record, &mut cursor).ok_or(INVALID)?;
    let tail_start = cursor;
    let field = |cursor: &mut usize| -> Result<Option<&'a [u8]>, String> {
        let len = read_varint(record, cursor).ok_or(INVALID)?;
        if len < 0 {
            return Ok(None);
        }
        let start = *cursor;
        let stop = start
            .checked_add(len as usize)
            .filter(|&e| e <= record.len())
            .ok_or(INVALID)?;
        *cursor = stop;
        Ok(Some(&record[start..stop]))
    };
    let key = field(&mut cursor)?;
    let has_value = field(&mut cursor)?.is_some();
    Ok(RecordView {
        attributes,
        offset_delta,
        timestamp_delta,
        key,
        has_value,
        tail: &record[tail_start..],
    })
}

/// Walks `count` records in `body` (an uncompressed records section), calling `visit` for each.
/// Fails with Kafka's wording if a record is malformed, the count is wrong, or bytes remain.
pub fn walk_records<'a>(
    body: &'a [u8],
    count: i32,
    mut visit: impl FnMut(RecordView<'a>),
) -> Result<(), String> {
    let mut pos = 0usize;
    for _ in 0..count {
        visit(next_record(body, &mut pos)?);
    }
    if pos != body.len() {
        return Err("Incorrect declared batch size, records still remaining in file".into());
    }
    Ok(())
}

/// Appends `value` as a zigzag varint (Kafka's `ByteUtils.writeVarint`).
pub fn write_varint(out: &mut Vec<u8>, value: i32) {
    write_unsigned_varlong(out, u64::from(((value << 1) ^ (value >> 31)) as u32));
}

/// Appends `value` as a zigzag varlong (Kafka's `ByteUtils.writeVarlong`).
pub fn write_varlong(out: &mut Vec<u8>, value: i64) {
    write_unsigned_varlong(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn write_unsigned_varlong(out: &mut Vec<u8>, mut raw: u64) {
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

/// Appends one record built from `record` with a new timestamp delta (the offset delta and
/// everything after it unchanged): how the cleaner re-bases the records it keeps.
pub fn write_record(out: &mut Vec<u8>, record: &RecordView<'_>, timestamp_delta: i64) {
    let offset_delta = i64::from(record.offset_delta);
    let body_len =
        1 + varlong_size(timestamp_delta) + varlong_size(offset_delta) + record.tail.len();
    write_varlong(out, body_len as i64);
    out.push(record.attributes);
    write_varlong(out, timestamp_delta);
    write_varint(out, record.offset_delta);
    out.extend_from_slice(record.tail);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record with `key` (None = null) and `value` (None = tombstone) and one header.
    fn record(ts_delta: i64, off_delta: i32, key: Option<&[u8]>, value: Option<&[u8]>) -> Vec<u8> {
        let mut body = vec![0u8];
        write_varlong(&mut body, ts_delta);
        write_varint(&mut body, off_delta);
        for field in [key, value] {
            match field {
                Some(bytes) => {
                    write_varint(&mut body, bytes.len() as i32);
                    body.extend_from_slice(bytes);
                }
                None => write_varint(&mut body, -1),
            }
        }
        write_varint(&mut body, 1); // one header
        write_varint(&mut body, 1);
        body.push(b'h');
        write_varint(&mut body, -1);
        let mut out = Vec::new();
        write_varint(&mut out, body.len() as i32);
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
            write_varlong(&mut buf, v);
            assert_eq!(buf.len(), varlong_size(v));
            let mut pos = 0;
            assert_eq!(read_varint(&buf, &mut pos), Some(v as i32));
            assert_eq!(pos, buf.len());
            let mut narrow = Vec::new();
            write_varint(&mut narrow, v as i32);
            assert_eq!(narrow, buf, "varint and varlong agree on i32 values");
        }
        let mut buf = Vec::new();
        write_varlong(&mut buf, i64::MIN);
        assert_eq!(buf.len(), varlong_size(i64::MIN));
        assert_eq!(read_varlong(&buf, &mut 0), Some(i64::MIN));
        assert_eq!(read_varint(&[0x80, 0x80], &mut 0), None);
    }

    #[test]
    fn walks_records_and_rejects_bad_counts() {
        let mut body = record(0, 0, None, Some(b"a"));
        body.extend(record(7, 1, Some(b"k"), None));
        let mut seen = Vec::new();
        walk_records(&body, 2, |r| seen.push(r)).expect("two good records");
        assert_eq!(
            seen.iter()
                .map(|r| (r.offset_delta, r.timestamp_delta, r.key, r.has_value))
                .collect::<Vec<_>>(),
            vec![(0, 0, None, true), (1, 7, Some(&b"k"[..]), false)]
        );
        assert!(walk_records(&body, 1, |_| {}).is_err(), "bytes remain");
        assert!(walk_records(&body, 3, |_| {}).is_err(), "too few records");
        assert!(
            walk_records(&body[..body.len() - 1], 2, |_| {}).is_err(),
            "truncated"
        );
        let mut bad_key = record(0, 0, Some(b"key"), Some(b"v"));
        bad_key[4] = 40; // key length past the record
        assert!(next_record(&bad_key, &mut 0).is_err());
    }

    #[test]
    fn rewriting_a_record_changes_only_its_timestamp_delta() {
        let original = record(5, 3, Some(b"key"), Some(b"value"));
        let view = next_record(&original, &mut 0).expect("parse");
        let mut same = Vec::new();
        write_record(&mut same, &view, 5);
        assert_eq!(same, original);
        let mut moved = Vec::new();
        write_record(&mut moved, &view, -1_000_000_000_000);
        let again = next_record(&moved, &mut 0).expect("parse rewritten");
        assert_eq!(again.timestamp_delta, -1_000_000_000_000);
        assert_eq!(
            (again.offset_delta, again.key, again.has_value, again.tail),
            (view.offset_delta, view.key, view.has_value, view.tail)
        );
    }
}
