//! The log's error type. Every variant maps to exactly one Kafka error code, so the protocol
//! handlers can answer a failed produce or fetch without inspecting messages.

use std::path::PathBuf;

/// Why a log operation failed. [`LogError::error_code`] gives the Kafka error code a handler
/// puts in its response.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A batch failed its CRC or its size fields are impossible (`CORRUPT_MESSAGE`, 2).
    #[error("{0}")]
    CorruptMessage(String),
    /// A batch is well formed but breaks a rule of the format, e.g. a non-zero base offset from
    /// a client, a record count that disagrees with the offsets, or magic other than 2
    /// (`INVALID_RECORD`, 87).
    #[error("{0}")]
    InvalidRecord(String),
    /// Some records break a per-record rule, e.g. a record without a key in a compacted topic
    /// (`INVALID_RECORD`, 87, with the offending records listed as Kafka's `RecordError`s).
    #[error("{}", record_errors_message(.0))]
    RecordErrors(Vec<RecordError>),
    /// A compressed batch its codec cannot expand (garbage, truncated, a zstd window over
    /// 128 MiB). Kafka's decompressing record iterator throws a plain `KafkaException`, which
    /// the produce path answers with `UNKNOWN_SERVER_ERROR` (-1).
    #[error("{0}")]
    Undecompressable(String),
    /// One batch is larger than `max.message.bytes` (`MESSAGE_TOO_LARGE`, 10).
    #[error(
        "The record batch size in the append to {partition} is {size} bytes which exceeds the maximum configured value of {max}."
    )]
    MessageTooLarge {
        /// The partition appended to, as `topic-partition`.
        partition: String,
        /// Size of the offending batch, log overhead included.
        size: usize,
        /// The topic's `max.message.bytes`.
        max: usize,
    },
    /// The whole append is larger than `segment.bytes`, so it could never fit in a segment
    /// (`RECORD_LIST_TOO_LARGE`, 18).
    #[error(
        "Message batch size is {size} bytes in append to partition {partition} which exceeds the maximum configured segment size of {max}."
    )]
    RecordListTooLarge {
        /// The partition appended to, as `topic-partition`.
        partition: String,
        /// Size of all batches of the append.
        size: usize,
        /// The topic's `segment.bytes`.
        max: usize,
    },
    /// An old message format was requested that Kafka 4 no longer serves
    /// (`UNSUPPORTED_FOR_MESSAGE_FORMAT`, 43). The log itself answers magic < 2 with
    /// [`LogError::InvalidRecord`], as Kafka 4's produce path does; handlers may use this one.
    #[error("The message format version does not support the requested function.")]
    UnsupportedForMessageFormat,
    /// An idempotent producer skipped or repeated sequence numbers
    /// (`OUT_OF_ORDER_SEQUENCE_NUMBER`, 45).
    #[error(
        "Out of order sequence number for producer {producer_id} at offset {offset} in partition {partition}: {found} (incoming seq. number), {last} (current end sequence number)"
    )]
    OutOfOrderSequence {
        /// The partition appended to.
        partition: String,
        /// The producer id of the batch.
        producer_id: i64,
        /// The offset the batch would have had.
        offset: i64,
        /// The first sequence of the incoming batch.
        found: i32,
        /// The last sequence the log holds for this producer.
        last: i32,
    },
    /// A fenced (older) producer epoch (`INVALID_PRODUCER_EPOCH`, 47).
    #[error(
        "Epoch of producer {producer_id} at offset {offset} in {partition} is {found}, which is smaller than the last seen epoch {current}"
    )]
    InvalidProducerEpoch {
        /// The partition appended to.
        partition: String,
        /// The producer id of the batch.
        producer_id: i64,
        /// The offset the batch would have had.
        offset: i64,
        /// The epoch of the incoming batch.
        found: i16,
        /// The epoch the log last saw.
        current: i16,
    },
    /// A producer with an open transaction wrote a non-transactional batch, or a
    /// transactional write was not part of a transaction the coordinator knows
    /// (`INVALID_TXN_STATE`, 48).
    #[error("{0}")]
    InvalidTxnState(String),
    /// A transaction marker from an older coordinator epoch than the partition has seen
    /// (`TRANSACTION_COORDINATOR_FENCED`, 52).
    #[error("{0}")]
    TransactionCoordinatorFenced(String),
    /// A fetch or offset lookup outside `[log start, log end]` (`OFFSET_OUT_OF_RANGE`, 1).
    #[error(
        "Received request for offset {offset} for partition {partition}, but we only have log segments in the range {log_start_offset} to {log_end_offset}."
    )]
    OffsetOutOfRange {
        /// The partition read.
        partition: String,
        /// The requested offset.
        offset: i64,
        /// First offset still in the log.
        log_start_offset: i64,
        /// Offset the next append will get.
        log_end_offset: i64,
    },
    /// A record timestamp outside the accepted window (`INVALID_TIMESTAMP`, 32).
    #[error("{0}")]
    InvalidTimestamp(String),
    /// A file operation failed; the log dir is suspect (`KAFKA_STORAGE_ERROR`, 56).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An I/O error left a file different from what the log holds in memory: a failed write
    /// that could not be cut back, or a failed fsync, after which the kernel may have dropped
    /// the unwritten pages. The log takes itself offline (`KAFKA_STORAGE_ERROR`, 56).
    #[error("I/O error on {path} that could not be undone: {source}")]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The log went offline after an earlier I/O error it could not undo; start-up recovery
    /// will check its files against their checksums (`KAFKA_STORAGE_ERROR`, 56). Kafka says
    /// the same of a whole log dir.
    #[error(
        "The log for partition {partition} in dir {dir} is offline due to a previous IO exception; it is recovered at the next start-up"
    )]
    Offline {
        /// The partition.
        partition: String,
        /// The log dir holding it.
        dir: PathBuf,
    },
    /// A file the log manages (snapshot, checkpoint, partition.metadata) is not in the format
    /// Kafka writes (`KAFKA_STORAGE_ERROR`, 56).
    #[error("malformed file {path}: {reason}")]
    MalformedFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// One rejected record of a produce request, as Kafka reports it in `record_errors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// Index of the record within its batch.
    pub batch_index: i32,
    /// Why it was rejected.
    pub message: String,
}

/// Kafka's `LogValidator.processRecordErrors` message for a list of record errors.
fn record_errors_message(errors: &[RecordError]) -> String {
    let shown: Vec<String> = errors
        .iter()
        .take(3)
        .map(|e| {
            format!(
                "RecordError(batchIndex={}, message='{}')",
                e.batch_index, e.message
            )
        })
        .collect();
    format!(
        "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
        errors.len(),
        shown.join(", ")
    )
}

impl LogError {
    /// Kafka's numeric error code for this error, as it goes in a response.
    pub fn error_code(&self) -> i16 {
        match self {
            LogError::Undecompressable(_) => -1,
            LogError::OffsetOutOfRange { .. } => 1,
            LogError::CorruptMessage(_) => 2,
            LogError::MessageTooLarge { .. } => 10,
            LogError::RecordListTooLarge { .. } => 18,
            LogError::InvalidTimestamp(_) => 32,
            LogError::UnsupportedForMessageFormat => 43,
            LogError::OutOfOrderSequence { .. } => 45,
            LogError::InvalidProducerEpoch { .. } => 47,
            LogError::InvalidTxnState(_) => 48,
            LogError::TransactionCoordinatorFenced(_) => 52,
            LogError::Io { .. }
            | LogError::Inconsistent { .. }
            | LogError::Offline { .. }
            | LogError::MalformedFile { .. } => 56,
            LogError::InvalidRecord(_) | LogError::RecordErrors(_) => 87,
        }
    }

    /// Whether this is a file-system failure (as opposed to a refused request): the log dir
    /// then saw an I/O error and is not marked clean at shutdown.
    pub fn is_io(&self) -> bool {
        matches!(
            self,
            LogError::Io { .. } | LogError::Inconsistent { .. } | LogError::Offline { .. }
        )
    }

    /// The same failure as one that could not be undone (a failed fsync: its effect on the
    /// page cache is unknown).
    pub(crate) fn into_inconsistent(self) -> LogError {
        match self {
            LogError::Io { path, source } => LogError::Inconsistent { path, source },
            other => other,
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> LogError {
        LogError::Io {
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_match_kafka() {
        assert_eq!(LogError::CorruptMessage(String::new()).error_code(), 2);
        assert_eq!(LogError::InvalidRecord(String::new()).error_code(), 87);
        assert_eq!(LogError::Undecompressable(String::new()).error_code(), -1);
        assert_eq!(
            LogError::MessageTooLarge {
                partition: "t-0".into(),
                size: 2,
                max: 1
            }
            .error_code(),
            10
        );
        assert_eq!(
            LogError::io("/x", std::io::Error::other("boom")).error_code(),
            56
        );
        assert_eq!(LogError::UnsupportedForMessageFormat.error_code(), 43);
    }
}
