//! DeleteRecords (key 21): move a partition's log start offset up; OffsetForLeaderEpoch
//! (key 23): where a leader epoch ended, which consumers ask after a leader change to detect
//! truncation.

use super::{BrokerState, Handled, Request, decode_or_close};
use crate::log::TopicPartition;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::*;
use std::sync::Arc;

/// DeleteRecords: each partition's new low watermark, or its error (-1).
pub fn delete_records(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: DeleteRecordsRequest = decode_or_close!(req);
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index);
                    let tp = TopicPartition::new(t.name.to_string(), p.partition_index);
                    let outcome = match state.logs.get(&tp) {
                        Some(log) => log
                            .delete_records_before(p.offset)
                            .map_err(|e| e.error_code()),
                        None => Err(ResponseError::UnknownTopicOrPartition.code()),
                    };
                    match outcome {
                        Ok(low) => result.with_low_watermark(low),
                        Err(code) => result.with_low_watermark(-1).with_error_code(code),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    let body = DeleteRecordsResponse::default().with_topics(topics);
    Handled::respond(ResponseKind::DeleteRecords(body), version)
}

/// OffsetForLeaderEpoch: the client's view of the leader epoch is checked first (newer than
/// ours: UNKNOWN_LEADER_EPOCH; older: FENCED_LEADER_EPOCH), then the requested epoch's end
/// offset comes from the partition's leader-epoch cache.
pub fn offset_for_leader_epoch(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: OffsetForLeaderEpochRequest = decode_or_close!(req);
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let base = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    let tp = TopicPartition::new(t.topic.to_string(), p.partition);
                    let Some(log) = state.logs.get(&tp) else {
                        return base.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let current = log.leader_epoch();
                    if p.current_leader_epoch > current {
                        return base.with_error_code(ResponseError::UnknownLeaderEpoch.code());
                    }
                    if p.current_leader_epoch >= 0 && p.current_leader_epoch < current {
                        return base.with_error_code(ResponseError::FencedLeaderEpoch.code());
                    }
                    let (epoch, end) = log.end_offset_for_epoch(p.leader_epoch);
                    base.with_leader_epoch(epoch).with_end_offset(end)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    let body = OffsetForLeaderEpochResponse::default().with_topics(topics);
    Handled::respond(ResponseKind::OffsetForLeaderEpoch(body), version)
}
