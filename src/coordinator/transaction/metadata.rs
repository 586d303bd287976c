//! One transactional id's state, as Kafka's `TransactionMetadata`: its producer id and epoch,
//! the transaction's state and partitions, and the timestamps the timeout and the expiry of
//! idle ids count from.

use std::collections::BTreeSet;

use crate::log::TopicPartition;

/// Kafka's `TransactionState`, with its stored ids and names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    /// No transaction in progress (after InitProducerId).
    Empty,
    /// A transaction has partitions.
    Ongoing,
    /// EndTxn(commit) accepted; markers being written.
    PrepareCommit,
    /// EndTxn(abort) or a timeout; markers being written.
    PrepareAbort,
    /// All COMMIT markers written.
    CompleteCommit,
    /// All ABORT markers written.
    CompleteAbort,
    /// The id expired and is being removed.
    Dead,
    /// A new producer instance fences the old one's open transaction (never stored).
    PrepareEpochFence,
}

impl TxnState {
    /// The id stored in `TransactionLogValue.TransactionStatus`.
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    /// The state for a stored id.
    pub fn from_id(id: i8) -> Option<TxnState> {
        Some(match id {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// The name ListTransactions and DescribeTransactions report.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// The state named `name` (ListTransactions' state filter).
    pub fn from_name(name: &str) -> Option<TxnState> {
        (0..=7)
            .filter_map(TxnState::from_id)
            .find(|s| s.name() == name)
    }

    /// Whether a transaction in this state has finished (or never started).
    pub fn is_complete_or_empty(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }
}

/// Kafka's `TransactionMetadata.isEpochExhausted`: an epoch this high cannot be bumped
/// twice more (fencing needs one bump, the retry another), so a new producer id is due.
pub fn is_epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// The coordinator's record of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    /// The transactional id.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: i64,
    /// The producer id before the last rotation (KIP-360 retries), -1 if none.
    pub prev_producer_id: i64,
    /// The producer id the current transaction ends with when the epoch is exhausted
    /// (transaction version 2), -1 if none.
    pub next_producer_id: i64,
    /// Current producer epoch.
    pub producer_epoch: i16,
    /// The epoch before the last bump, so a retried InitProducerId gets the same answer.
    pub last_producer_epoch: i16,
    /// Epoch that goes with `next_producer_id`, -1 if none.
    pub next_producer_epoch: i16,
    /// The producer's `transaction.timeout.ms`.
    pub txn_timeout_ms: i32,
    /// The transaction's state.
    pub state: TxnState,
    /// Partitions of the open (or ending) transaction.
    pub partitions: BTreeSet<TopicPartition>,
    /// When the transaction started (its first partition), -1 if none.
    pub txn_start_timestamp: i64,
    /// Last change.
    pub txn_last_update_timestamp: i64,
    /// The client's transaction version: 2 bumps the epoch at every EndTxn (KIP-890).
    pub client_txn_version: i16,
}

impl TxnMetadata {
    /// A new id with no epoch yet, Empty.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            prev_producer_id: -1,
            next_producer_id: -1,
            producer_epoch: -1,
            last_producer_epoch: -1,
            next_producer_epoch: -1,
            txn_timeout_ms: timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            txn_start_timestamp: -1,
            txn_last_update_timestamp: now_ms,
            client_txn_version: 0,
        }
    }

    /// Whether the id's epoch cannot be bumped again without a new producer id.
    pub fn is_epoch_exhausted(&self) -> bool {
        is_epoch_exhausted(self.producer_epoch)
    }
}
