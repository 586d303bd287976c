//! The `strom` command line. It only parses arguments and calls into the library.
//!
//! Invoked as `kafka-storage`, `kafka-server-start` or `kafka-server-stop` (symlinks), it
//! behaves like those Kafka scripts so existing instructions work unchanged.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
