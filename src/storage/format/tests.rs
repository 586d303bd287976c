// Test code only: compiled through `#[cfg(test)] mod tests;` in src/storage/format.rs.
use super::*;
use crate::storage::bootstrap::{BOOTSTRAP_CHECKPOINT, BOOTSTRAP_SNAPSHOT, CLUSTER_METADATA_DIR};
use std::fs;

/// Loads a KRaft combined-mode configuration whose log dirs live under `root`.
fn config(root: &Path, extra: &str) -> KafkaConfig {
    let text = format!(
        "process.roles=broker,controller\nnode.id=1\ncontroller.listener.names=CONTROLLER\n\
         listeners=PLAINTEXT://localhost:19092,CONTROLLER://localhost:19093\n\
         log.dirs={0}/a,{0}/b\n{extra}",
        root.display()
    );
    let path = root.join("server.properties");
    fs::write(&path, text).expect("config written");
    KafkaConfig::load(&path, &[]).expect("config loads").config
}

const VOTERS: &str = "controller.quorum.voters=1@localhost:19093\n";

fn read(dir: &Path) -> MetaProperties {
    MetaProperties::read(dir)
        .expect("readable")
        .expect("formatted")
}

#[test]
fn formats_every_directory_like_kafka() {
    let t = tempfile::tempdir().expect("temp dir");
    let cfg = config(t.path(), VOTERS);
    let req = FormatRequest::from_config(
        &cfg,
        "MkU3OEVBNTcwNTJENDM2Qk",
        &QuorumFlags::default(),
        false,
    )
    .expect("valid request");
    let report = format(&req).expect("formatted");
    let lines: Vec<String> = report.formatted.iter().map(ToString::to_string).collect();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    assert_eq!(
        lines,
        [
            format!(
                "Formatting metadata directory {} with metadata.version 4.1-IV1.",
                a.display()
            ),
            format!(
                "Formatting data directory {} with metadata.version 4.1-IV1.",
                b.display()
            ),
        ]
    );
    let (ma, mb) = (read(&a), read(&b));
    assert_eq!(
        (ma.cluster_id.as_deref(), ma.node_id),
        (Some("MkU3OEVBNTcwNTJENDM2Qk"), Some(1))
    );
    assert_eq!((&ma.cluster_id, ma.node_id), (&mb.cluster_id, mb.node_id));
    assert_ne!(ma.directory_id, mb.directory_id);
    assert!(a.join(BOOTSTRAP_CHECKPOINT).is_file() && b.join(BOOTSTRAP_CHECKPOINT).is_file());
    assert!(
        !a.join(CLUSTER_METADATA_DIR).exists(),
        "static quorum: no voter snapshot"
    );
}

#[test]
fn a_formatted_directory_stops_format_unless_ignored() {
    let t = tempfile::tempdir().expect("temp dir");
    let cfg = config(t.path(), VOTERS);
    let flags = QuorumFlags::default();
    let first = FormatRequest::from_config(&cfg, "C1", &flags, false).expect("valid");
    format(&first).expect("formatted");
    let err = format(&first).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Log directory {} is already formatted. Use --ignore-formatted to ignore this directory and format \
             the others.",
            t.path().join("a").display()
        )
    );
    let extra = config(
        t.path(),
        &format!("{VOTERS}log.dirs={0}/a,{0}/b,{0}/c\n", t.path().display()),
    );
    let again = FormatRequest::from_config(&extra, "C1", &flags, true).expect("valid");
    let report = format(&again).expect("formats the new one only");
    assert_eq!(
        report
            .formatted
            .iter()
            .map(|f| f.dir.clone())
            .collect::<Vec<_>>(),
        [t.path().join("c")]
    );
    let other = FormatRequest::from_config(&extra, "C2", &flags, true).expect("valid");
    assert!(matches!(
        format(&other).unwrap_err(),
        StorageError::ClusterIdMismatch { .. }
    ));
}

#[test]
fn quorum_flags_follow_kafkas_rules() {
    let t = tempfile::tempdir().expect("temp dir");
    let with_voters = config(t.path(), VOTERS);
    let standalone = QuorumFlags {
        standalone: true,
        ..Default::default()
    };
    let err = FormatRequest::from_config(&with_voters, "C", &standalone, false).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("You cannot specify controller.quorum.voters"),
        "{err}"
    );

    let dynamic = config(
        t.path(),
        "controller.quorum.bootstrap.servers=localhost:19093\n",
    );
    let err =
        FormatRequest::from_config(&dynamic, "C", &QuorumFlags::default(), false).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Because controller.quorum.voters is not set"),
        "{err}"
    );
    let none = QuorumFlags {
        no_initial_controllers: true,
        ..Default::default()
    };
    let req = FormatRequest::from_config(&dynamic, "C", &none, false).expect("valid");
    assert_eq!(req.kind_of(&t.path().join("a")), DirectoryKind::Metadata);

    let broker_only = config(
        t.path(),
        "process.roles=broker\ncontroller.quorum.bootstrap.servers=localhost:19093\n\
         listeners=PLAINTEXT://localhost:19092\n",
    );
    let err = FormatRequest::from_config(&broker_only, "C", &standalone, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "You can only use --standalone on a controller."
    );
}

#[test]
fn standalone_writes_the_voter_snapshot_with_the_metadata_directory_id() {
    let t = tempfile::tempdir().expect("temp dir");
    let cfg = config(
        t.path(),
        "controller.quorum.bootstrap.servers=localhost:19093\n",
    );
    let flags = QuorumFlags {
        standalone: true,
        ..Default::default()
    };
    let req = FormatRequest::from_config(&cfg, "C", &flags, false).expect("valid");
    let voter = req
        .initial_voters
        .as_ref()
        .and_then(|v| v.first())
        .cloned()
        .expect("one voter");
    assert_eq!(
        (voter.id, voter.host.as_str(), voter.port),
        (1, "localhost", 19093)
    );
    let report = format(&req).expect("formatted");
    assert_eq!(
        report.formatted[0].kind,
        DirectoryKind::DynamicMetadataVoter
    );
    let a = t.path().join("a");
    assert_eq!(read(&a).directory_id, Some(voter.directory_id));
    assert!(
        a.join(CLUSTER_METADATA_DIR)
            .join(BOOTSTRAP_SNAPSHOT)
            .is_file()
    );
    assert!(!t.path().join("b").join(CLUSTER_METADATA_DIR).exists());
}

#[test]
fn initial_controllers_are_parsed_and_checked() {
    let id = kafka_uuid::to_kafka_string(kafka_uuid::random());
    let voters = parse_initial_controllers(&format!("1@localhost:9093:{id},2@[::1]:9094:{id}"))
        .expect("valid");
    assert_eq!(voters[1].host, "::1");
    assert_eq!(voters[1].port, 9094);
    for bad in [
        "1localhost:9093:x",
        "x@h:1:AAAAAAAAAAAAAAAAAAAAAA",
        "1@h:port:AAAAAAAAAAAAAAAAAAAAAA",
        "1@h:1:short",
    ] {
        assert!(parse_initial_controllers(bad).is_err(), "{bad}");
    }
}

#[test]
fn server_start_formats_once_then_finds_the_same_identity() {
    let t = tempfile::tempdir().expect("temp dir");
    let cfg = config(
        t.path(),
        "cluster.id=MkU3OEVBNTcwNTJENDM2Qk\ncontroller.quorum.bootstrap.servers=localhost:19093\n",
    );
    let first = ensure_formatted(&cfg).expect("formats on first start");
    assert_eq!(first.cluster_id, "MkU3OEVBNTcwNTJENDM2Qk");
    assert_eq!(first.node_id, 1);
    assert_eq!(first.directory_ids.len(), 2);
    let a = t.path().join("a");
    assert!(
        a.join(CLUSTER_METADATA_DIR)
            .join(BOOTSTRAP_SNAPSHOT)
            .is_file(),
        "no voters: standalone quorum"
    );
    assert_eq!(ensure_formatted(&cfg).expect("second start"), first);
}

#[test]
fn server_start_without_cluster_id_draws_one_and_adds_new_directories() {
    let t = tempfile::tempdir().expect("temp dir");
    let cfg = config(t.path(), VOTERS);
    let first = ensure_formatted(&cfg).expect("formats");
    assert_eq!(first.cluster_id.len(), 22);
    let more = config(
        t.path(),
        &format!("{VOTERS}log.dirs={0}/a,{0}/b,{0}/c\n", t.path().display()),
    );
    let second = ensure_formatted(&more).expect("formats the new directory");
    assert_eq!(second.cluster_id, first.cluster_id);
    assert_eq!(second.directory_ids.len(), 3);
}

#[test]
fn server_start_refuses_foreign_storage() {
    let t = tempfile::tempdir().expect("temp dir");
    let cfg = config(t.path(), VOTERS);
    let flags = QuorumFlags::default();
    format(&FormatRequest::from_config(&cfg, "AAA", &flags, false).expect("valid"))
        .expect("formatted");

    let configured = config(t.path(), &format!("{VOTERS}cluster.id=BBB\n"));
    let err = ensure_formatted(&configured).unwrap_err().to_string();
    let path = t.path().join("a").join("meta.properties");
    assert!(
        err.contains("BBB") && err.contains("AAA") && err.contains(&path.display().to_string()),
        "{err}"
    );

    let b = t.path().join("b");
    MetaProperties::v1("CCC", 1, kafka_uuid::random())
        .write(&b)
        .expect("rewritten");
    assert_eq!(
        ensure_formatted(&cfg).unwrap_err().to_string(),
        format!(
            "Invalid cluster.id in: {}/meta.properties. Expected AAA, but read CCC",
            b.display()
        )
    );

    MetaProperties::v1("AAA", 2, kafka_uuid::random())
        .write(&b)
        .expect("rewritten");
    assert!(matches!(
        ensure_formatted(&cfg).unwrap_err(),
        StorageError::NodeIdMismatch { stored: 2, .. }
    ));
}
