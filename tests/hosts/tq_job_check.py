"""Judging a tq job against a reference, for the tables and host tests.

What scripts/zero_loss_table.py and scripts/broker_fault_table.py (and the
host tests built on them) share: the sha256 of the reference output
(`reference_primes`), hashing a client's output as it streams while keeping
an eye on how far it got (`StreamHasher`), the client's ``--stats`` line
(`parse_stats`), and whether a broker is left with nothing to do
(`broker_idle`).

    hasher = StreamHasher(proc.stdout)
    threading.Thread(target=hasher.run, daemon=True).start()
    ...  # hasher.lines, hasher.last_line() while it runs
    hasher.finished.wait(30)
    digest, lines = hasher.digest(), hasher.lines
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Optional

STATS_PREFIX = "tq-client stats: "


@dataclass
class Outcome:
    """One client run: exit status, output digest and counts, time, stats."""

    returncode: int
    sha256: str
    lines: int
    seconds: float
    stats: Optional[dict]
    stderr: str
    poison_line: Optional[str] = None


class StreamHasher:
    """Hashes a binary stream to its end, counting lines as they pass.

    `run` reads (in a thread of the caller's); meanwhile `lines` and
    `last_line()` say how far the stream got, e.g. the last prime printed by
    an ordered ``--format=true`` job. Reads whatever is available
    (``read1``), so progress shows as the producer writes, not per MiB.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.lines = 0
        self._digest = hashlib.sha256()
        self._last = b""      # the last complete line, without its newline
        self._partial = b""   # bytes after the last newline so far
        self._lock = threading.Lock()
        self.finished = threading.Event()

    def run(self) -> tuple[str, int]:
        """Reads to the end; the hex sha256 and the line count."""
        read = getattr(self.stream, "read1", self.stream.read)
        try:
            while True:
                block = read(1 << 20)
                if not block:
                    break
                self._digest.update(block)
                self._note(block)
        finally:
            self.finished.set()
        return self._digest.hexdigest(), self.lines

    def _note(self, block: bytes) -> None:
        end = block.rfind(b"\n")
        with self._lock:
            if end < 0:
                self._partial += block
                return
            start = block.rfind(b"\n", 0, end)
            self._last = (block[start + 1:end] if start >= 0
                          else self._partial + block[:end])
            self._partial = block[end + 1:]
            self.lines += block.count(b"\n")

    def last_line(self) -> str:
        """The last complete line read so far ('' before the first)."""
        with self._lock:
            return self._last.decode(errors="replace")

    def digest(self) -> str:
        """The hex sha256 of what was read (final once `finished` is set)."""
        return self._digest.hexdigest()


def hash_stream(stream: IO[bytes]) -> tuple[str, int]:
    """The sha256 (hex) and line count of everything `stream` yields."""
    return StreamHasher(stream).run()


def reference_primes(client_bin: str, hi: int,
                     lo: int = 1) -> tuple[str, int, str]:
    """sha256 and line count of the primes in lo..hi, one per line.

    From primesieve when installed, else from tq-client's embedded cluster
    (a range job: the sieve, not the Miller-Rabin test a list of numbers
    goes through); the third value names the source.
    """
    if shutil.which("primesieve"):
        argv = ["primesieve", str(lo), str(hi), "-p"]
        source = "primesieve"
    else:
        argv = [client_bin, "map", "primes", str(lo), str(hi),
                "--format=true", "--progress=never"]
        source = "the embedded cluster"
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    digest, lines = hash_stream(proc.stdout)
    if proc.wait() != 0:
        raise RuntimeError(f"reference from {source} failed")
    return digest, lines, source


def parse_stats(stderr: str) -> Optional[dict]:
    """The JSON of tq-client's ``--stats`` line in `stderr`, if any."""
    for line in stderr.splitlines():
        if line.startswith(STATS_PREFIX):
            try:
                return json.loads(line[len(STATS_PREFIX):])
            except ValueError:
                return None
    return None


def duplicates(outcome: Outcome) -> str:
    """The duplicates the client counted, or 'n/a' without --stats."""
    if outcome.stats is None or "duplicates" not in outcome.stats:
        return "n/a"
    return str(outcome.stats["duplicates"])


def last_line(text: str) -> str:
    """The last non-blank line of `text`, at most 160 characters."""
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1][:160] if lines else ""


def broker_idle(tq: Any, timeout: float = 15.0) -> str:
    """'yes' once the broker has nothing queued, in flight or running.

    `tq` is a tq_cluster_hosts.TqHosts. Polls ``tq-client status --json``
    until `timeout`; otherwise says what is left (or that it did not answer).
    """
    last: Optional[dict] = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = tq.status(timeout=5)
        if last is not None:
            totals = last.get("totals", {})
            if int(totals.get("chunks_in_flight", 0)) == 0 and \
                    int(totals.get("chunks_queued", 0)) == 0 and \
                    not last.get("jobs"):
                return "yes"
        time.sleep(0.2)  # the poll interval, within the deadline
    if last is None:
        return "no answer from the broker"
    totals = last.get("totals", {})
    return (f"no: {totals.get('chunks_in_flight', 0)} in flight, "
            f"{totals.get('chunks_queued', 0)} queued, "
            f"{len(last.get('jobs', []))} jobs")


def assert_exact(outcome: Outcome, reference: str) -> None:
    """Asserts that a job ended well: exit 0, the reference's sha256, and
    its --stats line counting no duplicate."""
    assert outcome.returncode == 0, outcome.stderr[-2000:]
    assert outcome.sha256 == reference, (
        f"{outcome.lines} lines, not the reference's output")
    assert outcome.stats is not None, outcome.stderr[-2000:]
    assert outcome.stats["duplicates"] == 0, outcome.stats


def print_logs(logdir: Path) -> None:
    """Prints the tail of every process's log and stderr file in `logdir`
    (pytest shows it when the test fails)."""
    for log in sorted(logdir.glob("*.log")) + sorted(logdir.glob("*.err")):
        print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
