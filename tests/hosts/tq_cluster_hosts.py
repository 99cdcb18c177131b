"""tq on simulated hosts: a broker, workers and clients, each on a host.

Builds on tq_hosts. The binaries come from $TQ_BROKER_BIN, $TQ_WORKER_BIN and
$TQ_CLIENT_BIN (ctest sets them), else from a build directory given to
`Binaries.from_build`.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from tq_hosts import Host, Network, Proc, wait_for

BROKER_PORT = 5555


@dataclass
class Binaries:
    """Paths of tq-broker, tq-worker and tq-client."""

    broker: str
    worker: str
    client: str

    @staticmethod
    def from_env() -> "Binaries":
        """From $TQ_BROKER_BIN, $TQ_WORKER_BIN, $TQ_CLIENT_BIN."""
        names = ("TQ_BROKER_BIN", "TQ_WORKER_BIN", "TQ_CLIENT_BIN")
        missing = [n for n in names if not os.environ.get(n)]
        if missing:
            raise RuntimeError(f"${missing[0]} is not set (ctest sets it)")
        return Binaries(*(os.environ[n] for n in names))

    @staticmethod
    def from_build(build: str | Path) -> "Binaries":
        """From a CMake build directory (build/broker/tq-broker, ...)."""
        build = Path(build).resolve()
        found = Binaries(str(build / "broker" / "tq-broker"),
                         str(build / "worker" / "tq-worker"),
                         str(build / "client" / "tq-client"))
        for path in (found.broker, found.worker, found.client):
            if not os.access(path, os.X_OK):
                raise FileNotFoundError(f"{path}: not built (cmake --build)")
        return found


class TqHosts:
    """A broker on one host and workers on others, logging into `logdir`.

    The broker listens on its host's address, port 5555 (the namespace is
    private, so a fixed port cannot clash), which makes restarts simple.
    """

    def __init__(self, net: Network, bins: Binaries, logdir: str | Path,
                 broker_host: str, broker_flags: Sequence[str] = ()) -> None:
        self.net = net
        self.bins = bins
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.broker_host = net[broker_host]
        self.endpoint = f"tcp://{self.broker_host.address}:{BROKER_PORT}"
        self.broker_flags = list(broker_flags)
        self.broker: Proc | None = None
        self.workers: dict[str, Proc] = {}
        self.worker_flags: dict[str, list[str]] = {}
        self._starts = 0

    def _log(self, name: str) -> Any:
        self._starts += 1
        return open(self.logdir / f"{name}.log", "a")

    def start_broker(self) -> Proc:
        """Starts tq-broker and waits until it accepts connections."""
        with self._log("broker") as log:
            self.broker = self.broker_host.run(
                [self.bins.broker, f"--listen={self.endpoint}",
                 *self.broker_flags],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.status(timeout=2) is not None
                 or not self.broker.running(), 15, "the broker to answer")
        if not self.broker.running():
            raise RuntimeError("tq-broker exited: see "
                               f"{self.logdir / 'broker.log'}")
        return self.broker

    def start_worker(self, host: str, flags: Sequence[str] | None = None,
                     env: dict[str, str] | None = None) -> Proc:
        """Starts tq-worker on `host` (named host-<host>); `flags` are kept
        for `restart_worker`."""
        if flags is not None:
            self.worker_flags[host] = list(flags)
        with self._log(f"worker-{host}") as log:
            proc = self.net[host].run(
                [self.bins.worker, f"--broker={self.endpoint}",
                 f"--name=host-{host}", *self.worker_flags.get(host, [])],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        self.workers[host] = proc
        return proc

    def restart_worker(self, host: str) -> Proc:
        """Starts `host`'s worker again after it exited or was killed."""
        old = self.workers.get(host)
        if old is not None and old.running():
            old.kill()
        if old is not None:
            old.wait(10)
        return self.start_worker(host)

    def wait_workers(self, count: int, timeout: float = 15.0) -> None:
        """Waits until the broker counts `count` workers."""
        def ready() -> bool:
            status = self.status(timeout=2)
            return bool(status) and \
                status.get("totals", {}).get("workers", 0) == count
        wait_for(ready, timeout, f"{count} workers at the broker")

    def client_command(self, args: Sequence[str]) -> list[str]:
        """tq-client's argv against this broker."""
        return [self.bins.client, f"--broker={self.endpoint}", *args]

    def client(self, args: Sequence[str], host: Host | None = None,
               **popen_kwargs: Any) -> Proc:
        """Starts tq-client on `host` (default: the broker's host)."""
        return (host or self.broker_host).run(self.client_command(args),
                                              **popen_kwargs)

    def status(self, timeout: float = 5.0) -> dict[str, Any] | None:
        """`tq-client status --json`, parsed; None when it fails."""
        return status_json(self.broker_host, self.client_command(
            ["--connect-timeout=1", "status", "--json"]), timeout)


def status_json(host: Host, argv: Sequence[str],
                timeout: float) -> dict[str, Any] | None:
    """Runs a `tq-client ... status --json` on `host`: its answer, parsed;
    None if it fails or times out."""
    try:
        done = host.check(argv, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    try:
        return json.loads(done.stdout.splitlines()[0])
    except (ValueError, IndexError):
        return None
