//! Producer-id allocation for idempotent producers (`InitProducerId`).
//!
//! Kafka's controller hands out producer ids in blocks and records each block in the metadata
//! log so an id is never reused after a restart. Strom does the same with a one-line file: the
//! end of the current block is made durable *before* any id of that block is handed out.

use parking_lot::Mutex;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Ids reserved per durable write (Kafka's controller uses blocks of 1000 too).
const BLOCK_SIZE: i64 = 1000;
const FILE_NAME: &str = "strom-producer-id-block";

/// Why the durable producer-id block could not be read or reserved.
#[derive(Debug, thiserror::Error)]
pub enum ProducerIdError {
    /// The block file exists but cannot be read or parsed.
    #[error("Error while reading producer id block {path}: {reason}")]
    Read {
        /// The block file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reserving the next block failed: no id from it may be handed out.
    #[error("Error while writing producer id block {path}: {source}")]
    Write {
        /// The block file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

struct Block {
    next: i64,
    end: i64,
}

/// Hands out producer ids that are unique across restarts.
pub struct ProducerIdManager {
    path: PathBuf,
    block: Mutex<Block>,
}

impl ProducerIdManager {
    /// Opens the allocator; ids continue after the last block ever reserved.
    pub fn open(metadata_dir: &Path) -> Result<ProducerIdManager, ProducerIdError> {
        let path = metadata_dir.join(FILE_NAME);
        let reserved_end = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<i64>()
                .map_err(|e| ProducerIdError::Read {
                    path: path.clone(),
                    reason: format!("not a number ({e}): {:?}", text.trim()),
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => {
                return Err(ProducerIdError::Read {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        Ok(ProducerIdManager {
            path,
            block: Mutex::new(Block {
                next: reserved_end,
                end: reserved_end,
            }),
        })
    }

    /// The next unused producer id.
    pub fn next_id(&self) -> Result<i64, ProducerIdError> {
        let mut block = self.block.lock();
        if block.next >= block.end {
            let end = block.end + BLOCK_SIZE;
            self.persist(end)?;
            block.end = end;
        }
        let id = block.next;
        block.next += 1;
        Ok(id)
    }

    fn persist(&self, end: i64) -> Result<(), ProducerIdError> {
        let err = |source| ProducerIdError::Write {
            path: self.path.clone(),
            source,
        };
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        writeln!(f, "{end}").map_err(err)?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&tmp, &self.path).map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_reused_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let m = ProducerIdManager::open(dir.path()).unwrap();
        assert_eq!(m.next_id().unwrap(), 0);
        assert_eq!(m.next_id().unwrap(), 1);
        drop(m);
        let m = ProducerIdManager::open(dir.path()).unwrap();
        assert_eq!(m.next_id().unwrap(), BLOCK_SIZE);
        for _ in 0..BLOCK_SIZE {
            m.next_id().unwrap();
        }
        assert_eq!(m.next_id().unwrap(), 2 * BLOCK_SIZE + 1);
    }

    #[test]
    fn garbage_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "abc").unwrap();
        let err = ProducerIdManager::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains(FILE_NAME), "{err}");
    }
}
