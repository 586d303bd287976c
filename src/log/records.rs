//! Record-level parsing of a v2 batch's records section: just enough to count records and read
//! their timestamps and offset deltas, without allocating per record.
//!
//! Each record is `length: varint` followed by `length` bytes: `attributes: int8`,
//! `timestampDelta: varlong`, `offsetDelta: varint`, then key, value and headers, which are
//! skipped through the length.

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

/// Walks `count` records in `body` (an uncompressed records section), calling `visit` for each.
/// Fails with Kafka's wording if a record is malformed, the count is wrong, or bytes remain.
pub fn walk_records(
    body: &[u8],
    count: i32,
    mut visit: impl FnMut(RecordSummary),
) -> Result<(), String> {
    let mut pos = 0usize;
    for _ in 0..count {
        let length = read_varint(body, &mut pos).ok_or("Found invalid record structure")?;
        let length = usize::try_from(length)
            .map_err(|_| format!("Invalid record size {length}: negative"))?;
        let end = pos
            .checked_add(length)
            .filter(|&end| end <= body.len())
            .ok_or("Found invalid record structure")?;
        let record = &body[pos..end];
        // Skip the attributes byte.
        let mut cursor = 1usize;
        let timestamp_delta =
            read_varlong(record, &mut cursor).ok_or("Found invalid record structure")?;
        let offset_delta =
            read_varint(record, &mut cursor).ok_or("Found invalid record structure")?;
        visit(RecordSummary {
            offset_delta,
            timestamp_delta,
        });
        pos = end;
    }
    if pos != body.len() {
        return Err("Incorrect declared batch size, records still remaining in file".into());
    }
    Ok(())
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
        walk_records(&body, 2, |r| seen.push(r)).expect("two good records");
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
        assert!(walk_records(&body, 1, |_| {}).is_err(), "bytes remain");
        assert!(walk_records(&body, 3, |_| {}).is_err(), "too few records");
        assert!(
            walk_records(&body[..body.len() - 1], 2, |_| {}).is_err(),
            "truncated"
        );
    }
}
