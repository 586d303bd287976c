//! Typed broker configuration, read from Kafka's own `server.properties`.
//!
//! The file is parsed once (see [`properties`]) into [`KafkaConfig`]; handlers only ever see
//! typed fields, never strings. Names, defaults, validators and error messages are Kafka's, so
//! an existing Kafka configuration works unchanged and a broken one fails the same way.
//!
//! Layout: `value` (types, validators, parsing), `broker_defs` / `topic_defs` (the tables),
//! `resolve` (table + supplied values), `kafka_config` (loading), `listeners` (endpoint
//! syntax), `validate` (KRaft consistency), `log_config` (per-topic settings), `describe`
//! (DescribeConfigs), `error`.

mod broker_defs;
mod describe;
mod dynamic;
mod error;
mod kafka_config;
mod listeners;
mod log_config;
pub mod properties;
mod resolve;
mod topic_defs;
mod validate;
mod value;

pub use describe::{ConfigDescription, ConfigSource, ConfigSynonym};
pub use dynamic::{DynamicBrokerConfigs, is_dynamic_broker_config, is_list_config};
pub use error::{ConfigError, Location};
pub use log_config::{CleanupPolicy, CompressionType, LogConfig, TimestampType};
pub use properties::{Properties, PropertiesError};

use std::collections::BTreeMap;
use std::path::PathBuf;

/// A `NAME://host:port` listener as written in `listeners` / `advertised.listeners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Listener name, e.g. `PLAINTEXT` or `CONTROLLER` (upper-cased, as Kafka normalises it).
    pub name: String,
    /// Host to bind (empty string means all interfaces, as in Kafka; IPv6 without brackets).
    pub host: String,
    /// Port; 0 asks the OS for an ephemeral port.
    pub port: u16,
}

/// The roles a KRaft node plays (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessRole {
    /// Serves clients: topics, partitions, groups.
    Broker,
    /// Keeps the cluster metadata (a KRaft voter).
    Controller,
}

/// A loaded configuration and what the user should hear about it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The typed configuration.
    pub config: KafkaConfig,
    /// One warning per unknown key, in Kafka's words.
    pub warnings: Vec<String>,
}

/// The broker-wide settings of the log cleaner (`log.cleaner.*`, Kafka's `CleanerConfig`).
/// The per-topic compaction settings (`min.cleanable.dirty.ratio`, `delete.retention.ms`,
/// ...) are in [`LogConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerConfig {
    /// `log.cleaner.enable`: without it compacted topics are never compacted.
    pub enable: bool,
    /// `log.cleaner.threads`: partitions cleaned at once.
    pub threads: i32,
    /// `log.cleaner.dedupe.buffer.size`: bytes of key-to-offset map, split among the threads.
    pub dedupe_buffer_size: i64,
    /// `log.cleaner.io.buffer.load.factor`: how full a map may get in one round.
    pub dedupe_buffer_load_factor: f64,
    /// `log.cleaner.io.buffer.size`: the read/write buffer of each thread.
    pub io_buffer_size: i32,
    /// `log.cleaner.io.max.bytes.per.second`: throttle on read plus write bytes.
    pub max_io_bytes_per_second: f64,
    /// `log.cleaner.backoff.ms`: sleep when nothing needs cleaning.
    pub backoff_ms: i64,
}

impl Default for CleanerConfig {
    /// Kafka's defaults.
    fn default() -> CleanerConfig {
        CleanerConfig {
            enable: true,
            threads: 1,
            dedupe_buffer_size: 128 * 1024 * 1024,
            dedupe_buffer_load_factor: 0.9,
            io_buffer_size: 512 * 1024,
            max_io_bytes_per_second: f64::MAX,
            backoff_ms: 15_000,
        }
    }
}

/// The broker configuration with Kafka's names and defaults.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `node.id` (or its synonym `broker.id`).
    pub node_id: i32,
    /// `process.roles`.
    pub process_roles: Vec<ProcessRole>,
    /// `cluster.id`: used only when storage is formatted on first start (a Strom extension;
    /// Kafka takes it from `kafka-storage format`).
    pub cluster_id: Option<String>,
    /// `controller.quorum.voters`, as written (`id@host:port`, checked).
    pub controller_quorum_voters: Vec<String>,
    /// `controller.quorum.bootstrap.servers`.
    pub controller_quorum_bootstrap_servers: Vec<String>,
    /// `controller.listener.names`.
    pub controller_listener_names: Vec<String>,
    /// `listeners`.
    pub listeners: Vec<Listener>,
    /// `advertised.listeners` minus controller listeners (defaults to `listeners` minus
    /// controller listeners), as Kafka's `effectiveAdvertisedBrokerListeners`.
    pub advertised_listeners: Vec<Listener>,
    /// The effective `listener.security.protocol.map` (listener name → security protocol),
    /// with Kafka's default entries for controller listeners when the user set none.
    pub listener_security_protocol_map: BTreeMap<String, String>,
    /// `inter.broker.listener.name` (or the one named after `security.inter.broker.protocol`);
    /// `None` on a controller-only node that did not set it.
    pub inter_broker_listener_name: Option<String>,
    /// `log.dirs` (or `log.dir`): partitions are spread across these.
    pub log_dirs: Vec<PathBuf>,
    /// `metadata.log.dir` (defaults to the first log dir).
    pub metadata_log_dir: PathBuf,
    /// `broker.rack`, reported in metadata responses.
    pub broker_rack: Option<String>,
    /// `num.network.threads`.
    pub num_network_threads: i32,
    /// `num.io.threads`.
    pub num_io_threads: i32,
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
    /// `log.initial.task.delay.ms`: delay before the first retention/flush pass.
    pub log_initial_task_delay_ms: i64,
    /// `num.recovery.threads.per.data.dir`.
    pub num_recovery_threads_per_data_dir: i32,
    /// `socket.request.max.bytes`.
    pub socket_request_max_bytes: i32,
    /// `socket.send.buffer.bytes` (-1 = OS default).
    pub socket_send_buffer_bytes: i32,
    /// `socket.receive.buffer.bytes` (-1 = OS default).
    pub socket_receive_buffer_bytes: i32,
    /// `connections.max.idle.ms`.
    pub connections_max_idle_ms: i64,
    /// `max.connections`: connections the broker holds at once; beyond it, accepting waits.
    pub max_connections: i32,
    /// `max.connections.per.ip`: connections one address may hold; beyond it, new ones close.
    pub max_connections_per_ip: i32,
    /// `max.connections.per.ip.overrides`: `host:count` pairs, comma separated.
    pub max_connections_per_ip_overrides: String,
    /// `queued.max.requests`: requests being handled at once, broker-wide.
    pub queued_max_requests: i32,
    /// `fetch.max.bytes`: cap on one fetch response.
    pub fetch_max_bytes: i32,
    /// `max.incremental.fetch.session.cache.slots`.
    pub max_incremental_fetch_session_cache_slots: i32,
    /// `log.cleaner.*`: the log cleaner's threads, memory and throttle.
    pub log_cleaner: CleanerConfig,
    /// `message.max.bytes` is in [`LogConfig::max_message_bytes`]; this is the broker-wide
    /// default log configuration every topic starts from.
    pub log: LogConfig,
    /// `offsets.topic.replication.factor`.
    pub offsets_topic_replication_factor: i16,
    /// `offsets.topic.num.partitions`.
    pub offsets_topic_num_partitions: i32,
    /// `offsets.topic.segment.bytes`.
    pub offsets_topic_segment_bytes: i32,
    /// `offsets.retention.check.interval.ms`.
    pub offsets_retention_check_interval_ms: i64,
    /// `offset.metadata.max.bytes`: larger commit metadata gets OFFSET_METADATA_TOO_LARGE.
    pub offset_metadata_max_bytes: i32,
    /// `transaction.state.log.replication.factor`.
    pub transaction_state_log_replication_factor: i16,
    /// `transaction.state.log.min.isr`.
    pub transaction_state_log_min_isr: i32,
    /// `transaction.state.log.num.partitions`.
    pub transaction_state_log_num_partitions: i32,
    /// `transaction.max.timeout.ms`: longer transaction timeouts get INVALID_TRANSACTION_TIMEOUT.
    pub transaction_max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`.
    pub transactional_id_expiration_ms: i32,
    /// `producer.id.expiration.ms`: idle producers without an open transaction are forgotten.
    pub producer_id_expiration_ms: i32,
    /// `producer.id.expiration.check.interval.ms`.
    pub producer_id_expiration_check_interval_ms: i32,
    /// `transaction.state.log.segment.bytes`.
    pub transaction_state_log_segment_bytes: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: i32,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`.
    pub transaction_remove_expired_transaction_cleanup_interval_ms: i32,
    /// `transaction.partition.verification.enable`.
    pub transaction_partition_verification_enable: bool,
    /// `group.initial.rebalance.delay.ms`.
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.min.session.timeout.ms`.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub group_max_session_timeout_ms: i32,
    /// `group.max.size`: joins beyond it get GROUP_MAX_SIZE_REACHED.
    pub group_max_size: i32,
    /// `offsets.retention.minutes`.
    pub offsets_retention_minutes: i32,
    /// Every key/value the user set (file and overrides; `broker.id`/`node.id` copied to each
    /// other as Kafka does), for DescribeConfigs sources.
    pub originals: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests;
