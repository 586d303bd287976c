//! `strom service`: launchd LaunchAgent plist generation and installation.

use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ServiceArgs {}

pub fn run(_args: ServiceArgs) -> ExitCode {
    ExitCode::FAILURE
}
