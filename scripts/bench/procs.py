"""Child processes of the benchmark: launching, stopping by PID, and reading their resource use:
on Linux from /proc (peak RSS from VmHWM, CPU from utime+stime); elsewhere (macOS) from `ps`
(RSS, cumulative CPU time), with the peak RSS of a scenario sampled every 20 ms."""

import os
import shlex
import signal
import subprocess
import threading
import time

HAVE_PROC = os.path.exists("/proc/self/status")

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


def _ps(pid, field):
    out = subprocess.run(
        ["ps", "-o", f"{field}=", "-p", str(pid)], capture_output=True, text=True, check=False
    ).stdout.strip()
    return out or None


def parse_ps_time(text):
    """`ps -o time=` as seconds: "[[dd-]hh:]mm:ss[.ff]" (macOS prints e.g. "0:01.23")."""
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return days * 86400 + seconds


def rss_kb(pid):
    """Resident set size now."""
    if HAVE_PROC:
        return _status_kb(pid, "VmRSS")
    rss = _ps(pid, "rss")
    return int(rss) if rss else None


def peak_rss_kb(pid):
    """Peak resident set size since start or since the last `reset_peak` (Linux only; elsewhere
    `Meter` samples the peak)."""
    return _status_kb(pid, "VmHWM") if HAVE_PROC else None


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
    if not HAVE_PROC:
        t = _ps(pid, "time")
        return parse_ps_time(t) if t else 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


class _PeakSampler:
    """Samples a process's RSS every 20 ms and keeps the largest (where no VmHWM exists)."""

    def __init__(self, pid):
        self.pid = pid
        self.peak_kb = rss_kb(pid) or 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.02):
            rss = rss_kb(self.pid)
            if rss:
                self.peak_kb = max(self.peak_kb, rss)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak_kb


class Meter:
    """Measures one scenario's broker CPU seconds and peak RSS."""

    def __init__(self, pid):
        self.pid = pid

    def __enter__(self):
        self.sampler = None if HAVE_PROC else _PeakSampler(self.pid)
        self.peak_is_scenario = reset_peak(self.pid) if HAVE_PROC else True
        self.cpu0 = cpu_seconds(self.pid)
        return self

    def __exit__(self, *exc):
        self.cpu_s = cpu_seconds(self.pid) - self.cpu0
        self.peak_kb = self.sampler.stop() if self.sampler else peak_rss_kb(self.pid)

    def into(self, result):
        """Adds the broker figures to a scenario result dict and returns it; a peak that could
        not be reset is marked, since it then covers the broker's whole life."""
        result.update(broker_cpu_s=self.cpu_s, broker_peak_rss_kb=self.peak_kb)
        if not self.peak_is_scenario:
            result["peak_rss_since_start"] = True
        return result
