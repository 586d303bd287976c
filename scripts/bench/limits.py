"""Physical limits measured in the same run, so broker figures can be read against what the
machine can do at all: loopback TCP throughput (iperf3) and sequential file writes with and
without fdatasync (dd), on the filesystem that holds the brokers' data."""

import json
import os
import platform
import shlex
import shutil
import subprocess
import time

import brokers
import procs


def loopback_tcp(workdir, seconds):
    """Single-stream iperf3 over 127.0.0.1; MB/s (10^6 bytes) received, or None without iperf3."""
    if shutil.which("iperf3") is None:
        return None, None
    port = brokers.free_port()
    log = os.path.join(workdir, "iperf3.log")
    server_cmd = ["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)]
    client_cmd = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"]
    server = procs.spawn(server_cmd, log)
    try:
        for _attempt in range(20):
            time.sleep(0.25)
            out = subprocess.run(
                client_cmd, capture_output=True, text=True, timeout=seconds + 30, check=False
            )
            try:
                report = json.loads(out.stdout)
            except json.JSONDecodeError:
                continue
            if "error" in report:
                continue
            bps = report["end"]["sum_received"]["bits_per_second"]
            return bps / 8 / 1e6, [server_cmd, client_cmd]
        return None, [server_cmd, client_cmd]
    finally:
        procs.stop(server, grace_s=5.0)


def _dd_cmd(path, mib, sync):
    if platform.system() == "Darwin":
        # BSD dd has no conv=fdatasync: sync the file system after it (same cost to the disk).
        cmd = ["dd", "if=/dev/zero", f"of={path}", "bs=1m", f"count={mib}"]
        return ["sh", "-c", shlex.join(cmd) + " && sync"] if sync else cmd
    cmd = ["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}"]
    return cmd + ["conv=fdatasync"] if sync else cmd


def _dd(path, mib, sync):
    cmd = _dd_cmd(path, mib, sync)
    subprocess.run(["sync"], check=False)
    t0 = time.monotonic()
    subprocess.run(cmd, capture_output=True, check=True)
    seconds = time.monotonic() - t0
    os.remove(path)
    return mib * 1024 * 1024 / seconds / 1e6


def sequential_write(workdir, mib, tries=2):
    """MB/s writing `mib` MiB sequentially: page cache only, and flushed with fdatasync; the
    best of `tries` each, since other writers' dirty pages can stall any single run."""
    path = os.path.join(workdir, "dd.test")
    buffered = max(_dd(path, mib, sync=False) for _ in range(tries))
    synced = max(_dd(path, mib, sync=True) for _ in range(tries))
    return {"write_mb_s": buffered, "write_fdatasync_mb_s": synced}, [
        _dd_cmd(path, mib, sync=False),
        _dd_cmd(path, mib, sync=True),
    ]
