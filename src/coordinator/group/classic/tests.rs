// Test code only: compiled through `#[cfg(test)] mod tests;` in src/coordinator/group/classic/mod.rs.
//! The classic state machine driven directly, with Tokio's clock paused so timers (initial
//! delay, sessions, rebalance timeouts) can be stepped through exactly.

use crate::coordinator::group::shard::GroupKind;
use crate::coordinator::group::shard::testing::TestShard;
use crate::coordinator::group::{Answer, GroupConfig, RequestContext, load};
use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;
use tokio::sync::oneshot;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn rc(version: i16) -> RequestContext {
    RequestContext {
        api_version: version,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
    }
}

fn config(initial_delay_ms: i64) -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: initial_delay_ms,
        ..GroupConfig::default()
    }
}

fn join_req(member: &str, session_ms: i32, rebalance_ms: i32) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s(member))
        .with_session_timeout_ms(session_ms)
        .with_rebalance_timeout_ms(rebalance_ms)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from(member.to_string())),
        ])
}

fn parked<T>(answer: Answer<T>) -> oneshot::Receiver<T> {
    match answer {
        Answer::Later(rx) => rx,
        Answer::Now(_) => panic!("expected the answer to wait"),
    }
}

fn ready<T>(rx: &mut oneshot::Receiver<T>) -> Option<T> {
    rx.try_recv().ok()
}

/// Advances the paused clock by `ms` and fires what came due.
async fn advance(t: &mut TestShard, ms: u64) {
    tokio::time::advance(Duration::from_millis(ms)).await;
    t.shard.fire_due(tokio::time::Instant::now());
}

/// Joins a new member with v3 (no MEMBER_ID_REQUIRED round trip).
fn join_v3(
    t: &mut TestShard,
    session_ms: i32,
    rebalance_ms: i32,
) -> oneshot::Receiver<JoinGroupResponse> {
    parked(
        t.shard
            .join_group(&rc(3), &join_req("", session_ms, rebalance_ms)),
    )
}

fn sync(
    t: &mut TestShard,
    member: &str,
    generation: i32,
    assignments: &[(&str, &[u8])],
) -> Answer<SyncGroupResponse> {
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s(member))
        .with_generation_id(generation)
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(Bytes::copy_from_slice(a))
                })
                .collect(),
        );
    t.shard.sync_group(&req)
}

/// One member joins with no initial delay and syncs: a Stable group of one.
async fn stable_single(t: &mut TestShard, session_ms: i32, rebalance_ms: i32) -> (String, i32) {
    let mut rx = join_v3(t, session_ms, rebalance_ms);
    advance(t, 0).await;
    let joined = ready(&mut rx).expect("join phase ends at once");
    let id = joined.member_id.to_string();
    match sync(t, &id, joined.generation_id, &[(&id, b"all")]) {
        Answer::Later(mut rx) => assert_eq!(
            ready(&mut rx).map(|r| r.assignment),
            Some(Bytes::from_static(b"all"))
        ),
        Answer::Now(r) => panic!("leader sync answered early: {r:?}"),
    }
    (id, joined.generation_id)
}

#[tokio::test(start_paused = true)]
async fn initial_delay_holds_the_first_rebalance_and_extends_for_newcomers() {
    let mut t = TestShard::new(config(3000));
    let mut a = join_v3(&mut t, 10_000, 10_000);
    advance(&mut t, 2000).await;
    assert!(ready(&mut a).is_none(), "held by the initial delay");
    let mut b = join_v3(&mut t, 10_000, 10_000);
    advance(&mut t, 1000).await;
    assert!(ready(&mut a).is_none(), "a newcomer extends the delay");
    advance(&mut t, 2999).await;
    assert!(ready(&mut a).is_none());
    advance(&mut t, 1).await;
    let (ra, rb) = (
        ready(&mut a).expect("a answered"),
        ready(&mut b).expect("b answered"),
    );
    assert_eq!((ra.generation_id, rb.generation_id), (1, 1));
    let leader = if ra.members.is_empty() { &rb } else { &ra };
    assert_eq!(leader.members.len(), 2, "the leader sees both members");
    assert_eq!(leader.leader, leader.member_id);
}

#[tokio::test(start_paused = true)]
async fn expired_session_removes_a_dead_member_and_the_rebalance_completes() {
    let mut t = TestShard::new(config(0));
    let (dead, _) = stable_single(&mut t, 6000, 60_000).await;
    // A newcomer starts a rebalance the dead member never rejoins.
    let mut b = join_v3(&mut t, 6000, 60_000);
    advance(&mut t, 5999).await;
    assert!(ready(&mut b).is_none(), "waits for the old member");
    advance(&mut t, 1).await;
    let rb = ready(&mut b).expect("completed once the dead member's session expired");
    assert_eq!(rb.generation_id, 2);
    assert_eq!(rb.leader, rb.member_id, "the survivor leads");
    assert_eq!(rb.members.len(), 1);
    match &t.shard.groups["g"].kind {
        GroupKind::Classic(g) => assert!(!g.members.contains_key(&dead)),
        GroupKind::Consumer(_) => panic!("classic group expected"),
    }
}

#[tokio::test(start_paused = true)]
async fn rebalance_timeout_bounds_the_wait_for_members_that_do_not_rejoin() {
    let mut t = TestShard::new(config(0));
    // Long session, short rebalance timeout: the rebalance timeout decides.
    stable_single(&mut t, 60_000, 5000).await;
    let mut b = join_v3(&mut t, 60_000, 5000);
    advance(&mut t, 4999).await;
    assert!(ready(&mut b).is_none());
    advance(&mut t, 1).await;
    let rb = ready(&mut b).expect("join phase ended at the rebalance timeout");
    assert_eq!((rb.generation_id, rb.members.len()), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn followers_wait_for_the_leaders_assignment() {
    let mut t = TestShard::new(config(0));
    let (a, _) = stable_single(&mut t, 10_000, 10_000).await;
    let mut b = join_v3(&mut t, 10_000, 10_000);
    // The leader rejoins: everyone has joined, the phase ends without waiting.
    let mut a_rx = parked(t.shard.join_group(&rc(3), &join_req(&a, 10_000, 10_000)));
    let (ra, rb) = (ready(&mut a_rx).expect("a"), ready(&mut b).expect("b"));
    assert_eq!(ra.leader.as_str(), a);
    let b_id = rb.member_id.to_string();
    let mut follower = parked(sync(&mut t, &b_id, rb.generation_id, &[]));
    assert!(ready(&mut follower).is_none(), "waits for the leader");
    let leader = sync(&mut t, &a, ra.generation_id, &[(&a, b"p0"), (&b_id, b"p1")]);
    // The leader's own answer is parked too, and already there.
    assert_eq!(
        ready(&mut parked(leader)).map(|r| r.assignment),
        Some(Bytes::from_static(b"p0"))
    );
    let got = ready(&mut follower).expect("assignment delivered");
    assert_eq!(
        (got.error_code, got.assignment),
        (0, Bytes::from_static(b"p1"))
    );
    let hb = HeartbeatRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s(&b_id))
        .with_generation_id(rb.generation_id - 1);
    assert_eq!(
        t.shard.heartbeat(&hb),
        Err(ResponseError::IllegalGeneration)
    );
}

#[tokio::test(start_paused = true)]
async fn a_pending_member_that_never_rejoins_expires() {
    let mut t = TestShard::new(config(0));
    let first = match t.shard.join_group(&rc(5), &join_req("", 6000, 6000)) {
        Answer::Now(r) => r,
        Answer::Later(_) => panic!("MEMBER_ID_REQUIRED is immediate"),
    };
    assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
    let id = first.member_id.to_string();
    advance(&mut t, 6000).await;
    match t.shard.join_group(&rc(5), &join_req(&id, 6000, 6000)) {
        Answer::Now(r) => assert_eq!(r.error_code, ResponseError::UnknownMemberId.code()),
        Answer::Later(_) => panic!("an expired pending member is unknown"),
    }
}

fn commit(t: &mut TestShard, group: &str, generation: i32, member: &str, offset: i64) -> i16 {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(7)
                        .with_committed_metadata(Some(s("meta"))),
                ]),
        ]);
    t.shard.commit_offsets(8, &req, &|_, _| true)[0].1[0].1
}

#[tokio::test(start_paused = true)]
async fn stable_group_and_offsets_are_read_back_from_the_log() {
    let mut t = TestShard::new(config(0));
    let (id, generation) = stable_single(&mut t, 10_000, 10_000).await;
    assert_eq!(commit(&mut t, "g", generation, &id, 41), 0);
    assert_eq!(commit(&mut t, "g", generation, &id, 42), 0);
    assert_eq!(commit(&mut t, "simple", -1, "", 5), 0);
    let loaded = load::load(&t.shard.log, 0).expect("load");
    let g = &loaded.groups["g"];
    let offset = g.offsets.get("t", 0).expect("offset");
    assert_eq!(
        (offset.offset, offset.leader_epoch, offset.metadata.as_str()),
        (42, 7, "meta")
    );
    match &g.kind {
        GroupKind::Classic(c) => {
            assert_eq!(c.generation, generation);
            assert_eq!(c.members[&id].assignment, Bytes::from_static(b"all"));
            assert_eq!(c.state.name(), "Stable");
        }
        GroupKind::Consumer(_) => panic!("classic group expected"),
    }
    assert_eq!(
        loaded.groups["simple"]
            .offsets
            .get("t", 0)
            .map(|o| o.offset),
        Some(5)
    );
}

#[tokio::test(start_paused = true)]
async fn offsets_of_empty_groups_expire_and_the_group_goes() {
    let mut t = TestShard::new(GroupConfig {
        offsets_retention_ms: 0,
        ..config(0)
    });
    assert_eq!(commit(&mut t, "simple", -1, "", 5), 0);
    let (id, generation) = stable_single(&mut t, 10_000, 10_000).await;
    assert_eq!(commit(&mut t, "g", generation, &id, 1), 0);
    assert_eq!(
        t.shard.expire_offsets(),
        2,
        "the simple group's offset and its group record"
    );
    assert!(!t.shard.groups.contains_key("simple"));
    assert!(
        t.shard.groups["g"].offsets.get("t", 0).is_some(),
        "a group with members keeps its offsets"
    );
    let loaded = load::load(&t.shard.log, 0).expect("load");
    assert!(
        !loaded.groups.contains_key("simple"),
        "tombstones are durable"
    );
}
