#!/usr/bin/python3
"""The broker-fault table (issue 8 part 5): one job through broker faults.

On simulated hosts (tests/hosts/tq_broker_faults.py; needs root) -- a broker
with ``--journal=DIR`` on host ``b``, the client on host ``c`` (so that it
outlives the broker) and one-thread workers on ``w1``-``w3`` -- runs

    tq-client map primes 1 HI --format=true --chunk-size=C --stats
        --resume-timeout=60

(HI = 10^8: 5,761,455 lines) once per row while the broker is killed,
frozen or has its journal damaged, compares the sha256 of the output with a
reference (primesieve, else the embedded cluster), and prints a Markdown
table: exact result, duplicates the client counted (its --stats line),
whether anything is left in flight at the broker afterwards, the run time,
and issue 8's target: fault-free time + the broker's downtime + 3 s.
"How far" the job is comes from the client's output: the last prime printed
(ordered output, so every item up to it is done).

The attach rows (tests/hosts/tq_attach_run.py) run the same job with
``--output=FILE`` on host c, SIGKILL the tq-client process half-way (in one
row the broker is then SIGKILLed and restarted on its journal too) and run
``tq-client attach JOB --token=T --output=FILE`` on host c, which must
complete FILE exactly: its sha256 is the reference's, attach's --stats (of
the attached part) count no duplicate, the broker holds nothing and no
longer knows the job. Their time runs from the first client's start to
attach's end; their fault-free time is the job's with --output=FILE
(row baseline-output: results are synced before they are acknowledged).

The streamed rows run a job over a list instead:

    tq-client map primes --input=FILE --format=true --chunk-size=100 --stats
        --resume-timeout=60

FILE holding the numbers 10^12 .. 10^12+N-1 (N = 10^7: 361,726 primes,
~4 s on these hosts), ascending, so that the last prime printed says how
far the job got; one row reads FILE itself, one reads it from a pipe
(``cat FILE | tq-client ... --input=-``). The client sends its input as the
job's window lets it, so it is still streaming half-way: the broker is
SIGKILLed there (its `tq-client jobs --json` just before the kill must
show ``"input_open": true``) and restarted on its journal. The reference:
primesieve over that range (else the embedded cluster's range job, the
sieve rather than the list's Miller-Rabin test). Each is held to the same
job without a fault (rows baseline-streamed, baseline-streamed-stdin).

The standby rows (tests/hosts/tq_standby_pair.py) run the range job
through a standby pair instead: the primary on host p, the backup on s
(each with its own journal), workers and client given both endpoints (one
worker lists the backup first). At ~1/2 either the primary's host is cut
off (the backup must take over; its downtime is until the backup logs
taking over; healed afterwards, the old primary must be fenced, exit 75),
or only the link between the two brokers is cut (no second active: a
second client listing the backup first must be served by the primary, the
backup must never become active, and healed it must follow again). Their
fault-free time is row baseline-standby's (the job through a pair without
a fault).

A fresh network, journal and cluster per row. Rows whose feature does not
exist yet print "not yet: needs ...".

    sudo /usr/bin/python3 scripts/broker_fault_table.py [--build=build]
        [--hi=100000000] [--chunk-size=1000] [--stream-items=10000000]
        [--stream-chunk-size=100] [--rows=baseline,kill,...] [--logs=DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "hosts"))

import tq_hosts  # noqa: E402
from tq_attach_run import FileJobRun  # noqa: E402
from tq_broker_faults import (BrokerFaultCluster, JobRun,  # noqa: E402
                              flip_byte_in_last_record, freeze, jobs_view,
                              kill_and_restart, tear_last_record,
                              write_numbers)
from tq_cluster_hosts import Binaries  # noqa: E402
from tq_job_check import (Outcome, broker_idle, duplicates,  # noqa: E402
                          last_line, reference_primes)
from tq_standby_pair import (BACKUP_HOST, CLIENT_HOST,  # noqa: E402
                             FENCED_EXIT, PRIMARY_HOST, StandbyPairCluster)

from broker_fault_rows import Row, markdown  # noqa: E402

RESUME_TIMEOUT_S = 60
RESTART_PAUSE_S = 0.5
FREEZE_S = 10.0
# The streamed job's numbers start here: large enough that the list's
# Miller-Rabin test does real work, small enough for primesieve.
STREAM_FIRST = 10**12

# A fault: run against the cluster, returns (downtime in s, a note).
Fault = Callable[[BrokerFaultCluster], tuple[float, str]]


@dataclass
class JobSpec:
    """What a row's client runs, and the sha256 its output must have."""

    args: list[str]
    first: int  # the job's items are first..hi, ascending
    hi: int
    reference: str
    # Piped into the client's stdin (for --input=-).
    stdin_file: Optional[Path] = None


class Table:
    """Runs the rows; holds what they share (binaries, reference, baseline)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.bins = Binaries.from_build(args.build)
        _require_features(self.bins)
        self.logs = Path(args.logs or
                         tempfile.mkdtemp(prefix="tq-broker-faults-"))
        self.logs.mkdir(parents=True, exist_ok=True)
        digest, lines, source = reference_primes(self.bins.client, args.hi)
        print(f"reference: {lines} lines, sha256 {digest[:16]}... "
              f"({source})", file=sys.stderr)
        self.reference = digest
        self.baseline: Optional[float] = None
        # The fault-free job with --output=FILE (the attach rows' baseline).
        self.output_baseline: Optional[float] = None
        # The streamed job's input file and reference, made on first use.
        self._stream: Optional[tuple[Path, str]] = None
        # The fault-free streamed jobs, by whether they read stdin.
        self.stream_baselines: dict[bool, Optional[float]] = {}
        self.has_attach = "attach JOB" in _help_of(self.bins.client)
        # The fault-free job through a standby pair (the standby rows').
        self.standby_baseline: Optional[float] = None
        self.row_number = 0

    def cluster(self, name: str) -> BrokerFaultCluster:
        """A fresh network, journal, broker and three workers."""
        self.row_number += 1
        # With --logs, the broker says what it decides (--verbose).
        return BrokerFaultCluster(
            self.bins, self.logs / f"{self.row_number:02d}-{name}",
            broker_flags=["--verbose"] if self.args.logs else [])

    def pair_cluster(self, name: str) -> StandbyPairCluster:
        """A fresh network, a standby pair and three workers."""
        self.row_number += 1
        return StandbyPairCluster(
            self.bins, self.logs / f"{self.row_number:02d}-{name}")

    def client_args(self) -> list[str]:
        return ["map", "primes", "1", str(self.args.hi), "--format=true",
                f"--chunk-size={self.args.chunk_size}", "--stats",
                f"--resume-timeout={RESUME_TIMEOUT_S}", "--progress=never"]

    def range_job(self) -> JobSpec:
        """primes 1..HI: most rows' job."""
        return JobSpec(self.client_args(), 1, self.args.hi, self.reference)

    def streamed_job(self, stdin: bool) -> JobSpec:
        """primes over the numbers in a file: --input=FILE, or with `stdin`
        --input=- with FILE piped in."""
        last = STREAM_FIRST + self.args.stream_items - 1
        if self._stream is None:
            path = write_numbers(self.logs / "streamed-input.txt",
                                 STREAM_FIRST, self.args.stream_items)
            digest, lines, source = reference_primes(self.bins.client, last,
                                                     STREAM_FIRST)
            print(f"streamed input {path}: {self.args.stream_items:,} "
                  f"numbers, reference {lines} lines, sha256 "
                  f"{digest[:16]}... ({source})", file=sys.stderr)
            self._stream = (path, digest)
        path, digest = self._stream
        args = ["map", "primes", "--input=-" if stdin else f"--input={path}",
                "--format=true", f"--chunk-size={self.args.stream_chunk_size}",
                "--stats", f"--resume-timeout={RESUME_TIMEOUT_S}",
                "--progress=never"]
        return JobSpec(args, STREAM_FIRST, last, digest,
                       path if stdin else None)

    def timeout(self) -> float:
        """How long one job may take before it counts as hung."""
        return max(180.0, 10 * (self.baseline or 30.0)) + RESUME_TIMEOUT_S

    def run(self, name: str, label: str, faults: list[tuple[float, Fault]],
            spec: Optional[JobSpec] = None,
            fault_free: Optional[float] = None) -> Row:
        """The job (`spec`, default the range job), with each fault injected
        once the client has printed its share of the items (in order)."""
        spec = spec or self.range_job()
        row = Row(label, fault_free=fault_free)
        with self.cluster(name) as cluster:
            job = JobRun(cluster, spec.args, spec.hi, first=spec.first,
                         stdin_file=spec.stdin_file)
            for share, fault in faults:
                if not job.wait_for_progress(share, self.timeout()):
                    row.notes.append(f"the job ended before {share:.0%}: "
                                     "fault not injected")
                    break
                at = job.last_item()
                try:
                    downtime, note = fault(cluster)
                except Exception as e:  # noqa: BLE001 -- reported in the row
                    row.notes.append(f"fault injection failed: {e}")
                    break
                row.downtime += downtime
                row.faults_injected += 1
                row.notes.append(f"at item {at:,} ({job.share(at):.0%}):"
                                 f" down {downtime:.1f} s"
                                 + (f", {note}" if note else ""))
            outcome = job.finish(self.timeout())
            self.judge(row, outcome, reference=spec.reference)
            row.idle_after = broker_idle(cluster.tq)
            reports = [r for r in cluster.journal_reports()
                       if "resumed 0 jobs" not in r]
            if reports:
                row.notes.append("broker: " + "; ".join(reports))
        return row

    def judge(self, row: Row, outcome: Outcome, who: str = "client",
              reference: Optional[str] = None) -> None:
        """Fills exact/duplicates/time from a run of the job whose output
        hashes to `reference` (default the range job's)."""
        row.seconds = outcome.seconds
        if outcome.returncode == 0 and \
                outcome.sha256 == (reference or self.reference):
            row.exact = "yes"
        elif outcome.returncode == 0:
            row.exact = f"NO ({outcome.lines} lines, hash differs)"
        else:
            row.exact = f"NO (exit {outcome.returncode})"
            row.notes.append(f"{who}: " + last_line(outcome.stderr))
        row.duplicates = duplicates(outcome)

    def output_file(self, cluster: BrokerFaultCluster) -> Path:
        """Where the client on host c writes --output (the hosts share the
        file system)."""
        return cluster.logdir / "output.txt"

    def output_baseline_row(self) -> Row:
        """The job with --output=FILE, no fault: the attach rows' baseline."""
        row = Row("none (fault-free, with the journal, --output=FILE)")
        with self.cluster("baseline-output") as cluster:
            job = FileJobRun(cluster, self.client_args(), self.args.hi,
                             self.output_file(cluster))
            self.judge(row, job.finish(self.timeout()))
            row.idle_after = broker_idle(cluster.tq)
        if row.exact == "yes":
            self.output_baseline = row.seconds
        row.fault_free = self.output_baseline
        return row

    def run_attach(self, name: str, label: str, restart_broker: bool) -> Row:
        """The job with --output=FILE, its client SIGKILLed half-way (then
        the broker too if `restart_broker`), and FILE completed by
        `tq-client attach` on the client's host."""
        row = Row(label, fault_free=self.output_baseline)
        if not self.has_attach:
            row.exact = "not yet: needs tq-client attach (issue 8 part 3)"
            return row
        if self.output_baseline is None:
            row.notes.append("no --output baseline: held to the baseline row")
        with self.cluster(name) as cluster:
            job = FileJobRun(cluster, self.client_args(), self.args.hi,
                             self.output_file(cluster))
            if not job.wait_for_progress(0.5, self.timeout()):
                outcome = job.finish(10)
                row.exact = (f"not run: the client exited "
                             f"({outcome.returncode}) before 50%")
                return row
            at = job.kill_client()
            first = job.killed_at - job.started
            ticket = job.ticket()
            view = job.broker_view() or {}
            row.notes.append(
                f"client SIGKILLed at item {at:,} ({at / self.args.hi:.0%}) "
                f"after {first:.1f} s, its file {job.bytes_at_kill:,} bytes; "
                f"broker: job {ticket.job_id} "
                f"{int(view.get('items_acknowledged', 0)):,} items "
                f"acknowledged, detached={view.get('detached', '?')}")
            if restart_broker:
                downtime, note = kill_and_restart(cluster, RESTART_PAUSE_S)
                row.downtime += downtime
                row.faults_injected += 1
                row.notes.append(f"broker down {downtime:.1f} s"
                                 + (f", {note}" if note else ""))
            outcome = job.attach(self.timeout())
            self.judge(row, outcome, who="attach")
            attached = [line for line in outcome.stderr.splitlines()
                        if "attached to job" in line]
            row.notes.append(
                f"kill to attach done {outcome.seconds - first:.1f} s "
                f"(attach {job.attach_seconds:.1f} s); "
                + (attached[0].removeprefix("tq-client: ") if attached
                   else "attach printed no 'attached to job' line")
                + "; duplicates: attach's --stats")
            row.idle_after = broker_idle(cluster.tq)
            held = job.job_held()
            if held is not False and row.idle_after == "yes":
                row.idle_after = (f"no: the broker still holds job "
                                  f"{ticket.job_id}" if held else
                                  "? (the wrong-token attach said neither)")
            reports = [r for r in cluster.journal_reports()
                       if "resumed 0 jobs" not in r]
            if reports:
                row.notes.append("broker: " + "; ".join(reports))
        return row

    def standby_baseline_row(self) -> Row:
        """The job through a standby pair without a fault: the standby
        rows' baseline (every accept waits for the backup's fdatasync)."""
        row = Row("none (fault-free, standby pair)")
        with self.pair_cluster("baseline-standby") as pair:
            job = JobRun(pair, self.client_args(), self.args.hi)
            self.judge(row, job.finish(self.timeout()))
            row.idle_after = broker_idle(pair.tq)
        if row.exact == "yes":
            self.standby_baseline = row.seconds
        row.fault_free = self.standby_baseline
        return row

    def standby_row(self, name: str, label: str,
                    fault: Callable[[StandbyPairCluster, Row], float],
                    after: Callable[[StandbyPairCluster, Row], None]) -> Row:
        """The job through a standby pair; `fault` at ~1/2 (returns the
        downtime, notes what it saw), `after` once the job ended (checks
        the pair, notes what it found)."""
        row = Row(label, fault_free=self.standby_baseline)
        if self.standby_baseline is None:
            row.notes.append("no standby baseline: held to the baseline row")
        with self.pair_cluster(name) as pair:
            job = JobRun(pair, self.client_args(), self.args.hi)
            if not job.wait_for_progress(0.5, self.timeout()):
                row.notes.append("the job ended before 50%: fault not "
                                 "injected")
            else:
                at = job.last_item()
                row.notes.append(f"at item {at:,} ({job.share(at):.0%})")
                try:
                    row.downtime += fault(pair, row)
                    row.faults_injected += 1
                except Exception as e:  # noqa: BLE001 -- reported in the row
                    row.notes.append(f"fault injection failed: {e}")
            self.judge(row, job.finish(self.timeout()))
            row.idle_after = broker_idle(pair.tq)
            after(pair, row)
        return row

    def baseline_row(self) -> Row:
        row = self.run("baseline", "none (fault-free, with the journal)", [])
        if row.exact == "yes":
            self.baseline = row.seconds
        return row

    def streamed_baseline_row(self, stdin: bool) -> Row:
        """The streamed job without a fault: the streamed rows' baseline."""
        source = "--input=- (piped)" if stdin else "--input=FILE"
        row = self.run(f"baseline-streamed{'-stdin' if stdin else ''}",
                       f"none (fault-free, with the journal, {source})", [],
                       self.streamed_job(stdin))
        self.stream_baselines[stdin] = \
            row.seconds if row.exact == "yes" else None
        row.fault_free = self.stream_baselines[stdin]
        return row

    def streamed_row(self, stdin: bool) -> Row:
        """The streamed job, its broker SIGKILLed at ~1/2 while the client
        still sends input, restarted after the pause."""
        source = "--input=- (piped)" if stdin else "--input=FILE"
        fault_free = self.stream_baselines.get(stdin)
        row = self.run(
            f"streamed{'-stdin' if stdin else ''}",
            f"broker SIGKILLed at ~1/2 while the client streams its input "
            f"({source}), restarted after {RESTART_PAUSE_S:g} s",
            [(0.5, _restart_while_streaming)], self.streamed_job(stdin),
            fault_free)
        if fault_free is None:
            row.notes.append("no streamed baseline: held to the baseline row")
        return row


def _require_features(bins: Binaries) -> None:
    """Exits with a message if the build lacks --journal or resuming."""
    missing = [flag for path, flag in ((bins.broker, "--journal"),
                                       (bins.client, "--resume-timeout"),
                                       (bins.client, "--stats"))
               if flag not in _help_of(path)]
    if missing:
        raise SystemExit("broker_fault_table: this build lacks "
                         + ", ".join(missing))


def _help_of(path: str) -> str:
    """A binary's --help text."""
    done = subprocess.run([path, "--help"], capture_output=True, text=True,
                          timeout=10)
    return done.stdout + done.stderr


def _restart(damage: Optional[Callable[[Path], str]] = None) -> Fault:
    return lambda cluster: kill_and_restart(cluster, RESTART_PAUSE_S, damage)


def _freeze(cluster: BrokerFaultCluster) -> tuple[float, str]:
    return freeze(cluster, FREEZE_S), ""


def _cut_primary(pair: StandbyPairCluster, row: Row) -> float:
    """Cuts the primary's host off; the downtime: until the backup took
    over."""
    took_over = pair.cut_primary(timeout=60)
    row.notes.append(f"primary's host cut off; backup active after "
                     f"{took_over:.1f} s")
    return took_over


def _fenced_on_healing(pair: StandbyPairCluster, row: Row) -> None:
    """Heals the cut primary, which must then be fenced (exit 75)."""
    took = [line for line in pair.pair_lines(BACKUP_HOST)
            if "passive -> active" in line]
    row.notes.append(f"backup: {took[0]}" if took
                     else "backup: NEVER took over")
    pair.heal_primary()
    try:
        code = pair.brokers[PRIMARY_HOST].wait(30)
    except subprocess.TimeoutExpired:
        code = None
    if code == FENCED_EXIT:
        row.notes.append(f"healed, the old primary was fenced (exit {code})")
    else:
        row.notes.append(f"healed, the old primary was NOT fenced "
                         f"(exit {code}): two actives")
        row.exact += " but TWO ACTIVES"


def _cut_pair_link(pair: StandbyPairCluster, row: Row) -> float:
    """Cuts the p-s link; once each holds the other silent, a client that
    lists the backup first runs a job, which the primary must serve."""
    pair.cut_pair_link()
    pair.wait_log(BACKUP_HOST, "pair: peer silent for", 20)
    pair.wait_log(PRIMARY_HOST, "serving alone", 20)
    second = pair.net[CLIENT_HOST].check(
        pair.tq.client_command(["map", "primes", "1", "100000",
                                "--format=count"], backup_first=True),
        timeout=60, check=False)
    answer = second.stdout.strip() or last_line(second.stderr)
    row.notes.append(f"link p-s cut; primary serving alone; a second client "
                     f"listing the backup first got {answer} (exit "
                     f"{second.returncode}; 9592 expected)")
    if second.returncode != 0 or answer != "9592":
        row.notes.append("the second client FAILED")
    return 0.0


def _no_second_active(pair: StandbyPairCluster, row: Row) -> None:
    """The backup never became active; healed, it follows again."""
    took = [line for line in pair.pair_lines(BACKUP_HOST) if "-> active" in line]
    primary_up = pair.brokers[PRIMARY_HOST].running()
    if took or not primary_up:
        row.exact += " but TWO ACTIVES" if took else " but the primary died"
        row.notes.append(f"backup: {took}")
    else:
        row.notes.append("the backup never became active")
    pair.heal_pair_link()
    try:
        pair.wait_log(BACKUP_HOST, "following the active's journal", 20,
                      times=2)
        row.notes.append("healed, the backup follows the primary again")
    except (TimeoutError, RuntimeError):
        row.notes.append("healed, the backup did NOT follow again in 20 s")


def _restart_while_streaming(cluster: BrokerFaultCluster
                             ) -> tuple[float, str]:
    """Kill and restart, noting whether the job's input was still open just
    before the kill (what the streamed rows are about)."""
    jobs = jobs_view(cluster)
    downtime, note = kill_and_restart(cluster, RESTART_PAUSE_S)
    return downtime, ", ".join(n for n in (_input_state(jobs), note) if n)


def _input_state(jobs: Optional[list[dict]]) -> str:
    """What `tq-client jobs --json` said of the one job's input."""
    if jobs is None:
        return "NOT CHECKED: the broker did not answer jobs --json"
    if len(jobs) != 1:
        return f"NOT CHECKED: the broker showed {len(jobs)} jobs"
    job = jobs[0]
    appended = int(job.get("items_total", 0))
    # proto3 JSON leaves out false booleans.
    if job.get("input_open", False):
        return f"input open at the kill ({appended:,} items appended)"
    return (f"NOT while streaming: input closed at the kill ({appended:,} "
            "items appended)")


# Rows that need the fault-free time with --output=FILE.
ATTACH_ROWS = ["attach", "attach-broker-kill"]
# Streamed rows and the baseline each needs.
STREAMED_ROWS = {"streamed": "baseline-streamed",
                 "streamed-stdin": "baseline-streamed-stdin"}
# Rows that need the fault-free time through a standby pair.
STANDBY_ROWS = ["standby-primary-cut", "standby-link-cut"]

ROWS = ["baseline", "kill", "stop", "kill-twice", "torn", "flipped",
        "baseline-output", *ATTACH_ROWS,
        *[r for pair in STREAMED_ROWS.items() for r in reversed(pair)],
        "baseline-standby", *STANDBY_ROWS]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=str(REPO / "build"),
                        help="CMake build directory with the binaries")
    parser.add_argument("--hi", type=int, default=100_000_000,
                        help="the job is primes 1..HI (default 10^8)")
    parser.add_argument("--chunk-size", type=int, default=1000,
                        help="items per chunk (small, so that the job runs "
                        "several seconds; default 1000)")
    parser.add_argument("--stream-items", type=int, default=10_000_000,
                        help="numbers in the streamed rows' input file "
                        "(default 10^7)")
    parser.add_argument("--stream-chunk-size", type=int, default=100,
                        help="the streamed rows' items per chunk (default "
                        "100)")
    parser.add_argument("--rows", default=",".join(ROWS),
                        help="comma-separated subset of: " + ",".join(ROWS))
    parser.add_argument("--logs", default="",
                        help="directory for the processes' logs and the "
                        "journals")
    args = parser.parse_args()
    rows = [r for r in args.rows.split(",") if r]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown row(s) {','.join(unknown)}; "
                     f"choose from {','.join(ROWS)}")
    reason = tq_hosts.unavailable_reason()
    if reason:
        print(f"broker_fault_table: {reason}", file=sys.stderr)
        return 1
    tq_hosts.exit_on_sigterm()
    table = Table(args)
    print(f"logs in {table.logs}", file=sys.stderr)
    steps: dict[str, Callable[[], Row]] = {
        "baseline": table.baseline_row,
        "kill": lambda: table.run(
            "kill", f"broker SIGKILLed at ~1/2, restarted after "
            f"{RESTART_PAUSE_S:g} s", [(0.5, _restart())]),
        "stop": lambda: table.run(
            "stop", f"broker SIGSTOPped at ~1/2 for {FREEZE_S:g} s",
            [(0.5, _freeze)]),
        "kill-twice": lambda: table.run(
            "kill-twice", "broker SIGKILLed and restarted at ~1/3 and ~2/3",
            [(1 / 3, _restart()), (2 / 3, _restart())]),
        "torn": lambda: table.run(
            "torn", "broker SIGKILLed at ~1/2, its journal's last record "
            "torn (3 bytes cut), restarted", [(0.5, _restart(
                tear_last_record))]),
        "flipped": lambda: table.run(
            "flipped", "broker SIGKILLed at ~1/2, a byte of its journal's "
            "last record flipped, restarted", [(0.5, _restart(
                flip_byte_in_last_record))]),
        "baseline-output": table.output_baseline_row,
        "attach": lambda: table.run_attach(
            "attach", "client (--output=FILE) SIGKILLed at ~1/2, then "
            "tq-client attach JOB --output=FILE", restart_broker=False),
        "attach-broker-kill": lambda: table.run_attach(
            "attach-broker-kill", "client (--output=FILE) SIGKILLed at ~1/2, "
            f"then the broker SIGKILLed and restarted after "
            f"{RESTART_PAUSE_S:g} s, then tq-client attach JOB --output=FILE",
            restart_broker=True),
        "baseline-streamed": lambda: table.streamed_baseline_row(False),
        "streamed": lambda: table.streamed_row(False),
        "baseline-streamed-stdin": lambda: table.streamed_baseline_row(True),
        "streamed-stdin": lambda: table.streamed_row(True),
        "baseline-standby": table.standby_baseline_row,
        "standby-primary-cut": lambda: table.standby_row(
            "standby-primary-cut", "standby pair: the primary's host cut "
            "off at ~1/2 (the backup takes over)", _cut_primary,
            _fenced_on_healing),
        "standby-link-cut": lambda: table.standby_row(
            "standby-link-cut", "standby pair: the link between primary and "
            "backup cut at ~1/2 (no second active)", _cut_pair_link,
            _no_second_active),
    }
    if "baseline" not in rows:
        rows.insert(0, "baseline")
    if "baseline-output" not in rows and any(r in ATTACH_ROWS for r in rows):
        rows.insert(min(rows.index(r) for r in ATTACH_ROWS if r in rows),
                    "baseline-output")
    if "baseline-standby" not in rows and any(r in STANDBY_ROWS
                                              for r in rows):
        rows.insert(min(rows.index(r) for r in STANDBY_ROWS if r in rows),
                    "baseline-standby")
    for streamed, baseline in STREAMED_ROWS.items():
        if streamed in rows and baseline not in rows:
            rows.insert(rows.index(streamed), baseline)
    results: list[Row] = []
    for name in rows:
        print(f"row {name} ...", file=sys.stderr, flush=True)
        try:
            row = steps[name]()
        except tq_hosts.HostsUnavailable as e:
            row = Row(name, exact="not run", notes=[str(e)])
        except Exception as e:  # noqa: BLE001 -- one row, not the table
            row = Row(name, exact="ERROR", notes=[f"{type(e).__name__}: {e}"])
        results.append(row)
        print(f"  {row.exact}, {row.seconds}", file=sys.stderr, flush=True)
    print(markdown(results, table.baseline))
    print()
    print(f"Broker (--journal) on host b, client on host c, 3 worker hosts "
          f"with one thread each; primes 1..{args.hi} --format=true, "
          f"--chunk-size={args.chunk_size}, --resume-timeout="
          f"{RESUME_TIMEOUT_S}. 'broker down' runs from the signal until "
          "the broker answers tq-client status again. Attach rows: the "
          "client writes --output=FILE; their time runs from its start to "
          "the end of tq-client attach on the same host, their fault-free "
          "time is baseline-output's, their duplicates are attach's "
          "--stats (the part it received), and 'nothing in flight' also "
          "needs the broker to no longer know the job. Streamed rows: "
          f"primes over the {args.stream_items:,} numbers "
          f"{STREAM_FIRST:,}.. in a file, --chunk-size="
          f"{args.stream_chunk_size}, read by the client from the file or "
          "from a pipe (--input=-), held to the same job without a fault. "
          "Standby rows: a primary (host p) and backup (host s) pair, "
          "--pair-timeout-ms=2000, each with its own journal; 'broker down' "
          "runs from the cut until the backup logs taking over; their "
          "fault-free time is baseline-standby's. The hosts are network "
          f"namespaces on one machine with {os.cpu_count()} cores.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
