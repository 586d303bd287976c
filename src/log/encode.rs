//! Building record batches the broker writes itself (group coordinator records, the storage
//! tool's bootstrap checkpoint), through `kafka-protocol`'s encoder.

use bytes::BytesMut;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions};

/// Encodes `records` as exactly one uncompressed v2 batch without a producer id, appended to
/// `buf`.
///
/// The encoder starts a new batch wherever `offset - sequence` changes from one record to the
/// next, and Kafka's log (like Strom's) accepts one batch per append. Numbering the sequences
/// from -1 alongside the offsets keeps a single batch whose base sequence is -1 ("no
/// sequence"); v2 records carry no sequence of their own, so nothing else changes.
pub fn encode_single_batch(records: &[Record], buf: &mut BytesMut) -> anyhow::Result<()> {
    let Some(base) = records.first().map(|r| r.offset) else {
        return Ok(());
    };
    let numbered: Vec<Record> = records
        .iter()
        .map(|r| Record {
            sequence: (r.offset - base) as i32 - 1,
            ..r.clone()
        })
        .collect();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(buf, &numbered, &options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::BatchHeader;
    use bytes::Bytes;
    use kafka_protocol::records::TimestampType;

    fn record(offset: i64) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: -1,
            timestamp: 1_000 + offset,
            key: Some(Bytes::from(format!("k{offset}"))),
            value: None,
            headers: Default::default(),
        }
    }

    #[test]
    fn many_records_make_one_batch_without_a_sequence() {
        let records: Vec<Record> = (0..5).map(record).collect();
        let mut buf = BytesMut::new();
        encode_single_batch(&records, &mut buf).expect("encodes");
        let header = BatchHeader::parse(&buf).expect("a batch header");
        assert_eq!(header.size(), buf.len(), "exactly one batch");
        assert_eq!(header.record_count, 5);
        assert_eq!(header.base_sequence, -1);
        assert_eq!(header.producer_id, -1);
    }
}
