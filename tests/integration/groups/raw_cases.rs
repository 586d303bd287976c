//! Byte-level group protocol cases with the raw client. Each case talks to a broker on
//! `port` and returns what it observed as `(step, value)` pairs, so the same case can be run
//! against Strom (asserting the expected values) and, by hand, against Apache Kafka.

use crate::common::raw::RawClient;
use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::time::{Duration, Instant};

pub type Observed = Vec<(String, String)>;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

fn code(c: i16) -> String {
    match kafka_protocol::ResponseError::try_from_code(c) {
        None => "NONE".to_string(),
        Some(e) => format!("{e:?}"),
    }
}

/// A `consumer` protocol subscription (v1) to `topic` with `user_data`, as Java clients
/// send it (Kafka decodes these to learn the group's topics).
pub fn subscription(topic: &str, user_data: Bytes) -> Bytes {
    use bytes::BufMut;
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Encodable;
    let sub = ConsumerProtocolSubscription::default()
        .with_topics(vec![s(topic)])
        .with_user_data(Some(user_data));
    let mut buf = bytes::BytesMut::new();
    buf.put_i16(1);
    sub.encode(&mut buf, 1).expect("encode subscription");
    buf.freeze()
}

fn sub() -> Bytes {
    subscription("raw-topic", Bytes::new())
}

/// FindCoordinator until the coordinator is ready (Kafka creates its topic asynchronously).
pub fn wait_for_coordinator(c: &mut RawClient, group: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = c.call(&FindCoordinatorRequest::default().with_key(s(group)), 3);
        if r.error_code == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no coordinator: {}",
            code(r.error_code)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn join_req(
    group: &str,
    member: &str,
    protocol_type: &str,
    protocols: &[(&str, Bytes)],
) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_member_id(s(member))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s(protocol_type))
        .with_protocols(
            protocols
                .iter()
                .map(|(n, m)| {
                    JoinGroupRequestProtocol::default()
                        .with_name(s(n))
                        .with_metadata(m.clone())
                })
                .collect(),
        )
}

/// Joins as a new dynamic member (MEMBER_ID_REQUIRED round trip) and returns the response.
pub fn join_new(c: &mut RawClient, group: &str, protocol_type: &str) -> JoinGroupResponse {
    let meta = [("range", sub())];
    wait_for_coordinator(c, group);
    let deadline = Instant::now() + Duration::from_secs(60);
    let first = loop {
        let r = c.call(&join_req(group, "", protocol_type, &meta), 5);
        // Kafka answers FindCoordinator before the group's partition is loaded.
        if !matches!(
            code(r.error_code).as_str(),
            "NotCoordinator" | "CoordinatorLoadInProgress"
        ) || Instant::now() > deadline
        {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(code(first.error_code), "MemberIdRequired");
    c.call(
        &join_req(group, first.member_id.as_str(), protocol_type, &meta),
        5,
    )
}

fn sync(
    c: &mut RawClient,
    group: &str,
    generation: i32,
    member: &str,
    ptype: Option<&str>,
    assignment: &[u8],
) -> SyncGroupResponse {
    let req = SyncGroupRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_protocol_type(ptype.map(s))
        .with_protocol_name(Some(s("range")))
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(s(member))
                .with_assignment(Bytes::copy_from_slice(assignment)),
        ]);
    c.call(&req, 5)
}

/// JoinGroup/SyncGroup/Heartbeat validation.
pub fn join_sync_heartbeat(port: u16) -> Observed {
    let mut out = Observed::new();
    let mut c = RawClient::connect(port);
    wait_for_coordinator(&mut c, "raw-join");
    let none: [(&str, Bytes); 0] = [];
    let r = c.call(&join_req("raw-join", "", "consumer", &none), 5);
    out.push(("empty protocol list".into(), code(r.error_code)));
    let meta = [("range", sub())];
    let r = c.call(&join_req("raw-join", "", "", &meta), 5);
    out.push(("empty protocol type".into(), code(r.error_code)));
    let r = c.call(
        &join_req("raw-join", "", "consumer", &meta).with_session_timeout_ms(1000),
        5,
    );
    out.push(("session timeout below minimum".into(), code(r.error_code)));
    let r = c.call(&join_req("raw-join", "", "consumer", &meta), 3);
    out.push((
        "v3 joins without a member id round trip".into(),
        code(r.error_code),
    ));
    let joined = join_new(&mut c, "raw-join-2", "consumer");
    out.push((
        "v5 rejoin with the given member id".into(),
        code(joined.error_code),
    ));
    let me = joined.member_id.to_string();
    out.push((
        "leader is the only member".into(),
        (joined.leader.as_str() == me).to_string(),
    ));
    out.push((
        "leader sees members".into(),
        joined.members.len().to_string(),
    ));
    let r = c.call(&join_req("raw-join-2", "", "connect", &meta), 5);
    out.push(("other protocol type".into(), code(r.error_code)));
    let generation = joined.generation_id;
    let r = sync(&mut c, "raw-join-2", generation, &me, Some("connect"), b"a");
    out.push(("sync with wrong protocol type".into(), code(r.error_code)));
    let r = sync(
        &mut c,
        "raw-join-2",
        generation + 1,
        &me,
        Some("consumer"),
        b"a",
    );
    out.push(("sync with stale generation".into(), code(r.error_code)));
    let r = sync(
        &mut c,
        "raw-join-2",
        generation,
        &me,
        Some("consumer"),
        b"assignment",
    );
    out.push((
        "sync".into(),
        format!("{} {:?}", code(r.error_code), r.assignment),
    ));
    let hb = |c: &mut RawClient, member: &str, generation: i32| {
        let req = HeartbeatRequest::default()
            .with_group_id(gid("raw-join-2"))
            .with_member_id(s(member))
            .with_generation_id(generation);
        code(c.call(&req, 4).error_code)
    };
    out.push(("heartbeat".into(), hb(&mut c, &me, generation)));
    out.push((
        "heartbeat unknown member".into(),
        hb(&mut c, "nobody", generation),
    ));
    out.push((
        "heartbeat stale generation".into(),
        hb(&mut c, &me, generation - 1),
    ));
    let leave = LeaveGroupRequest::default()
        .with_group_id(gid("raw-join-2"))
        .with_members(vec![
            MemberIdentity::default().with_member_id(s(&me)),
            MemberIdentity::default().with_member_id(s("nobody")),
        ]);
    let r = c.call(&leave, 5);
    let per_member: Vec<String> = r.members.iter().map(|m| code(m.error_code)).collect();
    out.push((
        "batch leave".into(),
        format!("{} {per_member:?}", code(r.error_code)),
    ));
    out
}

/// A member with a huge metadata blob (2 MiB, above `message.max.bytes`).
pub fn oversized_metadata(port: u16) -> Observed {
    let mut out = Observed::new();
    let mut c = RawClient::connect(port);
    wait_for_coordinator(&mut c, "raw-big");
    let big = subscription("raw-topic", Bytes::from(vec![7u8; 2 * 1024 * 1024]));
    let meta = [("range", big)];
    let first = c.call(&join_req("raw-big", "", "consumer", &meta), 5);
    out.push(("first join".into(), code(first.error_code)));
    let r = c.call(
        &join_req("raw-big", first.member_id.as_str(), "consumer", &meta),
        5,
    );
    out.push(("join".into(), code(r.error_code)));
    if r.error_code == 0 {
        let me = r.member_id.to_string();
        let s = sync(
            &mut c,
            "raw-big",
            r.generation_id,
            &me,
            Some("consumer"),
            b"x",
        );
        out.push(("sync".into(), code(s.error_code)));
    }
    out
}

fn commit_req(
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    offset: i64,
    metadata: &str,
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(3)
                        .with_committed_metadata(Some(s(metadata))),
                ]),
        ])
}

fn commit_code(c: &mut RawClient, req: &OffsetCommitRequest, version: i16) -> String {
    code(c.call(req, version).topics[0].partitions[0].error_code)
}

/// OffsetCommit/OffsetFetch/OffsetDelete rules. `topic` must exist with one partition.
pub fn offsets(port: u16, topic: &str) -> Observed {
    let mut out = Observed::new();
    let mut c = RawClient::connect(port);
    wait_for_coordinator(&mut c, "raw-simple");
    let r = commit_code(
        &mut c,
        &commit_req("raw-simple", -1, "", "no-such-topic", 1, ""),
        8,
    );
    out.push(("commit to unknown topic".into(), r));
    let r = commit_code(
        &mut c,
        &commit_req("raw-simple", -1, "", topic, 42, "meta"),
        8,
    );
    out.push(("simple commit".into(), r));
    let long = "x".repeat(5000);
    let r = commit_code(
        &mut c,
        &commit_req("raw-simple", -1, "", topic, 43, &long),
        8,
    );
    out.push(("metadata too large".into(), r));
    let fetch = OffsetFetchRequest::default()
        .with_group_id(gid("raw-simple"))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partition_indexes(vec![0, 1]),
        ]));
    let r = c.call(&fetch, 7);
    let p: Vec<String> = r.topics[0]
        .partitions
        .iter()
        .map(|p| {
            format!(
                "{}:{}:{}:{:?}:{}",
                p.partition_index,
                p.committed_offset,
                p.committed_leader_epoch,
                p.metadata.as_ref().map(|m| m.to_string()),
                code(p.error_code)
            )
        })
        .collect();
    out.push(("fetch v7".into(), format!("{} {p:?}", code(r.error_code))));
    let all = c.call(
        &OffsetFetchRequest::default()
            .with_group_id(gid("raw-simple"))
            .with_topics(None),
        7,
    );
    out.push((
        "fetch all".into(),
        format!(
            "{}",
            all.topics.iter().map(|t| t.partitions.len()).sum::<usize>()
        ),
    ));
    let r = commit_code(&mut c, &commit_req("raw-ghost", 5, "m", topic, 1, ""), 8);
    out.push(("generation commit to unknown group v8".into(), r));
    let r = commit_code(&mut c, &commit_req("raw-ghost", 5, "m", topic, 1, ""), 9);
    out.push(("generation commit to unknown group v9".into(), r));
    let joined = join_new(&mut c, "raw-member", "consumer");
    let me = joined.member_id.to_string();
    let generation = joined.generation_id;
    let r = commit_code(
        &mut c,
        &commit_req("raw-member", generation, &me, topic, 1, ""),
        8,
    );
    out.push(("member commit before sync".into(), r));
    sync(
        &mut c,
        "raw-member",
        generation,
        &me,
        Some("consumer"),
        b"a",
    );
    let r = commit_code(
        &mut c,
        &commit_req("raw-member", generation, &me, topic, 1, ""),
        8,
    );
    out.push(("member commit".into(), r));
    let r = commit_code(
        &mut c,
        &commit_req("raw-member", generation - 1, &me, topic, 1, ""),
        8,
    );
    out.push(("stale generation commit".into(), r));
    let r = commit_code(
        &mut c,
        &commit_req("raw-member", generation, "stranger", topic, 1, ""),
        8,
    );
    out.push(("unknown member commit".into(), r));
    let r = commit_code(&mut c, &commit_req("raw-member", -1, "", topic, 1, ""), 8);
    out.push(("simple commit to active group".into(), r));
    let del = |group: &str, t: &str| {
        OffsetDeleteRequest::default()
            .with_group_id(gid(group))
            .with_topics(vec![
                OffsetDeleteRequestTopic::default()
                    .with_name(TopicName(s(t)))
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(0),
                    ]),
            ])
    };
    let r = c.call(&del("raw-member", topic), 0);
    out.push((
        "offset delete of active classic group".into(),
        code(r.error_code),
    ));
    let r = c.call(&del("raw-nobody", topic), 0);
    out.push(("offset delete of unknown group".into(), code(r.error_code)));
    let r = c.call(&del("raw-simple", topic), 0);
    let parts: Vec<String> = r
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| code(p.error_code)))
        .collect();
    out.push((
        "offset delete".into(),
        format!("{} {parts:?}", code(r.error_code)),
    ));
    let r = c.call(&fetch, 7);
    out.push((
        "fetch after delete".into(),
        r.topics[0].partitions[0].committed_offset.to_string(),
    ));
    out
}

/// Static membership: a second instance with the same `group.instance.id` is fenced.
pub fn static_fencing(port: u16) -> Observed {
    let mut out = Observed::new();
    let mut c = RawClient::connect(port);
    wait_for_coordinator(&mut c, "raw-static");
    let meta = [("range", sub())];
    let join = |member: &str| {
        join_req("raw-static", member, "consumer", &meta)
            .with_group_instance_id(Some(s("instance-1")))
    };
    let first = c.call(&join(""), 5);
    out.push(("static join".into(), code(first.error_code)));
    let old = first.member_id.to_string();
    sync(
        &mut c,
        "raw-static",
        first.generation_id,
        &old,
        Some("consumer"),
        b"mine",
    );
    let r = c.call(&join("someone-else"), 5);
    out.push(("join with another member id".into(), code(r.error_code)));
    let again = c.call(&join(""), 5);
    out.push((
        "restarted instance".into(),
        format!(
            "{} same generation: {}",
            code(again.error_code),
            again.generation_id == first.generation_id
        ),
    ));
    let hb = HeartbeatRequest::default()
        .with_group_id(gid("raw-static"))
        .with_member_id(s(&old))
        .with_group_instance_id(Some(s("instance-1")))
        .with_generation_id(first.generation_id);
    out.push((
        "old member heartbeat".into(),
        code(c.call(&hb, 4).error_code),
    ));
    let new = again.member_id.to_string();
    let r = sync(
        &mut c,
        "raw-static",
        again.generation_id,
        &new,
        Some("consumer"),
        b"",
    );

    out.push((
        "restarted instance keeps its assignment".into(),
        format!("{} {:?}", code(r.error_code), r.assignment),
    ));
    out
}

/// FindCoordinator: both key types, batched keys, an unknown key type.
pub fn find_coordinator(port: u16) -> Observed {
    let mut out = Observed::new();
    let mut c = RawClient::connect(port);
    wait_for_coordinator(&mut c, "raw-find");
    let r = c.call(
        &FindCoordinatorRequest::default().with_key(s("raw-find")),
        0,
    );
    out.push((
        "v0".into(),
        format!("{} {}", code(r.error_code), r.port == i32::from(port)),
    ));
    let r = c.call(
        &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("a"), s("b")]),
        4,
    );
    let found: Vec<String> = r
        .coordinators
        .iter()
        .map(|k| format!("{}:{}", k.key.as_str(), code(k.error_code)))
        .collect();
    out.push(("v4 batched".into(), format!("{found:?}")));
    let deadline = Instant::now() + Duration::from_secs(60);
    let txn = loop {
        let r = c.call(
            &FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![s("txn-1")]),
            4,
        );
        if r.coordinators[0].error_code == 0 || Instant::now() > deadline {
            break code(r.coordinators[0].error_code);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    out.push(("transaction key".into(), txn));
    let r = c.call(
        &FindCoordinatorRequest::default()
            .with_key_type(7)
            .with_key(s("x")),
        3,
    );
    out.push(("unknown key type".into(), code(r.error_code)));
    out
}

/// ListGroups, DescribeGroups and DeleteGroups answers.
pub fn admin(port: u16) -> Observed {
    let mut out = Observed::new();
    let mut c = RawClient::connect(port);
    wait_for_coordinator(&mut c, "raw-admin");
    let joined = join_new(&mut c, "raw-admin", "consumer");
    let me = joined.member_id.to_string();
    sync(
        &mut c,
        "raw-admin",
        joined.generation_id,
        &me,
        Some("consumer"),
        b"asg",
    );
    let list = |c: &mut RawClient, states: &[&str]| {
        let req =
            ListGroupsRequest::default().with_states_filter(states.iter().map(|v| s(v)).collect());
        let r = c.call(&req, 5);
        let mut g: Vec<String> = r
            .groups
            .iter()
            .filter(|g| g.group_id.starts_with("raw-admin"))
            .map(|g| {
                format!(
                    "{}/{}/{}/{}",
                    g.group_id.as_str(),
                    g.protocol_type.as_str(),
                    g.group_state.as_str(),
                    g.group_type.as_str()
                )
            })
            .collect();
        g.sort();
        g
    };
    out.push(("list".into(), format!("{:?}", list(&mut c, &[]))));
    out.push((
        "list stable".into(),
        format!("{:?}", list(&mut c, &["stable"])),
    ));
    out.push((
        "list empty".into(),
        format!("{:?}", list(&mut c, &["Empty"])),
    ));
    let describe = |c: &mut RawClient, group: &str, version: i16| {
        let r = c.call(
            &DescribeGroupsRequest::default().with_groups(vec![gid(group)]),
            version,
        );
        let g = &r.groups[0];
        let members: Vec<String> = g
            .members
            .iter()
            .map(|m| format!("{:?}/{:?}", m.member_metadata, m.member_assignment))
            .collect();
        format!(
            "{} {} {} {} {members:?}",
            code(g.error_code),
            g.group_state.as_str(),
            g.protocol_type.as_str(),
            g.protocol_data.as_str()
        )
    };
    out.push(("describe".into(), describe(&mut c, "raw-admin", 5)));
    out.push((
        "describe unknown v5".into(),
        describe(&mut c, "raw-admin-none", 5),
    ));
    out.push((
        "describe unknown v6".into(),
        describe(&mut c, "raw-admin-none", 6),
    ));
    let delete = |c: &mut RawClient, group: &str| {
        let r = c.call(
            &DeleteGroupsRequest::default().with_groups_names(vec![gid(group)]),
            2,
        );
        code(r.results[0].error_code)
    };
    out.push(("delete active".into(), delete(&mut c, "raw-admin")));
    out.push(("delete unknown".into(), delete(&mut c, "raw-admin-none")));
    let leave = LeaveGroupRequest::default()
        .with_group_id(gid("raw-admin"))
        .with_members(vec![MemberIdentity::default().with_member_id(s(&me))]);
    c.call(&leave, 5);
    out.push(("delete after leave".into(), delete(&mut c, "raw-admin")));
    out.push((
        "list after delete".into(),
        format!("{:?}", list(&mut c, &[])),
    ));
    out
}

/// Creates a one-partition topic (an existing one is fine).
pub fn create_topic(port: u16, topic: &str) {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    let mut c = RawClient::connect(port);
    let req = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(s(topic)))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ])
        .with_timeout_ms(10_000);
    let r = c.call(&req, 7);
    assert!(
        matches!(r.topics[0].error_code, 0 | 36),
        "create {topic}: {}",
        r.topics[0].error_code
    );
}

/// ConsumerGroupDescribe of one KIP-848 group.
pub fn describe_consumer_group(
    port: u16,
    group: &str,
) -> consumer_group_describe_response::DescribedGroup {
    let mut c = RawClient::connect(port);
    let r = c.call(
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![gid(group)]),
        1,
    );
    r.groups.into_iter().next().expect("one group")
}
