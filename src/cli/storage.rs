//! `strom storage` (kafka-storage) and `strom stop` (kafka-server-stop).
//!
//! Arguments, output and exit codes follow Kafka's `kafka-storage` so scripts and instructions
//! written for Kafka work unchanged: progress on stdout, the reason for a failure on stderr,
//! exit status 1 on failure.

use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use strom::config::KafkaConfig;
use strom::storage::ensemble::info_report;
use strom::storage::format::{self, FormatRequest, QuorumFlags};
use strom::storage::kafka_uuid;
use strom::storage::pid_file::{self, StopOutcome};

/// `strom storage`: the Kafka storage tool.
#[derive(Debug, Args)]
pub struct StorageArgs {
    #[command(subcommand)]
    command: StorageCommand,
}

#[derive(Debug, Subcommand)]
enum StorageCommand {
    /// Print a random UUID in Kafka's form, for use as a cluster id.
    RandomUuid,
    /// Format the Kafka log directories on this node.
    Format(FormatArgs),
    /// Get information about the Kafka log directories on this node.
    Info(ConfigArg),
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// The Kafka configuration file to use.
    #[arg(long, short = 'c')]
    config: PathBuf,
}

#[derive(Debug, Args)]
struct FormatArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The cluster ID to use.
    #[arg(long = "cluster-id", short = 't')]
    cluster_id: String,
    /// Skip over already formatted directories rather than failing.
    #[arg(long, short = 'g')]
    ignore_formatted: bool,
    /// Initialize a controller as a single-node dynamic quorum (controller.quorum.voters
    /// must not be set; controller.quorum.bootstrap.servers is used instead).
    #[arg(long, short = 's', group = "quorum")]
    standalone: bool,
    /// Initialize a server without specifying a dynamic quorum.
    #[arg(long, short = 'N', group = "quorum")]
    no_initial_controllers: bool,
    /// Initialize a server with the given dynamic quorum: a comma-separated list of
    /// id@hostname:port:directory.
    #[arg(long, short = 'I', group = "quorum", value_name = "VOTERS")]
    initial_controllers: Option<String>,
}

/// `strom stop`: stop the broker that uses a configuration's storage.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// The broker's server.properties (default: Homebrew's etc/kafka/server.properties, then
    /// the embedded default of `strom server` without a config).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// The same file given positionally.
    #[arg(conflicts_with = "config")]
    config_file: Option<PathBuf>,
    /// Seconds to wait for the clean shutdown to finish.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

/// Runs a `strom storage` subcommand.
pub fn run(args: StorageArgs) -> ExitCode {
    let result = match args.command {
        StorageCommand::RandomUuid => {
            println!("{}", kafka_uuid::to_kafka_string(kafka_uuid::random()));
            Ok(ExitCode::SUCCESS)
        }
        StorageCommand::Format(f) => run_format(&f),
        StorageCommand::Info(c) => run_info(&c.config),
    };
    result.unwrap_or_else(|message| {
        eprintln!("{message}");
        ExitCode::FAILURE
    })
}

fn load(path: &Path) -> Result<KafkaConfig, String> {
    let loaded = KafkaConfig::load(path, &[]).map_err(|e| e.to_string())?;
    for warning in &loaded.warnings {
        eprintln!("WARN {warning}");
    }
    Ok(loaded.config)
}

fn run_format(args: &FormatArgs) -> Result<ExitCode, String> {
    let config = load(&args.config.config)?;
    let flags = QuorumFlags {
        standalone: args.standalone,
        initial_controllers: args.initial_controllers.clone(),
        no_initial_controllers: args.no_initial_controllers,
    };
    let request =
        FormatRequest::from_config(&config, &args.cluster_id, &flags, args.ignore_formatted)
            .map_err(|e| e.to_string())?;
    let report = format::format(&request).map_err(|e| e.to_string())?;
    for dir in &report.unreadable {
        println!(
            "I/O error trying to read log directory {}. Ignoring...",
            dir.display()
        );
    }
    if report.formatted.is_empty() {
        println!("All of the log directories are already formatted.");
    }
    for formatted in &report.formatted {
        println!("{formatted}");
    }
    Ok(ExitCode::SUCCESS)
}

fn run_info(path: &Path) -> Result<ExitCode, String> {
    let config = load(path)?;
    let mut dirs: std::collections::BTreeSet<PathBuf> = config.log_dirs.iter().cloned().collect();
    dirs.insert(config.metadata_log_dir.clone());
    let (text, problems) = info_report(&dirs);
    print!("{text}");
    Ok(if problems {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The configurations whose broker `stop` looks for: the one given, else Homebrew's
/// server.properties (if installed) and the embedded default `strom server` runs without one.
fn stop_candidates(args: &StopArgs) -> Result<Vec<KafkaConfig>, String> {
    if let Some(path) = args.config.as_ref().or(args.config_file.as_ref()) {
        return Ok(vec![load(path)?]);
    }
    let mut configs = Vec::new();
    if let Some(path) = super::service::default_config() {
        configs.push(load(&path)?);
    }
    if let Some(dir) = super::server::default_data_dir() {
        configs.push(
            KafkaConfig::embedded_default(dir, &[])
                .map_err(|e| e.to_string())?
                .config,
        );
    }
    Ok(configs)
}

/// Runs `strom stop` / `kafka-server-stop`.
pub fn stop(args: StopArgs) -> ExitCode {
    let timeout = Duration::from_secs(args.timeout);
    let result = stop_candidates(&args).and_then(|configs| {
        for config in &configs {
            match pid_file::stop(config, timeout).map_err(|e| e.to_string())? {
                StopOutcome::NotRunning => continue,
                outcome => return Ok(outcome),
            }
        }
        Ok(StopOutcome::NotRunning)
    });
    match result {
        Ok(StopOutcome::Stopped(pid)) => {
            println!("Stopped broker (pid {pid})");
            ExitCode::SUCCESS
        }
        Ok(StopOutcome::StillRunning(pid)) => {
            eprintln!(
                "Sent SIGTERM to broker (pid {pid}); it is still shutting down after {} s",
                args.timeout
            );
            ExitCode::FAILURE
        }
        Ok(StopOutcome::NotRunning) => {
            eprintln!("No kafka server to stop");
            ExitCode::FAILURE
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
