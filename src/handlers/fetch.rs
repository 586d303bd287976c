//! Fetch (key 1): read batches from partition logs, with long-poll and fetch sessions.
//!
//! Stored bytes go back to the client as they are: the response carries the log's bytes in
//! its `records` field and no record is decoded or re-encoded.

use super::fetch_session::{FetchKey, PartitionState, SessionRequest};
use super::{BrokerState, Handled, Reply, Request, decode_or_close};
use crate::log::{AbortedTxn, FileRecords, Isolation, LogError, TopicPartition, UnifiedLog};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::futures::Notified;

/// One partition's outcome in a fetch.
struct PartitionResult {
    key: FetchKey,
    error: i16,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    aborted_transactions: Option<Vec<AbortedTxn>>,
    records: FileRecords,
    last_sent: Option<(i64, i64)>,
}

/// Everything needed to (re-)read the data of one fetch request.
struct FetchPlan {
    version: i16,
    session: SessionRequest,
    partitions: Vec<(FetchKey, PartitionState)>,
    max_bytes: i32,
    min_bytes: i32,
    max_wait_ms: i32,
    isolation: Isolation,
}

pub fn handle(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: FetchRequest = decode_or_close!(req);
    let by_id = version >= 13;
    let key_of = |name: &TopicName, id: uuid::Uuid, partition: i32| {
        let topic = if by_id {
            state
                .catalog
                .get_by_id(&id)
                .map(|t| t.name.clone())
                .unwrap_or_default()
        } else {
            name.as_str().to_string()
        };
        FetchKey {
            topic,
            topic_id: if by_id { id } else { uuid::Uuid::nil() },
            partition,
        }
    };
    let requested = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    key_of(&t.topic, t.topic_id, p.partition),
                    p.fetch_offset,
                    p.partition_max_bytes,
                )
            })
        })
        .collect();
    let forgotten = request
        .forgotten_topics_data
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| key_of(&t.topic, t.topic_id, *p))
        })
        .collect();
    let (session, partitions) = match state.fetch_sessions.begin(
        request.session_id,
        request.session_epoch,
        requested,
        forgotten,
    ) {
        Ok(s) => s,
        Err(code) => {
            let body = FetchResponse::default().with_error_code(code.code());
            return Handled::respond(ResponseKind::Fetch(body), version);
        }
    };
    let plan = FetchPlan {
        version,
        session,
        partitions,
        // Kafka: the smaller of the request's and the broker's `fetch.max.bytes`.
        max_bytes: request.max_bytes.min(state.config.fetch_max_bytes),
        min_bytes: request.min_bytes,
        max_wait_ms: request.max_wait_ms,
        isolation: Isolation::from_level(request.isolation_level),
    };
    let (results, bytes, errors) = plan.read(state);
    if plan.max_wait_ms <= 0 || bytes >= plan.min_bytes.max(1) as usize || errors {
        return Handled::Now(plan.respond(state, results));
    }
    let state = state.clone();
    Handled::Later(Box::pin(async move { plan.long_poll(&state).await }))
}

impl FetchPlan {
    fn logs(&self, state: &BrokerState) -> Vec<Arc<UnifiedLog>> {
        self.partitions
            .iter()
            .filter_map(|(k, _)| {
                state.logs.get(&TopicPartition {
                    topic: k.topic.clone(),
                    partition: k.partition,
                })
            })
            .collect()
    }

    /// Waits until an append to any fetched partition brings at least `min_bytes`, or
    /// `max_wait_ms` passes. No polling: each log's append notification wakes us.
    async fn long_poll(self, state: &Arc<BrokerState>) -> Reply {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.max_wait_ms as u64);
        let logs = self.logs(state);
        loop {
            let mut wakers: Vec<Pin<Box<Notified<'_>>>> = logs
                .iter()
                .map(|l| Box::pin(l.append_notify().notified()))
                .collect();
            // Register before reading, so an append between the read and the wait is not missed.
            for w in &mut wakers {
                w.as_mut().enable();
            }
            let (results, bytes, errors) = self.read(state);
            if bytes >= self.min_bytes.max(1) as usize || errors || wakers.is_empty() {
                return self.respond(state, results);
            }
            tokio::select! {
                _ = futures::future::select_all(wakers) => {}
                _ = tokio::time::sleep_until(deadline) => {
                    let (results, _, _) = self.read(state);
                    return self.respond(state, results);
                }
            }
        }
    }

    /// Reads every partition within the byte limits. The first partition that returns data
    /// returns at least one whole batch, however large (KIP-74).
    fn read(&self, state: &BrokerState) -> (Vec<PartitionResult>, usize, bool) {
        let mut remaining = self.max_bytes.max(0) as usize;
        let mut total = 0usize;
        let mut errors = false;
        let results = self
            .partitions
            .iter()
            .map(|(key, ps)| {
                let r = read_partition(state, key, ps, remaining, total == 0, self.isolation);
                total += r.records.len();
                remaining = remaining.saturating_sub(r.records.len());
                errors |= r.error != 0;
                r
            })
            .collect();
        (results, total, errors)
    }

    fn respond(&self, state: &BrokerState, results: Vec<PartitionResult>) -> Reply {
        let (session_id, incremental) = match self.session {
            SessionRequest::Sessionless => (0, false),
            SessionRequest::Session { id, full } => (id, !full),
        };
        let mut topics: Vec<FetchableTopicResponse> = Vec::new();
        let mut sent = Vec::new();
        let mut file_records = Vec::new();
        for r in results {
            let changed = r.error != 0
                || !r.records.is_empty()
                || r.last_sent != Some((r.high_watermark, r.log_start_offset));
            if incremental && !changed {
                continue;
            }
            sent.push((r.key.clone(), r.high_watermark, r.log_start_offset));
            let data = PartitionData::default()
                .with_partition_index(r.key.partition)
                .with_error_code(r.error)
                .with_high_watermark(r.high_watermark)
                .with_last_stable_offset(r.last_stable_offset)
                .with_log_start_offset(r.log_start_offset)
                .with_aborted_transactions(r.aborted_transactions.map(|txns| {
                    txns.iter()
                        .map(|t| {
                            AbortedTransaction::default()
                                .with_producer_id(ProducerId(t.producer_id))
                                .with_first_offset(t.first_offset)
                        })
                        .collect()
                }))
                .with_records(Some(r.records.bytes().clone()));
            if !r.records.is_empty() {
                file_records.push(r.records);
            }
            let same_topic = topics.last().is_some_and(|t| {
                if self.version >= 13 {
                    t.topic_id == r.key.topic_id
                } else {
                    t.topic.as_str() == r.key.topic
                }
            });
            if !same_topic {
                topics.push(
                    FetchableTopicResponse::default()
                        .with_topic(TopicName(StrBytes::from_string(r.key.topic.clone())))
                        .with_topic_id(r.key.topic_id),
                );
            }
            if let Some(t) = topics.last_mut() {
                t.partitions.push(data);
            }
        }
        if session_id != 0 {
            state.fetch_sessions.record_sent(session_id, &sent);
        }
        let body = FetchResponse::default()
            .with_session_id(session_id)
            .with_responses(topics);
        Reply::Response {
            body: Box::new(ResponseKind::Fetch(body)),
            version: self.version,
            records: file_records,
        }
    }
}

fn read_partition(
    state: &BrokerState,
    key: &FetchKey,
    ps: &PartitionState,
    remaining: usize,
    min_one_batch: bool,
    isolation: Isolation,
) -> PartitionResult {
    let mut result = PartitionResult {
        key: key.clone(),
        error: 0,
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        aborted_transactions: None,
        records: FileRecords::empty(),
        last_sent: ps.last_sent,
    };
    let tp = TopicPartition {
        topic: key.topic.clone(),
        partition: key.partition,
    };
    let log = state
        .catalog
        .get(&key.topic)
        .and_then(|_| state.logs.get(&tp));
    let Some(log) = log else {
        result.error = if key.topic_id.is_nil() {
            ResponseError::UnknownTopicOrPartition.code()
        } else {
            ResponseError::UnknownTopicId.code()
        };
        return result;
    };
    let limit = (ps.max_bytes.max(0) as usize).min(remaining);
    match log.read_isolated(ps.fetch_offset, limit, min_one_batch, isolation) {
        Ok(data) => {
            result.high_watermark = data.high_watermark;
            result.last_stable_offset = data.last_stable_offset;
            result.log_start_offset = data.log_start_offset;
            result.aborted_transactions = data.aborted_transactions;
            result.records = data.records;
        }
        Err(e) => {
            // Kafka answers a failed partition with -1 offsets (its error partition data).
            result.error = e.error_code();
            if !matches!(e, LogError::OffsetOutOfRange { .. }) {
                tracing::warn!("Error reading {tp} at offset {}: {e}", ps.fetch_offset);
            }
        }
    }
    result
}
