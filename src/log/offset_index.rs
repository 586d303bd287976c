//! Kafka's `OffsetIndex`: a sparse map from offset to byte position in the segment's `.log`,
//! 8-byte entries of (4-byte offset relative to the segment base, 4-byte position).

use std::path::Path;

use super::error::LogError;
use super::index::MmapIndex;

const ENTRY_SIZE: usize = 8;

/// An offset → file position index for one segment.
pub struct OffsetIndex {
    base_offset: i64,
    index: MmapIndex,
}

fn relative(entry: &[u8]) -> i32 {
    i32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]])
}
fn position(entry: &[u8]) -> u32 {
    u32::from_be_bytes([entry[4], entry[5], entry[6], entry[7]])
}

impl OffsetIndex {
    /// Opens or creates the `.index` file; see [`MmapIndex::open`] for `capacity_bytes`.
    pub fn open(
        path: &Path,
        base_offset: i64,
        capacity_bytes: Option<usize>,
    ) -> Result<OffsetIndex, LogError> {
        Ok(OffsetIndex {
            base_offset,
            index: MmapIndex::open(path, ENTRY_SIZE, capacity_bytes)?,
        })
    }

    /// Records that the batch ending at `offset` starts at byte `position`. Ignored unless
    /// `offset` is past the last entry (entries must ascend). `Ok(false)` if the index is full;
    /// an error if the entry could not be written.
    pub fn append(&mut self, offset: i64, position: u32) -> Result<bool, LogError> {
        if self.last_offset().is_some_and(|last| offset <= last) {
            return Ok(true);
        }
        let rel = (offset - self.base_offset) as i32;
        let mut entry = [0u8; ENTRY_SIZE];
        entry[..4].copy_from_slice(&rel.to_be_bytes());
        entry[4..].copy_from_slice(&position.to_be_bytes());
        self.index.push(&entry)
    }

    /// The entry with the largest offset <= `target`, or `(base_offset, 0)` if none: the
    /// position to start scanning from for `target`.
    pub fn lookup(&self, target: i64) -> (i64, u32) {
        let rel = target
            .saturating_sub(self.base_offset)
            .clamp(-1, i64::from(i32::MAX)) as i32;
        match self.index.largest_lower_bound(rel, relative) {
            Some(n) => {
                let e = self.index.entry(n);
                (self.base_offset + i64::from(relative(e)), position(e))
            }
            None => (self.base_offset, 0),
        }
    }

    /// Offset of the last entry.
    pub fn last_offset(&self) -> Option<i64> {
        let n = self.index.entries().checked_sub(1)?;
        Some(self.base_offset + i64::from(relative(self.index.entry(n))))
    }

    /// Drops every entry (before a rebuild).
    pub fn reset(&mut self) {
        self.index.truncate_entries(0);
    }

    /// Forgets entries from `n` on (undoing the entries of a failed append).
    pub fn truncate_entries(&mut self, n: usize) {
        self.index.truncate_entries(n);
    }

    /// Kafka's sanity check: offsets ascend and positions ascend, and none is below the base.
    pub fn is_sane(&self) -> bool {
        let mut prev: Option<(i32, u32)> = None;
        for n in 0..self.index.entries() {
            let e = self.index.entry(n);
            let cur = (relative(e), position(e));
            if cur.0 < 0 || prev.is_some_and(|p| cur.0 <= p.0 || cur.1 < p.1) {
                return false;
            }
            prev = Some(cur);
        }
        true
    }

    /// Whether another entry would not fit.
    pub fn is_full(&self) -> bool {
        self.index.entries() >= self.index.max_entries()
    }

    /// Number of entries.
    pub fn entries(&self) -> usize {
        self.index.entries()
    }

    /// See [`MmapIndex::trim`].
    pub fn trim(&mut self) -> Result<(), LogError> {
        self.index.trim()
    }

    /// See [`MmapIndex::flush`].
    pub fn flush(&self) -> Result<(), LogError> {
        self.index.flush()
    }

    /// The `.index` file's path.
    pub fn path(&self) -> &Path {
        self.index.path()
    }

    /// Records that the file now lives at `path` (renamed by the cleaner's swap).
    pub fn set_path(&mut self, path: std::path::PathBuf) {
        self.index.set_path(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_the_largest_entry_at_or_below() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut idx = OffsetIndex::open(
            &dir.path().join("00000000000000000100.index"),
            100,
            Some(1024),
        )
        .expect("open");
        assert_eq!(
            idx.lookup(150),
            (100, 0),
            "empty index starts at the segment"
        );
        assert!(idx.append(109, 0).expect("append"));
        assert!(idx.append(119, 4096).expect("append"));
        assert!(idx.append(129, 8192).expect("append"));
        assert!(
            idx.append(125, 9000).expect("append"),
            "non-ascending entries are ignored"
        );
        assert_eq!(idx.entries(), 3);
        assert_eq!(idx.lookup(99), (100, 0));
        assert_eq!(idx.lookup(109), (109, 0));
        assert_eq!(idx.lookup(118), (109, 0));
        assert_eq!(idx.lookup(125), (119, 4096));
        assert_eq!(idx.lookup(10_000), (129, 8192));
        assert!(idx.is_sane());
        assert_eq!(idx.last_offset(), Some(129));
        idx.reset();
        assert_eq!(idx.entries(), 0);
    }
}
