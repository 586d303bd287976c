//! Every advertised version of every implemented API, on success and error paths: the broker
//! must answer each with a response the client can decode (a field set that a version lacks
//! would make the response unencodable and the connection close).

use crate::common::TestBroker;
use crate::common::raw::{RawClient, creatable_topic, record_batch, topic_name as name};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

fn create(c: &mut RawClient, topic: &str, version: i16) -> i16 {
    let req = CreateTopicsRequest::default()
        .with_topics(vec![creatable_topic(topic, 1, 1, &[])])
        .with_timeout_ms(10_000);
    c.call(&req, version).topics[0].error_code
}

fn topic_id(c: &mut RawClient, topic: &str) -> Uuid {
    let md = c.call(
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(topic))),
        ])),
        12,
    );
    md.topics[0].topic_id
}

#[test]
fn every_version_of_every_api_answers() {
    let b = TestBroker::start();
    let mut c = RawClient::connect(b.port);
    for v in 0..=4 {
        c.call(&ApiVersionsRequest::default(), v);
    }
    assert_eq!(create(&mut c, "sweep", 7), 0);
    let id = topic_id(&mut c, "sweep");

    for v in 3..=13 {
        let topic = TopicProduceData::default().with_partition_data(vec![
            PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(record_batch(3, None))),
        ]);
        let topic = if v >= 13 {
            topic.with_topic_id(id)
        } else {
            topic.with_name(name("sweep"))
        };
        let missing = TopicProduceData::default().with_partition_data(vec![
            PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(record_batch(1, None))),
        ]);
        let missing = if v >= 13 {
            missing.with_topic_id(Uuid::new_v4())
        } else {
            missing.with_name(name("nope"))
        };
        let req = ProduceRequest::default()
            .with_transactional_id(None)
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![topic, missing]);
        let r = c.call(&req, v);
        assert_eq!(
            r.responses[0].partition_responses[0].error_code, 0,
            "produce v{v}"
        );
        assert_ne!(
            r.responses[1].partition_responses[0].error_code, 0,
            "produce v{v}"
        );
    }

    for v in 0..=13 {
        let topics = vec![
            MetadataRequestTopic::default().with_name(Some(name("sweep"))),
            MetadataRequestTopic::default().with_name(Some(name("absent"))),
        ];
        let req = MetadataRequest::default().with_topics(Some(topics));
        let req = if v >= 4 {
            req.with_allow_auto_topic_creation(false)
        } else {
            req
        };
        let r = c.call(&req, v);
        assert_eq!(r.topics.len(), 2, "metadata v{v}");
        if v >= 1 {
            let all = MetadataRequest::default().with_topics(None);
            let all = if v >= 4 {
                all.with_allow_auto_topic_creation(false)
            } else {
                all
            };
            c.call(&all, v);
        }
    }

    for v in 4..=18 {
        for (offset, session) in [(0, -1), (1_000, -1), (0, 0)] {
            if v < 7 && session == 0 {
                continue;
            }
            let topic = FetchTopic::default().with_partitions(vec![
                FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(offset)
                    .with_partition_max_bytes(1 << 20),
            ]);
            let topic = if v >= 13 {
                topic.with_topic_id(id)
            } else {
                topic.with_topic(name("sweep"))
            };
            let req = FetchRequest::default()
                .with_max_wait_ms(0)
                .with_min_bytes(1)
                .with_max_bytes(1 << 20)
                .with_session_epoch(session)
                .with_topics(vec![topic]);
            let req = if v >= 15 {
                req.with_replica_id(BrokerId(-1))
            } else {
                req
            };
            let r = c.call(&req, v);
            assert_eq!(r.error_code, 0, "fetch v{v}");
        }
    }

    for v in 1..=10 {
        for ts in [-1, -2, -3, 0] {
            if ts == -3 && v < 7 {
                continue;
            }
            let req = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![
                    ListOffsetsTopic::default()
                        .with_name(name("sweep"))
                        .with_partitions(vec![
                            ListOffsetsPartition::default()
                                .with_partition_index(0)
                                .with_timestamp(ts),
                        ]),
                    ListOffsetsTopic::default()
                        .with_name(name("absent"))
                        .with_partitions(vec![
                            ListOffsetsPartition::default()
                                .with_partition_index(0)
                                .with_timestamp(ts),
                        ]),
                ]);
            let r = c.call(&req, v);
            assert_eq!(
                r.topics[0].partitions[0].error_code, 0,
                "list_offsets v{v} ts {ts}"
            );
        }
    }

    for v in 2..=7 {
        assert_eq!(
            create(&mut c, &format!("ct{v}"), v),
            0,
            "create_topics v{v}"
        );
        assert_ne!(
            create(&mut c, &format!("ct{v}"), v),
            0,
            "create_topics v{v} duplicate"
        );
    }

    for v in 0..=3 {
        let req = CreatePartitionsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(name(&format!("ct{}", v + 2)))
                    .with_count(2)
                    .with_assignments(None),
                CreatePartitionsTopic::default()
                    .with_name(name("absent"))
                    .with_count(2)
                    .with_assignments(None),
            ]);
        let r = c.call(&req, v);
        assert_eq!(r.results[0].error_code, 0, "create_partitions v{v}");
    }

    for v in 1..=4 {
        let req = DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("sweep"))
                    .with_configuration_keys(None),
                DescribeConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(StrBytes::from_static_str("1"))
                    .with_configuration_keys(None),
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_static_str("absent"))
                    .with_configuration_keys(None),
            ]);
        let req = if v >= 3 {
            req.with_include_documentation(true)
        } else {
            req
        };
        let r = c.call(&req, v);
        assert_eq!(r.results[0].error_code, 0, "describe_configs v{v}");
        assert!(
            !r.results[0].configs.is_empty(),
            "describe_configs v{v} topic configs"
        );
        assert!(
            !r.results[1].configs.is_empty(),
            "describe_configs v{v} broker configs"
        );
    }

    for v in 0..=2 {
        let r = c.call(&DescribeClusterRequest::default(), v);
        assert_eq!(r.error_code, 0, "describe_cluster v{v}");
    }
    for v in 1..=4 {
        let r = c.call(&DescribeLogDirsRequest::default().with_topics(None), v);
        assert_eq!(r.results.len(), 1, "describe_log_dirs v{v}");
    }
    for v in 0..=5 {
        let r = c.call(
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(1000),
            v,
        );
        assert_eq!(r.error_code, 0, "init_producer_id v{v}");
    }

    for v in 1..=6 {
        let topic = format!("ct{}", v + 1);
        let req = if v >= 6 {
            DeleteTopicsRequest::default().with_topics(vec![
                DeleteTopicState::default().with_name(Some(name(&topic))),
                DeleteTopicState::default()
                    .with_name(None)
                    .with_topic_id(Uuid::new_v4()),
            ])
        } else {
            DeleteTopicsRequest::default()
                .with_topic_names(vec![name(&topic), name("never-created")])
        };
        let r = c.call(&req.with_timeout_ms(5000), v);
        assert_eq!(r.responses[0].error_code, 0, "delete_topics v{v}");
        assert_ne!(r.responses[1].error_code, 0, "delete_topics v{v} absent");
    }
}
