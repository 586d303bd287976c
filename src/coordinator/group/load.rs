//! Reading a `__consumer_offsets` partition back at start-up: replaying its records, last
//! one wins and tombstones delete, into the groups and offsets the shard serves.

use super::classic::ClassicGroup;
use super::consumer::ConsumerGroup;
use super::records::{self, GroupRecord};
use super::shard::{Group, GroupKind};
use super::txn_offsets::PendingOffset;
use crate::log::control::{ControlBatch, ControlRecordType, parse_control_batch};
use crate::log::{LogError, UnifiedLog};
use bytes::{Buf, Bytes};
use kafka_protocol::records::RecordBatchDecoder;
use std::collections::{HashMap, HashSet};
use tracing::warn;

/// Bytes read per step; a larger batch still comes back whole.
const READ_CHUNK: usize = 1024 * 1024;
/// Size of a v2 batch header up to and including the last offset delta.
const HEADER_PREFIX: usize = 27;
/// The control flag in a batch's attributes.
const CONTROL_FLAG: i16 = 1 << 5;
/// The transactional flag in a batch's attributes.
const TRANSACTIONAL_FLAG: i16 = 1 << 4;

/// What a partition held.
#[derive(Default)]
pub struct Loaded {
    pub groups: HashMap<String, Group>,
    pub records: usize,
    pub bytes: usize,
    /// Transactional offset commits whose transaction had not ended, by producer id.
    pub pending_txn: HashMap<i64, Vec<PendingOffset>>,
    /// The log end offset the load read up to.
    pub end_offset: i64,
}

/// Replays one partition from its start to its end.
pub fn load(log: &UnifiedLog, now_ms: i64) -> Result<Loaded, LogError> {
    let mut replay = Replay::default();
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    let mut bytes = 0usize;
    while offset < end {
        let data = log.read(offset, READ_CHUNK, true)?;
        if data.records.is_empty() {
            break;
        }
        bytes += data.records.len();
        let mut buf = data.records.bytes().clone();
        let before = offset;
        while buf.len() >= HEADER_PREFIX {
            let base = (&buf[0..8]).get_i64();
            let length = (&buf[8..12]).get_i32();
            let total = 12 + length.max(0) as usize;
            if length < 0 || buf.len() < total {
                break;
            }
            let attributes = (&buf[21..23]).get_i16();
            let last_delta = (&buf[23..27]).get_i32();
            let mut batch = buf.split_to(total);
            offset = base + i64::from(last_delta) + 1;
            let producer_id = if batch.len() >= 51 {
                (&batch[43..51]).get_i64()
            } else {
                -1
            };
            if attributes & CONTROL_FLAG != 0 {
                if let Ok(ControlBatch::Marker(m)) = parse_control_batch(&batch) {
                    replay.end_txn(producer_id, m.kind == ControlRecordType::Commit, now_ms);
                }
                continue;
            }
            let transactional = attributes & TRANSACTIONAL_FLAG != 0;
            match RecordBatchDecoder::decode(&mut batch) {
                Ok(set) => {
                    for r in set.records {
                        if transactional {
                            replay.stage(producer_id, r.key, r.value);
                        } else {
                            replay.apply(r.key.as_ref(), r.value.as_ref(), now_ms);
                        }
                    }
                }
                Err(e) => warn!(
                    "Skipping undecodable batch at offset {base} of {}: {e}",
                    log.topic_partition()
                ),
            }
        }
        if offset == before {
            // Nothing whole came back: the log is inconsistent; stop rather than loop.
            warn!(
                "Stopped loading {} at offset {offset}: no complete batch returned",
                log.topic_partition()
            );
            break;
        }
    }
    let mut loaded = replay.finish(bytes, now_ms);
    loaded.end_offset = end;
    Ok(loaded)
}

/// A record's key and value.
type StagedRecord = (Option<Bytes>, Option<Bytes>);

#[derive(Default)]
struct Replay {
    groups: HashMap<String, Group>,
    /// Records of open transactions, by producer id, applied when their COMMIT marker comes.
    staged: HashMap<i64, Vec<StagedRecord>>,
    /// Groups whose last metadata record is a value (not a tombstone).
    with_metadata: HashSet<String>,
    records: usize,
}

impl Replay {
    /// Keeps a transactional record until its transaction's marker.
    fn stage(&mut self, producer_id: i64, key: Option<Bytes>, value: Option<Bytes>) {
        self.staged
            .entry(producer_id)
            .or_default()
            .push((key, value));
    }

    /// A marker: the producer's staged records count (COMMIT) or are dropped (ABORT).
    fn end_txn(&mut self, producer_id: i64, commit: bool, now_ms: i64) {
        let staged = self.staged.remove(&producer_id).unwrap_or_default();
        if commit {
            for (key, value) in staged {
                self.apply(key.as_ref(), value.as_ref(), now_ms);
            }
        }
    }

    fn apply(&mut self, key: Option<&Bytes>, value: Option<&Bytes>, now_ms: i64) {
        self.records += 1;
        let record = match records::decode(key, value) {
            Ok(r) => r,
            Err(e) => {
                warn!("Skipping undecodable __consumer_offsets record: {e}");
                return;
            }
        };
        match record {
            GroupRecord::Offset {
                group,
                topic,
                partition,
                value,
            } => {
                let g = self
                    .groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new_classic(&group, now_ms));
                match value {
                    Some(v) => g.offsets.put(&topic, partition, v.into()),
                    None => {
                        g.offsets.remove(&topic, partition);
                    }
                }
            }
            GroupRecord::Group { group, value } => {
                let g = self
                    .groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new_classic(&group, now_ms));
                match value {
                    Some(v) => {
                        g.kind = GroupKind::Classic(ClassicGroup::from_record(&group, v));
                        self.with_metadata.insert(group);
                    }
                    None => {
                        g.kind = GroupKind::Classic(ClassicGroup::new(&group, now_ms));
                        self.with_metadata.remove(&group);
                    }
                }
            }
            GroupRecord::ConsumerGroup { group, epoch } => {
                let g = self
                    .groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new_classic(&group, now_ms));
                match epoch {
                    // Members are not kept across restarts: they rejoin (their heartbeats
                    // get UNKNOWN_MEMBER_ID) and the group continues from its epoch.
                    Some(epoch) => {
                        g.kind = GroupKind::Consumer(ConsumerGroup::restored(&group, epoch));
                        self.with_metadata.insert(group);
                    }
                    None => {
                        g.kind = GroupKind::Classic(ClassicGroup::new(&group, now_ms));
                        self.with_metadata.remove(&group);
                    }
                }
            }
            GroupRecord::Other { .. } => {}
        }
    }

    /// Drops groups that are left with neither metadata nor offsets; the records of
    /// transactions still open become pending offset commits.
    fn finish(mut self, bytes: usize, now_ms: i64) -> Loaded {
        let mut pending_txn: HashMap<i64, Vec<PendingOffset>> = HashMap::new();
        let mut pending_groups = HashSet::new();
        for (pid, staged) in std::mem::take(&mut self.staged) {
            for (key, value) in staged {
                if let Ok(GroupRecord::Offset {
                    group,
                    topic,
                    partition,
                    value: Some(v),
                }) = records::decode(key.as_ref(), value.as_ref())
                {
                    pending_groups.insert(group.clone());
                    pending_txn.entry(pid).or_default().push(PendingOffset {
                        group,
                        topic,
                        partition,
                        offset: v.into(),
                    });
                }
            }
        }
        let keep = |g: &Group, meta: &HashSet<String>| {
            !g.offsets.is_empty() || meta.contains(&g.id) || pending_groups.contains(&g.id)
        };
        self.groups.retain(|_, g| keep(g, &self.with_metadata));
        for group in &pending_groups {
            self.groups
                .entry(group.clone())
                .or_insert_with(|| Group::new_classic(group, now_ms));
        }
        Loaded {
            groups: self.groups,
            records: self.records,
            bytes,
            pending_txn,
            end_offset: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::group::records::{GroupValue, OffsetValue};

    fn offset(v: i64) -> Bytes {
        OffsetValue {
            offset: v,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 1,
            expire_timestamp: None,
        }
        .encode()
    }

    #[test]
    fn last_record_wins_and_tombstones_delete() {
        let mut r = Replay::default();
        let k = records::offset_key("g", "t", 0);
        r.apply(Some(&k), Some(&offset(5)), 0);
        r.apply(Some(&k), Some(&offset(9)), 0);
        let k2 = records::offset_key("g2", "t", 0);
        r.apply(Some(&k2), Some(&offset(1)), 0);
        r.apply(Some(&k2), None, 0);
        let gk = records::group_key("g3");
        let empty = GroupValue {
            protocol_type: "consumer".into(),
            generation: 2,
            protocol: None,
            leader: None,
            current_state_timestamp: 3,
            members: vec![],
        };
        r.apply(Some(&gk), Some(&empty.encode()), 0);
        r.apply(Some(&Bytes::from_static(b"\x00\x07junk")), None, 0);
        let loaded = r.finish(0, 0);
        assert_eq!(loaded.records, 6);
        assert_eq!(
            loaded.groups["g"].offsets.get("t", 0).map(|o| o.offset),
            Some(9)
        );
        assert!(
            !loaded.groups.contains_key("g2"),
            "only tombstoned offsets: gone"
        );
        match &loaded.groups["g3"].kind {
            GroupKind::Classic(g) => assert_eq!(g.generation, 2),
            GroupKind::Consumer(_) => panic!("classic group expected"),
        }
    }
}
