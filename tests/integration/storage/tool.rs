//! `strom storage` / `strom stop` as a user runs them, also under the Kafka script names
//! (`kafka-storage`, `kafka-server-stop`) through symlinks, checked against Kafka's wording
//! and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STROM: &str = env!("CARGO_BIN_EXE_strom");

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .expect("strom runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A KRaft combined-mode server.properties with two log dirs under `root`.
fn config(root: &Path, extra: &str) -> PathBuf {
    let path = root.join("server.properties");
    let text = format!(
        "process.roles=broker,controller\nnode.id=1\ncontroller.listener.names=CONTROLLER\n\
         listeners=PLAINTEXT://localhost:19092,CONTROLLER://localhost:19093\n\
         log.dirs={0}/logs1,{0}/logs2\n{extra}",
        root.display()
    );
    std::fs::write(&path, text).expect("config written");
    path
}

/// A symlink named like a Kafka script pointing at the strom binary.
fn kafka_script(dir: &Path, name: &str) -> PathBuf {
    let link = dir.join(name);
    std::os::unix::fs::symlink(STROM, &link).expect("symlink");
    link
}

#[test]
fn random_uuid_prints_a_kafka_cluster_id() {
    let a = stdout(&run(Path::new(STROM), &["storage", "random-uuid"]));
    let b = stdout(&run(Path::new(STROM), &["storage", "random-uuid"]));
    for id in [a.trim_end(), b.trim_end()] {
        assert_eq!(id.len(), 22, "{id}");
        assert!(!id.starts_with('-'));
        assert!(
            id.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "{id}"
        );
    }
    assert_ne!(a, b);
}

#[test]
fn format_and_info_speak_like_kafka_storage() {
    let t = tempfile::tempdir().expect("temp dir");
    let cfg = config(t.path(), "controller.quorum.voters=1@localhost:19093\n");
    let cfg = cfg.to_str().expect("UTF-8 path");
    let root = t.path().display();
    let bin = Path::new(STROM);

    let out = run(
        bin,
        &[
            "storage",
            "format",
            "-t",
            "MkU3OEVBNTcwNTJENDM2Qk",
            "-c",
            cfg,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "Formatting metadata directory {root}/logs1 with metadata.version 4.1-IV1.\n\
             Formatting data directory {root}/logs2 with metadata.version 4.1-IV1.\n"
        )
    );

    let again = run(
        bin,
        &[
            "storage",
            "format",
            "-t",
            "MkU3OEVBNTcwNTJENDM2Qk",
            "-c",
            cfg,
        ],
    );
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        stderr(&again),
        format!(
            "Log directory {root}/logs1 is already formatted. Use --ignore-formatted to ignore this directory \
             and format the others.\n"
        )
    );
    let ignored = run(
        bin,
        &[
            "storage",
            "format",
            "-t",
            "MkU3OEVBNTcwNTJENDM2Qk",
            "-c",
            cfg,
            "--ignore-formatted",
        ],
    );
    assert!(ignored.status.success());
    assert_eq!(
        stdout(&ignored),
        "All of the log directories are already formatted.\n"
    );

    let info = run(bin, &["storage", "info", "-c", cfg]);
    assert!(info.status.success(), "{}", stdout(&info));
    let text = stdout(&info);
    assert!(
        text.starts_with(&format!(
            "Found log directories:\n  {root}/logs1\n  {root}/logs2\n\n"
        )),
        "{text}"
    );
    assert!(
        text.contains("Found metadata: {cluster.id=MkU3OEVBNTcwNTJENDM2Qk, directory.id="),
        "{text}"
    );
    assert!(text.ends_with(", node.id=1, version=1}\n\n"), "{text}");
}

#[test]
fn info_reports_unformatted_directories_with_exit_1() {
    let t = tempfile::tempdir().expect("temp dir");
    let cfg = config(t.path(), "controller.quorum.voters=1@localhost:19093\n");
    std::fs::create_dir_all(t.path().join("logs1")).expect("dir");
    let out = run(
        Path::new(STROM),
        &["storage", "info", "-c", cfg.to_str().expect("UTF-8")],
    );
    assert_eq!(out.status.code(), Some(1));
    let root = t.path().display();
    assert_eq!(
        stdout(&out),
        format!(
            "Found log directory:\n  {root}/logs1\n\nFound problems:\n  {root}/logs1 is not formatted.\n  \
             {root}/logs2 does not exist\n\n"
        )
    );
}

#[test]
fn dynamic_quorum_needs_a_quorum_flag() {
    let t = tempfile::tempdir().expect("temp dir");
    let cfg = config(
        t.path(),
        "controller.quorum.bootstrap.servers=localhost:19093\n",
    );
    let cfg = cfg.to_str().expect("UTF-8");
    let out = run(
        Path::new(STROM),
        &[
            "storage",
            "format",
            "-t",
            "MkU3OEVBNTcwNTJENDM2Qk",
            "-c",
            cfg,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "Because controller.quorum.voters is not set on this controller, you must specify one of the following: \
         --standalone, --initial-controllers, or --no-initial-controllers.\n"
    );
    let both = run(
        Path::new(STROM),
        &[
            "storage",
            "format",
            "-t",
            "X",
            "-c",
            cfg,
            "--standalone",
            "-N",
        ],
    );
    assert_eq!(both.status.code(), Some(2), "clap refuses two quorum flags");
    let ok = run(
        Path::new(STROM),
        &[
            "storage",
            "format",
            "-t",
            "MkU3OEVBNTcwNTJENDM2Qk",
            "-c",
            cfg,
            "--standalone",
        ],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).starts_with("Formatting dynamic metadata voter directory"));
    assert!(
        t.path()
            .join("logs1/__cluster_metadata-0/00000000000000000000-0000000000.checkpoint")
            .is_file()
    );
}

#[test]
fn kafka_script_names_work_through_symlinks() {
    let t = tempfile::tempdir().expect("temp dir");
    let storage = kafka_script(t.path(), "kafka-storage");
    let stop = kafka_script(t.path(), "kafka-server-stop");
    let cfg = config(t.path(), "controller.quorum.voters=1@localhost:19093\n");
    let cfg = cfg.to_str().expect("UTF-8");

    let id = stdout(&run(&storage, &["random-uuid"]));
    let out = run(&storage, &["format", "-t", id.trim_end(), "-c", cfg]);
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = std::fs::read_to_string(t.path().join("logs2/meta.properties")).expect("formatted");
    assert!(meta.contains(&format!("cluster.id={}", id.trim_end())));

    let none = run(&stop, &["--config", cfg]);
    assert_eq!(none.status.code(), Some(1));
    assert_eq!(stderr(&none), "No kafka server to stop\n");
}

#[test]
fn stop_sends_sigterm_to_the_pid_in_the_data_dir() {
    let t = tempfile::tempdir().expect("temp dir");
    let cfg = config(t.path(), "controller.quorum.voters=1@localhost:19093\n");
    std::fs::create_dir_all(t.path().join("logs1")).expect("dir");
    let mut child = Command::new("sleep").arg("60").spawn().expect("sleep runs");
    let pid = child.id();
    std::fs::write(t.path().join("logs1/strom.pid"), format!("{pid}\n")).expect("pid file");
    // Reap the child as soon as it exits: a zombie would still count as running.
    let reaper = std::thread::spawn(move || child.wait());
    let out = run(Path::new(STROM), &["stop", cfg.to_str().expect("UTF-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("Stopped broker (pid {pid})\n"));
    let status = reaper.join().expect("reaper").expect("waited");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
}
