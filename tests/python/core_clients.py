#!/usr/bin/env python3
"""Broker-core checks with real non-Rust clients: confluent-kafka (librdkafka 2.16),
kafka-python (pure Python) and Debian's kcat (librdkafka 2.0.2, the old-client case).

Each check starts its own `strom` broker on an ephemeral port with a temporary data dir,
produces and consumes without consumer groups (groups are covered by tests/compat), and
asserts what came back. Usage: core_clients.py PATH_TO_STROM_BINARY
Prints one line per check and a closing 'N passed, N failed' line; exits 1 on any failure.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

STROM = sys.argv[1] if len(sys.argv) > 1 else "target/debug/strom"


class Broker:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="strom-py-")
        cfg = os.path.join(self.dir, "server.properties")
        with open(cfg, "w") as f:
            f.write(
                "process.roles=broker,controller\nnode.id=1\n"
                "controller.quorum.voters=1@127.0.0.1:9093\ncontroller.listener.names=CONTROLLER\n"
                "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:9093\n"
                f"log.dirs={self.dir}/data\n"
            )
        self.proc = subprocess.Popen(
            [STROM, "server", "--config", cfg], stderr=subprocess.PIPE, text=True
        )
        self.port = None
        deadline = time.time() + 60
        for line in self.proc.stderr:
            m = re.search(r"Awaiting socket connections on 127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
            if time.time() > deadline:
                break
        if self.port is None:
            self.stop()
            raise RuntimeError("broker did not start")
        # Keep draining stderr so the broker never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        self.bootstrap = f"127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def confluent_kafka_check(b):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    futures = admin.create_topics([NewTopic("ck", num_partitions=3, replication_factor=1)])
    futures["ck"].result(timeout=30)
    md = admin.list_topics(timeout=10)
    assert len(md.topics["ck"].partitions) == 3, md.topics["ck"].partitions
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "enable.idempotence": True})
    acked = []
    for i in range(3000):
        p.produce("ck", key=f"k{i % 30}", value=f"v{i}",
                  on_delivery=lambda err, msg: acked.append(err is None))
        p.poll(0)
    assert p.flush(30) == 0
    assert len(acked) == 3000 and all(acked)
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition("ck", i, 0) for i in range(3)])
    seen, per_key = 0, {}
    deadline = time.time() + 60
    while seen < 3000 and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        assert m.error() is None, m.error()
        key, value = m.key().decode(), int(m.value().decode()[1:])
        assert per_key.get(key, -1) < value, f"{key} out of order"
        per_key[key] = value
        seen += 1
    c.close()
    assert seen == 3000, seen


def kafka_python_check(b):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    admin.create_topics([NewTopic("kp", num_partitions=2, replication_factor=1)])
    admin.close()
    p = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all", compression_type="gzip")
    futures = [p.send("kp", key=f"k{i % 10}".encode(), value=f"{i}".encode()) for i in range(1000)]
    p.flush()
    offsets = [f.get(timeout=30).offset for f in futures]
    assert all(o >= 0 for o in offsets)
    p.close()
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, enable_auto_commit=False,
                      auto_offset_reset="earliest", consumer_timeout_ms=10000)
    c.assign([TopicPartition("kp", 0), TopicPartition("kp", 1)])
    c.seek_to_beginning()
    values = sorted(int(m.value) for m in c)
    c.close()
    assert values == list(range(1000)), len(values)
    # An empty topic must not crash it (Fetch must send empty, not null, records).
    admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    admin.create_topics([NewTopic("kp-empty", num_partitions=1, replication_factor=1)])
    admin.close()
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, consumer_timeout_ms=2000)
    c.assign([TopicPartition("kp-empty", 0)])
    assert list(c) == []
    c.close()


def kcat_check(b):
    if shutil.which("kcat") is None:
        raise RuntimeError("kcat is not installed (scripts/install-clients.sh installs it)")
    md = subprocess.run(["kcat", "-b", b.bootstrap, "-L"], capture_output=True, text=True, timeout=60)
    assert md.returncode == 0, md.stderr
    assert "1 brokers:" in md.stdout, md.stdout
    lines = "".join(f"key{i}:line {i}\n" for i in range(500))
    prod = subprocess.run(["kcat", "-b", b.bootstrap, "-P", "-t", "kc", "-K", ":"],
                          input=lines, capture_output=True, text=True, timeout=60)
    assert prod.returncode == 0, prod.stderr
    cons = subprocess.run(["kcat", "-b", b.bootstrap, "-C", "-t", "kc", "-o", "beginning", "-e",
                           "-f", "%k=%s\n"], capture_output=True, text=True, timeout=60)
    assert cons.returncode == 0, cons.stderr
    got = cons.stdout.splitlines()
    assert len(got) == 500 and got[0] == "key0=line 0" and got[-1] == "key499=line 499", got[:3]


CHECKS = [("confluent-kafka", confluent_kafka_check), ("kafka-python", kafka_python_check),
          ("kcat", kcat_check)]

if __name__ == "__main__":
    passed = failed = 0
    for name, check in CHECKS:
        b = Broker()
        try:
            check(b)
            print(f"PASS {name}")
            passed += 1
        except Exception:  # noqa: BLE001 - report every failure, keep going
            print(f"FAIL {name}")
            traceback.print_exc()
            failed += 1
        finally:
            b.stop()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
