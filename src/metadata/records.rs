//! Kafka's KRaft metadata records (`org.apache.kafka.common.metadata.*`, schemas in Kafka
//! 4.4's `common/metadata/*.json`) as they are framed in `__cluster_metadata-0` and its
//! snapshots: an unsigned varint frame version (1), the record's api key and version, then the
//! flexible-version body (Kafka's `MetadataRecordSerde`).
//!
//! Strom decodes the records that shape what it serves (topics, partitions, configs, features,
//! producer ids) and passes over every other kind (broker registrations, ACLs, quotas...);
//! it writes the same records, at the versions Kafka 4.4 writes, so Kafka's own broker and
//! tools read its metadata log.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use uuid::Uuid;

/// The frame version of every metadata record (Kafka's `DEFAULT_FRAME_VERSION`).
const FRAME_VERSION: u32 = 1;

/// `TopicRecord`.
const TOPIC: u16 = 2;
/// `PartitionRecord`.
const PARTITION: u16 = 3;
/// `ConfigRecord`.
const CONFIG: u16 = 4;
/// `PartitionChangeRecord`.
const PARTITION_CHANGE: u16 = 5;
/// `RemoveTopicRecord`.
const REMOVE_TOPIC: u16 = 9;
/// `FeatureLevelRecord`.
const FEATURE_LEVEL: u16 = 12;
/// `ProducerIdsRecord`.
const PRODUCER_IDS: u16 = 15;

/// `PartitionChangeRecord.Leader` when the leader does not change.
pub const NO_LEADER_CHANGE: i32 = -2;

/// Kafka's `ConfigResource.Type` of a topic.
pub const TOPIC_RESOURCE: i8 = 2;
/// Kafka's `ConfigResource.Type` of a broker (name = broker id, or "" for the cluster default).
pub const BROKER_RESOURCE: i8 = 4;

/// `PartitionRecord` (version 2): a partition's full state at creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRecord {
    /// The partition index.
    pub partition_id: i32,
    /// The topic it belongs to.
    pub topic_id: Uuid,
    /// Replica brokers in preferred order.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// The leader broker, or -1.
    pub leader: i32,
    /// The leader epoch.
    pub leader_epoch: i32,
    /// Bumped on every change of the partition.
    pub partition_epoch: i32,
    /// The log directory id of each replica (KIP-858), same order as `replicas`.
    pub directories: Vec<Uuid>,
}

/// `PartitionChangeRecord` (version 2): what changed in a partition; absent fields are
/// unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionChange {
    /// The partition index.
    pub partition_id: i32,
    /// The topic it belongs to.
    pub topic_id: Uuid,
    /// New in-sync replicas, if they changed.
    pub isr: Option<Vec<i32>>,
    /// New leader, or [`NO_LEADER_CHANGE`]. A new leader bumps the leader epoch.
    pub leader: i32,
    /// New eligible leader replicas (KIP-966), if they changed.
    pub eligible_leader_replicas: Option<Vec<i32>>,
    /// New last known ELR, if it changed.
    pub last_known_elr: Option<Vec<i32>>,
}

/// One metadata record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// `TopicRecord`: a topic exists with this name and id.
    Topic {
        /// The topic name.
        name: String,
        /// Its topic id.
        id: Uuid,
    },
    /// `PartitionRecord`.
    Partition(PartitionRecord),
    /// `PartitionChangeRecord`.
    PartitionChange(PartitionChange),
    /// `ConfigRecord`: sets (or with `None` deletes) one dynamic config of a resource.
    Config {
        /// [`TOPIC_RESOURCE`], [`BROKER_RESOURCE`], ...
        resource_type: i8,
        /// The topic name, the broker id, or "" for the cluster-wide broker default.
        resource_name: String,
        /// The config key.
        name: String,
        /// The value, or `None` to delete the override.
        value: Option<String>,
    },
    /// `RemoveTopicRecord`: the topic and its partitions (and its configs) are gone.
    RemoveTopic {
        /// The removed topic's id.
        id: Uuid,
    },
    /// `FeatureLevelRecord`: a finalized feature level (`metadata.version`, ...).
    FeatureLevel {
        /// The feature name.
        name: String,
        /// Its level; 0 removes the feature.
        level: i16,
    },
    /// `ProducerIdsRecord`: producer ids below `next_producer_id` are handed out.
    ProducerIds {
        /// The broker the block went to.
        broker_id: i32,
        /// Its broker epoch then.
        broker_epoch: i64,
        /// The first id of the next block.
        next_producer_id: i64,
    },
    /// Any other record (broker registrations, ACLs, quotas, transactions markers of the
    /// metadata log...): read past, never acted on.
    Other {
        /// Its api key.
        api_key: u16,
        /// Its version.
        version: u16,
    },
}

/// A record that could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("malformed metadata record: {0}")]
pub struct RecordError(String);

impl MetadataRecord {
    /// Decodes one framed record (a metadata log record's value).
    pub fn decode(mut buf: Bytes) -> Result<MetadataRecord, RecordError> {
        let buf = &mut buf;
        let frame = uvarint(buf)?;
        if frame != FRAME_VERSION {
            return Err(RecordError(format!("unknown frame version {frame}")));
        }
        let api_key = uvarint(buf)?;
        let version = uvarint(buf)?;
        let (api_key, version) = (api_key as u16, version as u16);
        Ok(match api_key {
            TOPIC => MetadataRecord::Topic {
                name: string(buf)?,
                id: uuid(buf)?,
            },
            PARTITION => MetadataRecord::Partition(decode_partition(buf, version)?),
            PARTITION_CHANGE => MetadataRecord::PartitionChange(decode_change(buf, version)?),
            CONFIG => MetadataRecord::Config {
                resource_type: fixed::<1>(buf)?[0] as i8,
                resource_name: string(buf)?,
                name: string(buf)?,
                value: nullable_string(buf)?,
            },
            REMOVE_TOPIC => MetadataRecord::RemoveTopic { id: uuid(buf)? },
            FEATURE_LEVEL => MetadataRecord::FeatureLevel {
                name: string(buf)?,
                level: i16::from_be_bytes(fixed(buf)?),
            },
            PRODUCER_IDS => MetadataRecord::ProducerIds {
                broker_id: i32::from_be_bytes(fixed(buf)?),
                broker_epoch: i64::from_be_bytes(fixed(buf)?),
                next_producer_id: i64::from_be_bytes(fixed(buf)?),
            },
            _ => MetadataRecord::Other { api_key, version },
        })
    }

    /// Encodes the record with its frame, at the version Kafka 4.4 writes it. `Other`
    /// records are only ever read and encode to nothing.
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::new();
        let (key, version) = match self {
            MetadataRecord::Topic { .. } => (TOPIC, 0),
            MetadataRecord::Partition(_) => (PARTITION, 2),
            MetadataRecord::PartitionChange(_) => (PARTITION_CHANGE, 2),
            MetadataRecord::Config { .. } => (CONFIG, 0),
            MetadataRecord::RemoveTopic { .. } => (REMOVE_TOPIC, 0),
            MetadataRecord::FeatureLevel { .. } => (FEATURE_LEVEL, 0),
            MetadataRecord::ProducerIds { .. } => (PRODUCER_IDS, 0),
            MetadataRecord::Other { .. } => return Bytes::new(),
        };
        let buf = &mut buf;
        put_uvarint(buf, FRAME_VERSION);
        put_uvarint(buf, u32::from(key));
        put_uvarint(buf, version);
        match self {
            MetadataRecord::Topic { name, id } => {
                put_string(buf, Some(name));
                buf.put_slice(id.as_bytes());
                buf.put_u8(0);
            }
            MetadataRecord::Partition(p) => {
                buf.put_i32(p.partition_id);
                buf.put_slice(p.topic_id.as_bytes());
                put_int32s(buf, &p.replicas);
                put_int32s(buf, &p.isr);
                put_int32s(buf, &[]);
                put_int32s(buf, &[]);
                buf.put_i32(p.leader);
                buf.put_i32(p.leader_epoch);
                buf.put_i32(p.partition_epoch);
                put_uvarint(buf, p.directories.len() as u32 + 1);
                for d in &p.directories {
                    buf.put_slice(d.as_bytes());
                }
                buf.put_u8(0);
            }
            MetadataRecord::PartitionChange(c) => {
                buf.put_i32(c.partition_id);
                buf.put_slice(c.topic_id.as_bytes());
                let mut tags: Vec<(u32, BytesMut)> = Vec::new();
                let arrays = [
                    (0, &c.isr),
                    (6, &c.eligible_leader_replicas),
                    (7, &c.last_known_elr),
                ];
                for (tag, array) in arrays {
                    if let Some(values) = array {
                        let mut b = BytesMut::new();
                        put_int32s(&mut b, values);
                        tags.push((tag, b));
                    }
                }
                if c.leader != NO_LEADER_CHANGE {
                    let mut b = BytesMut::new();
                    b.put_i32(c.leader);
                    tags.push((1, b));
                }
                tags.sort_by_key(|(tag, _)| *tag);
                put_uvarint(buf, tags.len() as u32);
                for (tag, body) in tags {
                    put_uvarint(buf, tag);
                    put_uvarint(buf, body.len() as u32);
                    buf.put_slice(&body);
                }
            }
            MetadataRecord::Config {
                resource_type,
                resource_name,
                name,
                value,
            } => {
                buf.put_i8(*resource_type);
                put_string(buf, Some(resource_name));
                put_string(buf, Some(name));
                put_string(buf, value.as_deref());
                buf.put_u8(0);
            }
            MetadataRecord::RemoveTopic { id } => {
                buf.put_slice(id.as_bytes());
                buf.put_u8(0);
            }
            MetadataRecord::FeatureLevel { name, level } => {
                put_string(buf, Some(name));
                buf.put_i16(*level);
                buf.put_u8(0);
            }
            MetadataRecord::ProducerIds {
                broker_id,
                broker_epoch,
                next_producer_id,
            } => {
                buf.put_i32(*broker_id);
                buf.put_i64(*broker_epoch);
                buf.put_i64(*next_producer_id);
                buf.put_u8(0);
            }
            MetadataRecord::Other { .. } => {}
        }
        buf.split().freeze()
    }
}

fn put_uvarint(buf: &mut BytesMut, mut n: u32) {
    while n >= 0x80 {
        buf.put_u8((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    buf.put_u8(n as u8);
}

/// A compact (nullable) string: length + 1 as an unsigned varint (0 = null), then UTF-8.
fn put_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => {
            put_uvarint(buf, s.len() as u32 + 1);
            buf.put_slice(s.as_bytes());
        }
        None => put_uvarint(buf, 0),
    }
}

fn put_int32s(buf: &mut BytesMut, values: &[i32]) {
    put_uvarint(buf, values.len() as u32 + 1);
    for v in values {
        buf.put_i32(*v);
    }
}

fn uvarint(buf: &mut Bytes) -> Result<u32, RecordError> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        if !buf.has_remaining() {
            return Err(RecordError("varint cut short".into()));
        }
        let b = buf.get_u8();
        value |= u32::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(RecordError("varint longer than 5 bytes".into()))
}

fn fixed<const N: usize>(buf: &mut Bytes) -> Result<[u8; N], RecordError> {
    if buf.remaining() < N {
        return Err(RecordError(format!(
            "{N} bytes expected, {} left",
            buf.remaining()
        )));
    }
    let mut out = [0u8; N];
    buf.copy_to_slice(&mut out);
    Ok(out)
}

/// The length of a compact field (`None` for null), checked against what is left.
fn compact_len(buf: &mut Bytes, unit: usize) -> Result<Option<usize>, RecordError> {
    let n = uvarint(buf)? as usize;
    if n == 0 {
        return Ok(None);
    }
    let len = n - 1;
    if len.saturating_mul(unit) > buf.remaining() {
        return Err(RecordError(format!("length {len} beyond the record")));
    }
    Ok(Some(len))
}

fn nullable_string(buf: &mut Bytes) -> Result<Option<String>, RecordError> {
    let Some(len) = compact_len(buf, 1)? else {
        return Ok(None);
    };
    String::from_utf8(buf.split_to(len).to_vec())
        .map(Some)
        .map_err(|e| RecordError(e.to_string()))
}

fn string(buf: &mut Bytes) -> Result<String, RecordError> {
    nullable_string(buf)?.ok_or_else(|| RecordError("null string".into()))
}

fn uuid(buf: &mut Bytes) -> Result<Uuid, RecordError> {
    Ok(Uuid::from_bytes(fixed(buf)?))
}

fn nullable_int32s(buf: &mut Bytes) -> Result<Option<Vec<i32>>, RecordError> {
    let Some(len) = compact_len(buf, 4)? else {
        return Ok(None);
    };
    (0..len)
        .map(|_| fixed(buf).map(i32::from_be_bytes))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn int32s(buf: &mut Bytes) -> Result<Vec<i32>, RecordError> {
    Ok(nullable_int32s(buf)?.unwrap_or_default())
}

fn uuids(buf: &mut Bytes) -> Result<Vec<Uuid>, RecordError> {
    let len = compact_len(buf, 16)?.unwrap_or(0);
    (0..len).map(|_| uuid(buf)).collect()
}

/// Reads the tagged-field section, handing each field's bytes to `f` (unknown tags are
/// skipped, as Kafka skips them).
fn tagged_fields(
    buf: &mut Bytes,
    mut f: impl FnMut(u32, &mut Bytes) -> Result<(), RecordError>,
) -> Result<(), RecordError> {
    let count = uvarint(buf)?;
    for _ in 0..count {
        let tag = uvarint(buf)?;
        let size = uvarint(buf)?;
        let size = size as usize;
        if buf.remaining() < size {
            return Err(RecordError(format!(
                "tagged field {tag} of {size} bytes but {} left",
                buf.remaining()
            )));
        }
        let mut field = buf.split_to(size);
        f(tag, &mut field)?;
    }
    Ok(())
}

fn decode_partition(buf: &mut Bytes, version: u16) -> Result<PartitionRecord, RecordError> {
    let partition_id = i32::from_be_bytes(fixed(buf)?);
    let topic_id = uuid(buf)?;
    let replicas = int32s(buf)?;
    let isr = int32s(buf)?;
    let _removing = int32s(buf)?;
    let _adding = int32s(buf)?;
    let leader = i32::from_be_bytes(fixed(buf)?);
    let leader_epoch = i32::from_be_bytes(fixed(buf)?);
    let partition_epoch = i32::from_be_bytes(fixed(buf)?);
    let directories = if version >= 1 {
        uuids(buf)?
    } else {
        Vec::new()
    };
    tagged_fields(buf, |_, _| Ok(()))?;
    Ok(PartitionRecord {
        partition_id,
        topic_id,
        replicas,
        isr,
        leader,
        leader_epoch,
        partition_epoch,
        directories,
    })
}

fn decode_change(buf: &mut Bytes, _version: u16) -> Result<PartitionChange, RecordError> {
    let mut change = PartitionChange {
        partition_id: i32::from_be_bytes(fixed(buf)?),
        topic_id: uuid(buf)?,
        isr: None,
        leader: NO_LEADER_CHANGE,
        eligible_leader_replicas: None,
        last_known_elr: None,
    };
    tagged_fields(buf, |tag, field| {
        match tag {
            0 => change.isr = nullable_int32s(field)?,
            1 => change.leader = i32::from_be_bytes(fixed(field)?),
            6 => change.eligible_leader_replicas = nullable_int32s(field)?,
            7 => change.last_known_elr = nullable_int32s(field)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of records Apache Kafka 4.4.0 wrote (from its `__cluster_metadata-0`), decoded
    /// and encoded again byte for byte.
    #[test]
    fn round_trips_kafka_written_records() {
        let topic_id = Uuid::from_u128(0x9988_2a89_412e_4e4c_b071_c00d_3995_f104);
        for record in [
            MetadataRecord::Topic {
                name: "orders".into(),
                id: topic_id,
            },
            MetadataRecord::Partition(PartitionRecord {
                partition_id: 1,
                topic_id,
                replicas: vec![1],
                isr: vec![1],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                directories: vec![Uuid::from_u128(7)],
            }),
            MetadataRecord::PartitionChange(PartitionChange {
                partition_id: 0,
                topic_id,
                isr: Some(vec![]),
                leader: -1,
                eligible_leader_replicas: Some(vec![1]),
                last_known_elr: Some(vec![1]),
            }),
            MetadataRecord::Config {
                resource_type: BROKER_RESOURCE,
                resource_name: String::new(),
                name: "log.cleaner.threads".into(),
                value: Some("2".into()),
            },
            MetadataRecord::Config {
                resource_type: TOPIC_RESOURCE,
                resource_name: "orders".into(),
                name: "retention.ms".into(),
                value: None,
            },
            MetadataRecord::RemoveTopic { id: topic_id },
            MetadataRecord::FeatureLevel {
                name: "metadata.version".into(),
                level: 33,
            },
            MetadataRecord::ProducerIds {
                broker_id: 1,
                broker_epoch: 20,
                next_producer_id: 1000,
            },
        ] {
            let bytes = record.encode();
            assert_eq!(MetadataRecord::decode(bytes.clone()).unwrap(), record);
        }
    }

    #[test]
    fn value_sizes_match_kafka() {
        // DumpLogSegments of Kafka 4.4.0's log: valueSize 23 for this FeatureLevelRecord,
        // 28 for the ConfigRecord of min.insync.replicas.
        let feature = MetadataRecord::FeatureLevel {
            name: "metadata.version".into(),
            level: 33,
        };
        assert_eq!(feature.encode().len(), 23);
        let config = MetadataRecord::Config {
            resource_type: BROKER_RESOURCE,
            resource_name: String::new(),
            name: "min.insync.replicas".into(),
            value: Some("1".into()),
        };
        assert_eq!(config.encode().len(), 28);
    }

    #[test]
    fn unknown_and_broken_records() {
        // A RegisterBrokerRecord header followed by anything is passed over.
        let other = Bytes::from_static(&[1, 0, 4, 9, 9, 9]);
        assert_eq!(
            MetadataRecord::decode(other).unwrap(),
            MetadataRecord::Other {
                api_key: 0,
                version: 4
            }
        );
        assert!(MetadataRecord::decode(Bytes::from_static(&[2, 2, 0])).is_err());
        // A TopicRecord cut short.
        assert!(MetadataRecord::decode(Bytes::from_static(&[1, 2, 0, 5, b'a'])).is_err());
    }
}
