//! Apache Kafka 4.4.0's own classes (broker, command-line tools) from Maven Central, for tests
//! that compare with or drive Strom through them; java and mvn are checked through `require`.

use std::path::Path;
use std::process::Command;

/// The Kafka version these tests run.
pub const KAFKA_VERSION: &str = "4.4.0";

/// The classpath of Apache Kafka (resolved by Maven into `root`), or `None` when java or mvn
/// is missing (`require` prints the SKIP line, or fails the test under `STROM_REQUIRE_ALL`).
pub fn classpath(root: &Path) -> Option<String> {
    super::require::tool("java")?;
    super::require::tool("mvn")?;
    let pom = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/pom.xml");
    let out = root.join("classpath");
    let status = Command::new("mvn")
        .args(["-q", "-B", "-f"])
        .arg(&pom)
        .arg(format!("-Dkafka.version={KAFKA_VERSION}"))
        .arg("dependency:build-classpath")
        .arg(format!("-Dmdep.outputFile={}", out.display()))
        .status()
        .expect("mvn runs");
    assert!(status.success(), "mvn resolves Kafka {KAFKA_VERSION}");
    Some(std::fs::read_to_string(out).expect("classpath written"))
}

/// `java <class> <args>` on Kafka's classpath, logging as Kafka's tools log.
pub fn java(cp: &str, class: &str, args: &[&str]) -> Command {
    let mut c = Command::new("java");
    c.arg("-Xmx512m")
        .arg(format!(
            "-Dlog4j2.configurationFile={}/tests/oracle/log4j2.properties",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args(["-cp", cp, class])
        .args(args);
    c
}
