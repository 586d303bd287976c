//! `kafka-console-producer` and `kafka-console-consumer` (also `strom produce` / `strom
//! consume`): Kafka's flags, Kafka's `--property` settings and Kafka's output, without a JVM.

use super::client::{self, Connection, Consumed, Tp};
use super::group_client::Member;
use anyhow::{Result, anyhow, bail};
use bytes::Bytes;
use clap::Args;
use kafka_protocol::records::TimestampType;
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How often a group member heartbeats and commits (Kafka's consumer: 3 s and 5 s).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(3);
const AUTO_COMMIT_EVERY: Duration = Duration::from_secs(5);

/// `--property key=value` pairs.
fn properties(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| anyhow!("Invalid property '{p}': expected key=value"))
        })
        .collect()
}

/// A `true`/`false` property (Kafka reads them case-insensitively).
fn flag(props: &BTreeMap<String, String>, key: &str) -> bool {
    props
        .get(key)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// `kafka-console-producer`: one record per line of standard input.
#[derive(Debug, Args)]
pub struct ProducerArgs {
    #[command(flatten)]
    bootstrap: client::Bootstrap,
    /// REQUIRED: The topic id to produce messages to.
    #[arg(long)]
    topic: String,
    /// Reader properties: parse.key=true, key.separator=SEP (default a tab), null.marker=TEXT.
    #[arg(long = "property", value_name = "key=value")]
    properties: Vec<String>,
    /// Producer settings (accepted for compatibility; Strom's producer uses acks=all).
    #[arg(long = "producer-property", value_name = "key=value")]
    producer_properties: Vec<String>,
}

/// Kafka's default partitioner for a keyed record: murmur2 of the key, made positive, modulo the
/// partition count, so keys land where Kafka's producers put them.
pub fn partition_for_key(key: &[u8], partitions: usize) -> usize {
    (murmur2(key) & 0x7fff_ffff) as usize % partitions.max(1)
}

/// Kafka's `Utils.murmur2`.
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

/// How a line becomes a record (Kafka's `LineMessageReader`).
struct LineReader {
    /// `parse.key`: the line is KEY SEP VALUE.
    parse_key: bool,
    /// `key.separator`.
    separator: String,
    /// `null.marker`: this text stands for a null key or value.
    null_marker: Option<String>,
    /// Lines read, for error messages.
    line_number: u64,
}

impl LineReader {
    fn new(props: &BTreeMap<String, String>) -> LineReader {
        LineReader {
            parse_key: flag(props, "parse.key"),
            separator: props
                .get("key.separator")
                .cloned()
                .unwrap_or_else(|| "\t".into()),
            null_marker: props.get("null.marker").cloned(),
            line_number: 0,
        }
    }

    fn bytes(&self, text: &str) -> Option<Bytes> {
        if self.null_marker.as_deref() == Some(text) {
            None
        } else {
            Some(Bytes::copy_from_slice(text.as_bytes()))
        }
    }

    fn record(&mut self, line: &str) -> Result<(Option<Bytes>, Option<Bytes>)> {
        self.line_number += 1;
        if !self.parse_key {
            return Ok((None, self.bytes(line)));
        }
        let Some((key, value)) = line.split_once(&self.separator) else {
            bail!(
                "No key separator found on line number {}: '{line}'",
                self.line_number
            );
        };
        Ok((self.bytes(key), self.bytes(value)))
    }
}

/// Runs `kafka-console-producer`.
pub fn produce(args: ProducerArgs) -> ExitCode {
    finish(client::block_on(async move {
        let props = properties(&args.properties)?;
        let mut reader = LineReader::new(&props);
        let mut conn = Connection::connect(&args.bootstrap.bootstrap_server).await?;
        let partitions = client::partitions_of(&mut conn, &args.topic).await?;
        let interactive = std::io::stdin().is_terminal();
        let (lines_tx, mut lines_rx) = tokio::sync::mpsc::channel::<String>(1024);
        // Standard input is read on a blocking thread; whatever lines have arrived are sent as
        // one request, so piped input goes in few requests and typed lines go at once.
        std::thread::spawn(move || {
            let prompt = || {
                if interactive {
                    print!(">");
                    let _ = std::io::stdout().flush();
                }
            };
            prompt();
            for line in std::io::stdin()
                .lock()
                .lines()
                .map_while(std::io::Result::ok)
            {
                if lines_tx.blocking_send(line).is_err() {
                    break;
                }
                prompt();
            }
        });
        // Records without a key stick to one partition per request, as Kafka's sticky
        // partitioner keeps them together per batch.
        let mut sticky = 0usize;
        while let Some(first) = lines_rx.recv().await {
            let mut by_partition: BTreeMap<i32, Vec<client::KeyValue>> = BTreeMap::new();
            let mut line = Some(first);
            while let Some(text) = line {
                let (key, value) = reader.record(&text)?;
                let index = match &key {
                    Some(k) => partition_for_key(k, partitions.len()),
                    None => sticky % partitions.len().max(1),
                };
                let partition = partitions.get(index).copied().unwrap_or(0);
                by_partition
                    .entry(partition)
                    .or_default()
                    .push((key, value));
                line = lines_rx.try_recv().ok();
            }
            sticky = sticky.wrapping_add(1);
            for (partition, records) in by_partition {
                client::produce(&mut conn, &args.topic, partition, &records).await?;
            }
        }
        Ok(())
    }))
}

/// `kafka-console-consumer`: print records, one per line.
#[derive(Debug, Args)]
pub struct ConsumerArgs {
    #[command(flatten)]
    bootstrap: client::Bootstrap,
    /// The topic to consume on.
    #[arg(long)]
    topic: String,
    /// The consumer group id of the consumer; offsets are committed there and read back.
    #[arg(long)]
    group: Option<String>,
    /// Start with the earliest message present rather than the latest (when the group has no
    /// committed offset).
    #[arg(long)]
    from_beginning: bool,
    /// The number of messages to consume before exiting.
    #[arg(long)]
    max_messages: Option<u64>,
    /// The partition to consume from (default: all).
    #[arg(long)]
    partition: Option<i32>,
    /// The offset to start from with --partition: a number, `earliest` or `latest`.
    #[arg(long)]
    offset: Option<String>,
    /// Exit if no message is available for consumption for this long.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Formatter properties: print.key, print.value, print.timestamp, print.partition,
    /// print.offset, print.headers, key.separator, line.separator, headers.separator,
    /// null.literal.
    #[arg(long = "property", value_name = "key=value")]
    properties: Vec<String>,
    /// Consumer settings (accepted for compatibility).
    #[arg(long = "consumer-property", value_name = "key=value")]
    consumer_properties: Vec<String>,
}

/// Kafka's `DefaultMessageFormatter`.
struct Formatter {
    /// print.timestamp / print.partition / print.offset / print.headers / print.key /
    /// print.value.
    timestamp: bool,
    partition: bool,
    offset: bool,
    headers: bool,
    key: bool,
    value: bool,
    /// key.separator (between fields), line.separator, headers.separator.
    separator: String,
    line_separator: String,
    headers_separator: String,
    /// How a null key, value or header value prints.
    null_literal: String,
}

impl Formatter {
    fn new(props: &BTreeMap<String, String>) -> Formatter {
        let text = |key: &str, default: &str| {
            props
                .get(key)
                .cloned()
                .unwrap_or_else(|| default.to_string())
        };
        Formatter {
            timestamp: flag(props, "print.timestamp"),
            partition: flag(props, "print.partition"),
            offset: flag(props, "print.offset"),
            headers: flag(props, "print.headers"),
            key: flag(props, "print.key"),
            value: props.get("print.value").is_none() || flag(props, "print.value"),
            separator: text("key.separator", "\t"),
            line_separator: text("line.separator", "\n"),
            headers_separator: text("headers.separator", ","),
            null_literal: text("null.literal", "null"),
        }
    }

    fn bytes<'a>(&'a self, value: Option<&'a Bytes>) -> std::borrow::Cow<'a, str> {
        match value {
            Some(b) => String::from_utf8_lossy(b),
            None => self.null_literal.as_str().into(),
        }
    }

    fn format(&self, c: &Consumed) -> String {
        let r = &c.record;
        let mut fields: Vec<String> = Vec::new();
        if self.timestamp {
            fields.push(if r.timestamp < 0 {
                "NO_TIMESTAMP".to_string()
            } else {
                let kind = match r.timestamp_type {
                    TimestampType::Creation => "CreateTime",
                    TimestampType::LogAppend => "LogAppendTime",
                };
                format!("{kind}:{}", r.timestamp)
            });
        }
        if self.partition {
            fields.push(format!("Partition:{}", c.partition));
        }
        if self.offset {
            fields.push(format!("Offset:{}", r.offset));
        }
        if self.headers {
            fields.push(if r.headers.is_empty() {
                "NO_HEADERS".to_string()
            } else {
                r.headers
                    .iter()
                    .map(|(k, v)| format!("{}:{}", k.as_str(), self.bytes(v.as_ref())))
                    .collect::<Vec<_>>()
                    .join(&self.headers_separator)
            });
        }
        if self.key {
            fields.push(self.bytes(r.key.as_ref()).into_owned());
        }
        if self.value {
            fields.push(self.bytes(r.value.as_ref()).into_owned());
        }
        let mut line = fields.join(&self.separator);
        line.push_str(&self.line_separator);
        line
    }
}

/// Runs `kafka-console-consumer`.
pub fn consume(args: ConsumerArgs) -> ExitCode {
    let mut seen = 0u64;
    let result = client::block_on(consume_loop(&args, &mut seen));
    eprintln!("Processed a total of {seen} messages");
    finish(result)
}

async fn consume_loop(args: &ConsumerArgs, seen: &mut u64) -> Result<()> {
    let formatter = Formatter::new(&properties(&args.properties)?);
    let mut conn = Connection::connect(&args.bootstrap.bootstrap_server).await?;
    let start = if args.from_beginning { -2 } else { -1 };
    let mut member = None;
    let mut positions: BTreeMap<Tp, i64> = BTreeMap::new();
    match (&args.group, args.partition) {
        (Some(group), None) => {
            let coordinator = super::group_client::coordinator(&mut conn, group).await?;
            let mut m = Member::new(coordinator, group, vec![args.topic.clone()]);
            positions = assigned_positions(&mut m, &mut conn, start).await?;
            member = Some(m);
        }
        (Some(_), Some(_)) => bail!("Options group and partition cannot be specified together."),
        (None, Some(p)) => {
            let tp = (args.topic.clone(), p);
            let offset = match args.offset.as_deref() {
                None => client::list_offsets(&mut conn, std::slice::from_ref(&tp), start).await?,
                Some("earliest") => client::list_offsets(&mut conn, std::slice::from_ref(&tp), -2).await?,
                Some("latest") => client::list_offsets(&mut conn, std::slice::from_ref(&tp), -1).await?,
                Some(n) => BTreeMap::from([(
                    tp.clone(),
                    n.parse::<i64>()
                        .map_err(|_| anyhow!("The provided offset value '{n}' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long."))?,
                )]),
            };
            positions.extend(offset);
        }
        (None, None) => {
            let tps: Vec<Tp> = client::partitions_of(&mut conn, &args.topic)
                .await?
                .into_iter()
                .map(|p| (args.topic.clone(), p))
                .collect();
            positions = client::list_offsets(&mut conn, &tps, start).await?;
        }
    }
    let limit = args.max_messages.unwrap_or(u64::MAX);
    let idle = args.timeout_ms.map(Duration::from_millis);
    let mut last_message = Instant::now();
    let mut last_heartbeat = Instant::now();
    let mut last_commit = Instant::now();
    let stdout = std::io::stdout();
    let result: Result<()> = async {
        while *seen < limit {
            if let Some(m) = member.as_mut() {
                if last_heartbeat.elapsed() >= HEARTBEAT_EVERY {
                    last_heartbeat = Instant::now();
                    if m.heartbeat().await? {
                        m.commit(&positions).await.ok();
                        positions = assigned_positions(m, &mut conn, start).await?;
                    }
                }
                if last_commit.elapsed() >= AUTO_COMMIT_EVERY {
                    last_commit = Instant::now();
                    m.commit(&positions).await?;
                }
            }
            let records = if positions.is_empty() {
                tokio::time::sleep(Duration::from_millis(500)).await;
                Vec::new()
            } else {
                client::fetch(&mut conn, &mut positions, 500).await?
            };
            if records.is_empty() {
                if idle.is_some_and(|idle| last_message.elapsed() >= idle) {
                    break;
                }
                continue;
            }
            last_message = Instant::now();
            let mut out = stdout.lock();
            for c in records {
                if *seen >= limit {
                    // Not printed: the committed position must not pass it.
                    let tp = (c.topic.clone(), c.partition);
                    let offset = positions.get(&tp).copied().unwrap_or(c.record.offset);
                    positions.insert(tp, offset.min(c.record.offset));
                    continue;
                }
                out.write_all(formatter.format(&c).as_bytes())?;
                *seen += 1;
            }
            out.flush()?;
        }
        Ok(())
    }
    .await;
    if let Some(m) = member.as_mut() {
        let committed = m.commit(&positions).await;
        m.leave().await;
        return result.and(committed);
    }
    result
}

/// Joins the group and returns where to read each assigned partition: the committed offset, or
/// `start` (-2 earliest, -1 latest) where the group has none.
async fn assigned_positions(
    member: &mut Member,
    conn: &mut Connection,
    start: i64,
) -> Result<BTreeMap<Tp, i64>> {
    let assigned = member.join(conn).await?;
    let mut positions = member.committed(&assigned).await?;
    let missing: Vec<Tp> = assigned
        .iter()
        .filter(|tp| !positions.contains_key(*tp))
        .cloned()
        .collect();
    if !missing.is_empty() {
        positions.extend(client::list_offsets(conn, &missing, start).await?);
    }
    Ok(positions)
}

fn finish(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ERROR {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_land_on_the_partitions_kafkas_partitioner_picks() {
        // What Apache Kafka 4's producer chose for these keys over 3 partitions.
        assert_eq!(partition_for_key(b"k1", 3), 2);
        assert_eq!(partition_for_key(b"k2", 3), 0);
        assert_eq!(partition_for_key(b"k3", 3), 1);
        // Kafka's Utils.murmur2 test vectors.
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }

    #[test]
    fn lines_split_at_the_key_separator_like_kafkas_line_reader() {
        let props =
            properties(&["parse.key=true".into(), "key.separator=:".into()]).expect("props");
        let mut reader = LineReader::new(&props);
        let (k, v) = reader.record("k:v:w").expect("split");
        assert_eq!(
            (k.as_deref(), v.as_deref()),
            (Some(&b"k"[..]), Some(&b"v:w"[..]))
        );
        let err = reader.record("novalue").expect_err("no separator");
        assert_eq!(
            err.to_string(),
            "No key separator found on line number 2: 'novalue'"
        );
    }
}
