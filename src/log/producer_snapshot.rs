//! Kafka's producer state snapshot file, `<20-digit offset>.snapshot`:
//!
//! ```text
//! version: int16 (1) | crc: uint32 (CRC-32C of everything after it) |
//! entries: int32 count, then per producer
//!   producer_id int64 | epoch int16 | last_sequence int32 | last_offset int64 |
//!   offset_delta int32 | timestamp int64 | coordinator_epoch int32 | current_txn_first_offset int64
//! ```

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use super::crc::crc32c;
use super::error::LogError;
use crate::base::fs;

/// Suffix of snapshot files.
pub const SNAPSHOT_SUFFIX: &str = ".snapshot";
const VERSION: i16 = 1;
const HEADER_SIZE: usize = 2 + 4;
const ENTRY_SIZE: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;

/// One producer's row in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotEntry {
    /// The producer id.
    pub producer_id: i64,
    /// Its current epoch.
    pub epoch: i16,
    /// Sequence of the last record of its last batch.
    pub last_sequence: i32,
    /// Offset of the last record of its last batch (-1 if none).
    pub last_offset: i64,
    /// `last_offset - first offset` of that batch.
    pub offset_delta: i32,
    /// Max timestamp of that batch.
    pub timestamp: i64,
    /// Epoch of the last transaction coordinator that wrote a marker.
    pub coordinator_epoch: i32,
    /// First offset of the open transaction, -1 if none.
    pub current_txn_first_offset: i64,
}

/// Path of the snapshot for `offset` in `dir`.
pub fn path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}{SNAPSHOT_SUFFIX}"))
}

/// The snapshot files in `dir`, by offset.
pub fn list(dir: &Path) -> Result<BTreeMap<i64, PathBuf>, LogError> {
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(LogError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SNAPSHOT_SUFFIX)) else {
            continue;
        };
        if let Ok(offset) = stem.parse::<i64>() {
            out.insert(offset, entry.path());
        }
    }
    Ok(out)
}

/// Encodes and writes a snapshot, fsyncing it when `sync`.
pub fn write(path: &Path, entries: &[SnapshotEntry], sync: bool) -> Result<(), LogError> {
    let mut buf = Vec::with_capacity(HEADER_SIZE + 4 + entries.len() * ENTRY_SIZE);
    buf.extend_from_slice(&VERSION.to_be_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&(entries.len() as i32).to_be_bytes());
    for e in entries {
        buf.extend_from_slice(&e.producer_id.to_be_bytes());
        buf.extend_from_slice(&e.epoch.to_be_bytes());
        buf.extend_from_slice(&e.last_sequence.to_be_bytes());
        buf.extend_from_slice(&e.last_offset.to_be_bytes());
        buf.extend_from_slice(&e.offset_delta.to_be_bytes());
        buf.extend_from_slice(&e.timestamp.to_be_bytes());
        buf.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        buf.extend_from_slice(&e.current_txn_first_offset.to_be_bytes());
    }
    let crc = crc32c(&buf[HEADER_SIZE..]);
    buf[2..6].copy_from_slice(&crc.to_be_bytes());
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| LogError::io(path, e))?;
    fs::write_all(&file, &buf, path).map_err(|e| LogError::io(path, e))?;
    if sync {
        fs::sync_file(&file, path).map_err(|e| LogError::io(path, e))?;
    }
    Ok(())
}

/// Reads and verifies a snapshot. The error is a reason to log; the caller discards the file.
pub fn read(path: &Path) -> Result<Vec<SnapshotEntry>, String> {
    let buf = std::fs::read(path).map_err(|e| e.to_string())?;
    if buf.len() < HEADER_SIZE + 4 {
        return Err(format!("Snapshot of {} bytes is too short", buf.len()));
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    if version != VERSION {
        return Err(format!(
            "Snapshot contained an unknown file version {version}"
        ));
    }
    let stored = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]);
    let computed = crc32c(&buf[HEADER_SIZE..]);
    if stored != computed {
        return Err(format!(
            "Snapshot is corrupt (CRC is no longer valid). Stored crc: {stored}. Computed crc: {computed}"
        ));
    }
    let count = i32::from_be_bytes([buf[6], buf[7], buf[8], buf[9]]);
    let count = usize::try_from(count).map_err(|_| format!("negative entry count {count}"))?;
    let body = &buf[HEADER_SIZE + 4..];
    if body.len() != count.saturating_mul(ENTRY_SIZE) {
        return Err(format!(
            "Snapshot failed schema validation: {count} entries in {} bytes",
            body.len()
        ));
    }
    Ok(body.chunks_exact(ENTRY_SIZE).map(decode_entry).collect())
}

fn decode_entry(c: &[u8]) -> SnapshotEntry {
    let i64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&c[at..at + 8]);
        i64::from_be_bytes(b)
    };
    let i32_at = |at: usize| i32::from_be_bytes([c[at], c[at + 1], c[at + 2], c[at + 3]]);
    SnapshotEntry {
        producer_id: i64_at(0),
        epoch: i16::from_be_bytes([c[8], c[9]]),
        last_sequence: i32_at(10),
        last_offset: i64_at(14),
        offset_delta: i32_at(22),
        timestamp: i64_at(26),
        coordinator_epoch: i32_at(34),
        current_txn_first_offset: i64_at(38),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_kafkas_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path(), 42);
        assert!(p.ends_with("00000000000000000042.snapshot"));
        let e = SnapshotEntry {
            producer_id: 1000,
            epoch: 3,
            last_sequence: 9,
            last_offset: 41,
            offset_delta: 4,
            timestamp: 1_700_000_000_000,
            coordinator_epoch: -1,
            current_txn_first_offset: -1,
        };
        write(&p, &[e], true).expect("write");
        let bytes = std::fs::read(&p).expect("read");
        assert_eq!(bytes.len(), 6 + 4 + 46);
        assert_eq!(&bytes[0..2], &[0, 1], "version 1");
        assert_eq!(&bytes[6..10], &[0, 0, 0, 1], "one entry");
        assert_eq!(&bytes[10..18], &1000i64.to_be_bytes());
        assert_eq!(read(&p).expect("valid"), vec![e]);
        assert_eq!(
            list(dir.path())
                .expect("list")
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![42]
        );
    }
}
