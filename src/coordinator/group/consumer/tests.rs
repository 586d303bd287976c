// Test code only: compiled through `#[cfg(test)] mod tests;` in src/coordinator/group/consumer/mod.rs.
//! KIP-848 heartbeats driven directly: joining, handing partitions over only after they were
//! revoked, fencing, static members and session expiry (with Tokio's clock paused).

use crate::coordinator::group::shard::GroupKind;
use crate::coordinator::group::shard::testing::TestShard;
use crate::coordinator::group::{GroupConfig, RequestContext, TopicLookup};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, GroupId, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeSet;
use std::time::Duration;
use uuid::Uuid;

/// One topic "t" with four partitions.
struct OneTopic(Uuid);

impl TopicLookup for OneTopic {
    fn lookup(&self, name: &str) -> Option<(Uuid, i32)> {
        (name == "t").then_some((self.0, 4))
    }

    fn name_of(&self, id: &Uuid) -> Option<String> {
        (*id == self.0).then(|| "t".to_string())
    }

    fn names(&self) -> Vec<String> {
        vec!["t".to_string()]
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn rc() -> RequestContext {
    RequestContext {
        api_version: 1,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
    }
}

fn hb(
    member: &str,
    epoch: i32,
    owned: Option<&[i32]>,
    topic: Uuid,
) -> ConsumerGroupHeartbeatRequest {
    let req = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_topic_partitions(owned.map(|ps| {
            if ps.is_empty() {
                vec![]
            } else {
                vec![
                    TopicPartitions::default()
                        .with_topic_id(topic)
                        .with_partitions(ps.to_vec()),
                ]
            }
        }));
    if epoch == 0 {
        req.with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![TopicName(s("t"))]))
    } else {
        req.with_rebalance_timeout_ms(-1)
    }
}

struct Fixture {
    t: TestShard,
    topics: OneTopic,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            t: TestShard::new(GroupConfig::default()),
            topics: OneTopic(Uuid::new_v4()),
        }
    }

    fn beat(&mut self, req: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse {
        self.t.shard.consumer_heartbeat(&rc(), &req, &self.topics)
    }

    fn join(&mut self, member: &str) -> ConsumerGroupHeartbeatResponse {
        let r = self.beat(hb(member, 0, Some(&[]), self.topics.0));
        assert_eq!(r.error_code, 0, "{r:?}");
        r
    }

    /// A heartbeat reporting `owned`; returns (epoch, assignment if sent).
    fn report(&mut self, member: &str, epoch: i32, owned: &[i32]) -> (i32, Option<BTreeSet<i32>>) {
        let r = self.beat(hb(member, epoch, Some(owned), self.topics.0));
        assert_eq!(r.error_code, 0, "{r:?}");
        (r.member_epoch, r.assignment.map(partitions))
    }
}

fn partitions(
    a: kafka_protocol::messages::consumer_group_heartbeat_response::Assignment,
) -> BTreeSet<i32> {
    a.topic_partitions
        .iter()
        .flat_map(|t| t.partitions.iter().copied())
        .collect()
}

fn set(ps: &[i32]) -> BTreeSet<i32> {
    ps.iter().copied().collect()
}

#[tokio::test]
async fn partitions_move_only_after_their_owner_revoked_them() {
    let mut f = Fixture::new();
    let a = f.join("a");
    assert_eq!(
        (a.member_epoch, a.assignment.map(partitions)),
        (1, Some(set(&[0, 1, 2, 3])))
    );
    let b = f.join("b");
    assert_eq!(b.member_epoch, 2, "b is at the new target epoch");
    assert_eq!(
        b.assignment.map(partitions),
        Some(set(&[])),
        "a still owns b's share"
    );
    // a is asked to revoke half and stays at its epoch until it has.
    let (epoch, asg) = f.report("a", 1, &[0, 1, 2, 3]);
    assert_eq!(epoch, 1);
    let kept = asg.expect("revocation is sent");
    assert_eq!(kept.len(), 2);
    let kept_list: Vec<i32> = kept.iter().copied().collect();
    let (epoch, _) = f.report("a", 1, &kept_list);
    assert_eq!(epoch, 2, "a revoked and moves to the target epoch");
    let (epoch, got) = f.report("b", 2, &[]);
    assert_eq!(epoch, 2);
    let got = got.expect("b's partitions are released");
    assert!(
        got.is_disjoint(&kept) && got.len() == 2,
        "{got:?} vs {kept:?}"
    );
    match &f.t.shard.groups["g"].kind {
        GroupKind::Consumer(g) => assert_eq!(g.state().name(), "Stable"),
        GroupKind::Classic(_) => panic!("consumer group expected"),
    }
}

#[tokio::test]
async fn wrong_epochs_and_unknown_members_are_fenced() {
    let mut f = Fixture::new();
    f.join("a");
    let r = f.beat(hb("a", 7, Some(&[]), f.topics.0));
    assert_eq!(r.error_code, ResponseError::FencedMemberEpoch.code());
    let r = f.beat(hb("ghost", 1, Some(&[]), f.topics.0));
    assert_eq!(r.error_code, ResponseError::UnknownMemberId.code());
    // After being fenced the member rejoins with epoch 0 and the same id.
    let again = f.join("a");
    assert_eq!(again.assignment.map(partitions), Some(set(&[0, 1, 2, 3])));
    let regex = hb("b", 0, Some(&[]), f.topics.0).with_subscribed_topic_regex(Some(s("t(")));
    assert_eq!(
        f.beat(regex).error_code,
        ResponseError::InvalidRegularExpression.code()
    );
    let assignor = hb("b", 0, Some(&[]), f.topics.0).with_server_assignor(Some(s("sticky")));
    assert_eq!(
        f.beat(assignor).error_code,
        ResponseError::UnsupportedAssignor.code()
    );
    let unsubscribed = hb("b", 0, Some(&[]), f.topics.0).with_subscribed_topic_names(None);
    assert_eq!(
        f.beat(unsubscribed).error_code,
        ResponseError::InvalidRequest.code()
    );
}

#[tokio::test(start_paused = true)]
async fn an_expired_member_is_fenced_and_its_partitions_reassigned() {
    let mut f = Fixture::new();
    f.join("a");
    f.join("b");
    let (_, kept) = f.report("a", 1, &[0, 1, 2, 3]);
    let kept: Vec<i32> = kept.expect("revocation").into_iter().collect();
    f.report("a", 1, &kept);
    f.report("b", 2, &[]);
    // a keeps heartbeating, b goes silent past its session timeout.
    tokio::time::advance(Duration::from_millis(40_000)).await;
    f.report("a", 2, &kept);
    tokio::time::advance(Duration::from_millis(6_000)).await;
    f.t.shard.fire_due(tokio::time::Instant::now());
    let (epoch, got) = f.report("a", 2, &kept);
    assert_eq!(epoch, 3, "b's departure bumped the group epoch");
    assert_eq!(got, Some(set(&[0, 1, 2, 3])), "a takes over everything");
}

#[tokio::test]
async fn a_restarted_static_member_gets_its_assignment_back() {
    let mut f = Fixture::new();
    let static_join = |member: &str, instance: &str| {
        hb(member, 0, Some(&[]), Uuid::nil()).with_instance_id(Some(s(instance)))
    };
    let a = f.beat(static_join("a1", "inst-a"));
    assert_eq!(a.error_code, 0);
    f.join("b");
    let (_, kept) = f.report("a1", 1, &[0, 1, 2, 3]);
    let kept = kept.expect("revocation");
    let kept_list: Vec<i32> = kept.iter().copied().collect();
    f.report("a1", 1, &kept_list);
    f.report("b", 2, &[]);
    // Another process claiming the instance id while a1 is alive is refused.
    let r = f.beat(static_join("intruder", "inst-a"));
    assert_eq!(r.error_code, ResponseError::UnreleasedInstanceId.code());
    // a1 leaves temporarily (epoch -2) and comes back as a2.
    let leave = hb("a1", -2, None, f.topics.0).with_instance_id(Some(s("inst-a")));
    assert_eq!(f.beat(leave).member_epoch, -2);
    let back = f.beat(static_join("a2", "inst-a"));
    assert_eq!(back.error_code, 0);
    assert_eq!(back.member_epoch, 2, "no new group epoch: no rebalance");
    assert_eq!(back.assignment.map(partitions), Some(kept));
}

#[tokio::test]
async fn a_regex_subscription_matches_whole_topic_names() {
    let mut f = Fixture::new();
    let by_regex = |re: &str| {
        hb("r", 0, Some(&[]), Uuid::nil())
            .with_subscribed_topic_names(Some(vec![]))
            .with_subscribed_topic_regex(Some(s(re)))
    };
    let r = f.beat(by_regex("x|t"));
    assert_eq!(r.error_code, 0, "{r:?}");
    assert_eq!(r.assignment.map(partitions), Some(set(&[0, 1, 2, 3])));
    let leave = hb("r", -1, None, Uuid::nil());
    assert_eq!(f.beat(leave).member_epoch, -1);
    // A regex matches whole names: "^" alone matches no topic.
    let r = f.beat(by_regex("^"));
    assert_eq!(r.assignment.map(partitions), Some(set(&[])));
}

#[tokio::test]
async fn the_group_and_its_epoch_are_read_back_but_members_rejoin() {
    let mut f = Fixture::new();
    f.join("a");
    f.join("b");
    let loaded = crate::coordinator::group::load::load(&f.t.shard.log, 0).expect("load");
    match &loaded.groups["g"].kind {
        GroupKind::Consumer(g) => {
            assert_eq!(g.group_epoch, 2);
            assert!(g.members.is_empty());
        }
        GroupKind::Classic(_) => panic!("consumer group expected"),
    }
    f.t.shard.groups = loaded.groups;
    let r = f.beat(hb("a", 1, Some(&[]), f.topics.0));
    assert_eq!(r.error_code, ResponseError::UnknownMemberId.code());
    assert_eq!(
        f.join("a").member_epoch,
        3,
        "epochs continue after the restart"
    );
}
