//! OffsetCommit (8), OffsetFetch (9) and OffsetDelete (47): committed offsets of groups.

use super::{BrokerState, Handled, Request, decode_or_close};
use crate::coordinator::group::{
    CommittedOffset, FetchTopics, FetchedOffsets, PartitionCodes, TxnCommit, TxnOffset,
};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, ResponseKind, TopicName, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;

/// Whether `topic` exists with partition `partition` (offsets are only kept for those).
pub(super) fn partition_exists(state: &BrokerState, topic: &str, partition: i32) -> bool {
    state
        .catalog
        .get(topic)
        .is_some_and(|t| (0..t.partitions).contains(&partition))
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

pub fn offset_commit(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: OffsetCommitRequest = decode_or_close!(req);
    let exists = |topic: &str, p: i32| partition_exists(state, topic, p);
    let codes: PartitionCodes = state
        .groups
        .with_shard(request.group_id.as_str(), |s| {
            s.commit_offsets(version, &request, &exists)
        })
        .unwrap_or_else(|e| {
            request
                .topics
                .iter()
                .map(|t| {
                    let parts = t.partitions.iter().map(|p| (p.partition_index, e.code()));
                    (t.name.to_string(), parts.collect())
                })
                .collect()
        });
    let topics = codes
        .into_iter()
        .map(|(name, parts)| {
            OffsetCommitResponseTopic::default()
                .with_name(topic_name(&name))
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|(p, code)| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    let body = OffsetCommitResponse::default().with_topics(topics);
    Handled::respond(ResponseKind::OffsetCommit(body), version)
}

/// The stored offset, or Kafka's "no offset" (-1, no epoch, empty metadata).
fn offset_fields(o: Option<CommittedOffset>) -> (i64, i32, String) {
    match o {
        Some(o) => (o.offset, o.leader_epoch, o.metadata),
        None => (-1, -1, String::new()),
    }
}

/// TxnOffsetCommit (key 28): offsets committed in a transaction, pending until its marker.
/// The group's offsets partition must be in the transaction (verified as KIP-890 does; v5+
/// clients of transaction version 2 add it implicitly).
pub fn txn_offset_commit(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: TxnOffsetCommitRequest = decode_or_close!(req);
    let commit = TxnCommit {
        group_id: request.group_id.to_string(),
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        generation_id: request.generation_id,
        producer_id: request.producer_id.0,
        producer_epoch: request.producer_epoch,
        topics: request
            .topics
            .iter()
            .map(|t| {
                let parts = t
                    .partitions
                    .iter()
                    .map(|p| TxnOffset {
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                    })
                    .collect();
                (t.name.to_string(), parts)
            })
            .collect(),
    };
    let exists = |topic: &str, p: i32| partition_exists(state, topic, p);
    let write = || {
        state
            .groups
            .with_shard(&commit.group_id, |s| s.commit_txn_offsets(&commit, &exists))
    };
    let result = if commit.group_id.is_empty() {
        Err(ResponseError::InvalidGroupId)
    } else if state.transactions.config().verification_enabled {
        let tp = state.groups.partition_of(&commit.group_id);
        state
            .transactions
            .with_verified(
                request.transactional_id.as_str(),
                commit.producer_id,
                commit.producer_epoch,
                &tp,
                version >= 5,
                write,
            )
            .and_then(|r| r)
    } else {
        write()
    };
    let codes: PartitionCodes = result.unwrap_or_else(|e| {
        let e = match e {
            ResponseError::TransactionAbortable if version < 4 => ResponseError::InvalidTxnState,
            ResponseError::ProducerFenced | ResponseError::InvalidProducerIdMapping => {
                ResponseError::InvalidProducerEpoch
            }
            other => other,
        };
        commit
            .topics
            .iter()
            .map(|(t, ps)| {
                (
                    t.clone(),
                    ps.iter().map(|p| (p.partition, e.code())).collect(),
                )
            })
            .collect()
    });
    let topics = codes
        .into_iter()
        .map(|(name, parts)| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic_name(&name))
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|(p, code)| {
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(p)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    let body = TxnOffsetCommitResponse::default().with_topics(topics);
    Handled::respond(ResponseKind::TxnOffsetCommit(body), version)
}

pub fn offset_fetch(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: OffsetFetchRequest = decode_or_close!(req);
    let require_stable = request.require_stable;
    // With require_stable (KIP-447), a partition whose transactional commit is pending gets
    // UNSTABLE_OFFSET_COMMIT instead of its offset.
    let fetch = |group: &str, member: Option<(&str, i32)>, topics: FetchTopics| {
        state
            .groups
            .with_shard(group, |s| {
                s.fetch_offsets(group, member, topics).map(|fetched| {
                    let unstable: Vec<(String, i32)> = if require_stable {
                        fetched
                            .iter()
                            .flat_map(|(t, ps)| {
                                ps.iter()
                                    .filter(|(p, _)| s.has_pending_offset(group, t, *p))
                                    .map(move |(p, _)| (t.clone(), *p))
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    (fetched, unstable)
                })
            })
            .and_then(|r| r)
    };
    if version >= 8 {
        let groups = request
            .groups
            .iter()
            .map(|g| {
                let topics = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                let member = g.member_id.as_ref().map(|m| (m.as_str(), g.member_epoch));
                let out = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                match fetch(g.group_id.as_str(), member, topics) {
                    Ok((fetched, unstable)) => out.with_topics(topics_v8(fetched, &unstable)),
                    Err(e) => out.with_error_code(e.code()),
                }
            })
            .collect();
        let body = OffsetFetchResponse::default().with_groups(groups);
        return Handled::respond(ResponseKind::OffsetFetch(body), version);
    }
    let requested: FetchTopics = request.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let body = match fetch(request.group_id.as_str(), None, requested.clone()) {
        Ok((fetched, unstable)) => {
            OffsetFetchResponse::default().with_topics(topics_v1(fetched, 0, &unstable))
        }
        // v1 has no group-level error: each requested partition carries it.
        Err(e) if version < 2 => {
            let fetched = requested
                .unwrap_or_default()
                .into_iter()
                .map(|(t, ps)| (t, ps.into_iter().map(|p| (p, None)).collect()))
                .collect();
            OffsetFetchResponse::default().with_topics(topics_v1(fetched, e.code(), &[]))
        }
        Err(e) => OffsetFetchResponse::default().with_error_code(e.code()),
    };
    Handled::respond(ResponseKind::OffsetFetch(body), version)
}

/// The stored offset of a partition, or UNSTABLE_OFFSET_COMMIT's "no offset" when a
/// transactional commit of it is pending and the client asked for stable offsets.
fn answer(
    topic: &str,
    partition: i32,
    offset: Option<CommittedOffset>,
    unstable: &[(String, i32)],
) -> ((i64, i32, String), i16) {
    if unstable.iter().any(|(t, p)| t == topic && *p == partition) {
        (
            offset_fields(None),
            ResponseError::UnstableOffsetCommit.code(),
        )
    } else {
        (offset_fields(offset), 0)
    }
}

fn topics_v1(
    fetched: FetchedOffsets,
    error: i16,
    unstable: &[(String, i32)],
) -> Vec<OffsetFetchResponseTopic> {
    fetched
        .into_iter()
        .map(|(name, parts)| {
            OffsetFetchResponseTopic::default()
                .with_name(topic_name(&name))
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|(p, o)| {
                            let ((offset, epoch, metadata), code) = answer(&name, p, o, unstable);
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch)
                                .with_metadata(Some(StrBytes::from_string(metadata)))
                                .with_error_code(if error != 0 { error } else { code })
                        })
                        .collect(),
                )
        })
        .collect()
}

fn topics_v8(
    fetched: FetchedOffsets,
    unstable: &[(String, i32)],
) -> Vec<OffsetFetchResponseTopics> {
    fetched
        .into_iter()
        .map(|(name, parts)| {
            OffsetFetchResponseTopics::default()
                .with_name(topic_name(&name))
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|(p, o)| {
                            let ((offset, epoch, metadata), code) = answer(&name, p, o, unstable);
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch)
                                .with_metadata(Some(StrBytes::from_string(metadata)))
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect()
}

pub fn offset_delete(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: OffsetDeleteRequest = decode_or_close!(req);
    let group_id = request.group_id.as_str();
    let topics: Vec<(String, Vec<i32>)> = request
        .topics
        .iter()
        .map(|t| {
            let parts = t.partitions.iter().map(|p| p.partition_index).collect();
            (t.name.to_string(), parts)
        })
        .collect();
    let exists = |topic: &str, p: i32| partition_exists(state, topic, p);
    let result = if group_id.is_empty() {
        Err(ResponseError::InvalidGroupId)
    } else {
        state
            .groups
            .with_shard(group_id, |s| s.delete_offsets(group_id, topics, &exists))
            .and_then(|r| r)
    };
    let body = match result {
        Ok(codes) => OffsetDeleteResponse::default().with_topics(
            codes
                .into_iter()
                .map(|(name, parts)| {
                    OffsetDeleteResponseTopic::default()
                        .with_name(topic_name(&name))
                        .with_partitions(
                            parts
                                .into_iter()
                                .map(|(p, code)| {
                                    OffsetDeleteResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
        Err(e) => OffsetDeleteResponse::default().with_error_code(e.code()),
    };
    Handled::respond(ResponseKind::OffsetDelete(body), version)
}
