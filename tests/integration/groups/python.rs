//! Consumer groups through the Python clients: confluent-kafka (classic and KIP-848 consumer
//! protocol) and kafka-python resume from committed offsets; the admin clients list,
//! describe and delete groups and delete offsets. The scenarios live in
//! `tests/python/group_clients.py`; the interpreter is `$STROM_PYTHON`, else the client
//! virtualenv `scripts/install-clients.sh` sets up (`tests/compat/.venv`, with confluent-kafka
//! and kafka-python).

use crate::common::{TestBroker, require};
use std::path::PathBuf;
use std::process::Command;

/// Runs one scenario against a fresh broker; its checks print `ok: ...` lines.
fn scenario(name: &str) {
    let Some(python) = require::python_clients() else {
        return;
    };
    let b = TestBroker::start();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/group_clients.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(name)
        .arg(b.bootstrap())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scenario {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ok: "),
        "scenario {name} checked nothing:\n{stdout}"
    );
}

#[test]
fn confluent_kafka_classic_group_resumes_from_committed_offsets() {
    scenario("confluent-classic");
}

#[test]
fn confluent_kafka_consumer_protocol_group_resumes_from_committed_offsets() {
    scenario("confluent-consumer");
}

#[test]
fn kafka_python_group_resumes_from_committed_offsets() {
    scenario("kafka-python");
}

#[test]
fn admin_clients_list_describe_delete_groups_and_offsets() {
    scenario("admin");
}
