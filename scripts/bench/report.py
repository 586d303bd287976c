"""Renders results.json as BENCHMARKS.md: machine, targets of issue #5 (met/missed), physical
limits, every scenario absolute and as a Strom/Kafka ratio, problems, and the exact commands."""

import brokers

BROKERS = ("strom", "kafka")
GEN_LABEL = {
    "rdkafka_performance": "rdkafka_performance",
    "kafka-perf-tools": "Kafka ProducerPerformance / ConsumerPerformance",
}
SCENARIOS = (
    ("produce_acks1", "(a) produce, acks=1"),
    ("produce_acksall", "(b) produce, acks=all"),
    ("consume", "(c) consume"),
)

# Issue #5. Memory targets are read as MiB (RSS comes from /proc in KiB).
TARGETS = {
    "produce_mb_s": 1000.0,
    "consume_mb_s": 1500.0,
    "e2e_p99_ms": 2.0,
    "idle_rss_mib": 10.0,
    "startup_ms": 20.0,
    "peak_rss_mib": 30.0,
}

DASH = "–"


def num(x, digits=0):
    if x is None:
        return DASH
    return f"{x:,.{digits}f}"


def mib(kb):
    return DASH if kb is None else f"{kb / 1024:,.1f} MiB"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return DASH
    return f"{a / b:.2f}×"


def pct(a, limit):
    if a is None or not limit:
        return DASH
    return f"{100 * a / limit:.0f}%"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


class View:
    """Safe look-ups into the results of one run (a broker or scenario may be missing)."""

    def __init__(self, results):
        self.r = results
        self.b = results.get("brokers", {})

    def get(self, broker, *path):
        node = self.b.get(broker)
        for key in path:
            if isinstance(node, dict):
                node = node.get(key)
            elif isinstance(node, list) and isinstance(key, int) and key < len(node):
                node = node[key]
            else:
                return None
        return node

    def ok(self, broker, *path):
        """The result dict at path, or None if it is missing or failed."""
        node = self.get(broker, *path)
        if not isinstance(node, dict) or "error" in node:
            return None
        return node

    def value(self, broker, *path):
        *head, last = path
        node = self.ok(broker, *head)
        return None if node is None else node.get(last)

    def best(self, broker, scenario, key):
        values = [self.value(broker, scenario, g, key) for g in GEN_LABEL]
        values = [v for v in values if v is not None]
        return max(values) if values else None

    def peak_1m(self, broker):
        values = [
            self.get(broker, s, g, "broker_peak_rss_kb") for s, _ in SCENARIOS for g in GEN_LABEL
        ]
        values = [v for v in values if v is not None]
        return max(values) if values else None


def _status(value, goal, higher_is_better):
    if value is None:
        return "not measured"
    met = value >= goal if higher_is_better else value <= goal
    return "**met**" if met else "**missed**"


def targets_section(v):
    def both(f):
        return [f(b) for b in BROKERS]

    rows = []

    def add(label, goal_text, values, goal, higher, fmt):
        strom, kafka = values
        rows.append([label, goal_text, fmt(strom), fmt(kafka), _status(strom, goal, higher)])

    add(
        "acks=all produce, 1 KiB messages (best generator)",
        f"≥ {num(TARGETS['produce_mb_s'])} MB/s",
        both(lambda b: v.best(b, "produce_acksall", "mb_s")),
        TARGETS["produce_mb_s"],
        True,
        lambda x: num(x, 1) + (" MB/s" if x else ""),
    )
    add(
        "consume (best generator)",
        f"≥ {num(TARGETS['consume_mb_s'])} MB/s",
        both(lambda b: v.best(b, "consume", "mb_s")),
        TARGETS["consume_mb_s"],
        True,
        lambda x: num(x, 1) + (" MB/s" if x else ""),
    )
    add(
        "end-to-end p99 at a low fixed rate",
        f"≤ {TARGETS['e2e_p99_ms']:g} ms",
        both(lambda b: (v.get(b, "latency", "rdkafka_performance", "e2e_ms") or {}).get("p99")),
        TARGETS["e2e_p99_ms"],
        False,
        lambda x: num(x, 2) + (" ms" if x is not None else ""),
    )
    add(
        "idle RSS",
        f"≤ {TARGETS['idle_rss_mib']:g} MiB",
        both(lambda b: _kb_to_mib(v.get(b, "idle", "rss_kb"))),
        TARGETS["idle_rss_mib"],
        False,
        lambda x: num(x, 1) + (" MiB" if x is not None else ""),
    )
    add(
        "start-up, spawn → connect() accepted (median)",
        f"≤ {TARGETS['startup_ms']:g} ms",
        both(lambda b: v.get(b, "startup", "connect_ms")),
        TARGETS["startup_ms"],
        False,
        lambda x: num(x, 1) + (" ms" if x is not None else ""),
    )
    msgs = num(v.r.get("settings", {}).get("msgs"))
    add(
        f"peak RSS during the {msgs}-message runs (a)–(c), worst",
        f"≤ {TARGETS['peak_rss_mib']:g} MiB",
        both(lambda b: _kb_to_mib(v.peak_1m(b))),
        TARGETS["peak_rss_mib"],
        False,
        lambda x: num(x, 1) + (" MiB" if x is not None else ""),
    )
    return (
        "## Targets (issue #5)\n\n"
        "Met/missed is Strom's; Kafka's figure is there for scale.\n\n"
        + table(["target", "goal", "Strom", "Kafka", "Strom status"], rows)
    )


def _kb_to_mib(kb):
    return None if kb is None else kb / 1024


def machine_section(r):
    m = r.get("machine", {})
    rows = [
        ["CPU", m.get("cpu", "")],
        ["cores (`nproc`)", m.get("nproc", "")],
        ["kernel", m.get("kernel", "")],
        ["OS", m.get("os", "")],
        [
            "load average (1/5/15 min) at start → end",
            " ".join(m.get("loadavg_start", [])) + " → " + " ".join(m.get("loadavg_end", [])),
        ],
        ["Strom", f"{m.get('strom_version', '')}, commit {m.get('git', '')}"],
        ["Apache Kafka", "4.1.1 (Maven Central jars), " + m.get("java", "")],
        [
            "load generators",
            f"rdkafka_performance ({m.get('librdkafka', '')}); "
            "Kafka 4.1.1 ProducerPerformance / ConsumerPerformance",
        ],
        ["wall time of this run", f"{num(r.get('wall_s'))} s"],
    ]
    return (
        "## Machine\n\n"
        + table(["", ""], rows)
        + "\n\n`free -g`:\n\n```\n"
        + m.get("free_g", "")
        + "\n```"
    )


def limits_section(r):
    lim = r.get("limits", {})
    rows = [
        ["loopback TCP, one stream (`iperf3`)", num(lim.get("loopback_mb_s"), 0) + " MB/s"],
        ["sequential write to the page cache (`dd`)", num(lim.get("write_mb_s"), 0) + " MB/s"],
        [
            "sequential write + `fdatasync` (`dd conv=fdatasync`)",
            num(lim.get("write_fdatasync_mb_s"), 0) + " MB/s",
        ],
    ]
    return "## Physical limits (same run)\n\n" + table(["limit", "throughput"], rows)


def _limit_for(r, scenario):
    lim = r.get("limits", {})
    loop = lim.get("loopback_mb_s")
    if scenario == "consume":
        return loop
    values = [x for x in (loop, lim.get("write_mb_s")) if x]
    return min(values) if values else None


def _lifetime_note(v):
    """Said when the kernel would not reset VmHWM, so peaks are since the broker started."""
    found = any(
        v.get(b, key, gen, "peak_rss_since_start")
        for b in BROKERS
        for key, _ in SCENARIOS
        for gen in GEN_LABEL
    )
    return (
        ", but here since the broker started: this kernel refused to reset VmHWM" if found else ""
    )


def throughput_section(v):
    s = v.r.get("settings", {})
    rows, res_rows = [], []
    for key, label in SCENARIOS:
        limit = _limit_for(v.r, key)
        for gen, gen_label in GEN_LABEL.items():
            st = [v.value(b, key, gen, "mb_s") for b in BROKERS]
            sm = [v.value(b, key, gen, "msgs_s") for b in BROKERS]
            rows.append(
                [
                    label,
                    gen_label,
                    num(st[0], 1),
                    num(sm[0]),
                    num(st[1], 1),
                    num(sm[1]),
                    ratio(st[0], st[1]),
                    pct(st[0], limit),
                    pct(st[1], limit),
                ]
            )
            rss = [v.get(b, key, gen, "broker_peak_rss_kb") for b in BROKERS]
            cpu = [v.get(b, key, gen, "broker_cpu_s") for b in BROKERS]
            res_rows.append(
                [
                    label,
                    gen_label,
                    mib(rss[0]),
                    mib(rss[1]),
                    ratio(rss[0], rss[1]),
                    num(cpu[0], 1),
                    num(cpu[1], 1),
                    ratio(cpu[0], cpu[1]),
                ]
            )
    head = (
        f"## Throughput: {num(s.get('msgs'))} × {s.get('size')} B messages, "
        f"{s.get('partitions')} partitions\n\n"
        "“% of limit”: produce against the lower of loopback TCP and page-cache write, "
        "consume against loopback TCP. Consume reads back the acks=all topics.\n\n"
    )
    return (
        head
        + table(
            [
                "scenario",
                "generator",
                "Strom MB/s",
                "Strom msgs/s",
                "Kafka MB/s",
                "Kafka msgs/s",
                "Strom/Kafka",
                "Strom % of limit",
                "Kafka % of limit",
            ],
            rows,
        )
        + "\n\nBroker resources during the same runs (peak RSS per scenario"
        + _lifetime_note(v)
        + "; CPU = user+system seconds of the broker process):\n\n"
        + table(
            [
                "scenario",
                "generator",
                "Strom peak RSS",
                "Kafka peak RSS",
                "Strom/Kafka",
                "Strom CPU s",
                "Kafka CPU s",
                "Strom/Kafka",
            ],
            res_rows,
        )
    )


def transactions_section(v):
    """(g): transactional produce, transactions of 100 and 10,000 records."""
    s = v.r.get("settings", {})
    rows = []
    for key, label in (("txn100", "100 records"), ("txn10000", "10,000 records")):
        mb = [v.value(b, "transactions", key, "mb_s") for b in BROKERS]
        msgs = [v.value(b, "transactions", key, "msgs_s") for b in BROKERS]
        commit = [v.get(b, "transactions", key, "commit_ms") or {} for b in BROKERS]
        rows.append(
            [
                label,
                num(mb[0], 1),
                num(msgs[0]),
                num(mb[1], 1),
                num(msgs[1]),
                ratio(mb[0], mb[1]),
                num(commit[0].get("p99"), 1),
                num(commit[1].get("p99"), 1),
            ]
        )
    head = (
        f"## (g) Transactional produce: {num(s.get('msgs'))} × {s.get('size')} B records\n\n"
        "One Java producer (scripts/bench/TxnBench.java, acks=all) commits transactions of a "
        "fixed number of records; commit p99 is commitTransaction() from call to return.\n\n"
    )
    return head + table(
        [
            "transaction size",
            "Strom MB/s",
            "Strom msgs/s",
            "Kafka MB/s",
            "Kafka msgs/s",
            "Strom/Kafka",
            "Strom commit p99 ms",
            "Kafka commit p99 ms",
        ],
        rows,
    )


def _pcts(d):
    if not d:
        return DASH
    return " / ".join(num(d.get(k), 2) for k in ("p50", "p99", "p99.9"))


def latency_section(v):
    s = v.r.get("settings", {})
    rows = []
    for gen, key, label in (
        ("rdkafka_performance", "ack_ms", "produce → ack"),
        ("rdkafka_performance", "e2e_ms", "end to end (produce → consumed)"),
        ("kafka-perf-tools", "ack_ms", "produce → ack (whole ms)"),
    ):
        d = [v.get(b, "latency", gen, key) for b in BROKERS]
        p99 = [(x or {}).get("p99") for x in d]
        n = [(x or {}).get("n") for x in d]
        rows.append(
            [
                label,
                GEN_LABEL[gen] if gen == "rdkafka_performance" else "ProducerPerformance",
                _pcts(d[0]),
                _pcts(d[1]),
                ratio(p99[0], p99[1]),
                f"{num(n[0])} / {num(n[1])}",
            ]
        )
    cpu = [v.get(b, "latency", "rdkafka_performance", "broker_cpu_s") for b in BROKERS]
    return (
        f"## Latency: {s.get('latency_rate')} msgs/s for {s.get('latency_seconds')} s, "
        f"{s.get('size')} B, acks=all, linger.ms=0, {s.get('partitions')} partitions\n\n"
        + table(
            [
                "measure",
                "generator",
                "Strom p50 / p99 / p99.9 ms",
                "Kafka p50 / p99 / p99.9 ms",
                "Strom/Kafka p99",
                "samples Strom / Kafka",
            ],
            rows,
        )
        + f"\n\nBroker CPU during the rdkafka_performance latency run: Strom {num(cpu[0], 2)} s, "
        f"Kafka {num(cpu[1], 2)} s ({ratio(cpu[0], cpu[1])})."
    )


def startup_section(v):
    s = v.r.get("settings", {})

    def first(b):
        return v.get(b, "startup", "runs", 0, "connect_ms")

    rows = []
    for label, f, fmt in (
        (
            f"spawn → connect() accepted, median of {s.get('startup_runs')} starts",
            lambda b: v.get(b, "startup", "connect_ms"),
            lambda x: num(x, 1) + " ms",
        ),
        (
            "spawn → first ApiVersions answered, median",
            lambda b: v.get(b, "startup", "ready_ms"),
            lambda x: num(x, 1) + " ms",
        ),
        ("first start on a fresh data dir → connect", first, lambda x: num(x, 1) + " ms"),
        (
            f"idle RSS, {s.get('idle_settle_s')} s after start",
            lambda b: v.get(b, "idle", "rss_kb"),
            mib,
        ),
        (
            "idle CPU over the same seconds",
            lambda b: v.get(b, "idle", "cpu_pct"),
            lambda x: num(x, 1) + " %",
        ),
        (
            "clean shutdown, SIGTERM → exit, at the end",
            lambda b: v.get(b, "shutdown_s"),
            lambda x: num(x, 2) + " s",
        ),
    ):
        a, b = f("strom"), f("kafka")
        rows.append(
            [
                label,
                fmt(a) if a is not None else DASH,
                fmt(b) if b is not None else DASH,
                ratio(a, b),
            ]
        )
    return "## Start-up and idle\n\n" + table(["", "Strom", "Kafka", "Strom/Kafka"], rows)


def _rows_by(v, broker, key, field):
    return {row.get(field): row for row in (v.get(broker, key) or [])}


def scaling_section(v):
    s = v.r.get("settings", {})
    out = []
    st, kf = (
        _rows_by(v, "strom", "partitions", "partitions"),
        _rows_by(v, "kafka", "partitions", "partitions"),
    )
    rows = []
    for p in s.get("scale_partitions", []):
        a, b = st.get(p, {}), kf.get(p, {})
        rows.append(
            [
                num(p),
                num(a.get("mb_s"), 1),
                num(b.get("mb_s"), 1),
                ratio(a.get("mb_s"), b.get("mb_s")),
                num(a.get("create_s"), 2),
                num(b.get("create_s"), 2),
                mib(a.get("rss_after_create_kb")),
                mib(b.get("rss_after_create_kb")),
                mib(a.get("broker_peak_rss_kb")),
                mib(b.get("broker_peak_rss_kb")),
                ratio(a.get("broker_peak_rss_kb"), b.get("broker_peak_rss_kb")),
            ]
        )
    out.append(
        f"## Scaling: partitions ({num(s.get('scale_msgs'))} × {s.get('size')} B, acks=1, "
        "rdkafka_performance, spread over all partitions)\n\n"
        "“create s”: from CreateTopics until every partition has a leader and has taken one "
        "write. RSS after create is with the topic created and empty.\n\n"
        + table(
            [
                "partitions",
                "Strom MB/s",
                "Kafka MB/s",
                "Strom/Kafka",
                "Strom create s",
                "Kafka create s",
                "Strom RSS after create",
                "Kafka RSS after create",
                "Strom peak RSS",
                "Kafka peak RSS",
                "Strom/Kafka RSS",
            ],
            rows,
        )
    )
    st, kf = (
        _rows_by(v, "strom", "connections", "connections"),
        _rows_by(v, "kafka", "connections", "connections"),
    )
    rows = []
    for n in s.get("scale_conns", []):
        a, b = st.get(n, {}), kf.get(n, {})
        rows.append(
            [
                num(n),
                num(a.get("mb_s"), 1),
                num(b.get("mb_s"), 1),
                ratio(a.get("mb_s"), b.get("mb_s")),
                mib(a.get("rss_idle_conns_kb")),
                mib(b.get("rss_idle_conns_kb")),
                mib(a.get("broker_peak_rss_kb")),
                mib(b.get("broker_peak_rss_kb")),
                num(a.get("broker_cpu_s"), 1),
                num(b.get("broker_cpu_s"), 1),
            ]
        )
    out.append(
        f"## Scaling: connections (each producing {s.get('conn_records')} × {s.get('size')} B "
        f"per request, acks=1, one request in flight per connection, "
        f"{num(s.get('conn_budget'))} messages in all)\n\n"
        + table(
            [
                "connections",
                "Strom MB/s",
                "Kafka MB/s",
                "Strom/Kafka",
                "Strom RSS, all open and idle",
                "Kafka RSS, all open and idle",
                "Strom peak RSS",
                "Kafka peak RSS",
                "Strom CPU s",
                "Kafka CPU s",
            ],
            rows,
        )
    )
    return "\n\n".join(out)


def problems(results):
    """Every error recorded anywhere in the run, as 'broker: where: what'."""
    found = []

    def walk(broker, path, node):
        if isinstance(node, dict):
            if "error" in node:
                found.append(f"{broker}: {' / '.join(path)}: {node['error']}")
            for k, x in node.items():
                walk(broker, path + [str(k)], x)
        elif isinstance(node, list):
            for i, x in enumerate(node):
                label = x.get("partitions", x.get("connections", i)) if isinstance(x, dict) else i
                walk(broker, path + [str(label)], x)

    for broker, data in results.get("brokers", {}).items():
        for err in data.get("errors", []):
            found.append(f"{broker}: {err}")
        walk(broker, [], {k: x for k, x in data.items() if k not in ("errors", "commands")})
    return found


def commands_section(r):
    lines = []
    seen = set()
    for broker in BROKERS:
        for label, cmd in r.get("brokers", {}).get(broker, {}).get("commands", []):
            key = (label, cmd)
            if key in seen:
                continue
            seen.add(key)
            lines.append(f"# {label}\n{cmd}")
    limit_cmds = "\n".join(r.get("limit_commands", []))
    return (
        "## How to reproduce\n\n"
        "```sh\n"
        "scripts/bench.sh            # full run, both brokers, rewrites BENCHMARKS.md (~20 min)\n"
        "scripts/bench.sh --quick    # small counts, report under target/bench/run-*/\n"
        "scripts/bench.sh --only strom   # one broker (ratios then show –)\n"
        "```\n\n"
        "Both brokers run the same `server.properties` (KRaft combined mode, only the ports "
        "and `log.dirs` differ); Kafka is formatted with its storage tool first and runs with "
        "the heap and JVM flags of `kafka-server-start.sh`. `$BOOTSTRAP` is the broker under "
        "test, `$RUN` the run directory under `target/bench/`.\n\n"
        "`$RUN/server.properties`:\n\n```properties\n"
        + brokers.server_properties("$PORT", "$CONTROLLER_PORT", "$RUN/data")
        + "```\n\n"
        "<details><summary>Exact commands of this run</summary>\n\n"
        "```sh\n# physical limits\n" + limit_cmds + "\n\n" + "\n\n".join(lines) + "\n```\n\n"
        "</details>"
    )


METHOD = """## Method

- MB/s is 10^6 bytes per second of message values (messages × size ÷ seconds); memory is MiB
  from /proc (`VmRSS`, `VmHWM`). Ratios are Strom ÷ Kafka: above 1 is better for throughput,
  below 1 is better for memory, CPU, latency and time.
- Peak RSS is per scenario: `VmHWM` is reset by writing 5 to `/proc/PID/clear_refs` before each
  scenario. CPU seconds are `utime + stime` of the broker (all threads) over the scenario.
- Timing is each generator's own: rdkafka_performance from the first send to the last delivery
  report (producer) or from the first message to the last (consumer); ProducerPerformance its
  records/sec; ConsumerPerformance its fetch time (without the group join).
- Client settings: each generator at its own defaults plus `acks`, except that
  rdkafka_performance gets `linger.ms=5` (the librdkafka and Java default; the tool itself sets
  1000, which holds a run's last batches for up to a second). The latency runs use
  `linger.ms=0`. Topics are created with CreateTopics and used once every partition has taken
  a write (one 5-byte record each, ahead of the scenario's own).
- The connection scaling load is `scripts/bench/kproto.py`: one Python asyncio process with
  one request in flight per connection, so at one connection it measures round trips more
  than broker throughput; what matters there is how throughput and memory move with N.
- Start-up is the time from spawning the process until `connect()` to its port succeeds
  (polled every 0.5 ms); the first start on a fresh data dir includes Strom formatting itself.
- Load generators, brokers and this driver share the same cores, so every figure here is a
  whole-machine figure; the load average above says how busy the machine was otherwise."""


def render(results):
    v = View(results)
    quick = results.get("mode") == "quick"
    only = [b for b in BROKERS if b not in results.get("brokers", {})]
    intro = (
        "# Benchmarks\n\n"
        "Generated by `scripts/bench.sh` on "
        + results.get("machine", {}).get("date", "")
        + "; do not edit by hand.\n"
    )
    if quick:
        intro += (
            "\n> **Quick run** (`--quick`: small counts, for checking the harness). "
            "These figures are not the benchmark; run `scripts/bench.sh` for that.\n"
        )
    if only:
        intro += f"\n> Only {', '.join(sorted(set(BROKERS) - set(only)))} was run.\n"
    repo = results.get("repo")
    errs = [e.replace(repo + "/", "") if repo else e for e in problems(results)]
    parts = [
        intro,
        targets_section(v),
        machine_section(results),
        limits_section(results),
        throughput_section(v),
        latency_section(v),
        startup_section(v),
        scaling_section(v),
        transactions_section(v),
        "## Problems in this run\n\n" + ("\n".join(f"- {e}" for e in errs) if errs else "None."),
        METHOD,
        commands_section(results),
    ]
    return "\n\n".join(parts) + "\n"
