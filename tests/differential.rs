//! Differential conformance: the same scripted requests go to Apache Kafka 4.1.1 and to Strom,
//! started from the same generated `server.properties`, and the decoded responses must match
//! field by field except for the differences listed in [`ALLOWED`] (mirrored in DIFFERENCES.md).
//! Needs java and mvn (scripts/apache-kafka.sh); Kafka is started once for all sequences.

#[path = "differential/brokers.rs"]
mod brokers;
mod common;
#[path = "differential/diff.rs"]
mod diff;
#[path = "differential/sequences.rs"]
mod sequences;
#[path = "differential/session.rs"]
mod session;

use diff::Allowed;

/// Differences accepted between Kafka and Strom: (step glob, field glob, reason).
/// Keep in sync with DIFFERENCES.md at the repository root.
const ALLOWED: &[Allowed] = &[
    Allowed {
        step: "create_topics.*",
        field: "topics[*].configs*",
        reason: "GAP: Strom lists no topic configs in CreateTopics v5+ responses (Kafka lists all, with sources) and sends null instead of [] on errors",
    },
    Allowed {
        step: "create_topics.ok_*",
        field: "topics[*].error_message",
        reason: "BUG: Strom sends \"\" instead of a null error_message for a created topic",
    },
    Allowed {
        step: "create_topics.bad_name_*",
        field: "topics[*].error_message",
        reason: "wording: Kafka 4.1 says \"Topic name is invalid: ...\"; Strom words it differently",
    },
    Allowed {
        step: "metadata.invalid_name",
        field: "topics[*].error_code",
        reason: "BUG: Strom answers UNKNOWN_TOPIC_OR_PARTITION (3) for an invalid topic name; Kafka INVALID_TOPIC_EXCEPTION (17)",
    },
    Allowed {
        step: "produce.*",
        field: "responses[*].partition_responses[*].error_message",
        reason: "wording: Kafka 4.1 sends null here; Strom explains the rejection",
    },
    Allowed {
        step: "produce.magic1",
        field: "responses[*].partition_responses[*].error_code",
        reason: "BUG: Strom answers CORRUPT_MESSAGE (2) to a magic-1 message set on Produce v9; Kafka INVALID_RECORD (87)",
    },
    Allowed {
        step: "fetch.beyond_end",
        field: "responses[*].partitions[*].high_watermark",
        reason: "BUG (cosmetic): on OFFSET_OUT_OF_RANGE Kafka sends -1; Strom the partition's real high watermark",
    },
    Allowed {
        step: "fetch.beyond_end",
        field: "responses[*].partitions[*].last_stable_offset",
        reason: "BUG (cosmetic): on OFFSET_OUT_OF_RANGE Kafka sends -1; Strom the real last stable offset",
    },
    Allowed {
        step: "fetch.beyond_end",
        field: "responses[*].partitions[*].log_start_offset",
        reason: "BUG (cosmetic): on OFFSET_OUT_OF_RANGE Kafka sends -1; Strom the real log start offset",
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
        step: "describe_configs.cfg.empty_key_list",
        field: "configs.is_empty",
        reason: "BUG: Strom answers an empty configuration_keys list with no configs; Kafka reads [] like null (all configs)",
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
