//! `kafka-topics` (also `strom topics`): create, list, describe, delete and grow topics, with
//! Kafka's flags and Kafka 4's output, so the quickstart runs without a JVM.

use super::client::{self, Connection, TopicInfo, topic_name};
use anyhow::{Result, anyhow, bail};
use clap::Args;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_topic_partitions_request::TopicRequest;
use kafka_protocol::messages::{
    ApiVersionsRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, DescribeTopicPartitionsRequest,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::process::ExitCode;

const CREATE_TOPICS_VERSION: i16 = 7;
const DELETE_TOPICS_VERSION: i16 = 4;
const CREATE_PARTITIONS_VERSION: i16 = 3;
const DESCRIBE_CONFIGS_VERSION: i16 = 4;
/// DescribeConfigs' resource type of a topic.
const TOPIC_RESOURCE: i8 = 2;
/// DescribeConfigs' source of a value nobody set (`ConfigEntry.isDefault()`).
const DEFAULT_CONFIG_SOURCE: i8 = 5;
const DESCRIBE_TOPIC_PARTITIONS_VERSION: i16 = 0;
/// DescribeTopicPartitions' API key (KIP-966); Kafka's tool describes through it when the
/// broker has it (then it prints eligible leader replicas) and through Metadata otherwise.
const DESCRIBE_TOPIC_PARTITIONS_KEY: i16 = 75;
/// Kafka's error code for an existing topic (`TOPIC_ALREADY_EXISTS`).
const TOPIC_ALREADY_EXISTS: i16 = 36;

/// `kafka-topics`.
#[derive(Debug, Args)]
pub struct TopicsArgs {
    #[command(flatten)]
    bootstrap: client::Bootstrap,
    /// Create a new topic.
    #[arg(long)]
    create: bool,
    /// List all available topics.
    #[arg(long)]
    list: bool,
    /// List details for the given topics.
    #[arg(long)]
    describe: bool,
    /// Delete a topic.
    #[arg(long)]
    delete: bool,
    /// Alter the number of partitions.
    #[arg(long)]
    alter: bool,
    /// The topic to create, alter, describe or delete. It also accepts a regular expression,
    /// except for --create.
    #[arg(long)]
    topic: Option<String>,
    /// The number of partitions for the topic being created or altered.
    #[arg(long)]
    partitions: Option<i32>,
    /// The replication factor for each partition in the topic being created.
    #[arg(long)]
    replication_factor: Option<i16>,
    /// A topic configuration override for the topic being created: name=value (repeatable).
    #[arg(long = "config", value_name = "name=value")]
    configs: Vec<String>,
    /// When altering, deleting or describing, act only if the topic exists.
    #[arg(long)]
    if_exists: bool,
    /// When creating, do not fail if the topic already exists.
    #[arg(long)]
    if_not_exists: bool,
    /// Exclude internal topics when listing or describing topics.
    #[arg(long)]
    exclude_internal: bool,
}

/// Runs `kafka-topics`: Kafka's messages on standard output, exit status 1 on failure.
pub fn run(args: TopicsArgs) -> ExitCode {
    let actions = [
        args.create,
        args.list,
        args.describe,
        args.delete,
        args.alter,
    ];
    if actions.iter().filter(|a| **a).count() != 1 {
        println!(
            "Command must include exactly one action: --list, --describe, --create, --alter or --delete"
        );
        return ExitCode::FAILURE;
    }
    match client::block_on(execute(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("Error while executing topic command : {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(args: &TopicsArgs) -> Result<()> {
    let mut conn = Connection::connect(&args.bootstrap.bootstrap_server).await?;
    if args.create {
        return create(&mut conn, args).await;
    }
    let (_, all) = client::metadata(&mut conn, None).await?;
    let pattern = args
        .topic
        .as_deref()
        .map(|t| regex::Regex::new(&format!("^(?:{t})$")))
        .transpose()
        .map_err(|e| anyhow!("invalid --topic pattern: {e}"))?;
    let matching: Vec<&TopicInfo> = all
        .iter()
        .filter(|t| pattern.as_ref().is_none_or(|p| p.is_match(&t.name)))
        .filter(|t| !(args.exclude_internal && t.internal))
        .collect();
    if let Some(topic) = &args.topic
        && matching.is_empty()
        && !args.if_exists
        && !args.list
    {
        bail!("Topic '{topic}' does not exist as expected");
    }
    if args.list {
        for t in matching {
            println!("{}", t.name);
        }
    } else if args.describe {
        let with_elr = supports_describe_topic_partitions(&mut conn).await?;
        for t in matching {
            describe(&mut conn, t, with_elr).await?;
        }
    } else if args.delete {
        delete(&mut conn, &matching).await?;
    } else {
        alter(&mut conn, args, &matching).await?;
    }
    Ok(())
}

async fn create(conn: &mut Connection, args: &TopicsArgs) -> Result<()> {
    let topic = args
        .topic
        .as_deref()
        .ok_or_else(|| anyhow!("Missing required argument \"[topic]\""))?;
    let mut configs = Vec::new();
    for config in &args.configs {
        let (name, value) = config
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| {
                anyhow!(
                    "requirement failed: Invalid topic config: all configs to be added must be in the format \"key=val\"."
                )
            })?;
        configs.push(
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(name.to_string()))
                .with_value(Some(StrBytes::from_string(value.to_string()))),
        );
    }
    if topic.contains('.') || topic.contains('_') {
        println!(
            "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both."
        );
    }
    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic_name(topic))
                .with_num_partitions(args.partitions.unwrap_or(-1))
                .with_replication_factor(args.replication_factor.unwrap_or(-1))
                .with_configs(configs),
        ])
        .with_timeout_ms(30_000);
    let response = conn.send(&request, CREATE_TOPICS_VERSION).await?;
    for t in &response.topics {
        if t.error_code == TOPIC_ALREADY_EXISTS && args.if_not_exists {
            return Ok(());
        }
        client::check(t.error_code, t.error_message.as_ref())?;
    }
    println!("Created topic {topic}.");
    Ok(())
}

async fn supports_describe_topic_partitions(conn: &mut Connection) -> Result<bool> {
    let versions = conn.send(&ApiVersionsRequest::default(), 3).await?;
    Ok(versions
        .api_keys
        .iter()
        .any(|k| k.api_key == DESCRIBE_TOPIC_PARTITIONS_KEY))
}

/// Per partition, its eligible leader replicas and last known ELR as Kafka's tool prints them
/// (`1,2`, empty when none).
async fn elr(conn: &mut Connection, topic: &str) -> Result<BTreeMap<i32, (String, String)>> {
    let request = DescribeTopicPartitionsRequest::default()
        .with_topics(vec![TopicRequest::default().with_name(topic_name(topic))])
        .with_response_partition_limit(2000);
    let response = conn
        .send(&request, DESCRIBE_TOPIC_PARTITIONS_VERSION)
        .await?;
    let ids = |list: &Option<Vec<kafka_protocol::messages::BrokerId>>| {
        list.iter()
            .flatten()
            .map(|b| b.0.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut out = BTreeMap::new();
    for t in &response.topics {
        client::check(t.error_code, None)?;
        for p in &t.partitions {
            out.insert(
                p.partition_index,
                (ids(&p.eligible_leader_replicas), ids(&p.last_known_elr)),
            );
        }
    }
    Ok(out)
}

/// Kafka's describe lines: the topic line, then one line per partition.
async fn describe(conn: &mut Connection, topic: &TopicInfo, with_elr: bool) -> Result<()> {
    let configs = non_default_configs(conn, &topic.name).await?;
    let replication = topic.partitions.first().map_or(0, |p| p.replicas.len());
    println!(
        "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
        topic.name,
        strom::storage::kafka_uuid::to_kafka_string(topic.id),
        topic.partitions.len(),
        replication,
        configs
    );
    let list = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    let elrs = if with_elr {
        Some(elr(conn, &topic.name).await?)
    } else {
        None
    };
    for p in &topic.partitions {
        let (elr, last_known) = match &elrs {
            Some(map) => map.get(&p.index).cloned().unwrap_or_default(),
            None => ("N/A".to_string(), "N/A".to_string()),
        };
        let leader = if p.leader < 0 {
            "none".to_string()
        } else {
            p.leader.to_string()
        };
        println!(
            "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tElr: {elr}\tLastKnownElr: {last_known}",
            topic.name,
            p.index,
            leader,
            list(&p.replicas),
            list(&p.isr)
        );
    }
    Ok(())
}

/// `name=value,...` of the topic's configs not at their default, in the broker's order.
async fn non_default_configs(conn: &mut Connection, topic: &str) -> Result<String> {
    let request = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configuration_keys(None),
    ]);
    let response = conn.send(&request, DESCRIBE_CONFIGS_VERSION).await?;
    let mut pairs = Vec::new();
    for result in &response.results {
        client::check(result.error_code, result.error_message.as_ref())?;
        for c in &result.configs {
            if c.config_source != DEFAULT_CONFIG_SOURCE {
                let value = c.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
                pairs.push(format!("{}={value}", c.name));
            }
        }
    }
    Ok(pairs.join(","))
}

async fn delete(conn: &mut Connection, topics: &[&TopicInfo]) -> Result<()> {
    if topics.is_empty() {
        return Ok(());
    }
    let request = DeleteTopicsRequest::default()
        .with_topic_names(topics.iter().map(|t| topic_name(&t.name)).collect())
        .with_timeout_ms(30_000);
    let response = conn.send(&request, DELETE_TOPICS_VERSION).await?;
    for r in &response.responses {
        client::check(r.error_code, r.error_message.as_ref())?;
    }
    Ok(())
}

async fn alter(conn: &mut Connection, args: &TopicsArgs, topics: &[&TopicInfo]) -> Result<()> {
    let Some(count) = args.partitions else {
        return Ok(());
    };
    if topics.is_empty() {
        return Ok(());
    }
    let request = CreatePartitionsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    CreatePartitionsTopic::default()
                        .with_name(topic_name(&t.name))
                        .with_count(count)
                })
                .collect(),
        )
        .with_timeout_ms(30_000);
    let response = conn.send(&request, CREATE_PARTITIONS_VERSION).await?;
    for r in &response.results {
        client::check(r.error_code, r.error_message.as_ref())?;
    }
    Ok(())
}
