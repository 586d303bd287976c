//! The KRaft metadata log, `__cluster_metadata-0`, in Kafka's exact layout: record-batch
//! segments (`<base offset>.log` with `.index`/`.timeindex`), snapshots
//! (`<offset>-<epoch>.checkpoint`), `partition.metadata`, `leader-epoch-checkpoint` and
//! `quorum-state`.
//!
//! A single node is the whole quorum, so there is no replication: a change is one batch,
//! appended and fsynced before it takes effect. Each start is a new leader epoch, announced by a
//! `LeaderChangeMessage` control record, as Kafka's Raft layer does. Kafka reads this
//! directory (its metadata log is always fully recovered at start-up, rebuilding indexes and
//! epochs from the batches), and Strom reads Kafka's: the newest snapshot, then the log after it.

use super::records::{MetadataRecord, RecordError};
use crate::base::batch_encode::{data, encode_single_batch};
use crate::base::fs;
use crate::base::fsync::{fsync_dir, fsync_file};
use crate::log::check_stored_batch;
use crate::storage::bootstrap::CLUSTER_METADATA_DIR;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::LeaderChangeMessage;
use kafka_protocol::messages::leader_change_message::Voter;
use kafka_protocol::protocol::Encodable;
use kafka_protocol::records::{Record, RecordBatchDecoder};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use tracing::{info, warn};
use uuid::Uuid;

/// Kafka's `Uuid.METADATA_TOPIC_ID`, the topic id in `partition.metadata`.
const METADATA_TOPIC_ID: Uuid = Uuid::from_u128(1);
const QUORUM_STATE: &str = "quorum-state";
const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
/// `ControlRecordType.LEADER_CHANGE`.
const LEADER_CHANGE: i16 = 2;
/// Byte offset of the partition leader epoch in a batch header (outside the CRC).
const LEADER_EPOCH_AT: usize = 12;

/// Why the metadata log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MetadataLogError {
    /// A file could not be read or written.
    #[error("I/O error on metadata log file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file is not what Kafka writes.
    #[error("Corrupt metadata log file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MetadataLogError + '_ {
    move |source| MetadataLogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads every batch of a record-batch file, CRC-checked. Returns the batches' bytes, each
/// with its header, and how many bytes of the file are whole batches (a torn tail stops it).
fn whole_batches(bytes: &Bytes) -> (Vec<Bytes>, usize) {
    let mut at = 0;
    let mut batches = Vec::new();
    while at < bytes.len() {
        match check_stored_batch(&bytes[at..]) {
            Ok(header) => {
                batches.push(bytes.slice(at..at + header.size()));
                at += header.size();
            }
            Err(_) => break,
        }
    }
    (batches, at)
}

/// One batch of a metadata file, decoded.
struct Batch {
    /// Offset of its first record.
    base_offset: i64,
    /// Offset after its last record.
    next_offset: i64,
    /// The Raft epoch it was written in.
    epoch: i32,
    /// Its metadata records with their offsets (none for control batches).
    records: Vec<(i64, MetadataRecord)>,
}

fn decode_batch(path: &Path, batch: &Bytes) -> Result<Batch, MetadataLogError> {
    let corrupt = |reason: String| MetadataLogError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    // invariant: `whole_batches` only yields batches whose header parsed.
    let header = crate::log::BatchHeader::parse(batch).expect("whole batches have a header");
    let mut out = Batch {
        base_offset: header.base_offset,
        next_offset: header.last_offset() + 1,
        epoch: header.partition_leader_epoch,
        records: Vec::new(),
    };
    if header.is_control() {
        return Ok(out);
    }
    let set = RecordBatchDecoder::decode(&mut batch.clone())
        .map_err(|e| corrupt(format!("batch at offset {}: {e}", header.base_offset)))?;
    for r in set.records {
        let Some(value) = r.value else { continue };
        let record = MetadataRecord::decode(value)
            .map_err(|e: RecordError| corrupt(format!("record at offset {}: {e}", r.offset)))?;
        out.records.push((r.offset, record));
    }
    Ok(out)
}

/// Every batch of a snapshot or checkpoint file (which must be whole).
fn read_record_file(path: &Path) -> Result<Vec<Batch>, MetadataLogError> {
    let bytes = Bytes::from(std::fs::read(path).map_err(io(path))?);
    let (batches, whole) = whole_batches(&bytes);
    if whole != bytes.len() {
        return Err(MetadataLogError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("torn or invalid batch at byte {whole}"),
        });
    }
    batches.iter().map(|b| decode_batch(path, b)).collect()
}

/// The feature levels in a bootstrap file (`bootstrap.checkpoint` or Kafka 4.4's bootstrap
/// snapshot), if it exists.
pub fn bootstrap_features(path: &Path) -> Result<Vec<MetadataRecord>, MetadataLogError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    Ok(read_record_file(path)?
        .into_iter()
        .flat_map(|b| b.records)
        .map(|(_, r)| r)
        .filter(|r| matches!(r, MetadataRecord::FeatureLevel { .. }))
        .collect())
}

/// A snapshot file's id, from its name `<20-digit offset>-<10-digit epoch>.checkpoint`.
fn snapshot_id(name: &str) -> Option<(i64, i32)> {
    let stem = name.strip_suffix(".checkpoint")?;
    let (offset, epoch) = stem.split_once('-')?;
    (offset.len() == 20 && epoch.len() == 10).then_some(())?;
    Some((offset.parse().ok()?, epoch.parse().ok()?))
}

/// The metadata log, open for appending.
pub struct MetadataLog {
    /// `<metadata log dir>/__cluster_metadata-0`.
    dir: PathBuf,
    /// The active segment, appended to.
    segment: File,
    /// Its path, for errors.
    segment_path: PathBuf,
    /// Offset of the next record.
    next_offset: i64,
    /// This node's Raft epoch (one more than any epoch found at start-up).
    epoch: i32,
    /// Start offset of each epoch, as `leader-epoch-checkpoint` lists them.
    epochs: Vec<(i32, i64)>,
}

/// What start-up found in the metadata log.
pub struct Recovered {
    /// The records in the order they take effect: the newest snapshot's, then the log's.
    pub records: Vec<MetadataRecord>,
    /// Whether there was no metadata record at all (a new or pre-metadata-log directory).
    pub empty: bool,
}

impl MetadataLog {
    /// Opens (creating if needed) the metadata log in `metadata_log_dir`, reads it, takes the
    /// next epoch as leader `node_id` and records that with a leader-change control batch.
    pub fn open(
        metadata_log_dir: &Path,
        node_id: i32,
        now_ms: i64,
    ) -> Result<(MetadataLog, Recovered), MetadataLogError> {
        let dir = metadata_log_dir.join(CLUSTER_METADATA_DIR);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        ensure_partition_metadata(&dir)?;

        let mut snapshots = Vec::new();
        let mut segments = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = snapshot_id(&name) {
                snapshots.push((id, entry.path()));
            } else if let Some(base) = name
                .strip_suffix(".log")
                .filter(|b| b.len() == 20)
                .and_then(|b| b.parse::<i64>().ok())
            {
                segments.push((base, entry.path()));
            }
        }
        snapshots.sort();
        segments.sort();

        let mut records = Vec::new();
        let mut last_epoch = read_quorum_epoch(&dir)?;
        let mut epochs: Vec<(i32, i64)> = Vec::new();
        let mut next_offset = 0i64;
        if let Some(((offset, epoch), path)) = snapshots.last() {
            for batch in read_record_file(path)? {
                records.extend(batch.records.into_iter().map(|(_, r)| r));
            }
            next_offset = *offset;
            last_epoch = last_epoch.max(*epoch);
        }
        let snapshot_end = next_offset;
        let last_segment = segments.len().saturating_sub(1);
        for (i, (base, path)) in segments.iter().enumerate() {
            let bytes = Bytes::from(std::fs::read(path).map_err(io(path))?);
            let (batches, whole) = whole_batches(&bytes);
            if whole != bytes.len() {
                if i != last_segment {
                    return Err(MetadataLogError::Corrupt {
                        path: path.clone(),
                        reason: format!("invalid batch at byte {whole} of a rolled segment"),
                    });
                }
                warn!(
                    "[MetadataLog] Truncating torn tail of {} at byte {whole} of {}",
                    path.display(),
                    bytes.len()
                );
                let f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(io(path))?;
                f.set_len(whole as u64).map_err(io(path))?;
                fsync_file(&f).map_err(io(path))?;
            }
            next_offset = next_offset.max(*base);
            for batch in &batches {
                let batch = decode_batch(path, batch)?;
                if epochs.last().is_none_or(|(e, _)| *e < batch.epoch) {
                    epochs.push((batch.epoch, batch.base_offset));
                }
                last_epoch = last_epoch.max(batch.epoch);
                next_offset = next_offset.max(batch.next_offset);
                records.extend(
                    batch
                        .records
                        .into_iter()
                        .filter(|(offset, _)| *offset >= snapshot_end)
                        .map(|(_, r)| r),
                );
            }
        }
        let empty = records.is_empty();

        let (segment_path, segment) = match segments.last() {
            Some((_, path)) => (path.clone(), open_append(path)?),
            None => create_segment(&dir, next_offset)?,
        };
        let mut log = MetadataLog {
            dir,
            segment,
            segment_path,
            next_offset,
            epoch: last_epoch.max(0) + 1,
            epochs,
        };
        log.become_leader(node_id, now_ms)?;
        Ok((log, Recovered { records, empty }))
    }

    /// Records this node as leader of the new epoch: `quorum-state`, the leader-change
    /// control batch, and `leader-epoch-checkpoint`.
    fn become_leader(&mut self, node_id: i32, now_ms: i64) -> Result<(), MetadataLogError> {
        write_quorum_state(&self.dir, node_id, self.epoch)?;
        let voter = Voter::default().with_voter_id(node_id);
        let message = LeaderChangeMessage::default()
            .with_leader_id(node_id.into())
            .with_voters(vec![voter.clone()])
            .with_granting_voters(vec![voter]);
        let mut value = BytesMut::new();
        // invariant: a fixed-size message encodes into a growable buffer.
        message
            .encode(&mut value, 0)
            .expect("LeaderChangeMessage encodes");
        let mut key = BytesMut::new();
        key.extend_from_slice(&0i16.to_be_bytes());
        key.extend_from_slice(&LEADER_CHANGE.to_be_bytes());
        let record = Record {
            control: true,
            key: Some(key.freeze()),
            timestamp: now_ms,
            ..data(self.next_offset, value.freeze())
        };
        self.epochs.push((self.epoch, self.next_offset));
        self.write_batch(&[record])?;
        write_leader_epochs(&self.dir, &self.epochs)?;
        info!(
            "[RaftManager id={node_id}] Completed transition to Leader(localId={node_id}, epoch={}) of the metadata log at offset {}",
            self.epoch, self.next_offset
        );
        Ok(())
    }

    /// Appends `records` as one batch (atomic: all or none take effect after a crash) and
    /// makes it durable before returning.
    pub fn append(
        &mut self,
        records: &[MetadataRecord],
        now_ms: i64,
    ) -> Result<(), MetadataLogError> {
        if records.is_empty() {
            return Ok(());
        }
        let records: Vec<Record> = records
            .iter()
            .enumerate()
            .map(|(i, r)| Record {
                timestamp: now_ms,
                ..data(self.next_offset + i as i64, r.encode())
            })
            .collect();
        self.write_batch(&records)
    }

    fn write_batch(&mut self, records: &[Record]) -> Result<(), MetadataLogError> {
        let mut buf = BytesMut::new();
        encode_single_batch(records, &mut buf).map_err(|e| MetadataLogError::Corrupt {
            path: self.segment_path.clone(),
            reason: format!("cannot encode a batch: {e}"),
        })?;
        buf[LEADER_EPOCH_AT..LEADER_EPOCH_AT + 4].copy_from_slice(&self.epoch.to_be_bytes());
        let path = &self.segment_path;
        // The segment is opened for appending: bytes a failed write left behind would come
        // before every later batch, and recovery, stopping at them, would drop those. So a
        // failed write (or fsync: the batch must not take effect) is cut back off.
        let committed = self.segment.metadata().map_err(io(path))?.len();
        let written = fs::write_all(&self.segment, &buf, path)
            .and_then(|()| fs::sync_file(&self.segment, path));
        if let Err(e) = written {
            if let Err(undo) = fs::set_len(&self.segment, committed, path) {
                tracing::error!(
                    "Could not truncate {} back to {committed} bytes after a failed write ({e}): {undo}",
                    path.display()
                );
            }
            return Err(io(path)(e));
        }
        self.next_offset += records.len() as i64;
        Ok(())
    }

    /// The Raft epoch this node leads.
    pub fn epoch(&self) -> i32 {
        self.epoch
    }

    /// Offset of the next record: the log end offset.
    pub fn end_offset(&self) -> i64 {
        self.next_offset
    }
}

fn open_append(path: &Path) -> Result<File, MetadataLogError> {
    OpenOptions::new().append(true).open(path).map_err(io(path))
}

/// A new segment with Kafka's empty `.index` and `.timeindex` beside it (Kafka rebuilds the
/// metadata log's indexes at every start).
fn create_segment(dir: &Path, base: i64) -> Result<(PathBuf, File), MetadataLogError> {
    for ext in ["index", "timeindex"] {
        let path = dir.join(format!("{base:020}.{ext}"));
        File::create(&path).map_err(io(&path))?;
    }
    let path = dir.join(format!("{base:020}.log"));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io(&path))?;
    fsync_dir(dir).map_err(io(dir))?;
    Ok((path, file))
}

fn ensure_partition_metadata(dir: &Path) -> Result<(), MetadataLogError> {
    let path = dir.join("partition.metadata");
    if path.exists() {
        return Ok(());
    }
    let text = format!(
        "version: 0\ntopic_id: {}\n",
        crate::log::topic_id_to_string(METADATA_TOPIC_ID)
    );
    write_durably(&path, text.as_bytes())
}

/// Writes `path` through a temp file, fsync and rename, as Kafka writes its small state files.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), MetadataLogError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    fsync_file(&file).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    if let Some(parent) = path.parent() {
        fsync_dir(parent).map_err(io(parent))?;
    }
    Ok(())
}

/// `leader-epoch-checkpoint`: version 0, the entry count, then `<epoch> <start offset>` lines.
fn write_leader_epochs(dir: &Path, epochs: &[(i32, i64)]) -> Result<(), MetadataLogError> {
    let mut text = format!("0\n{}\n", epochs.len());
    for (epoch, offset) in epochs {
        text.push_str(&format!("{epoch} {offset}\n"));
    }
    write_durably(&dir.join(LEADER_EPOCH_CHECKPOINT), text.as_bytes())
}

/// The leader epoch in `quorum-state` (0 when there is none).
fn read_quorum_epoch(dir: &Path) -> Result<i32, MetadataLogError> {
    let path = dir.join(QUORUM_STATE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(&path)(e)),
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| MetadataLogError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    Ok(json["leaderEpoch"]
        .as_i64()
        .and_then(|e| i32::try_from(e).ok())
        .unwrap_or(0))
}

/// `quorum-state` as Kafka's `FileQuorumStateStore` writes it for a node that leads a static
/// quorum of itself; an existing file keeps its other fields (a dynamic quorum's
/// `votedDirectoryId`, `data_version` 1).
fn write_quorum_state(dir: &Path, node_id: i32, epoch: i32) -> Result<(), MetadataLogError> {
    let path = dir.join(QUORUM_STATE);
    let mut json = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| {
            serde_json::json!({
                "clusterId": "",
                "leaderId": node_id,
                "leaderEpoch": epoch,
                "votedId": -1,
                "appliedOffset": 0,
                "currentVoters": [{"voterId": node_id}],
                "data_version": 0
            })
        });
    json["leaderId"] = node_id.into();
    json["leaderEpoch"] = epoch.into();
    json["votedId"] = (-1).into();
    write_durably(&path, json.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str) -> MetadataRecord {
        MetadataRecord::Topic {
            name: name.into(),
            id: Uuid::new_v4(),
        }
    }

    #[test]
    fn appends_survive_reopen_with_a_new_epoch() {
        let root = tempfile::tempdir().unwrap();
        let (mut log, recovered) = MetadataLog::open(root.path(), 1, 1000).unwrap();
        assert!(recovered.empty);
        assert_eq!((log.epoch(), log.end_offset()), (1, 1));
        let a = topic("a");
        let b = topic("b");
        log.append(&[a.clone(), b.clone()], 1001).unwrap();
        assert_eq!(log.end_offset(), 3);
        drop(log);
        let (log, recovered) = MetadataLog::open(root.path(), 1, 2000).unwrap();
        assert_eq!(recovered.records, vec![a, b]);
        assert_eq!((log.epoch(), log.end_offset()), (2, 4));
        let dir = root.path().join(CLUSTER_METADATA_DIR);
        let epochs = std::fs::read_to_string(dir.join(LEADER_EPOCH_CHECKPOINT)).unwrap();
        assert_eq!(epochs, "0\n2\n1 0\n2 3\n");
        let state = std::fs::read_to_string(dir.join(QUORUM_STATE)).unwrap();
        assert!(state.contains("\"leaderEpoch\":2"), "{state}");
        assert!(dir.join("00000000000000000000.index").exists());
        let pm = std::fs::read_to_string(dir.join("partition.metadata")).unwrap();
        assert_eq!(pm, "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n");
    }

    #[test]
    fn torn_tail_is_truncated() {
        let root = tempfile::tempdir().unwrap();
        let (mut log, _) = MetadataLog::open(root.path(), 1, 1).unwrap();
        let a = topic("a");
        log.append(std::slice::from_ref(&a), 2).unwrap();
        let path = log.segment_path.clone();
        drop(log);
        let whole = std::fs::metadata(&path).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 80, 1, 2])
            .unwrap();
        drop(f);
        let (log, recovered) = MetadataLog::open(root.path(), 1, 3).unwrap();
        assert_eq!(recovered.records, vec![a.clone()]);
        assert_eq!(
            log.end_offset(),
            3,
            "leader change at 0, a at 1, leader change at 2"
        );
        let (mut again, _) = MetadataLog::open(root.path(), 1, 4).unwrap();
        again.append(std::slice::from_ref(&a), 5).unwrap();
        drop((log, again));
        let (_, recovered) = MetadataLog::open(root.path(), 1, 6).unwrap();
        assert_eq!(recovered.records, vec![a.clone(), a]);
        assert!(std::fs::metadata(&path).unwrap().len() > whole);
    }

    /// A write that fails half-way (a full disk) is cut back, so the batches after it survive
    /// a restart (recovery stops at the first torn batch).
    #[test]
    fn a_failed_append_does_not_hide_later_ones() {
        let root = tempfile::tempdir().unwrap();
        let (mut log, _) = MetadataLog::open(root.path(), 1, 1).unwrap();
        let (a, b, c) = (topic("a"), topic("b"), topic("c"));
        log.append(std::slice::from_ref(&a), 2).unwrap();
        let plan = crate::base::fs::FaultPlan::arm_on(
            root.path(),
            crate::base::fs::Op::Write,
            "00000000000000000000.log",
        );
        log.append(std::slice::from_ref(&b), 3)
            .expect_err("the disk is full");
        assert!(plan.fired().is_some());
        drop(plan);
        log.append(std::slice::from_ref(&c), 4).unwrap();
        drop(log);
        let (_, recovered) = MetadataLog::open(root.path(), 1, 5).unwrap();
        assert_eq!(recovered.records, vec![a, c]);
    }

    #[test]
    fn snapshot_then_log_after_it() {
        let root = tempfile::tempdir().unwrap();
        let (mut log, _) = MetadataLog::open(root.path(), 1, 1).unwrap();
        let (a, b) = (topic("a"), topic("b"));
        log.append(std::slice::from_ref(&a), 2).unwrap();
        log.append(std::slice::from_ref(&b), 2).unwrap();
        drop(log);
        // A snapshot at offset 2 (holding only "a") replaces offsets 0 and 1 of the log.
        let snap_records = [data(0, a.encode())];
        let mut snap = BytesMut::new();
        encode_single_batch(&snap_records, &mut snap).unwrap();
        let dir = root.path().join(CLUSTER_METADATA_DIR);
        std::fs::write(
            dir.join("00000000000000000002-0000000001.checkpoint"),
            &snap,
        )
        .unwrap();
        let (_, recovered) = MetadataLog::open(root.path(), 1, 3).unwrap();
        assert_eq!(recovered.records, vec![a, b]);
    }

    #[test]
    fn snapshot_names() {
        assert_eq!(
            snapshot_id("00000000000000000120-0000000003.checkpoint"),
            Some((120, 3))
        );
        assert_eq!(
            snapshot_id("00000000000000000120-0000000003.checkpoint.part"),
            None
        );
        assert_eq!(snapshot_id("bootstrap.checkpoint"), None);
    }
}
