//! Typed broker configuration, read from Kafka's own `server.properties`.
//!
//! The file is parsed once (see [`properties`]) into [`KafkaConfig`]; handlers only ever see
//! typed fields, never strings. Names and defaults are Kafka's, so an existing Kafka
//! configuration works unchanged.

mod log_config;

pub use log_config::{CleanupPolicy, LogConfig, TimestampType};

use std::collections::BTreeMap;
use std::path::PathBuf;

/// A `NAME://host:port` listener as written in `listeners` / `advertised.listeners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Listener name, e.g. `PLAINTEXT` or `CONTROLLER`.
    pub name: String,
    /// Host to bind (empty string means all interfaces, as in Kafka).
    pub host: String,
    /// Port; 0 asks the OS for an ephemeral port.
    pub port: u16,
}

/// The roles a KRaft node plays (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessRole {
    Broker,
    Controller,
}

/// The broker configuration with Kafka's names and defaults.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `node.id` (or its synonym `broker.id`).
    pub node_id: i32,
    /// `process.roles`.
    pub process_roles: Vec<ProcessRole>,
    /// `cluster.id`: used only when storage is formatted on first start.
    pub cluster_id: Option<String>,
    /// `controller.quorum.voters`, as written (`id@host:port`, comma separated).
    pub controller_quorum_voters: Vec<String>,
    /// `controller.quorum.bootstrap.servers`.
    pub controller_quorum_bootstrap_servers: Vec<String>,
    /// `controller.listener.names`.
    pub controller_listener_names: Vec<String>,
    /// `listeners`.
    pub listeners: Vec<Listener>,
    /// `advertised.listeners` (defaults to `listeners` minus controller listeners).
    pub advertised_listeners: Vec<Listener>,
    /// `listener.security.protocol.map` (listener name → security protocol).
    pub listener_security_protocol_map: BTreeMap<String, String>,
    /// `inter.broker.listener.name`.
    pub inter_broker_listener_name: Option<String>,
    /// `log.dirs` (or `log.dir`): partitions are spread across these.
    pub log_dirs: Vec<PathBuf>,
    /// `metadata.log.dir` (defaults to the first log dir).
    pub metadata_log_dir: PathBuf,
    /// `num.partitions`.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`.
    pub auto_create_topics_enable: bool,
    /// `delete.topic.enable`.
    pub delete_topic_enable: bool,
    /// `log.retention.check.interval.ms`.
    pub log_retention_check_interval_ms: i64,
    /// `log.flush.scheduler.interval.ms`.
    pub log_flush_scheduler_interval_ms: i64,
    /// `log.flush.offset.checkpoint.interval.ms`.
    pub log_flush_offset_checkpoint_interval_ms: i64,
    /// `num.recovery.threads.per.data.dir`.
    pub num_recovery_threads_per_data_dir: i32,
    /// `socket.request.max.bytes`.
    pub socket_request_max_bytes: i32,
    /// `message.max.bytes` is in [`LogConfig::max_message_bytes`]; this is the broker-wide
    /// default log configuration every topic starts from.
    pub log: LogConfig,
    /// `offsets.topic.replication.factor`.
    pub offsets_topic_replication_factor: i16,
    /// `offsets.topic.num.partitions`.
    pub offsets_topic_num_partitions: i32,
    /// `transaction.state.log.replication.factor`.
    pub transaction_state_log_replication_factor: i16,
    /// `transaction.state.log.min.isr`.
    pub transaction_state_log_min_isr: i32,
    /// `group.initial.rebalance.delay.ms`.
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.min.session.timeout.ms`.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub group_max_session_timeout_ms: i32,
    /// `offsets.retention.minutes`.
    pub offsets_retention_minutes: i32,
    /// Every key/value the user set (file and overrides), for DescribeConfigs sources.
    pub originals: BTreeMap<String, String>,
}

/// TEMPORARY stub until the config branch lands.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// TEMPORARY stubs until the config branch lands.
#[derive(Debug, Clone, Copy)]
pub enum ConfigSource {
    DynamicTopic = 1,
    StaticBroker = 4,
    Default = 5,
}
pub struct ConfigSynonym {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
}
pub struct ConfigDescription {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub sensitive: bool,
    pub config_type: i8,
    pub documentation: Option<String>,
    pub synonyms: Vec<ConfigSynonym>,
}
impl KafkaConfig {
    pub fn describe(&self) -> Vec<ConfigDescription> {
        vec![]
    }
    pub fn embedded_default(
        data_dir: PathBuf,
        overrides: &[String],
    ) -> Result<Loaded, ConfigError> {
        let _ = (data_dir, overrides);
        Err(ConfigError("stub".into()))
    }
    pub fn load(path: &std::path::Path, overrides: &[String]) -> Result<Loaded, ConfigError> {
        let _ = (path, overrides);
        Err(ConfigError("stub".into()))
    }
}
impl LogConfig {
    pub fn describe_topic(
        broker: &KafkaConfig,
        overrides: &BTreeMap<String, String>,
    ) -> Vec<ConfigDescription> {
        let _ = (broker, overrides);
        vec![]
    }
}
pub struct Loaded {
    pub config: KafkaConfig,
    pub warnings: Vec<String>,
}
