"""Starting, timing and watching the processes tq's benchmarks measure:
whole commands (wall time, medians, interleaved pairs), a loopback cluster
of tq-broker + tq-workers, and a running process's CPU time.

    from processes import Cluster, medians, process_cpu_seconds
    with Cluster(build) as cluster:
        before = process_cpu_seconds(cluster.broker.pid)
        ...

Shared by run_benchmarks.py and fairness.py.
"""
from __future__ import annotations

import glob
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Mapping, Optional, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3"  # Debian's: it sees python3-cloudpickle
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def run_quietly(cmd: Sequence[str], stderr_to: Optional[str] = None):
    """Runs cmd with stdout (and stderr, unless stderr_to names a file to
    write it to) going to /dev/null; returns (wall seconds, rusage).

    posix_spawn + wait4 add far less than subprocess.run, which matters when
    the command itself takes a few milliseconds. A command that fails ends
    the benchmark run: its figures would mean nothing.

        seconds, usage = run_quietly(["/bin/true"])
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    err = devnull
    if stderr_to is not None:
        err = os.open(stderr_to, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        start = time.perf_counter()
        pid = os.posix_spawnp(cmd[0], list(cmd), os.environ,
                              file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1),
                                            (os.POSIX_SPAWN_DUP2, err, 2)])
        _, status, usage = os.wait4(pid, 0)
        elapsed = time.perf_counter() - start
    finally:
        os.close(devnull)
        if err != devnull:
            os.close(err)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return elapsed, usage


def timed(cmd: Sequence[str], runs: int) -> float:
    """Median wall seconds of `runs` runs of cmd (each must exit 0)."""
    return statistics.median(run_quietly(cmd)[0] for _ in range(runs))


def medians(cmds: Mapping[str, Sequence[str]], runs: int) -> dict[str, float]:
    """Median wall seconds of each command over `runs` rounds, the commands
    taking turns within a round, so that load on a shared machine hits them
    alike (their ratio is what the benchmarks report).

        medians({"tq": [client, "--version"], "true": ["/bin/true"]}, 5)
    """
    samples: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(runs):
        for name, cmd in cmds.items():
            samples[name].append(run_quietly(cmd)[0])
    return {name: statistics.median(s) for name, s in samples.items()}


def client_stats(cmd: Sequence[str]) -> tuple[float, dict[str, int]]:
    """Runs a tq-client command with --stats added; returns (wall seconds,
    the counts of its stats line: chunks, items, duplicates, failed_items)."""
    with tempfile.NamedTemporaryFile(prefix="tq-bench-stats-") as f:
        seconds, _ = run_quietly(list(cmd) + ["--stats"], stderr_to=f.name)
        text = f.read().decode(errors="replace")
    match = re.search(r"tq-client stats: (\{.*\})", text)
    if not match:
        sys.exit(f"no stats line from {' '.join(cmd)}: {text[-500:]!r}")
    counts = {k: int(v) for k, v in re.findall(r'"(\w+)": (\d+)', match.group(1))}
    return seconds, counts


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a running process has used so far.

    Sums the nanosecond run times of its threads (/proc/PID/task/*/schedstat)
    rather than /proc/PID/stat's utime + stime, which count in clock ticks
    (10 ms): too coarse for a few hundred ms of broker work. Threads that
    have already exited are missing from that sum, so this suits processes
    whose threads live as long as they do (tq-broker's); without schedstat
    it falls back to utime + stime.
    """
    total_ns = 0
    found = False
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total_ns += int(f.read().split()[0])
                found = True
        except (OSError, ValueError, IndexError):
            continue  # the thread exited while we read
    if found:
        return total_ns / 1e9
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def python_env(build: str) -> dict[str, str]:
    """The environment a Python client or runner needs to import the build's tq."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(build, "python")
    return env


class Cluster:
    """tq-broker + N tq-worker processes on an ephemeral loopback port;
    with python=True both run Python code (the workers' runners import the
    build's tq). A context manager: leaving `with` stops them all.

        with Cluster(build, workers=2) as cluster:
            run_quietly([client, f"--broker={cluster.endpoint}", ...])
    """

    def __init__(self, build: str, workers: int = 2, threads: int = 1,
                 python: bool = False, broker_args: Sequence[str] = ()):
        code = ["--allow-code=python"] if python else []
        self.broker = subprocess.Popen(
            [f"{build}/broker/tq-broker", "--listen=tcp://127.0.0.1:*"] + code
            + list(broker_args),
            stdout=subprocess.PIPE, text=True)
        line = self.broker.stdout.readline()
        match = re.match(r"listening on (\S+)", line)
        if not match:
            self.broker.kill()
            sys.exit(f"broker did not start: {line!r}")
        self.endpoint = match.group(1)
        worker_code = code + [f"--python={PYTHON}"] if python else []
        self.workers = [
            subprocess.Popen([f"{build}/worker/tq-worker", f"--broker={self.endpoint}",
                              f"--threads={threads}"] + worker_code,
                             stderr=subprocess.DEVNULL, env=python_env(build))
            for _ in range(workers)]

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def broker_peak_rss_kib(self) -> int:
        """The broker's peak resident set so far (VmHWM), in KiB."""
        with open(f"/proc/{self.broker.pid}/status") as f:
            return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))

    def broker_cpu_seconds(self) -> float:
        """CPU time the broker has used so far (see process_cpu_seconds)."""
        return process_cpu_seconds(self.broker.pid)

    def close(self) -> None:
        """Stops the workers and the broker and waits for them."""
        for p in self.workers + [self.broker]:
            p.terminate()
        for p in self.workers + [self.broker]:
            p.wait(timeout=30)
