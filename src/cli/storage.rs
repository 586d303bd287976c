//! `strom storage` (kafka-storage) and `strom stop` (kafka-server-stop).

use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct StorageArgs {}

#[derive(Debug, Args)]
pub struct StopArgs {}

pub fn run(_args: StorageArgs) -> ExitCode {
    ExitCode::FAILURE
}

pub fn stop(_args: StopArgs) -> ExitCode {
    ExitCode::FAILURE
}
