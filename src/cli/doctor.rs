//! `strom doctor`: one command for the questions Mac Kafka users ask most. Is the service loaded
//! and running? Which config and data dir does it use? Is the storage formatted, and whose cluster
//! id does it hold? Do the listeners answer a Kafka request? What was the last error? Each
//! problem comes with the advice that fixes it.

use super::client::Connection;
use clap::Args;
use kafka_protocol::messages::ApiVersionsRequest;
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use strom::config::KafkaConfig;
use strom::storage::meta_properties::MetaProperties;
use strom::storage::pid_file;

/// How long a listener may take to answer ApiVersions.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Bytes read from the end of a log file when looking for its last error.
const LOG_TAIL_BYTES: u64 = 1024 * 1024;

/// `strom doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The broker's server.properties (default: Homebrew's etc/kafka/server.properties, else
    /// the embedded default).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// The broker's log directory (default: $LOG_DIR, else Homebrew's var/log/kafka).
    #[arg(long, env = "LOG_DIR")]
    log_dir: Option<PathBuf>,
    /// The launchd label (macOS) or systemd unit (Linux) of the service.
    #[arg(long)]
    service: Option<String>,
}

/// The findings, printed as they are made.
struct Report {
    /// Problems found.
    problems: usize,
}

impl Report {
    fn ok(&self, what: &str) {
        println!("[ok] {what}");
    }
    fn info(&self, what: &str) {
        println!("     {what}");
    }
    fn problem(&mut self, what: &str, advice: &str) {
        self.problems += 1;
        println!("[!!] {what}");
        for line in advice.lines() {
            println!("     -> {line}");
        }
    }
}

/// Runs `strom doctor`: exit status 0 when nothing is wrong, 1 otherwise.
pub fn run(args: DoctorArgs) -> ExitCode {
    let mut report = Report { problems: 0 };
    let homebrew = super::service::homebrew_prefix();
    service_state(&mut report, args.service.as_deref());
    let config_path = args.config.clone().or_else(super::service::default_config);
    let config = load_config(&mut report, config_path.as_deref());
    let running = config.as_ref().and_then(|c| pid_state(&mut report, c));
    if let Some(config) = &config {
        storage_state(&mut report, config);
        listener_state(&mut report, config, running);
    }
    let log_dir = args
        .log_dir
        .or_else(|| homebrew.map(|p| p.join("var/log/kafka")))
        .filter(|d| d.is_dir());
    last_error(&mut report, log_dir.as_deref());
    println!();
    if report.problems == 0 {
        println!("No problems found.");
        ExitCode::SUCCESS
    } else {
        println!("{} problem(s) found.", report.problems);
        ExitCode::FAILURE
    }
}

fn load_config(report: &mut Report, path: Option<&Path>) -> Option<KafkaConfig> {
    let loaded = match path {
        Some(path) => {
            report.info(&format!("config: {}", path.display()));
            KafkaConfig::load(path, &[])
        }
        None => {
            let dir = super::server::default_data_dir()?;
            report.info("config: none (the embedded default of `strom server`)");
            KafkaConfig::embedded_default(dir, &[])
        }
    };
    match loaded {
        Ok(l) => {
            report.ok("the configuration is valid");
            Some(l.config)
        }
        Err(e) => {
            report.problem(
                &format!("the configuration does not load: {e}"),
                "fix that line, then `brew services restart strom` (launchd retries every 30 s and picks up the fix by itself)",
            );
            None
        }
    }
}

/// What launchd (macOS) or systemd (Linux) says about the service.
fn service_state(report: &mut Report, label: Option<&str>) {
    #[cfg(target_os = "macos")]
    {
        let labels: Vec<&str> = match label {
            Some(l) => vec![l],
            None => vec!["homebrew.mxcl.strom", strom::service::DEFAULT_LABEL],
        };
        // SAFETY: getuid(2) cannot fail and touches no memory.
        let uid = unsafe { libc::getuid() };
        for label in labels {
            let Ok(out) = std::process::Command::new("launchctl")
                .args(["print", &format!("gui/{uid}/{label}")])
                .output()
            else {
                continue;
            };
            if !out.status.success() {
                continue;
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let field = |name: &str| {
                text.lines()
                    .map(str::trim)
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            };
            let state = field("state = ").unwrap_or_else(|| "unknown".into());
            let last_exit = field("last exit code = ");
            if state == "running" {
                report.ok(&format!("launchd service {label} is loaded and running"));
            } else {
                report.problem(
                    &format!(
                        "launchd service {label} is loaded but {state} (last exit code {})",
                        last_exit.as_deref().unwrap_or("unknown")
                    ),
                    "exit code 2 is a configuration error (see below); `brew services restart strom` starts it again",
                );
            }
            return;
        }
        report.info("no launchd service is loaded (start one with `brew services start strom`)");
    }
    #[cfg(not(target_os = "macos"))]
    {
        let unit = label.unwrap_or("homebrew.strom");
        match std::process::Command::new("systemctl")
            .args(["--user", "is-active", unit])
            .output()
        {
            Ok(out) if out.status.success() => {
                report.ok(&format!("systemd user service {unit} is active"))
            }
            Ok(out) => {
                let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if state.is_empty() {
                    report.info("no systemd user session to ask (not run by `brew services` here)");
                } else {
                    report.info(&format!("systemd user service {unit}: {state}"));
                }
            }
            Err(_) => {
                report.info("no service manager to ask here (launchd is macOS-only; no systemctl)")
            }
        }
    }
}

/// The broker recorded in the pid file: Some(pid) when it is alive.
fn pid_state(report: &mut Report, config: &KafkaConfig) -> Option<i32> {
    let path = pid_file::path_for(config);
    match pid_file::read_pid(&path) {
        Ok(Some(pid)) if pid_file::is_alive(pid) => {
            report.ok(&format!(
                "a broker is running (pid {pid}, {})",
                path.display()
            ));
            Some(pid)
        }
        Ok(Some(pid)) => {
            report.problem(
                &format!("stale pid file {} (process {pid} is gone)", path.display()),
                "the broker did not shut down cleanly; it replaces the file at its next start, or delete it",
            );
            None
        }
        Ok(None) => {
            report.info("no broker is running for this configuration (no pid file)");
            None
        }
        Err(e) => {
            report.problem(
                &format!("cannot read the pid file: {e}"),
                "check the permissions of the metadata directory",
            );
            None
        }
    }
}

fn storage_state(report: &mut Report, config: &KafkaConfig) {
    let mut dirs: BTreeSet<PathBuf> = config.log_dirs.iter().cloned().collect();
    dirs.insert(config.metadata_log_dir.clone());
    let mut clusters = BTreeSet::new();
    for dir in &dirs {
        match MetaProperties::read(dir) {
            Ok(Some(meta)) => {
                let id = meta.cluster_id.clone().unwrap_or_default();
                report.ok(&format!("{} is formatted (cluster id {id}, node id {})", dir.display(), meta.node_id.map_or("-".into(), |n| n.to_string())));
                if meta.node_id.is_some_and(|n| n != config.node_id) {
                    report.problem(
                        &format!("{} belongs to node {}, the config says node.id={}", dir.display(), meta.node_id.unwrap_or(-1), config.node_id),
                        "set node.id back, or point log.dirs at this node's own directory",
                    );
                }
                clusters.insert(id);
            }
            Ok(None) if dir.exists() => report.problem(
                &format!("{} exists but is not formatted", dir.display()),
                "the broker formats it at its next start; or run `kafka-storage format -t $(kafka-storage random-uuid) -c CONFIG`",
            ),
            Ok(None) => report.info(&format!("{} does not exist yet: the broker creates and formats it at first start", dir.display())),
            Err(e) => report.problem(&format!("{e}"), "restore meta.properties from a backup, or move the directory away to start afresh"),
        }
    }
    if config.offsets_topic_replication_factor > 1 {
        report.problem(
            &format!(
                "offsets.topic.replication.factor={} on a single node: consumer groups get COORDINATOR_NOT_AVAILABLE",
                config.offsets_topic_replication_factor
            ),
            "set offsets.topic.replication.factor=1 (and transaction.state.log.replication.factor=1)",
        );
    }
    if let Some(expected) = &config.cluster_id {
        clusters.insert(expected.clone());
    }
    if clusters.len() > 1 {
        report.problem(
            &format!("cluster id mismatch: {}", clusters.into_iter().collect::<Vec<_>>().join(" vs ")),
            "the directories (or cluster.id in the config) belong to different clusters, the classic\nafter-reformat problem: keep one, move the others away (or fix cluster.id), then restart",
        );
    }
}

/// What answers on a listener's address.
enum Probe {
    /// A Kafka broker answered ApiVersions.
    Kafka(usize),
    /// Something accepted the connection but did not answer as Kafka does.
    NotKafka(String),
    /// Nothing listens.
    Refused(String),
}

async fn probe(address: &str) -> Probe {
    let mut conn = match Connection::connect(address).await {
        Ok(c) => c,
        Err(e) => return Probe::Refused(format!("{e:#}")),
    };
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("strom-doctor"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    match tokio::time::timeout(PROBE_TIMEOUT, conn.send(&request, 3)).await {
        Ok(Ok(r)) if r.error_code == 0 => Probe::Kafka(r.api_keys.len()),
        Ok(Ok(r)) => Probe::NotKafka(format!("ApiVersions error {}", r.error_code)),
        Ok(Err(e)) => Probe::NotKafka(format!("{e:#}")),
        Err(_) => Probe::NotKafka("no answer to ApiVersions".into()),
    }
}

fn listener_state(report: &mut Report, config: &KafkaConfig, running: Option<i32>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            report.problem(&format!("cannot probe the listeners: {e}"), "");
            return;
        }
    };
    for l in &config.listeners {
        if config.controller_listener_names.contains(&l.name) {
            continue;
        }
        let host = if l.host.is_empty() {
            "127.0.0.1"
        } else {
            l.host.as_str()
        };
        let address = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", l.port)
        } else {
            format!("{host}:{}", l.port)
        };
        match (runtime.block_on(probe(&address)), running) {
            (Probe::Kafka(apis), Some(_)) => report.ok(&format!(
                "listener {} {address} answers (ApiVersions: {apis} APIs)",
                l.name
            )),
            (Probe::Kafka(apis), None) => report.problem(
                &format!("{address} answers as a Kafka broker ({apis} APIs), but not the one this config runs"),
                "another broker holds the port (Homebrew's kafka? `brew services stop kafka`),\nor one started with another config: `lsof -nP -iTCP:PORT -sTCP:LISTEN` shows which",
            ),
            (Probe::NotKafka(why), _) => report.problem(
                &format!("{address} is taken by a process that is not a Kafka broker ({why})"),
                "find it with `lsof -nP -iTCP:PORT -sTCP:LISTEN`, stop it or move the listener to another port",
            ),
            (Probe::Refused(why), Some(pid)) => report.problem(
                &format!("the broker runs (pid {pid}) but nothing listens on {address}: {why}"),
                "it is still starting (loading logs), or failed to bind: see the last error below",
            ),
            (Probe::Refused(_), None) => report.problem(
                &format!("nothing listens on {address}"),
                "start the broker: `brew services start strom` (or `strom server --config CONFIG`);\nif the service says started, see the last error below",
            ),
        }
    }
}

/// The last ERROR line of server.log and stderr.log in `dir`.
fn last_error(report: &mut Report, dir: Option<&Path>) {
    let Some(dir) = dir else {
        report.info("no log directory found (pass --log-dir)");
        return;
    };
    for name in [strom::logging::SERVER_LOG, strom::service::STDERR_LOG] {
        let path = dir.join(name);
        let Some(tail) = tail(&path) else { continue };
        match tail
            .lines()
            .rev()
            .find(|l| l.contains("] ERROR ") || l.contains("panicked"))
        {
            Some(line) => report.info(&format!("last error in {}: {line}", path.display())),
            None => report.ok(&format!("no error in the end of {}", path.display())),
        }
    }
}

fn tail(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))
        .ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
