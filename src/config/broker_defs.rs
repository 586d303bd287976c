//! The broker configs Strom knows: Kafka 4.1's names, types, defaults and validators (from
//! `ServerConfigs`, `ServerLogConfigs`, `KRaftConfigs`, `SocketServerConfigs`,
//! `GroupCoordinatorConfig`, ...). A key missing here is "unknown" and only draws a warning.
//!
//! Some rows are configs Strom accepts but does not act on (thread counts, socket buffers,
//! replication settings of a single node): they are here so a Kafka `server.properties` loads
//! without noise and DescribeConfigs lists them as Kafka does.

use super::value::ConfigType::{Boolean, Int, List, Long, Short, String as Str};
use super::value::DefaultValue::{Is, Null, Required};
use super::value::Validator::{Any, AtLeast, Between, EachOneOf, GzipLevel, OneOf};
use super::value::{ConfigDef, ConfigType, DefaultValue, Validator};

const fn def(
    name: &'static str,
    ty: ConfigType,
    default: DefaultValue,
    validator: Validator,
    doc: &'static str,
) -> ConfigDef {
    ConfigDef {
        name,
        ty,
        default,
        validator,
        doc,
    }
}

const MAX_LONG: &str = "9223372036854775807";
const MAX_INT: &str = "2147483647";
const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
pub(crate) const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];
pub(crate) const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];

/// Every broker config Strom knows, sorted by name.
#[rustfmt::skip]
pub(crate) const BROKER_DEFS: &[ConfigDef] = &[
    def("advertised.listeners", Str, Null, Any, "Listeners given to clients in metadata when they differ from those bound; defaults to listeners minus the controller listeners."),
    def("auto.create.topics.enable", Boolean, Is("true"), Any, "Create a topic on first metadata request or produce for it, with num.partitions partitions."),
    def("auto.leader.rebalance.enable", Boolean, Is("true"), Any, "Move leadership back to preferred replicas periodically; a single node always leads."),
    def("background.threads", Int, Is("10"), AtLeast(1), "Threads for background housekeeping tasks."),
    def("broker.id", Int, Is("-1"), Any, "Synonym of node.id kept from ZooKeeper days; when only one of the two is set, the other copies it."),
    def("broker.rack", Str, Null, Any, "Rack of this broker, returned in metadata for rack-aware clients."),
    def("cluster.id", Str, Null, Any, "Strom only: the cluster id to format empty log directories with on first start (Kafka takes it from kafka-storage format)."),
    def("compression.gzip.level", Int, Is("-1"), GzipLevel, "Level for gzip when the broker compresses; -1 is the codec default."),
    def("compression.lz4.level", Int, Is("9"), Between(1, 17), "Level for lz4 when the broker compresses."),
    def("compression.type", Str, Is("producer"), OneOf(COMPRESSION_TYPES), "Compression of stored batches; 'producer' keeps whatever codec the producer used."),
    def("compression.zstd.level", Int, Is("3"), Between(-131072, 22), "Level for zstd when the broker compresses."),
    def("connections.max.idle.ms", Long, Is("600000"), Any, "Close connections idle for longer than this."),
    def("controller.listener.names", Str, Null, Any, "Comma-separated names of the listeners the KRaft controller uses."),
    def("controller.quorum.bootstrap.servers", List, Is(""), Any, "host:port of controllers to bootstrap from (dynamic quorum); alternative to controller.quorum.voters."),
    def("controller.quorum.voters", List, Is(""), Any, "The static KRaft quorum as id@host:port entries."),
    def("default.replication.factor", Int, Is("1"), Any, "Replication factor of auto-created topics and of CreateTopics requests that give none."),
    def("delete.topic.enable", Boolean, Is("true"), Any, "Allow DeleteTopics; when false, deletions are refused."),
    def("fetch.max.bytes", Int, Is("57671680"), AtLeast(1024), "Upper bound on the bytes a fetch response carries."),
    def("group.initial.rebalance.delay.ms", Int, Is("3000"), Any, "How long the first rebalance of an empty group waits for more members to join."),
    def("group.max.session.timeout.ms", Int, Is("1800000"), Any, "Longest session timeout a consumer may ask for."),
    def("group.max.size", Int, Is(MAX_INT), AtLeast(1), "Most members one consumer group may have."),
    def("group.min.session.timeout.ms", Int, Is("6000"), Any, "Shortest session timeout a consumer may ask for."),
    def("inter.broker.listener.name", Str, Null, Any, "Listener brokers use to talk to each other; defaults to the one named after security.inter.broker.protocol."),
    def("listener.security.protocol.map", Str, Is("SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"), Any, "Security protocol of each listener name, as NAME:PROTOCOL pairs."),
    def("listeners", Str, Is("PLAINTEXT://:9092"), Any, "Addresses to listen on as NAME://host:port; an empty host means all interfaces, port 0 an ephemeral port."),
    def("log.cleaner.backoff.ms", Long, Is("15000"), AtLeast(0), "How long a cleaner thread sleeps when no log needs cleaning."),
    def("log.cleaner.dedupe.buffer.size", Long, Is("134217728"), Any, "Memory for the cleaners' key-to-offset maps, shared by all cleaner threads (at most 2 GiB per thread)."),
    def("log.cleaner.delete.retention.ms", Long, Is("86400000"), AtLeast(0), "Default delete.retention.ms: how long tombstones stay in compacted topics."),
    def("log.cleaner.enable", Boolean, Is("true"), Any, "Run the log cleaner for compacted topics."),
    def("log.cleaner.io.buffer.load.factor", ConfigType::Double, Is("0.9"), Any, "How full a cleaner's key-to-offset map may get before a cleaning round stops adding keys."),
    def("log.cleaner.io.buffer.size", Int, Is("524288"), AtLeast(0), "Read and write buffer size of each cleaner thread."),
    def("log.cleaner.io.max.bytes.per.second", ConfigType::Double, Is("1.7976931348623157E308"), Any, "Throttle on the cleaners' combined read and write rate."),
    def("log.cleaner.max.compaction.lag.ms", Long, Is(MAX_LONG), AtLeast(1), "Default max.compaction.lag.ms."),
    def("log.cleaner.min.cleanable.ratio", ConfigType::Double, Is("0.5"), Between(0, 1), "Default min.cleanable.dirty.ratio."),
    def("log.cleaner.min.compaction.lag.ms", Long, Is("0"), AtLeast(0), "Default min.compaction.lag.ms."),
    def("log.cleaner.threads", Int, Is("1"), AtLeast(0), "Threads of the log cleaner."),
    def("log.cleanup.policy", List, Is("delete"), EachOneOf(CLEANUP_POLICIES), "Default cleanup.policy: delete old segments, compact by key, or both."),
    def("log.dir", Str, Is("/tmp/kafka-logs"), Any, "The log directory, used when log.dirs is not set."),
    def("log.dirs", Str, Null, Any, "Comma-separated log directories; partitions are spread across them. Takes precedence over log.dir."),
    def("log.flush.interval.messages", Long, Is(MAX_LONG), AtLeast(1), "Default flush.messages: fsync a partition after this many messages."),
    def("log.flush.interval.ms", Long, Null, Any, "Default flush.ms: fsync a partition when its oldest unflushed message is this old; unset means log.flush.scheduler.interval.ms."),
    def("log.flush.offset.checkpoint.interval.ms", Int, Is("60000"), AtLeast(0), "How often the recovery-point checkpoint is written."),
    def("log.flush.scheduler.interval.ms", Long, Is(MAX_LONG), Any, "How often the flusher checks for logs to fsync."),
    def("log.flush.start.offset.checkpoint.interval.ms", Int, Is("60000"), AtLeast(0), "How often the log-start-offset checkpoint is written."),
    def("log.index.interval.bytes", Int, Is("4096"), AtLeast(0), "Default index.interval.bytes: bytes between offset index entries."),
    def("log.index.size.max.bytes", Int, Is("10485760"), AtLeast(4), "Default segment.index.bytes: preallocated size of an index file."),
    def("log.initial.task.delay.ms", Long, Is("30000"), AtLeast(0), "Delay before the first retention and flush passes after start-up."),
    def("log.local.retention.bytes", Long, Is("-2"), AtLeast(-2), "Default local.retention.bytes (tiered storage; -2 means retention.bytes)."),
    def("log.local.retention.ms", Long, Is("-2"), AtLeast(-2), "Default local.retention.ms (tiered storage; -2 means retention.ms)."),
    def("log.message.timestamp.after.max.ms", Long, Is("3600000"), AtLeast(0), "Default message.timestamp.after.max.ms: how far in the future a CreateTime may be."),
    def("log.message.timestamp.before.max.ms", Long, Is(MAX_LONG), AtLeast(0), "Default message.timestamp.before.max.ms: how far in the past a CreateTime may be."),
    def("log.message.timestamp.type", Str, Is("CreateTime"), OneOf(TIMESTAMP_TYPES), "Default message.timestamp.type: keep the producer's timestamp or stamp append time."),
    def("log.preallocate", Boolean, Is("false"), Any, "Default preallocate: create segment files at full size."),
    def("log.retention.bytes", Long, Is("-1"), Any, "Default retention.bytes: size a partition may reach before old segments go; -1 is unlimited."),
    def("log.retention.check.interval.ms", Long, Is("300000"), AtLeast(1), "How often segments are checked for deletion under the retention settings."),
    def("log.retention.hours", Int, Is("168"), Any, "Default retention in hours; log.retention.minutes and log.retention.ms take precedence."),
    def("log.retention.minutes", Int, Null, Any, "Default retention in minutes; log.retention.ms takes precedence."),
    def("log.retention.ms", Long, Null, Any, "Default retention.ms; -1 keeps data forever."),
    def("log.roll.hours", Int, Is("168"), AtLeast(1), "Default segment age in hours before a new segment is rolled; log.roll.ms takes precedence."),
    def("log.roll.jitter.hours", Int, Is("0"), AtLeast(0), "Default segment.jitter.ms in hours; log.roll.jitter.ms takes precedence."),
    def("log.roll.jitter.ms", Long, Null, Any, "Default segment.jitter.ms: random reduction of the roll time so segments do not all roll at once."),
    def("log.roll.ms", Long, Null, Any, "Default segment.ms: roll a new segment when the active one is this old."),
    def("log.segment.bytes", Int, Is("1073741824"), AtLeast(1048576), "Default segment.bytes: size at which a segment is rolled."),
    def("log.segment.delete.delay.ms", Long, Is("60000"), AtLeast(0), "Default file.delete.delay.ms: how long deleted segments linger before their files go."),
    def("max.connections", Int, Is(MAX_INT), AtLeast(0), "Most connections the broker accepts at once."),
    def("max.connections.per.ip", Int, Is(MAX_INT), AtLeast(0), "Most connections one address may hold."),
    def("max.connections.per.ip.overrides", Str, Is(""), Any, "Per-host or per-address exceptions to max.connections.per.ip, as host:count pairs separated by commas."),
    def("max.incremental.fetch.session.cache.slots", Int, Is("1000"), AtLeast(0), "Most incremental fetch sessions kept at once."),
    def("message.max.bytes", Int, Is("1048588"), AtLeast(0), "Default max.message.bytes: the largest record batch a topic accepts."),
    def("metadata.log.dir", Str, Null, Any, "Directory of the KRaft metadata; defaults to the first log directory."),
    def("min.insync.replicas", Int, Is("1"), AtLeast(1), "Default min.insync.replicas: replicas that must have a write for acks=all to succeed."),
    def("node.id", Int, Required, AtLeast(0), "Id of this node in the KRaft quorum and in metadata responses."),
    def("num.io.threads", Int, Is("8"), AtLeast(1), "Threads that process requests."),
    def("num.network.threads", Int, Is("3"), AtLeast(1), "Threads that read requests from and write responses to the network."),
    def("num.partitions", Int, Is("1"), AtLeast(1), "Partitions of auto-created topics and of CreateTopics requests that give no count."),
    def("num.recovery.threads.per.data.dir", Int, Is("2"), AtLeast(1), "Threads per log directory that recover logs at start-up and flush them at shutdown."),
    def("offset.metadata.max.bytes", Int, Is("4096"), Any, "Largest metadata string a consumer may commit with an offset."),
    def("offsets.commit.timeout.ms", Int, Is("5000"), AtLeast(1), "How long an offset commit waits for the offsets topic write."),
    def("offsets.retention.check.interval.ms", Long, Is("600000"), AtLeast(1), "How often expired committed offsets are looked for."),
    def("offsets.retention.minutes", Int, Is("10080"), AtLeast(1), "How long committed offsets of an empty group are kept."),
    def("offsets.topic.num.partitions", Int, Is("50"), AtLeast(1), "Partitions of __consumer_offsets (fixed once the topic exists)."),
    def("offsets.topic.replication.factor", Short, Is("3"), AtLeast(1), "Replication factor of __consumer_offsets."),
    def("offsets.topic.segment.bytes", Int, Is("104857600"), AtLeast(1), "Segment size of __consumer_offsets."),
    def("process.roles", List, Required, EachOneOf(&["broker", "controller"]), "The KRaft roles of this node: broker, controller, or both."),
    def("producer.id.expiration.check.interval.ms", Int, Is("600000"), AtLeast(1), "How often idle producer ids are removed from partitions' producer state."),
    def("producer.id.expiration.ms", Int, Is("86400000"), AtLeast(1), "How long producer state is kept after a producer's last write."),
    def("queued.max.requests", Int, Is("500"), AtLeast(1), "Requests that may queue before the network threads stop reading."),
    def("security.inter.broker.protocol", Str, Is("PLAINTEXT"), OneOf(SECURITY_PROTOCOLS), "Security protocol between brokers when inter.broker.listener.name is not set."),
    def("share.coordinator.state.topic.min.isr", Short, Is("2"), AtLeast(1), "min.insync.replicas of the share-group state topic."),
    def("share.coordinator.state.topic.replication.factor", Short, Is("3"), AtLeast(1), "Replication factor of the share-group state topic."),
    def("socket.listen.backlog.size", Int, Is("50"), AtLeast(1), "Backlog of pending connections on each listening socket."),
    def("socket.receive.buffer.bytes", Int, Is("102400"), Any, "SO_RCVBUF of client sockets; -1 leaves the OS default."),
    def("socket.request.max.bytes", Int, Is("104857600"), AtLeast(1), "Largest request the broker reads; bigger ones close the connection."),
    def("socket.send.buffer.bytes", Int, Is("102400"), Any, "SO_SNDBUF of client sockets; -1 leaves the OS default."),
    def("transaction.abort.timed.out.transaction.cleanup.interval.ms", Int, Is("10000"), AtLeast(1), "How often the transaction coordinator aborts transactions past their timeout."),
    def("transaction.max.timeout.ms", Int, Is("900000"), AtLeast(1), "Longest transaction timeout a producer may ask for."),
    def("transaction.partition.verification.enable", Boolean, Is("true"), Any, "Check with the transaction coordinator that a partition is in the transaction before a transactional write (KIP-890)."),
    def("transaction.remove.expired.transaction.cleanup.interval.ms", Int, Is("3600000"), AtLeast(1), "How often transactional ids idle past transactional.id.expiration.ms are removed."),
    def("transaction.state.log.load.buffer.size", Int, Is("5242880"), AtLeast(1), "Bytes read per step when loading __transaction_state."),
    def("transaction.state.log.min.isr", Int, Is("2"), AtLeast(1), "min.insync.replicas of __transaction_state."),
    def("transaction.state.log.num.partitions", Int, Is("50"), AtLeast(1), "Partitions of __transaction_state."),
    def("transaction.state.log.replication.factor", Short, Is("3"), AtLeast(1), "Replication factor of __transaction_state."),
    def("transaction.state.log.segment.bytes", Int, Is("104857600"), AtLeast(1), "Segment size of __transaction_state."),
    def("transactional.id.expiration.ms", Int, Is("604800000"), AtLeast(1), "How long an idle transactional id is remembered."),
    def("unclean.leader.election.enable", Boolean, Is("false"), Any, "Let an out-of-sync replica become leader; a single node has no other replica."),
];

/// The row of a broker config, if Strom knows it.
pub(crate) fn broker_def(name: &str) -> Option<&'static ConfigDef> {
    BROKER_DEFS
        .binary_search_by(|d| d.name.cmp(name))
        .ok()
        .map(|i| &BROKER_DEFS[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::value::Value;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in BROKER_DEFS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
        assert!(broker_def("num.partitions").is_some());
        assert!(broker_def("foo.bar").is_none());
    }

    #[test]
    fn defaults_parse_and_pass_their_validators() {
        for d in BROKER_DEFS {
            if let DefaultValue::Is(raw) = d.default {
                assert!(d.parse(raw).is_ok(), "{}: default {raw:?}", d.name);
            }
        }
        let flush = broker_def("log.flush.interval.messages").expect("known");
        assert_eq!(flush.default_value(), Value::Long(i64::MAX));
    }
}
