//! Per-topic log configuration: the broker's `log.*` defaults, overridable per topic
//! (`retention.ms`, `segment.bytes`, ...), as Kafka's `LogConfig`.

/// `message.timestamp.type` / `log.message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// `cleanup.policy` / `log.cleanup.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

/// The typed log settings of one topic (broker defaults merged with topic overrides).
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes` (broker: `log.segment.bytes`, default 1 GiB).
    pub segment_bytes: i32,
    /// `segment.ms` (broker: `log.roll.ms` / `log.roll.hours`, default 168 h).
    pub segment_ms: i64,
    /// `segment.index.bytes` (broker: `log.index.size.max.bytes`, default 10 MiB).
    pub segment_index_bytes: i32,
    /// `index.interval.bytes` (broker: `log.index.interval.bytes`, default 4096).
    pub index_interval_bytes: i32,
    /// `retention.ms` (broker: `log.retention.ms`/`minutes`/`hours`, default 168 h; -1 = forever).
    pub retention_ms: i64,
    /// `retention.bytes` (broker: `log.retention.bytes`, default -1).
    pub retention_bytes: i64,
    /// `max.message.bytes` (broker: `message.max.bytes`, default 1048588).
    pub max_message_bytes: i32,
    /// `message.timestamp.type` (broker: `log.message.timestamp.type`).
    pub message_timestamp_type: TimestampType,
    /// `cleanup.policy` (broker: `log.cleanup.policy`, default delete).
    pub cleanup_policy: CleanupPolicy,
    /// `flush.messages` (broker: `log.flush.interval.messages`, default Long.MAX).
    pub flush_messages: i64,
    /// `flush.ms` (broker: `log.flush.interval.ms`, default Long.MAX).
    pub flush_ms: i64,
    /// `min.insync.replicas` (default 1).
    pub min_insync_replicas: i32,
    /// `file.delete.delay.ms` (broker: `log.segment.delete.delay.ms`, default 60000).
    pub file_delete_delay_ms: i64,
    /// `segment.jitter.ms` (broker: `log.roll.jitter.ms`, default 0).
    pub segment_jitter_ms: i64,
    /// `preallocate` (broker: `log.preallocate`, default false).
    pub preallocate: bool,
}

impl Default for LogConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 168 * 60 * 60 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: 168 * 60 * 60 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            cleanup_policy: CleanupPolicy {
                delete: true,
                compact: false,
            },
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            min_insync_replicas: 1,
            file_delete_delay_ms: 60_000,
            segment_jitter_ms: 0,
            preallocate: false,
        }
    }
}

/// TEMPORARY stub until the config branch lands.
impl LogConfig {
    pub fn with_overrides(
        &self,
        overrides: &std::collections::BTreeMap<String, String>,
    ) -> Result<LogConfig, super::ConfigError> {
        let mut c = self.clone();
        if let Some(v) = overrides.get("retention.ms") {
            c.retention_ms = v.parse().map_err(|_| super::ConfigError(v.clone()))?;
        }
        Ok(c)
    }
}
