//! One `__consumer_offsets` partition and the groups that hash to it: Kafka's coordinator
//! shard. Everything about a group (membership, offsets, timers, its records) happens under the
//! shard's lock, one operation at a time per partition; an operation writes its records before
//! it answers, so records reach the log in the order the operations ran.

use super::classic::ClassicGroup;
use super::config::GroupConfig;
use super::consumer::ConsumerGroup;
use super::offsets::Offsets;
use super::timers::{TimerKey, Timers};
use super::txn_offsets::PendingOffset;
use crate::base::batch_encode::encode_single_batch;
use crate::log::UnifiedLog;
use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::records::{Record, TimestampType};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Whether the shard's state is usable yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardStatus {
    /// Its partition is still being read back: group requests get COORDINATOR_LOAD_IN_PROGRESS.
    Loading,
    Active,
    /// Loading failed or the broker is shutting down: NOT_COORDINATOR.
    Unavailable,
}

/// Membership of a group: the classic protocol or KIP-848's consumer protocol.
#[derive(Debug)]
pub enum GroupKind {
    Classic(ClassicGroup),
    Consumer(ConsumerGroup),
}

/// A group: its membership and its committed offsets, which Kafka keeps apart (a group that
/// only ever committed offsets is a classic group with no members).
#[derive(Debug)]
pub struct Group {
    pub id: String,
    pub offsets: Offsets,
    pub kind: GroupKind,
}

impl Group {
    pub fn new_classic(id: &str, now_ms: i64) -> Group {
        Group {
            id: id.to_string(),
            offsets: Offsets::default(),
            kind: GroupKind::Classic(ClassicGroup::new(id, now_ms)),
        }
    }

    /// No members (offsets do not count).
    pub fn is_empty(&self) -> bool {
        match &self.kind {
            GroupKind::Classic(g) => g.is_empty(),
            GroupKind::Consumer(g) => g.is_empty(),
        }
    }

    /// The state as ListGroups and the describe APIs spell it.
    pub fn state_name(&self) -> &'static str {
        match &self.kind {
            GroupKind::Classic(g) => g.state.name(),
            GroupKind::Consumer(g) => g.state().name(),
        }
    }

    /// `classic` or `consumer`, as ListGroups v5 reports the group type.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            GroupKind::Classic(_) => "classic",
            GroupKind::Consumer(_) => "consumer",
        }
    }

    /// The protocol type ListGroups reports: empty for a group that only holds offsets.
    pub fn protocol_type(&self) -> String {
        match &self.kind {
            GroupKind::Classic(g) => g.protocol_type.clone().unwrap_or_default(),
            GroupKind::Consumer(_) => super::classic::CONSUMER_PROTOCOL_TYPE.to_string(),
        }
    }

    /// Whether the group still consumes `topic` (its offsets must then not be deleted or
    /// expired); unknown subscriptions count as subscribed only while the group has members.
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        match &self.kind {
            GroupKind::Classic(g) => match g.subscribed_topics() {
                Some(topics) => topics.contains(topic),
                None => !g.is_empty(),
            },
            GroupKind::Consumer(g) => g.is_subscribed_to(topic),
        }
    }
}

/// Why a write to `__consumer_offsets` failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("the record batch of {size} bytes exceeds the offsets topic's max.message.bytes")]
    TooLarge { size: usize },
    #[error("the offsets topic rejected the write: {0}")]
    Log(#[from] crate::log::LogError),
    #[error("cannot encode the record batch: {0}")]
    Encode(String),
}

impl AppendError {
    /// The error a client sees, as Kafka's coordinator maps a failed write: a full or broken
    /// log means "not the coordinator" (find it again), an oversized batch a server error.
    pub fn response_error(&self) -> ResponseError {
        match self {
            AppendError::TooLarge { .. } | AppendError::Encode(_) => {
                ResponseError::UnknownServerError
            }
            AppendError::Log(e) => match ResponseError::try_from_code(e.error_code()) {
                Some(
                    ResponseError::MessageTooLarge
                    | ResponseError::RecordListTooLarge
                    | ResponseError::InvalidFetchSize,
                ) => ResponseError::UnknownServerError,
                _ => ResponseError::NotCoordinator,
            },
        }
    }
}

/// A key and its value (None writes a tombstone).
pub type KeyValue = (Bytes, Option<Bytes>);

/// What an operation on one group may use besides the group: timers, the log, the config
/// and the clock. Borrowed from the shard so the group itself can be borrowed mutably beside it.
pub struct Ctx<'a> {
    pub partition: i32,
    pub config: &'a GroupConfig,
    pub timers: &'a mut Timers<TimerKey>,
    log: &'a UnifiedLog,
    pub now: Instant,
    pub now_ms: i64,
}

impl Ctx<'_> {
    /// Schedules (or moves) a timer `after` from now.
    pub fn schedule(&mut self, key: TimerKey, after: Duration) {
        self.timers.schedule(key, self.now + after);
    }

    /// Appends records as one batch to the shard's partition, as Kafka's coordinator writes
    /// them: magic 2, uncompressed, no producer id, timestamped now.
    pub fn append(&self, records: Vec<KeyValue>) -> Result<(), AppendError> {
        self.append_batch(records, None)
    }

    /// Appends records as one transactional batch of producer `producer_id` at `epoch`
    /// (TxnOffsetCommit): they only count once the transaction's COMMIT marker follows.
    pub fn append_transactional(
        &self,
        records: Vec<KeyValue>,
        producer_id: i64,
        epoch: i16,
    ) -> Result<(), AppendError> {
        self.append_batch(records, Some((producer_id, epoch)))
    }

    fn append_batch(
        &self,
        records: Vec<KeyValue>,
        producer: Option<(i64, i16)>,
    ) -> Result<(), AppendError> {
        if records.is_empty() {
            return Ok(());
        }
        let (producer_id, producer_epoch) = producer.unwrap_or((-1, -1));
        let batch: Vec<Record> = records
            .into_iter()
            .enumerate()
            .map(|(i, (key, value))| Record {
                transactional: producer.is_some(),
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id,
                producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: -1,
                timestamp: self.now_ms,
                key: Some(key),
                value,
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        encode_single_batch(&batch, &mut buf).map_err(|e| AppendError::Encode(e.to_string()))?;
        let max = self.log.config().max_message_bytes.max(0) as usize;
        if buf.len() > max {
            return Err(AppendError::TooLarge { size: buf.len() });
        }
        if producer.is_some() {
            self.log.append_as_coordinator(&buf, self.now_ms)?;
        } else {
            self.log.append_as_leader(&buf, self.now_ms)?;
        }
        Ok(())
    }
}

/// The state of one `__consumer_offsets` partition.
pub struct Shard {
    /// The `__consumer_offsets` partition this shard owns.
    pub partition: i32,
    /// Loading, serving, or unavailable.
    pub status: ShardStatus,
    /// The coordinator's settings, shared by every shard.
    pub config: Arc<GroupConfig>,
    /// The partition's log: every change is appended here before it is acknowledged.
    pub log: Arc<UnifiedLog>,
    /// The groups that hash to this partition, by id.
    pub groups: HashMap<String, Group>,
    /// Session, join, sync and retention deadlines, fired by the shard's timer task.
    pub timers: Timers<TimerKey>,
    /// Transactional offset commits waiting for their transaction's marker, by producer id.
    pub pending_txn: HashMap<i64, Vec<PendingOffset>>,
    /// Markers reported while the shard was loading, as (producer id, commit, offset):
    /// applied at activation when the load did not read them.
    pub deferred_markers: Vec<(i64, bool, i64)>,
}

impl Shard {
    /// A shard for `partition`, loading until its records are read back.
    pub fn new(partition: i32, config: Arc<GroupConfig>, log: Arc<UnifiedLog>) -> Shard {
        Shard {
            partition,
            status: ShardStatus::Loading,
            config,
            log,
            groups: HashMap::new(),
            timers: Timers::default(),
            pending_txn: HashMap::new(),
            deferred_markers: Vec::new(),
        }
    }

    /// Splits the shard into its groups and a context for operating on one of them.
    pub fn split(&mut self) -> (&mut HashMap<String, Group>, Ctx<'_>) {
        let ctx = Ctx {
            partition: self.partition,
            config: &self.config,
            timers: &mut self.timers,
            log: &self.log,
            now: Instant::now(),
            now_ms: crate::base::clock::now_ms(),
        };
        (&mut self.groups, ctx)
    }

    /// COORDINATOR_LOAD_IN_PROGRESS while loading, NOT_COORDINATOR if loading failed.
    pub fn check_active(&self) -> Result<(), ResponseError> {
        match self.status {
            ShardStatus::Active => Ok(()),
            ShardStatus::Loading => Err(ResponseError::CoordinatorLoadInProgress),
            ShardStatus::Unavailable => Err(ResponseError::NotCoordinator),
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::config::LogConfig;
    use crate::log::{LogManager, TopicPartition};

    /// A shard over a real partition log in a temporary directory, active at once. The log
    /// manager and directory live as long as the shard.
    pub struct TestShard {
        pub shard: Shard,
        _logs: LogManager,
        _dir: tempfile::TempDir,
    }

    impl TestShard {
        pub fn new(config: GroupConfig) -> TestShard {
            let dir = tempfile::tempdir().expect("tempdir");
            let logs =
                LogManager::startup(&[dir.path().to_path_buf()], &|_| LogConfig::default(), 1)
                    .expect("log manager");
            let log = logs
                .get_or_create(
                    &TopicPartition::new("__consumer_offsets", 0),
                    uuid::Uuid::new_v4(),
                    LogConfig::default(),
                )
                .expect("log");
            let mut shard = Shard::new(0, Arc::new(config), log);
            shard.status = ShardStatus::Active;
            TestShard {
                shard,
                _logs: logs,
                _dir: dir,
            }
        }
    }
}
