//! `strom server` (and `kafka-server-start`): run the broker.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use strom::config::KafkaConfig;
use strom::server::Broker;
use strom::storage::format::ensure_formatted;
use strom::storage::lock::lock_dirs;
use strom::storage::pid_file::PidFile;
use tracing::{error, warn};

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Kafka server.properties file. Without one, Strom runs on its embedded default:
    /// PLAINTEXT://127.0.0.1:9092, data in the platform data directory.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// The same file given positionally, as kafka-server-start takes it.
    #[arg(conflicts_with = "config")]
    pub config_file: Option<PathBuf>,
    /// Override a property: --override key=value (repeatable), as in Kafka.
    #[arg(long = "override", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Log level (TRACE, DEBUG, INFO, WARN, ERROR); RUST_LOG takes precedence.
    #[arg(long)]
    pub log_level: Option<String>,
    /// Write the log to DIR/server.log, rolled by size (server.log.1, .2, ...), as Kafka writes
    /// its server.log to $LOG_DIR. Standard error then gets ERROR lines only (all lines when it
    /// is a terminal).
    #[arg(long, env = "LOG_DIR", value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Roll server.log when it passes this many bytes.
    #[arg(long, default_value_t = strom::logging::DEFAULT_FILE_MAX_BYTES)]
    pub log_file_max_bytes: u64,
    /// Rolled server.log files to keep.
    #[arg(long, default_value_t = strom::logging::DEFAULT_FILE_BACKUPS)]
    pub log_file_backups: u32,
}

/// Where the embedded default keeps its data: the platform data directory
/// (`~/Library/Application Support/io.strom.strom` on macOS, `~/.local/share/strom` on Linux).
pub fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("io", "strom", "strom").map(|d| d.data_dir().to_path_buf())
}

pub fn run(args: ServerArgs) -> ExitCode {
    strom::logging::init(&strom::logging::LogOptions {
        level: args.log_level.clone(),
        log_dir: args.log_dir.clone(),
        file_max_bytes: args.log_file_max_bytes,
        file_backups: args.log_file_backups,
    });
    let loaded = match args.config.or(args.config_file) {
        Some(path) => KafkaConfig::load(&path, &args.overrides),
        None => match default_data_dir() {
            Some(dir) => KafkaConfig::embedded_default(dir, &args.overrides),
            None => {
                error!(
                    "Cannot determine the platform data directory (no home directory); pass --config FILE"
                );
                return ExitCode::from(2);
            }
        },
    };
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            // One ERROR line: to standard error (launchd's log file), server.log and the
            // unified log at error level.
            error!("{e}");
            return ExitCode::from(2);
        }
    };
    for w in &loaded.warnings {
        warn!("{w}");
    }
    let config = loaded.config;
    // Before anything reads or writes the dirs: a second broker on the same data stops here.
    let dirs: std::collections::BTreeSet<&std::path::Path> = config
        .log_dirs
        .iter()
        .chain(std::iter::once(&config.metadata_log_dir))
        .map(PathBuf::as_path)
        .collect();
    let _locks = match lock_dirs(dirs) {
        Ok(locks) => locks,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let storage = match ensure_formatted(&config) {
        Ok(s) => s,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let _pid_file = match PidFile::create(&config) {
        Ok(p) => Some(p),
        Err(e) => {
            warn!("{e}; kafka-server-stop will not find this broker");
            None
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!("Cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        // Catch the signals before start-up: a SIGTERM that arrives while the logs load then
        // means a clean shutdown as soon as the broker runs, not death by the signal.
        let shutdown = shutdown_signal();
        let broker = Broker::start(config, storage.cluster_id).await?;
        broker.run(shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGTERM (what launchd and kafka-server-stop send) or SIGINT (Ctrl-C). The
/// handlers are installed when this is called (inside the runtime), not when the future is first
/// polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let signals = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            match signals {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
