//! Producer-id allocation for idempotent producers (`InitProducerId`).
//!
//! Kafka's controller hands out producer ids in blocks and records each block in the metadata
//! log (`ProducerIdsRecord`) so an id is never reused after a restart. Strom does the same: a
//! block's record is durable *before* any id of that block is handed out. Ids reserved by
//! Strom versions before the metadata log (the `strom-producer-id-block` file) stay reserved.

use crate::metadata::{CatalogError, TopicCatalog};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Ids reserved per durable write (Kafka's controller uses blocks of 1000 too).
const BLOCK_SIZE: i64 = 1000;
/// The block file of Strom versions before the metadata log.
const LEGACY_FILE: &str = "strom-producer-id-block";

/// Why the durable producer-id block could not be read or reserved.
#[derive(Debug, thiserror::Error)]
pub enum ProducerIdError {
    /// The legacy block file exists but cannot be read or parsed.
    #[error("Error while reading producer id block {path}: {reason}")]
    Read {
        /// The block file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reserving the next block failed: no id from it may be handed out.
    #[error("Error while reserving a producer id block: {0}")]
    Write(#[from] CatalogError),
}

struct Block {
    next: i64,
    end: i64,
}

/// Hands out producer ids that are unique across restarts.
pub struct ProducerIdManager {
    /// Where blocks are recorded.
    catalog: Arc<TopicCatalog>,
    /// Ids below this were handed out before the metadata log existed.
    legacy_end: i64,
    /// The current block.
    block: Mutex<Block>,
}

impl ProducerIdManager {
    /// Opens the allocator over the metadata log; ids continue after the last block ever
    /// reserved (including a legacy block file in `metadata_dir`).
    pub fn open(
        catalog: Arc<TopicCatalog>,
        metadata_dir: &Path,
    ) -> Result<ProducerIdManager, ProducerIdError> {
        let path = metadata_dir.join(LEGACY_FILE);
        let legacy_end = match std::fs::read_to_string(&path) {
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
            catalog,
            legacy_end,
            block: Mutex::new(Block { next: 0, end: 0 }),
        })
    }

    /// The next unused producer id.
    pub fn next_id(&self) -> Result<i64, ProducerIdError> {
        let mut block = self.block.lock();
        if block.next >= block.end {
            let start = self
                .catalog
                .allocate_producer_ids(BLOCK_SIZE, self.legacy_end)?;
            *block = Block {
                next: start,
                end: start + BLOCK_SIZE,
            };
        }
        let id = block.next;
        block.next += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogConfig;

    fn open(dir: &Path) -> ProducerIdManager {
        let catalog = TopicCatalog::load(dir, 1, LogConfig::default()).unwrap();
        ProducerIdManager::open(Arc::new(catalog), dir).unwrap()
    }

    #[test]
    fn ids_are_never_reused_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let m = open(dir.path());
        assert_eq!(m.next_id().unwrap(), 0);
        assert_eq!(m.next_id().unwrap(), 1);
        drop(m);
        let m = open(dir.path());
        assert_eq!(m.next_id().unwrap(), BLOCK_SIZE);
        for _ in 0..BLOCK_SIZE {
            m.next_id().unwrap();
        }
        assert_eq!(m.next_id().unwrap(), 2 * BLOCK_SIZE + 1);
    }

    #[test]
    fn ids_of_the_legacy_block_file_stay_reserved() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LEGACY_FILE), "3000\n").unwrap();
        assert_eq!(open(dir.path()).next_id().unwrap(), 3000);
        assert_eq!(open(dir.path()).next_id().unwrap(), 4000);
    }

    #[test]
    fn garbage_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LEGACY_FILE), "abc").unwrap();
        let catalog = TopicCatalog::load(dir.path(), 1, LogConfig::default()).unwrap();
        let err = ProducerIdManager::open(Arc::new(catalog), dir.path())
            .err()
            .unwrap();
        assert!(err.to_string().contains(LEGACY_FILE), "{err}");
    }
}
