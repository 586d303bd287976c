//! The `strom` command line. It only parses arguments and calls into the library.
//!
//! Invoked as `kafka-storage`, `kafka-server-start`, `kafka-server-stop`, `kafka-topics`,
//! `kafka-console-producer`, `kafka-console-consumer` or `kafka-consumer-groups` (symlinks), it
//! behaves like those Kafka scripts so existing instructions work unchanged.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
