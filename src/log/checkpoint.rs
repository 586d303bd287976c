//! Kafka's offset checkpoint files (`recovery-point-offset-checkpoint`,
//! `log-start-offset-checkpoint`, ...): plain text,
//!
//! ```text
//! 0
//! <entry count>
//! <topic> <partition> <offset>
//! ...
//! ```
//!
//! written to `<name>.tmp`, fsynced and renamed over the old file, so a crash leaves either the
//! old or the new checkpoint, never a torn one (Kafka's `CheckpointFile`).

use std::fs::File;
use std::path::{Path, PathBuf};

use super::TopicPartition;
use crate::base::fs;
use crate::base::fsync::fsync_dir;

/// Name of the per-dir checkpoint of each partition's recovery point.
pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
/// Name of the per-dir checkpoint of each compacted partition's first dirty offset (where the
/// log cleaner resumes).
pub const CLEANER_OFFSET_CHECKPOINT: &str = "cleaner-offset-checkpoint";
/// Name of the per-dir checkpoint of each partition's log start offset.
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
const VERSION: i32 = 0;

/// Why a checkpoint file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file system refused.
    #[error("I/O error on checkpoint file {path}: {source}")]
    Io {
        /// The checkpoint (or its temp file).
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The contents are not in Kafka's format.
    #[error("Malformed line in checkpoint file ({path}): {reason}")]
    Malformed {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Writes `entries` to `path` atomically and durably.
pub fn write(path: &Path, entries: &[(TopicPartition, i64)]) -> Result<(), CheckpointError> {
    let io = |p: &Path, e| CheckpointError::Io {
        path: p.to_path_buf(),
        source: e,
    };
    let mut text = format!("{VERSION}\n{}\n", entries.len());
    for (tp, offset) in entries {
        text.push_str(&format!("{} {} {offset}\n", tp.topic, tp.partition));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let file = File::create(&tmp).map_err(|e| io(&tmp, e))?;
    fs::write_all(&file, text.as_bytes(), &tmp).map_err(|e| io(&tmp, e))?;
    fs::sync_file(&file, &tmp).map_err(|e| io(&tmp, e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    if let Some(dir) = path.parent() {
        fsync_dir(dir).map_err(|e| io(dir, e))?;
    }
    Ok(())
}

/// Reads a checkpoint; a missing file is an empty checkpoint (first start-up).
pub fn read(path: &Path) -> Result<Vec<(TopicPartition, i64)>, CheckpointError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(CheckpointError::Io {
                path: path.to_path_buf(),
                source: e,
            });
        }
    };
    let bad = |reason: String| CheckpointError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let mut lines = text.lines();
    let version = lines.next().ok_or_else(|| bad("empty file".into()))?;
    if version.trim().parse::<i32>() != Ok(VERSION) {
        return Err(bad(format!(
            "unrecognized version of the checkpoint file: {version}"
        )));
    }
    let count_line = lines
        .next()
        .ok_or_else(|| bad("missing entry count".into()))?;
    let count: usize = count_line
        .trim()
        .parse()
        .map_err(|_| bad(format!("bad entry count {count_line}")))?;
    let mut entries = Vec::with_capacity(count.min(1 << 16));
    for line in lines.by_ref().take(count) {
        let mut fields = line.split(' ');
        let parsed = match (fields.next(), fields.next(), fields.next(), fields.next()) {
            (Some(topic), Some(p), Some(o), None) if !topic.is_empty() => p
                .parse::<i32>()
                .ok()
                .zip(o.parse::<i64>().ok())
                .map(|(p, o)| (topic, p, o)),
            _ => None,
        };
        let (topic, partition, offset) = parsed.ok_or_else(|| bad(line.to_string()))?;
        entries.push((
            TopicPartition {
                topic: topic.to_string(),
                partition,
            },
            offset,
        ));
    }
    if entries.len() != count {
        return Err(bad(format!(
            "expected {count} entries but found only {}",
            entries.len()
        )));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    #[test]
    fn round_trips_in_kafkas_text_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(RECOVERY_POINT_CHECKPOINT);
        let entries = vec![(tp("orders", 0), 42), (tp("my-topic", 11), 0)];
        write(&path, &entries).expect("write");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "0\n2\norders 0 42\nmy-topic 11 0\n"
        );
        assert!(
            !dir.path()
                .join("recovery-point-offset-checkpoint.tmp")
                .exists()
        );
        assert_eq!(read(&path).expect("read"), entries);
        write(&path, &[]).expect("rewrite");
        assert_eq!(read(&path).expect("read"), vec![]);
    }

    #[test]
    fn missing_is_empty_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(LOG_START_OFFSET_CHECKPOINT);
        assert_eq!(read(&path).expect("missing"), vec![]);
        for bad in [
            "1\n0\n",
            "0\n2\nt 0 1\n",
            "0\n1\nt x 1\n",
            "0\n1\nt 0 1 9\n",
            "",
        ] {
            std::fs::write(&path, bad).expect("write");
            assert!(read(&path).is_err(), "{bad:?} must be rejected");
        }
    }
}
