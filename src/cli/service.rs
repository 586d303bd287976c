//! `strom service`: launchd LaunchAgent plist generation and installation.

use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use strom::service::{self, DEFAULT_LABEL, LaunchAgent, ProcessType};

/// `strom service`: run the broker from launchd without Homebrew.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    command: ServiceCommand,
}

#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Print the LaunchAgent plist.
    Plist(AgentArgs),
    /// Write ~/Library/LaunchAgents/LABEL.plist and load it (launchctl bootstrap).
    Install(AgentArgs),
    /// Unload the agent (launchctl bootout) and remove its plist.
    Uninstall(LabelArg),
}

#[derive(Debug, Args)]
struct LabelArg {
    /// launchd job label.
    #[arg(long, default_value = DEFAULT_LABEL)]
    label: String,
}

#[derive(Debug, Args)]
struct AgentArgs {
    /// The broker's server.properties (default: Homebrew's etc/kafka/server.properties if
    /// installed, else none: the broker's embedded default).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    #[command(flatten)]
    label: LabelArg,
    /// Directory for server.log (the broker's log, rolled) and stderr.log (start failures)
    /// (default: ~/Library/Logs/strom).
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// The strom binary launchd runs (default: this one).
    #[arg(long)]
    program: Option<PathBuf>,
    /// launchd scheduling class.
    #[arg(long, value_enum, default_value_t = ProcessType::Interactive)]
    process_type: ProcessType,
    /// Environment for the broker, e.g. --env RUST_LOG=debug (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got `{text}`"))
}

/// The Homebrew prefix Strom is installed under: `$HOMEBREW_PREFIX`, then the Apple Silicon and
/// Intel default prefixes, the first holding `etc/kafka/server.properties`.
pub fn homebrew_prefix() -> Option<PathBuf> {
    let prefixes = std::env::var_os("HOMEBREW_PREFIX")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/opt/homebrew", "/usr/local"].map(PathBuf::from));
    prefixes
        .into_iter()
        .find(|p| p.join("etc/kafka/server.properties").is_file())
}

/// Homebrew's `etc/kafka/server.properties`, if installed.
pub fn default_config() -> Option<PathBuf> {
    homebrew_prefix().map(|p| p.join("etc/kafka/server.properties"))
}

fn agent(args: AgentArgs) -> Result<LaunchAgent, String> {
    let config = match args.config.or_else(default_config) {
        Some(c) => Some(std::path::absolute(&c).map_err(|e| format!("{}: {e}", c.display()))?),
        None => None,
    };
    let program = match args.program {
        Some(p) => p,
        None => {
            std::env::current_exe().map_err(|e| format!("cannot locate the strom binary: {e}"))?
        }
    };
    let log_dir = match args.log_dir {
        Some(d) => d,
        None => directories::BaseDirs::new()
            .map(|b| b.home_dir().join("Library/Logs/strom"))
            .ok_or("cannot determine the home directory; pass --log-dir")?,
    };
    let mut agent =
        LaunchAgent::for_broker(&program, config.as_deref(), &args.label.label, &log_dir);
    agent.process_type = args.process_type;
    agent.environment_variables = args.env.into_iter().collect::<BTreeMap<_, _>>();
    Ok(agent)
}

/// Runs a `strom service` subcommand.
pub fn run(args: ServiceArgs) -> ExitCode {
    let result = match args.command {
        ServiceCommand::Plist(a) => agent(a)
            .and_then(|agent| agent.to_xml().map_err(|e| e.to_string()))
            .map(|xml| {
                print!("{xml}");
            }),
        ServiceCommand::Install(a) => agent(a).and_then(|agent| {
            let path = service::install(&agent).map_err(|e| e.to_string())?;
            println!("Installed {} and loaded it into launchd", path.display());
            Ok(())
        }),
        ServiceCommand::Uninstall(l) => service::uninstall(&l.label)
            .map_err(|e| e.to_string())
            .map(|path| {
                println!("Unloaded {} and removed {}", l.label, path.display());
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
