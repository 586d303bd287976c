//! Topic administration: creating, growing and deleting topics, the work Kafka's controller
//! does for CreateTopics, CreatePartitions, DeleteTopics, auto-creation and the coordinators'
//! internal topics.
//!
//! Every change goes catalog first, then logs, under one lock, so a name check and the logs it
//! creates are atomic with respect to other changes, and a crash in between leaves a catalog
//! entry whose missing logs start-up recreates. Other components learn about deletions through
//! [`TopicAdmin::on_topic_deleted`] (the group coordinator drops the deleted topic's offsets), so
//! this layer never imports the coordinators above it.

use super::{TopicCatalog, TopicInfo, unify_collision_chars, validate_topic_name};
use crate::config::KafkaConfig;
use crate::log::{LogManager, TopicPartition};
use kafka_protocol::ResponseError;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::{info, warn};
use uuid::Uuid;

/// A failed topic change: the Kafka error code the response carries, and its message.
#[derive(Debug)]
pub struct TopicError {
    /// The error code for the response.
    pub code: ResponseError,
    /// The message, in Kafka's words where Kafka has them.
    pub message: String,
}

impl TopicError {
    /// An error with its code and message.
    pub fn new(code: ResponseError, message: impl Into<String>) -> TopicError {
        TopicError {
            code,
            message: message.into(),
        }
    }
}

/// What a topic creation asks for, after the request's defaults (`-1`) are resolved.
pub struct NewTopic<'a> {
    /// The topic's name (validated by [`TopicAdmin::create`]).
    pub name: &'a str,
    /// Number of partitions.
    pub partitions: i32,
    /// Replication factor; more than 1 cannot be met on a single node.
    pub replication_factor: i16,
    /// Topic-level config overrides, exactly as given.
    pub configs: BTreeMap<String, String>,
}

/// The broker settings topic administration follows.
#[derive(Debug, Clone)]
pub struct TopicDefaults {
    /// This broker's id: the only broker a manual replica assignment may name.
    pub node_id: i32,
    /// `num.partitions`, for auto-created topics.
    pub num_partitions: i32,
    /// `default.replication.factor`, for auto-created topics.
    pub default_replication_factor: i16,
    /// The broker's static configuration, which dynamic broker configs are checked against
    /// and layered on.
    pub broker: Arc<KafkaConfig>,
}

/// Called with the name of each deleted topic.
type DeletionListener = Box<dyn Fn(&str) + Send + Sync>;

/// Creates, grows and deletes topics (catalog entry plus partition logs).
pub struct TopicAdmin {
    /// The topic catalog changes are recorded in.
    pub(super) catalog: Arc<TopicCatalog>,
    /// The partition logs created and deleted with their topics.
    pub(super) logs: Arc<LogManager>,
    /// Settings for defaults and validation.
    pub(super) defaults: TopicDefaults,
    /// Serialises changes so name checks and log creation are atomic.
    pub(super) lock: Mutex<()>,
    /// Replication-factor keys already warned about (one message per key).
    warned: Mutex<std::collections::HashSet<&'static str>>,
    /// Told about each deletion after it happened.
    deletion_listeners: RwLock<Vec<DeletionListener>>,
}

impl TopicAdmin {
    /// Topic administration over `catalog` and `logs`.
    pub fn new(
        catalog: Arc<TopicCatalog>,
        logs: Arc<LogManager>,
        defaults: TopicDefaults,
    ) -> TopicAdmin {
        TopicAdmin {
            catalog,
            logs,
            defaults,
            lock: Mutex::new(()),
            warned: Mutex::new(std::collections::HashSet::new()),
            deletion_listeners: RwLock::new(Vec::new()),
        }
    }

    /// The catalog this admin changes.
    pub fn catalog(&self) -> &TopicCatalog {
        &self.catalog
    }

    /// The partition logs topics are created with.
    pub fn logs(&self) -> &LogManager {
        &self.logs
    }

    /// Registers `listener` to be called with the name of every topic deleted from now on.
    pub fn on_topic_deleted(&self, listener: impl Fn(&str) + Send + Sync + 'static) {
        self.deletion_listeners.write().push(Box::new(listener));
    }

    /// Validates and (unless `validate_only`) creates a topic: catalog entry first, then one
    /// log per partition. A log that cannot be created undoes the catalog entry.
    pub fn create(
        &self,
        topic: NewTopic<'_>,
        validate_only: bool,
    ) -> Result<Arc<TopicInfo>, TopicError> {
        let _admin = self.lock.lock();
        self.validate_new_topic(&topic)?;
        let config = self
            .catalog
            .broker_defaults()
            .with_overrides(&topic.configs)
            .map_err(|e| TopicError::new(ResponseError::InvalidConfig, e.to_string()))?;
        let info = TopicInfo {
            name: topic.name.to_string(),
            id: Uuid::new_v4(),
            partitions: topic.partitions,
            overrides: topic.configs,
            config,
            leader_epochs: vec![0; usize::try_from(topic.partitions).unwrap_or(0)],
        };
        if validate_only {
            return Ok(Arc::new(info));
        }
        let info = self
            .catalog
            .put(info)
            .map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))?;
        for p in 0..info.partitions {
            let tp = TopicPartition::new(info.name.clone(), p);
            if let Err(e) = self.logs.get_or_create(&tp, info.id, info.config.clone()) {
                warn!("Failed to create log for {tp}: {e}");
                // Roll back: nothing of a failed creation may be reused by the next one.
                for created in 0..p {
                    let tp = TopicPartition::new(info.name.clone(), created);
                    if let Err(e) = self.logs.delete(&tp) {
                        warn!("Failed to remove log {tp} of a failed topic creation: {e}");
                    }
                }
                let _ = self.catalog.remove(&info.name);
                return Err(TopicError::new(
                    ResponseError::KafkaStorageError,
                    e.to_string(),
                ));
            }
        }
        info!(
            "Created topic {} with topic ID {} and {} partition(s)",
            info.name, info.id, info.partitions
        );
        Ok(info)
    }

    fn validate_new_topic(&self, topic: &NewTopic<'_>) -> Result<(), TopicError> {
        validate_topic_name(topic.name)
            .map_err(|e| TopicError::new(ResponseError::InvalidTopicException, e.to_string()))?;
        if self.catalog.get(topic.name).is_some() {
            return Err(TopicError::new(
                ResponseError::TopicAlreadyExists,
                format!("Topic '{}' already exists.", topic.name),
            ));
        }
        let unified = unify_collision_chars(topic.name);
        if let Some(other) = self
            .catalog
            .names()
            .into_iter()
            .find(|n| unify_collision_chars(n) == unified)
        {
            return Err(TopicError::new(
                ResponseError::InvalidTopicException,
                format!(
                    "Topic '{}' collides with existing topic: {other}",
                    topic.name
                ),
            ));
        }
        if topic.partitions <= 0 {
            return Err(TopicError::new(
                ResponseError::InvalidPartitions,
                "Number of partitions was set to an invalid non-positive value.",
            ));
        }
        if topic.replication_factor <= 0 {
            return Err(TopicError::new(
                ResponseError::InvalidReplicationFactor,
                "Replication factor must be larger than 0, or -1 to use the default value.",
            ));
        }
        if topic.replication_factor > 1 {
            return Err(TopicError::new(
                ResponseError::InvalidReplicationFactor,
                format!(
                    "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only 1 broker(s) are registered.",
                    rf = topic.replication_factor
                ),
            ));
        }
        Ok(())
    }

    /// Creates `name` on first use with the broker defaults (`num.partitions`,
    /// `default.replication.factor`), as Metadata with auto-creation does. Losing a race with
    /// another creator returns theirs.
    pub fn auto_create(&self, name: &str) -> Result<Arc<TopicInfo>, TopicError> {
        let topic = NewTopic {
            name,
            partitions: self.defaults.num_partitions,
            replication_factor: self.defaults.default_replication_factor,
            configs: BTreeMap::new(),
        };
        self.create_or_get(topic)
    }

    /// An internal topic (`__consumer_offsets`, `__transaction_state`), created with its fixed
    /// settings if it does not exist yet. A coordinator that cannot get its topic answers
    /// COORDINATOR_NOT_AVAILABLE, as Kafka does.
    pub fn internal_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<TopicInfo>, ResponseError> {
        if let Some(t) = self.catalog.get(name) {
            return Ok(t);
        }
        let replication_factor = self.forgiven_replication_factor(name, replication_factor);
        let topic = NewTopic {
            name,
            partitions,
            replication_factor,
            configs,
        };
        self.create_or_get(topic).map_err(|e| {
            warn!("Failed to create internal topic {name}: {}", e.message);
            ResponseError::CoordinatorNotAvailable
        })
    }

    /// The replication factor an internal topic is created with. Kafka's default of 3 for
    /// `offsets.topic.replication.factor` / `transaction.state.log.replication.factor` cannot
    /// be met by one broker: when it comes from Kafka's default (not the file), the topic gets
    /// the broker count and one WARN names the key; when the file sets it, Kafka's behaviour
    /// stays (no topic, COORDINATOR_NOT_AVAILABLE) and one ERROR names the key and the fix.
    fn forgiven_replication_factor(&self, topic: &str, requested: i16) -> i16 {
        const BROKERS: i16 = 1;
        let key = match topic {
            super::CONSUMER_OFFSETS_TOPIC => "offsets.topic.replication.factor",
            super::TRANSACTION_STATE_TOPIC => "transaction.state.log.replication.factor",
            _ => return requested,
        };
        if requested <= BROKERS {
            return requested;
        }
        let explicit = self.defaults.broker.originals.contains_key(key);
        let first = self.warned.lock().insert(key);
        if explicit {
            if first {
                tracing::error!(
                    "{key}={requested} is set in the configuration, but this cluster has {BROKERS} broker: {topic} cannot be created and its coordinator stays unavailable. Set {key}={BROKERS} (or remove the line) and restart."
                );
            }
            requested
        } else {
            if first {
                warn!(
                    "{key} defaults to {requested}, more than the {BROKERS} broker of this cluster: creating {topic} with replication factor {BROKERS}. Set {key} in the configuration to silence this."
                );
            }
            BROKERS
        }
    }

    /// Creates `topic`, or returns the existing one if another creator won the race.
    fn create_or_get(&self, topic: NewTopic<'_>) -> Result<Arc<TopicInfo>, TopicError> {
        let name = topic.name;
        match self.create(topic, false) {
            Err(e) if e.code == ResponseError::TopicAlreadyExists => {
                self.catalog.get(name).ok_or(e)
            }
            other => other,
        }
    }

    /// Deletes a topic: every partition log is taken out of service and its directory renamed
    /// for deletion, then the catalog entry goes, then listeners hear of it and the directories
    /// are removed in the background. If a rename or the catalog change fails, everything done
    /// is undone and the error returned: a delete never reports success without happening.
    pub fn delete(&self, info: &TopicInfo) -> Result<(), TopicError> {
        let _admin = self.lock.lock();
        let storage_error = |e: &dyn std::fmt::Display| {
            TopicError::new(
                ResponseError::KafkaStorageError,
                format!("Could not delete topic {}: {e}", info.name),
            )
        };
        let mut detached = Vec::new();
        let mut failure = None;
        for p in 0..info.partitions {
            let tp = TopicPartition::new(info.name.clone(), p);
            match self.logs.detach(&tp) {
                Ok(Some(d)) => detached.push(d),
                Ok(None) => {}
                Err(e) => {
                    warn!("Failed to delete log for {tp}: {e}");
                    failure = Some(storage_error(&e));
                    break;
                }
            }
        }
        if failure.is_none()
            && let Err(e) = self.catalog.remove(&info.name)
        {
            failure = Some(storage_error(&e));
        }
        if let Some(failure) = failure {
            for d in detached {
                let _ = self.logs.undo_delete(d);
            }
            return Err(failure);
        }
        for listener in self.deletion_listeners.read().iter() {
            listener(&info.name);
        }
        for d in detached {
            self.logs.finish_delete(d);
        }
        info!("Deleted topic {} with topic ID {}", info.name, info.id);
        Ok(())
    }

    /// Grows topic `name` to `count` partitions. `assignments`, when given, lists the replica
    /// brokers of each new partition; only this broker may be named.
    pub fn add_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let _admin = self.lock.lock();
        let Some(info) = self.catalog.get(name) else {
            return Err(TopicError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{name}' does not exist."),
            ));
        };
        if count < info.partitions {
            return Err(TopicError::new(
                ResponseError::InvalidPartitions,
                format!(
                    "Topic currently has {} partitions, which is higher than the requested {count}.",
                    info.partitions
                ),
            ));
        }
        if count == info.partitions {
            return Err(TopicError::new(
                ResponseError::InvalidPartitions,
                format!("Topic already has {} partitions.", info.partitions),
            ));
        }
        if let Some(assignments) = assignments {
            let added = (count - info.partitions) as usize;
            if assignments.len() != added {
                return Err(TopicError::new(
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.",
                        assignments.len()
                    ),
                ));
            }
            if assignments
                .iter()
                .any(|brokers| brokers.iter().any(|b| *b != self.defaults.node_id))
            {
                return Err(TopicError::new(
                    ResponseError::InvalidReplicaAssignment,
                    "The manual partition assignment includes a broker that is not registered.",
                ));
            }
        }
        if validate_only {
            return Ok(());
        }
        let mut grown = (*info).clone();
        grown.partitions = count;
        let grown = self
            .catalog
            .put(grown)
            .map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))?;
        for p in info.partitions..grown.partitions {
            let tp = TopicPartition::new(grown.name.clone(), p);
            self.logs
                .get_or_create(&tp, grown.id, grown.config.clone())
                .map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))?;
        }
        info!(
            "Increased partition count of topic {} from {} to {}",
            grown.name, info.partitions, grown.partitions
        );
        Ok(())
    }
}
