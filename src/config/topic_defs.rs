//! The topic-level configs (Kafka's `TopicConfig` / `LogConfig`), each with the broker config
//! that supplies its default (Kafka's `ServerTopicConfigSynonyms`).
//!
//! A topic created without overrides takes every value from the broker; an override in
//! CreateTopics replaces one. Names missing here are refused as Kafka refuses them
//! ("Unknown topic config name").

use super::broker_defs::{CLEANUP_POLICIES, TIMESTAMP_TYPES};
use super::value::ConfigType::{Boolean, Double, Int, List, Long, String as Str};
use super::value::DefaultValue::{Is, Null};
use super::value::Validator::{Any, AtLeast, Between, EachOneOf, GzipLevel, OneOf};
use super::value::{ConfigDef, ConfigType, DefaultValue, Validator};

/// A topic config and the broker config its default comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TopicDef {
    pub def: ConfigDef,
    /// The broker config of the same meaning (`retention.ms` ← `log.retention.ms`), if any.
    pub broker_synonym: Option<&'static str>,
    /// Internal configs are accepted but not listed by DescribeConfigs.
    pub internal: bool,
}

const fn topic(
    name: &'static str,
    ty: ConfigType,
    default: DefaultValue,
    validator: Validator,
    broker_synonym: Option<&'static str>,
    doc: &'static str,
) -> TopicDef {
    TopicDef {
        def: ConfigDef {
            name,
            ty,
            default,
            validator,
            doc,
        },
        broker_synonym,
        internal: false,
    }
}

const MAX_LONG: &str = "9223372036854775807";
const SEVEN_DAYS_MS: &str = "604800000";

/// `segment.bytes` below Kafka 4's 1 MiB minimum, for tests that need many small segments.
pub(crate) const INTERNAL_SEGMENT_BYTES: &str = "internal.segment.bytes";

/// Every topic config, sorted by name.
#[rustfmt::skip]
pub(crate) const TOPIC_DEFS: &[TopicDef] = &[
    topic("cleanup.policy", List, Is("delete"), EachOneOf(CLEANUP_POLICIES), Some("log.cleanup.policy"), "delete: drop segments past retention; compact: keep the latest record per key; both may be given."),
    topic("compression.gzip.level", Int, Is("-1"), GzipLevel, Some("compression.gzip.level"), "Level for gzip when the broker compresses; -1 is the codec default."),
    topic("compression.lz4.level", Int, Is("9"), Between(1, 17), Some("compression.lz4.level"), "Level for lz4 when the broker compresses."),
    topic("compression.type", Str, Is("producer"), OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]), Some("compression.type"), "Compression of stored batches; 'producer' keeps the producer's codec."),
    topic("compression.zstd.level", Int, Is("3"), Between(-131072, 22), Some("compression.zstd.level"), "Level for zstd when the broker compresses."),
    topic("delete.retention.ms", Long, Is("86400000"), AtLeast(0), Some("log.cleaner.delete.retention.ms"), "How long tombstones stay readable in a compacted topic."),
    topic("file.delete.delay.ms", Long, Is("60000"), AtLeast(0), Some("log.segment.delete.delay.ms"), "How long a deleted segment's files linger so readers still using them can finish."),
    topic("flush.messages", Long, Is(MAX_LONG), AtLeast(1), Some("log.flush.interval.messages"), "fsync after this many messages; Kafka leaves durability to replication by default."),
    topic("flush.ms", Long, Is(MAX_LONG), AtLeast(0), Some("log.flush.interval.ms"), "fsync when the oldest unflushed message is this old."),
    topic("follower.replication.throttled.replicas", List, Is(""), Any, None, "Replicas throttled on the follower side during reassignment."),
    topic("index.interval.bytes", Int, Is("4096"), AtLeast(0), Some("log.index.interval.bytes"), "Bytes of records between two offset index entries."),
    TopicDef { def: ConfigDef { name: INTERNAL_SEGMENT_BYTES, ty: Int, default: Null, validator: AtLeast(14), doc: "Segment size without segment.bytes' minimum, for tests." }, broker_synonym: None, internal: true },
    topic("leader.replication.throttled.replicas", List, Is(""), Any, None, "Replicas throttled on the leader side during reassignment."),
    topic("local.retention.bytes", Long, Is("-2"), AtLeast(-2), Some("log.local.retention.bytes"), "Bytes kept locally when tiered storage is on; -2 means retention.bytes."),
    topic("local.retention.ms", Long, Is("-2"), AtLeast(-2), Some("log.local.retention.ms"), "Time kept locally when tiered storage is on; -2 means retention.ms."),
    topic("max.compaction.lag.ms", Long, Is(MAX_LONG), AtLeast(1), Some("log.cleaner.max.compaction.lag.ms"), "Longest a record may stay uncompacted."),
    topic("max.message.bytes", Int, Is("1048588"), AtLeast(0), Some("message.max.bytes"), "Largest record batch the topic accepts."),
    topic("message.timestamp.after.max.ms", Long, Is("3600000"), AtLeast(0), Some("log.message.timestamp.after.max.ms"), "How far in the future a CreateTime timestamp may be."),
    topic("message.timestamp.before.max.ms", Long, Is(MAX_LONG), AtLeast(0), Some("log.message.timestamp.before.max.ms"), "How far in the past a CreateTime timestamp may be."),
    topic("message.timestamp.type", Str, Is("CreateTime"), OneOf(TIMESTAMP_TYPES), Some("log.message.timestamp.type"), "CreateTime keeps the producer's timestamp; LogAppendTime stamps the broker's clock."),
    topic("min.cleanable.dirty.ratio", Double, Is("0.5"), Between(0, 1), Some("log.cleaner.min.cleanable.ratio"), "Share of uncompacted log that makes a partition eligible for cleaning."),
    topic("min.compaction.lag.ms", Long, Is("0"), AtLeast(0), Some("log.cleaner.min.compaction.lag.ms"), "Shortest time a record stays uncompacted."),
    topic("min.insync.replicas", Int, Is("1"), AtLeast(1), Some("min.insync.replicas"), "Replicas that must have a write for an acks=all produce to succeed."),
    topic("preallocate", Boolean, Is("false"), Any, Some("log.preallocate"), "Create segment files at full size."),
    topic("remote.log.copy.disable", Boolean, Is("false"), Any, None, "Stop copying segments to tiered storage."),
    topic("remote.log.delete.on.disable", Boolean, Is("false"), Any, None, "Delete tiered data when tiered storage is turned off."),
    topic("remote.storage.enable", Boolean, Is("false"), Any, None, "Use tiered storage for this topic (not available in Strom)."),
    topic("retention.bytes", Long, Is("-1"), Any, Some("log.retention.bytes"), "Size a partition may reach before old segments are deleted; -1 is unlimited."),
    topic("retention.ms", Long, Is(SEVEN_DAYS_MS), AtLeast(-1), Some("log.retention.ms"), "Age after which segments are deleted; -1 keeps data forever."),
    topic("segment.bytes", Int, Is("1073741824"), AtLeast(1048576), Some("log.segment.bytes"), "Size at which a segment is rolled."),
    topic("segment.index.bytes", Int, Is("10485760"), AtLeast(4), Some("log.index.size.max.bytes"), "Preallocated size of a segment's index files."),
    topic("segment.jitter.ms", Long, Is("0"), AtLeast(0), Some("log.roll.jitter.ms"), "Random reduction of segment.ms so segments do not all roll at once."),
    topic("segment.ms", Long, Is(SEVEN_DAYS_MS), AtLeast(1), Some("log.roll.ms"), "Roll a new segment when the active one is this old, so retention can delete it."),
    topic("unclean.leader.election.enable", Boolean, Is("false"), Any, Some("unclean.leader.election.enable"), "Let an out-of-sync replica become leader."),
];

/// The row of a topic config, if Kafka has it.
pub(crate) fn topic_def(name: &str) -> Option<&'static TopicDef> {
    TOPIC_DEFS
        .binary_search_by(|t| t.def.name.cmp(name))
        .ok()
        .map(|i| &TOPIC_DEFS[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::broker_defs::broker_def;

    #[test]
    fn table_is_sorted_and_defaults_are_valid() {
        for pair in TOPIC_DEFS.windows(2) {
            assert!(pair[0].def.name < pair[1].def.name, "{}", pair[1].def.name);
        }
        for t in TOPIC_DEFS {
            if let DefaultValue::Is(raw) = t.def.default {
                assert!(t.def.parse(raw).is_ok(), "{}: default {raw:?}", t.def.name);
            }
        }
    }

    #[test]
    fn every_synonym_is_a_known_broker_config_of_the_same_type() {
        for t in TOPIC_DEFS {
            if let Some(synonym) = t.broker_synonym {
                let b = broker_def(synonym).unwrap_or_else(|| panic!("{synonym} unknown"));
                assert_eq!(b.ty, t.def.ty, "{} vs {synonym}", t.def.name);
            }
        }
    }
}
