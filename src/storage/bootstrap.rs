//! The KRaft files `kafka-storage format` writes beside `meta.properties`: `bootstrap.checkpoint`
//! (the initial feature levels, in every directory) and, for a dynamic quorum, the bootstrap
//! snapshot `__cluster_metadata-0/00000000000000000000-0000000000.checkpoint` holding the
//! initial voter set.
//!
//! Strom's own server does not read them; they are here so that Apache Kafka's broker accepts a
//! directory Strom formatted. Both are plain record-batch files (magic 2, CRC-32C) with the
//! same records, offsets and flags Kafka 4.1.1 writes; only timestamps and ids differ from run
//! to run.

use super::StorageError;
use crate::base::batch_encode::{data, encode_batches};
use crate::base::fsync::fsync_file;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::records::Record;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use uuid::Uuid;

/// The `metadata.version` a fresh directory starts at (Kafka 4.1's latest production level).
pub const METADATA_VERSION: &str = "4.1-IV1";

/// Feature levels Kafka 4.1 writes for a new cluster, in its order (`metadata.version` first,
/// then by name). `kraft.version` belongs to the Raft layer and features at level 0
/// (`share.version`, `streams.version`) are left out, as Kafka leaves them out.
pub const FEATURE_LEVELS: [(&str, i16); 4] = [
    ("metadata.version", 27),
    ("eligible.leader.replicas.version", 1),
    ("group.version", 1),
    ("transaction.version", 2),
];

/// Name of the bootstrap file in every formatted directory.
pub const BOOTSTRAP_CHECKPOINT: &str = "bootstrap.checkpoint";
/// Directory of the cluster metadata log inside the metadata log directory.
pub const CLUSTER_METADATA_DIR: &str = "__cluster_metadata-0";
/// The bootstrap snapshot's name: snapshot id (offset 0, epoch 0) as Kafka formats it.
pub const BOOTSTRAP_SNAPSHOT: &str = "00000000000000000000-0000000000.checkpoint";

/// Control record types (`ControlRecordType`) used in these files.
const SNAPSHOT_HEADER: i16 = 3;
const SNAPSHOT_FOOTER: i16 = 4;
const KRAFT_VERSION: i16 = 5;
const KRAFT_VOTERS: i16 = 6;
/// `FeatureLevelRecord`'s metadata record type.
const FEATURE_LEVEL_RECORD: u8 = 12;

/// One member of the initial controller quorum (`--standalone` / `--initial-controllers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    /// The controller's node id.
    pub id: i32,
    /// The `directory.id` of its metadata log directory.
    pub directory_id: Uuid,
    /// Host its controller listener is reached on.
    pub host: String,
    /// Port of its controller listener.
    pub port: u16,
}

/// Writes `dir/bootstrap.checkpoint` through a temporary file and an atomic rename.
pub fn write_bootstrap_checkpoint(dir: &Path, now_ms: i64) -> Result<(), StorageError> {
    let tmp = dir.join(format!("{BOOTSTRAP_CHECKPOINT}.tmp"));
    write_file(&tmp, &bootstrap_checkpoint_bytes(now_ms), false)?;
    let path = dir.join(BOOTSTRAP_CHECKPOINT);
    fs::rename(&tmp, &path).map_err(StorageError::io(path))
}

/// Writes the bootstrap snapshot with the initial voter set into `dir/__cluster_metadata-0/`.
/// Kafka freezes snapshots read-only; so does this.
pub fn write_voters_snapshot(
    dir: &Path,
    voters: &[Voter],
    listener: &str,
    now_ms: i64,
) -> Result<(), StorageError> {
    let metadata_dir = dir.join(CLUSTER_METADATA_DIR);
    fs::create_dir_all(&metadata_dir).map_err(StorageError::io(&metadata_dir))?;
    let tmp = metadata_dir.join(format!("{BOOTSTRAP_SNAPSHOT}.part"));
    write_file(
        &tmp,
        &voters_snapshot_bytes(voters, listener, now_ms, now_ms),
        true,
    )?;
    let path = metadata_dir.join(BOOTSTRAP_SNAPSHOT);
    fs::rename(&tmp, &path).map_err(StorageError::io(path))
}

fn write_file(path: &Path, bytes: &[u8], read_only: bool) -> Result<(), StorageError> {
    let write = || -> std::io::Result<()> {
        let mut file = File::create(path)?;
        file.write_all(bytes)?;
        fsync_file(&file)?;
        if read_only {
            let mut perms = file.metadata()?.permissions();
            perms.set_readonly(true);
            fs::set_permissions(path, perms)?;
        }
        Ok(())
    };
    write().map_err(StorageError::io(path))
}

/// Header, the feature levels, footer: three batches at offsets 0, 1..=4 and 5.
fn bootstrap_checkpoint_bytes(now_ms: i64) -> Bytes {
    let features: Vec<Record> = FEATURE_LEVELS
        .iter()
        .enumerate()
        .map(|(i, (name, level))| data(1 + i as i64, feature_level_record(name, *level)))
        .collect();
    encode_batches(
        &[
            &[control(0, SNAPSHOT_HEADER, snapshot_header(0))],
            &features,
            &[control(5, SNAPSHOT_FOOTER, snapshot_footer())],
        ],
        now_ms,
    )
}

/// Header, `kraft.version` 1 and the voter set in one control batch, then the footer in a
/// batch of its own (Kafka's snapshot writer appends it separately).
fn voters_snapshot_bytes(
    voters: &[Voter],
    listener: &str,
    contained_ms: i64,
    now_ms: i64,
) -> Bytes {
    encode_batches(
        &[
            &[
                control(0, SNAPSHOT_HEADER, snapshot_header(contained_ms)),
                control(1, KRAFT_VERSION, kraft_version_record(1)),
                control(2, KRAFT_VOTERS, voters_record(voters, listener)),
            ],
            &[control(3, SNAPSHOT_FOOTER, snapshot_footer())],
        ],
        now_ms,
    )
}

/// A control record, keyed by its type as `ControlRecordType` writes it (version 0, type).
fn control(offset: i64, kind: i16, value: Bytes) -> Record {
    let mut key = BytesMut::with_capacity(4);
    key.put_i16(0);
    key.put_i16(kind);
    Record {
        control: true,
        key: Some(key.freeze()),
        ..data(offset, value)
    }
}

/// `SnapshotHeaderRecord` v0.
fn snapshot_header(last_contained_ms: i64) -> Bytes {
    let mut v = BytesMut::new();
    v.put_i16(0);
    v.put_i64(last_contained_ms);
    v.put_u8(0); // no tagged fields
    v.freeze()
}

/// `SnapshotFooterRecord` v0.
fn snapshot_footer() -> Bytes {
    let mut v = BytesMut::new();
    v.put_i16(0);
    v.put_u8(0);
    v.freeze()
}

/// `KRaftVersionRecord` v0.
fn kraft_version_record(level: i16) -> Bytes {
    let mut v = BytesMut::new();
    v.put_i16(0);
    v.put_i16(level);
    v.put_u8(0);
    v.freeze()
}

/// `VotersRecord` v0: every voter with one endpoint on the controller listener and the
/// `kraft.version` range it supports (0..=1).
fn voters_record(voters: &[Voter], listener: &str) -> Bytes {
    let mut v = BytesMut::new();
    v.put_i16(0);
    put_uvarint(&mut v, voters.len() as u32 + 1);
    for voter in voters {
        v.put_i32(voter.id);
        v.put_slice(voter.directory_id.as_bytes());
        put_uvarint(&mut v, 2); // one endpoint
        put_compact_string(&mut v, listener);
        put_compact_string(&mut v, &voter.host);
        v.put_u16(voter.port);
        v.put_u8(0); // endpoint tagged fields
        v.put_i16(0); // KRaftVersionFeature.MinSupportedVersion
        v.put_i16(1); // KRaftVersionFeature.MaxSupportedVersion
        v.put_u8(0); // feature tagged fields
        v.put_u8(0); // voter tagged fields
    }
    v.put_u8(0);
    v.freeze()
}

/// `FeatureLevelRecord` v0 in the metadata record framing (frame version 1, type, version).
fn feature_level_record(name: &str, level: i16) -> Bytes {
    let mut v = BytesMut::new();
    v.put_u8(1);
    v.put_u8(FEATURE_LEVEL_RECORD);
    v.put_u8(0);
    put_compact_string(&mut v, name);
    v.put_i16(level);
    v.put_u8(0);
    v.freeze()
}

fn put_compact_string(buf: &mut BytesMut, s: &str) {
    put_uvarint(buf, s.len() as u32 + 1);
    buf.put_slice(s.as_bytes());
}

fn put_uvarint(buf: &mut BytesMut, mut n: u32) {
    while n >= 0x80 {
        buf.put_u8((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    buf.put_u8(n as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::kafka_uuid;
    use crate::storage::meta_properties::MetaProperties;

    const KAFKA_BOOTSTRAP: &[u8] =
        include_bytes!("../../tests/fixtures/kafka-4.1.1/bootstrap.checkpoint");
    const KAFKA_VOTERS: &[u8] =
        include_bytes!("../../tests/fixtures/kafka-4.1.1/standalone-voters.checkpoint");

    /// Zeroes each batch's CRC and timestamps, the only bytes that depend on when a file was
    /// written, and returns the batch count.
    fn normalize(bytes: &[u8]) -> (Vec<u8>, usize) {
        let mut out = bytes.to_vec();
        let (mut at, mut batches) = (0, 0);
        while at + 12 <= out.len() {
            let len =
                i32::from_be_bytes(out[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
            out[at + 17..at + 21].fill(0); // crc
            out[at + 27..at + 43].fill(0); // base and max timestamp
            at += 12 + len;
            batches += 1;
        }
        assert_eq!(at, out.len(), "batches tile the file");
        (out, batches)
    }

    #[test]
    fn bootstrap_checkpoint_matches_kafka_byte_for_byte() {
        let ours = bootstrap_checkpoint_bytes(1_795_620_660_000);
        let (ours, n) = normalize(&ours);
        let (kafka, _) = normalize(KAFKA_BOOTSTRAP);
        assert_eq!(n, 3);
        assert_eq!(ours, kafka);
    }

    #[test]
    fn voters_snapshot_matches_kafka_byte_for_byte() {
        let meta = MetaProperties::parse(include_str!(
            "../../tests/fixtures/kafka-4.1.1/standalone-meta.properties"
        ))
        .expect("fixture parses");
        let directory_id = meta.directory_id.expect("fixture has a directory.id");
        // The header record's LastContainedLogTimestamp sits at a fixed place in the file.
        let contained = i64::from_be_bytes(KAFKA_VOTERS[0x49..0x51].try_into().expect("8 bytes"));
        let voter = Voter {
            id: 1,
            directory_id,
            host: "localhost".into(),
            port: 19093,
        };
        let ours = voters_snapshot_bytes(&[voter], "CONTROLLER", contained, contained);
        assert_eq!(normalize(&ours), normalize(KAFKA_VOTERS));
    }

    #[test]
    fn batches_carry_valid_crcs() {
        let voter = Voter {
            id: 2,
            directory_id: kafka_uuid::random(),
            host: "h".into(),
            port: 1,
        };
        for bytes in [
            bootstrap_checkpoint_bytes(5),
            voters_snapshot_bytes(&[voter], "C", 5, 6),
        ] {
            let mut buf = bytes.clone();
            let sets = kafka_protocol::records::RecordBatchDecoder::decode_all(&mut buf)
                .expect("decodes with CRC check");
            assert!(
                sets.iter()
                    .all(|s| s.records.iter().all(|r| r.timestamp >= 5))
            );
        }
    }

    #[test]
    fn files_land_where_kafka_puts_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_bootstrap_checkpoint(dir.path(), 1).expect("bootstrap written");
        let voter = Voter {
            id: 1,
            directory_id: kafka_uuid::random(),
            host: "localhost".into(),
            port: 9093,
        };
        write_voters_snapshot(dir.path(), &[voter], "CONTROLLER", 1).expect("snapshot written");
        assert!(dir.path().join(BOOTSTRAP_CHECKPOINT).is_file());
        let snapshot = dir
            .path()
            .join(CLUSTER_METADATA_DIR)
            .join(BOOTSTRAP_SNAPSHOT);
        assert!(
            fs::metadata(&snapshot)
                .expect("snapshot exists")
                .permissions()
                .readonly()
        );
        assert_eq!(
            fs::read_dir(dir.path()).expect("listable").count(),
            2,
            "no temp files left"
        );
    }
}
