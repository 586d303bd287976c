//! The persisted topic catalog.

use crate::config::{ConfigError, LogConfig};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

/// File name of the catalog inside the metadata log dir. A plain file, so the log manager
/// (which only opens `<topic>-<partition>` directories) passes it by.
const CATALOG_FILE: &str = "strom-topics.json";

/// One topic as the controller knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicInfo {
    /// The topic's name.
    pub name: String,
    /// Its topic id (KIP-516), fixed at creation; `partition.metadata` holds it too.
    pub id: Uuid,
    /// Number of partitions.
    pub partitions: i32,
    /// Topic-level configuration overrides exactly as the user gave them.
    pub overrides: BTreeMap<String, String>,
    /// Broker defaults merged with `overrides`.
    pub config: LogConfig,
}

/// Why the catalog could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("Error while reading topic catalog {path}: {source}")]
    Read {
        /// The catalog file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not a catalog this broker wrote.
    #[error("Topic catalog {path} is corrupt: {reason}")]
    Corrupt {
        /// The catalog file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A change could not be made durable; it did not happen.
    #[error("Error while writing topic catalog {path}: {source}")]
    Write {
        /// The catalog file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A stored topic config is no longer valid.
    #[error("Invalid configuration of topic {topic}: {source}")]
    Config {
        /// The topic.
        topic: String,
        /// What is wrong.
        source: ConfigError,
    },
}

#[derive(Serialize, Deserialize)]
struct StoredCatalog {
    version: u32,
    topics: Vec<StoredTopic>,
}

#[derive(Serialize, Deserialize)]
struct StoredTopic {
    name: String,
    id: Uuid,
    partitions: i32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

#[derive(Default)]
struct Topics {
    by_name: BTreeMap<String, Arc<TopicInfo>>,
    by_id: HashMap<Uuid, Arc<TopicInfo>>,
}

/// Topic metadata, readable concurrently, changed one write at a time.
pub struct TopicCatalog {
    path: PathBuf,
    broker_defaults: LogConfig,
    topics: RwLock<Topics>,
    /// Serialises changes so that the file always reflects a prefix of the change history.
    write_lock: Mutex<()>,
}

impl TopicCatalog {
    /// Loads the catalog from `metadata_dir` (an absent file is an empty catalog).
    pub fn load(
        metadata_dir: &Path,
        broker_defaults: LogConfig,
    ) -> Result<TopicCatalog, CatalogError> {
        let path = metadata_dir.join(CATALOG_FILE);
        let mut topics = Topics::default();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let stored: StoredCatalog =
                    serde_json::from_slice(&bytes).map_err(|e| CatalogError::Corrupt {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                for t in stored.topics {
                    let config = broker_defaults
                        .with_overrides(&t.configs)
                        .map_err(|source| CatalogError::Config {
                            topic: t.name.clone(),
                            source,
                        })?;
                    let info = Arc::new(TopicInfo {
                        name: t.name,
                        id: t.id,
                        partitions: t.partitions,
                        overrides: t.configs,
                        config,
                    });
                    topics.by_id.insert(info.id, info.clone());
                    topics.by_name.insert(info.name.clone(), info);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(CatalogError::Read { path, source }),
        }
        Ok(TopicCatalog {
            path,
            broker_defaults,
            topics: RwLock::new(topics),
            write_lock: Mutex::new(()),
        })
    }

    /// The broker-level log defaults topics start from.
    pub fn broker_defaults(&self) -> &LogConfig {
        &self.broker_defaults
    }

    /// The topic named `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<Arc<TopicInfo>> {
        self.topics.read().by_name.get(name).cloned()
    }

    /// The topic with id `id`, if it exists.
    pub fn get_by_id(&self, id: &Uuid) -> Option<Arc<TopicInfo>> {
        self.topics.read().by_id.get(id).cloned()
    }

    /// All topics, sorted by name.
    pub fn all(&self) -> Vec<Arc<TopicInfo>> {
        self.topics.read().by_name.values().cloned().collect()
    }

    /// Names of existing topics, for collision checks.
    pub fn names(&self) -> Vec<String> {
        self.topics.read().by_name.keys().cloned().collect()
    }

    /// Adds (or replaces) a topic and persists the catalog before returning.
    pub fn put(&self, info: TopicInfo) -> Result<Arc<TopicInfo>, CatalogError> {
        let info = Arc::new(info);
        self.change(|t| {
            if let Some(old) = t.by_name.insert(info.name.clone(), info.clone()) {
                t.by_id.remove(&old.id);
            }
            t.by_id.insert(info.id, info.clone());
        })?;
        Ok(info)
    }

    /// Removes a topic and persists the catalog; returns what was removed.
    pub fn remove(&self, name: &str) -> Result<Option<Arc<TopicInfo>>, CatalogError> {
        let mut removed = None;
        self.change(|t| {
            removed = t.by_name.remove(name);
            if let Some(r) = &removed {
                t.by_id.remove(&r.id);
            }
        })?;
        Ok(removed)
    }

    fn change(&self, f: impl FnOnce(&mut Topics)) -> Result<(), CatalogError> {
        let _serialised = self.write_lock.lock();
        let mut next = {
            let current = self.topics.read();
            Topics {
                by_name: current.by_name.clone(),
                by_id: current.by_id.clone(),
            }
        };
        f(&mut next);
        self.persist(&next)?;
        *self.topics.write() = next;
        Ok(())
    }

    /// Write-to-temp, fsync, rename, fsync the directory: the catalog is either the old or the
    /// new one after a crash, never a torn mix.
    fn persist(&self, topics: &Topics) -> Result<(), CatalogError> {
        let stored = StoredCatalog {
            version: 1,
            topics: topics
                .by_name
                .values()
                .map(|t| StoredTopic {
                    name: t.name.clone(),
                    id: t.id,
                    partitions: t.partitions,
                    configs: t.overrides.clone(),
                })
                .collect(),
        };
        let write_err = |source| CatalogError::Write {
            path: self.path.clone(),
            source,
        };
        let bytes =
            serde_json::to_vec_pretty(&stored).map_err(|e| write_err(std::io::Error::other(e)))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(write_err)?;
        f.write_all(&bytes).map_err(write_err)?;
        f.sync_all().map_err(write_err)?;
        std::fs::rename(&tmp, &self.path).map_err(write_err)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(write_err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, partitions: i32) -> TopicInfo {
        TopicInfo {
            name: name.into(),
            id: Uuid::new_v4(),
            partitions,
            overrides: BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]),
            config: LogConfig::default(),
        }
    }

    #[test]
    fn survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let cat = TopicCatalog::load(dir.path(), LogConfig::default()).unwrap();
        let a = cat.put(topic("a", 3)).unwrap();
        cat.put(topic("b", 1)).unwrap();
        cat.remove("b").unwrap();
        let again = TopicCatalog::load(dir.path(), LogConfig::default()).unwrap();
        let a2 = again.get("a").unwrap();
        assert_eq!(a2.id, a.id);
        assert_eq!(a2.partitions, 3);
        assert_eq!(a2.config.retention_ms, 1000);
        assert!(again.get("b").is_none());
        assert_eq!(again.get_by_id(&a.id).unwrap().name, "a");
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CATALOG_FILE), b"{not json").unwrap();
        let err = TopicCatalog::load(dir.path(), LogConfig::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("strom-topics.json"), "{err}");
    }
}
