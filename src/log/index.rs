//! The memory-mapped, fixed-entry-size index file shared by the offset and time indexes
//! (Kafka's `AbstractIndex`).
//!
//! The file is preallocated to `segment.index.bytes` (rounded down to whole entries) while its
//! segment is active, so appends are plain stores into the mapping, and trimmed to its real
//! size when the segment rolls or the log closes; a reader (and Kafka) then finds the entry
//! count from the file length.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

use super::error::LogError;

/// A growable array of fixed-size big-endian entries backed by an mmapped file.
pub struct MmapIndex {
    path: PathBuf,
    file: File,
    mmap: Option<MmapMut>,
    entry_size: usize,
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
            file,
            mmap: None,
            entry_size,
            entries,
        };
        let target = capacity_bytes.map_or(entries * entry_size, |cap| {
            (cap / entry_size * entry_size).max(entries * entry_size)
        });
        index.remap(target)?;
        Ok(index)
    }

    fn remap(&mut self, len_bytes: usize) -> Result<(), LogError> {
        if let Some(map) = self.mmap.take() {
            map.flush().map_err(|e| LogError::io(&self.path, e))?;
        }
        self.file
            .set_len(len_bytes as u64)
            .map_err(|e| LogError::io(&self.path, e))?;
        if len_bytes > 0 {
            // SAFETY: the file is owned by this index and only ever resized through `remap`,
            // which drops the old mapping first; nothing else truncates it while mapped.
            let map =
                unsafe { MmapMut::map_mut(&self.file) }.map_err(|e| LogError::io(&self.path, e))?;
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
        self.mmap.as_ref().map_or(0, |m| m.len() / self.entry_size)
    }

    /// The bytes of entry `n`; `n` must be below [`Self::entries`].
    pub fn entry(&self, n: usize) -> &[u8] {
        match &self.mmap {
            Some(map) => &map[n * self.entry_size..(n + 1) * self.entry_size],
            None => &[],
        }
    }

    /// Appends one entry; returns false (writing nothing) when the index is full.
    pub fn push(&mut self, entry: &[u8]) -> bool {
        debug_assert_eq!(entry.len(), self.entry_size);
        let at = self.entries * self.entry_size;
        match &mut self.mmap {
            Some(map) if at + self.entry_size <= map.len() => {
                map[at..at + self.entry_size].copy_from_slice(entry);
                self.entries += 1;
                true
            }
            _ => false,
        }
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

    /// Shrinks the file to the written entries (on roll and close), as Kafka's `trimToValidSize`.
    pub fn trim(&mut self) -> Result<(), LogError> {
        self.remap(self.entries * self.entry_size)
    }

    /// Writes dirty pages of the mapping to disk.
    pub fn flush(&self) -> Result<(), LogError> {
        match &self.mmap {
            Some(map) => map.flush().map_err(|e| LogError::io(&self.path, e)),
            None => Ok(()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(idx.push(&e));
        }
        assert_eq!(
            idx.largest_lower_bound(15u32, |e| u32::from_be_bytes([e[0], e[1], e[2], e[3]])),
            Some(1)
        );
        assert_eq!(
            idx.largest_lower_bound(0u32, |e| u32::from_be_bytes([e[0], e[1], e[2], e[3]])),
            Some(0)
        );
        idx.trim().expect("trim");
        drop(idx);
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 24);
        let idx = MmapIndex::open(&path, 8, None).expect("reopen");
        assert_eq!(idx.entries(), 3);
        assert_eq!(
            idx.largest_lower_bound(5u32, |e| u32::from_be_bytes([e[0], e[1], e[2], e[3]])),
            Some(0)
        );
    }

    #[test]
    fn full_index_refuses_appends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut idx = MmapIndex::open(&dir.path().join("x.index"), 8, Some(16)).expect("open");
        assert!(idx.push(&[0; 8]));
        assert!(idx.push(&[0; 8]));
        assert!(!idx.push(&[0; 8]));
        assert_eq!(idx.entries(), 2);
        idx.truncate_entries(1);
        assert!(idx.push(&[1; 8]));
        assert_eq!(idx.entry(1), &[1; 8]);
    }
}
