//! Run-time checks for the tools from outside Rust that some integration tests drive (Java and
//! Maven for Apache Kafka, the Python clients, xmllint, Ruby...).
//!
//! `cargo test` must pass on a machine with nothing but Rust, so a test whose tool is missing
//! prints `SKIP <test>: <tool> not found (<how to get it>)` and returns early:
//!
//! ```ignore
//! let Some(ruby) = require::tool("ruby") else { return };
//! ```
//!
//! `scripts/test.sh` installs every tool and sets `STROM_REQUIRE_ALL=1`: there a missing tool fails
//! the test instead, so CI never passes by skipping.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Set (to anything but `0`) by `scripts/test.sh`: a missing tool is then a test failure.
pub const REQUIRE_ALL: &str = "STROM_REQUIRE_ALL";

/// Every program a test may ask for, with how to get it. Keeping the hints here means each test
/// names just the program and every SKIP line for it reads the same.
const TOOLS: &[(&str, &str)] = &[
    (
        "java",
        "a JDK 17 or newer; Debian: apt-get install default-jdk-headless",
    ),
    ("mvn", "Apache Maven; Debian: apt-get install maven"),
    ("python3", "Python 3; Debian: apt-get install python3"),
    ("go", "Go; Debian: apt-get install golang-go"),
    ("node", "Node.js; Debian: apt-get install nodejs npm"),
    ("kcat", "Debian: apt-get install kcat"),
    ("xmllint", "Debian: apt-get install libxml2-utils"),
    ("ruby", "Debian: apt-get install ruby"),
];

/// The repository root (where `scripts/` and `tests/` are).
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `program` found on `PATH`, else a SKIP line (or, under [`REQUIRE_ALL`], a panic) and None.
pub fn tool(program: &str) -> Option<PathBuf> {
    let how = TOOLS
        .iter()
        .find(|(name, _)| *name == program)
        .map(|(_, how)| *how)
        // invariant: a test asks only for programs listed in TOOLS (a typo is the test's bug).
        .unwrap_or_else(|| panic!("require::tool({program:?}): add it to TOOLS with a hint"));
    match which::which(program) {
        Ok(path) => Some(path),
        Err(_) => missing(program, &format!("{how}; scripts/test.sh installs it")),
    }
}

/// `scripts/apache-kafka.sh`, which runs Apache Kafka's own classes from Maven Central jars,
/// when the `java` and `mvn` it needs are installed.
pub fn apache_kafka() -> Option<PathBuf> {
    tool("java")?;
    tool("mvn")?;
    Some(repo().join("scripts/apache-kafka.sh"))
}

/// The Python interpreter with the client libraries (confluent-kafka, kafka-python...):
/// `$STROM_PYTHON`, else the virtualenv `scripts/install-clients.sh` sets up.
pub fn python_clients() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("STROM_PYTHON") {
        return Some(p.into());
    }
    let venv = repo().join("tests/compat/.venv/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    missing(
        "the Python clients (tests/compat/.venv)",
        "run scripts/install-clients.sh, or set STROM_PYTHON to a python with confluent-kafka \
         and kafka-python",
    )
}

/// Reports a missing tool: a failure under [`REQUIRE_ALL`], else a SKIP line for this test.
fn missing<T>(what: &str, how: &str) -> Option<T> {
    let required = std::env::var_os(REQUIRE_ALL).is_some_and(|v| !v.is_empty() && v != "0");
    if required {
        panic!("{what} not found ({how}), and {REQUIRE_ALL} is set: nothing may be skipped");
    }
    skip(&format!("{what} not found ({how})"));
    None
}

/// Prints `SKIP <test>: <why>` where `cargo test` shows it. For conditions `scripts/test.sh`
/// does not provide either (another OS, a Homebrew checkout), so [`REQUIRE_ALL`] does not apply;
/// a missing tool goes through [`tool`] instead.
pub fn skip(why: &str) {
    // libtest names each test's thread after the test.
    let current = std::thread::current();
    let test = current.name().unwrap_or("<unnamed test>");
    // Straight to the stderr handle: libtest captures `eprintln!`, and a skip must be seen.
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}");
}
