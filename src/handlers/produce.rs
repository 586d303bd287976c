//! Produce (key 0): append producer batches to partition logs.
//!
//! The payload of each partition is handed to the log as bytes: validated and re-stamped
//! in place, never decoded record by record.

use super::{BrokerState, Handled, Reply, Request, decode_or_close};
use crate::base::clock::now_ms;
use crate::log::{BatchHeader, LogError, TopicPartition};
use crate::metadata::{TopicInfo, is_internal_topic};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;

pub fn handle(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: ProduceRequest = decode_or_close!(req);
    let acks = request.acks;
    let now = now_ms();
    let txn_id = request.transactional_id.as_ref().map(|t| t.to_string());
    // Kafka refuses a transactional write without a transactional id as unauthorized, for
    // the whole request.
    let transactional = request.topic_data.iter().any(|t| {
        t.partition_data.iter().any(|p| {
            p.records
                .as_ref()
                .and_then(|r| BatchHeader::parse(r))
                .is_some_and(|h| h.is_transactional())
        })
    });
    let refuse = (transactional && txn_id.is_none())
        .then_some(ResponseError::TransactionalIdAuthorizationFailed);
    let mut any_error = false;
    let responses: Vec<TopicProduceResponse> = request
        .topic_data
        .into_iter()
        .map(|topic| {
            // v13 names topics by id (KIP-516); older versions by name.
            let info = if version >= 13 {
                state.catalog.get_by_id(&topic.topic_id)
            } else {
                state.catalog.get(topic.name.as_str())
            };
            let missing = if version >= 13 {
                ResponseError::UnknownTopicId
            } else {
                ResponseError::UnknownTopicOrPartition
            };
            let partitions = topic
                .partition_data
                .into_iter()
                .map(|p| {
                    if let Some(e) = refuse {
                        any_error = true;
                        return failed(p.index, e.code(), None);
                    }
                    let target = Target {
                        topic: info.as_deref(),
                        missing,
                        txn_id: txn_id.as_deref(),
                    };
                    let r = append_partition(state, version, &target, acks, p, now);
                    any_error |= r.error_code != 0;
                    r
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_topic_id(topic.topic_id)
                .with_partition_responses(partitions)
        })
        .collect();
    if acks == 0 {
        // Kafka sends nothing for acks=0; on error it closes the connection so the client
        // notices and refreshes its metadata.
        return Handled::Now(if any_error {
            Reply::Close("error on acks=0 produce request".to_string())
        } else {
            Reply::Nothing
        });
    }
    let body = ProduceResponse::default().with_responses(responses);
    Handled::respond(ResponseKind::Produce(body), version)
}

fn failed(index: i32, code: i16, message: Option<String>) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code)
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_error_message(message.map(StrBytes::from_string))
}

/// Kafka (v3+) accepts exactly one v2 batch per partition in a produce request; the batch
/// length field says where the first batch ends.
fn is_single_batch(records: &[u8]) -> bool {
    records.len() >= 12
        && i32::from_be_bytes([records[8], records[9], records[10], records[11]]) as i64 + 12
            == records.len() as i64
}

/// Where one partition's data goes.
struct Target<'a> {
    /// The topic, if it exists.
    topic: Option<&'a TopicInfo>,
    /// The error for a missing topic or partition (by name or by id).
    missing: ResponseError,
    /// The request's transactional id.
    txn_id: Option<&'a str>,
}

/// Produce v12 is the first of transaction version 2 (partitions join implicitly); v11 the
/// first that knows TRANSACTION_ABORTABLE.
const FIRST_IMPLICIT_ADD_VERSION: i16 = 12;
const FIRST_ABORTABLE_VERSION: i16 = 11;

/// A failed transaction verification as the producer sees it (Kafka's `ReplicaManager`
/// translation of coordinator errors).
fn verification_failed(index: i32, version: i16, e: ResponseError) -> PartitionProduceResponse {
    let e = match e {
        ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
        ResponseError::TransactionAbortable if version < FIRST_ABORTABLE_VERSION => {
            ResponseError::InvalidTxnState
        }
        other => other,
    };
    let retriable = matches!(
        e,
        ResponseError::CoordinatorLoadInProgress
            | ResponseError::CoordinatorNotAvailable
            | ResponseError::NotCoordinator
    ) || (e == ResponseError::ConcurrentTransactions
        && version < FIRST_IMPLICIT_ADD_VERSION);
    if retriable {
        return failed(
            index,
            ResponseError::NotEnoughReplicas.code(),
            Some(format!(
                "Unable to verify the partition has been added to the transaction. Underlying error: {}",
                error_name(e)
            )),
        );
    }
    if e == ResponseError::InvalidTxnState {
        return failed(
            index,
            e.code(),
            Some("Partition was not added to the transaction".to_string()),
        );
    }
    failed(index, e.code(), None)
}

/// Kafka's `Errors` name of a code, for messages.
fn error_name(e: ResponseError) -> &'static str {
    match e {
        ResponseError::CoordinatorLoadInProgress => "COORDINATOR_LOAD_IN_PROGRESS",
        ResponseError::CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
        ResponseError::NotCoordinator => "NOT_COORDINATOR",
        ResponseError::ConcurrentTransactions => "CONCURRENT_TRANSACTIONS",
        _ => "UNKNOWN_SERVER_ERROR",
    }
}

fn append_partition(
    state: &BrokerState,
    version: i16,
    target: &Target<'_>,
    acks: i16,
    data: PartitionProduceData,
    now: i64,
) -> PartitionProduceResponse {
    let (topic, missing) = (target.topic, target.missing);
    let index = data.index;
    if !matches!(acks, -1..=1) {
        return failed(index, ResponseError::InvalidRequiredAcks.code(), None);
    }
    let Some(topic) = topic.filter(|t| index >= 0 && index < t.partitions) else {
        return failed(index, missing.code(), None);
    };
    if is_internal_topic(&topic.name) {
        return failed(
            index,
            ResponseError::InvalidTopicException.code(),
            Some(format!("Cannot append to internal topic {}", topic.name)),
        );
    }
    if acks == -1 && topic.config.min_insync_replicas > 1 {
        return failed(
            index,
            ResponseError::NotEnoughReplicas.code(),
            Some(format!(
                "The size of the current ISR Set(1) is insufficient to satisfy the min.isr requirement of {} for partition {}-{index}",
                topic.config.min_insync_replicas, topic.name
            )),
        );
    }
    let tp = TopicPartition {
        topic: topic.name.clone(),
        partition: index,
    };
    let Some(log) = state.logs.get(&tp) else {
        return failed(index, ResponseError::NotLeaderOrFollower.code(), None);
    };
    let records = match data.records {
        Some(r) if !r.is_empty() => r,
        _ => {
            return failed(
                index,
                ResponseError::InvalidRecord.code(),
                Some("Produce request has no record batches".to_string()),
            );
        }
    };
    if !is_single_batch(&records) {
        return failed(
            index,
            ResponseError::InvalidRecord.code(),
            Some(format!(
                "Produce requests with version {version} are only allowed to contain exactly one record batch"
            )),
        );
    }
    let header = BatchHeader::parse(&records);
    let append = || log.append_as_leader(&records, now);
    // KIP-890: a transactional write to a partition where the producer has no open
    // transaction must be part of its transaction (added implicitly from v12).
    let needs_verification = state.transactions.config().verification_enabled
        && header.is_some_and(|h| {
            h.is_transactional() && h.producer_id >= 0 && !log.has_ongoing_txn(h.producer_id)
        });
    let appended = match (needs_verification, header, target.txn_id) {
        (true, Some(h), Some(txn_id)) => {
            match state.transactions.with_verified(
                txn_id,
                h.producer_id,
                h.producer_epoch,
                &tp,
                version >= FIRST_IMPLICIT_ADD_VERSION,
                append,
            ) {
                Ok(result) => result,
                Err(e) => return verification_failed(index, version, e),
            }
        }
        _ => append(),
    };
    match appended {
        Ok(info) => PartitionProduceResponse::default()
            .with_index(index)
            .with_base_offset(info.first_offset)
            .with_log_append_time_ms(info.log_append_time)
            .with_log_start_offset(info.log_start_offset),
        Err(LogError::RecordErrors(errors)) => {
            // Kafka's RecordValidationException: the per-record errors and the log start offset.
            let message = LogError::RecordErrors(errors.clone()).to_string();
            failed(index, ResponseError::InvalidRecord.code(), Some(message))
                .with_log_start_offset(log.log_start_offset())
                .with_record_errors(
                    errors
                        .into_iter()
                        .map(|e| {
                            BatchIndexAndErrorMessage::default()
                                .with_batch_index(e.batch_index)
                                .with_batch_index_error_message(Some(StrBytes::from_string(
                                    e.message,
                                )))
                        })
                        .collect(),
                )
        }
        Err(e) => failed(index, e.error_code(), Some(e.to_string())),
    }
}
