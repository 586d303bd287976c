//! ListOffsets (key 2): earliest, latest, max-timestamp and by-timestamp lookups.

use super::{BrokerState, Handled, Request, decode_or_close};
use crate::log::{Isolation, TopicPartition, UnifiedLog};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse, ResponseKind};
use std::collections::HashSet;
use std::sync::Arc;

/// Kafka's special timestamps (`ListOffsetsRequest.*_TIMESTAMP`).
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const EARLIEST_PENDING_UPLOAD: i64 = -5;

pub fn handle(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: ListOffsetsRequest = decode_or_close!(req);
    let mut seen = HashSet::new();
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let base = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    let tp = TopicPartition {
                        topic: t.name.as_str().to_string(),
                        partition: p.partition_index,
                    };
                    if !seen.insert(tp.clone()) {
                        return not_found(base, ResponseError::InvalidRequest);
                    }
                    let log = state
                        .catalog
                        .get(&tp.topic)
                        .and_then(|_| state.logs.get(&tp));
                    let mut r = match log {
                        Some(log) => lookup(&log, p.timestamp, request.isolation_level, base),
                        None => not_found(base, ResponseError::UnknownTopicOrPartition),
                    };
                    // leader_epoch exists from v4 on; earlier versions must leave it unset.
                    if version < 4 {
                        r.leader_epoch = -1;
                    }
                    r
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    let body = ListOffsetsResponse::default().with_topics(topics);
    Handled::respond(ResponseKind::ListOffsets(body), version)
}

fn not_found(
    base: ListOffsetsPartitionResponse,
    code: ResponseError,
) -> ListOffsetsPartitionResponse {
    base.with_error_code(code.code())
        .with_timestamp(-1)
        .with_offset(-1)
        .with_leader_epoch(-1)
}

/// One partition's answer. As Kafka's `fetchOffsetForTimestamp`, nothing at or past the last
/// fetchable offset is returned: the last stable offset for `read_committed` (isolation level
/// 1), the high watermark otherwise.
fn lookup(
    log: &UnifiedLog,
    timestamp: i64,
    isolation_level: i8,
    base: ListOffsetsPartitionResponse,
) -> ListOffsetsPartitionResponse {
    let last_fetchable = match Isolation::from_level(isolation_level) {
        Isolation::ReadCommitted => log.last_stable_offset(),
        Isolation::ReadUncommitted => log.high_watermark(),
    };
    let found = |offset: i64, ts: i64, epoch: i32| {
        base.clone()
            .with_offset(offset)
            .with_timestamp(ts)
            .with_leader_epoch(epoch)
    };
    let none = base
        .clone()
        .with_offset(-1)
        .with_timestamp(-1)
        .with_leader_epoch(-1);
    let failed = |e: crate::log::LogError| none.clone().with_error_code(e.error_code());
    if let Err(e) = log.check_online() {
        return failed(e);
    }
    let by_search = match timestamp {
        LATEST => return found(last_fetchable, -1, log.leader_epoch()),
        EARLIEST | EARLIEST_LOCAL => return found(log.log_start_offset(), -1, 0),
        // Without tiered storage nothing is pending upload.
        EARLIEST_PENDING_UPLOAD => return none,
        MAX_TIMESTAMP => log.max_timestamp_and_offset(),
        t if t >= 0 => log.fetch_offset_by_timestamp(t),
        _ => return not_found(base, ResponseError::InvalidRequest),
    };
    match by_search {
        Ok(Some(r)) if r.offset < last_fetchable => base
            .with_offset(r.offset)
            .with_timestamp(r.timestamp)
            .with_leader_epoch(r.leader_epoch),
        Ok(_) => none,
        Err(e) => failed(e),
    }
}
