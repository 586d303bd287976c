//! Committed offsets at the protocol level: one OffsetCommit for several partitions is stored
//! whole, read back, and survives a restart (what every group consumer does on each commit).

use crate::common::TestBroker;
use crate::common::raw::{RawClient, create_topic, find_coordinator, topic_name};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn commit(c: &mut RawClient, group: &str, topic: &str, offsets: &[(i32, i64)]) -> Vec<i16> {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    offsets
                        .iter()
                        .map(|(p, o)| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(*p)
                                .with_committed_offset(*o)
                                .with_committed_metadata(Some(StrBytes::from_static_str("m")))
                        })
                        .collect(),
                ),
        ]);
    let r = c.call(&req, 8);
    r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

/// The committed offsets; `None` while the coordinator is still loading its partition
/// (COORDINATOR_LOAD_IN_PROGRESS, which clients retry).
fn try_fetch(
    c: &mut RawClient,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Option<Vec<(i32, i64)>> {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(partitions.to_vec()),
        ]));
    let r = c.call(&req, 7);
    if r.error_code == 14 {
        return None;
    }
    assert_eq!(r.error_code, 0);
    Some(
        r.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.committed_offset))
            .collect(),
    )
}

fn fetch(c: &mut RawClient, group: &str, topic: &str, partitions: &[i32]) -> Vec<(i32, i64)> {
    try_fetch(c, group, topic, partitions).expect("coordinator loaded")
}

#[test]
fn a_multi_partition_commit_is_stored_whole_and_survives_restart() {
    let mut b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    assert_eq!(create_topic(&mut c, "t", 3, &[]).error_code, 0);
    find_coordinator(&mut c, "g");
    assert_eq!(
        commit(&mut c, "g", "t", &[(0, 10), (1, 20), (2, 30)]),
        vec![0, 0, 0]
    );
    assert_eq!(commit(&mut c, "g", "t", &[(0, 11), (1, 21)]), vec![0, 0]);
    assert_eq!(
        fetch(&mut c, "g", "t", &[0, 1, 2]),
        vec![(0, 11), (1, 21), (2, 30)]
    );
    drop(c);
    b.kill9();
    b.start_again();
    let mut c = RawClient::connect(b.port);
    find_coordinator(&mut c, "g");
    let back = crate::common::wait_for(std::time::Duration::from_secs(30), || {
        let got = try_fetch(&mut c, "g", "t", &[0, 1, 2])?;
        (got == vec![(0, 11), (1, 21), (2, 30)]).then_some(got)
    });
    assert!(back.is_some(), "committed offsets came back after kill -9");
}
