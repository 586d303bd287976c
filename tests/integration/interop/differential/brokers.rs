//! Starts Apache Kafka 4.1.1 and Strom side by side from one generated `server.properties`
//! (only ports and directories differ), and stops both by PID when dropped.

use crate::common::free_port;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Settings both brokers get, beyond listeners and log dirs. `message.max.bytes` is low so the
/// oversize Produce step needs only a small batch.
pub const SHARED_SETTINGS: &str = "process.roles=broker,controller\n\
     node.id=1\n\
     controller.listener.names=CONTROLLER\n\
     listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
     offsets.topic.replication.factor=1\n\
     offsets.topic.num.partitions=1\n\
     transaction.state.log.replication.factor=1\n\
     transaction.state.log.min.isr=1\n\
     group.initial.rebalance.delay.ms=0\n\
     message.max.bytes=2048\n";

/// One running broker process.
pub struct Broker {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Drop for Broker {
    fn drop(&mut self) {
        // The Kafka script `exec`s java, so this PID is the JVM itself.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `dir/server.properties` and returns its path and the client port.
fn write_config(dir: &Path) -> (PathBuf, u16) {
    let (broker, controller) = (free_port(), free_port());
    let text = format!(
        "{SHARED_SETTINGS}\
         controller.quorum.voters=1@127.0.0.1:{controller}\n\
         listeners=PLAINTEXT://127.0.0.1:{broker},CONTROLLER://127.0.0.1:{controller}\n\
         log.dirs={}\n",
        dir.join("data").display()
    );
    let path = dir.join("server.properties");
    std::fs::write(&path, text).expect("config written");
    (path, broker)
}

/// Formats and starts Apache Kafka. The config names static voters
/// (`controller.quorum.voters`), so the format step takes no `--standalone`: Kafka refuses that
/// flag unless the quorum is dynamic (`controller.quorum.bootstrap.servers`). `script` is
/// `scripts/apache-kafka.sh` (from `require::apache_kafka`).
pub fn start_kafka(script: &Path, dir: &Path) -> Broker {
    let (cfg, port) = write_config(dir);
    let cfg = cfg.to_str().expect("utf-8 temp path");
    let id = "q1bS3kJ0TxuQ5fJ2n0rC8w";
    let out = Command::new(script)
        .args(["storage", "format", "-t", id, "-c", cfg])
        .output()
        .expect("scripts/apache-kafka.sh runs");
    assert!(
        out.status.success(),
        "Kafka storage format failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = dir.join("kafka.log");
    let file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(script)
        .args(["server", cfg])
        .env("KAFKA_HEAP_OPTS", "-Xmx512m -Xms512m")
        .stdout(file.try_clone().expect("log file handle"))
        .stderr(file)
        .spawn()
        .expect("Apache Kafka starts");
    let mut b = Broker { child, port, log };
    wait_listening(&mut b, "Apache Kafka");
    b
}

/// Starts Strom on its own copy of the config.
pub fn start_strom(dir: &Path) -> Broker {
    let (cfg, port) = write_config(dir);
    let log = dir.join("strom.log");
    let file = std::fs::File::create(&log).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_strom"))
        .arg("server")
        .arg("--config")
        .arg(cfg)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("strom starts");
    let mut b = Broker { child, port, log };
    wait_listening(&mut b, "Strom");
    b
}

fn wait_listening(b: &mut Broker, what: &str) {
    let addr = SocketAddr::from(([127, 0, 0, 1], b.port));
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = b.child.try_wait() {
            let log = std::fs::read_to_string(&b.log).unwrap_or_default();
            panic!("{what} exited early with {status}; log:\n{log}");
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what} did not listen on {} within 120 s", b.port);
}
