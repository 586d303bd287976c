"""The benchmark scenarios, run against one started broker. Each returns a result dict with
the generator's figures plus the broker's CPU seconds and peak RSS for that scenario; a
scenario that fails records {"error": ...} and the run goes on."""

import asyncio
import contextlib
import os
import subprocess
import time

import brokers
import kproto
import loadgen
import procs


class Scenario:
    """Shared context: the broker, the generators, the settings and the place for logs."""

    def __init__(self, broker, tools, settings, workdir, repo):
        self.broker = broker
        self.tools = tools
        self.s = settings
        self.workdir = workdir
        self.repo = repo
        self.commands = []
        self.timeout_s = 60 + settings["msgs"] / 5000

    def log(self, name):
        return os.path.join(self.workdir, f"{name}.log")

    def generic(self, cmd):
        """A command line for BENCHMARKS.md, with the run-specific parts made generic."""
        text = " ".join(cmd)
        text = text.replace(self.tools.classpath, "$(scripts/apache-kafka.sh classpath)")
        text = text.replace(self.broker.bootstrap, "$BOOTSTRAP").replace(self.workdir, "$RUN")
        text = text.replace(f":{self.broker.controller_port}", ":$CONTROLLER_PORT")
        return text.replace(self.repo + "/", "")

    def record(self, label, cmd):
        """Keeps a scenario's command for the report."""
        self.commands.append((label, self.generic(cmd)))

    def run_tool(self, label, cmd, parse, timeout_s=None):
        self.record(label, cmd)
        with procs.Meter(self.broker.pid) as m:
            rc, out = procs.run(cmd, self.log(label), timeout_s or self.timeout_s)
        if rc is None:
            return m.into({"error": f"timed out after {timeout_s or self.timeout_s:.0f}s"})
        try:
            result = parse(out, self.s["size"])
        except loadgen.ParseError as e:
            said = _last_words(out)
            return m.into({"error": f"{e} (exit status {rc}{said}); see {self.log(label)}"})
        return m.into(result)


def _last_words(output):
    """The generator's last line of output (usually the reason it failed), for the report."""
    lines = [x.strip() for x in output.splitlines() if x.strip() and not x.startswith("$ ")]
    return f', last said "{lines[-1][:200]}"' if lines else ""


def _checked(result, expected):
    if "error" not in result and result.get("msgs", 0) < expected:
        result["error"] = f"only {result['msgs']} of {expected} messages"
    return result


def produce(ctx, acks):
    """(a)/(b): 1 KiB messages as fast as each generator can, to a fresh 6-partition topic."""
    s, b, t = ctx.s, ctx.broker, ctx.tools
    acks_name = "all" if acks == -1 else str(acks)
    out = {}
    topic = f"produce-acks{acks_name}-rdkafka"
    cmd = loadgen.rdkafka_produce(t, b.bootstrap, topic, s["msgs"], s["size"], acks)
    out["rdkafka_performance"] = _checked(
        ctx.run_tool(f"produce-acks{acks_name}-rdkafka", cmd, loadgen.parse_rdkafka_produce),
        s["msgs"],
    )
    topic = f"produce-acks{acks_name}-java"
    cmd = loadgen.producer_performance(t, b.bootstrap, topic, s["msgs"], s["size"], acks_name)
    out["kafka-perf-tools"] = _checked(
        ctx.run_tool(f"produce-acks{acks_name}-java", cmd, loadgen.parse_producer_performance),
        s["msgs"],
    )
    return out


def transactions(ctx):
    """(g) transactional produce: the same records in transactions of 100 and of 10,000
    records (Kafka's Java producer, acks=all), each size to its own topic."""
    s, b, t = ctx.s, ctx.broker, ctx.tools
    out = {}
    for per_txn in (100, 10_000):
        topic = f"txn-{per_txn}"
        b.create_topic(topic, s["partitions"])
        cmd = loadgen.txn_bench(t, b.bootstrap, topic, s["msgs"], s["size"], per_txn)
        out[f"txn{per_txn}"] = _checked(
            ctx.run_tool(f"transactions-{per_txn}", cmd, loadgen.parse_txn_bench), s["msgs"]
        )
    return out


def consume(ctx):
    """(c): read back what the acks=all runs wrote, each generator its own topic."""
    s, b, t = ctx.s, ctx.broker, ctx.tools
    out = {}
    cmd = loadgen.rdkafka_consume(
        t, b.bootstrap, "produce-acksall-rdkafka", s["partitions"], s["msgs"]
    )
    out["rdkafka_performance"] = _checked(
        ctx.run_tool("consume-rdkafka", cmd, loadgen.parse_rdkafka_consume), s["msgs"]
    )
    group = f"bench-{int(time.time())}"
    cmd = loadgen.consumer_performance(t, b.bootstrap, "produce-acksall-java", s["msgs"], group)
    out["kafka-perf-tools"] = _checked(
        ctx.run_tool("consume-java", cmd, loadgen.parse_consumer_performance), s["msgs"]
    )
    return out


def latency(ctx):
    """(d): a fixed low rate with linger.ms=0 and acks=all. rdkafka_performance -l stamps
    each message; its producer records produce->ack, a consumer started first (at the end of
    the log) records end-to-end. ProducerPerformance adds its own produce->ack figures."""
    s, b, t = ctx.s, ctx.broker, ctx.tools
    count = s["latency_rate"] * s["latency_seconds"]
    topic = "latency"
    ack_file = os.path.join(ctx.workdir, "latency-ack.us")
    e2e_file = os.path.join(ctx.workdir, "latency-e2e.us")
    consumer_cmd = loadgen.rdkafka_consume(
        t, b.bootstrap, topic, s["partitions"], count, offset="end", extra=["-l", "-A", e2e_file]
    )
    producer_cmd = loadgen.rdkafka_produce(
        t,
        b.bootstrap,
        topic,
        count,
        s["size"],
        -1,
        extra=["-l", "-A", ack_file, "-r", str(s["latency_rate"]), "-X", "linger.ms=0"],
    )
    ctx.record("latency-rdkafka-consumer", consumer_cmd)
    ctx.record("latency-rdkafka-producer", producer_cmd)
    out = {}
    with procs.Meter(b.pid) as m:
        consumer = procs.spawn(consumer_cmd, ctx.log("latency-rdkafka-consumer"))
        time.sleep(s["consumer_warmup_s"])
        rc, _ = procs.run(
            producer_cmd,
            ctx.log("latency-rdkafka-producer"),
            ctx.timeout_s + count / s["latency_rate"],
        )
        # A consumer that missed messages never reaches its count: stopped here, and the
        # sample count in the result shows it.
        with contextlib.suppress(subprocess.TimeoutExpired):
            consumer.wait(timeout=10)
        procs.stop(consumer, grace_s=5.0)
    ack = loadgen.percentiles(loadgen.latency_file_ms(ack_file))
    e2e = loadgen.percentiles(loadgen.latency_file_ms(e2e_file))
    result = m.into({"ack_ms": ack, "e2e_ms": e2e, "msgs": count})
    if rc != 0 or ack is None or e2e is None or e2e["n"] < count:
        got = e2e["n"] if e2e else 0
        result["error"] = f"producer exit {rc}, {got} of {count} messages timed end to end"
    out["rdkafka_performance"] = result
    cmd = loadgen.producer_performance(
        t, b.bootstrap, topic, count, s["size"], "all", s["latency_rate"], ["linger.ms=0"]
    )
    out["kafka-perf-tools"] = ctx.run_tool(
        "latency-java",
        cmd,
        loadgen.parse_producer_performance,
        timeout_s=ctx.timeout_s + count / s["latency_rate"],
    )
    return out


def partition_scaling(ctx):
    """(f): the same produce (acks=1) into topics of 1 .. 1,000 partitions."""
    s, b, t = ctx.s, ctx.broker, ctx.tools
    rows = []
    for parts in s["scale_partitions"]:
        topic = f"scale-p{parts}"
        row = {"partitions": parts}
        try:
            row["create_s"] = b.create_topic(topic, parts)
        except brokers.BrokerError as e:
            row["error"] = str(e)
            rows.append(row)
            continue
        row["rss_after_create_kb"] = procs.rss_kb(b.pid)
        cmd = loadgen.rdkafka_produce(t, b.bootstrap, topic, s["scale_msgs"], s["size"], 1)
        res = _checked(
            ctx.run_tool(f"scale-p{parts}", cmd, loadgen.parse_rdkafka_produce), s["scale_msgs"]
        )
        row.update(res)
        row["rss_after_kb"] = procs.rss_kb(b.pid)
        rows.append(row)
    return rows


def connection_scaling(ctx):
    """(f): N connections open at once (idle RSS with them), then all producing acks=1, one
    request of `conn_records` messages in flight each, until the message budget is acked."""
    s, b = ctx.s, ctx.broker
    topic = "scale-conns"
    b.create_topic(topic, s["partitions"])
    rows = []
    ctx.commands.append(
        (
            "scale-conns",
            f"scripts/bench/kproto.py connection_load(N): N connections, ApiVersions v0 on "
            f"each, then Produce v7 of {s['conn_records']} x {s['size']} B per request, acks=1, "
            f"until {s['conn_budget']} messages are acked",
        )
    )
    for n in s["scale_conns"]:
        row = {"connections": n}
        spec = {
            "records": s["conn_records"],
            "size": s["size"],
            "acks": 1,
            "budget": s["conn_budget"],
            "max_seconds": s["conn_max_s"],
        }
        try:
            with procs.Meter(b.pid) as m:
                res = asyncio.run(
                    kproto.connection_load(
                        b.port, n, topic, s["partitions"], spec, lambda: procs.rss_kb(b.pid)
                    )
                )
        except (OSError, kproto.ProtocolError, asyncio.IncompleteReadError) as e:
            row["error"] = f"{type(e).__name__}: {e}"
            rows.append(row)
            continue
        row["rss_idle_conns_kb"] = res["idle"]
        row.update(loadgen.throughput(res["msgs"], s["size"], res["seconds"]))
        row["errors"] = res["errors"]
        if res["errors"]:
            row["error"] = (
                f"{res['errors']} produce requests answered with an error "
                f"(error code: count {res['error_codes']})"
            )
        rows.append(m.into(row))
    return rows
