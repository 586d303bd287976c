//! Per-topic log configuration: the broker's `log.*` defaults, overridable per topic
//! (`retention.ms`, `segment.bytes`, ...), as Kafka's `LogConfig`.

use super::error::{ConfigError, Location};
use super::resolve::BrokerValues;
use super::topic_defs::{INTERNAL_SEGMENT_BYTES, TopicDef, topic_def};
use super::value::Value;
use std::collections::BTreeMap;

/// `message.timestamp.type` / `log.message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// Keep the producer's timestamps (validated against `message.timestamp.*.max.ms`).
    CreateTime,
    /// The broker stamps every batch with its own clock at append.
    LogAppendTime,
}

/// `cleanup.policy` / `log.cleanup.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// `delete`: old segments go by retention time and size.
    pub delete: bool,
    /// `compact`: the log cleaner keeps the latest record per key.
    pub compact: bool,
}

/// `compression.type`: how the broker stores batches. `Producer` keeps the producer's codec;
/// any other value asks the broker to recompress into that codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressionType {
    /// Store batches with whatever codec the producer used.
    Producer,
    /// Store uncompressed.
    Uncompressed,
    /// Store gzip-compressed.
    Gzip,
    /// Store snappy-compressed.
    Snappy,
    /// Store lz4-compressed.
    Lz4,
    /// Store zstd-compressed.
    Zstd,
}

/// The typed log settings of one topic (broker defaults merged with topic overrides).
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes` (broker: `log.segment.bytes`, default 1 GiB; the internal
    /// `internal.segment.bytes` overrides it without the 1 MiB minimum).
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
    /// `message.timestamp.before.max.ms`: how far in the past a CreateTime may lie
    /// (default Long.MAX, i.e. unchecked).
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far in the future a CreateTime may lie
    /// (default 1 h; Kafka rejects later batches with INVALID_TIMESTAMP).
    pub message_timestamp_after_max_ms: i64,
    /// `cleanup.policy` (broker: `log.cleanup.policy`, default delete).
    pub cleanup_policy: CleanupPolicy,
    /// `compression.type` (broker: `compression.type`, default producer).
    pub compression_type: CompressionType,
    /// `flush.messages` (broker: `log.flush.interval.messages`, default Long.MAX).
    pub flush_messages: i64,
    /// `flush.ms` (broker: `log.flush.interval.ms`, else `log.flush.scheduler.interval.ms`,
    /// default Long.MAX).
    pub flush_ms: i64,
    /// `min.insync.replicas` (default 1).
    pub min_insync_replicas: i32,
    /// `file.delete.delay.ms` (broker: `log.segment.delete.delay.ms`, default 60000).
    pub file_delete_delay_ms: i64,
    /// `segment.jitter.ms` (broker: `log.roll.jitter.ms` / `log.roll.jitter.hours`, default 0).
    pub segment_jitter_ms: i64,
    /// `preallocate` (broker: `log.preallocate`, default false).
    pub preallocate: bool,
    /// `delete.retention.ms`: how long tombstones survive compaction (default 1 day).
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms` (default 0).
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms` (default Long.MAX).
    pub max_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio` (default 0.5).
    pub min_cleanable_dirty_ratio: f64,
}

/// Conversion from a parsed table value to a `LogConfig` field type.
trait FieldValue: Sized {
    fn from_value(value: &Value) -> Option<Self>;
}

impl FieldValue for i32 {
    fn from_value(value: &Value) -> Option<i32> {
        value.as_i32()
    }
}

impl FieldValue for i64 {
    fn from_value(value: &Value) -> Option<i64> {
        value.as_i64()
    }
}

impl FieldValue for bool {
    fn from_value(value: &Value) -> Option<bool> {
        value.as_bool()
    }
}

impl FieldValue for f64 {
    fn from_value(value: &Value) -> Option<f64> {
        value.as_f64()
    }
}

impl FieldValue for TimestampType {
    fn from_value(value: &Value) -> Option<TimestampType> {
        match value.as_str()? {
            "CreateTime" => Some(TimestampType::CreateTime),
            "LogAppendTime" => Some(TimestampType::LogAppendTime),
            _ => None,
        }
    }
}

impl FieldValue for CleanupPolicy {
    fn from_value(value: &Value) -> Option<CleanupPolicy> {
        let items = value.as_list()?;
        Some(CleanupPolicy {
            delete: items.iter().any(|p| p == "delete"),
            compact: items.iter().any(|p| p == "compact"),
        })
    }
}

impl FieldValue for CompressionType {
    fn from_value(value: &Value) -> Option<CompressionType> {
        Some(match value.as_str()? {
            "producer" => CompressionType::Producer,
            "uncompressed" => CompressionType::Uncompressed,
            "gzip" => CompressionType::Gzip,
            "snappy" => CompressionType::Snappy,
            "lz4" => CompressionType::Lz4,
            "zstd" => CompressionType::Zstd,
            _ => return None,
        })
    }
}

/// The topic values of the table are validated against the table's type and validator before
/// they reach a field, so a conversion failure is a table/field mismatch (a code bug).
fn field<T: FieldValue>(value: &Value) -> T {
    T::from_value(value).expect("typed as its field") // invariant: table types match fields (tested)
}

/// One list ties each `LogConfig` field to its topic config name; it generates both the
/// constructor and the per-name setter, so the two cannot drift apart.
macro_rules! log_config_fields {
    ($($field:ident: $name:literal),* $(,)?) => {
        impl LogConfig {
            /// Builds a `LogConfig` from the value of every topic config.
            fn build(value_of: impl Fn(&'static str) -> Value) -> LogConfig {
                LogConfig { $($field: field(&value_of($name)),)* }
            }

            /// Sets the field of topic config `name`; configs without a field are ignored.
            fn set(&mut self, name: &str, value: &Value) {
                match name {
                    $($name => self.$field = field(value),)*
                    _ => {}
                }
            }
        }
    };
}

log_config_fields! {
    segment_bytes: "segment.bytes",
    segment_ms: "segment.ms",
    segment_index_bytes: "segment.index.bytes",
    index_interval_bytes: "index.interval.bytes",
    retention_ms: "retention.ms",
    retention_bytes: "retention.bytes",
    max_message_bytes: "max.message.bytes",
    message_timestamp_type: "message.timestamp.type",
    message_timestamp_before_max_ms: "message.timestamp.before.max.ms",
    message_timestamp_after_max_ms: "message.timestamp.after.max.ms",
    cleanup_policy: "cleanup.policy",
    compression_type: "compression.type",
    flush_messages: "flush.messages",
    flush_ms: "flush.ms",
    min_insync_replicas: "min.insync.replicas",
    file_delete_delay_ms: "file.delete.delay.ms",
    segment_jitter_ms: "segment.jitter.ms",
    preallocate: "preallocate",
    delete_retention_ms: "delete.retention.ms",
    min_compaction_lag_ms: "min.compaction.lag.ms",
    max_compaction_lag_ms: "max.compaction.lag.ms",
    min_cleanable_dirty_ratio: "min.cleanable.dirty.ratio",
}

impl Default for LogConfig {
    /// Kafka's defaults: what a topic gets from a broker configured with nothing.
    fn default() -> Self {
        LogConfig::from_broker(&BrokerValues::defaults())
    }
}

const HOUR_MS: i64 = 60 * 60 * 1000;

/// Milliseconds from a `*.ms` config, else its `*.hours` companion (Kafka's precedence).
fn ms_or_hours(values: &BrokerValues, ms: &str, hours: &str) -> i64 {
    values
        .get(ms)
        .as_i64()
        .unwrap_or_else(|| i64::from(values.int(hours)) * HOUR_MS)
}

/// The value a topic without overrides gets for topic config `t`: Kafka's
/// `extractLogConfigMap`, where four settings combine several broker keys and the rest copy
/// their broker synonym.
pub(crate) fn broker_topic_value(values: &BrokerValues, t: &TopicDef) -> Value {
    match t.def.name {
        "retention.ms" => {
            let ms = values.get("log.retention.ms").as_i64().unwrap_or_else(|| {
                match values.get("log.retention.minutes").as_i32() {
                    Some(minutes) => i64::from(minutes) * 60 * 1000,
                    None => i64::from(values.int("log.retention.hours")) * HOUR_MS,
                }
            });
            Value::Long(if ms < 0 { -1 } else { ms })
        }
        "segment.ms" => Value::Long(ms_or_hours(values, "log.roll.ms", "log.roll.hours")),
        "segment.jitter.ms" => Value::Long(ms_or_hours(
            values,
            "log.roll.jitter.ms",
            "log.roll.jitter.hours",
        )),
        "flush.ms" => Value::Long(
            values
                .get("log.flush.interval.ms")
                .as_i64()
                .unwrap_or_else(|| values.long("log.flush.scheduler.interval.ms")),
        ),
        _ => match t.broker_synonym {
            Some(synonym) => values.get(synonym).clone(),
            None => t.def.default_value(),
        },
    }
}

impl LogConfig {
    /// The broker-wide defaults every topic starts from.
    pub(crate) fn from_broker(values: &BrokerValues) -> LogConfig {
        LogConfig::build(|name| match topic_def(name) {
            Some(t) => broker_topic_value(values, t),
            None => unreachable!("{name} has no row"), // invariant: every field has a row (tested)
        })
    }

    /// Topic-level overrides (retention.ms, retention.bytes, segment.bytes, segment.ms,
    /// max.message.bytes, message.timestamp.type, cleanup.policy, min.insync.replicas, flush.*,
    /// index.interval.bytes, segment.index.bytes, file.delete.delay.ms, ...) on top of the
    /// broker's defaults; an unknown topic config or invalid value → Err with Kafka's message
    /// (INVALID_CONFIG).
    pub fn with_overrides(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<LogConfig, ConfigError> {
        let mut config = self.clone();
        let mut internal_segment_bytes = None;
        for (name, raw) in overrides {
            let value = parse_topic_value(name, raw)?;
            if name == "remote.storage.enable" && value == Value::Bool(true) {
                return Err(ConfigError::Inconsistent {
                    message: "Tiered Storage functionality is disabled in the broker. Topic \
                              cannot be configured with remote log storage."
                        .into(),
                    at: Location::Unknown,
                });
            }
            if name == INTERNAL_SEGMENT_BYTES {
                internal_segment_bytes = value.as_i32();
            }
            config.set(name, &value);
        }
        if let Some(bytes) = internal_segment_bytes {
            config.segment_bytes = bytes;
        }
        if config.min_compaction_lag_ms > config.max_compaction_lag_ms {
            return Err(ConfigError::Inconsistent {
                message: format!(
                    "conflict topic config setting min.compaction.lag.ms ({}) > \
                     max.compaction.lag.ms ({})",
                    config.min_compaction_lag_ms, config.max_compaction_lag_ms
                ),
                at: Location::Unknown,
            });
        }
        Ok(config)
    }
}

/// Parses one topic config override with Kafka's messages.
pub(crate) fn parse_topic_value(name: &str, raw: &str) -> Result<Value, ConfigError> {
    let t = topic_def(name).ok_or_else(|| ConfigError::UnknownTopicConfig {
        name: name.to_string(),
    })?;
    t.def.parse(raw).map_err(|r| ConfigError::InvalidValue {
        name: t.def.name,
        value: r.shown,
        reason: r.reason,
        at: Location::Unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn default_is_kafkas() {
        let c = LogConfig::default();
        assert_eq!(c.segment_bytes, 1 << 30);
        assert_eq!(c.segment_ms, 168 * HOUR_MS);
        assert_eq!(c.segment_index_bytes, 10 << 20);
        assert_eq!(c.index_interval_bytes, 4096);
        assert_eq!(c.retention_ms, 168 * HOUR_MS);
        assert_eq!(c.retention_bytes, -1);
        assert_eq!(c.max_message_bytes, 1_048_588);
        assert_eq!(c.message_timestamp_type, TimestampType::CreateTime);
        assert_eq!(c.message_timestamp_after_max_ms, 3_600_000);
        assert_eq!(c.message_timestamp_before_max_ms, i64::MAX);
        assert_eq!(
            c.cleanup_policy,
            CleanupPolicy {
                delete: true,
                compact: false
            }
        );
        assert_eq!(c.compression_type, CompressionType::Producer);
        assert_eq!(c.flush_messages, i64::MAX);
        assert_eq!(c.flush_ms, i64::MAX);
        assert_eq!(c.min_insync_replicas, 1);
        assert_eq!(c.file_delete_delay_ms, 60_000);
        assert_eq!(c.segment_jitter_ms, 0);
        assert!(!c.preallocate);
        assert_eq!(c.delete_retention_ms, 86_400_000);
        assert_eq!(c.min_compaction_lag_ms, 0);
        assert_eq!(c.max_compaction_lag_ms, i64::MAX);
        assert_eq!(c.min_cleanable_dirty_ratio, 0.5);
    }

    #[test]
    fn overrides_replace_only_what_they_name() {
        let base = LogConfig::default();
        let c = base
            .with_overrides(&overrides(&[
                ("retention.ms", "1234"),
                ("segment.bytes", "2000000"),
                ("cleanup.policy", "compact,delete"),
                ("message.timestamp.type", "LogAppendTime"),
                ("compression.type", "zstd"),
                ("remote.log.copy.disable", "true"),
            ]))
            .expect("valid overrides");
        assert_eq!(c.retention_ms, 1234);
        assert_eq!(c.segment_bytes, 2_000_000);
        assert_eq!(
            c.cleanup_policy,
            CleanupPolicy {
                delete: true,
                compact: true
            }
        );
        assert_eq!(c.message_timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(c.compression_type, CompressionType::Zstd);
        assert_eq!(c.max_message_bytes, base.max_message_bytes);
    }

    #[test]
    fn invalid_overrides_fail_with_kafkas_messages() {
        let base = LogConfig::default();
        let err = |k: &str, v: &str| {
            base.with_overrides(&overrides(&[(k, v)]))
                .expect_err("must be refused")
                .to_string()
        };
        assert_eq!(
            err("retention.ms", "abc"),
            "Invalid value abc for configuration retention.ms: Not a number of type LONG"
        );
        assert_eq!(err("foo.bar", "1"), "Unknown topic config name: foo.bar");
        assert_eq!(
            err("log.retention.ms", "5"),
            "Unknown topic config name: log.retention.ms"
        );
        assert_eq!(
            err("segment.bytes", "100"),
            "Invalid value 100 for configuration segment.bytes: Value must be at least 1048576"
        );
        assert_eq!(
            err("cleanup.policy", "foo"),
            "Invalid value foo for configuration cleanup.policy: String must be one of: \
             compact, delete"
        );
        assert_eq!(
            err("retention.ms", "-2"),
            "Invalid value -2 for configuration retention.ms: Value must be at least -1"
        );
        assert_eq!(
            err("min.insync.replicas", "0"),
            "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"
        );
        assert!(err("remote.storage.enable", "true").starts_with("Tiered Storage"));
        let lag = base.with_overrides(&overrides(&[
            ("min.compaction.lag.ms", "10"),
            ("max.compaction.lag.ms", "5"),
        ]));
        assert_eq!(
            lag.expect_err("conflict").to_string(),
            "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"
        );
    }

    #[test]
    fn internal_segment_bytes_allows_small_segments() {
        let c = LogConfig::default()
            .with_overrides(&overrides(&[
                ("segment.bytes", "2000000"),
                ("internal.segment.bytes", "1000"),
            ]))
            .expect("valid");
        assert_eq!(c.segment_bytes, 1000);
    }
}
