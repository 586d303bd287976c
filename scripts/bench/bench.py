"""Driver of scripts/bench.sh: measures the machine's limits, then runs every scenario against
Strom and Apache Kafka (one broker at a time, each on a fresh data dir and port), writes
results.json and BENCHMARKS.md. Run through scripts/bench.sh, which builds the tools first."""

import argparse
import datetime
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time

import brokers
import limits
import loadgen
import procs
import report
import scenarios

FULL = {
    "msgs": 1_000_000,
    "size": 1024,
    "partitions": 6,
    "latency_rate": 200,
    "latency_seconds": 30,
    "consumer_warmup_s": 3,
    "startup_runs": 5,
    "idle_settle_s": 5,
    "scale_partitions": [1, 10, 100, 1000],
    "scale_msgs": 200_000,
    "scale_conns": [1, 10, 100, 500],
    "conn_records": 16,
    "conn_budget": 300_000,
    "conn_max_s": 60,
    "iperf_s": 5,
    "dd_mib": 2048,
}

QUICK = dict(
    FULL,
    msgs=20_000,
    latency_seconds=5,
    consumer_warmup_s=2,
    startup_runs=2,
    idle_settle_s=2,
    scale_partitions=[1, 1000],
    scale_msgs=20_000,
    scale_conns=[1, 500],
    conn_budget=40_000,
    conn_max_s=20,
    iperf_s=2,
    dd_mib=256,
)


def _sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.rstrip()
    except OSError:
        return ""


def _loadavg():
    return [f"{x:.2f}" for x in os.getloadavg()]


def _cpu_name():
    if not os.path.exists("/proc/cpuinfo"):
        return _sh(["sysctl", "-n", "machdep.cpu.brand_string"])
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return ""


def _memory():
    """`free -g` on Linux; the physical memory size elsewhere (macOS has no `free`)."""
    if os.path.exists("/proc/meminfo"):
        return _sh(["free", "-g"])
    total = _sh(["sysctl", "-n", "hw.memsize"])
    return f"hw.memsize {int(total) / 2**30:.0f} GiB" if total.isdigit() else ""


def machine_info(repo, strom_bin, rdkafka_perf):
    cpu = _cpu_name()
    os_name = ""
    if platform.system() == "Darwin":
        os_name = "macOS " + platform.mac_ver()[0]
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    rev = _sh(["git", "-C", repo, "rev-parse", "--short", "HEAD"])
    dirty = _sh(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"])
    rd_usage = subprocess.run([rdkafka_perf], capture_output=True, text=True, check=False)
    rd_version = next(
        (line.strip() for line in rd_usage.stderr.splitlines() if "librdkafka version" in line),
        "",
    )
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count() or ""),
        "free_g": _memory(),
        "cpu": cpu,
        "kernel": " ".join(platform.uname()[i] for i in (0, 2, 4)),
        "os": os_name,
        "loadavg_start": _loadavg(),
        "git": rev + (" (with uncommitted changes)" if dirty else ""),
        "strom_version": _sh([strom_bin, "--version"]) if strom_bin else "",
        "java": (java.stderr.splitlines() or [""])[0],
        "librdkafka": rd_version,
    }


def _median_startup(runs, key):
    values = [r[key] for r in runs]
    return statistics.median(values) if values else None


def run_broker(name, args, settings, run_dir, tools):
    """Every scenario against one broker; returns its results (errors recorded inline)."""
    workdir = os.path.join(run_dir, name)
    os.makedirs(workdir, exist_ok=True)
    broker = brokers.Broker(name, workdir, args.repo, args.strom_bin, tools.classpath)
    ctx = scenarios.Scenario(broker, tools, settings, workdir, args.repo)
    out = {"errors": []}
    print(f"== {name}: {broker.bootstrap}, data in {broker.data_dir}", flush=True)
    try:
        broker.prepare()
        starts = []
        for i in range(settings["startup_runs"]):
            starts.append(broker.start())
            print(f"   start {i + 1}: {starts[-1]['connect_ms']:.1f} ms to connect", flush=True)
            if i + 1 < settings["startup_runs"]:
                broker.stop()
        out["startup"] = {
            "runs": starts,
            "connect_ms": _median_startup(starts, "connect_ms"),
            "ready_ms": _median_startup(starts, "ready_ms"),
        }
        cpu0 = procs.cpu_seconds(broker.pid)
        time.sleep(settings["idle_settle_s"])
        out["idle"] = {
            "rss_kb": procs.rss_kb(broker.pid),
            "cpu_pct": 100 * (procs.cpu_seconds(broker.pid) - cpu0) / settings["idle_settle_s"],
        }
        for topic in (
            "produce-acks1-rdkafka",
            "produce-acks1-java",
            "produce-acksall-rdkafka",
            "produce-acksall-java",
            "latency",
        ):
            broker.create_topic(topic, settings["partitions"])
        steps = [
            ("produce_acks1", lambda: scenarios.produce(ctx, 1)),
            ("produce_acksall", lambda: scenarios.produce(ctx, -1)),
            ("consume", lambda: scenarios.consume(ctx)),
            ("latency", lambda: scenarios.latency(ctx)),
            ("partitions", lambda: scenarios.partition_scaling(ctx)),
            ("connections", lambda: scenarios.connection_scaling(ctx)),
            ("transactions", lambda: scenarios.transactions(ctx)),
        ]
        for key, step in steps:
            if not broker.alive():
                out["errors"].append(f"{key}: skipped, the broker is no longer running")
                continue
            t0 = time.monotonic()
            try:
                out[key] = step()
            except Exception as e:
                # Whatever went wrong is recorded and the next scenario runs: one failure
                # should not cost the figures of all the others.
                out["errors"].append(f"{key}: {type(e).__name__}: {e}")
            print(f"   {key}: {time.monotonic() - t0:.0f} s", flush=True)
        if broker.alive():
            out["shutdown_s"] = broker.stop()
        else:
            out["errors"].append(f"the broker died; see {broker.log_path}")
    except brokers.BrokerError as e:
        out["errors"].append(str(e))
    finally:
        broker.stop()
        broker.cleanup()
        setup = [(label, ctx.generic(cmd)) for label, cmd in broker.commands]
        out["commands"] = setup + ctx.commands
    for err in out["errors"]:
        print(f"   error: {err}", flush=True)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="small counts, for development")
    p.add_argument("--only", choices=["strom", "kafka"], help="run one broker only")
    p.add_argument("--out", help="where to write the report (default: see scripts/bench.sh)")
    p.add_argument("--repo", required=True)
    p.add_argument("--bench-dir", required=True)
    p.add_argument("--rdkafka-perf", required=True)
    p.add_argument("--classpath-file", required=True)
    p.add_argument("--strom-bin")
    args = p.parse_args()
    # SIGTERM/SIGHUP unwind like Ctrl-C, so the finally blocks stop every broker and tool.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > 65536:
        hard = 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, hard), hard))

    settings = QUICK if args.quick else FULL
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = os.path.join(args.bench_dir, f"run-{stamp}")
    os.makedirs(run_dir)
    with open(args.classpath_file) as f:
        classpath = f.read().strip()
    tools = loadgen.Tools(args.rdkafka_perf, classpath, args.repo)
    names = [args.only] if args.only else ["strom", "kafka"]

    results = {
        "repo": args.repo,
        "mode": "quick" if args.quick else "full",
        "settings": settings,
        "machine": machine_info(args.repo, args.strom_bin, args.rdkafka_perf),
        "brokers": {},
    }
    started = time.monotonic()
    try:
        print("== physical limits", flush=True)
        loop_mb_s, loop_cmds = limits.loopback_tcp(run_dir, settings["iperf_s"])
        disk, disk_cmds = limits.sequential_write(run_dir, settings["dd_mib"])
        results["limits"] = dict(disk, loopback_mb_s=loop_mb_s)
        results["limit_commands"] = [
            " ".join(c).replace(run_dir, "$RUN_DIR") for c in (loop_cmds or []) + disk_cmds
        ]
        for name in names:
            results["brokers"][name] = run_broker(name, args, settings, run_dir, tools)
    finally:
        procs.stop_all()
    results["machine"]["loadavg_end"] = _loadavg()
    results["wall_s"] = time.monotonic() - started

    with open(os.path.join(run_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    out = args.out
    if out is None:
        full = not args.quick and not args.only
        out = os.path.join(args.repo if full else run_dir, "BENCHMARKS.md")
    with open(out, "w") as f:
        f.write(report.render(results))
    print(f"== done in {results['wall_s']:.0f} s: {out} (raw: {run_dir}/results.json)")
    return 1 if report.problems(results) else 0


if __name__ == "__main__":
    sys.exit(main())
