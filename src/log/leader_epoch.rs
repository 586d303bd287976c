//! Kafka's `LeaderEpochFileCache`: the start offset of each leader epoch of a partition, kept
//! in `leader-epoch-checkpoint` (`0`, the entry count, then `<epoch> <start offset>` lines),
//! answering OffsetForLeaderEpoch: where did epoch N end?

use std::path::{Path, PathBuf};

use super::error::LogError;
use crate::base::fsync::{fsync_dir, fsync_file};

/// The file's name inside the partition directory.
pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

/// Epoch → start offset entries, ascending in both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    /// `(epoch, start offset)`, oldest first.
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    /// Reads the checkpoint in `dir` (missing or malformed → empty, as Kafka starts over).
    pub fn load(dir: &Path) -> LeaderEpochCache {
        let text = std::fs::read_to_string(dir.join(LEADER_EPOCH_CHECKPOINT)).unwrap_or_default();
        let mut lines = text.lines();
        if lines.next() != Some("0") {
            return LeaderEpochCache::default();
        }
        let count: usize = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0);
        let entries: Vec<(i32, i64)> = lines
            .take(count)
            .filter_map(|l| {
                let (e, o) = l.trim().split_once(' ')?;
                Some((e.parse().ok()?, o.parse().ok()?))
            })
            .collect();
        if entries.len() != count || entries.windows(2).any(|w| w[0] >= w[1]) {
            return LeaderEpochCache::default();
        }
        LeaderEpochCache { entries }
    }

    /// The newest epoch, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|(e, _)| *e)
    }

    /// Records that `epoch` starts at `offset` (ignored unless newer than the latest) and
    /// rewrites the checkpoint in `dir`.
    pub fn assign(&mut self, dir: &Path, epoch: i32, offset: i64) -> Result<(), LogError> {
        if self.latest_epoch().is_some_and(|e| e >= epoch) {
            return Ok(());
        }
        self.entries.push((epoch, offset));
        self.write(dir)
    }

    fn write(&self, dir: &Path) -> Result<(), LogError> {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT);
        let tmp: PathBuf = dir.join(format!("{LEADER_EPOCH_CHECKPOINT}.tmp"));
        let mut text = format!("0\n{}\n", self.entries.len());
        for (e, o) in &self.entries {
            text.push_str(&format!("{e} {o}\n"));
        }
        std::fs::write(&tmp, text).map_err(|e| LogError::io(&tmp, e))?;
        let file = std::fs::File::open(&tmp).map_err(|e| LogError::io(&tmp, e))?;
        fsync_file(&file).map_err(|e| LogError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| LogError::io(&path, e))?;
        fsync_dir(dir).map_err(|e| LogError::io(dir, e))
    }

    /// Kafka's `endOffsetFor`: the epoch (at or below `requested`) and the offset where it
    /// ended; the latest epoch ends at `log_end_offset`; an epoch newer than any known, or no
    /// epochs at all, is `(-1, -1)`.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        match self.latest_epoch() {
            Some(latest) if latest == requested => return (requested, log_end_offset),
            None => return (-1, -1),
            _ => {}
        }
        let Some(higher) = self.entries.iter().find(|(e, _)| *e > requested) else {
            return (-1, -1);
        };
        match self.entries.iter().rev().find(|(e, _)| *e <= requested) {
            Some((floor, _)) => (*floor, higher.1),
            None => (requested, higher.1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_offsets_as_kafka_computes_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::load(dir.path());
        assert_eq!(c.end_offset_for(0, 10), (-1, -1));
        c.assign(dir.path(), 0, 0).unwrap();
        c.assign(dir.path(), 2, 30).unwrap();
        c.assign(dir.path(), 5, 50).unwrap();
        c.assign(dir.path(), 4, 60).unwrap();
        assert_eq!(c.end_offset_for(5, 70), (5, 70));
        assert_eq!(c.end_offset_for(0, 70), (0, 30));
        assert_eq!(c.end_offset_for(1, 70), (0, 30));
        assert_eq!(c.end_offset_for(3, 70), (2, 50));
        assert_eq!(c.end_offset_for(6, 70), (-1, -1));
        let again = LeaderEpochCache::load(dir.path());
        assert_eq!(again, c);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(LEADER_EPOCH_CHECKPOINT)).unwrap(),
            "0\n3\n0 0\n2 30\n5 50\n"
        );
    }
}
