//! The group coordinator's settings, with Kafka's names and defaults.

use crate::config::KafkaConfig;

/// KIP-848 assignors the broker runs, in preference order: the first is the default.
pub const CONSUMER_ASSIGNORS: [&str; 2] = ["uniform", "range"];

/// Settings of the group coordinator.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members (extended by each newcomer, up to the rebalance timeout).
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`: shorter session timeouts get INVALID_SESSION_TIMEOUT.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: longer session timeouts get INVALID_SESSION_TIMEOUT.
    pub max_session_timeout_ms: i32,
    /// `group.max.size` (classic groups).
    pub max_size: usize,
    /// How long a new classic member's parked JoinGroup may wait (Kafka: 5 minutes).
    pub new_member_join_timeout_ms: i64,
    /// `offsets.retention.minutes`, in ms.
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`.
    pub offsets_retention_check_interval_ms: i64,
    /// `offset.metadata.max.bytes`: longest metadata string an offset commit may carry.
    pub offset_metadata_max_bytes: usize,
    /// `group.consumer.session.timeout.ms` (KIP-848 groups).
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms` (KIP-848 groups).
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`.
    pub consumer_max_size: usize,
    /// How `__consumer_offsets` is created on first use.
    pub offsets_topic: OffsetsTopicConfig,
}

/// `offsets.topic.*`: the shape of `__consumer_offsets` when the coordinator creates it.
#[derive(Debug, Clone)]
pub struct OffsetsTopicConfig {
    /// `offsets.topic.num.partitions`: fixes which partition each group lives in.
    pub num_partitions: i32,
    /// `offsets.topic.replication.factor`: above the broker count, no coordinator is
    /// available (Kafka's behaviour).
    pub replication_factor: i16,
    /// `offsets.topic.segment.bytes`.
    pub segment_bytes: i32,
}

impl Default for OffsetsTopicConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        OffsetsTopicConfig {
            num_partitions: 50,
            replication_factor: 3,
            segment_bytes: 100 * 1024 * 1024,
        }
    }
}

impl Default for GroupConfig {
    /// Kafka's defaults.
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3000,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            max_size: i32::MAX as usize,
            new_member_join_timeout_ms: 5 * 60 * 1000,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4096,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5000,
            consumer_max_size: i32::MAX as usize,
            offsets_topic: OffsetsTopicConfig::default(),
        }
    }
}

impl GroupConfig {
    /// Reads the broker configuration. The KIP-848 settings (`group.consumer.*`) are not
    /// typed broker settings yet: they are read from the user's originals, falling back to
    /// Kafka's defaults.
    pub fn from_broker(c: &KafkaConfig) -> GroupConfig {
        let d = GroupConfig::default();
        let original = |key: &str, default: i64| -> i64 {
            c.originals
                .get(key)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        };
        let count = |v: i64| usize::try_from(v).unwrap_or(usize::MAX).max(1);
        GroupConfig {
            initial_rebalance_delay_ms: i64::from(c.group_initial_rebalance_delay_ms.max(0)),
            min_session_timeout_ms: c.group_min_session_timeout_ms,
            max_session_timeout_ms: c.group_max_session_timeout_ms,
            max_size: count(i64::from(c.group_max_size)),
            new_member_join_timeout_ms: d.new_member_join_timeout_ms,
            offsets_retention_ms: i64::from(c.offsets_retention_minutes) * 60_000,
            offsets_retention_check_interval_ms: c.offsets_retention_check_interval_ms.max(1),
            // Metadata is stored as an int16-length string: never accept more than fits.
            offset_metadata_max_bytes: usize::try_from(c.offset_metadata_max_bytes)
                .unwrap_or(0)
                .min(super::records::MAX_STRING_LEN),
            consumer_session_timeout_ms: original(
                "group.consumer.session.timeout.ms",
                i64::from(d.consumer_session_timeout_ms),
            )
            .clamp(1, i64::from(i32::MAX)) as i32,
            consumer_heartbeat_interval_ms: original(
                "group.consumer.heartbeat.interval.ms",
                i64::from(d.consumer_heartbeat_interval_ms),
            )
            .clamp(1, i64::from(i32::MAX)) as i32,
            consumer_max_size: count(original(
                "group.consumer.max.size",
                d.consumer_max_size as i64,
            )),
            offsets_topic: OffsetsTopicConfig {
                num_partitions: c.offsets_topic_num_partitions,
                replication_factor: c.offsets_topic_replication_factor,
                segment_bytes: c.offsets_topic_segment_bytes,
            },
        }
    }
}
