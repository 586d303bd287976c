//! Argument parsing (`clap`) and dispatch to the subcommands.

mod client;
mod console;
mod doctor;
mod group_client;
mod groups;
mod server;
mod service;
mod storage;
mod topics;

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::process::ExitCode;

/// Strom: a Kafka-compatible broker in one native binary.
#[derive(Debug, Parser)]
#[command(name = "strom", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the broker (like kafka-server-start).
    Server(server::ServerArgs),
    /// Format and inspect storage directories (like kafka-storage).
    Storage(storage::StorageArgs),
    /// Stop a running broker cleanly (like kafka-server-stop).
    Stop(storage::StopArgs),
    /// Generate, install or remove a launchd LaunchAgent.
    Service(service::ServiceArgs),
    /// Create, list, describe, delete or grow topics (kafka-topics).
    Topics(topics::TopicsArgs),
    /// Send lines of standard input as messages (kafka-console-producer).
    #[command(alias = "console-producer")]
    Produce(console::ProducerArgs),
    /// Print messages of a topic (kafka-console-consumer).
    #[command(alias = "console-consumer")]
    Consume(console::ConsumerArgs),
    /// List, describe, delete consumer groups and reset their offsets (kafka-consumer-groups).
    #[command(alias = "consumer-groups")]
    Groups(groups::GroupsArgs),
    /// Check the installation: service, config, storage, listeners, last error.
    Doctor(doctor::DoctorArgs),
}

/// Entry point: dispatches on argv[0] for the Kafka script names, then on the subcommand.
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let args = rewrite_for_program_name(args);
    let cli = Cli::parse_from(args);
    match cli.command {
        Command::Server(a) => server::run(a),
        Command::Storage(a) => storage::run(a),
        Command::Stop(a) => storage::stop(a),
        Command::Service(a) => service::run(a),
        Command::Topics(a) => topics::run(a),
        Command::Produce(a) => console::produce(a),
        Command::Consume(a) => console::consume(a),
        Command::Groups(a) => groups::run(a),
        Command::Doctor(a) => doctor::run(a),
    }
}

/// Maps `kafka-storage ARGS` to `strom storage ARGS` and so on, by the name we were run as.
fn rewrite_for_program_name(mut args: Vec<OsString>) -> Vec<OsString> {
    let Some(argv0) = args.first() else {
        return vec!["strom".into()];
    };
    let program = std::path::Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("strom")
        .trim_end_matches(".sh")
        .to_string();
    let sub = match program.as_str() {
        "kafka-storage" => "storage",
        "kafka-server-start" => "server",
        "kafka-server-stop" => "stop",
        "kafka-topics" => "topics",
        "kafka-console-producer" => "produce",
        "kafka-console-consumer" => "consume",
        "kafka-consumer-groups" => "groups",
        _ => return args,
    };
    args[0] = "strom".into();
    args.insert(1, sub.into());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(v: &[&str]) -> Vec<String> {
        rewrite_for_program_name(v.iter().map(OsString::from).collect())
            .into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn kafka_script_names_map_to_subcommands() {
        assert_eq!(
            rw(&["/usr/bin/kafka-storage", "random-uuid"]),
            ["strom", "storage", "random-uuid"]
        );
        assert_eq!(
            rw(&["kafka-server-start.sh", "a.properties"]),
            ["strom", "server", "a.properties"]
        );
        assert_eq!(rw(&["kafka-server-stop"]), ["strom", "stop"]);
        assert_eq!(
            rw(&["/opt/homebrew/bin/kafka-topics", "--list"]),
            ["strom", "topics", "--list"]
        );
        assert_eq!(rw(&["kafka-console-producer.sh"]), ["strom", "produce"]);
        assert_eq!(rw(&["kafka-console-consumer"]), ["strom", "consume"]);
        assert_eq!(rw(&["kafka-consumer-groups"]), ["strom", "groups"]);
        assert_eq!(rw(&["strom", "server"]), ["strom", "server"]);
    }
}
