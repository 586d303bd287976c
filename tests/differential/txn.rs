//! Transactional request sequences: bad input and each step of a transaction's life, sent to
//! both brokers. Producer ids differ between clusters, so each broker gets requests with its
//! own id and the answers are compared with ids (and clock values) normalised.

use super::session::Session;
use crate::common::raw::{creatable_topic, fetch_topic, topic_name};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::time::{Duration, Instant};

const TOPIC: &str = "txd";
const TXN: &str = "txd-1";
const GROUP: &str = "txd-group";

fn txt(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn tid(v: &str) -> TransactionalId {
    TransactionalId(txt(v))
}

/// A producer id and epoch on each broker.
#[derive(Clone, Copy)]
struct Pids {
    kafka: (i64, i16),
    strom: (i64, i16),
}

fn txn_batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: seq + i as i32,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(Bytes::from_static(b"txn")),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode");
    buf.freeze()
}

fn produce(txn: Option<&str>, partition: i32, batch: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_transactional_id(txn.map(tid))
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(TOPIC))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch)),
                ]),
        ])
}

fn init(timeout: i32) -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(Some(tid(TXN)))
        .with_transaction_timeout_ms(timeout)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

fn add(txn: &str, (pid, epoch): (i64, i16), parts: &[(&str, i32)]) -> AddPartitionsToTxnRequest {
    let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
    for (t, p) in parts {
        match topics.iter_mut().find(|x| x.name.as_str() == *t) {
            Some(x) => x.partitions.push(*p),
            None => topics.push(
                AddPartitionsToTxnTopic::default()
                    .with_name(topic_name(t))
                    .with_partitions(vec![*p]),
            ),
        }
    }
    AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(tid(txn))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(topics)
}

fn end(txn: &str, (pid, epoch): (i64, i16), commit: bool) -> EndTxnRequest {
    EndTxnRequest::default()
        .with_transactional_id(tid(txn))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit)
}

fn read_committed(partition: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_isolation_level(1)
        .with_topics(vec![fetch_topic(TOPIC, partition, 0, 1 << 20)])
}

fn list_offsets(isolation: i8) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation)
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic_name(TOPIC))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1),
                ]),
        ])
}

fn describe_txn() -> DescribeTransactionsRequest {
    DescribeTransactionsRequest::default().with_transactional_ids(vec![tid(TXN), tid("txd-none")])
}

/// Producer ids and clock values differ between clusters; nothing else may.
fn norm_describe(r: &mut DescribeTransactionsResponse) {
    for t in &mut r.transaction_states {
        t.producer_id = ProducerId(if t.producer_id.0 >= 0 { 0 } else { -1 });
        if t.transaction_start_time_ms > 0 {
            t.transaction_start_time_ms = 1;
        }
    }
}

/// Waits until `TXN` is in `state` on both brokers (Kafka writes markers asynchronously).
fn wait_state(s: &mut Session, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (k, st) = s.send(&describe_txn(), 0);
        let is = |r: &Option<DescribeTransactionsResponse>| {
            r.as_ref()
                .and_then(|r| r.transaction_states.first())
                .is_some_and(|t| t.transaction_state.as_str() == state)
        };
        if is(&k) && is(&st) {
            return;
        }
        if Instant::now() > deadline {
            // Not fatal: the steps that follow show how the brokers differ.
            let state_of = |r: &Option<DescribeTransactionsResponse>| {
                r.as_ref()
                    .and_then(|r| r.transaction_states.first())
                    .map(|t| t.transaction_state.to_string())
            };
            eprintln!(
                "{TXN} did not reach {state}: kafka={:?} strom={:?}",
                state_of(&k),
                state_of(&st)
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn run(s: &mut Session) {
    let create = CreateTopicsRequest::default()
        .with_topics(vec![creatable_topic(TOPIC, 2, 1, &[])])
        .with_timeout_ms(10_000);
    // Topic configs are compared by the create_topics steps; here only the outcome.
    s.step_with(
        "txn.create_topic",
        &create,
        7,
        |r: &mut CreateTopicsResponse| {
            for t in &mut r.topics {
                t.configs = None;
            }
        },
    );
    // The first FindCoordinator creates __transaction_state; wait until each broker answers
    // InitProducerId (once: its id is initialised again below, so both are at epoch 1).
    let find = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![txt(TXN)]);
    for kafka in [true, false] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = s
                .send_one(kafka, &find, 4)
                .is_some_and(|r| r.coordinators.iter().all(|c| c.error_code == 0));
            let answered = found
                && s.send_one(kafka, &init(60_000), 4)
                    .is_some_and(|r| !matches!(r.error_code, 14..=16));
            if answered {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "transaction coordinator not ready"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    // Bad input to InitProducerId.
    s.step("txn.init_zero_timeout", &init(0), 4);
    s.step("txn.init_timeout_above_max", &init(900_001), 4);
    s.step(
        "txn.init_empty_id",
        &init(60_000).with_transactional_id(Some(tid(""))),
        4,
    );
    s.step(
        "txn.init_pid_without_epoch",
        &init(60_000)
            .with_producer_id(ProducerId(5))
            .with_producer_epoch(-1),
        4,
    );
    let (k, st) = s.step_with("txn.init", &init(60_000), 4, |r| {
        r.producer_id = ProducerId(0)
    });
    let (Some(k), Some(st)) = (k, st) else {
        panic!("InitProducerId failed on a broker");
    };
    let p = Pids {
        kafka: (k.producer_id.0, k.producer_epoch),
        strom: (st.producer_id.0, st.producer_epoch),
    };
    let both = |s: &mut Session,
                step: &str,
                make: &dyn Fn((i64, i16)) -> AddPartitionsToTxnRequest,
                v: i16| {
        s.step_each(step, &make(p.kafka), &make(p.strom), v, |_| {});
    };
    // AddPartitionsToTxn: unknown topic, fenced epoch (v3 and v1), wrong producer id, unknown id.
    both(
        s,
        "txn.add_unknown_topic",
        &|x| add(TXN, x, &[(TOPIC, 0), ("txd-nope", 0)]),
        3,
    );
    both(
        s,
        "txn.add_unknown_partition",
        &|x| add(TXN, x, &[(TOPIC, 7)]),
        3,
    );
    both(
        s,
        "txn.add_fenced_epoch",
        &|(pid, e)| add(TXN, (pid, e + 1), &[(TOPIC, 0)]),
        3,
    );
    both(
        s,
        "txn.add_fenced_epoch_v1",
        &|(pid, e)| add(TXN, (pid, e + 1), &[(TOPIC, 0)]),
        1,
    );
    both(
        s,
        "txn.add_wrong_pid",
        &|(pid, e)| add(TXN, (pid + 100_000, e), &[(TOPIC, 0)]),
        3,
    );
    both(
        s,
        "txn.add_unknown_txn",
        &|x| add("txd-none", x, &[(TOPIC, 0)]),
        3,
    );
    // EndTxn with no transaction open.
    s.step_each(
        "txn.end_commit_empty",
        &end(TXN, p.kafka, true),
        &end(TXN, p.strom, true),
        3,
        |_| {},
    );
    s.step_each(
        "txn.end_abort_empty",
        &end(TXN, p.kafka, false),
        &end(TXN, p.strom, false),
        3,
        |_| {},
    );
    s.step_each(
        "txn.end_fenced",
        &end(TXN, (p.kafka.0, p.kafka.1 + 1), true),
        &end(TXN, (p.strom.0, p.strom.1 + 1), true),
        3,
        |_| {},
    );
    // A transactional write without a transactional id, then to a partition not added.
    s.step_each(
        "txn.produce_without_txn_id",
        &produce(None, 0, txn_batch(p.kafka.0, p.kafka.1, 0, 2)),
        &produce(None, 0, txn_batch(p.strom.0, p.strom.1, 0, 2)),
        9,
        clear_produce_messages,
    );
    s.step_each(
        "txn.produce_not_added",
        &produce(Some(TXN), 1, txn_batch(p.kafka.0, p.kafka.1, 0, 2)),
        &produce(Some(TXN), 1, txn_batch(p.strom.0, p.strom.1, 0, 2)),
        9,
        clear_produce_messages,
    );
    // The transaction: partition 0 added, 3 records written.
    both(s, "txn.add_ok", &|x| add(TXN, x, &[(TOPIC, 0)]), 3);
    both(s, "txn.add_again", &|x| add(TXN, x, &[(TOPIC, 0)]), 3);
    s.step_each(
        "txn.produce_ok",
        &produce(Some(TXN), 0, txn_batch(p.kafka.0, p.kafka.1, 0, 3)),
        &produce(Some(TXN), 0, txn_batch(p.strom.0, p.strom.1, 0, 3)),
        9,
        |_| {},
    );
    s.step_with(
        "txn.fetch_read_committed_open",
        &read_committed(0),
        12,
        norm_fetch,
    );
    s.step("txn.list_offsets_committed_open", &list_offsets(1), 7);
    s.step("txn.list_offsets_uncommitted_open", &list_offsets(0), 7);
    s.step_with("txn.describe_ongoing", &describe_txn(), 0, norm_describe);
    let list = ListTransactionsRequest::default()
        .with_state_filters(vec![txt("Ongoing"), txt("Bogus")])
        .with_duration_filter(-1);
    s.step_with(
        "txn.list_ongoing",
        &list,
        1,
        |r: &mut ListTransactionsResponse| {
            r.transaction_states
                .retain(|t| t.transactional_id.as_str().starts_with("txd"));
            for t in &mut r.transaction_states {
                t.producer_id = ProducerId(0);
            }
        },
    );
    let producers = DescribeProducersRequest::default().with_topics(vec![
        TopicRequest::default()
            .with_name(topic_name(TOPIC))
            .with_partition_indexes(vec![0, 1, 9]),
    ]);
    s.step_with(
        "txn.describe_producers_open",
        &producers,
        0,
        |r: &mut DescribeProducersResponse| {
            for t in &mut r.topics {
                for p in &mut t.partitions {
                    for a in &mut p.active_producers {
                        a.producer_id = ProducerId(0);
                        a.last_timestamp = 0;
                    }
                }
            }
        },
    );
    // Offsets in the transaction: before AddOffsetsToTxn the partition is not in it.
    let _ = s.send(
        &FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![txt(GROUP)]),
        4,
    );
    let txn_commit = |(pid, epoch): (i64, i16)| {
        TxnOffsetCommitRequest::default()
            .with_transactional_id(tid(TXN))
            .with_group_id(GroupId(txt(GROUP)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_generation_id(-1)
            .with_topics(vec![
                TxnOffsetCommitRequestTopic::default()
                    .with_name(topic_name(TOPIC))
                    .with_partitions(vec![
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(3)
                            .with_committed_leader_epoch(-1),
                    ]),
            ])
    };
    s.step_each(
        "txn.txn_offset_commit_not_added",
        &txn_commit(p.kafka),
        &txn_commit(p.strom),
        3,
        |_| {},
    );
    let add_offsets = |(pid, epoch): (i64, i16)| {
        AddOffsetsToTxnRequest::default()
            .with_transactional_id(tid(TXN))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(txt(GROUP)))
    };
    s.step_each(
        "txn.add_offsets",
        &add_offsets(p.kafka),
        &add_offsets(p.strom),
        3,
        |_| {},
    );
    s.step_each(
        "txn.txn_offset_commit",
        &txn_commit(p.kafka),
        &txn_commit(p.strom),
        3,
        |_| {},
    );
    let fetch_offsets = OffsetFetchRequest::default()
        .with_group_id(GroupId(txt(GROUP)))
        .with_require_stable(true)
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(topic_name(TOPIC))
                .with_partition_indexes(vec![0]),
        ]));
    s.step("txn.offset_fetch_require_stable_pending", &fetch_offsets, 7);
    s.step(
        "txn.offset_fetch_pending",
        &fetch_offsets.clone().with_require_stable(false),
        7,
    );
    // Commit after abort is refused; abort; retries of the abort succeed.
    s.step_each(
        "txn.end_abort",
        &end(TXN, p.kafka, false),
        &end(TXN, p.strom, false),
        3,
        |_| {},
    );
    wait_state(s, "CompleteAbort");
    s.step_each(
        "txn.end_abort_retry",
        &end(TXN, p.kafka, false),
        &end(TXN, p.strom, false),
        3,
        |_| {},
    );
    s.step_each(
        "txn.end_commit_after_abort",
        &end(TXN, p.kafka, true),
        &end(TXN, p.strom, true),
        3,
        |_| {},
    );
    s.step_with(
        "txn.fetch_read_committed_aborted",
        &read_committed(0),
        12,
        norm_fetch,
    );
    s.step("txn.list_offsets_committed_done", &list_offsets(1), 7);
    s.step("txn.offset_fetch_after_abort", &fetch_offsets, 7);
    s.step_with("txn.describe_aborted", &describe_txn(), 0, norm_describe);
    // A new instance bumps the epoch; the old one is fenced.
    let (k, st) = s.step_with("txn.init_again", &init(60_000), 4, |r| {
        r.producer_id = ProducerId(0)
    });
    let (Some(k), Some(st)) = (k, st) else {
        panic!("second InitProducerId failed on a broker");
    };
    let q = Pids {
        kafka: (k.producer_id.0, k.producer_epoch),
        strom: (st.producer_id.0, st.producer_epoch),
    };
    s.step_each(
        "txn.add_old_epoch",
        &add(TXN, p.kafka, &[(TOPIC, 0)]),
        &add(TXN, p.strom, &[(TOPIC, 0)]),
        3,
        |_| {},
    );
    // Transaction version 2: EndTxn v5 bumps the epoch, also for an abort with nothing open.
    let norm_end = |r: &mut EndTxnResponse| {
        if r.producer_id.0 >= 0 {
            r.producer_id = ProducerId(0);
        }
    };
    s.step_each(
        "txn.v5_commit_empty",
        &end(TXN, q.kafka, true),
        &end(TXN, q.strom, true),
        5,
        norm_end,
    );
    s.step_each(
        "txn.v5_abort_empty",
        &end(TXN, q.kafka, false),
        &end(TXN, q.strom, false),
        5,
        norm_end,
    );
    wait_state(s, "CompleteAbort");
    s.step_each(
        "txn.v5_abort_retry_old_epoch",
        &end(TXN, q.kafka, false),
        &end(TXN, q.strom, false),
        5,
        norm_end,
    );
    // Produce v12 adds partition 1 implicitly (epoch bumped by the v5 abort).
    let r = (q.kafka.0, q.kafka.1 + 1);
    let t = (q.strom.0, q.strom.1 + 1);
    s.step_each(
        "txn.v12_produce_implicit_add",
        &produce(Some(TXN), 1, txn_batch(r.0, r.1, 0, 2)),
        &produce(Some(TXN), 1, txn_batch(t.0, t.1, 0, 2)),
        12,
        |_| {},
    );
    s.step_with("txn.describe_implicit", &describe_txn(), 0, norm_describe);
    s.step_each(
        "txn.v5_commit",
        &end(TXN, r, true),
        &end(TXN, t, true),
        5,
        norm_end,
    );
    wait_state(s, "CompleteCommit");
    s.step_each(
        "txn.v5_commit_retry",
        &end(TXN, r, true),
        &end(TXN, t, true),
        5,
        norm_end,
    );
}

fn clear_produce_messages(r: &mut ProduceResponse) {
    for t in &mut r.responses {
        for p in &mut t.partition_responses {
            p.error_message = None;
        }
    }
}

/// Stored batches carry each cluster's producer id and clock; compare offsets and lists.
fn norm_fetch(r: &mut FetchResponse) {
    for t in &mut r.responses {
        for p in &mut t.partitions {
            let size = p.records.as_ref().map_or(0, |b| b.len());
            p.records = Some(Bytes::from(format!("{size} bytes")));
            for a in p.aborted_transactions.iter_mut().flatten() {
                a.producer_id = ProducerId(0);
            }
        }
    }
}
