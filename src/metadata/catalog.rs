//! The topic catalog: topics, partitions, dynamic configs, finalized features and producer-id
//! blocks, kept as Kafka's KRaft controller keeps them, as records of the `__cluster_metadata`
//! log (see [`super::cluster_log`]). Start-up replays the log; every change is one batch of
//! records, durable before it is visible.
//!
//! Directories written by Strom before the metadata log (`strom-topics.json`) are migrated
//! on their first start: the file's topics become records and the file is renamed
//! `strom-topics.json.migrated`.

use super::cluster_log::{MetadataLog, MetadataLogError, bootstrap_features};
use super::records::{
    BROKER_RESOURCE, MetadataRecord, NO_LEADER_CHANGE, PartitionChange, PartitionRecord,
    TOPIC_RESOURCE,
};
use crate::base::clock::now_ms;
use crate::config::{ConfigError, DynamicBrokerConfigs, LogConfig};
use crate::storage::bootstrap::CLUSTER_METADATA_DIR;
use parking_lot::{Mutex, RwLock};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use tracing::{info, warn};
use uuid::Uuid;

/// The catalog file of Strom versions before the metadata log, migrated on first start.
const LEGACY_CATALOG_FILE: &str = "strom-topics.json";

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
    /// Each partition's leader epoch (index = partition): 0 for topics Strom created, one
    /// more than Kafka's last epoch for partitions Strom took over from a Kafka directory.
    pub leader_epochs: Vec<i32>,
}

impl TopicInfo {
    /// The leader epoch of `partition` (0 if out of range).
    pub fn leader_epoch(&self, partition: i32) -> i32 {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.leader_epochs.get(p))
            .copied()
            .unwrap_or(0)
    }
}

/// Why the catalog could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The metadata log could not be read or written; a failed change did not happen.
    #[error(transparent)]
    Log(#[from] MetadataLogError),
    /// The pre-metadata-log catalog could not be migrated.
    #[error("Cannot migrate topic catalog {path}: {reason}")]
    Legacy {
        /// The `strom-topics.json` file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
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

/// A partition while the log is replayed.
#[derive(Debug, Clone, Default)]
struct PartitionState {
    leader: i32,
    leader_epoch: i32,
    isr: Vec<i32>,
}

/// A topic while the log is replayed.
#[derive(Debug, Clone)]
struct TopicState {
    name: String,
    partitions: BTreeMap<i32, PartitionState>,
}

/// The metadata image: what replaying the log yields.
#[derive(Default)]
struct Image {
    /// Topics by name, as handlers read them.
    by_name: BTreeMap<String, Arc<TopicInfo>>,
    /// The same topics by id.
    by_id: HashMap<Uuid, Arc<TopicInfo>>,
    /// Dynamic configs by resource (type, name): topic overrides, broker-level configs.
    configs: BTreeMap<(i8, String), BTreeMap<String, String>>,
    /// Finalized feature levels (`metadata.version`, `group.version`, ...).
    features: BTreeMap<String, i16>,
    /// The first producer id not yet handed out in a block.
    next_producer_id: i64,
}

/// Topic metadata, readable concurrently, changed one durable batch at a time.
pub struct TopicCatalog {
    /// This node: the only replica and leader of every partition.
    node_id: i32,
    /// The broker-level log defaults topics start from (static and dynamic broker configs).
    broker_defaults: RwLock<LogConfig>,
    /// The current image.
    image: RwLock<Image>,
    /// The metadata log; its lock also serialises changes, so the log order is the order in
    /// which changes become visible.
    log: Mutex<MetadataLog>,
    /// The log's Raft epoch and end offset, readable without waiting for a write's fsync
    /// (ApiVersions reports the end offset as its features epoch).
    position: (AtomicI32, AtomicI64),
}

impl TopicCatalog {
    /// Opens the metadata log in `metadata_dir`, replays it, migrates a pre-metadata-log
    /// `strom-topics.json`, and takes leadership (as node `node_id`) of partitions another
    /// broker (Apache Kafka, on a directory it wrote) led.
    pub fn load(
        metadata_dir: &Path,
        node_id: i32,
        broker_defaults: LogConfig,
    ) -> Result<TopicCatalog, CatalogError> {
        let now = now_ms();
        let (mut log, recovered) = MetadataLog::open(metadata_dir, node_id, now)?;
        let mut initial = Vec::new();
        if recovered.empty {
            initial.extend(initial_features(metadata_dir)?);
            // Kafka's controller records the cluster-wide min.insync.replicas at bootstrap.
            initial.push(MetadataRecord::Config {
                resource_type: BROKER_RESOURCE,
                resource_name: String::new(),
                name: "min.insync.replicas".into(),
                value: Some(broker_defaults.min_insync_replicas.to_string()),
            });
            initial.extend(legacy_topics(metadata_dir, node_id)?);
        }
        let mut topics: BTreeMap<Uuid, TopicState> = BTreeMap::new();
        let mut image = Image::default();
        for record in recovered.records.iter().chain(&initial) {
            replay(&mut image, &mut topics, record);
        }
        let takeover = take_leadership(&topics, node_id);
        for record in &takeover {
            replay(&mut image, &mut topics, record);
        }
        initial.extend(takeover);
        log.append(&initial, now)?;
        if recovered.empty {
            let legacy = metadata_dir.join(LEGACY_CATALOG_FILE);
            if legacy.exists() {
                let migrated = metadata_dir.join(format!("{LEGACY_CATALOG_FILE}.migrated"));
                std::fs::rename(&legacy, &migrated).map_err(|e| CatalogError::Legacy {
                    path: legacy.clone(),
                    reason: e.to_string(),
                })?;
                info!(
                    "Migrated the topic catalog {} into the metadata log {}; the old file is kept as {}",
                    legacy.display(),
                    metadata_dir.join(CLUSTER_METADATA_DIR).display(),
                    migrated.display()
                );
            }
        }
        for (id, t) in topics {
            let info = topic_info(&image, id, t, &broker_defaults);
            image.by_id.insert(info.id, info.clone());
            image.by_name.insert(info.name.clone(), info);
        }
        let position = (
            AtomicI32::new(log.epoch()),
            AtomicI64::new(log.end_offset()),
        );
        Ok(TopicCatalog {
            position,
            node_id,
            broker_defaults: RwLock::new(broker_defaults),
            image: RwLock::new(image),
            log: Mutex::new(log),
        })
    }

    /// The broker-level log defaults topics start from.
    pub fn broker_defaults(&self) -> LogConfig {
        self.broker_defaults.read().clone()
    }

    /// Makes `defaults` the broker-level log defaults and recomputes every topic's effective
    /// config from them; returns the topics whose config changed.
    pub fn apply_broker_defaults(&self, defaults: LogConfig) -> Vec<Arc<TopicInfo>> {
        let _serialised = self.log.lock();
        let mut image = self.image.write();
        let mut changed = Vec::new();
        for info in image.by_name.values_mut() {
            let config = match defaults.with_overrides(&info.overrides) {
                Ok(config) => config,
                Err(e) => {
                    warn!("Keeping the configuration of topic {}: {e}", info.name);
                    continue;
                }
            };
            if config != info.config {
                let mut next = (**info).clone();
                next.config = config;
                *info = Arc::new(next);
                changed.push(info.clone());
            }
        }
        for info in &changed {
            image.by_id.insert(info.id, info.clone());
        }
        *self.broker_defaults.write() = defaults;
        changed
    }

    /// The dynamic broker configs in force for this node.
    pub fn dynamic_broker_configs(&self) -> DynamicBrokerConfigs {
        DynamicBrokerConfigs {
            broker: self.broker_configs(&self.node_id.to_string()),
            cluster_default: self.broker_configs(""),
        }
    }

    /// Replaces the dynamic configs of broker resource `name` ("" = cluster default) with
    /// `configs`, as `ConfigRecord`s of what changed.
    pub fn set_broker_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<(), CatalogError> {
        let mut log = self.log.lock();
        let old = self.broker_configs(name);
        let record = |key: &String, value: Option<&String>| MetadataRecord::Config {
            resource_type: BROKER_RESOURCE,
            resource_name: name.to_string(),
            name: key.clone(),
            value: value.cloned(),
        };
        let mut records: Vec<MetadataRecord> = configs
            .iter()
            .filter(|(k, v)| old.get(*k) != Some(*v))
            .map(|(k, v)| record(k, Some(v)))
            .collect();
        records.extend(
            old.keys()
                .filter(|k| !configs.contains_key(*k))
                .map(|k| record(k, None)),
        );
        self.write(&mut log, &records)?;
        self.image
            .write()
            .configs
            .insert((BROKER_RESOURCE, name.to_string()), configs);
        Ok(())
    }

    /// The topic named `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<Arc<TopicInfo>> {
        self.image.read().by_name.get(name).cloned()
    }

    /// The topic with id `id`, if it exists.
    pub fn get_by_id(&self, id: &Uuid) -> Option<Arc<TopicInfo>> {
        self.image.read().by_id.get(id).cloned()
    }

    /// All topics, sorted by name.
    pub fn all(&self) -> Vec<Arc<TopicInfo>> {
        self.image.read().by_name.values().cloned().collect()
    }

    /// Names of existing topics, for collision checks.
    pub fn names(&self) -> Vec<String> {
        self.image.read().by_name.keys().cloned().collect()
    }

    /// The finalized feature levels, by name.
    pub fn features(&self) -> BTreeMap<String, i16> {
        self.image.read().features.clone()
    }

    /// Adds (or changes) a topic and makes it durable before returning: a new topic becomes
    /// a `TopicRecord` with its `ConfigRecord`s and `PartitionRecord`s; a change of an
    /// existing one, the records of what changed.
    pub fn put(&self, info: TopicInfo) -> Result<Arc<TopicInfo>, CatalogError> {
        let mut log = self.log.lock();
        let current = self.get(&info.name);
        let mut records = Vec::new();
        let mut info = info;
        match current {
            Some(old) if old.id == info.id => {
                for (name, value) in &info.overrides {
                    if old.overrides.get(name) != Some(value) {
                        records.push(topic_config(&info.name, name, Some(value)));
                    }
                }
                for name in old.overrides.keys() {
                    if !info.overrides.contains_key(name) {
                        records.push(topic_config(&info.name, name, None));
                    }
                }
                records.extend(
                    (old.partitions..info.partitions)
                        .map(|p| new_partition(info.id, p, self.node_id)),
                );
                info.leader_epochs = (0..info.partitions).map(|p| old.leader_epoch(p)).collect();
            }
            old => {
                if let Some(old) = old {
                    records.push(MetadataRecord::RemoveTopic { id: old.id });
                }
                records.push(MetadataRecord::Topic {
                    name: info.name.clone(),
                    id: info.id,
                });
                records.extend(
                    info.overrides
                        .iter()
                        .map(|(k, v)| topic_config(&info.name, k, Some(v))),
                );
                records
                    .extend((0..info.partitions).map(|p| new_partition(info.id, p, self.node_id)));
                info.leader_epochs = vec![0; usize::try_from(info.partitions).unwrap_or(0)];
            }
        }
        self.write(&mut log, &records)?;
        let info = Arc::new(info);
        let mut image = self.image.write();
        if let Some(old) = image.by_name.insert(info.name.clone(), info.clone()) {
            image.by_id.remove(&old.id);
        }
        image.by_id.insert(info.id, info.clone());
        image
            .configs
            .insert((TOPIC_RESOURCE, info.name.clone()), info.overrides.clone());
        Ok(info)
    }

    /// Removes a topic (a `RemoveTopicRecord`, which also drops its configs); returns what
    /// was removed.
    pub fn remove(&self, name: &str) -> Result<Option<Arc<TopicInfo>>, CatalogError> {
        let mut log = self.log.lock();
        let Some(old) = self.get(name) else {
            return Ok(None);
        };
        self.write(&mut log, &[MetadataRecord::RemoveTopic { id: old.id }])?;
        let mut image = self.image.write();
        image.by_name.remove(name);
        image.by_id.remove(&old.id);
        image.configs.remove(&(TOPIC_RESOURCE, name.to_string()));
        Ok(Some(old))
    }

    /// Reserves the next `size` producer ids with a `ProducerIdsRecord`, durably, and returns
    /// the first. `at_least` moves the start up (ids handed out before the metadata log).
    pub fn allocate_producer_ids(&self, size: i64, at_least: i64) -> Result<i64, CatalogError> {
        let mut log = self.log.lock();
        let start = self.image.read().next_producer_id.max(at_least);
        let record = MetadataRecord::ProducerIds {
            broker_id: self.node_id,
            broker_epoch: -1,
            next_producer_id: start + size,
        };
        self.write(&mut log, &[record])?;
        self.image.write().next_producer_id = start + size;
        Ok(start)
    }

    /// Appends FeatureLevelRecords and applies them to the finalized levels.
    pub(super) fn append_feature_levels(
        &self,
        records: &[MetadataRecord],
    ) -> Result<(), CatalogError> {
        let mut log = self.log.lock();
        self.write(&mut log, records)?;
        let mut image = self.image.write();
        let mut topics = BTreeMap::new();
        for r in records {
            replay(&mut image, &mut topics, r);
        }
        Ok(())
    }

    /// The metadata log's Raft epoch (led by this node) and its end offset, for
    /// DescribeQuorum.
    pub fn quorum_position(&self) -> (i32, i64) {
        (
            self.position.0.load(Ordering::Acquire),
            self.position.1.load(Ordering::Acquire),
        )
    }

    /// Appends `records` as one durable batch and publishes the new end offset.
    fn write(&self, log: &mut MetadataLog, records: &[MetadataRecord]) -> Result<(), CatalogError> {
        log.append(records, now_ms())?;
        self.position.1.store(log.end_offset(), Ordering::Release);
        Ok(())
    }

    /// The dynamic configs of broker resource `name` ("" = the cluster-wide default).
    pub fn broker_configs(&self, name: &str) -> BTreeMap<String, String> {
        self.image
            .read()
            .configs
            .get(&(BROKER_RESOURCE, name.to_string()))
            .cloned()
            .unwrap_or_default()
    }
}

fn topic_config(topic: &str, name: &str, value: Option<&String>) -> MetadataRecord {
    MetadataRecord::Config {
        resource_type: TOPIC_RESOURCE,
        resource_name: topic.to_string(),
        name: name.to_string(),
        value: value.cloned(),
    }
}

/// A partition as Kafka's controller creates it on a one-broker cluster: this node the only
/// replica, in sync and leader, epochs 0, log directory left for the broker to assign.
fn new_partition(topic_id: Uuid, partition: i32, node_id: i32) -> MetadataRecord {
    MetadataRecord::Partition(PartitionRecord {
        partition_id: partition,
        topic_id,
        replicas: vec![node_id],
        isr: vec![node_id],
        leader: node_id,
        leader_epoch: 0,
        partition_epoch: 0,
        directories: vec![Uuid::nil()],
    })
}

/// Applies one record to the image being replayed, as Kafka's controller replays it.
fn replay(image: &mut Image, topics: &mut BTreeMap<Uuid, TopicState>, record: &MetadataRecord) {
    match record {
        MetadataRecord::Topic { name, id } => {
            topics.insert(
                *id,
                TopicState {
                    name: name.clone(),
                    partitions: BTreeMap::new(),
                },
            );
        }
        MetadataRecord::Partition(p) => {
            if let Some(t) = topics.get_mut(&p.topic_id) {
                t.partitions.insert(
                    p.partition_id,
                    PartitionState {
                        leader: p.leader,
                        leader_epoch: p.leader_epoch,
                        isr: p.isr.clone(),
                    },
                );
            }
        }
        MetadataRecord::PartitionChange(c) => {
            let partition = topics
                .get_mut(&c.topic_id)
                .and_then(|t| t.partitions.get_mut(&c.partition_id));
            if let Some(p) = partition {
                if c.leader != NO_LEADER_CHANGE {
                    p.leader = c.leader;
                    p.leader_epoch += 1;
                }
                if let Some(isr) = &c.isr {
                    p.isr = isr.clone();
                }
            }
        }
        MetadataRecord::Config {
            resource_type,
            resource_name,
            name,
            value,
        } => {
            let configs = image
                .configs
                .entry((*resource_type, resource_name.clone()))
                .or_default();
            match value {
                Some(v) => {
                    configs.insert(name.clone(), v.clone());
                }
                None => {
                    configs.remove(name);
                }
            }
        }
        MetadataRecord::RemoveTopic { id } => {
            if let Some(t) = topics.remove(id) {
                image.configs.remove(&(TOPIC_RESOURCE, t.name));
            }
        }
        MetadataRecord::FeatureLevel { name, level } => {
            if *level == 0 {
                image.features.remove(name);
            } else {
                image.features.insert(name.clone(), *level);
            }
        }
        MetadataRecord::ProducerIds {
            next_producer_id, ..
        } => image.next_producer_id = image.next_producer_id.max(*next_producer_id),
        MetadataRecord::Other { .. } => {}
    }
}

/// The partition changes that make this node leader and sole in-sync replica of every
/// partition it does not lead yet (after Kafka's controlled shutdown every partition is
/// leaderless), each a new leader epoch, as Kafka's controller writes them.
fn take_leadership(topics: &BTreeMap<Uuid, TopicState>, node_id: i32) -> Vec<MetadataRecord> {
    topics
        .iter()
        .flat_map(|(id, t)| {
            t.partitions
                .iter()
                .filter(|(_, p)| p.leader != node_id || p.isr != [node_id])
                .map(|(partition, _)| {
                    MetadataRecord::PartitionChange(PartitionChange {
                        partition_id: *partition,
                        topic_id: *id,
                        isr: Some(vec![node_id]),
                        leader: node_id,
                        eligible_leader_replicas: Some(Vec::new()),
                        last_known_elr: Some(Vec::new()),
                    })
                })
        })
        .collect()
}

/// The [`TopicInfo`] of a replayed topic. Overrides the broker cannot apply (a key Kafka
/// knows and Strom does not, a value out of range) are kept as written but left out of the
/// effective config, with a warning, so a directory written by Kafka always loads.
fn topic_info(image: &Image, id: Uuid, t: TopicState, defaults: &LogConfig) -> Arc<TopicInfo> {
    let overrides = image
        .configs
        .get(&(TOPIC_RESOURCE, t.name.clone()))
        .cloned()
        .unwrap_or_default();
    let config = defaults.with_overrides(&overrides).unwrap_or_else(|e| {
        warn!("Ignoring invalid configuration of topic {}: {e}", t.name);
        let usable: BTreeMap<String, String> = overrides
            .iter()
            .filter(|(k, v)| {
                let one = BTreeMap::from([((*k).clone(), (*v).clone())]);
                defaults.with_overrides(&one).is_ok()
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        defaults
            .with_overrides(&usable)
            .unwrap_or_else(|_| defaults.clone())
    });
    let partitions = t.partitions.keys().next_back().map_or(0, |p| p + 1);
    Arc::new(TopicInfo {
        name: t.name,
        id,
        partitions,
        overrides,
        config,
        leader_epochs: (0..partitions)
            .map(|p| t.partitions.get(&p).map_or(0, |s| s.leader_epoch))
            .collect(),
    })
}

/// The feature levels a new metadata log starts with: from `bootstrap.checkpoint` (what
/// `kafka-storage format` and Strom's formatting write), else from Kafka 4.4's bootstrap
/// snapshot, else Strom's own defaults.
fn initial_features(metadata_dir: &Path) -> Result<Vec<MetadataRecord>, CatalogError> {
    use crate::storage::bootstrap::{BOOTSTRAP_CHECKPOINT, BOOTSTRAP_SNAPSHOT, FEATURE_LEVELS};
    for path in [
        metadata_dir.join(BOOTSTRAP_CHECKPOINT),
        metadata_dir
            .join(CLUSTER_METADATA_DIR)
            .join(BOOTSTRAP_SNAPSHOT),
    ] {
        let features = bootstrap_features(&path)?;
        if !features.is_empty() {
            return Ok(features);
        }
    }
    Ok(FEATURE_LEVELS
        .iter()
        .map(|(name, level)| MetadataRecord::FeatureLevel {
            name: name.to_string(),
            level: *level,
        })
        .collect())
}

/// `strom-topics.json` as Strom wrote it before the metadata log.
#[derive(Deserialize)]
struct LegacyCatalog {
    topics: Vec<LegacyTopic>,
}

#[derive(Deserialize)]
struct LegacyTopic {
    name: String,
    id: Uuid,
    partitions: i32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

/// The records of the topics in a pre-metadata-log `strom-topics.json`, if there is one.
fn legacy_topics(metadata_dir: &Path, node_id: i32) -> Result<Vec<MetadataRecord>, CatalogError> {
    let path = metadata_dir.join(LEGACY_CATALOG_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(CatalogError::Legacy {
                path,
                reason: e.to_string(),
            });
        }
    };
    let legacy: LegacyCatalog =
        serde_json::from_slice(&bytes).map_err(|e| CatalogError::Legacy {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    let mut records = Vec::new();
    for t in legacy.topics {
        records.push(MetadataRecord::Topic {
            name: t.name.clone(),
            id: t.id,
        });
        records.extend(
            t.configs
                .iter()
                .map(|(k, v)| topic_config(&t.name, k, Some(v))),
        );
        records.extend((0..t.partitions).map(|p| new_partition(t.id, p, node_id)));
    }
    Ok(records)
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
            leader_epochs: Vec::new(),
        }
    }

    #[test]
    fn survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let cat = TopicCatalog::load(dir.path(), 1, LogConfig::default()).unwrap();
        let a = cat.put(topic("a", 3)).unwrap();
        cat.put(topic("b", 1)).unwrap();
        cat.remove("b").unwrap();
        let mut grown = (*a).clone();
        grown.partitions = 5;
        grown.overrides.insert("segment.ms".into(), "60000".into());
        grown.overrides.remove("retention.ms");
        cat.put(grown).unwrap();
        assert_eq!(cat.allocate_producer_ids(1000, 0).unwrap(), 0);
        drop(cat);
        let again = TopicCatalog::load(dir.path(), 1, LogConfig::default()).unwrap();
        let a2 = again.get("a").unwrap();
        assert_eq!(a2.id, a.id);
        assert_eq!(a2.partitions, 5);
        assert_eq!(a2.leader_epochs, vec![0; 5]);
        assert_eq!(a2.config.segment_ms, 60000);
        assert_eq!(a2.config.retention_ms, LogConfig::default().retention_ms);
        assert!(again.get("b").is_none());
        assert_eq!(again.get_by_id(&a.id).unwrap().name, "a");
        assert_eq!(again.allocate_producer_ids(1000, 0).unwrap(), 1000);
        assert_eq!(again.features().get("metadata.version"), Some(&27));
    }

    #[test]
    fn migrates_the_legacy_json_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let id = Uuid::new_v4();
        let json = format!(
            r#"{{"version":1,"topics":[{{"name":"old","id":"{id}","partitions":2,"configs":{{"retention.ms":"5000"}}}}]}}"#
        );
        std::fs::write(dir.path().join(LEGACY_CATALOG_FILE), json).unwrap();
        let cat = TopicCatalog::load(dir.path(), 1, LogConfig::default()).unwrap();
        let old = cat.get("old").unwrap();
        assert_eq!(
            (old.id, old.partitions, old.config.retention_ms),
            (id, 2, 5000)
        );
        assert!(!dir.path().join(LEGACY_CATALOG_FILE).exists());
        assert!(dir.path().join("strom-topics.json.migrated").exists());
        drop(cat);
        let again = TopicCatalog::load(dir.path(), 1, LogConfig::default()).unwrap();
        assert_eq!(again.get("old").unwrap().id, id);
    }

    #[test]
    fn corrupt_legacy_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LEGACY_CATALOG_FILE), b"{not json").unwrap();
        let err = TopicCatalog::load(dir.path(), 1, LogConfig::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("strom-topics.json"), "{err}");
    }

    #[test]
    fn takes_over_leaderless_partitions_with_a_new_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let id = Uuid::new_v4();
        {
            let (mut log, _) = MetadataLog::open(dir.path(), 1, 1).unwrap();
            let mut p = PartitionRecord {
                partition_id: 0,
                topic_id: id,
                replicas: vec![1],
                isr: vec![1],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                directories: vec![Uuid::nil()],
            };
            let mut records = vec![
                MetadataRecord::Topic {
                    name: "k".into(),
                    id,
                },
                MetadataRecord::Partition(p.clone()),
            ];
            p.partition_id = 1;
            records.push(MetadataRecord::Partition(p));
            // Kafka's controlled shutdown leaves partition 0 without a leader (epoch 1).
            records.push(MetadataRecord::PartitionChange(PartitionChange {
                partition_id: 0,
                topic_id: id,
                isr: Some(vec![]),
                leader: -1,
                eligible_leader_replicas: Some(vec![1]),
                last_known_elr: Some(vec![1]),
            }));
            log.append(&records, 2).unwrap();
        }
        let cat = TopicCatalog::load(dir.path(), 1, LogConfig::default()).unwrap();
        assert_eq!(cat.get("k").unwrap().leader_epochs, vec![2, 0]);
        drop(cat);
        let cat = TopicCatalog::load(dir.path(), 1, LogConfig::default()).unwrap();
        assert_eq!(
            cat.get("k").unwrap().leader_epochs,
            vec![2, 0],
            "stable once led"
        );
    }
}
