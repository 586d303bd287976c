//! Kafka's `CleanedTransactionMetadata`: while the cleaner walks the log in offset order it
//! tracks which transactions are open, so that data of aborted transactions is dropped, and a
//! transaction marker is dropped only once no batch of its transaction is left before it.
//!
//! Aborted transactions come from the segments' transaction indexes (`.txnindex`), which say
//! which producer's data between two offsets was aborted.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use crate::log::batch::BatchHeader;
use crate::log::control::ControlRecordType;
use crate::log::txn_index::AbortedTxn;

/// Transaction state carried across the segments of one cleaning pass.
#[derive(Default)]
pub struct CleanedTransactions {
    /// Producers with a committed transaction in progress whose batches were seen.
    ongoing_committed: HashSet<i64>,
    /// Producers in an aborted transaction, by producer id: the transaction, and whether a
    /// batch of it was seen (and dropped) in this pass.
    ongoing_aborted: HashMap<i64, (AbortedTxn, bool)>,
    /// Aborted transactions not reached yet, earliest first offset first.
    aborted: BinaryHeap<Reverse<(i64, i64, i64, i64)>>,
    /// Aborted transactions whose marker is kept: they go to the cleaned segment's
    /// transaction index.
    retained: Vec<AbortedTxn>,
}

impl CleanedTransactions {
    /// Adds aborted transactions found in the transaction indexes of the segments about to be
    /// read.
    pub fn add_aborted(&mut self, txns: impl IntoIterator<Item = AbortedTxn>) {
        self.aborted.extend(txns.into_iter().map(|t| {
            Reverse((
                t.first_offset,
                t.producer_id,
                t.last_offset,
                t.last_stable_offset,
            ))
        }));
    }

    /// Kafka's `onControlBatchRead`: true if the marker batch may be discarded. `control` is
    /// the type of its (first) record, `None` for a batch already emptied by an earlier clean.
    pub fn on_control_batch(
        &mut self,
        header: &BatchHeader,
        control: Option<ControlRecordType>,
    ) -> bool {
        self.consume_aborted_up_to(header.last_offset());
        let producer_id = header.producer_id;
        match control {
            None => true,
            Some(ControlRecordType::Abort) => match self.ongoing_aborted.remove(&producer_id) {
                // Keep the marker until every batch of the transaction is gone; the cleaned
                // segment's index keeps the transaction.
                Some((txn, true)) => {
                    self.retained.push(txn);
                    false
                }
                _ => true,
            },
            // A commit marker may go once no batch of its transaction was seen before it.
            Some(ControlRecordType::Commit) => !self.ongoing_committed.remove(&producer_id),
            Some(ControlRecordType::Other(_)) => false,
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
            Some((_, saw_batch)) => {
                *saw_batch = true;
                true
            }
            None => {
                self.ongoing_committed.insert(header.producer_id);
                false
            }
        }
    }

    /// Aborted transactions whose markers were kept since the last call.
    pub fn take_retained(&mut self) -> Vec<AbortedTxn> {
        std::mem::take(&mut self.retained)
    }

    fn consume_aborted_up_to(&mut self, offset: i64) {
        while let Some(Reverse((first_offset, producer_id, last_offset, last_stable_offset))) =
            self.aborted.peek().copied()
        {
            if first_offset > offset {
                break;
            }
            self.aborted.pop();
            let txn = AbortedTxn {
                producer_id,
                first_offset,
                last_offset,
                last_stable_offset,
            };
            self.ongoing_aborted
                .entry(producer_id)
                .or_insert((txn, false));
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
            !txns.on_control_batch(&header(3, 7, true, true), Some(ControlRecordType::Abort)),
            "abort marker kept: its data was still there"
        );
        assert_eq!(
            txns.take_retained().len(),
            1,
            "for the cleaned segment's index"
        );
        assert!(
            !txns.on_control_batch(&header(4, 8, true, true), Some(ControlRecordType::Commit)),
            "commit marker kept while its data is there"
        );
        assert!(
            txns.on_control_batch(&header(5, 8, true, true), Some(ControlRecordType::Commit)),
            "a commit with no data left may go"
        );
        assert!(
            txns.on_control_batch(&header(6, 9, true, true), None),
            "empty batch"
        );
    }
}
