//! The transaction APIs: InitProducerId (22), AddPartitionsToTxn (24), AddOffsetsToTxn (25),
//! EndTxn (26), WriteTxnMarkers (27), DescribeProducers (61), DescribeTransactions (65),
//! ListTransactions (66). Each decodes, calls the transaction coordinator (or the log, for
//! DescribeProducers), and encodes; error codes a request version predates are mapped as
//! Kafka's `KafkaApis` maps them.

use super::{BrokerState, Handled, Request, decode_or_close};
use crate::coordinator::transaction::{ListFilter, TV2, TxnState};
use crate::log::TopicPartition;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::describe_transactions_response::{
    TopicData, TransactionState as DescribedTxn,
};
use kafka_protocol::messages::list_transactions_response::TransactionState as ListedTxn;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, DescribeProducersRequest, DescribeProducersResponse,
    DescribeTransactionsRequest, DescribeTransactionsResponse, EndTxnRequest, EndTxnResponse,
    InitProducerIdRequest, InitProducerIdResponse, ListTransactionsRequest,
    ListTransactionsResponse, ProducerId, ResponseKind, TopicName, TransactionalId,
    WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use tracing::error;

/// PRODUCER_FENCED came with these versions (KIP-588); older clients get
/// INVALID_PRODUCER_EPOCH, and TRANSACTION_ABORTABLE (KIP-890) becomes INVALID_TXN_STATE
/// below the version that introduced it.
fn for_version(
    e: ResponseError,
    version: i16,
    fenced_from: i16,
    abortable_from: i16,
) -> ResponseError {
    match e {
        ResponseError::ProducerFenced if version < fenced_from => {
            ResponseError::InvalidProducerEpoch
        }
        ResponseError::TransactionAbortable if version < abortable_from => {
            ResponseError::InvalidTxnState
        }
        other => other,
    }
}

fn code_of(result: Result<(), ResponseError>) -> i16 {
    result.err().map_or(0, |e| e.code())
}

/// InitProducerId (key 22): a fresh id for idempotent producers; for a transactional id, the
/// coordinator's id and epoch (fencing older instances).
pub fn init_producer_id(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: InitProducerIdRequest = decode_or_close!(req);
    let failed = |code: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(for_version(code, version, 4, 5).code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    let expected = match (request.producer_id.0, request.producer_epoch) {
        (-1, -1) => Ok(None),
        (-1, _) | (_, -1) => Err(ResponseError::InvalidRequest),
        (pid, epoch) => Ok(Some((pid, epoch))),
    };
    let body = match (expected, request.transactional_id.as_ref()) {
        (Err(e), _) => failed(e),
        (Ok(expected), Some(id)) => match state.transactions.init_producer_id(
            id.as_str(),
            request.transaction_timeout_ms,
            expected,
        ) {
            Ok((pid, epoch)) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch),
            Err(e) => failed(e),
        },
        // Like Kafka, an idempotent producer always gets a fresh id at epoch 0, also when it
        // asks to bump the epoch of the id it had (KIP-360).
        (Ok(_), None) => match state.producer_ids.next_id() {
            Ok(id) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0),
            Err(e) => {
                error!("Failed to allocate a producer id: {e}");
                failed(ResponseError::KafkaStorageError)
            }
        },
    };
    Handled::respond(ResponseKind::InitProducerId(body), version)
}

/// Per topic, per partition error codes.
type TopicCodes = Vec<(TopicName, Vec<(i32, i16)>)>;

/// The partitions named by a request that exist, and error codes for those that do not
/// (UNKNOWN_TOPIC_OR_PARTITION, the others OPERATION_NOT_ATTEMPTED), as Kafka checks them
/// before asking the coordinator.
fn existing_partitions(
    state: &BrokerState,
    topics: &[(TopicName, Vec<i32>)],
) -> Result<Vec<TopicPartition>, TopicCodes> {
    let exists = |t: &str, p: i32| {
        state
            .catalog
            .get(t)
            .is_some_and(|info| (0..info.partitions).contains(&p))
    };
    let missing = topics
        .iter()
        .any(|(t, ps)| ps.iter().any(|p| !exists(t.as_str(), *p)));
    if missing {
        return Err(topics
            .iter()
            .map(|(t, ps)| {
                let codes = ps
                    .iter()
                    .map(|p| {
                        let code = if exists(t.as_str(), *p) {
                            ResponseError::OperationNotAttempted
                        } else {
                            ResponseError::UnknownTopicOrPartition
                        };
                        (*p, code.code())
                    })
                    .collect();
                (t.clone(), codes)
            })
            .collect());
    }
    Ok(topics
        .iter()
        .flat_map(|(t, ps)| ps.iter().map(|p| TopicPartition::new(t.as_str(), *p)))
        .collect())
}

fn topic_results(codes: TopicCodes) -> Vec<AddPartitionsToTxnTopicResult> {
    codes
        .into_iter()
        .map(|(name, parts)| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(name)
                .with_results_by_partition(
                    parts
                        .into_iter()
                        .map(|(p, code)| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(p)
                                .with_partition_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect()
}

/// AddPartitionsToTxn (key 24): v0-3 from producers (one transaction), v4+ batched from
/// brokers, optionally only verifying (KIP-890).
pub fn add_partitions_to_txn(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: AddPartitionsToTxnRequest = decode_or_close!(req);
    let one = |id: &TransactionalId,
               pid: ProducerId,
               epoch: i16,
               verify_only: bool,
               topics: &[kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic]|
     -> Vec<AddPartitionsToTxnTopicResult> {
        let named: Vec<(TopicName, Vec<i32>)> = topics
            .iter()
            .map(|t| (t.name.clone(), t.partitions.clone()))
            .collect();
        let all = |code: i16| {
            named
                .iter()
                .map(|(t, ps)| (t.clone(), ps.iter().map(|p| (*p, code)).collect()))
                .collect::<Vec<_>>()
        };
        let partitions = match existing_partitions(state, &named) {
            Ok(p) => p,
            Err(codes) => return topic_results(codes),
        };
        let codes = if verify_only {
            match state
                .transactions
                .verify_partitions(id.as_str(), pid.0, epoch, &partitions)
            {
                Ok(per) => {
                    let mut it = per.into_iter();
                    named
                        .iter()
                        .map(|(t, ps)| {
                            let codes = ps.iter().map(|p| (*p, it.next().unwrap_or(0))).collect();
                            (t.clone(), codes)
                        })
                        .collect()
                }
                Err(e) => all(e.code()),
            }
        } else {
            let result =
                state
                    .transactions
                    .add_partitions(id.as_str(), pid.0, epoch, &partitions, 0);
            all(code_of(result.map_err(|e| for_version(e, version, 2, 5))))
        };
        topic_results(codes)
    };
    let body = if version < 4 {
        AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(one(
            &request.v3_and_below_transactional_id,
            request.v3_and_below_producer_id,
            request.v3_and_below_producer_epoch,
            false,
            &request.v3_and_below_topics,
        ))
    } else {
        let results = request
            .transactions
            .iter()
            .map(|t| {
                AddPartitionsToTxnResult::default()
                    .with_transactional_id(t.transactional_id.clone())
                    .with_topic_results(one(
                        &t.transactional_id,
                        t.producer_id,
                        t.producer_epoch,
                        t.verify_only,
                        &t.topics,
                    ))
            })
            .collect();
        AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
    };
    Handled::respond(ResponseKind::AddPartitionsToTxn(body), version)
}

/// AddOffsetsToTxn (key 25): the group's `__consumer_offsets` partition joins the
/// transaction, so its TxnOffsetCommit is committed or aborted with it.
pub fn add_offsets_to_txn(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: AddOffsetsToTxnRequest = decode_or_close!(req);
    let tp = state.groups.partition_of(request.group_id.as_str());
    let result = state.transactions.add_partitions(
        request.transactional_id.as_str(),
        request.producer_id.0,
        request.producer_epoch,
        &[tp],
        0,
    );
    let body = AddOffsetsToTxnResponse::default()
        .with_error_code(code_of(result.map_err(|e| for_version(e, version, 2, 4))));
    Handled::respond(ResponseKind::AddOffsetsToTxn(body), version)
}

/// EndTxn (key 26): commit or abort. v5+ is transaction version 2: the epoch is bumped and
/// the response carries the producer id and epoch to go on with.
pub fn end_txn(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: EndTxnRequest = decode_or_close!(req);
    let client_version = if version > 4 { TV2 } else { 0 };
    let body = match state.transactions.end_txn(
        request.transactional_id.as_str(),
        request.producer_id.0,
        request.producer_epoch,
        request.committed,
        client_version,
    ) {
        Ok((pid, epoch)) => EndTxnResponse::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch),
        Err(e) => EndTxnResponse::default()
            .with_error_code(for_version(e, version, 2, 4).code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    };
    Handled::respond(ResponseKind::EndTxn(body), version)
}

/// WriteTxnMarkers (key 27): write COMMIT/ABORT markers to this broker's partitions (what a
/// coordinator, or `kafka-transactions abort`, asks of a partition leader).
pub fn write_txn_markers(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: WriteTxnMarkersRequest = decode_or_close!(req);
    let markers = request
        .markers
        .iter()
        .map(|m| {
            let topics = m
                .topics
                .iter()
                .map(|t| {
                    let partitions = t
                        .partition_indexes
                        .iter()
                        .map(|p| {
                            let tp = TopicPartition::new(t.name.as_str(), *p);
                            let known = state.catalog.get(&tp.topic).is_some();
                            let code = if known {
                                state.transactions.write_marker(
                                    &tp,
                                    m.producer_id.0,
                                    m.producer_epoch,
                                    m.transaction_result,
                                    m.coordinator_epoch,
                                )
                            } else {
                                ResponseError::UnknownTopicOrPartition.code()
                            };
                            WritableTxnMarkerPartitionResult::default()
                                .with_partition_index(*p)
                                .with_error_code(code)
                        })
                        .collect();
                    WritableTxnMarkerTopicResult::default()
                        .with_name(t.name.clone())
                        .with_partitions(partitions)
                })
                .collect();
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics)
        })
        .collect();
    let body = WriteTxnMarkersResponse::default().with_markers(markers);
    Handled::respond(ResponseKind::WriteTxnMarkers(body), version)
}

/// ListTransactions (key 66): every transactional id this coordinator knows, filtered by
/// state, producer id, duration (v1) and id pattern (v2).
pub fn list_transactions(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: ListTransactionsRequest = decode_or_close!(req);
    let mut unknown = Vec::new();
    let mut states = Vec::new();
    for name in &request.state_filters {
        match TxnState::from_name(name.as_str()) {
            Some(s) => states.push(s),
            None => unknown.push(name.clone()),
        }
    }
    let pattern = match request.transactional_id_pattern.as_ref() {
        Some(p) if !p.is_empty() => match regex::Regex::new(&format!("^(?:{})$", p.as_str())) {
            Ok(r) => Some(r),
            Err(_) => {
                let body = ListTransactionsResponse::default()
                    .with_error_code(ResponseError::InvalidRequest.code());
                return Handled::respond(ResponseKind::ListTransactions(body), version);
            }
        },
        _ => None,
    };
    let filter = ListFilter {
        states,
        producer_ids: request.producer_id_filters.iter().map(|p| p.0).collect(),
        min_duration_ms: request.duration_filter,
        id_pattern: pattern,
    };
    // Only unknown states asked for: nothing can match.
    let nothing = !request.state_filters.is_empty() && filter.states.is_empty();
    let body = match state.transactions.list(&filter) {
        Ok(listed) => ListTransactionsResponse::default()
            .with_unknown_state_filters(unknown)
            .with_transaction_states(if nothing {
                Vec::new()
            } else {
                listed
                    .into_iter()
                    .map(|t| {
                        ListedTxn::default()
                            .with_transactional_id(TransactionalId(StrBytes::from_string(
                                t.transactional_id,
                            )))
                            .with_producer_id(ProducerId(t.producer_id))
                            .with_transaction_state(StrBytes::from_static_str(t.state))
                    })
                    .collect()
            }),
        Err(e) => ListTransactionsResponse::default()
            .with_error_code(e.code())
            .with_unknown_state_filters(unknown),
    };
    Handled::respond(ResponseKind::ListTransactions(body), version)
}

/// DescribeTransactions (key 65): state, producer, timeout and partitions of each id.
pub fn describe_transactions(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: DescribeTransactionsRequest = decode_or_close!(req);
    let described = request
        .transactional_ids
        .iter()
        .map(|id| {
            let out = DescribedTxn::default().with_transactional_id(id.clone());
            match state.transactions.describe(id.as_str()) {
                Ok(m) => {
                    let mut topics: Vec<TopicData> = Vec::new();
                    for tp in &m.partitions {
                        if topics.last().is_none_or(|t| t.topic.as_str() != tp.topic) {
                            topics
                                .push(TopicData::default().with_topic(TopicName(
                                    StrBytes::from_string(tp.topic.clone()),
                                )));
                        }
                        if let Some(t) = topics.last_mut() {
                            t.partitions.push(tp.partition);
                        }
                    }
                    out.with_transaction_state(StrBytes::from_static_str(m.state.name()))
                        .with_transaction_timeout_ms(m.txn_timeout_ms)
                        .with_transaction_start_time_ms(m.txn_start_timestamp)
                        .with_producer_id(ProducerId(m.producer_id))
                        .with_producer_epoch(m.producer_epoch)
                        .with_topics(topics)
                }
                Err(e) => out.with_error_code(e.code()),
            }
        })
        .collect();
    let body = DescribeTransactionsResponse::default().with_transaction_states(described);
    Handled::respond(ResponseKind::DescribeTransactions(body), version)
}

/// DescribeProducers (key 61): the producer state of each partition's log.
pub fn describe_producers(state: &Arc<BrokerState>, req: &Request) -> Handled {
    let version = req.header.request_api_version;
    let request: DescribeProducersRequest = decode_or_close!(req);
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partition_indexes
                .iter()
                .map(|p| {
                    let tp = TopicPartition::new(t.name.as_str(), *p);
                    let out = PartitionResponse::default().with_partition_index(*p);
                    let log = state
                        .catalog
                        .get(&tp.topic)
                        .and_then(|_| state.logs.get(&tp));
                    let Some(log) = log else {
                        return out.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let mut producers: Vec<ProducerState> = log
                        .producer_states()
                        .into_iter()
                        .map(|(pid, e)| {
                            ProducerState::default()
                                .with_producer_id(ProducerId(pid))
                                .with_producer_epoch(i32::from(e.epoch))
                                .with_last_sequence(e.batches.back().map_or(-1, |b| b.last_seq))
                                .with_last_timestamp(e.last_timestamp)
                                .with_coordinator_epoch(e.coordinator_epoch)
                                .with_current_txn_start_offset(
                                    e.current_txn_first_offset.unwrap_or(-1),
                                )
                        })
                        .collect();
                    producers.sort_by_key(|p| p.producer_id.0);
                    out.with_active_producers(producers)
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    let body = DescribeProducersResponse::default().with_topics(topics);
    Handled::respond(ResponseKind::DescribeProducers(body), version)
}
