"""A client that dies mid-job, and ``tq-client attach`` finishing its file.

`FileJobRun` runs one tq-client job on host ``c`` of a `BrokerFaultCluster`
with ``--output=FILE`` (how far it got: the last line of FILE), reads the
job's id and token from the line every job submitted to a broker prints
on stderr, SIGKILLs the tq-client process itself (`kill_client`), and runs

    tq-client --broker=... attach JOB --token=HEX --output=FILE --stats
        --format=<the first client's>

on the same host (`attach`), which cuts FILE back to what the dead client
had acknowledged and continues it. The outcome is FILE's sha256 and line
count, attach's exit status and ``--stats`` (they count the attached part
only), and the time from the first client's start to attach's end.

    with BrokerFaultCluster(bins, logdir) as cluster:
        run = FileJobRun(cluster, ["map", "primes", "1", "10000000",
                                   "--format=true"], 10_000_000,
                         logdir / "primes.txt")
        run.wait_for_progress(0.5, timeout=60)
        run.kill_client()
        outcome = run.attach(timeout=120)
        assert run.job_held() is False
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from tq_broker_faults import CLIENT_HOST, BrokerFaultCluster
from tq_hosts import Proc, wait_for
from tq_job_check import Outcome, parse_stats

# tq-client's line at submit (client/main.cc).
_TICKET_RE = re.compile(r"^tq-client: job (\d+); to read it from another "
                        r"process: tq-client attach \1 --token=([0-9a-f]{32})$",
                        re.MULTILINE)
# A token no job has (attach checks the job exists before the token).
_WRONG_TOKEN = "0" * 32
# How much of FILE's end `last_item` reads: a line is one number.
_TAIL_BYTES = 64


@dataclass
class Ticket:
    """What attaching to a job takes."""

    job_id: int
    token: str


class FileJobRun:
    """One tq-client job on host c writing --output=`output`, which
    `kill_client` SIGKILLs and `attach` continues.

    `args` are tq-client's arguments after --broker, without --output;
    `hi` is the job's last item, for `progress`. The clients' stderr goes to
    `name`.err and `name`-attach.err in the cluster's logdir.
    """

    def __init__(self, cluster: BrokerFaultCluster, args: Sequence[str],
                 hi: int, output: Path, name: str = "client") -> None:
        self.cluster = cluster
        self.hi = hi
        self.output = Path(output)
        self.name = name
        self.stderr_path = cluster.logdir / f"{name}.err"
        self.attach_stderr_path = cluster.logdir / f"{name}-attach.err"
        # attach writes tsv unless told otherwise: the broker does not keep
        # the form the dead client wrote, so it is repeated.
        self.format_flags = [a for a in args if a.startswith("--format=")]
        self.killed_at: Optional[float] = None
        self.bytes_at_kill = 0
        self.attach_seconds: Optional[float] = None
        self._err = open(self.stderr_path, "w")
        self.started = time.monotonic()
        self.proc = cluster.tq.client([*args, f"--output={self.output}"],
                                      host=cluster.net[CLIENT_HOST],
                                      stdout=subprocess.DEVNULL,
                                      stderr=self._err)

    # -- the first client -----------------------------------------------

    def last_item(self) -> int:
        """The last item in FILE (ordered --format=true: every item up to it
        is done); 0 before the first."""
        try:
            with open(self.output, "rb") as f:
                size = f.seek(0, 2)
                f.seek(max(0, size - _TAIL_BYTES))
                tail = f.read()
        except FileNotFoundError:
            return 0
        lines = tail.split(b"\n")[:-1]  # the last is partial (or empty)
        if not lines or (len(lines) == 1 and size > len(tail)):
            return 0  # not one whole line in the tail
        try:
            return int(lines[-1])
        except ValueError:
            return 0

    def progress(self) -> float:
        """The share of 1..hi in FILE so far."""
        return self.last_item() / self.hi

    def wait_for_progress(self, share: float, timeout: float) -> bool:
        """Waits until `share` of the items are in FILE (True), or the client
        has exited (False); raises TimeoutError after `timeout` s."""
        wait_for(lambda: self.progress() >= share or not self.proc.running(),
                 timeout, f"the client to write {share:.0%} of the items")
        return self.proc.running()

    def ticket(self, timeout: float = 10.0) -> Ticket:
        """The job's id and token from the client's stderr (printed once the
        broker accepted the job); raises TimeoutError."""
        def read() -> Optional[Ticket]:
            match = _TICKET_RE.search(
                self.stderr_path.read_text(errors="replace"))
            return Ticket(int(match.group(1)), match.group(2)) \
                if match else None
        return wait_for(read, timeout, "the client's 'tq-client: job N' line")

    def kill_client(self) -> int:
        """SIGKILLs the tq-client process (`ip netns exec` execs it in place,
        so the pid is tq-client's: checked) and waits for it; the last item
        in FILE then."""
        exe = os.readlink(f"/proc/{self.proc.pid}/exe")
        if Path(exe) != Path(self.cluster.tq.bins.client).resolve():
            raise RuntimeError(f"pid {self.proc.pid} runs {exe}, not tq-client")
        self.proc.kill()
        self.proc.wait(10)
        self.killed_at = time.monotonic()
        self._err.close()
        self.bytes_at_kill = self.output.stat().st_size \
            if self.output.exists() else 0
        return self.last_item()

    def finish(self, timeout: float) -> Outcome:
        """Waits for the client, not killed (SIGKILL after `timeout` s); FILE's
        sha256 and lines, its exit status, stderr and stats, its seconds."""
        code, text = _wait(self.proc, timeout)
        seconds = time.monotonic() - self.started
        self._err.close()
        text = self.stderr_path.read_text(errors="replace") + text
        digest, lines = _hash_file(self.output)
        return Outcome(code, digest, lines, seconds, parse_stats(text), text)

    # -- the attach -------------------------------------------------------

    def attach(self, timeout: float, extra: Sequence[str] = ()) -> Outcome:
        """Runs `tq-client attach JOB --token=T --output=FILE --stats` (and
        the first client's --format) on host c, SIGKILLed after `timeout` s.

        FILE's sha256 and lines, attach's exit status, stderr and stats, and
        the seconds since the first client started."""
        ticket = self.ticket()
        began = time.monotonic()
        with open(self.attach_stderr_path, "w") as err:
            proc = self.cluster.tq.client(
                ["attach", str(ticket.job_id), f"--token={ticket.token}",
                 f"--output={self.output}", *self.format_flags, "--stats",
                 "--progress=never", *extra],
                host=self.cluster.net[CLIENT_HOST],
                stdout=subprocess.DEVNULL, stderr=err)
            code, note = _wait(proc, timeout)
        ended = time.monotonic()
        self.attach_seconds = ended - began
        text = self.attach_stderr_path.read_text(errors="replace") + note
        digest, lines = _hash_file(self.output)
        return Outcome(code, digest, lines, ended - self.started,
                       parse_stats(text), text)

    def broker_view(self) -> Optional[dict]:
        """The job's entry in `tq-client jobs --json` (items_acknowledged,
        detached, ...); None if the broker does not show it or answer."""
        job_id = str(self.ticket().job_id)
        done = self.cluster.net[CLIENT_HOST].check(
            self.cluster.tq.client_command(
                ["--connect-timeout=2", "jobs", "--json"]),
            timeout=15, check=False)
        try:
            jobs = json.loads(done.stdout.splitlines()[0]).get("jobs", [])
        except (ValueError, IndexError):
            return None
        return next((j for j in jobs if str(j.get("job_id")) == job_id), None)

    def job_held(self) -> Optional[bool]:
        """Whether the broker still holds the job (an attach with a wrong
        token: "not yours" if it does, "no job N here" if not, and no side
        effect either way); None if the answer is neither."""
        ticket = self.ticket()
        done = self.cluster.net[CLIENT_HOST].check(
            self.cluster.tq.client_command(
                ["--connect-timeout=2", "attach", str(ticket.job_id),
                 f"--token={_WRONG_TOKEN}", "--progress=never"]),
            timeout=15, check=False)
        if "is not yours" in done.stderr:
            return True
        if f"no job {ticket.job_id} here" in done.stderr:
            return False
        return None


def _wait(proc: Proc, timeout: float) -> tuple[int, str]:
    """`proc`'s exit status, SIGKILLed after `timeout` s (then the second
    value says so for its stderr)."""
    try:
        return proc.wait(timeout), ""
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(10), f"\n(killed after {timeout:.0f} s)"


def _hash_file(path: Path) -> tuple[str, int]:
    """sha256 (hex) and line count of `path` ('' and 0 if it is missing)."""
    digest = hashlib.sha256()
    lines = 0
    try:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
                lines += block.count(b"\n")
    except FileNotFoundError:
        return "", 0
    return digest.hexdigest(), lines
