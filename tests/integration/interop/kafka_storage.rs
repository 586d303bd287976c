//! Storage formatted by Apache Kafka 4.1.1 works with Strom and the other way round, using
//! the real Kafka storage tool and broker from Maven Central (`scripts/apache-kafka.sh`).
//! Slow (each test starts JVMs), so kept to two tests in a file of their own. The second also
//! runs Strom's client tools (`strom topics/produce/consume`) against the real broker.

use crate::common::{free_port, require};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const STROM: &str = env!("CARGO_BIN_EXE_strom");

/// Runs `scripts/apache-kafka.sh` (from [`require::apache_kafka`]) with `args`.
fn kafka(script: &Path, args: &[&str]) -> Output {
    Command::new(script)
        .args(args)
        .output()
        .expect("scripts/apache-kafka.sh runs")
}

fn strom(args: &[&str]) -> Output {
    Command::new(STROM).args(args).output().expect("strom runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A combined broker+controller config on 127.0.0.1 with fresh ports; `quorum` is the line
/// that configures the controller quorum (`{controller}` is replaced by its port).
fn config(root: &Path, quorum: &str) -> (PathBuf, u16) {
    let (broker, controller) = (free_port(), free_port());
    let text = format!(
        "process.roles=broker,controller\nnode.id=1\ncontroller.listener.names=CONTROLLER\n\
         listeners=PLAINTEXT://127.0.0.1:{broker},CONTROLLER://127.0.0.1:{controller}\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         offsets.topic.replication.factor=1\ntransaction.state.log.replication.factor=1\n\
         log.dirs={0}/logs1,{0}/logs2\n{1}\n",
        root.display(),
        quorum.replace("{controller}", &controller.to_string())
    );
    let path = root.join("server.properties");
    std::fs::write(&path, text).expect("config written");
    (path, broker)
}

/// Waits until `port` accepts connections while `child` keeps running.
fn wait_until_listening(child: &mut Child, port: u16, what: &str) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early with {status}");
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{what} did not listen on {port} within 120 s");
}

#[test]
fn kafka_formatted_storage_is_accepted_by_strom() {
    let Some(kafka_sh) = require::apache_kafka() else {
        return;
    };
    let t = tempfile::tempdir().expect("temp dir");
    let (cfg, port) = config(
        t.path(),
        "controller.quorum.voters=1@127.0.0.1:{controller}",
    );
    let cfg = cfg.to_str().expect("UTF-8 path");
    // Strom's random-uuid is a cluster id Kafka's tool accepts.
    let id = text(&strom(&["storage", "random-uuid"]).stdout)
        .trim()
        .to_string();
    let formatted = kafka(&kafka_sh, &["storage", "format", "-t", &id, "-c", cfg]);
    assert!(
        formatted.status.success(),
        "Kafka format: {}",
        text(&formatted.stderr)
    );
    let meta = t.path().join("logs1/meta.properties");
    let before = std::fs::read(&meta).expect("Kafka wrote meta.properties");

    let info = strom(&["storage", "info", "-c", cfg]);
    assert!(info.status.success(), "{}", text(&info.stdout));
    assert!(
        text(&info.stdout).contains(&format!("Found metadata: {{cluster.id={id}, directory.id="))
    );

    let mut server = Command::new(STROM)
        .args(["server", "--config", cfg])
        .stderr(Stdio::piped())
        .spawn()
        .expect("strom server starts");
    wait_until_listening(&mut server, port, "strom server");
    let stop = strom(&["stop", "--config", cfg]);
    assert!(stop.status.success(), "strom stop: {}", text(&stop.stderr));
    let out = server.wait_with_output().expect("server exits");
    assert!(out.status.success(), "server log:\n{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&id),
        "the broker runs as the cluster Kafka formatted"
    );
    assert_eq!(
        std::fs::read(&meta).expect("still there"),
        before,
        "Strom leaves Kafka's identity alone"
    );
}

#[test]
fn strom_formatted_storage_is_accepted_by_kafka() {
    let Some(kafka_sh) = require::apache_kafka() else {
        return;
    };
    let t = tempfile::tempdir().expect("temp dir");
    // A dynamic quorum exercises both bootstrap files: bootstrap.checkpoint and the voter snapshot.
    let (cfg, port) = config(
        t.path(),
        "controller.quorum.bootstrap.servers=127.0.0.1:{controller}",
    );
    let cfg = cfg.to_str().expect("UTF-8 path");
    // Kafka's random-uuid is a cluster id Strom's tool accepts.
    let id = text(&kafka(&kafka_sh, &["storage", "random-uuid"]).stdout)
        .trim()
        .to_string();
    assert_eq!(id.len(), 22, "Kafka printed a cluster id: {id:?}");
    let formatted = strom(&["storage", "format", "-t", &id, "-c", cfg, "--standalone"]);
    assert!(formatted.status.success(), "{}", text(&formatted.stderr));

    let info = kafka(&kafka_sh, &["storage", "info", "-c", cfg]);
    assert!(
        info.status.success(),
        "Kafka info: {}{}",
        text(&info.stdout),
        text(&info.stderr)
    );
    assert!(
        text(&info.stdout).contains(&format!("Found metadata: {{cluster.id={id}, directory.id="))
    );

    let log = t.path().join("kafka.log");
    let mut broker = Command::new(&kafka_sh)
        .args(["server", cfg])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("Kafka broker starts");
    wait_until_listening(&mut broker, port, "Apache Kafka");
    // Strom's own client tools against the real broker (the Homebrew test uses them).
    let bootstrap = format!("--bootstrap-server=127.0.0.1:{port}");
    let created = strom(&[
        "topics",
        "--create",
        "--topic",
        "interop",
        "--partitions",
        "2",
        &bootstrap,
    ]);
    let mut producer = Command::new(STROM)
        .args(["produce", "--topic", "interop", &bootstrap])
        .stdin(Stdio::piped())
        .spawn()
        .expect("strom produce starts");
    {
        use std::io::Write;
        let mut stdin = producer.stdin.take().expect("piped stdin");
        stdin.write_all(b"first\nsecond\n").expect("lines written");
    }
    let produced = producer.wait().expect("producer exits");
    let consumed = strom(&[
        "consume",
        "--topic",
        "interop",
        "--from-beginning",
        "--max-messages",
        "2",
        "--timeout-ms",
        "30000",
        &bootstrap,
    ]);
    let still_running = broker.try_wait().expect("pollable").is_none();
    broker.kill().expect("Kafka stopped");
    broker.wait().expect("reaped");
    let log = std::fs::read_to_string(&log).expect("log readable");
    assert!(still_running, "Kafka broker exited:\n{log}");
    assert!(
        log.contains("from bootstrap source 'the binary bootstrap metadata file"),
        "{log}"
    );
    assert!(!log.contains(" ERROR "), "{log}");
    assert!(
        created.status.success(),
        "topics --create: {}",
        text(&created.stderr)
    );
    assert_eq!(text(&created.stdout), "Created topic interop.\n");
    assert!(produced.success());
    assert!(
        consumed.status.success(),
        "consume: {}",
        text(&consumed.stderr)
    );
    assert_eq!(text(&consumed.stdout), "first\nsecond\n");
    assert_eq!(text(&consumed.stderr), "Processed a total of 2 messages\n");
}
