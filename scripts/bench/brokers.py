"""The two brokers under test, started the same way: one KRaft combined-mode server.properties
(only port and log.dirs differ), a fresh data directory each, one broker at a time."""

import base64
import os
import shutil
import socket
import time
import uuid

import kproto
import procs

# What kafka-server-start.sh / kafka-run-class.sh give the JVM when nothing is overridden.
KAFKA_HEAP_OPTS = ["-Xmx1G", "-Xms1G"]
KAFKA_JVM_PERFORMANCE_OPTS = [
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
]

START_TIMEOUT_S = 120.0


class BrokerError(Exception):
    """A broker did not start, or died."""


def free_port():
    """A port nothing listens on right now (the kernel's pick for an ephemeral bind)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_properties(port, controller_port, data_dir):
    """The one configuration both brokers run: Kafka's KRaft quickstart, single node."""
    return (
        "process.roles=broker,controller\n"
        "node.id=1\n"
        f"controller.quorum.voters=1@127.0.0.1:{controller_port}\n"
        "controller.listener.names=CONTROLLER\n"
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}\n"
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n"
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
        "inter.broker.listener.name=PLAINTEXT\n"
        f"log.dirs={data_dir}\n"
        "num.partitions=1\n"
        "offsets.topic.replication.factor=1\n"
        "transaction.state.log.replication.factor=1\n"
        "transaction.state.log.min.isr=1\n"
        "group.initial.rebalance.delay.ms=0\n"
    )


def kafka_cluster_id():
    """A cluster id in Kafka's form: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def _wait_connect(proc, port, deadline, log_path):
    while True:
        if proc.poll() is not None:
            raise BrokerError(
                f"exited with status {proc.returncode} during start-up; see {log_path}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return time.monotonic()
        except OSError as e:
            if time.monotonic() > deadline:
                raise BrokerError(f"no listener on port {port}; see {log_path}") from e
            time.sleep(0.0005)


def _wait_api_versions(proc, port, deadline, log_path):
    while True:
        if proc.poll() is not None:
            raise BrokerError(
                f"exited with status {proc.returncode} during start-up; see {log_path}"
            )
        try:
            with kproto.Client("127.0.0.1", port, timeout=5.0) as c:
                c.api_versions()
            return time.monotonic()
        except (OSError, kproto.ProtocolError) as e:
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"ApiVersions never answered on port {port}; see {log_path}"
                ) from e
            time.sleep(0.005)


class Broker:
    """One broker: its command line, config, data dir and (while running) process."""

    def __init__(self, name, workdir, repo, strom_bin=None, classpath=None):
        self.name = name
        self.workdir = workdir
        self.repo = repo
        self.port = free_port()
        self.controller_port = free_port()
        self.data_dir = os.path.join(workdir, "data")
        self.config = os.path.join(workdir, "server.properties")
        self.log_path = os.path.join(workdir, "broker.log")
        self.strom_bin = strom_bin
        self.classpath = classpath
        self.proc = None
        self.commands = []  # (label, argv) of the set-up commands, for the report

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def command(self):
        if self.name == "strom":
            return [self.strom_bin, "server", "--config", self.config]
        log4j = os.path.join(self.repo, "tests", "oracle", "log4j2.properties")
        return [
            "java",
            *KAFKA_HEAP_OPTS,
            *KAFKA_JVM_PERFORMANCE_OPTS,
            "-Xshare:auto",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            self.classpath,
            "kafka.Kafka",
            self.config,
        ]

    def env(self):
        env = dict(os.environ)
        if self.name == "strom":
            # Kafka runs with the oracle's quiet log4j2 config (WARN); Strom gets the same level.
            env["RUST_LOG"] = "warn"
        return env

    def prepare(self):
        """Fresh data dir and config; Kafka also gets its storage formatted (Strom formats
        itself on first start, which the first start-up figure therefore includes)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        os.makedirs(self.workdir, exist_ok=True)
        with open(self.config, "w") as f:
            f.write(server_properties(self.port, self.controller_port, self.data_dir))
        if self.name == "kafka":
            cmd = [
                os.path.join(self.repo, "scripts", "apache-kafka.sh"),
                "storage",
                "format",
                "-t",
                kafka_cluster_id(),
                "-c",
                self.config,
            ]
            self.commands.append(("kafka-storage format", cmd))
            rc, out = procs.run(cmd, self.log_path, timeout_s=180)
            if rc != 0:
                raise BrokerError(f"kafka-storage format failed ({rc}): {out.strip()[-500:]}")

    def start(self):
        """Starts the broker; returns ms from spawn to connect() succeeding and to the first
        ApiVersions answer."""
        cmd = self.command()
        if (f"{self.name} server", cmd) not in self.commands:
            self.commands.append((f"{self.name} server", cmd))
        t0 = time.monotonic()
        self.proc = procs.spawn(cmd, self.log_path, env=self.env())
        deadline = t0 + START_TIMEOUT_S
        t_connect = _wait_connect(self.proc, self.port, deadline, self.log_path)
        t_ready = _wait_api_versions(self.proc, self.port, deadline, self.log_path)
        return {"connect_ms": (t_connect - t0) * 1000, "ready_ms": (t_ready - t0) * 1000}

    def stop(self):
        """Clean shutdown (SIGTERM, as kafka-server-stop does); returns seconds taken."""
        if self.proc is None:
            return 0.0
        took = procs.stop(self.proc)
        self.proc = None
        return took

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def create_topic(self, name, partitions, timeout_s=180.0):
        """Creates a topic via CreateTopics and waits until every partition has a leader and
        takes a write (one record each), so no scenario starts against a topic that is still
        settling; retries while the broker is still coming up. Returns seconds taken."""
        start = time.monotonic()
        deadline = start + timeout_s
        while True:
            try:
                kproto.create_topic(self.port, name, partitions, timeout_s)
                kproto.wait_writable(self.port, name, partitions, timeout_s)
                return time.monotonic() - start
            except (OSError, kproto.ProtocolError) as e:
                if time.monotonic() > deadline or not self.alive():
                    raise BrokerError(f"cannot create topic {name}: {e}") from e
                time.sleep(0.5)

    def cleanup(self):
        shutil.rmtree(self.data_dir, ignore_errors=True)
