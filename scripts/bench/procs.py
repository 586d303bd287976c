"""Child processes of the benchmark: launching, stopping by PID, and reading their resource use
from /proc (peak RSS from VmHWM, CPU from utime+stime)."""

import os
import shlex
import signal
import subprocess
import time

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_running = {}


def spawn(cmd, log_path, env=None, cwd=None):
    """Starts `cmd` with stdout+stderr to `log_path`; remembered so `stop_all` can end it."""
    with open(log_path, "ab") as log:
        log.write(f"$ {shlex.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
        )
    _running[proc.pid] = proc
    return proc


def stop(proc, grace_s=60.0):
    """SIGTERM, wait up to `grace_s`, then SIGKILL. Returns the seconds the shutdown took."""
    start = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _running.pop(proc.pid, None)
    return time.monotonic() - start


def stop_all():
    """Ends every process this run started and that is still alive (by PID, never by name)."""
    for proc in list(_running.values()):
        stop(proc, grace_s=10.0)


def run(cmd, log_path, timeout_s, env=None):
    """Runs `cmd` to completion (killing it after `timeout_s`); returns (exit code, output)."""
    offset = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    proc = spawn(cmd, log_path, env=env)
    try:
        rc = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        rc = None
    _running.pop(proc.pid, None)
    with open(log_path, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    return rc, text


def _status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def rss_kb(pid):
    """Resident set size now."""
    return _status_kb(pid, "VmRSS")


def peak_rss_kb(pid):
    """Peak resident set size since start or since the last `reset_peak`."""
    return _status_kb(pid, "VmHWM")


def reset_peak(pid):
    """Resets VmHWM to the current RSS (Linux >= 4.0, writing 5 to clear_refs), so each scenario
    gets its own peak. Returns False where the kernel refuses; the peak is then lifetime."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def cpu_seconds(pid):
    """User plus system CPU time of the whole process (all threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


class Meter:
    """Measures one scenario's broker CPU seconds and peak RSS."""

    def __init__(self, pid):
        self.pid = pid

    def __enter__(self):
        self.peak_is_scenario = reset_peak(self.pid)
        self.cpu0 = cpu_seconds(self.pid)
        return self

    def __exit__(self, *exc):
        self.cpu_s = cpu_seconds(self.pid) - self.cpu0
        self.peak_kb = peak_rss_kb(self.pid)

    def into(self, result):
        """Adds the broker figures to a scenario result dict and returns it; a peak that could
        not be reset is marked, since it then covers the broker's whole life."""
        result.update(broker_cpu_s=self.cpu_s, broker_peak_rss_kb=self.peak_kb)
        if not self.peak_is_scenario:
            result["peak_rss_since_start"] = True
        return result
