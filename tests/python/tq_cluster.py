"""A real tq cluster for tests: tq-broker and tq-workers as processes.

The broker binds an ephemeral loopback port (tcp://127.0.0.1:*) and prints
"listening on ..."; workers run Python chunks with /usr/bin/python3 and see
the build tree's tq package (PYTHONPATH). Every process dies with the test
process (PR_SET_PDEATHSIG) and is killed on close, failure or not. Binary
paths come from CMake through the environment (TQ_BROKER_BIN, TQ_WORKER_BIN,
TQ_CLIENT_BIN).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import threading
import time
from typing import Any, Callable

PYTHON = "/usr/bin/python3"
PR_SET_PDEATHSIG = 1


def binary(name: str) -> str:
    """The path CMake gave for `name` (tq-broker, tq-worker, tq-client)."""
    variable = "TQ_" + name.split("-")[1].upper() + "_BIN"
    path = os.environ.get(variable)
    if not path:
        raise RuntimeError(f"${variable} is not set (ctest sets it)")
    return path


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Polls `condition` until it returns something true, or fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Process:
    """A child process whose output is collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None
                 ) -> None:
        self.args = args
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.popen = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, text=True,
            preexec_fn=_die_with_parent)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_line(self, predicate: Callable[[str], bool], timeout: float
                  ) -> str:
        """The first output line satisfying `predicate`, waiting for it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.popen.poll() is not None:
                    raise AssertionError(
                        f"{self.args[0]} printed no such line: "
                        + "\n".join(self.lines[-20:]))
                self._changed.wait(remaining)

    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


class Cluster:
    """tq-broker plus workers; ``address`` is the broker's tcp:// endpoint."""

    def __init__(self, workers: int = 2, *, threads: int = 1,
                 broker_flags: tuple[str, ...] = ("--allow-code=python",),
                 worker_flags: tuple[str, ...] | None = None,
                 worker_env: dict[str, str] | None = None) -> None:
        self.processes: list[Process] = []
        self.workers: list[Process] = []
        self.broker_flags = broker_flags
        try:
            self.address = self._start_broker("tcp://127.0.0.1:*")
            for _ in range(workers):
                self.add_worker(threads=threads, flags=worker_flags,
                                env=worker_env)
            self.wait_workers(workers)
        except BaseException:
            self.close()
            raise

    def _start_broker(self, listen: str) -> str:
        """Starts tq-broker on `listen`; returns the address it bound."""
        self.broker = Process([binary("tq-broker"), f"--listen={listen}",
                               *self.broker_flags])
        self.processes.append(self.broker)
        line = self.broker.wait_line(
            lambda l: l.startswith("listening on "), 30)
        return line.split()[-1]

    def restart_broker(self) -> None:
        """SIGKILLs the broker and starts a new one on the same address
        (workers and clients find it again by themselves)."""
        self.broker.kill()
        self.broker.stop()
        wait_for(lambda: self._bound_again(), 30, "the broker's restart")

    def _bound_again(self) -> bool:
        """One attempt to start the broker on its address (its port may
        take a moment to be free)."""
        try:
            self._start_broker(self.address)
            return True
        except Exception:  # noqa: BLE001 - bind refused: try again
            return False

    def add_worker(self, *, threads: int = 1,
                   flags: tuple[str, ...] | None = None,
                   env: dict[str, str] | None = None) -> Process:
        if flags is None:
            flags = ("--allow-code=python", f"--python={PYTHON}")
        worker = Process(
            [binary("tq-worker"), f"--broker={self.address}",
             f"--threads={threads}", *flags],
            env={**os.environ, **(env or {})})
        self.processes.append(worker)
        self.workers.append(worker)
        return worker

    def status(self) -> dict[str, Any]:
        """The broker's StatusReply, via tq-client status --json."""
        out = subprocess.run(
            [binary("tq-client"), f"--broker={self.address}", "status",
             "--json"], capture_output=True, text=True, timeout=30,
            check=True).stdout
        return json.loads(out)

    def wait_workers(self, count: int, timeout: float = 30) -> None:
        wait_for(lambda: self.status()["totals"].get("workers", 0) == count,
                 timeout, f"{count} workers at the broker")

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def pid_alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        # Gone before the open, or (ESRCH on read) between open and read.
        return False
