//! `strom server`: run the broker.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Kafka server.properties file (also accepted as a positional argument).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// The same file given positionally, as kafka-server-start takes it.
    #[arg(conflicts_with = "config")]
    pub config_file: Option<PathBuf>,
    /// Override a property: --override key=value (repeatable), as in Kafka.
    #[arg(long = "override", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

pub fn run(_args: ServerArgs) -> ExitCode {
    ExitCode::FAILURE
}
