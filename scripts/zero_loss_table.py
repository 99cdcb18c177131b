#!/usr/bin/python3
"""The zero-loss table: one job, many faults, exact results or not.

On simulated hosts (tests/hosts/tq_hosts.py; needs root) -- a broker host
``b`` (the client runs there too) and three worker hosts ``w1``-``w3`` with
one-thread workers -- runs

    tq-client map primes 1 HI --format=true --chunk-size=C

(HI = 10^8: 5,761,455 lines) under each fault, compares the sha256 of the
output with a reference (primesieve, else the embedded cluster), and prints a
Markdown table: exact result, duplicates the client counted (its --stats
line), whether anything is left in flight at the broker afterwards, the run
time next to the fault-free time, and the ratio with its target.

A fresh network and cluster per row. A supervisor restarts any worker that
exits (as systemd or Kubernetes would), so the SIGKILL/SIGTERM rows only
kill, and the poison rows can take workers down. Rows whose feature this
build lacks (the crash task, --skip-failed, --stats) say so instead of
failing the table.

    sudo scripts/zero_loss_table.py [--build=build] [--hi=100000000]
        [--chunk-size=N] [--rows=baseline,sigkill,...] [--logs=DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "hosts"))

import tq_hosts  # noqa: E402
from tq_cluster_hosts import Binaries, TqHosts  # noqa: E402
from tq_hosts import Network  # noqa: E402
from tq_job_check import (Outcome, broker_idle, duplicates,  # noqa: E402
                          hash_stream, last_line, parse_stats,
                          reference_primes)

WORKERS = ("w1", "w2", "w3")
POISON_ITEM = 777
# --max-attempts of the poison rows: a poison item may cost at most this
# plus ceil(log2(chunk items)) worker deaths (README "Poison items").
POISON_ATTEMPTS = 4


@dataclass
class Features:
    """What this build offers, from the binaries' --help."""

    stats: bool
    skip_failed: bool
    test_tasks: bool

    @staticmethod
    def probe(bins: Binaries) -> "Features":
        def help_of(path: str) -> str:
            done = subprocess.run([path, "--help"], capture_output=True,
                                  text=True, timeout=10)
            return done.stdout + done.stderr
        client = help_of(bins.client)
        worker = help_of(bins.worker)
        return Features(stats="--stats" in client,
                        skip_failed="--skip-failed" in client,
                        test_tasks="--enable-test-tasks" in worker)


@dataclass
class Row:
    """One line of the table."""

    fault: str
    exact: str = ""
    duplicates: str = "n/a"
    idle_after: str = ""
    seconds: Optional[float] = None
    baseline: Optional[float] = None
    target: Optional[float] = 2.0
    restarts: int = 0
    notes: list[str] = field(default_factory=list)

    def ratio(self) -> str:
        if self.seconds is None or not self.baseline:
            return "n/a"
        ratio = self.seconds / self.baseline
        if self.target is None:
            return f"{ratio:.2f}x"
        verdict = "ok" if ratio <= self.target else "over"
        return f"{ratio:.2f}x ({verdict}, target <= {self.target:g}x)"


class Table:
    """Runs the rows; holds what they share (binaries, reference, sizes)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.bins = Binaries.from_build(args.build)
        self.features = Features.probe(self.bins)
        self.logs = Path(args.logs or tempfile.mkdtemp(prefix="tq-zero-loss-"))
        self.logs.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(args.seed)
        self.reference = self._reference()
        self.baseline: Optional[float] = None
        self.row_number = 0

    # -- references -----------------------------------------------------

    def _reference(self) -> str:
        """sha256 of the primes in 1..HI, one per line."""
        digest, lines, source = reference_primes(self.bins.client,
                                                 self.args.hi)
        print(f"reference: {lines} lines, sha256 {digest[:16]}... "
              f"({source})", file=sys.stderr)
        return digest

    # -- one cluster ----------------------------------------------------

    def cluster(self, name: str, worker_flags: list[str]
                ) -> tuple[Network, TqHosts, "Supervisor"]:
        """A fresh network, broker and three workers, all registered."""
        self.row_number += 1
        net = Network(["b", *WORKERS])
        try:
            # With --logs, the broker says what it decides (--verbose).
            tq = TqHosts(net, self.bins,
                         self.logs / f"{self.row_number:02d}-{name}", "b",
                         broker_flags=["--verbose"] if self.args.logs else [])
            tq.start_broker()
            for host in WORKERS:
                tq.start_worker(host, ["--threads=1", *worker_flags])
            tq.wait_workers(len(WORKERS), timeout=20)
            return net, tq, Supervisor(tq)
        except BaseException:
            net.close()
            raise

    def client_args(self, extra: list[str] = ()) -> list[str]:
        args = ["map", "primes", "1", str(self.args.hi), "--format=true",
                f"--chunk-size={self.args.chunk_size}", "--progress=never",
                *extra]
        if self.features.stats:
            args.append("--stats")
        return args

    def run_client(self, tq: TqHosts, args: list[str], timeout: float,
                   poison: bool = False) -> Outcome:
        """Runs tq-client on the broker host; hashes its output as it comes.

        With `poison`, the line of the poison item is kept aside and left
        out of the hash (how a failed item is printed is the client's).
        """
        stderr_path = tq.logdir / "client.err"
        with open(stderr_path, "w") as err:
            start = time.monotonic()
            proc = tq.client(args, stdout=subprocess.PIPE, stderr=err)
            holder: dict = {}
            reader = threading.Thread(
                target=lambda: holder.update(
                    _hash_lines(proc.popen.stdout, POISON_ITEM) if poison
                    else dict(zip(("sha256", "lines"),
                                  hash_stream(proc.popen.stdout)))),
                daemon=True)
            reader.start()
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait(10)
                holder["timeout"] = True
            seconds = time.monotonic() - start
            reader.join(30)
        text = stderr_path.read_text(errors="replace")
        if holder.get("timeout"):
            text += f"\n(killed after {timeout:.0f} s)"
        return Outcome(code, holder.get("sha256", ""),
                       holder.get("lines", 0), seconds, parse_stats(text), text,
                       holder.get("poison_line"))

    def idle_after(self, tq: TqHosts) -> str:
        """'yes' once the broker has nothing queued, in flight or running."""
        return broker_idle(tq, timeout=15)

    def timeout(self) -> float:
        return max(180.0, 10 * (self.baseline or 30.0))

    # -- rows -----------------------------------------------------------

    def fault_row(self, name: str, label: str,
                  fault: Callable[[TqHosts, "Supervisor", threading.Event,
                                   Row], None],
                  undo: Callable[[TqHosts], None] = lambda tq: None,
                  target: float = 2.0, extra: list[str] = ()) -> Row:
        """The 10^8 job while `fault` runs beside it (until the job ends)."""
        row = Row(label, baseline=self.baseline, target=target)
        net, tq, supervisor = self.cluster(name, [])
        try:
            done = threading.Event()
            injector = threading.Thread(
                target=_guarded(fault, tq, supervisor, done, row),
                daemon=True)
            supervisor.start()
            injector.start()
            outcome = self.run_client(tq, self.client_args(extra),
                                      self.timeout())
            done.set()
            injector.join(30)
            undo(tq)
            supervisor.stop()
            self.judge(row, outcome)
            row.idle_after = self.idle_after(tq)
            row.restarts = supervisor.restarts
        finally:
            supervisor.stop()
            net.close()
        return row

    def judge(self, row: Row, outcome: Outcome) -> None:
        """Fills exact/duplicates/time from a run of the reference job."""
        row.seconds = outcome.seconds
        if outcome.returncode == 0 and outcome.sha256 == self.reference:
            row.exact = "yes"
        elif outcome.returncode == 0:
            row.exact = f"NO ({outcome.lines} lines, hash differs)"
        else:
            row.exact = f"NO (exit {outcome.returncode})"
            row.notes.append(last_line(outcome.stderr))
        row.duplicates = duplicates(outcome)

    def baseline_row(self) -> Row:
        row = Row("none (fault-free)", target=None)
        net, tq, _ = self.cluster("baseline", [])
        try:
            outcome = self.run_client(tq, self.client_args(), self.timeout())
            self.judge(row, outcome)
            row.idle_after = self.idle_after(tq)
        finally:
            net.close()
        if row.exact == "yes":
            self.baseline = row.seconds
        row.baseline = self.baseline
        return row

    def poison_row(self, skip_failed: bool) -> Row:
        """The crash task over 1..HI/100 with one item that aborts."""
        hi = max(self.args.hi // 100, 10 * POISON_ITEM)
        label = (f"poison item {POISON_ITEM} (crash, mode=abort), "
                 + ("--skip-failed" if skip_failed else "no --skip-failed")
                 + f", 1..{hi}")
        row = Row(label, target=None)
        missing = []
        if not self.features.test_tasks:
            missing.append("tq-worker --enable-test-tasks (crash task)")
        if skip_failed and not self.features.skip_failed:
            missing.append("tq-client --skip-failed")
        if missing:
            row.exact = "not run"
            row.notes.append("not in this build: " + ", ".join(missing))
            row.idle_after = "n/a"
            return row
        net, tq, supervisor = self.cluster(
            "poison-skip" if skip_failed else "poison",
            ["--enable-test-tasks"])
        try:
            supervisor.start()
            chunk = max(hi // 200, 1)
            args = ["map", "crash", "1", str(hi), "--format=tsv",
                    f"--chunk-size={chunk}", "--progress=never",
                    f"--max-attempts={POISON_ATTEMPTS}",
                    f"--param=items={POISON_ITEM}", "--param=mode=abort"]
            if skip_failed:
                args.append("--skip-failed")
            if self.features.stats:
                args.append("--stats")
            outcome = self.run_client(tq, args, self.timeout(), poison=True)
            supervisor.stop()
            row.seconds = outcome.seconds
            want = _noop_reference(hi, POISON_ITEM)
            named = str(POISON_ITEM) in outcome.stderr
            if skip_failed:
                # Exit 5: complete, with items reported failed (README).
                ok = (outcome.returncode == 5 and outcome.sha256 == want
                      and outcome.poison_line is not None
                      and outcome.poison_line != f"{POISON_ITEM}\t"
                      f"{POISON_ITEM}")
                row.exact = ("yes: all other items exact, "
                             f"{POISON_ITEM} reported failed (exit 5)" if ok else
                             f"NO (exit {outcome.returncode}, "
                             f"{POISON_ITEM} printed as "
                             f"{outcome.poison_line!r})")
            else:
                ok = outcome.returncode == 2 and named
                row.exact = ("yes: job failed (exit 2) naming item "
                             f"{POISON_ITEM}" if ok else
                             f"NO (exit {outcome.returncode}, item "
                             f"{'named' if named else 'not named'})")
            if not ok:
                row.notes.append(last_line(outcome.stderr))
            row.duplicates = duplicates(outcome)
            row.idle_after = self.idle_after(tq)
            row.restarts = supervisor.restarts
            bound = POISON_ATTEMPTS + math.ceil(math.log2(chunk))
            row.notes.append(
                f"{row.restarts} worker deaths, bound {bound} "
                f"(attempts {POISON_ATTEMPTS} + log2({chunk}) rounded up): "
                + ("ok" if row.restarts <= bound else "over"))
        finally:
            supervisor.stop()
            net.close()
        return row

    def cancel_row(self) -> Row:
        """Ctrl-C of a job with 5 s chunks, then the 10^8 job at once."""
        row = Row("Ctrl-C of a job with 5 s chunks, then the job at once",
                  baseline=self.baseline)
        net, tq, supervisor = self.cluster("cancel", [])
        try:
            with open(tq.logdir / "old-client.err", "w") as err:
                old = tq.client(["map", "spin", "1", "300",
                                 "--param=us=100000", "--chunk-size=50",
                                 "--progress=never"],
                                stdout=subprocess.DEVNULL, stderr=err)
                tq_hosts.wait_for(
                    lambda: int((tq.status() or {}).get("totals", {})
                                .get("busy_threads", 0)) >= len(WORKERS),
                    20, "the old job to occupy every worker")
                old.signal(signal.SIGINT)
                code = old.wait(10)
            if code != 130:
                row.notes.append(f"old client exited {code}, not 130")
            outcome = self.run_client(tq, self.client_args(), self.timeout())
            self.judge(row, outcome)
            row.idle_after = self.idle_after(tq)
        finally:
            supervisor.stop()
            net.close()
        return row


class Supervisor:
    """Restarts any worker that exits, as a service manager would."""

    def __init__(self, tq: TqHosts) -> None:
        self.tq = tq
        self.restarts = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            for host, proc in list(self.tq.workers.items()):
                if not proc.running() and not self._stop.is_set():
                    self.tq.restart_worker(host)
                    self.restarts += 1


# -- faults (run in a thread beside the job; `done` is set when it ends) --

def sigkill_every_2s(rng: random.Random):
    def fault(tq: TqHosts, sup: Supervisor, done: threading.Event,
              row: Row) -> None:
        kills = 0
        while not done.wait(2.0):
            tq.workers[rng.choice(WORKERS)].kill()
            kills += 1
        row.notes.append(f"{kills} kills")
    return fault


def sigstop_15s(tq: TqHosts, sup: Supervisor, done: threading.Event,
                row: Row) -> None:
    if done.wait(1.0):
        return
    frozen = tq.workers["w1"]
    frozen.stop()
    done.wait(15.0)
    frozen.cont()


def cut_10s(tq: TqHosts, sup: Supervisor, done: threading.Event,
            row: Row) -> None:
    if done.wait(1.0):
        return
    tq.net["w2"].cut()
    done.wait(10.0)
    tq.net["w2"].heal()


def sigterm_in_turn(tq: TqHosts, sup: Supervisor, done: threading.Event,
                    row: Row) -> None:
    turns = 0
    for host in WORKERS:
        if done.wait(1.0):
            break
        old = tq.workers[host]
        old.term()
        try:
            old.wait(30)
        except subprocess.TimeoutExpired:
            row.notes.append(f"{host} did not drain in 30 s")
            old.kill()
        # The supervisor starts it again; the next one goes when it is back.
        tq_hosts.wait_for(lambda: tq.workers[host] is not old or done.is_set(),
                          10, "the supervisor's restart")
        turns += 1
    row.notes.append(f"{turns} of {len(WORKERS)} workers drained "
                     "and restarted")


# -- helpers ----------------------------------------------------------------

def _guarded(fault, *args):
    """The fault's thread body: an exception becomes a note, not a crash."""
    def body() -> None:
        try:
            fault(*args)
        except Exception as e:  # noqa: BLE001 -- reported in the row
            args[-1].notes.append(f"fault injection failed: {e}")
    return body


def _hash_lines(stream, poison: int) -> dict:
    """Hash of every line but the poison item's; that line aside."""
    digest = hashlib.sha256()
    lines = 0
    poison_line = None
    prefix = f"{poison}\t".encode()
    for line in stream:
        if line.startswith(prefix):
            poison_line = line.decode(errors="replace").rstrip("\n")
            continue
        digest.update(line)
        lines += 1
    return {"sha256": digest.hexdigest(), "lines": lines,
            "poison_line": poison_line}


def _noop_reference(hi: int, poison: int) -> str:
    digest = hashlib.sha256()
    for start in range(1, hi + 1, 100000):
        digest.update("".join(f"{n}\t{n}\n" for n in
                              range(start, min(start + 100000, hi + 1))
                              if n != poison).encode())
    return digest.hexdigest()


def markdown(rows: list[Row]) -> str:
    """The table."""
    out = ["| fault | exact result | duplicates delivered | nothing in "
           "flight after | time (s) | fault-free (s) | ratio | worker "
           "restarts | notes |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        secs = f"{r.seconds:.1f}" if r.seconds is not None else "n/a"
        base = f"{r.baseline:.1f}" if r.baseline is not None else "n/a"
        notes = "; ".join(n.replace("|", "/") for n in r.notes if n)
        out.append(f"| {r.fault} | {r.exact} | {r.duplicates} | "
                   f"{r.idle_after} | {secs} | {base} | {r.ratio()} | "
                   f"{r.restarts} | {notes} |")
    return "\n".join(out)


ROWS = ["baseline", "sigkill", "sigstop", "cut", "loss", "latency",
        "sigterm", "poison", "poison-skip", "cancel"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=str(REPO / "build"),
                        help="CMake build directory with the binaries")
    parser.add_argument("--hi", type=int, default=100_000_000,
                        help="the job is primes 1..HI (default 10^8)")
    parser.add_argument("--chunk-size", type=int, default=1000,
                        help="items per chunk (small, so that each faulted "
                        "job runs several seconds; default 1000)")
    parser.add_argument("--rows", default=",".join(ROWS),
                        help="comma-separated subset of: " + ",".join(ROWS))
    parser.add_argument("--logs", default="",
                        help="directory for the processes' logs")
    parser.add_argument("--seed", type=int, default=7,
                        help="seed of the random choices (which worker dies)")
    args = parser.parse_args()
    rows = [r for r in args.rows.split(",") if r]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {','.join(unknown)}; "
                     f"choose from {','.join(ROWS)}")
    reason = tq_hosts.unavailable_reason()
    if reason:
        print(f"zero_loss_table: {reason}", file=sys.stderr)
        return 1
    tq_hosts.exit_on_sigterm()
    built_delayer = Path(args.build) / "tests" / "hosts" / "tq-nfq-delay"
    if "TQ_NFQ_DELAY" not in os.environ and built_delayer.exists():
        os.environ["TQ_NFQ_DELAY"] = str(built_delayer.resolve())
    table = Table(args)
    print(f"logs in {table.logs}; features: {table.features}",
          file=sys.stderr)
    results: list[Row] = []
    steps: dict[str, Callable[[], Row]] = {
        "baseline": table.baseline_row,
        "sigkill": lambda: table.fault_row(
            "sigkill", "SIGKILL of a random worker every 2 s (restarted)",
            sigkill_every_2s(table.rng)),
        "sigstop": lambda: table.fault_row(
            "sigstop", "SIGSTOP of worker w1 for 15 s", sigstop_15s,
            undo=lambda tq: tq.workers["w1"].cont(), target=1.5),
        "cut": lambda: table.fault_row(
            "cut", "worker host w2 cut off for 10 s, then healed", cut_10s,
            undo=lambda tq: tq.net["w2"]._cut_method and tq.net["w2"].heal()),
        "loss": lambda: _lossy_row(table),
        "latency": lambda: _latency_row(table),
        "sigterm": lambda: table.fault_row(
            "sigterm", "every worker SIGTERMed and restarted in turn",
            sigterm_in_turn),
        "poison": lambda: table.poison_row(False),
        "poison-skip": lambda: table.poison_row(True),
        "cancel": table.cancel_row,
    }
    if "baseline" not in rows:
        rows.insert(0, "baseline")
    for name in rows:
        print(f"row {name} ...", file=sys.stderr, flush=True)
        try:
            row = steps[name]()
        except tq_hosts.HostsUnavailable as e:
            row = Row(name, exact="not run", idle_after="n/a",
                      notes=[str(e)])
        except Exception as e:  # noqa: BLE001 -- one row, not the table
            row = Row(name, exact="ERROR", idle_after="n/a",
                      notes=[f"{type(e).__name__}: {e}"])
        for r in results:
            if r.baseline is None:
                r.baseline = table.baseline
        row.baseline = row.baseline or table.baseline
        results.append(row)
        print(f"  {row.exact}, {row.seconds}", file=sys.stderr, flush=True)
    print(markdown(results))
    print()
    print(f"1 broker host (the client runs there too) + 3 worker hosts "
          f"with one thread each; primes 1..{args.hi} --format=true, "
          f"--chunk-size={args.chunk_size}. The hosts are network "
          f"namespaces on one machine with {os.cpu_count()} cores: they "
          "share the CPUs, so the ratios measure recovery more than lost "
          "capacity.")
    if not table.features.stats:
        print("Duplicates: n/a -- this tq-client has no --stats "
              "(the client counts duplicates once it does).")
    return 0


def _network_fault_row(table: Table, label: str, name: str, host: str,
                       inject: Callable[[Any], None],
                       clear: Callable[[Any], None]) -> Row:
    """The job with a network fault on `host` for the whole of it."""
    row = Row(label, baseline=table.baseline)
    net, tq, supervisor = table.cluster(name, [])
    try:
        inject(net[host])
        supervisor.start()
        outcome = table.run_client(tq, table.client_args(), table.timeout())
        supervisor.stop()
        table.judge(row, outcome)
        clear(net[host])
        row.idle_after = table.idle_after(tq)
        row.restarts = supervisor.restarts
    finally:
        supervisor.stop()
        net.close()
    return row


def _lossy_row(table: Table) -> Row:
    """20% packet loss on w3, set before the job starts, for all of it."""
    return _network_fault_row(
        table, "20% packet loss on worker host w3 (each way, whole job)",
        "loss", "w3", lambda h: h.loss(20), lambda h: h.clear_loss())


def _latency_row(table: Table) -> Row:
    """+20 ms on every packet worker host w1 sends, for the whole job."""
    return _network_fault_row(
        table, "20 ms added latency on worker host w1 (its sent packets)",
        "latency", "w1", lambda h: h.delay(20), lambda h: h.clear_delay())


if __name__ == "__main__":
    sys.exit(main())
