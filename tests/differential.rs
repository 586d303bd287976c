//! Differential conformance: the same scripted requests go to Apache Kafka 4.1.1 and to Strom,
//! started from the same generated `server.properties`, and the decoded responses must match
//! field by field except for the differences listed in [`ALLOWED`] (mirrored in DIFFERENCES.md).
//! Needs java and mvn (scripts/apache-kafka.sh); Kafka is started once for all sequences.

// Batch builders (any codec) shared with the fuzz targets.
#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod batches;
#[path = "differential/brokers.rs"]
mod brokers;
mod common;
#[path = "differential/diff.rs"]
mod diff;
#[path = "differential/sequences.rs"]
mod sequences;
#[path = "differential/session.rs"]
mod session;
#[path = "differential/txn.rs"]
mod txn;

use diff::Allowed;

/// Differences accepted between Kafka and Strom: (step glob, field glob, reason).
/// Keep in sync with DIFFERENCES.md at the repository root.
const ALLOWED: &[Allowed] = &[
    Allowed {
        step: "txn.fetch_read_committed_aborted",
        field: "responses[*].partitions[*].records",
        reason: "legitimate: after a transaction ends, Kafka 4.4's read_committed read stops at the position its LSO metadata had before the marker (same last_stable_offset reported) and returns the marker on the next fetch; Strom returns every batch below the LSO at once; consumers see the same records",
    },
    Allowed {
        step: "create_topics.ok_*",
        field: "topics[*].configs[21].config_source",
        reason: "legitimate: configs[21] is min.insync.replicas (both brokers list topic configs by name); Kafka 4.1's storage format bootstraps a cluster-level record for it (DYNAMIC_DEFAULT_BROKER_CONFIG, 3), Strom reports DEFAULT_CONFIG (5); values agree",
    },
    Allowed {
        step: "create_topics.bad_name_*",
        field: "topics[*].error_message",
        reason: "wording: Kafka 4.1 says \"Topic name is invalid: ...\"; Strom words it differently",
    },
    Allowed {
        step: "produce.*",
        field: "responses[*].partition_responses[*].error_message",
        reason: "wording: Kafka 4.1 sends null here; Strom explains the rejection",
    },
    Allowed {
        step: "produce.records_*",
        field: "responses[*].partition_responses[*].log_start_offset",
        reason: "pending: with an error found while walking the records (structure, count, decompression) Kafka reports the log start offset, Strom -1 (src/handlers/produce.rs answers every append error with -1)",
    },
    Allowed {
        step: "fetch.unknown_topic",
        field: "responses[*].partitions[*].aborted_transactions",
        reason: "cosmetic: Kafka sends [] for an error partition, Strom null; both mean none",
    },
    Allowed {
        step: "find_coordinator.*",
        field: "*error_message",
        reason: "cosmetic: on success Kafka sends \"NONE\" (v3) or \"\" (v4); Strom null",
    },
    Allowed {
        step: "join_group.*",
        field: "member_id",
        reason: "legitimate: member ids end in a random UUID",
    },
    Allowed {
        step: "join_group.*",
        field: "leader",
        reason: "legitimate: the leader is a member id, which ends in a random UUID",
    },
    Allowed {
        step: "join_group.*",
        field: "members[*].member_id",
        reason: "legitimate: member ids end in a random UUID",
    },
    Allowed {
        step: "describe_configs.*",
        field: "configs[min.insync.replicas].source",
        reason: "legitimate: Kafka 4.1's storage format bootstraps a cluster-level min.insync.replicas record (DYNAMIC_DEFAULT_BROKER_CONFIG, 3); Strom reports DEFAULT_CONFIG (5); values agree",
    },
    Allowed {
        step: "delete_topics.*",
        field: "responses[*].error_message",
        reason: "cosmetic: Kafka sends the error's default message; Strom null",
    },
];

#[test]
fn strom_answers_like_apache_kafka() {
    let started = std::time::Instant::now();
    let kafka_dir = tempfile::tempdir().expect("tempdir");
    let strom_dir = tempfile::tempdir().expect("tempdir");
    // Strom first: it starts in well under a second, and a failure there then leaves no JVM behind.
    let strom = brokers::start_strom(strom_dir.path());
    let kafka = brokers::start_kafka(kafka_dir.path());
    eprintln!(
        "differential: both brokers up after {:.1?}",
        started.elapsed()
    );
    let mut s = session::Session::new(kafka.port, strom.port, ALLOWED);
    sequences::run_all(&mut s);
    txn::run(&mut s);
    for a in s.unused() {
        eprintln!(
            "allow-list entry not needed: {} {} ({})",
            a.step, a.field, a.reason
        );
    }
    eprintln!(
        "differential: {} steps compared in {:.1?}",
        s.steps,
        started.elapsed()
    );
    let report: Vec<String> = s
        .found
        .iter()
        .map(|d| {
            format!(
                "{} {}: kafka={} strom={}",
                d.step, d.field, d.kafka, d.strom
            )
        })
        .collect();
    assert!(
        report.is_empty(),
        "{} unlisted differences from Apache Kafka:\n{}",
        report.len(),
        report.join("\n")
    );
}
