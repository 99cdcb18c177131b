"""Broker faults on simulated hosts (issue 8): kill, freeze, damage its journal.

A `BrokerFaultCluster` is a broker with ``--journal=DIR`` on host ``b``,
one-thread workers on ``w1``-``w3`` and a host ``c`` for the client, so that
the client outlives the broker. `JobRun` runs one tq-client job on ``c``
and hashes its output as it streams (how far it got: `JobRun.last_item`),
over a range or over a file of numbers (`write_numbers`) given as
``--input=FILE`` or piped into ``--input=-`` (`JobRun`'s `stdin_file`);
`jobs_view` is the broker's ``tq-client jobs --json`` (e.g. whether a job's
input is still open). The faults:

- `kill_and_restart`: SIGKILL the broker, optionally damage its journal
  (`tear_last_record`, `flip_byte_in_last_record`), start it again on the
  same host, port and journal after a pause.
- `freeze`: SIGSTOP the broker for a while, then SIGCONT.

Each returns the broker's downtime: from the signal until it answers again
(issue 8's target for a job is fault-free time + downtime + 3 s).

    with BrokerFaultCluster(bins, logdir) as cluster:
        run = JobRun(cluster, ["map", "primes", "1", "10000000",
                               "--format=true"], hi=10_000_000)
        run.wait_for_item(5_000_000, timeout=60)
        downtime, note = kill_and_restart(cluster)
        outcome = run.finish(timeout=120)

The journal's byte format is broker/journal_format.h's: a 28-byte segment
header, then records of u32 payload length, u32 CRC-32C, u8 type, payload
(little-endian), in DIR/journal.<G> (the highest generation G; ".tmp" files
are not active).
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from tq_cluster_hosts import Binaries, TqHosts
from tq_hosts import Network, wait_for
from tq_job_check import Outcome, StreamHasher, parse_stats

BROKER_HOST = "b"
CLIENT_HOST = "c"
WORKERS = ("w1", "w2", "w3")

JOURNAL_HEADER_BYTES = 28
RECORD_HEADER_BYTES = 9
RECORD_TYPES = {1: "job", 3: "ack", 4: "end"}  # proto/tq/v1/journal.proto
_SEGMENT_RE = re.compile(r"^journal\.([1-9][0-9]*)$")


class BrokerFaultCluster:
    """Broker (with a journal) on b, workers on w1..w3, client host c.

    A context manager: leaving it removes the hosts and their processes.
    The journal directory defaults to `logdir`/journal.
    """

    def __init__(self, bins: Binaries, logdir: str | Path,
                 journal_dir: str | Path | None = None,
                 broker_flags: Sequence[str] = (),
                 worker_threads: int = 1) -> None:
        self.logdir = Path(logdir)
        self.journal_dir = Path(journal_dir or self.logdir / "journal")
        self.net = Network([BROKER_HOST, CLIENT_HOST, *WORKERS])
        try:
            self.tq = TqHosts(self.net, bins, self.logdir, BROKER_HOST,
                              [f"--journal={self.journal_dir}",
                               *broker_flags])
            self.tq.start_broker()
            for host in WORKERS:
                self.tq.start_worker(host, [f"--threads={worker_threads}"])
            self.tq.wait_workers(len(WORKERS), timeout=20)
        except BaseException:
            self.net.close()
            raise

    def __enter__(self) -> "BrokerFaultCluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Kills every process and removes the hosts."""
        self.net.close()

    def kill_broker(self) -> None:
        """SIGKILLs the broker and waits until it is gone."""
        assert self.tq.broker is not None
        self.tq.broker.kill()
        self.tq.broker.wait(10)

    def restart_broker(self) -> None:
        """Starts the broker again (same host, port, journal); waits until it
        answers."""
        self.tq.start_broker()

    def journal_reports(self) -> list[str]:
        """What the broker said about its journal, in order (its log's
        "tq-broker: journal" lines without that prefix)."""
        log = self.logdir / "broker.log"
        if not log.exists():
            return []
        prefixes = (f"tq-broker: journal {self.journal_dir}: ",
                    "tq-broker: journal: ")
        reports = []
        for line in log.read_text(errors="replace").splitlines():
            for prefix in prefixes:
                if line.startswith(prefix):
                    reports.append(line[len(prefix):])
                    break
        return reports


class JobRun:
    """One tq-client job on host c, its output hashed as it streams.

    `args` are tq-client's arguments after --broker; `first` and `hi` are the
    job's first and last item (ascending numbers: a range, or a file of them
    from `write_numbers`), for `progress`. With `stdin_file` a ``cat`` on
    host c pipes that file into the client's stdin (for ``--input=-``: a
    pipe, as from a producer, not a seekable file). stderr goes to
    `name`.err in the cluster's logdir.
    """

    def __init__(self, cluster: BrokerFaultCluster, args: Sequence[str],
                 hi: int, name: str = "client", first: int = 1,
                 stdin_file: Optional[Path] = None) -> None:
        self.first = first
        self.hi = hi
        self.stderr_path = cluster.logdir / f"{name}.err"
        self._err = open(self.stderr_path, "w")
        host = cluster.net[CLIENT_HOST]
        feeder = host.run(["cat", str(stdin_file)], stdout=subprocess.PIPE) \
            if stdin_file is not None else None
        self.started = time.monotonic()
        self.proc = cluster.tq.client(
            args, host=host, stdout=subprocess.PIPE, stderr=self._err,
            stdin=feeder.popen.stdout if feeder else subprocess.DEVNULL)
        if feeder is not None:
            feeder.popen.stdout.close()  # the client holds the read end now
        self.hasher = StreamHasher(self.proc.popen.stdout)
        self._reader = threading.Thread(target=self.hasher.run, daemon=True)
        self._reader.start()

    def last_item(self) -> int:
        """The last item printed (ordered --format=true: every item up to it
        is done); 0 before the first."""
        try:
            return int(self.hasher.last_line() or 0)
        except ValueError:
            return 0

    def share(self, item: int) -> float:
        """The share of first..hi up to `item` (0 before the first)."""
        return max(0, item - self.first + 1) / (self.hi - self.first + 1)

    def progress(self) -> float:
        """The share of first..hi printed so far."""
        return self.share(self.last_item())

    def wait_for_progress(self, share: float, timeout: float) -> bool:
        """Waits until `share` of the items are printed (True), or the client
        has exited (False); raises TimeoutError after `timeout` s."""
        wait_for(lambda: self.progress() >= share or not self.proc.running(),
                 timeout, f"the client to print {share:.0%} of the items")
        return self.proc.running()

    def finish(self, timeout: float) -> Outcome:
        """Waits for the client (SIGKILL after `timeout` s) and its output."""
        timed_out = False
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
            timed_out = True
        seconds = time.monotonic() - self.started
        self._reader.join(30)
        self._err.close()
        text = self.stderr_path.read_text(errors="replace")
        if timed_out:
            text += f"\n(killed after {timeout:.0f} s)"
        return Outcome(code, self.hasher.digest(), self.hasher.lines,
                       seconds, parse_stats(text), text)


def jobs_view(cluster: BrokerFaultCluster) -> Optional[list[dict[str, Any]]]:
    """The broker's `tq-client jobs --json` (asked from host c): one dict per
    running job (job_id, input_open, items_total, items_done, ...); None if
    the broker does not answer."""
    done = cluster.net[CLIENT_HOST].check(
        cluster.tq.client_command(["--connect-timeout=2", "jobs", "--json"]),
        timeout=15, check=False)
    try:
        return json.loads(done.stdout.splitlines()[0]).get("jobs", [])
    except (ValueError, IndexError, AttributeError):
        return None


# -- streamed input ---------------------------------------------------------

def write_numbers(path: Path, first: int, count: int) -> Path:
    """Writes first..first+count-1 to `path`, ascending, whitespace-separated
    (ten to a line, so both separators occur), for ``--input``: ascending,
    so that the last number an ordered job printed says how far it got."""
    per_line = 10
    with open(path, "w") as f:
        for start in range(first, first + count, per_line * 10_000):
            stop = min(start + per_line * 10_000, first + count)
            numbers = [str(n) for n in range(start, stop)]
            f.write("\n".join(" ".join(numbers[i:i + per_line])
                              for i in range(0, len(numbers), per_line)))
            f.write("\n")
    return path


# -- faults -----------------------------------------------------------------

def kill_and_restart(cluster: BrokerFaultCluster, pause: float = 0.5,
                     damage: Optional[Callable[[Path], str]] = None
                     ) -> tuple[float, str]:
    """SIGKILL the broker, `damage` its journal, restart it after `pause` s.

    Returns the downtime (kill to answering again) and what `damage` did
    (if it fails, the broker is restarted all the same and the note says
    why, so that the job is not left without a broker).
    """
    began = time.monotonic()
    cluster.kill_broker()
    note = ""
    if damage is not None:
        try:
            note = damage(cluster.journal_dir)
        except (OSError, RuntimeError) as e:
            note = f"journal NOT damaged: {e}"
    left = pause - (time.monotonic() - began)
    if left > 0:
        time.sleep(left)  # the length of the fault, not a synchronisation
    cluster.restart_broker()
    return time.monotonic() - began, note


def freeze(cluster: BrokerFaultCluster, seconds: float = 10.0) -> float:
    """SIGSTOP the broker for `seconds`, then SIGCONT; the downtime."""
    assert cluster.tq.broker is not None
    began = time.monotonic()
    cluster.tq.broker.stop()
    try:
        time.sleep(seconds)  # the length of the fault, not a synchronisation
    finally:
        cluster.tq.broker.cont()
    wait_for(lambda: cluster.tq.status(timeout=2) is not None, 15,
             "the thawed broker to answer")
    return time.monotonic() - began


# -- journal damage ---------------------------------------------------------

def active_segment(journal_dir: Path) -> Path:
    """DIR/journal.<G> with the highest G (what the broker reads)."""
    segments = [(int(m.group(1)), p) for p in Path(journal_dir).iterdir()
                if (m := _SEGMENT_RE.match(p.name))]
    if not segments:
        raise FileNotFoundError(f"{journal_dir}: no journal segment")
    return max(segments)[1]


def record_spans(data: bytes) -> list[tuple[int, int, int]]:
    """(start, end, type) of each complete record of a segment, by lengths
    alone (no checksums): where each record's bytes are."""
    spans = []
    at = JOURNAL_HEADER_BYTES
    while at + RECORD_HEADER_BYTES <= len(data):
        length, = struct.unpack_from("<I", data, at)
        end = at + RECORD_HEADER_BYTES + length
        if end > len(data):
            break
        spans.append((at, end, data[at + 8]))
        at = end
    return spans


def _last_record(journal_dir: Path) -> tuple[Path, bytes, tuple[int, int, int]]:
    path = active_segment(journal_dir)
    data = path.read_bytes()
    spans = record_spans(data)
    if not spans:
        raise RuntimeError(f"{path}: no record to damage ({len(data)} bytes)")
    return path, data, spans[-1]


def _describe(path: Path, spans_count: int, span: tuple[int, int, int]) -> str:
    start, end, kind = span
    return (f"{path.name}: record {spans_count} of type "
            f"{RECORD_TYPES.get(kind, kind)} ({end - start} bytes at {start})")


def tear_last_record(journal_dir: Path, cut: int = 3) -> str:
    """Truncates the active segment `cut` bytes inside its last record, as a
    crash in mid-write would; says what it did."""
    path, data, span = _last_record(journal_dir)
    start, end, _ = span
    cut = min(cut, end - start - 1)
    with open(path, "r+b") as f:
        f.truncate(end - cut)
    return (f"tore {_describe(path, len(record_spans(data)), span)}: "
            f"last {cut} bytes cut")


def flip_byte_in_last_record(journal_dir: Path) -> str:
    """Inverts one byte in the middle of the last record's payload (its
    checksum field if it has none); says what it did."""
    path, data, span = _last_record(journal_dir)
    start, end, _ = span
    payload = start + RECORD_HEADER_BYTES
    at = payload + (end - payload) // 2 if end > payload else start + 4
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(bytes([data[at] ^ 0xFF]))
    return (f"flipped byte {at} of "
            f"{_describe(path, len(record_spans(data)), span)}")
