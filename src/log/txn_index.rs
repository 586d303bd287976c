//! Kafka's aborted transaction index, `<base offset>.txnindex`: one entry per transaction that
//! was aborted by a marker written into the segment, so a `read_committed` fetch can tell the
//! consumer which producers' data to drop without scanning the log.
//!
//! Entries are 34 bytes, big-endian, appended in increasing last offset:
//!
//! ```text
//! version: int16 (0) | producer_id: int64 | first_offset: int64 | last_offset: int64 |
//! last_stable_offset: int64
//! ```
//!
//! `first_offset` is the transaction's first data offset (possibly in an earlier segment),
//! `last_offset` the offset of its ABORT marker, and `last_stable_offset` the LSO right after
//! the marker: a search can stop at the first entry whose LSO passes the fetched range. As in
//! Kafka the file only exists once the segment has an aborted transaction. The entries are
//! also kept in memory (34 bytes each) so fetches never read the file.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use super::error::LogError;
use crate::base::fs;

/// Suffix of aborted transaction index files.
pub const TXN_INDEX_SUFFIX: &str = ".txnindex";
/// Bytes per entry.
pub const ABORTED_TXN_SIZE: usize = 34;
const CURRENT_VERSION: i16 = 0;

/// One aborted transaction (Kafka's `AbortedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer whose transaction was aborted.
    pub producer_id: i64,
    /// Offset of the transaction's first batch.
    pub first_offset: i64,
    /// Offset of its ABORT marker.
    pub last_offset: i64,
    /// The partition's last stable offset once the marker was written.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    /// The entry's 34 bytes.
    pub fn encode(&self) -> [u8; ABORTED_TXN_SIZE] {
        let mut b = [0u8; ABORTED_TXN_SIZE];
        b[0..2].copy_from_slice(&CURRENT_VERSION.to_be_bytes());
        b[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        b[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        b[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        b[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        b
    }

    /// Reads one entry; `None` for an unknown version.
    pub fn decode(b: &[u8; ABORTED_TXN_SIZE]) -> Option<AbortedTxn> {
        let long = |at: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[at..at + 8]);
            i64::from_be_bytes(x)
        };
        if i16::from_be_bytes([b[0], b[1]]) > CURRENT_VERSION {
            return None;
        }
        Some(AbortedTxn {
            producer_id: long(2),
            first_offset: long(10),
            last_offset: long(18),
            last_stable_offset: long(26),
        })
    }
}

/// What a search of one index found (Kafka's `TxnIndexSearchResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnIndexSearchResult {
    /// Aborted transactions overlapping the searched range.
    pub aborted: Vec<AbortedTxn>,
    /// True when no later segment can hold a transaction overlapping the range.
    pub complete: bool,
}

struct Inner {
    file: Option<File>,
    entries: Vec<AbortedTxn>,
}

/// One segment's aborted transaction index.
pub struct TransactionIndex {
    path: PathBuf,
    start_offset: i64,
    inner: Mutex<Inner>,
}

impl TransactionIndex {
    /// Path of the index of the segment at `base_offset` in `dir`.
    pub fn path_for(dir: &Path, base_offset: i64) -> PathBuf {
        dir.join(format!("{base_offset:020}{TXN_INDEX_SUFFIX}"))
    }

    /// Opens the index at `path` if the file exists (reading its entries; a torn last entry
    /// is ignored and cut off), or prepares one that is created on the first append.
    pub fn open(path: &Path, start_offset: i64) -> Result<TransactionIndex, LogError> {
        let mut inner = Inner {
            file: None,
            entries: Vec::new(),
        };
        if path.exists() {
            let file = Self::open_file(path)?;
            let len = file.metadata().map_err(|e| LogError::io(path, e))?.len();
            let whole = len - len % ABORTED_TXN_SIZE as u64;
            let mut bytes = vec![0u8; whole as usize];
            file.read_exact_at(&mut bytes, 0)
                .map_err(|e| LogError::io(path, e))?;
            for chunk in bytes.chunks_exact(ABORTED_TXN_SIZE) {
                let mut b = [0u8; ABORTED_TXN_SIZE];
                b.copy_from_slice(chunk);
                let txn = AbortedTxn::decode(&b).ok_or_else(|| LogError::MalformedFile {
                    path: path.to_path_buf(),
                    reason: format!(
                        "unexpected aborted transaction version {}",
                        i16::from_be_bytes([b[0], b[1]])
                    ),
                })?;
                inner.entries.push(txn);
            }
            if whole != len {
                file.set_len(whole).map_err(|e| LogError::io(path, e))?;
            }
            inner.file = Some(file);
        }
        Ok(TransactionIndex {
            path: path.to_path_buf(),
            start_offset,
            inner: Mutex::new(inner),
        })
    }

    fn open_file(path: &Path) -> Result<File, LogError> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| LogError::io(path, e))
    }

    /// The index file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that the file now lives at `path` (renamed by the cleaner's swap).
    pub fn set_path(&mut self, path: PathBuf) {
        self.path = path;
    }

    /// Appends an entry (creating the file if needed). Last offsets must increase.
    pub fn append(&self, txn: AbortedTxn) -> Result<(), LogError> {
        let mut inner = self.inner.lock();
        if let Some(last) = inner.entries.last()
            && last.last_offset >= txn.last_offset
        {
            return Err(LogError::MalformedFile {
                path: self.path.clone(),
                reason: format!(
                    "the last offset of appended transactions must increase sequentially, but {} is not greater than current last offset {}",
                    txn.last_offset, last.last_offset
                ),
            });
        }
        if inner.file.is_none() {
            inner.file = Some(Self::open_file(&self.path)?);
        }
        let position = (inner.entries.len() * ABORTED_TXN_SIZE) as u64;
        if let Some(file) = &inner.file {
            fs::write_all_at(file, &txn.encode(), position, &self.path)
                .map_err(|e| LogError::io(&self.path, e))?;
        }
        inner.entries.push(txn);
        Ok(())
    }

    /// Every entry, oldest first.
    pub fn all(&self) -> Vec<AbortedTxn> {
        self.inner.lock().entries.clone()
    }

    /// Whether the index has no entry.
    pub fn is_empty(&self) -> bool {
        self.inner.lock().entries.is_empty()
    }

    /// The aborted transactions with data in `[fetch_offset, upper_bound_offset)`: last
    /// offset at or after the fetch offset and first offset before the bound (Kafka's
    /// `collectAbortedTxns`).
    pub fn collect_aborted_txns(
        &self,
        fetch_offset: i64,
        upper_bound_offset: i64,
    ) -> TxnIndexSearchResult {
        let inner = self.inner.lock();
        let mut result = TxnIndexSearchResult::default();
        for txn in &inner.entries {
            if txn.last_offset >= fetch_offset && txn.first_offset < upper_bound_offset {
                result.aborted.push(*txn);
            }
            if txn.last_stable_offset >= upper_bound_offset {
                result.complete = true;
                break;
            }
        }
        result
    }

    /// Drops entries whose marker is at or after `offset` (the log was truncated there).
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        let mut inner = self.inner.lock();
        let keep = inner
            .entries
            .iter()
            .position(|t| t.last_offset >= offset)
            .unwrap_or(inner.entries.len());
        inner.entries.truncate(keep);
        if let Some(file) = &inner.file {
            file.set_len((keep * ABORTED_TXN_SIZE) as u64)
                .map_err(|e| LogError::io(&self.path, e))?;
        }
        Ok(())
    }

    /// Empties the index (recovery rebuilds it from the segment's markers).
    pub fn reset(&self) -> Result<(), LogError> {
        self.truncate_to(i64::MIN)
    }

    /// Forces the file to disk.
    pub fn flush(&self) -> Result<(), LogError> {
        match &self.inner.lock().file {
            Some(file) => fs::sync_file(file, &self.path).map_err(|e| LogError::io(&self.path, e)),
            None => Ok(()),
        }
    }

    /// Kafka's `sanityCheck`: no entry may end before the segment starts.
    pub fn is_sane(&self) -> bool {
        self.inner
            .lock()
            .entries
            .iter()
            .all(|t| t.last_offset >= self.start_offset)
    }

    /// Removes the file, if any.
    pub fn delete_file(&self) -> Result<(), LogError> {
        let mut inner = self.inner.lock();
        inner.file = None;
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LogError::io(&self.path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    #[test]
    fn file_is_created_lazily_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = TransactionIndex::path_for(dir.path(), 0);
        let index = TransactionIndex::open(&path, 0).expect("open");
        assert!(!path.exists(), "no file until an aborted transaction");
        index.append(txn(1, 0, 10, 11)).expect("append");
        index.append(txn(2, 5, 20, 21)).expect("append");
        assert!(index.append(txn(3, 5, 20, 21)).is_err(), "must increase");
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 68);
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(&bytes[..2], &[0, 0], "version 0");
        assert_eq!(&bytes[2..10], &1i64.to_be_bytes());
        // A torn third entry is cut off on open.
        std::fs::write(&path, [&bytes[..], &[0u8; 10][..]].concat()).expect("tear");
        let reopened = TransactionIndex::open(&path, 0).expect("reopen");
        assert_eq!(reopened.all(), vec![txn(1, 0, 10, 11), txn(2, 5, 20, 21)]);
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 68);
    }

    #[test]
    fn collects_overlapping_transactions_and_stops_at_the_lso() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index =
            TransactionIndex::open(&TransactionIndex::path_for(dir.path(), 0), 0).expect("open");
        index.append(txn(1, 0, 10, 11)).expect("append");
        index.append(txn(2, 12, 20, 15)).expect("append");
        index.append(txn(3, 15, 30, 31)).expect("append");
        let r = index.collect_aborted_txns(11, 16);
        assert_eq!(r.aborted, vec![txn(2, 12, 20, 15), txn(3, 15, 30, 31)]);
        assert!(r.complete);
        let r = index.collect_aborted_txns(31, 100);
        assert!(r.aborted.is_empty() && !r.complete);
        index.truncate_to(20).expect("truncate");
        assert_eq!(index.all(), vec![txn(1, 0, 10, 11)]);
        index.reset().expect("reset");
        assert!(index.is_empty());
        assert!(index.is_sane());
    }
}
