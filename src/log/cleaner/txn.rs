//! Kafka's `CleanedTransactionMetadata`: while the cleaner walks the log in offset order it
//! tracks which transactions are open, so that data of aborted transactions is dropped, and a
//! transaction marker is dropped only once no batch of its transaction is left before it.
//!
//! Aborted transactions come from the segments' transaction indexes (`.txnindex`), which say
//! which producer's data between two offsets was aborted.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use crate::log::batch::BatchHeader;

/// An aborted transaction as the transaction index records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AbortedTxn {
    /// First offset of the transaction's data.
    pub first_offset: i64,
    /// The transactional producer.
    pub producer_id: i64,
    /// Offset of its abort marker.
    pub last_offset: i64,
    /// The last stable offset when the marker was written.
    pub last_stable_offset: i64,
}

/// What a control record's key says (Kafka's `ControlRecordType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    /// Abort marker (type 0).
    Abort,
    /// Commit marker (type 1).
    Commit,
    /// Any other control record (e.g. KRaft's), kept as is.
    Other,
}

impl ControlType {
    /// Reads the type from a control record's key (`version: int16, type: int16`).
    pub fn from_key(key: Option<&[u8]>) -> ControlType {
        match key {
            Some([_, _, 0, 0, ..]) => ControlType::Abort,
            Some([_, _, 0, 1, ..]) => ControlType::Commit,
            _ => ControlType::Other,
        }
    }
}

/// Transaction state carried across the segments of one cleaning pass.
#[derive(Default)]
pub struct CleanedTransactions {
    /// Producers with a committed transaction in progress whose batches were seen.
    ongoing_committed: HashSet<i64>,
    /// Producers in an aborted transaction, by producer id, with whether a batch of that
    /// transaction was seen (and dropped) in this pass.
    ongoing_aborted: HashMap<i64, bool>,
    /// Aborted transactions not reached yet, earliest first.
    aborted: BinaryHeap<Reverse<AbortedTxn>>,
}

impl CleanedTransactions {
    /// Adds aborted transactions found in the transaction indexes of the segments about to be
    /// read.
    pub fn add_aborted(&mut self, txns: impl IntoIterator<Item = AbortedTxn>) {
        self.aborted.extend(txns.into_iter().map(Reverse));
    }

    /// Kafka's `onControlBatchRead`: true if the marker batch may be discarded. `control` is
    /// the type of its (first) record, `None` for a batch already emptied by an earlier clean.
    pub fn on_control_batch(&mut self, header: &BatchHeader, control: Option<ControlType>) -> bool {
        self.consume_aborted_up_to(header.last_offset());
        let producer_id = header.producer_id;
        match control {
            None => true,
            Some(ControlType::Abort) => match self.ongoing_aborted.remove(&producer_id) {
                // Keep the marker until every batch of the transaction is gone. (Kafka also
                // writes the transaction to the cleaned segment's transaction index here; that
                // comes with the `.txnindex` of the transactions issue.)
                Some(true) => false,
                _ => true,
            },
            // A commit marker may go once no batch of its transaction was seen before it.
            Some(ControlType::Commit) => !self.ongoing_committed.remove(&producer_id),
            Some(ControlType::Other) => false,
        }
    }

    /// Kafka's `onBatchRead`: true if the data batch belongs to an aborted transaction (and
    /// may be discarded).
    pub fn on_data_batch(&mut self, header: &BatchHeader) -> bool {
        self.consume_aborted_up_to(header.last_offset());
        if !header.is_transactional() {
            return false;
        }
        match self.ongoing_aborted.get_mut(&header.producer_id) {
            Some(saw_batch) => {
                *saw_batch = true;
                true
            }
            None => {
                self.ongoing_committed.insert(header.producer_id);
                false
            }
        }
    }

    fn consume_aborted_up_to(&mut self, offset: i64) {
        while let Some(Reverse(txn)) = self.aborted.peek().copied() {
            if txn.first_offset > offset {
                break;
            }
            self.aborted.pop();
            self.ongoing_aborted.entry(txn.producer_id).or_insert(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(base: i64, pid: i64, transactional: bool, control: bool) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 49,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: (if transactional { 0x10 } else { 0 }) | (if control { 0x20 } else { 0 }),
            last_offset_delta: 0,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: 0,
            base_sequence: 0,
            record_count: 1,
        }
    }

    #[test]
    fn aborted_data_goes_and_its_marker_stays_until_the_data_is_gone() {
        let mut txns = CleanedTransactions::default();
        txns.add_aborted([AbortedTxn {
            first_offset: 1,
            producer_id: 7,
            last_offset: 3,
            last_stable_offset: 1,
        }]);
        assert!(
            !txns.on_data_batch(&header(0, 7, false, false)),
            "not transactional"
        );
        assert!(
            txns.on_data_batch(&header(1, 7, true, false)),
            "aborted data"
        );
        assert!(
            !txns.on_data_batch(&header(2, 8, true, false)),
            "another producer commits"
        );
        assert!(
            !txns.on_control_batch(&header(3, 7, true, true), Some(ControlType::Abort)),
            "abort marker kept: its data was still there"
        );
        assert!(
            !txns.on_control_batch(&header(4, 8, true, true), Some(ControlType::Commit)),
            "commit marker kept while its data is there"
        );
        assert!(
            txns.on_control_batch(&header(5, 8, true, true), Some(ControlType::Commit)),
            "a commit with no data left may go"
        );
        assert!(
            txns.on_control_batch(&header(6, 9, true, true), None),
            "empty batch"
        );
    }

    #[test]
    fn reads_control_record_types() {
        assert_eq!(
            ControlType::from_key(Some(&[0, 0, 0, 0])),
            ControlType::Abort
        );
        assert_eq!(
            ControlType::from_key(Some(&[0, 0, 0, 1])),
            ControlType::Commit
        );
        assert_eq!(
            ControlType::from_key(Some(&[0, 0, 0, 5])),
            ControlType::Other
        );
        assert_eq!(ControlType::from_key(None), ControlType::Other);
    }
}
