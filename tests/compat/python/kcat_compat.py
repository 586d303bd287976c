"""The compatibility scenario with kcat (Debian's 1.7.1 on librdkafka 2.0.2: the old-client case).

kcat is a command-line tool, so this `Client` drives it with subprocesses and parses its -f
output. kcat has no admin API: step 1 relies on the broker auto-creating topics with
num.partitions=3 (scripts/compat.sh sets both in the broker config).
"""

import os
import re
import subprocess
import sys
import time
from typing import ClassVar

import scenario as sc

KCAT = os.environ.get("KCAT", "kcat")
# Partition, offset, timestamp, key, headers (n=v CSV), value: tab-separated, one record a line.
FORMAT = "%p\\t%o\\t%T\\t%k\\t%h\\t%s\\n"


class KcatError(Exception):
    """kcat exited non-zero or reported a delivery failure."""


def kcat_version():
    out = subprocess.run([KCAT, "-V"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"Version (\S+) .*librdkafka (\S+)", out)
    return (found.group(1), found.group(2)) if found else ("unknown", "unknown")


def run_kcat(bootstrap, args, stdin=None, timeout=sc.PHASE_TIMEOUT_S):
    """Runs kcat; returns stdout, or what it printed before `timeout` if it had to be killed."""
    cmd = [KCAT, "-b", bootstrap, "-q", *args]
    try:
        proc = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return out
    if proc.stderr:
        print(proc.stderr, end="", file=sys.stderr)
    if proc.returncode != 0 or "Delivery failed" in proc.stderr:
        raise KcatError(f"kcat {args[0]} exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def parse(out):
    records = []
    for line in out.splitlines():
        partition, offset, ts, key, headers, value = line.split("\t", 5)
        pairs = [h.split("=", 1) for h in headers.split(",") if h]
        records.append(
            sc.Record(
                partition=int(partition),
                offset=int(offset),
                key=key,
                value=value,
                headers=[(k, v.encode()) for k, v in pairs],
                timestamp=int(ts),
            )
        )
    return records


class Kcat(sc.Client):
    name = "kcat"
    version, librdkafka = kcat_version()
    engine = f"librdkafka-{librdkafka}"
    unsupported: ClassVar[dict] = {"timestamps": "kcat -P cannot set a message timestamp"}

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap

    def create_topics(self, topic, partitions, features):
        # A metadata request that allows auto-creation creates a missing topic (`partitions`
        # comes from the broker's num.partitions). The broker answers the first request before
        # the topic exists, so ask until it lists partitions.
        deadline = sc.Deadline()
        for name in (features, topic):
            count = 0
            while count == 0 and not deadline.passed():
                out = run_kcat(
                    self.bootstrap, ["-L", "-t", name, "-X", "allow.auto.create.topics=true"]
                )
                count = len(re.findall(r"^\s+partition \d+,", out, re.MULTILINE))
                if count == 0:
                    time.sleep(0.2)
        return count

    def produce(self, topic, messages, feature=None):
        args = ["-P", "-t", topic, "-K", "\t", "-X", "acks=all"]
        if topic.endswith("-features"):
            args += ["-p", "0"]
        if feature == "idempotent":
            args += ["-X", "enable.idempotence=true"]
        elif feature:
            args += ["-z", feature]
        if messages[0].headers is None:
            lines = "".join(f"{m.key}\t{m.value}\n" for m in messages)
            run_kcat(self.bootstrap, args, stdin=lines)
            return
        # -H applies to every message of one invocation: one kcat per message.
        for m in messages:
            headers = [a for k, v in m.headers for a in ("-H", f"{k}={v.decode()}")]
            run_kcat(self.bootstrap, args + headers, stdin=f"{m.key}\t{m.value}\n")

    def consume_group(self, topic, group, want):
        # kcat stores each offset as it hands the message out and commits the stored offsets
        # when -c makes it close: exactly the `want` consumed.
        out = run_kcat(
            self.bootstrap,
            ["-G", group, topic, "-c", str(want), "-f", FORMAT, "-X", "auto.offset.reset=earliest"],
        )
        return parse(out)

    def consume_partition(self, topic, want):
        out = run_kcat(
            self.bootstrap,
            ["-C", "-t", topic, "-p", "0", "-o", "beginning", "-c", str(want), "-e", "-f", FORMAT],
        )
        return parse(out)


if __name__ == "__main__":
    sc.run(Kcat)
