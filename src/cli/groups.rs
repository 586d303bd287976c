//! `kafka-consumer-groups` (also `strom groups`): list, describe (offsets with LAG, members,
//! state), delete, and reset offsets, with Kafka's flags and Kafka's tables.

use super::client::{self, Connection, Tp};
use super::group_client::{self, assigned_partitions};
use anyhow::{Result, anyhow, bail};
use clap::Args;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, GroupId, ListGroupsRequest,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::process::ExitCode;

const LIST_GROUPS_VERSION: i16 = 4;
const DESCRIBE_GROUPS_VERSION: i16 = 5;
const DELETE_GROUPS_VERSION: i16 = 2;
/// `GROUP_ID_NOT_FOUND`.
const GROUP_ID_NOT_FOUND: i16 = 69;

/// `kafka-consumer-groups`.
#[derive(Debug, Args)]
pub struct GroupsArgs {
    #[command(flatten)]
    bootstrap: client::Bootstrap,
    /// List all consumer groups.
    #[arg(long)]
    list: bool,
    /// Describe consumer group(s) and list offset lag (number of messages not yet processed).
    #[arg(long)]
    describe: bool,
    /// Delete consumer group(s).
    #[arg(long)]
    delete: bool,
    /// Reset offsets of a consumer group.
    #[arg(long)]
    reset_offsets: bool,
    /// The consumer group (repeatable).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Apply to all consumer groups.
    #[arg(long)]
    all_groups: bool,
    /// With --describe: the members.
    #[arg(long)]
    members: bool,
    /// With --describe: the state.
    #[arg(long)]
    state: bool,
    /// With --describe: the offsets (the default).
    #[arg(long)]
    offsets: bool,
    /// With --reset-offsets: the topic (TOPIC or TOPIC:0,1) whose offsets to reset.
    #[arg(long)]
    topic: Vec<String>,
    /// With --reset-offsets: every topic the group has offsets for.
    #[arg(long)]
    all_topics: bool,
    /// Reset to the earliest offset.
    #[arg(long)]
    to_earliest: bool,
    /// Reset to the latest offset.
    #[arg(long)]
    to_latest: bool,
    /// Reset to this offset.
    #[arg(long)]
    to_offset: Option<i64>,
    /// Move the offsets by this many (negative: back).
    #[arg(long)]
    shift_by: Option<i64>,
    /// Carry out the reset.
    #[arg(long)]
    execute: bool,
    /// Only show what the reset would do.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `kafka-consumer-groups`.
pub fn run(args: GroupsArgs) -> ExitCode {
    let actions = [args.list, args.describe, args.delete, args.reset_offsets];
    if actions.iter().filter(|a| **a).count() != 1 {
        eprintln!(
            "Command must include exactly one action: --list, --describe, --delete, --reset-offsets"
        );
        return ExitCode::FAILURE;
    }
    match client::block_on(execute(&args)) {
        Ok(code) => code,
        Err(e) => {
            // Kafka's tool reports a failed command on standard output and still exits 0.
            println!("\nError: Executing consumer group command failed due to {e:#}");
            ExitCode::SUCCESS
        }
    }
}

async fn execute(args: &GroupsArgs) -> Result<ExitCode> {
    let mut conn = Connection::connect(&args.bootstrap.bootstrap_server).await?;
    if args.list {
        for g in list(&mut conn).await? {
            println!("{g}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let groups = if args.all_groups {
        list(&mut conn).await?
    } else if args.groups.is_empty() {
        bail!(
            "Option [{}] takes one of these options: [all-groups], [group]",
            action(args)
        );
    } else {
        args.groups.clone()
    };
    if args.describe {
        for group in &groups {
            describe(&mut conn, args, group).await?;
        }
    } else if args.delete {
        delete(&mut conn, &groups).await?;
    } else {
        for group in &groups {
            reset(&mut conn, args, group).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn action(args: &GroupsArgs) -> &'static str {
    if args.describe {
        "describe"
    } else if args.delete {
        "delete"
    } else {
        "reset-offsets"
    }
}

/// Consumer group ids (classic groups with the `consumer` protocol or none, and KIP-848 groups).
pub async fn list(conn: &mut Connection) -> Result<Vec<String>> {
    let response = conn
        .send(&ListGroupsRequest::default(), LIST_GROUPS_VERSION)
        .await?;
    client::check(response.error_code, None)?;
    Ok(response
        .groups
        .iter()
        .filter(|g| g.protocol_type.is_empty() || g.protocol_type.as_str() == "consumer")
        .map(|g| g.group_id.to_string())
        .collect())
}

/// A described group.
struct Described {
    /// State name (`Empty`, `Stable`, ...).
    state: String,
    /// Assignment strategy (`range`, ...), empty when none.
    protocol: String,
    /// Members: id, host, client id, assigned partitions.
    members: Vec<(String, String, String, Vec<Tp>)>,
}

async fn describe_group(conn: &mut Connection, group: &str) -> Result<Option<Described>> {
    let request = DescribeGroupsRequest::default()
        .with_groups(vec![GroupId(StrBytes::from_string(group.to_string()))]);
    let response = conn.send(&request, DESCRIBE_GROUPS_VERSION).await?;
    let g = response
        .groups
        .first()
        .ok_or_else(|| anyhow!("no description of group {group}"))?;
    if g.error_code == GROUP_ID_NOT_FOUND || g.group_state.as_str() == "Dead" {
        return Ok(None);
    }
    client::check(g.error_code, g.error_message.as_ref())?;
    Ok(Some(Described {
        state: g.group_state.to_string(),
        protocol: g.protocol_data.to_string(),
        members: g
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.client_host.trim_start_matches('/').to_string(),
                    m.client_id.to_string(),
                    assigned_partitions(&m.member_assignment),
                )
            })
            .collect(),
    }))
}

/// `%-Ns` padding.
fn pad(text: &str, width: usize) -> String {
    format!("{text:<width$}")
}

async fn describe(conn: &mut Connection, args: &GroupsArgs, group: &str) -> Result<()> {
    let mut coordinator = group_client::coordinator(conn, group).await?;
    let Some(described) = describe_group(&mut coordinator, group).await? else {
        bail!("org.apache.kafka.common.errors.GroupIdNotFoundException: Group {group} not found.");
    };
    let group_width = group.len().max(15);
    if args.state {
        let coordinator_text = format!(
            "{}  ({})",
            coordinator.address,
            coordinator_id(conn, &coordinator.address).await
        );
        let strategy = if described.protocol.is_empty() {
            "-"
        } else {
            &described.protocol
        };
        println!(
            "\n{} {} {} {} #MEMBERS",
            pad("GROUP", group_width),
            pad("COORDINATOR (ID)", 25),
            pad("ASSIGNMENT-STRATEGY", 20),
            pad("STATE", 20),
        );
        println!(
            "{} {} {} {} {}",
            pad(group, group_width),
            pad(&coordinator_text, 25),
            pad(strategy, 20),
            pad(&described.state, 20),
            described.members.len()
        );
        return Ok(());
    }
    if described.members.is_empty() {
        eprintln!("\nConsumer group '{group}' has no active members.");
    }
    if args.members {
        let id_width = described
            .members
            .iter()
            .map(|m| m.0.len())
            .max()
            .unwrap_or(0)
            .max(15);
        let host_width = described
            .members
            .iter()
            .map(|m| m.1.len())
            .max()
            .unwrap_or(0)
            .max(15);
        let client_width = described
            .members
            .iter()
            .map(|m| m.2.len())
            .max()
            .unwrap_or(0)
            .max(15);
        println!(
            "\n{} {} {} {} {}",
            pad("GROUP", group_width),
            pad("CONSUMER-ID", id_width),
            pad("HOST", host_width),
            pad("CLIENT-ID", client_width),
            pad("#PARTITIONS", 15)
        );
        for (id, host, client_id, parts) in &described.members {
            println!(
                "{} {} {} {} {}",
                pad(group, group_width),
                pad(id, id_width),
                pad(host, host_width),
                pad(client_id, client_width),
                pad(&parts.len().to_string(), 15)
            );
        }
        return Ok(());
    }
    // Offsets: every partition a member holds or the group has committed.
    let committed = group_client::committed(&mut coordinator, group, None).await?;
    let mut rows: BTreeMap<Tp, (String, String, String)> = BTreeMap::new();
    for (id, host, client_id, parts) in &described.members {
        for tp in parts {
            rows.insert(tp.clone(), (id.clone(), host.clone(), client_id.clone()));
        }
    }
    for tp in committed.keys() {
        rows.entry(tp.clone())
            .or_insert_with(|| ("-".into(), "-".into(), "-".into()));
    }
    let partitions: Vec<Tp> = rows.keys().cloned().collect();
    let ends = if partitions.is_empty() {
        BTreeMap::new()
    } else {
        client::list_offsets(conn, &partitions, -1).await?
    };
    let topic_width = rows.keys().map(|(t, _)| t.len()).max().unwrap_or(0).max(15);
    let id_width = rows.values().map(|r| r.0.len()).max().unwrap_or(0).max(15);
    let host_width = rows.values().map(|r| r.1.len()).max().unwrap_or(0).max(15);
    println!(
        "\n{} {} {} {} {} {} {} {} CLIENT-ID",
        pad("GROUP", group_width),
        pad("TOPIC", topic_width),
        pad("PARTITION", 10),
        pad("CURRENT-OFFSET", 15),
        pad("LOG-END-OFFSET", 15),
        pad("LAG", 15),
        pad("CONSUMER-ID", id_width),
        pad("HOST", host_width),
    );
    for (tp, (id, host, client_id)) in &rows {
        let current = committed.get(tp);
        let end = ends.get(tp);
        let show = |v: Option<&i64>| v.map_or("-".to_string(), i64::to_string);
        let lag = match (current, end) {
            (Some(c), Some(e)) => (e - c).max(0).to_string(),
            _ => "-".to_string(),
        };
        println!(
            "{} {} {} {} {} {} {} {} {}",
            pad(group, group_width),
            pad(&tp.0, topic_width),
            pad(&tp.1.to_string(), 10),
            pad(&show(current), 15),
            pad(&show(end), 15),
            pad(&lag, 15),
            pad(id, id_width),
            pad(host, host_width),
            client_id
        );
    }
    Ok(())
}

/// The node id of the broker at `address` (from Metadata), `-1` if it is not listed.
async fn coordinator_id(conn: &mut Connection, address: &str) -> i32 {
    match client::metadata(conn, Some(&[])).await {
        Ok((brokers, _)) => brokers
            .iter()
            .find(|b| format!("{}:{}", b.host, b.port) == address)
            .or(brokers.first())
            .map_or(-1, |b| b.id),
        Err(_) => -1,
    }
}

async fn delete(conn: &mut Connection, groups: &[String]) -> Result<()> {
    let mut failed = Vec::new();
    for group in groups {
        let mut coordinator = group_client::coordinator(conn, group).await?;
        let request = DeleteGroupsRequest::default()
            .with_groups_names(vec![GroupId(StrBytes::from_string(group.clone()))]);
        let response = coordinator.send(&request, DELETE_GROUPS_VERSION).await?;
        for r in &response.results {
            if r.error_code != 0 {
                failed.push((group.clone(), client::error_text(r.error_code, None)));
            }
        }
    }
    if failed.is_empty() {
        let names: Vec<String> = groups.iter().map(|g| format!("'{g}'")).collect();
        println!(
            "Deletion of requested consumer groups ({}) was successful.",
            names.join(", ")
        );
    } else {
        println!("Deletion of some consumer groups failed:");
        for (group, error) in failed {
            println!("* Group '{group}' could not be deleted due to: {error}");
        }
    }
    Ok(())
}

async fn reset(conn: &mut Connection, args: &GroupsArgs, group: &str) -> Result<()> {
    let mut coordinator = group_client::coordinator(conn, group).await?;
    if let Some(d) = describe_group(&mut coordinator, group).await?
        && d.state != "Empty"
    {
        bail!(
            "Assignments can only be reset if the group '{group}' is inactive, but the current state is {}.",
            d.state
        );
    }
    let committed = group_client::committed(&mut coordinator, group, None).await?;
    let mut partitions: Vec<Tp> = Vec::new();
    if args.all_topics {
        partitions.extend(committed.keys().cloned());
    }
    for spec in &args.topic {
        match spec.split_once(':') {
            Some((t, ps)) => {
                for p in ps.split(',') {
                    let p = p
                        .trim()
                        .parse::<i32>()
                        .map_err(|_| anyhow!("Invalid partition in '{spec}'"))?;
                    partitions.push((t.to_string(), p));
                }
            }
            None => {
                for p in client::partitions_of(conn, spec).await? {
                    partitions.push((spec.clone(), p));
                }
            }
        }
    }
    if partitions.is_empty() {
        bail!("One of the reset scopes should be defined: --all-topics, --topic.");
    }
    let earliest = client::list_offsets(conn, &partitions, -2).await?;
    let latest = client::list_offsets(conn, &partitions, -1).await?;
    let mut target = BTreeMap::new();
    for tp in &partitions {
        let (lo, hi) = (
            earliest.get(tp).copied().unwrap_or(0),
            latest.get(tp).copied().unwrap_or(0),
        );
        let wanted = if args.to_earliest {
            lo
        } else if args.to_latest {
            hi
        } else if let Some(o) = args.to_offset {
            o
        } else if let Some(by) = args.shift_by {
            committed.get(tp).copied().unwrap_or(hi) + by
        } else {
            bail!(
                "Option [reset-offsets] takes one of these options: [to-earliest], [to-latest], [to-offset], [shift-by]"
            );
        };
        target.insert(tp.clone(), wanted.clamp(lo, hi));
    }
    if !args.execute && !args.dry_run {
        println!(
            "WARN: No action will be performed as the --execute option is missing. In a future major release, the default behavior of this command will be to prompt the user before executing the reset rather than doing a dry run. You should add the --dry-run option explicitly if you are scripting this command and want to keep the current default behavior without prompting."
        );
    }
    if args.execute {
        group_client::commit(&mut coordinator, group, -1, "", &target).await?;
    }
    println!(
        "\n{} {} {} {}",
        pad("GROUP", 30),
        pad("TOPIC", 30),
        pad("PARTITION", 10),
        pad("NEW-OFFSET", 15)
    );
    for ((t, p), offset) in &target {
        println!(
            "{} {} {} {}",
            pad(group, 30),
            pad(t, 30),
            pad(&p.to_string(), 10),
            pad(&offset.to_string(), 15)
        );
    }
    Ok(())
}
