//! The fixed-entry-size index file shared by the offset and time indexes (Kafka's
//! `AbstractIndex`).
//!
//! While its segment is active the file is sized to `segment.index.bytes` (rounded down to
//! whole entries) so it can take appends, and trimmed to its real size when the segment rolls
//! or the log closes; a reader (and Kafka) then finds the entry count from the file length.
//!
//! Entries are read through a read-only memory map but written with `pwrite(2)`, never stored
//! through a writable mapping. The file is sparse, as Kafka's is: a store into a mapped page
//! whose blocks are not allocated yet has to allocate them in the page fault, and on a full
//! disk the kernel can only answer that with SIGBUS. A write system call answers ENOSPC
//! instead, on every file system, including the copy-on-write ones (APFS, btrfs) where
//! preallocating blocks with `fallocate` would not help, because every rewrite of a page
//! allocates anew there.
//!
//! Like Kafka, an index holds no file descriptor once its segment is inactive (the mapping
//! outlives the descriptor): a partition costs one descriptor per segment plus two for the
//! active one, which is what the open-file limit is checked against at start-up.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::error::LogError;
use crate::base::fs;

/// A growable array of fixed-size big-endian entries in a file, read through a mapping.
pub struct MmapIndex {
    /// The index file.
    path: PathBuf,
    /// Open while the index takes appends (its segment is active); `None` once trimmed.
    file: Option<File>,
    /// Read-only mapping of the file's first `capacity` bytes (`None` for an empty file).
    mmap: Option<Mmap>,
    /// Bytes per entry: 8 for the offset index, 12 for the time index.
    entry_size: usize,
    /// Entries written; everything past them in the file is unused.
    entries: usize,
}

impl MmapIndex {
    /// Opens (or creates) the index at `path`. Existing entries are counted from the file
    /// length. With `capacity_bytes` the file is resized to that many bytes (rounded down to
    /// whole entries, never below the existing entries) so it can take appends.
    pub fn open(
        path: &Path,
        entry_size: usize,
        capacity_bytes: Option<usize>,
    ) -> Result<MmapIndex, LogError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| LogError::io(path, e))?;
        let len = file.metadata().map_err(|e| LogError::io(path, e))?.len() as usize;
        let entries = len / entry_size;
        let mut index = MmapIndex {
            path: path.to_path_buf(),
            file: Some(file),
            mmap: None,
            entry_size,
            entries,
        };
        match capacity_bytes {
            Some(cap) => {
                let target = (cap / entry_size * entry_size).max(entries * entry_size);
                index.resize(target)?;
            }
            None => {
                index.resize(entries * entry_size)?;
                index.file = None;
            }
        }
        Ok(index)
    }

    /// Sets the file length to `len_bytes` and maps that much of it.
    fn resize(&mut self, len_bytes: usize) -> Result<(), LogError> {
        let file = match self.file.take() {
            Some(file) => file,
            None => OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)
                .map_err(|e| LogError::io(&self.path, e))?,
        };
        // Unmap before shrinking: a mapped page past the end of the file would fault.
        self.mmap = None;
        let resized = fs::set_len(&file, len_bytes as u64, &self.path);
        // Map whatever length the file has now, so the index stays readable even if the
        // resize failed.
        let mapped = self.map(&file);
        self.file = Some(file);
        resized.map_err(|e| LogError::io(&self.path, e))?;
        mapped
    }

    fn map(&mut self, file: &File) -> Result<(), LogError> {
        let len = file
            .metadata()
            .map_err(|e| LogError::io(&self.path, e))?
            .len() as usize;
        self.entries = self.entries.min(len / self.entry_size);
        if len > 0 {
            // SAFETY: the mapping is read-only and the file is only ever shrunk by `resize`,
            // which drops the mapping first; nothing else truncates an index while it is open.
            let map = unsafe { Mmap::map(file) }.map_err(|e| LogError::io(&self.path, e))?;
            self.mmap = Some(map);
        }
        Ok(())
    }

    /// Number of entries written.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// How many entries fit before the file must be resized (or the segment rolled).
    pub fn max_entries(&self) -> usize {
        match (&self.file, &self.mmap) {
            (Some(_), Some(map)) => map.len() / self.entry_size,
            _ => self.entries,
        }
    }

    /// The bytes of entry `n`; `n` must be below [`Self::entries`].
    pub fn entry(&self, n: usize) -> &[u8] {
        let at = n * self.entry_size;
        match &self.mmap {
            Some(map) if at + self.entry_size <= map.len() => &map[at..at + self.entry_size],
            // invariant: `entries` never exceeds the mapped length (see `map`).
            _ => &ZEROES[..self.entry_size],
        }
    }

    /// Appends one entry with a positioned write. `Ok(false)` (nothing written) when the index
    /// is full; an error (nothing counted) when the write fails, e.g. on a full disk.
    pub fn push(&mut self, entry: &[u8]) -> Result<bool, LogError> {
        debug_assert_eq!(entry.len(), self.entry_size);
        if self.entries >= self.max_entries() {
            return Ok(false);
        }
        let Some(file) = &self.file else {
            return Ok(false);
        };
        let at = (self.entries * self.entry_size) as u64;
        fs::write_all_at(file, entry, at, &self.path).map_err(|e| LogError::io(&self.path, e))?;
        self.entries += 1;
        Ok(true)
    }

    /// Forgets entries from `n` on.
    pub fn truncate_entries(&mut self, n: usize) {
        self.entries = self.entries.min(n);
    }

    /// Index of the last entry whose key is <= `target`, by binary search (keys ascend).
    pub fn largest_lower_bound<K: Ord>(
        &self,
        target: K,
        key: impl Fn(&[u8]) -> K,
    ) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if key(self.entry(mid)) <= target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1)
    }

    /// Shrinks the file to the written entries and lets go of its descriptor (on roll and
    /// close), as Kafka's `trimToValidSize`.
    pub fn trim(&mut self) -> Result<(), LogError> {
        let trimmed = self.resize(self.entries * self.entry_size);
        self.file = None;
        trimmed
    }

    /// Forces the written entries to disk (F_FULLFSYNC on macOS). An inactive index is
    /// reopened for it; one already deleted needs no flush.
    pub fn flush(&self) -> Result<(), LogError> {
        let reopened;
        let file = match &self.file {
            Some(file) => file,
            None => match File::open(&self.path) {
                Ok(file) => {
                    reopened = file;
                    &reopened
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(LogError::io(&self.path, e)),
            },
        };
        fs::sync_file(file, &self.path).map_err(|e| LogError::io(&self.path, e))
    }

    /// The index file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that the file now lives at `path` (renamed by the cleaner's swap).
    pub fn set_path(&mut self, path: PathBuf) {
        self.path = path;
    }
}

/// What [`MmapIndex::entry`] returns for an entry it cannot map (never, see the invariant).
static ZEROES: [u8; 16] = [0; 16];

#[cfg(test)]
mod tests {
    use super::*;

    fn key(e: &[u8]) -> u32 {
        u32::from_be_bytes([e[0], e[1], e[2], e[3]])
    }

    #[test]
    fn preallocates_appends_trims_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("00000000000000000000.index");
        let mut idx = MmapIndex::open(&path, 8, Some(100)).expect("open");
        assert_eq!(idx.max_entries(), 12, "100 bytes rounds down to 12 entries");
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 96);
        for i in 0..3u32 {
            let mut e = [0u8; 8];
            e[..4].copy_from_slice(&(i * 10).to_be_bytes());
            assert!(idx.push(&e).expect("push"));
        }
        assert_eq!(idx.largest_lower_bound(15u32, key), Some(1));
        assert_eq!(idx.largest_lower_bound(0u32, key), Some(0));
        idx.flush().expect("flush");
        idx.trim().expect("trim");
        assert!(idx.file.is_none(), "an inactive index holds no descriptor");
        idx.flush().expect("flush reopens");
        assert_eq!(idx.largest_lower_bound(15u32, key), Some(1), "still mapped");
        drop(idx);
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 24);
        let idx = MmapIndex::open(&path, 8, None).expect("reopen");
        assert_eq!(idx.entries(), 3);
        assert!(idx.file.is_none());
        assert_eq!(idx.largest_lower_bound(5u32, key), Some(0));
    }

    #[test]
    fn full_index_refuses_appends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut idx = MmapIndex::open(&dir.path().join("x.index"), 8, Some(16)).expect("open");
        assert!(idx.push(&[0; 8]).expect("push"));
        assert!(idx.push(&[0; 8]).expect("push"));
        assert!(!idx.push(&[0; 8]).expect("push"));
        assert_eq!(idx.entries(), 2);
        idx.truncate_entries(1);
        assert!(idx.push(&[1; 8]).expect("push"));
        assert_eq!(idx.entry(1), &[1; 8]);
        idx.trim().expect("trim");
        assert!(!idx.push(&[2; 8]).expect("push"), "trimmed: full");
    }

    #[test]
    fn a_deleted_inactive_index_needs_no_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.index");
        let mut idx = MmapIndex::open(&path, 8, Some(16)).expect("open");
        assert!(idx.push(&[3; 8]).expect("push"));
        idx.trim().expect("trim");
        std::fs::remove_file(&path).expect("rm");
        idx.flush().expect("nothing to flush");
        assert_eq!(idx.entry(0), &[3; 8], "the mapping outlives the file");
    }
}
