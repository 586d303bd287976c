//! Test harness: runs the real `strom` binary on an ephemeral port with a temporary data dir,
//! and offers a raw protocol client for byte-level tests.

pub mod kafka;
pub mod raw;
pub mod require;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a broker may take to start before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running broker process and its data.
pub struct TestBroker {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    extra: Vec<(String, String)>,
    /// Environment variables for the next launch (test hooks and fault injection, e.g.
    /// `STROM_FAULT_TXN_CRASH`), kept across restarts until changed.
    pub env: Vec<(String, String)>,
    /// Everything the broker logged, across restarts.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl TestBroker {
    /// Starts a broker with default settings.
    pub fn start() -> TestBroker {
        TestBroker::start_with(&[])
    }

    /// Starts a broker with extra `server.properties` lines.
    pub fn start_with(extra: &[(&str, &str)]) -> TestBroker {
        TestBroker::start_with_env(extra, &[])
    }

    /// Starts a broker with extra `server.properties` lines and environment variables.
    pub fn start_with_env(extra: &[(&str, &str)], env: &[(&str, &str)]) -> TestBroker {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut b = TestBroker {
            child: None,
            port: 0,
            dir,
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            log: Arc::new(Mutex::new(Vec::new())),
        };
        b.launch();
        b
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("server.properties")
    }

    fn write_config(&self) {
        let mut text = format!(
            "process.roles=broker,controller\n\
             node.id=1\n\
             controller.quorum.voters=1@127.0.0.1:9093\n\
             controller.listener.names=CONTROLLER\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:9093\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
             log.dirs={dir}\n\
             group.initial.rebalance.delay.ms=0\n\
             offsets.topic.replication.factor=1\n\
             transaction.state.log.replication.factor=1\n\
             transaction.state.log.min.isr=1\n",
            port = self.port,
            dir = self.data_dir().display()
        );
        for (k, v) in &self.extra {
            text.push_str(&format!("{k}={v}\n"));
        }
        std::fs::write(self.config_path(), text).expect("write config");
    }

    fn launch(&mut self) {
        self.write_config();
        // STROM_TEST_BIN runs the tests against another build (e.g. the previous commit).
        let bin = std::env::var_os("STROM_TEST_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_strom").into());
        let mut child = Command::new(bin)
            .arg("server")
            .arg("--config")
            .arg(self.config_path())
            .env(
                "RUST_LOG",
                std::env::var("STROM_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            // With Kafka's LOG_DIR set the broker would log to LOG_DIR/server.log and keep only
            // ERROR lines on stderr, where the harness reads the listening port.
            .env_remove("LOG_DIR")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn strom");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = listening_port(&line) {
                    let _ = tx.send(port);
                }
                if std::env::var_os("STROM_TEST_ECHO").is_some() {
                    eprintln!("[strom] {line}");
                }
                log.lock().unwrap().push(line);
            }
        });
        self.child = Some(child);
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(port) => self.port = port,
            Err(_) => {
                let log = self.log.lock().unwrap().join("\n");
                self.kill9();
                panic!("broker did not start within {START_TIMEOUT:?}; log:\n{log}");
            }
        }
    }

    /// Stops with SIGTERM (clean shutdown) and waits for the process to exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("broker running");
        unsafe_sigterm(child.id());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("broker did not stop within 30s after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process with SIGKILL: no clean shutdown.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port and data.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        self.launch();
    }

    /// Starts again after a crash (the process must already be gone).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "broker still running");
        self.launch();
    }

    /// Sets (or with `None` removes) a `server.properties` line for the next start.
    pub fn set_config(&mut self, key: &str, value: Option<&str>) {
        self.extra.retain(|(k, _)| k != key);
        if let Some(v) = value {
            self.extra.push((key.to_string(), v.to_string()));
        }
    }

    /// Sets (or with `None` removes) an environment variable for the next start.
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != key);
        if let Some(v) = value {
            self.env.push((key.to_string(), v.to_string()));
        }
    }

    /// The broker's process id, for reading its memory figures from /proc.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("broker running").id()
    }

    pub fn log_contains(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.data_dir().join(format!("{topic}-{partition}"))
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn unsafe_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

/// Parses "Awaiting socket connections on 127.0.0.1:PORT" from the broker's log.
fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split("Awaiting socket connections on ").nth(1)?;
    let addr = rest.split_whitespace().next()?;
    addr.rsplit(':').next()?.trim_end_matches('.').parse().ok()
}

/// Polls `f` until it returns Some or the timeout passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A port nothing listens on right now, for configs that need one before a process starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Segment files of a partition dir with the given extension, sorted.
pub fn segment_files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == ext));
    v.sort();
    v
}

/// Creates a topic through librdkafka's admin client (replication factor 1, topic configs).
pub fn create_topic(b: &TestBroker, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .create()
        .expect("admin client");
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let res = rt
        .block_on(admin.create_topics(
            &[topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))
        .expect("create_topics");
    assert!(res[0].is_ok(), "create {name}: {:?}", res[0]);
}
