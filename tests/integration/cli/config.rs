//! `strom server` as a user runs it: config file errors, warnings, overrides, several log dirs.

use crate::common::TestBroker;
use crate::common::raw::RawClient;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::process::Command;

fn base_config(dir: &std::path::Path) -> String {
    format!(
        "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@127.0.0.1:9093\n\
         controller.listener.names=CONTROLLER\nlisteners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:9093\n\
         log.dirs={}\n",
        dir.join("data").display()
    )
}

fn run_server(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_strom"))
        .env_remove("LOG_DIR")
        .arg("server")
        .args(args)
        .output()
        .expect("run strom")
}

#[test]
fn an_invalid_value_exits_2_naming_file_line_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("server.properties");
    std::fs::write(
        &cfg,
        format!(
            "{}# hours\nlog.retention.hours=abc\n",
            base_config(dir.path())
        ),
    )
    .unwrap();
    let out = run_server(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "Invalid value abc for configuration log.retention.hours: Not a number of type INT"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("server.properties") && stderr.contains("line 8"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Once, as one ERROR line (it used to be written twice: the log line and a bare copy).
    assert_eq!(stderr.matches("Invalid value abc").count(), 1, "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("] ERROR Invalid value abc")),
        "{stderr}"
    );
}

/// A config with an invalid value in a fresh directory, and the `strom server --config CFG
/// --log-dir DIR/logs` command for it (stderr left to the caller).
fn bad_config_with_log_dir() -> (tempfile::TempDir, Command) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("server.properties");
    std::fs::write(
        &cfg,
        format!("{}log.retention.hours=abc\n", base_config(dir.path())),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_strom"));
    command
        .env_remove("LOG_DIR")
        .args(["server", "--config"])
        .arg(&cfg)
        .arg("--log-dir")
        .arg(dir.path().join("logs"))
        .env_remove("RUST_LOG");
    (dir, command)
}

/// Under `brew services` the broker runs with `--log-dir var/log/kafka` and stderr going to a
/// file launchd opened: a bad config edit is one ERROR line in each of server.log and that
/// stderr file (and, on macOS, the unified log at error level), never more.
#[test]
fn with_a_log_dir_a_bad_config_is_one_error_line_in_server_log_and_on_stderr() {
    let (dir, mut command) = bad_config_with_log_dir();
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("] ERROR Invalid value abc"), "{stderr}");
    let server_log = std::fs::read_to_string(dir.path().join("logs/server.log")).unwrap();
    assert_eq!(
        server_log.matches("Invalid value abc").count(),
        1,
        "{server_log}"
    );
}

/// A broker whose full log goes to server.log keeps launchd's stderr file bounded: over 10 MiB
/// at start-up (appending, as launchd opens it), it is emptied; a non-appending file is not.
#[test]
fn an_oversized_appending_stderr_file_is_emptied_at_start() {
    use std::fs::OpenOptions;
    let (dir, mut command) = bad_config_with_log_dir();
    let mut run = |stderr: std::fs::File| command.stderr(stderr).status().unwrap();
    let big = vec![b'x'; 11 * 1024 * 1024];
    let path = dir.path().join("stderr.log");
    std::fs::write(&path, &big).unwrap();
    let status = run(OpenOptions::new().append(true).open(&path).unwrap());
    assert_eq!(status.code(), Some(2));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.len() < 1000 && text.contains("ERROR Invalid value abc"),
        "{}",
        text.len()
    );
    let server_log = std::fs::read_to_string(dir.path().join("logs/server.log")).unwrap();
    assert!(
        server_log.contains("Emptied the standard-error file"),
        "{server_log}"
    );

    std::fs::write(&path, &big).unwrap();
    let mut plain = OpenOptions::new().write(true).open(&path).unwrap();
    std::io::Seek::seek(&mut plain, std::io::SeekFrom::End(0)).unwrap();
    run(plain);
    assert!(std::fs::metadata(&path).unwrap().len() > big.len() as u64);
}

#[test]
fn kraft_inconsistencies_use_kafkas_words() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("server.properties");
    std::fs::write(
        &cfg,
        format!("process.roles=broker,controller\ncontroller.quorum.voters=1@127.0.0.1:9093\nlog.dirs={}\n", dir.path().display()),
    )
    .unwrap();
    let out = run_server(&[cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("node.id"), "{stderr}");
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = run_server(&["--config", "/nonexistent/server.properties"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/server.properties"));
}

#[test]
fn unknown_keys_warn_and_overrides_win() {
    let b = TestBroker::start_with(&[("made.up.key", "1"), ("num.partitions", "2")]);
    assert!(
        b.log_contains("The configuration 'made.up.key' was supplied but isn't a known config.")
    );
    drop(b);
    // --override beats the file, as in Kafka.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("server.properties");
    std::fs::write(&cfg, base_config(dir.path())).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_strom"))
        .env_remove("LOG_DIR")
        .args([
            "server",
            cfg.to_str().unwrap(),
            "--override",
            "num.partitions=5",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let port = read_port(&mut child);
    let mut c = RawClient::connect(port);
    let md = c.call(
        &MetadataRequest::default()
            .with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str("auto")))),
            ]))
            .with_allow_auto_topic_creation(true),
        12,
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(md.topics[0].partitions.len(), 5);
}

fn read_port(child: &mut std::process::Child) -> u16 {
    use std::io::{BufRead, BufReader};
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let port = loop {
        let line = lines.next().expect("broker output").unwrap();
        if let Some(rest) = line
            .split("Awaiting socket connections on 127.0.0.1:")
            .nth(1)
        {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    port
}

#[test]
fn partitions_spread_over_several_log_dirs_and_come_back() {
    let mut b = TestBroker::start_with(&[]);
    let a = b.dir.path().join("a");
    let z = b.dir.path().join("z");
    b.kill9();
    // Reconfigure to two dirs (fresh broker on a fresh data set).
    let mut b =
        TestBroker::start_with(&[("log.dirs", &format!("{},{}", a.display(), z.display()))]);
    let mut c = RawClient::connect(b.port);
    let req = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("spread")))
            .with_num_partitions(4)
            .with_replication_factor(1),
    ]);
    assert_eq!(c.call(&req, 7).topics[0].error_code, 0);
    let count = |d: &std::path::Path| {
        (0..4)
            .filter(|p| d.join(format!("spread-{p}")).is_dir())
            .count()
    };
    assert_eq!(count(&a) + count(&z), 4);
    assert!(
        count(&a) >= 1 && count(&z) >= 1,
        "both dirs hold partitions"
    );
    assert!(a.join("meta.properties").exists() && z.join("meta.properties").exists());
    drop(c);
    b.restart();
    let mut c = RawClient::connect(b.port);
    let md = c.call(&MetadataRequest::default().with_topics(None), 12);
    assert_eq!(
        md.topics
            .iter()
            .find(|t| t.name.as_ref().unwrap().as_str() == "spread")
            .unwrap()
            .partitions
            .len(),
        4
    );
}

/// `listeners=PLAINTEXT://localhost:…` (the shipped file and the tutorial's) is served on every
/// address `localhost` resolves to, so clients dialling 127.0.0.1 are answered even where
/// `localhost` is `::1` first (macOS). The `::1`-first order itself is tested with a resolver
/// stand-in in `server::listen`.
#[test]
fn a_localhost_listener_answers_on_every_address_localhost_resolves_to() {
    use std::net::ToSocketAddrs;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("server.properties");
    let text = base_config(dir.path()).replace(
        "listeners=PLAINTEXT://127.0.0.1:0",
        "listeners=PLAINTEXT://localhost:0",
    );
    std::fs::write(&cfg, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_strom"))
        .env_remove("LOG_DIR")
        .args(["server", "--config"])
        .arg(&cfg)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let port = read_port(&mut child);
    let resolved: Vec<_> = ("localhost", port).to_socket_addrs().unwrap().collect();
    for address in &resolved {
        std::net::TcpStream::connect(address)
            .unwrap_or_else(|e| panic!("{address} resolved from localhost refused: {e}"));
    }
    // And the address the tools and the README dial answers a Kafka request.
    let versions = RawClient::connect(port).call(&ApiVersionsRequest::default(), 3);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(versions.error_code, 0);
    println!("localhost resolved to {resolved:?}; all answered");
}
