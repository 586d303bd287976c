//! Building record batches the broker writes itself (group coordinator records, the storage
//! tool's bootstrap checkpoint, the CLI producer), through `kafka-protocol`'s encoder.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, Record, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType,
};

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

/// A plain record with no key, outside any producer session (also what Strom's command-line
/// producer sends).
pub fn data(offset: i64, value: Bytes) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: NO_SEQUENCE,
        timestamp: 0,
        key: None,
        value: Some(value),
        headers: Default::default(),
    }
}

/// Encodes each slice as one uncompressed v2 batch stamped with `now_ms`.
pub fn encode_batches(batches: &[&[Record]], now_ms: i64) -> Bytes {
    let mut buf = BytesMut::new();
    for batch in batches {
        let stamped: Vec<Record> = batch
            .iter()
            .map(|r| Record {
                timestamp: now_ms,
                ..r.clone()
            })
            .collect();
        encode_single_batch(&stamped, &mut buf)
            .expect("uncompressed v2 batches of small records encode"); // invariant: they always fit
    }
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

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
        let sets = RecordBatchDecoder::decode_all(&mut buf.freeze()).expect("decodes");
        assert_eq!(sets.len(), 1, "exactly one batch");
        assert_eq!(sets[0].records.len(), 5);
        assert!(sets[0].records.iter().all(|r| r.producer_id == -1));
    }
}
