//! Control batches: the transaction markers (COMMIT / ABORT) the transaction coordinator has
//! every partition of a transaction write when the transaction ends, in Kafka's exact format.
//!
//! A marker is a v2 batch with the transactional and control attribute bits set, the
//! producer's id and epoch, base sequence -1, uncompressed, holding one record whose
//! key is Kafka's `ControlRecordType` (`version: int16 = 0, type: int16`, 0 = ABORT,
//! 1 = COMMIT) and whose value is `EndTxnMarker` (`version: int16 = 0, coordinator_epoch:
//! int32`). Consumers skip control batches; `read_committed` consumers use the ABORT markers
//! (with the fetch response's aborted transactions) to drop aborted data.
//!
//! The log cleaner reads markers with [`parse_control_batch`] to know where a transaction
//! ends, and must keep a marker until no aborted data of its transaction remains.

use super::batch::{BatchHeader, RECORD_BATCH_OVERHEAD};
use super::compression::expand_start;
use super::crc::crc32c;
use super::records::{read_varint, read_varlong};

/// How much of a compressed control batch is expanded to read its first record: a marker
/// record is under 40 bytes; other control records are only identified by their key.
const CONTROL_RECORD_LIMIT: u64 = 4096;

/// Kafka's `ControlRecordType`, the key of a control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// The transaction was aborted: its data is to be skipped by `read_committed` consumers.
    Abort,
    /// The transaction was committed.
    Commit,
    /// A control record of another type (KRaft's leader change and snapshot records use
    /// control batches too); never a transaction marker.
    Other(i16),
}

impl ControlRecordType {
    /// The type id as stored in the key.
    pub fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::Other(id) => id,
        }
    }

    fn from_id(id: i16) -> ControlRecordType {
        match id {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            other => ControlRecordType::Other(other),
        }
    }
}

/// A transaction marker: how the transaction ended and which coordinator epoch wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnMarker {
    /// COMMIT or ABORT.
    pub kind: ControlRecordType,
    /// Epoch of the transaction coordinator (its `__transaction_state` partition) that wrote
    /// the marker; the log refuses markers from an older coordinator epoch.
    pub coordinator_epoch: i32,
}

/// What a control batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlBatch {
    /// No record: the cleaner removed the marker's record after the delete horizon.
    Empty,
    /// A transaction marker.
    Marker(EndTxnMarker),
    /// A control record that is not a transaction marker (or whose value could not be read).
    Other(ControlRecordType),
}

/// Size of the record a marker carries: length varint (1) + attributes (1) + timestamp delta
/// (1) + offset delta (1) + key length (1) + key (4) + value length (1) + value (6) + header
/// count (1).
const MARKER_RECORD_SIZE: usize = 17;
/// Size of a whole marker batch.
pub const MARKER_BATCH_SIZE: usize = RECORD_BATCH_OVERHEAD + MARKER_RECORD_SIZE;

/// Encodes a marker batch as Kafka's `MemoryRecords.withEndTransactionMarker` does: base
/// offset 0 (the log assigns it), partition leader epoch 0, create time `timestamp`.
pub fn encode_end_txn_marker(
    producer_id: i64,
    producer_epoch: i16,
    marker: EndTxnMarker,
    timestamp: i64,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(MARKER_BATCH_SIZE);
    b.extend_from_slice(&0i64.to_be_bytes()); // base offset
    b.extend_from_slice(&((MARKER_BATCH_SIZE - 12) as i32).to_be_bytes()); // batch length
    b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&[0; 4]); // crc, filled below
    b.extend_from_slice(&(0x10i16 | 0x20).to_be_bytes()); // transactional | control
    b.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
    b.extend_from_slice(&timestamp.to_be_bytes()); // base timestamp
    b.extend_from_slice(&timestamp.to_be_bytes()); // max timestamp
    b.extend_from_slice(&producer_id.to_be_bytes());
    b.extend_from_slice(&producer_epoch.to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&1i32.to_be_bytes()); // record count
    // The record: zigzag varints of small values are one byte each.
    b.push(((MARKER_RECORD_SIZE - 1) as u8) << 1); // length
    b.push(0); // attributes
    b.push(0); // timestamp delta
    b.push(0); // offset delta
    b.push(4 << 1); // key length
    b.extend_from_slice(&0i16.to_be_bytes()); // key version
    b.extend_from_slice(&marker.kind.id().to_be_bytes());
    b.push(6 << 1); // value length
    b.extend_from_slice(&0i16.to_be_bytes()); // value version
    b.extend_from_slice(&marker.coordinator_epoch.to_be_bytes());
    b.push(0); // headers
    let crc = crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Reads the control record of a whole control batch (`batch` starts with its header and
/// holds all of it). `Err` for a batch that is not a control batch or whose record cannot be
/// read.
pub fn parse_control_batch(batch: &[u8]) -> Result<ControlBatch, String> {
    let header = BatchHeader::parse(batch).ok_or("incomplete batch header")?;
    if !header.is_control() {
        return Err(format!(
            "batch at offset {} is not a control batch",
            header.base_offset
        ));
    }
    if header.record_count <= 0 {
        return Ok(ControlBatch::Empty);
    }
    let body = batch
        .get(RECORD_BATCH_OVERHEAD..header.size())
        .ok_or("control batch shorter than its length")?;
    let expanded;
    let body = if header.compression() == 0 {
        body
    } else {
        // Only the first record is read: never expand more than it can take.
        expanded = expand_start(header.compression(), body, CONTROL_RECORD_LIMIT)
            .map_err(|e| e.to_string())?;
        &expanded
    };
    let bad = || {
        format!(
            "malformed control record in batch at offset {}",
            header.base_offset
        )
    };
    let mut pos = 0usize;
    let _length = read_varint(body, &mut pos).ok_or_else(bad)?;
    pos += 1; // attributes
    read_varlong(body, &mut pos).ok_or_else(bad)?;
    read_varint(body, &mut pos).ok_or_else(bad)?;
    let key_len = read_varint(body, &mut pos).ok_or_else(bad)?;
    if key_len < 4 {
        return Err(bad());
    }
    let key = body.get(pos..pos + key_len as usize).ok_or_else(bad)?;
    pos += key_len as usize;
    let kind = ControlRecordType::from_id(i16::from_be_bytes([key[2], key[3]]));
    if !matches!(kind, ControlRecordType::Abort | ControlRecordType::Commit) {
        return Ok(ControlBatch::Other(kind));
    }
    let value_len = read_varint(body, &mut pos).ok_or_else(bad)?;
    if value_len < 6 {
        return Err(bad());
    }
    let value = body.get(pos..pos + value_len as usize).ok_or_else(bad)?;
    Ok(ControlBatch::Marker(EndTxnMarker {
        kind,
        coordinator_epoch: i32::from_be_bytes([value[2], value[3], value[4], value[5]]),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::check_stored_batch;
    use bytes::BytesMut;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn marker_round_trips_and_decodes_as_kafka_control_record() {
        let marker = EndTxnMarker {
            kind: ControlRecordType::Commit,
            coordinator_epoch: 7,
        };
        let bytes = encode_end_txn_marker(42, 3, marker, 1_700_000_000_000);
        assert_eq!(bytes.len(), MARKER_BATCH_SIZE);
        let header = check_stored_batch(&bytes).expect("valid batch");
        assert!(header.is_control() && header.is_transactional());
        assert_eq!((header.producer_id, header.producer_epoch), (42, 3));
        assert_eq!(header.base_sequence, -1);
        assert_eq!(
            parse_control_batch(&bytes),
            Ok(ControlBatch::Marker(marker))
        );
        // An independent decoder reads the same record.
        let mut buf = BytesMut::from(&bytes[..]);
        let set = RecordBatchDecoder::decode(&mut buf).expect("decode");
        let r = &set.records[0];
        assert!(r.control && r.transactional);
        assert_eq!(r.key.as_deref(), Some(&[0u8, 0, 0, 1][..]));
        assert_eq!(r.value.as_deref(), Some(&[0u8, 0, 0, 0, 0, 7][..]));
        let abort = EndTxnMarker {
            kind: ControlRecordType::Abort,
            coordinator_epoch: -1,
        };
        let bytes = encode_end_txn_marker(1, 0, abort, 5);
        assert_eq!(parse_control_batch(&bytes), Ok(ControlBatch::Marker(abort)));
    }

    #[test]
    fn rejects_data_batches_and_garbage() {
        let data = crate::log::batch::test_support::batch(1, 1, 5);
        assert!(parse_control_batch(&data).is_err());
        let mut bytes = encode_end_txn_marker(
            1,
            0,
            EndTxnMarker {
                kind: ControlRecordType::Commit,
                coordinator_epoch: 0,
            },
            5,
        );
        bytes.truncate(RECORD_BATCH_OVERHEAD + 3);
        assert!(parse_control_batch(&bytes).is_err());
    }
}
