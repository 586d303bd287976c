//! OffsetCommit (8), OffsetFetch (9) and OffsetDelete (47): committed offsets of groups.

use super::{BrokerState, Handled, Request, decode_or_close};
use crate::coordinator::group::{CommittedOffset, FetchTopics, FetchedOffsets, PartitionCodes};
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
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, ResponseKind, TopicName,
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

pub fn offset_fetch(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: OffsetFetchRequest = decode_or_close!(req);
    let fetch = |group: &str, member: Option<(&str, i32)>, topics: FetchTopics| {
        state
            .groups
            .with_shard(group, |s| s.fetch_offsets(group, member, topics))
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
                    Ok(fetched) => out.with_topics(topics_v8(fetched)),
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
        Ok(fetched) => OffsetFetchResponse::default().with_topics(topics_v1(fetched, 0)),
        // v1 has no group-level error: each requested partition carries it.
        Err(e) if version < 2 => {
            let fetched = requested
                .unwrap_or_default()
                .into_iter()
                .map(|(t, ps)| (t, ps.into_iter().map(|p| (p, None)).collect()))
                .collect();
            OffsetFetchResponse::default().with_topics(topics_v1(fetched, e.code()))
        }
        Err(e) => OffsetFetchResponse::default().with_error_code(e.code()),
    };
    Handled::respond(ResponseKind::OffsetFetch(body), version)
}

fn topics_v1(fetched: FetchedOffsets, error: i16) -> Vec<OffsetFetchResponseTopic> {
    fetched
        .into_iter()
        .map(|(name, parts)| {
            OffsetFetchResponseTopic::default()
                .with_name(topic_name(&name))
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|(p, o)| {
                            let (offset, epoch, metadata) = offset_fields(o);
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch)
                                .with_metadata(Some(StrBytes::from_string(metadata)))
                                .with_error_code(error)
                        })
                        .collect(),
                )
        })
        .collect()
}

fn topics_v8(fetched: FetchedOffsets) -> Vec<OffsetFetchResponseTopics> {
    fetched
        .into_iter()
        .map(|(name, parts)| {
            OffsetFetchResponseTopics::default()
                .with_name(topic_name(&name))
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|(p, o)| {
                            let (offset, epoch, metadata) = offset_fields(o);
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch)
                                .with_metadata(Some(StrBytes::from_string(metadata)))
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
