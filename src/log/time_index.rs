//! Kafka's `TimeIndex`: a sparse map from timestamp to offset, 12-byte entries of (8-byte
//! timestamp, 4-byte offset relative to the segment base). Timestamps strictly ascend: an entry
//! is only added when the segment's max timestamp so far grows.

use std::path::Path;

use super::error::LogError;
use super::index::MmapIndex;

const ENTRY_SIZE: usize = 12;

/// A timestamp → offset index for one segment.
pub struct TimeIndex {
    base_offset: i64,
    index: MmapIndex,
}

fn timestamp(entry: &[u8]) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&entry[..8]);
    i64::from_be_bytes(b)
}
fn relative(entry: &[u8]) -> i32 {
    i32::from_be_bytes([entry[8], entry[9], entry[10], entry[11]])
}

impl TimeIndex {
    /// Opens or creates the `.timeindex` file; see [`MmapIndex::open`] for `capacity_bytes`.
    pub fn open(
        path: &Path,
        base_offset: i64,
        capacity_bytes: Option<usize>,
    ) -> Result<TimeIndex, LogError> {
        Ok(TimeIndex {
            base_offset,
            index: MmapIndex::open(path, ENTRY_SIZE, capacity_bytes)?,
        })
    }

    /// Adds `(timestamp, offset)` if `timestamp` is above the last entry's. Unless
    /// `skip_full_check`, the last slot is kept free for the entry written on roll, as Kafka does.
    /// An error if the entry could not be written.
    pub fn maybe_append(
        &mut self,
        timestamp: i64,
        offset: i64,
        skip_full_check: bool,
    ) -> Result<(), LogError> {
        if !skip_full_check && self.is_full() {
            return Ok(());
        }
        if self
            .last_entry()
            .is_some_and(|(ts, off)| timestamp <= ts || offset < off)
        {
            return Ok(());
        }
        let mut entry = [0u8; ENTRY_SIZE];
        entry[..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..].copy_from_slice(&((offset - self.base_offset) as i32).to_be_bytes());
        self.index.push(&entry).map(|_| ())
    }

    /// The entry with the largest timestamp <= `target`, or `(-1, base_offset)` if none.
    pub fn lookup(&self, target: i64) -> (i64, i64) {
        match self.index.largest_lower_bound(target, timestamp) {
            Some(n) => {
                let e = self.index.entry(n);
                (timestamp(e), self.base_offset + i64::from(relative(e)))
            }
            None => (-1, self.base_offset),
        }
    }

    /// The last `(timestamp, offset)` entry: after a roll or clean close, the segment's max.
    pub fn last_entry(&self) -> Option<(i64, i64)> {
        let n = self.index.entries().checked_sub(1)?;
        let e = self.index.entry(n);
        Some((timestamp(e), self.base_offset + i64::from(relative(e))))
    }

    /// Drops every entry (before a rebuild).
    pub fn reset(&mut self) {
        self.index.truncate_entries(0);
    }

    /// Number of entries.
    pub fn entries(&self) -> usize {
        self.index.entries()
    }

    /// Forgets entries from `n` on (undoing the entries of a failed append).
    pub fn truncate_entries(&mut self, n: usize) {
        self.index.truncate_entries(n);
    }

    /// Timestamps and offsets ascend.
    pub fn is_sane(&self) -> bool {
        (1..self.index.entries()).all(|n| {
            let (a, b) = (self.index.entry(n - 1), self.index.entry(n));
            timestamp(a) < timestamp(b) && relative(a) <= relative(b)
        })
    }

    /// Kafka's `TimeIndex.isFull`: one slot short of capacity, so the roll entry always fits.
    pub fn is_full(&self) -> bool {
        self.index.entries() + 1 >= self.index.max_entries()
    }

    /// See [`MmapIndex::trim`].
    pub fn trim(&mut self) -> Result<(), LogError> {
        self.index.trim()
    }

    /// See [`MmapIndex::flush`].
    pub fn flush(&self) -> Result<(), LogError> {
        self.index.flush()
    }

    /// The `.timeindex` file's path.
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
    fn appends_only_growing_timestamps_and_looks_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut idx = TimeIndex::open(
            &dir.path().join("00000000000000000010.timeindex"),
            10,
            Some(1200),
        )
        .expect("open");
        assert_eq!(idx.lookup(5), (-1, 10));
        idx.maybe_append(100, 12, false).expect("append");
        idx.maybe_append(100, 13, false).expect("append");
        idx.maybe_append(90, 14, false).expect("append");
        idx.maybe_append(200, 20, false).expect("append");
        assert_eq!(idx.last_entry(), Some((200, 20)));
        assert_eq!(idx.lookup(99), (-1, 10));
        assert_eq!(idx.lookup(150), (100, 12));
        assert_eq!(idx.lookup(200), (200, 20));
        assert!(idx.is_sane());
        idx.reset();
        assert_eq!(idx.last_entry(), None);
    }

    #[test]
    fn keeps_the_last_slot_for_the_roll_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut idx = TimeIndex::open(&dir.path().join("x.timeindex"), 0, Some(24)).expect("open");
        idx.maybe_append(1, 1, false).expect("append");
        assert!(idx.is_full());
        idx.maybe_append(2, 2, false).expect("append");
        assert_eq!(idx.last_entry(), Some((1, 1)));
        idx.maybe_append(3, 3, true).expect("append");
        assert_eq!(idx.last_entry(), Some((3, 3)));
    }
}
