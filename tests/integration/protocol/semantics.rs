//! Kafka semantics the clients rely on, checked at the protocol level: auto-creation,
//! validate-only creation, delete by id, min.insync.replicas, LogAppendTime, KIP-74,
//! incremental fetch sessions, and producer state across restarts.

use crate::common::TestBroker;
use crate::common::raw::{
    RawClient, base_offset, creatable_topic, fetch_topic, produce_to, record_batch,
    topic_name as name,
};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;

fn create(
    c: &mut RawClient,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
    validate_only: bool,
) -> i16 {
    let req = CreateTopicsRequest::default()
        .with_topics(vec![creatable_topic(topic, partitions, 1, configs)])
        .with_validate_only(validate_only);
    c.call(&req, 7).topics[0].error_code
}

fn metadata(
    c: &mut RawClient,
    topic: &str,
    auto_create: bool,
) -> metadata_response::MetadataResponseTopic {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(topic))),
        ]))
        .with_allow_auto_topic_creation(auto_create);
    c.call(&req, 12).topics.remove(0)
}

#[test]
fn metadata_auto_creates_only_when_allowed() {
    let b = TestBroker::start_with(&[("num.partitions", "4")]);
    let mut c = RawClient::connect(b.port);
    let t = metadata(&mut c, "not-yet", false);
    assert_eq!(t.error_code, ResponseError::UnknownTopicOrPartition.code());
    let t = metadata(&mut c, "auto", true);
    assert_eq!(t.error_code, 0);
    assert_eq!(t.partitions.len(), 4, "num.partitions applies");
    assert!(!t.topic_id.is_nil());
    let off = TestBroker::start_with(&[("auto.create.topics.enable", "false")]);
    let mut c = RawClient::connect(off.port);
    assert_eq!(
        metadata(&mut c, "auto", true).error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
}

#[test]
fn validate_only_creates_nothing_and_bad_configs_are_rejected() {
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    assert_eq!(
        create(&mut c, "dry", 3, &[("retention.ms", "1000")], true),
        0
    );
    assert_eq!(
        metadata(&mut c, "dry", false).error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    assert_eq!(
        create(&mut c, "badcfg", 1, &[("retention.ms", "soon")], false),
        ResponseError::InvalidConfig.code()
    );
    assert_eq!(
        create(&mut c, "badcfg", 1, &[("no.such.config", "1")], false),
        ResponseError::InvalidConfig.code()
    );
    assert_eq!(create(&mut c, "dry", 3, &[], false), 0);
}

#[test]
fn delete_by_topic_id_removes_the_topic_and_its_data() {
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    assert_eq!(create(&mut c, "doomed", 2, &[], false), 0);
    assert_eq!(
        produce_to(&mut c, "doomed", 0, record_batch(3, None), -1).error_code,
        0
    );
    let id = metadata(&mut c, "doomed", false).topic_id;
    let r = c.call(
        &DeleteTopicsRequest::default()
            .with_topics(vec![
                DeleteTopicState::default()
                    .with_name(None)
                    .with_topic_id(id),
            ])
            .with_timeout_ms(5000),
        6,
    );
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(
        r.responses[0].name.as_ref().map(|n| n.as_str()),
        Some("doomed")
    );
    assert_eq!(
        metadata(&mut c, "doomed", false).error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    crate::common::wait_for(std::time::Duration::from_secs(10), || {
        (!b.partition_dir("doomed", 0).exists()).then_some(())
    })
    .expect("partition directory renamed for deletion");
    // A new topic of the same name starts empty.
    assert_eq!(create(&mut c, "doomed", 1, &[], false), 0);
    assert_eq!(
        produce_to(&mut c, "doomed", 0, record_batch(1, None), -1).base_offset,
        0
    );
}

#[test]
fn min_insync_replicas_above_one_refuses_acks_all_only() {
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    assert_eq!(
        create(&mut c, "isr", 1, &[("min.insync.replicas", "2")], false),
        0
    );
    let r = produce_to(&mut c, "isr", 0, record_batch(1, None), -1);
    assert_eq!(r.error_code, ResponseError::NotEnoughReplicas.code());
    assert_eq!(
        produce_to(&mut c, "isr", 0, record_batch(1, None), 1).error_code,
        0
    );
}

#[test]
fn log_append_time_is_stamped_by_the_broker() {
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    assert_eq!(
        create(
            &mut c,
            "lat",
            1,
            &[("message.timestamp.type", "LogAppendTime")],
            false
        ),
        0
    );
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let r = produce_to(&mut c, "lat", 0, record_batch(2, None), -1);
    assert_eq!(r.error_code, 0);
    assert!(
        r.log_append_time_ms >= before,
        "log_append_time_ms {}",
        r.log_append_time_ms
    );
    let f = c.call(
        &FetchRequest::default()
            .with_max_bytes(1 << 20)
            .with_topics(vec![fetch_topic("lat", 0, 0, 1 << 20)]),
        12,
    );
    let batch = f.responses[0].partitions[0].records.clone().unwrap();
    let attributes = i16::from_be_bytes([batch[21], batch[22]]);
    assert_ne!(
        attributes & 0x08,
        0,
        "timestamp type bit says LogAppendTime"
    );
    let max_ts = i64::from_be_bytes(batch[35..43].try_into().unwrap());
    assert_eq!(max_ts, r.log_append_time_ms);
}

#[test]
fn first_batch_is_returned_whole_even_when_larger_than_max_bytes() {
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    assert_eq!(create(&mut c, "big", 1, &[], false), 0);
    let batch = record_batch(50, None);
    assert_eq!(
        produce_to(&mut c, "big", 0, batch.clone(), -1).error_code,
        0
    );
    assert_eq!(
        produce_to(&mut c, "big", 0, record_batch(50, None), -1).error_code,
        0
    );
    // max_bytes 10: KIP-74 still returns the first whole batch, and only it.
    let f = c.call(
        &FetchRequest::default()
            .with_max_bytes(10)
            .with_topics(vec![fetch_topic("big", 0, 0, 10)]),
        12,
    );
    let got = f.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(got.len(), batch.len());
    assert_eq!(base_offset(&got), 0);
    // Fetching from inside the second batch returns that batch from its start.
    let f = c.call(
        &FetchRequest::default()
            .with_max_bytes(1 << 20)
            .with_topics(vec![fetch_topic("big", 0, 75, 1 << 20)]),
        12,
    );
    assert_eq!(
        base_offset(&f.responses[0].partitions[0].records.clone().unwrap()),
        50
    );
}

#[test]
fn incremental_fetch_sessions_send_only_changes() {
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    assert_eq!(create(&mut c, "sess", 2, &[], false), 0);
    let full = c.call(
        &FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_session_id(0)
            .with_session_epoch(0)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(name("sess"))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(0)
                            .with_partition_max_bytes(1 << 20),
                        FetchPartition::default()
                            .with_partition(1)
                            .with_partition_max_bytes(1 << 20),
                    ]),
            ]),
        12,
    );
    assert_eq!(full.error_code, 0);
    assert_ne!(full.session_id, 0, "a session was created");
    assert_eq!(
        full.responses[0].partitions.len(),
        2,
        "the first response is full"
    );
    let incremental = |c: &mut RawClient, epoch: i32| {
        c.call(
            &FetchRequest::default()
                .with_max_wait_ms(0)
                .with_max_bytes(1 << 20)
                .with_session_id(full.session_id)
                .with_session_epoch(epoch),
            12,
        )
    };
    let nothing = incremental(&mut c, 1);
    assert_eq!(nothing.error_code, 0);
    assert!(
        nothing.responses.is_empty(),
        "no changes, no partitions: {:?}",
        nothing.responses
    );
    assert_eq!(
        produce_to(&mut c, "sess", 1, record_batch(4, None), -1).error_code,
        0
    );
    let changed = incremental(&mut c, 2);
    assert_eq!(changed.responses.len(), 1);
    assert_eq!(changed.responses[0].partitions.len(), 1);
    assert_eq!(changed.responses[0].partitions[0].partition_index, 1);
    assert_eq!(changed.responses[0].partitions[0].high_watermark, 4);
    // A stale epoch is refused.
    assert_eq!(
        incremental(&mut c, 2).error_code,
        ResponseError::InvalidFetchSessionEpoch.code()
    );
}

#[test]
fn producer_state_survives_clean_restart_and_kill_9() {
    let mut b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    assert_eq!(create(&mut c, "ps", 1, &[], false), 0);
    let init = c.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(1000),
        4,
    );
    let pid = init.producer_id.0;
    let first = record_batch(5, Some((pid, 0, 0)));
    let second = record_batch(5, Some((pid, 0, 5)));
    assert_eq!(produce_to(&mut c, "ps", 0, first, -1).base_offset, 0);
    assert_eq!(
        produce_to(&mut c, "ps", 0, second.clone(), -1).base_offset,
        5
    );
    drop(c);
    b.restart();
    let mut c = RawClient::connect(b.port);
    // The retry of the last batch is recognised after the restart: same offset, no new records.
    let r = produce_to(&mut c, "ps", 0, second.clone(), -1);
    assert_eq!((r.error_code, r.base_offset), (0, 5));
    assert_eq!(
        produce_to(&mut c, "ps", 0, record_batch(1, Some((pid, 0, 10))), -1).base_offset,
        10
    );
    drop(c);
    b.kill9();
    b.start_again();
    let mut c = RawClient::connect(b.port);
    let r = produce_to(&mut c, "ps", 0, record_batch(1, Some((pid, 0, 10))), -1);
    assert_eq!(
        (r.error_code, r.base_offset),
        (0, 10),
        "dedup after an unclean shutdown too"
    );
    let r = produce_to(&mut c, "ps", 0, record_batch(1, Some((pid, 0, 13))), -1);
    assert_eq!(r.error_code, ResponseError::OutOfOrderSequenceNumber.code());
    // A fresh producer id is never one handed out before the restart.
    let again = c.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(1000),
        4,
    );
    assert!(again.producer_id.0 > pid);
}

#[test]
fn metadata_never_auto_creates_internal_topics() {
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    let t = metadata(&mut c, "__consumer_offsets", true);
    assert_eq!(t.error_code, ResponseError::UnknownTopicOrPartition.code());
    assert!(t.partitions.is_empty(), "not created with num.partitions");
}
