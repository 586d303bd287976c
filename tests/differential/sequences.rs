//! The scripted request sequences. Every step name is `area.case`; the allow-list refers to it.

use super::session::Session;
use crate::common::raw::{creatable_topic, fetch_topic, produce_req, record_batch, topic_name};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn txt(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub fn run_all(s: &mut Session) {
    wait_ready(s);
    api_versions(s);
    create_topics(s);
    metadata(s);
    let batch = record_batch(3, None);
    produce(s, &batch);
    fetch(s, &batch);
    list_offsets(s, &batch);
    groups(s);
    init_producer_id(s);
    describe_configs(s);
    produce_records_checked(s);
    delete_topics(s);
}

/// Kafka may accept connections before its broker has registered; wait until both list a broker.
fn wait_ready(s: &mut Session) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let has_broker =
        |r: &Option<MetadataResponse>| r.as_ref().is_some_and(|r| !r.brokers.is_empty());
    loop {
        let (k, st) = s.send(&metadata_req(Some(&[])), 12);
        if has_broker(&k) && has_broker(&st) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "brokers not ready: kafka={k:?} strom={st:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// For each API Strom advertises, Kafka must advertise it too, with Strom's range inside Kafka's.
fn api_versions(s: &mut Session) {
    let req = ApiVersionsRequest::default()
        .with_client_software_name(txt("strom-differential"))
        .with_client_software_version(txt("1.0"));
    let (k, st) = s.send(&req, 3);
    let (k, st) = (
        k.expect("Kafka ApiVersions"),
        st.expect("Strom ApiVersions"),
    );
    let kafka: BTreeMap<i16, (i16, i16)> = k
        .api_keys
        .iter()
        .map(|a| (a.api_key, (a.min_version, a.max_version)))
        .collect();
    let (mut kv, mut sv) = (BTreeMap::new(), BTreeMap::new());
    for a in &st.api_keys {
        let name = ApiKey::try_from(a.api_key)
            .map(|k| format!("{k:?}"))
            .unwrap_or_else(|_| a.api_key.to_string());
        let (kmin, kmax) = kafka.get(&a.api_key).copied().unwrap_or((-1, -1));
        // Strom may advertise less than Kafka; only a range outside Kafka's is a difference.
        let min_ok = kmin >= 0 && a.min_version >= kmin;
        let max_ok = kmax >= 0 && a.max_version <= kmax;
        for (field, ok, kval, sval) in [
            ("min_version", min_ok, kmin, a.min_version),
            ("max_version", max_ok, kmax, a.max_version),
        ] {
            let key = format!("api_keys[{name}].{field}");
            kv.insert(key.clone(), kval.to_string());
            sv.insert(key, if ok { kval } else { sval }.to_string());
        }
    }
    kv.insert("error_code".into(), k.error_code.to_string());
    sv.insert("error_code".into(), st.error_code.to_string());
    eprintln!(
        "api_versions: {} APIs Strom advertises checked against Kafka's",
        st.api_keys.len()
    );
    s.compare_flat("api_versions.v3", &kv, &sv);
}

fn create(s: &mut Session, step: &str, topic: CreatableTopic, validate_only: bool) {
    let req = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(10_000)
        .with_validate_only(validate_only);
    // Compare configs by name: the order of the returned topic configs is not part of the contract.
    s.step_with(step, &req, 7, |r: &mut CreateTopicsResponse| {
        for t in &mut r.topics {
            if let Some(c) = t.configs.as_mut() {
                c.sort_by(|a, b| a.name.cmp(&b.name));
            }
        }
    });
}

fn create_topics(s: &mut Session) {
    create(
        s,
        "create_topics.ok_t1",
        creatable_topic("t1", 1, 1, &[]),
        false,
    );
    create(
        s,
        "create_topics.ok_three_partitions",
        creatable_topic("t3", 3, 1, &[]),
        false,
    );
    create(
        s,
        "create_topics.ok_empty",
        creatable_topic("empty", 1, 1, &[]),
        false,
    );
    create(
        s,
        "create_topics.ok_with_config",
        creatable_topic(
            "cfg",
            1,
            1,
            &[("retention.ms", "123456"), ("cleanup.policy", "compact")],
        ),
        false,
    );
    create(
        s,
        "create_topics.bad_name_space",
        creatable_topic("bad name", 1, 1, &[]),
        false,
    );
    create(
        s,
        "create_topics.bad_name_dots",
        creatable_topic("..", 1, 1, &[]),
        false,
    );
    let long = "x".repeat(250);
    create(
        s,
        "create_topics.bad_name_250",
        creatable_topic(&long, 1, 1, &[]),
        false,
    );
    create(
        s,
        "create_topics.partitions_zero",
        creatable_topic("p0", 0, 1, &[]),
        false,
    );
    create(
        s,
        "create_topics.partitions_negative",
        creatable_topic("pn", -5, 1, &[]),
        false,
    );
    create(
        s,
        "create_topics.replication_3",
        creatable_topic("rf3", 1, 3, &[]),
        false,
    );
    create(
        s,
        "create_topics.duplicate",
        creatable_topic("t1", 1, 1, &[]),
        false,
    );
    create(
        s,
        "create_topics.bad_config_value",
        creatable_topic("badv", 1, 1, &[("retention.ms", "abc")]),
        false,
    );
    create(
        s,
        "create_topics.unknown_config",
        creatable_topic("badk", 1, 1, &[("no.such.config", "1")]),
        false,
    );
    create(
        s,
        "create_topics.ok_validate_only",
        creatable_topic("vo", 2, 1, &[]),
        true,
    );
}

fn metadata_req(topics: Option<&[&str]>) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                .collect()
        }))
        .with_allow_auto_topic_creation(false)
}

/// Kafka lists topics and partitions in hash order; the order carries no meaning.
fn sort_metadata(r: &mut MetadataResponse) {
    r.topics.sort_by(|a, b| a.name.cmp(&b.name));
    for t in &mut r.topics {
        t.partitions.sort_by_key(|p| p.partition_index);
    }
}

fn metadata(s: &mut Session) {
    for v in [4, 12] {
        s.step_with(
            &format!("metadata.all.v{v}"),
            &metadata_req(None),
            v,
            sort_metadata,
        );
        let named = metadata_req(Some(&["t3", "t1"]));
        s.step_with(&format!("metadata.named.v{v}"), &named, v, sort_metadata);
    }
    s.step("metadata.unknown", &metadata_req(Some(&["nope"])), 12);
    s.step(
        "metadata.invalid_name",
        &metadata_req(Some(&["bad name"])),
        12,
    );
    // validate-only must not have created the topic.
    s.step(
        "metadata.validate_only_absent",
        &metadata_req(Some(&["vo"])),
        12,
    );
}

/// A magic-1 (v1 message format) message set with one message.
fn magic1_message_set() -> Bytes {
    let mut msg = BytesMut::new();
    msg.put_i8(1); // magic
    msg.put_i8(0); // attributes
    msg.put_i64(0); // timestamp
    msg.put_i32(-1); // null key
    msg.put_i32(5);
    msg.put_slice(b"hello");
    let crc = crc32fast::hash(&msg);
    let mut set = BytesMut::new();
    set.put_i64(0);
    set.put_i32(4 + msg.len() as i32);
    set.put_u32(crc);
    set.put_slice(&msg);
    set.freeze()
}

fn produce(s: &mut Session, batch: &Bytes) {
    s.step("produce.good", &produce_req("t1", 0, batch.clone(), -1), 9);
    // A second batch, so the log holds offsets 0-2 and 3-4 in two batches.
    let second = record_batch(2, None);
    s.step("produce.second_batch", &produce_req("t1", 0, second, -1), 9);
    let mut two = BytesMut::from(&record_batch(2, None)[..]);
    two.extend_from_slice(&record_batch(2, None));
    s.step(
        "produce.two_batches",
        &produce_req("t1", 0, two.freeze(), -1),
        9,
    );
    let mut corrupt = BytesMut::from(&batch[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    s.step(
        "produce.corrupt_crc",
        &produce_req("t1", 0, corrupt.freeze(), -1),
        9,
    );
    s.step(
        "produce.magic1",
        &produce_req("t1", 0, magic1_message_set(), -1),
        9,
    );
    let big = record_batch(400, None);
    assert!(
        big.len() > 2048,
        "the oversize batch exceeds message.max.bytes"
    );
    s.step("produce.oversize", &produce_req("t1", 0, big, -1), 9);
    s.step(
        "produce.unknown_topic",
        &produce_req("nope", 0, batch.clone(), -1),
        9,
    );
    s.step(
        "produce.unknown_partition",
        &produce_req("t1", 7, batch.clone(), -1),
        9,
    );
    s.step("produce.acks_2", &produce_req("t1", 0, batch.clone(), 2), 9);
    s.step("produce.acks_1", &produce_req("t3", 1, batch.clone(), 1), 9);
}

/// Kafka's LogValidator walks every record, compressed or not: record structure, counts and
/// decompression failures are refused at produce time.
fn produce_records_checked(s: &mut Session) {
    use crate::batches::{batch_bytes, compress, record};
    let records = [record(0, 0, b"a"), record(1, 1, b"bc")].concat();
    for (codec, name) in [(1, "gzip"), (2, "snappy"), (3, "lz4"), (4, "zstd")] {
        let good = batch_bytes(codec, 2, &compress(codec as u8, false, &records));
        s.step(
            &format!("produce.records_{name}_good"),
            &produce_req("t1", 0, good.into(), -1),
            9,
        );
        let miscounted = batch_bytes(codec, 3, &compress(codec as u8, false, &records));
        s.step(
            &format!("produce.records_{name}_count_mismatch"),
            &produce_req("t1", 0, miscounted.into(), -1),
            9,
        );
        let mut compressed = compress(codec as u8, false, &records);
        compressed.truncate(compressed.len() - 4);
        s.step(
            &format!("produce.records_{name}_truncated"),
            &produce_req("t1", 0, batch_bytes(codec, 2, &compressed).into(), -1),
            9,
        );
        let garbage = batch_bytes(codec, 2, b"these bytes are not compressed at all");
        s.step(
            &format!("produce.records_{name}_garbage"),
            &produce_req("t1", 0, garbage.into(), -1),
            9,
        );
    }
    let xerial = batch_bytes(2, 2, &compress(2, true, &records));
    s.step(
        "produce.records_snappy_xerial_good",
        &produce_req("t1", 0, xerial.into(), -1),
        9,
    );
    // A zstd frame asking for a 2 GiB window (libzstd refuses more than 128 MiB by default).
    let window = batch_bytes(4, 1, &[0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3, 0x01, 0, 0]);
    s.step(
        "produce.records_zstd_window_too_large",
        &produce_req("t1", 0, window.into(), -1),
        9,
    );
    // Uncompressed records whose fields do not add up to their length.
    let mut short_value = record(0, 0, b"abc");
    short_value[0] += 2; // two more bytes than the fields hold
    short_value.extend_from_slice(&[0, 0]);
    s.step(
        "produce.records_record_size_mismatch",
        &produce_req("t1", 0, batch_bytes(0, 1, &short_value).into(), -1),
        9,
    );
    let mut bad_headers = record(0, 0, b"abc");
    let last = bad_headers.len() - 1;
    bad_headers[last] = 1; // header count -1
    s.step(
        "produce.records_negative_header_count",
        &produce_req("t1", 0, batch_bytes(0, 1, &bad_headers).into(), -1),
        9,
    );
}

fn fetch_req(topic: &str, offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![fetch_topic(topic, 0, offset, 1 << 20)])
}

fn fetch(s: &mut Session, _batch: &Bytes) {
    for v in [4, 12] {
        s.step(&format!("fetch.at_zero.v{v}"), &fetch_req("t1", 0), v);
    }
    s.step("fetch.middle_of_batch", &fetch_req("t1", 4), 12);
    s.step("fetch.at_end", &fetch_req("t1", 5), 12);
    s.step("fetch.beyond_end", &fetch_req("t1", 100), 12);
    s.step("fetch.empty_partition", &fetch_req("empty", 0), 12);
    s.step("fetch.unknown_topic", &fetch_req("nope", 0), 12);
}

fn list_offsets_req(partition: i32, timestamp: i64) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic_name("t1"))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_timestamp(timestamp)
                        .with_current_leader_epoch(-1),
                ]),
        ])
}

fn list_offsets(s: &mut Session, batch: &Bytes) {
    // The v2 batch header keeps its base timestamp at byte 27.
    let base_ts = i64::from_be_bytes(batch[27..35].try_into().expect("invariant: 8 bytes"));
    for (name, ts) in [
        ("earliest", -2),
        ("latest", -1),
        ("max_timestamp", -3),
        ("by_time", base_ts + 1),
        ("by_time_after_all", base_ts + 3_600_000),
    ] {
        s.step(&format!("list_offsets.{name}"), &list_offsets_req(0, ts), 7);
        s.step(
            &format!("list_offsets.{name}.v9"),
            &list_offsets_req(0, ts),
            9,
        );
    }
    s.step("list_offsets.earliest.v1", &list_offsets_req(0, -2), 1);
    s.step(
        "list_offsets.unknown_partition",
        &list_offsets_req(9, -1),
        7,
    );
}

/// Versions 0-3 name one key; version 4 batches them.
fn find_coordinator(group: &str, version: i16) -> FindCoordinatorRequest {
    let req = FindCoordinatorRequest::default();
    if version < 4 {
        req.with_key(txt(group))
    } else {
        req.with_coordinator_keys(vec![txt(group)])
    }
}

fn commit(group: &str, topic: &str) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(txt(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(2)
                        .with_committed_leader_epoch(-1)
                        .with_committed_metadata(Some(txt("m"))),
                ]),
        ])
}

fn offset_fetch(group: &str) -> OffsetFetchRequest {
    OffsetFetchRequest::default()
        .with_group_id(GroupId(txt(group)))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(topic_name("t1"))
                .with_partition_indexes(vec![0]),
        ]))
}

/// A first join (no member id); the rebalance timeout exists from version 1.
fn join(protocols: bool, version: i16) -> JoinGroupRequest {
    let protocols = if protocols {
        vec![
            JoinGroupRequestProtocol::default()
                .with_name(txt("range"))
                .with_metadata(Bytes::from_static(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0])),
        ]
    } else {
        Vec::new()
    };
    JoinGroupRequest::default()
        .with_group_id(GroupId(txt("jg")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(if version > 0 { 10_000 } else { -1 })
        .with_protocol_type(txt("consumer"))
        .with_protocols(protocols)
}

fn groups(s: &mut Session) {
    // Kafka creates __consumer_offsets on the first lookup and answers
    // COORDINATOR_NOT_AVAILABLE until it is ready; wait for both to settle first.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (k, st) = s.send(&find_coordinator("g1", 3), 3);
        let ready =
            |r: &Option<FindCoordinatorResponse>| r.as_ref().is_some_and(|r| r.error_code == 0);
        if ready(&k) && ready(&st) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    s.step("find_coordinator.v3", &find_coordinator("g1", 3), 3);
    s.step("find_coordinator.v4", &find_coordinator("g1", 4), 4);
    s.step("offset_commit.simple", &commit("gs", "t1"), 8);
    s.step("offset_fetch.after_commit", &offset_fetch("gs"), 7);
    s.step("offset_fetch.unknown_group", &offset_fetch("nogroup"), 7);
    s.step("offset_commit.unknown_topic", &commit("gs", "nope"), 8);
    s.step("offset_commit.simple.v2", &commit("gs2", "t1"), 2);
    s.step("join_group.v0", &join(true, 0), 0);
    s.step("join_group.v5_member_id_required", &join(true, 5), 5);
    s.step("join_group.v5_no_protocols", &join(false, 5), 5);
}

fn init_producer_id(s: &mut Session) {
    let req = InitProducerIdRequest::default()
        .with_transaction_timeout_ms(60_000)
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    s.step("init_producer_id.idempotent", &req, 4);
}

/// Compares names, values and sources of the topic configs both brokers describe.
fn describe_configs(s: &mut Session) {
    // A null key list asks for every config; Kafka reads an empty list the same way.
    for (topic, keys) in [("t1", None), ("cfg", None), ("cfg", Some(Vec::new()))] {
        let label = if keys.is_some() {
            ".empty_key_list"
        } else {
            ""
        };
        let req = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(txt(topic))
                .with_configuration_keys(keys),
        ]);
        let (k, st) = s.send(&req, 4);
        let view = |r: &Option<DescribeConfigsResponse>| -> BTreeMap<String, String> {
            let mut m = BTreeMap::new();
            for res in r.iter().flat_map(|r| &r.results) {
                m.insert("error_code".to_string(), res.error_code.to_string());
                m.insert(
                    "configs.is_empty".to_string(),
                    res.configs.is_empty().to_string(),
                );
                for c in &res.configs {
                    m.insert(
                        format!("configs[{}].value", c.name),
                        format!("{:?}", c.value),
                    );
                    m.insert(
                        format!("configs[{}].source", c.name),
                        c.config_source.to_string(),
                    );
                }
            }
            m
        };
        let (mut kv, mut sv) = (view(&k), view(&st));
        let names_k: Vec<String> = kv.keys().cloned().collect();
        kv.retain(|key, _| sv.contains_key(key));
        sv.retain(|key, _| names_k.contains(key));
        eprintln!(
            "describe_configs {topic}{label}: {} of {} (Kafka) and {} (Strom) fields compared",
            kv.len(),
            names_k.len(),
            view(&st).len()
        );
        s.compare_flat(&format!("describe_configs.{topic}{label}"), &kv, &sv);
    }
}

fn delete_topics(s: &mut Session) {
    let by_state = DeleteTopicsRequest::default()
        .with_topics(vec![
            DeleteTopicState::default().with_name(Some(topic_name("nope"))),
        ])
        .with_timeout_ms(10_000);
    s.step("delete_topics.unknown.v6", &by_state, 6);
    let by_name = DeleteTopicsRequest::default()
        .with_topic_names(vec![topic_name("nope")])
        .with_timeout_ms(10_000);
    s.step("delete_topics.unknown.v4", &by_name, 4);
}
