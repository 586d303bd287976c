//! The log engine: partition logs in Kafka's exact on-disk layout.
//!
//! A [`LogManager`] owns the log dirs and one [`UnifiedLog`] per partition directory
//! (`<topic>-<partition>`). Each log is a sequence of [`LogSegment`]s (`<base offset>.log`
//! with `.index` and `.timeindex`), the idempotent producer state with its `.snapshot` files,
//! and `partition.metadata`. Record batches are validated without decompression, given their
//! offsets by rewriting the header in place, and stored byte for byte, so Kafka itself can
//! read a Strom log dir and vice versa.

mod batch;
pub mod checkpoint;
pub mod cleaner;
pub mod compression;
pub mod control;
mod crc;
mod error;
#[cfg(test)]
mod fault_tests;
mod file_records;
mod index;
mod leader_epoch;
mod log_manager;
mod offset_index;
mod partition_metadata;
mod producer_snapshot;
mod producer_state;
mod records;
mod segment;
mod time_index;
pub mod txn_index;
mod unified_log;

use std::fmt;

pub use batch::{
    AppendOrigin, BatchHeader, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD, ValidatedBatch, assign_offsets,
    check_stored_batch, validate_produce_batches,
};
pub use crc::{crc32c, crc32c_reference};
pub use error::{LogError, RecordError};
pub use file_records::FileRecords;
pub use log_manager::{DetachedLog, LogDirDescription, LogManager};
pub use offset_index::OffsetIndex;
pub use partition_metadata::topic_id_to_string;
pub use producer_state::{BatchMetadata, CompletedTxn, ProducerStateEntry, ProducerStateManager};
pub use segment::LogSegment;
pub use time_index::TimeIndex;
pub use txn_index::AbortedTxn;
pub use unified_log::{LoadHints, UnifiedLog};

/// A topic partition, printed as Kafka names its directory: `topic-0`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// Convenience constructor.
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// The outcome of a successful produce append, as the Produce response reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogAppendInfo {
    /// Offset given to the first record.
    pub first_offset: i64,
    /// Offset given to the last record.
    pub last_offset: i64,
    /// The broker time stamped on the batches; -1 unless the topic uses `LogAppendTime`.
    pub log_append_time: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
    /// Records appended.
    pub record_count: i64,
    /// An idempotent retry of batches already in the log: nothing was written and the offsets
    /// are those of the original append.
    pub duplicate: bool,
}

/// A fetch's isolation level (Kafka's `IsolationLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Everything up to the high watermark, open and aborted transactions included.
    ReadUncommitted,
    /// Only up to the last stable offset, with the aborted transactions listed.
    ReadCommitted,
}

impl Isolation {
    /// From the protocol's `isolation_level` field (1 = read_committed).
    pub fn from_level(level: i8) -> Isolation {
        if level == 1 {
            Isolation::ReadCommitted
        } else {
            Isolation::ReadUncommitted
        }
    }
}

/// What a fetch read from the log.
#[derive(Debug, Clone)]
pub struct FetchDataInfo {
    /// Zero or more whole batches of one segment, exactly as stored.
    pub records: FileRecords,
    /// Offset up to which records are committed (the log end offset on a single node).
    pub high_watermark: i64,
    /// The last stable offset: below it every transaction is decided.
    pub last_stable_offset: i64,
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// For `read_committed`, the aborted transactions with data in the records returned
    /// (possibly empty); `None` for `read_uncommitted`.
    pub aborted_transactions: Option<Vec<AbortedTxn>>,
}

/// A ListOffsets answer: a record's timestamp and offset, and the leader epoch it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampAndOffset {
    /// The record's timestamp.
    pub timestamp: i64,
    /// The record's offset.
    pub offset: i64,
    /// The partition leader epoch of its batch.
    pub leader_epoch: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_partition_displays_as_its_directory_name() {
        assert_eq!(TopicPartition::new("orders", 3).to_string(), "orders-3");
        assert!(TopicPartition::new("a", 1) < TopicPartition::new("a", 2));
    }
}
