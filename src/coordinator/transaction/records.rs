//! The key/value schemas of `__transaction_state`, byte-compatible with Kafka's
//! `TransactionLogKey` / `TransactionLogValue` so Kafka's `DumpLogSegments
//! --transaction-log-decoder` reads what Strom writes (and Strom reads Kafka's).
//!
//! Key: `int16` record type 0, then `transactional_id: string` (int16 length).
//! Value: `int16` version, then
//! `producer_id int64, producer_epoch int16, transaction_timeout_ms int32, status int8,
//! partitions [topic string, partition_ids [int32]] (nullable), last_update_ms int64,
//! start_ms int64`. Version 0 uses classic encodings; version 1 (written for transaction
//! version 2 clients) is flexible: compact strings and arrays, tagged fields per struct, and
//! the top-level tags 0 `PreviousProducerId`, 1 `NextProducerId`, 2
//! `ClientTransactionVersion`, 3 `NextProducerEpoch` (written only when not at their
//! defaults). A record without a value is a tombstone (an expired transactional id).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::BTreeMap;

use super::metadata::{TxnMetadata, TxnState};
use crate::log::TopicPartition;

/// Record type of a transaction log key.
const TRANSACTION_LOG_KEY: i16 = 0;

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TxnRecordError {
    /// The bytes end before the schema does.
    #[error("transaction log record ends early")]
    Truncated,
    /// A string is not UTF-8.
    #[error("transaction log record holds invalid UTF-8")]
    InvalidUtf8,
    /// A key or value version this broker cannot read.
    #[error("unknown transaction log {what} version {version}")]
    UnknownVersion {
        /// `key` or `value`.
        what: &'static str,
        /// The version found.
        version: i16,
    },
    /// A state id outside Kafka's `TransactionState`.
    #[error("unknown transaction state {0}")]
    UnknownState(i8),
}

/// The key of `transactional_id`'s record.
pub fn key(transactional_id: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(4 + transactional_id.len());
    b.put_i16(TRANSACTION_LOG_KEY);
    b.put_i16(transactional_id.len() as i16);
    b.put_slice(transactional_id.as_bytes());
    b.freeze()
}

/// The value recording `m`. Kafka writes the version its finalized `transaction.version`
/// selects: version 1 at level 2, which is what Strom finalizes (the client's own version
/// goes in the `ClientTransactionVersion` tag).
pub fn value(m: &TxnMetadata) -> Bytes {
    encode_value(m, true)
}

/// The value in version 1 (`flexible`) or 0 (what clusters at `transaction.version` 0 or 1
/// write, and Strom reads).
fn encode_value(m: &TxnMetadata, flexible: bool) -> Bytes {
    let mut b = BytesMut::with_capacity(64);
    b.put_i16(if flexible { 1 } else { 0 });
    b.put_i64(m.producer_id);
    b.put_i16(m.producer_epoch);
    b.put_i32(m.txn_timeout_ms);
    b.put_i8(m.state.id());
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in &m.partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let empty = m.state == TxnState::Empty;
    if flexible {
        if empty {
            put_uvarint(&mut b, 0);
        } else {
            put_uvarint(&mut b, by_topic.len() as u32 + 1);
            for (topic, parts) in &by_topic {
                put_uvarint(&mut b, topic.len() as u32 + 1);
                b.put_slice(topic.as_bytes());
                put_uvarint(&mut b, parts.len() as u32 + 1);
                for p in parts {
                    b.put_i32(*p);
                }
                put_uvarint(&mut b, 0);
            }
        }
    } else if empty {
        b.put_i32(-1);
    } else {
        b.put_i32(by_topic.len() as i32);
        for (topic, parts) in &by_topic {
            b.put_i16(topic.len() as i16);
            b.put_slice(topic.as_bytes());
            b.put_i32(parts.len() as i32);
            for p in parts {
                b.put_i32(*p);
            }
        }
    }
    b.put_i64(m.txn_last_update_timestamp);
    b.put_i64(m.txn_start_timestamp);
    if flexible {
        let mut tags: Vec<(u32, Vec<u8>)> = Vec::new();
        if m.prev_producer_id != -1 {
            tags.push((0, m.prev_producer_id.to_be_bytes().to_vec()));
        }
        if m.next_producer_id != -1 {
            tags.push((1, m.next_producer_id.to_be_bytes().to_vec()));
        }
        if m.client_txn_version != 0 {
            tags.push((2, m.client_txn_version.to_be_bytes().to_vec()));
        }
        if m.next_producer_epoch != -1 {
            tags.push((3, m.next_producer_epoch.to_be_bytes().to_vec()));
        }
        put_uvarint(&mut b, tags.len() as u32);
        for (tag, data) in tags {
            put_uvarint(&mut b, tag);
            put_uvarint(&mut b, data.len() as u32);
            b.put_slice(&data);
        }
    }
    b.freeze()
}

/// Reads a record: the transactional id and, unless a tombstone, its metadata.
pub fn decode(
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(String, Option<TxnMetadata>), TxnRecordError> {
    let mut k = key;
    let version = get_i16(&mut k)?;
    if version != TRANSACTION_LOG_KEY {
        return Err(TxnRecordError::UnknownVersion {
            what: "key",
            version,
        });
    }
    let id = get_str(&mut k)?;
    let Some(mut v) = value else {
        return Ok((id, None));
    };
    let version = get_i16(&mut v)?;
    if !(0..=1).contains(&version) {
        return Err(TxnRecordError::UnknownVersion {
            what: "value",
            version,
        });
    }
    let flexible = version == 1;
    let producer_id = get_i64(&mut v)?;
    let producer_epoch = get_i16(&mut v)?;
    let txn_timeout_ms = get_i32(&mut v)?;
    let state_id = get_i8(&mut v)?;
    let state = TxnState::from_id(state_id).ok_or(TxnRecordError::UnknownState(state_id))?;
    let mut partitions = std::collections::BTreeSet::new();
    let topics = if flexible {
        i64::from(get_uvarint(&mut v)?) - 1
    } else {
        i64::from(get_i32(&mut v)?)
    };
    for _ in 0..topics.max(0) {
        let topic = if flexible {
            get_compact_str(&mut v)?
        } else {
            get_str(&mut v)?
        };
        let count = if flexible {
            i64::from(get_uvarint(&mut v)?) - 1
        } else {
            i64::from(get_i32(&mut v)?)
        };
        for _ in 0..count.max(0) {
            partitions.insert(TopicPartition::new(topic.clone(), get_i32(&mut v)?));
        }
        if flexible {
            skip_tags(&mut v)?;
        }
    }
    let txn_last_update_timestamp = get_i64(&mut v)?;
    let txn_start_timestamp = get_i64(&mut v)?;
    let mut m = TxnMetadata {
        transactional_id: id.clone(),
        producer_id,
        prev_producer_id: -1,
        next_producer_id: -1,
        producer_epoch,
        last_producer_epoch: -1,
        next_producer_epoch: -1,
        txn_timeout_ms,
        state,
        partitions: if state == TxnState::Empty {
            Default::default()
        } else {
            partitions
        },
        txn_start_timestamp,
        txn_last_update_timestamp,
        client_txn_version: 0,
    };
    if flexible {
        let count = get_uvarint(&mut v)?;
        for _ in 0..count {
            let tag = get_uvarint(&mut v)?;
            let size = get_uvarint(&mut v)? as usize;
            if v.remaining() < size {
                return Err(TxnRecordError::Truncated);
            }
            let mut data = &v[..size];
            match tag {
                0 => m.prev_producer_id = get_i64(&mut data)?,
                1 => m.next_producer_id = get_i64(&mut data)?,
                2 => m.client_txn_version = get_i16(&mut data)?,
                3 => m.next_producer_epoch = get_i16(&mut data)?,
                _ => {}
            }
            v.advance(size);
        }
    }
    Ok((id, Some(m)))
}

fn put_uvarint(b: &mut BytesMut, mut x: u32) {
    while x >= 0x80 {
        b.put_u8((x as u8) | 0x80);
        x >>= 7;
    }
    b.put_u8(x as u8);
}

fn need(buf: &[u8], n: usize) -> Result<(), TxnRecordError> {
    if buf.len() < n {
        Err(TxnRecordError::Truncated)
    } else {
        Ok(())
    }
}

fn get_i8(buf: &mut &[u8]) -> Result<i8, TxnRecordError> {
    need(buf, 1)?;
    Ok(buf.get_i8())
}

fn get_i16(buf: &mut &[u8]) -> Result<i16, TxnRecordError> {
    need(buf, 2)?;
    Ok(buf.get_i16())
}

fn get_i32(buf: &mut &[u8]) -> Result<i32, TxnRecordError> {
    need(buf, 4)?;
    Ok(buf.get_i32())
}

fn get_i64(buf: &mut &[u8]) -> Result<i64, TxnRecordError> {
    need(buf, 8)?;
    Ok(buf.get_i64())
}

fn get_uvarint(buf: &mut &[u8]) -> Result<u32, TxnRecordError> {
    let mut value = 0u32;
    for i in 0..5 {
        need(buf, 1)?;
        let byte = buf.get_u8();
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(TxnRecordError::Truncated)
}

fn take_str(buf: &mut &[u8], len: usize) -> Result<String, TxnRecordError> {
    need(buf, len)?;
    let s = std::str::from_utf8(&buf[..len])
        .map_err(|_| TxnRecordError::InvalidUtf8)?
        .to_string();
    buf.advance(len);
    Ok(s)
}

fn get_str(buf: &mut &[u8]) -> Result<String, TxnRecordError> {
    let len = get_i16(buf)?;
    take_str(buf, len.max(0) as usize)
}

fn get_compact_str(buf: &mut &[u8]) -> Result<String, TxnRecordError> {
    let len = get_uvarint(buf)?;
    take_str(buf, len.saturating_sub(1) as usize)
}

fn skip_tags(buf: &mut &[u8]) -> Result<(), TxnRecordError> {
    let count = get_uvarint(buf)?;
    for _ in 0..count {
        get_uvarint(buf)?;
        let size = get_uvarint(buf)? as usize;
        need(buf, size)?;
        buf.advance(size);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ongoing(version: i16) -> TxnMetadata {
        let mut m = TxnMetadata::new("tx-1", 4000, 60_000, 1_000);
        m.producer_epoch = 3;
        m.state = TxnState::Ongoing;
        m.client_txn_version = version;
        m.prev_producer_id = if version >= 2 { 3999 } else { -1 };
        m.next_producer_epoch = if version >= 2 { 0 } else { -1 };
        m.next_producer_id = if version >= 2 { 4001 } else { -1 };
        m.partitions.insert(TopicPartition::new("b", 1));
        m.partitions.insert(TopicPartition::new("a", 0));
        m.partitions.insert(TopicPartition::new("a", 2));
        m.txn_start_timestamp = 1_500;
        m.txn_last_update_timestamp = 1_600;
        m
    }

    #[test]
    fn both_value_versions_round_trip() {
        for (version, flexible) in [(0, false), (0, true), (2, true)] {
            let m = ongoing(version);
            let bytes = encode_value(&m, flexible);
            assert_eq!(&bytes[..2], &i16::from(flexible).to_be_bytes());
            let (id, back) = decode(&key("tx-1"), Some(&bytes)).expect("decode");
            assert_eq!(id, "tx-1");
            assert_eq!(back, Some(m));
        }
        let (id, none) = decode(&key("gone"), None).expect("tombstone");
        assert_eq!((id.as_str(), none), ("gone", None));
    }

    #[test]
    fn version_0_bytes_match_kafkas_layout() {
        let mut m = TxnMetadata::new("t", 7, 100, 5);
        m.producer_epoch = 1;
        let v = encode_value(&m, false);
        let expected: Vec<u8> = [
            &0i16.to_be_bytes()[..],
            &7i64.to_be_bytes(),
            &1i16.to_be_bytes(),
            &100i32.to_be_bytes(),
            &[0u8],                 // Empty
            &(-1i32).to_be_bytes(), // null partitions
            &5i64.to_be_bytes(),
            &(-1i64).to_be_bytes(),
        ]
        .concat();
        assert_eq!(&v[..], &expected[..]);
        assert_eq!(&key("t")[..], &[0, 0, 0, 1, b't']);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(&[0, 0, 0, 9, b'x'], None).is_err());
        assert!(decode(&key("t"), Some(&[0, 0, 1])).is_err());
        assert!(decode(&key("t"), Some(&[0, 9])).is_err());
        let mut bad = encode_value(&ongoing(0), false).to_vec();
        bad[16] = 42; // state id
        assert_eq!(
            decode(&key("tx-1"), Some(&bad)),
            Err(TxnRecordError::UnknownState(42))
        );
    }
}
