//! What `brew install strom` and `brew services start strom` do, replayed on any Unix without
//! Homebrew or launchd: the formula's `install` (its `inreplace` of the shipped
//! server.properties, the Kafka-named symlinks), its `post_install` (format when
//! meta.properties is missing), its `service` command, and its `test do` (topic, produce,
//! consume with Strom's own tools), then `kafka-server-stop`.
//!
//! The inreplace strings are read from Formula/strom.rb itself, so the formula and the shipped
//! etc/kafka/server.properties cannot drift apart unnoticed.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const STROM: &str = env!("CARGO_BIN_EXE_strom");

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The two string arguments of the formula's `inreplace "etc/kafka/server.properties", A, B`.
fn formula_inreplace() -> (String, String) {
    let formula = std::fs::read_to_string(repo("Formula/strom.rb")).expect("formula readable");
    let start = formula
        .find("inreplace \"etc/kafka/server.properties\",")
        .expect("formula has the inreplace");
    let quoted: Vec<&str> = formula[start..]
        .split('"')
        .skip(1)
        .step_by(2)
        .take(3)
        .collect();
    (quoted[1].to_string(), quoted[2].to_string())
}

#[test]
fn install_post_install_service_and_brew_test_work_without_homebrew() {
    let t = tempfile::tempdir().expect("temp dir");
    let (prefix, var) = (t.path().join("prefix"), t.path().join("var"));
    let (bin, etc) = (prefix.join("bin"), prefix.join("etc"));
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::create_dir_all(etc.join("kafka")).expect("etc");

    // install: inreplace log.dirs for the prefix, symlinks, etc.install "etc/kafka".
    let (from, to) = formula_inreplace();
    let to = to.replace("#{var}", &var.display().to_string());
    let shipped =
        std::fs::read_to_string(repo("etc/kafka/server.properties")).expect("shipped config");
    assert!(
        shipped.contains(&from),
        "the formula's inreplace no longer matches etc/kafka/server.properties"
    );
    // The shipped ports are Kafka's defaults; this test must not collide with a broker already there.
    let (port, controller) = (free_port(), free_port());
    let config_text = shipped
        .replace(&from, &to)
        .replace(":9092", &format!(":{port}"))
        .replace(":9093", &format!(":{controller}"));
    let config = etc.join("kafka/server.properties");
    std::fs::write(&config, config_text).expect("config installed");
    std::os::unix::fs::symlink(STROM, bin.join("strom")).expect("strom");
    for name in ["kafka-storage", "kafka-server-start", "kafka-server-stop"] {
        std::os::unix::fs::symlink("strom", bin.join(name)).expect("compatibility symlink");
    }

    // post_install: log dir for launchd, then format because meta.properties is missing.
    std::fs::create_dir_all(var.join("log/kafka")).expect("log dir");
    let data = var.join("lib/kraft-combined-logs");
    assert!(!data.join("meta.properties").exists());
    let cluster_id = ok(
        Command::new(bin.join("kafka-storage"))
            .arg("random-uuid")
            .output()
            .expect("runs"),
        "random-uuid",
    );
    let formatted = ok(
        Command::new(bin.join("kafka-storage"))
            .args([
                "format",
                "--ignore-formatted",
                "-t",
                cluster_id.trim_end(),
                "-c",
            ])
            .arg(&config)
            .output()
            .expect("runs"),
        "format",
    );
    assert_eq!(
        formatted,
        format!(
            "Formatting metadata directory {} with metadata.version 4.1-IV1.\n",
            data.display()
        )
    );

    // service: run [opt_bin/"strom", "server", "--config", etc/"kafka/server.properties"],
    // working_dir var, log_path and error_log_path var/"log/kafka/strom.log".
    let log_path = var.join("log/kafka/strom.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut service = Command::new(bin.join("strom"))
        .args(["server", "--config"])
        .arg(&config)
        .current_dir(&var)
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("service starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            service.try_wait().expect("pollable").is_none(),
            "the service exited early"
        );
        assert!(
            Instant::now() < deadline,
            "the service did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // test do: a topic, one message produced and consumed with Strom's own tools.
    let bootstrap = format!("--bootstrap-server=127.0.0.1:{port}");
    let created = Command::new(bin.join("strom"))
        .args([
            "topics",
            "--create",
            "--topic",
            "brew-test",
            "--partitions",
            "1",
            &bootstrap,
        ])
        .output()
        .expect("runs");
    assert_eq!(ok(created, "topics --create"), "Created topic brew-test.\n");
    let mut producer = Command::new(bin.join("strom"))
        .args(["produce", "--topic", "brew-test", &bootstrap])
        .stdin(Stdio::piped())
        .spawn()
        .expect("producer starts");
    producer
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hello from brew test\n")
        .expect("written");
    assert!(producer.wait().expect("producer exits").success());
    let consumed = Command::new(bin.join("strom"))
        .args([
            "consume",
            "--topic",
            "brew-test",
            "--from-beginning",
            "--max-messages",
            "1",
            "--timeout-ms",
            "30000",
        ])
        .arg(&bootstrap)
        .output()
        .expect("runs");
    assert_eq!(ok(consumed, "consume"), "hello from brew test\n");

    // kafka-server-stop finds the broker through the pid file in its data dir.
    let stopped = ok(
        Command::new(bin.join("kafka-server-stop"))
            .arg(&config)
            .output()
            .expect("runs"),
        "stop",
    );
    assert_eq!(stopped, format!("Stopped broker (pid {})\n", service.id()));
    assert!(
        service.wait().expect("service exits").success(),
        "clean shutdown exits 0"
    );
    let log = std::fs::read_to_string(&log_path).expect("service log");
    assert!(
        log.contains(&format!("cluster id {}", cluster_id.trim_end())),
        "{log}"
    );
    assert!(
        !data.join("strom.pid").exists(),
        "the pid file goes with a clean shutdown"
    );
}
