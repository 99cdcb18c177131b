"""A standby broker pair on simulated hosts (issue 8 part 4), with faults.

A `StandbyPairCluster` runs the primary (``--pair=primary``) on host ``p``
and the backup on host ``s``, each with its own ``--journal``, the client
host ``c`` and one-thread workers on ``w1``-``w3``. Workers and clients get
both brokers' endpoints; some list the backup first (`WORKER_ORDERS`), as a
list may name them in either order. It offers what `tq_broker_faults.JobRun`
and `tq_job_check.broker_idle` use of a `BrokerFaultCluster` (``net``,
``logdir``, ``tq.client``, ``tq.status``), so the same jobs run on it.

The faults, the issue's two partitions:

- `cut_primary`: host p cut off from everyone (its packets dropped
  silently); the backup must take over once clients and workers fail over
  to it. `heal_primary` ends it; the old primary, still active at epoch 1,
  then hears the backup active at epoch 2 and must be fenced (exit 75).
- `cut_pair_link`: only the link between p and s is cut; clients and
  workers still reach both. No second active may arise.

    with StandbyPairCluster(bins, logdir) as pair:
        run = JobRun(pair, ["map", "primes", "1", "10000000",
                            "--format=true"], hi=10_000_000)
        run.wait_for_progress(0.5, timeout=60)
        took_over_after = pair.cut_primary()
        outcome = run.finish(timeout=120)
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any, Sequence

from tq_cluster_hosts import BROKER_PORT, Binaries, status_json
from tq_hosts import Host, Network, Proc, wait_for

PRIMARY_HOST = "p"
BACKUP_HOST = "s"
CLIENT_HOST = "c"
WORKERS = ("w1", "w2", "w3")
# Whether each worker lists the backup first.
WORKER_ORDERS = {"w1": False, "w2": True, "w3": False}
PAIR_PORT = 5557
# The brokers' --pair-timeout-ms (their default).
PAIR_TIMEOUT_MS = 2000
# What a broker logs when it is fenced (exit status 75, EX_TEMPFAIL).
FENCED_EXIT = 75


class PairTq:
    """Clients against the pair: `client` and `status` (what `JobRun` and
    `broker_idle` need of a `TqHosts`), from host c by default."""

    def __init__(self, pair: "StandbyPairCluster") -> None:
        self.pair = pair

    def client_command(self, args: Sequence[str],
                       backup_first: bool = False) -> list[str]:
        """tq-client's argv against the pair."""
        return [self.pair.bins.client,
                f"--broker={self.pair.endpoints(backup_first)}", *args]

    def client(self, args: Sequence[str], host: Host | None = None,
               backup_first: bool = False, **popen_kwargs: Any) -> Proc:
        """Starts tq-client on `host` (default c)."""
        return (host or self.pair.net[CLIENT_HOST]).run(
            self.client_command(args, backup_first), **popen_kwargs)

    def status(self, timeout: float = 5.0) -> dict[str, Any] | None:
        """The active broker's `tq-client status --json`; None if it fails.

        The primary is asked first, then the backup: this finds whichever
        serves (a passive sends it on).
        """
        return status_json(self.pair.net[CLIENT_HOST], self.client_command(
            ["--connect-timeout=3", "status", "--json"]), timeout)


class StandbyPairCluster:
    """Primary on p, backup on s, workers on w1..w3, client host c.

    A context manager: leaving it removes the hosts and their processes.
    Each broker logs to `logdir`/broker-<host>.log (with --verbose).
    """

    def __init__(self, bins: Binaries, logdir: str | Path,
                 broker_flags: Sequence[str] = (),
                 worker_threads: int = 1) -> None:
        self.bins = bins
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.broker_flags = list(broker_flags)
        self.net = Network([PRIMARY_HOST, BACKUP_HOST, CLIENT_HOST,
                            *WORKERS])
        self.tq = PairTq(self)
        self.brokers: dict[str, Proc] = {}
        self.workers: dict[str, Proc] = {}
        try:
            self.start_broker(BACKUP_HOST)
            self.start_broker(PRIMARY_HOST)
            self.wait_log(PRIMARY_HOST, "pair: primary -> active", 20)
            self.wait_log(BACKUP_HOST, "pair: following the active's journal",
                          20)
            for host in WORKERS:
                self.start_worker(host, worker_threads)
            wait_for(lambda: (self.tq.status(timeout=8) or {}).get(
                "totals", {}).get("workers", 0) == len(WORKERS), 30,
                f"{len(WORKERS)} workers at the primary")
        except BaseException:
            self.net.close()
            raise

    def __enter__(self) -> "StandbyPairCluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Kills every process and removes the hosts."""
        self.net.close()

    # -- processes ------------------------------------------------------

    def endpoint(self, host: str) -> str:
        return f"tcp://{self.net[host].address}:{BROKER_PORT}"

    def endpoints(self, backup_first: bool = False) -> str:
        """Both brokers' endpoints, comma-separated (--broker, TQ_BROKER)."""
        order = [PRIMARY_HOST, BACKUP_HOST]
        if backup_first:
            order.reverse()
        return ",".join(self.endpoint(h) for h in order)

    def log_path(self, host: str) -> Path:
        return self.logdir / f"broker-{host}.log"

    def start_broker(self, host: str) -> Proc:
        """Starts the pair's broker on `host` (p: primary, s: backup)."""
        peer = BACKUP_HOST if host == PRIMARY_HOST else PRIMARY_HOST
        role = "primary" if host == PRIMARY_HOST else "backup"
        address = self.net[host].address
        with open(self.log_path(host), "a") as log:
            proc = self.net[host].run(
                [self.bins.broker, f"--listen={self.endpoint(host)}",
                 f"--journal={self.logdir / f'journal-{host}'}",
                 f"--pair={role}",
                 f"--pair-listen=tcp://{address}:{PAIR_PORT}",
                 f"--pair-peer=tcp://{self.net[peer].address}:{PAIR_PORT}",
                 f"--pair-timeout-ms={PAIR_TIMEOUT_MS}", "--verbose",
                 *self.broker_flags],
                stdout=log, stderr=subprocess.STDOUT)
        self.brokers[host] = proc
        return proc

    def start_worker(self, host: str, threads: int = 1) -> Proc:
        with open(self.logdir / f"worker-{host}.log", "a") as log:
            proc = self.net[host].run(
                [self.bins.worker,
                 f"--broker={self.endpoints(WORKER_ORDERS[host])}",
                 f"--name=host-{host}", f"--threads={threads}"],
                stdout=log, stderr=subprocess.STDOUT)
        self.workers[host] = proc
        return proc

    def log(self, host: str) -> str:
        """The broker on `host`'s log so far."""
        path = self.log_path(host)
        return path.read_text(errors="replace") if path.exists() else ""

    def pair_lines(self, host: str) -> list[str]:
        """Its "tq-broker: pair: ..." lines: every state change and stream
        event."""
        return [line.removeprefix("tq-broker: ")
                for line in self.log(host).splitlines()
                if line.startswith("tq-broker: pair: ")]

    def wait_log(self, host: str, text: str, timeout: float,
                 times: int = 1) -> None:
        """Waits until the broker on `host` logged `text` `times` times."""
        proc = self.brokers[host]
        wait_for(lambda: self.log(host).count(text) >= times
                 or not proc.running(),
                 timeout, f"broker {host} to log {text!r} {times} times")
        if self.log(host).count(text) < times:
            raise RuntimeError(f"broker {host} exited before logging {text!r}"
                               f": see {self.log_path(host)}")

    # -- faults ---------------------------------------------------------

    def cut_primary(self, timeout: float = 60.0) -> float:
        """Cuts host p off; returns the seconds until the backup logged
        taking over (its downtime as the clients see it)."""
        began = time.monotonic()
        self.net[PRIMARY_HOST].cut()
        self.wait_log(BACKUP_HOST, "pair: passive -> active", timeout)
        return time.monotonic() - began

    def heal_primary(self) -> None:
        self.net[PRIMARY_HOST].heal()

    def cut_pair_link(self) -> None:
        """Cuts the link between p and s only."""
        self.net[PRIMARY_HOST].cut_from(self.net[BACKUP_HOST])

    def heal_pair_link(self) -> None:
        self.net[PRIMARY_HOST].heal_from(self.net[BACKUP_HOST])
