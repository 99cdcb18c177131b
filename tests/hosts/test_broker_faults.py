"""A job outlives its broker and its client (issue 8): broker SIGKILLed
half-way and restarted on its journal, plainly and with the journal's last
record torn, and while the client still streams its input (``--input=FILE``
and ``--input=-``); the client (``--output=FILE``) SIGKILLed half-way and
the file completed by ``tq-client attach``, with and without a broker
restart in between.

The broker (``--journal``) runs on host b, the client on host c, one-thread
workers on w1-w3 (tests/hosts/tq_broker_faults.py). The job: primes
1..10^7 in 100-item chunks (a few seconds), ``--format=true``; the output
must hash like the reference, the client must count 0 duplicates, and the
broker must be left with nothing in flight. For attach the file must hash
like the reference, attach's --stats (the part it received) count 0
duplicates, and the broker must no longer know the job afterwards. The streamed job is primes
over the 4*10^6 numbers from 10^12 in a file (about as long), and the
broker must show its input still open just before the kill.
scripts/broker_fault_table.py runs the same faults (and more) on the
issue's 10^8 job.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Optional

import pytest

from tq_attach_run import FileJobRun
from tq_broker_faults import (BrokerFaultCluster, JobRun, jobs_view,
                              kill_and_restart, tear_last_record,
                              write_numbers)
from tq_cluster_hosts import Binaries
from tq_job_check import (assert_exact, broker_idle, print_logs,
                          reference_primes)

pytestmark = pytest.mark.usefixtures("hosts_available")

HI = 10_000_000
CHUNK_SIZE = 100
FLAGS = ["--format=true", f"--chunk-size={CHUNK_SIZE}", "--stats",
         "--resume-timeout=30", "--progress=never"]
JOB = ["map", "primes", "1", str(HI), *FLAGS]
# The streamed job: primes over STREAM_ITEMS numbers from STREAM_FIRST.
STREAM_FIRST = 10**12
STREAM_ITEMS = 4_000_000
STREAM_LAST = STREAM_FIRST + STREAM_ITEMS - 1


@functools.lru_cache(maxsize=None)
def _reference(client: str, hi: int = HI, lo: int = 1) -> str:
    return reference_primes(client, hi, lo)[0]


@pytest.fixture(scope="module")
def numbers_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The streamed job's input, written once for the module."""
    return write_numbers(tmp_path_factory.mktemp("input") / "numbers.txt",
                         STREAM_FIRST, STREAM_ITEMS)


@pytest.mark.parametrize("damage", [None, tear_last_record],
                         ids=["restart", "torn-journal-tail"])
def test_job_is_exact_through_a_broker_kill_and_restart(
        tmp_path: Path, damage: Optional[Callable[[Path], str]]) -> None:
    bins = Binaries.from_env()
    reference = _reference(bins.client)
    logdir = tmp_path / "logs"
    try:
        with BrokerFaultCluster(bins, logdir) as cluster:
            job = JobRun(cluster, JOB, HI)
            assert job.wait_for_progress(0.5, timeout=30), (
                "the job ended before half-way: make it longer")
            downtime, note = kill_and_restart(cluster, damage=damage)
            reports = cluster.journal_reports()
            print(f"broker down {downtime:.1f} s at item {job.last_item()}; "
                  f"{note}; journal: {reports}")
            outcome = job.finish(timeout=60)
            idle = broker_idle(cluster.tq)
    finally:
        print_logs(logdir)
    if damage is not None:
        assert note.startswith("tore"), note
        assert any("ignored" in r for r in reports), (
            f"the broker did not report the torn tail: {reports}")
    assert_exact(outcome, reference)
    assert idle == "yes", idle


@pytest.mark.parametrize("restart_broker", [False, True],
                         ids=["attach", "broker-restart-then-attach"])
def test_attach_completes_the_file_of_a_client_sigkilled_half_way(
        tmp_path: Path, restart_broker: bool) -> None:
    bins = Binaries.from_env()
    reference = _reference(bins.client)
    logdir = tmp_path / "logs"
    try:
        with BrokerFaultCluster(bins, logdir) as cluster:
            job = FileJobRun(cluster, JOB, HI, tmp_path / "primes.txt")
            assert job.wait_for_progress(0.5, timeout=30), (
                "the job ended before half-way: make it longer")
            at = job.kill_client()
            note = ""
            if restart_broker:
                downtime, note = kill_and_restart(cluster)
                note = f"broker down {downtime:.1f} s {note}"
            print(f"client killed at item {at}, its file "
                  f"{job.bytes_at_kill} bytes; {note}")
            outcome = job.attach(timeout=60)
            idle = broker_idle(cluster.tq)
            held = job.job_held()
    finally:
        print_logs(logdir)
    assert_exact(outcome, reference)
    assert idle == "yes", idle
    assert held is False, "the broker still holds the job (or said neither)"


@pytest.mark.parametrize("stdin", [False, True], ids=["file", "stdin"])
def test_streamed_job_is_exact_through_a_broker_restart_while_it_streams(
        tmp_path: Path, numbers_file: Path, stdin: bool) -> None:
    bins = Binaries.from_env()
    reference = _reference(bins.client, STREAM_LAST, STREAM_FIRST)
    logdir = tmp_path / "logs"
    args = ["map", "primes",
            "--input=-" if stdin else f"--input={numbers_file}", *FLAGS]
    try:
        with BrokerFaultCluster(bins, logdir) as cluster:
            job = JobRun(cluster, args, STREAM_LAST, first=STREAM_FIRST,
                         stdin_file=numbers_file if stdin else None)
            assert job.wait_for_progress(0.5, timeout=30), (
                "the job ended before half-way: make it longer")
            jobs = jobs_view(cluster)
            downtime, _ = kill_and_restart(cluster)
            print(f"broker down {downtime:.1f} s at item {job.last_item()}; "
                  f"jobs before the kill: {jobs}; "
                  f"journal: {cluster.journal_reports()}")
            outcome = job.finish(timeout=60)
            idle = broker_idle(cluster.tq)
    finally:
        print_logs(logdir)
    assert jobs is not None and len(jobs) == 1, jobs
    # proto3 JSON leaves out false booleans.
    assert jobs[0].get("input_open", False), (
        f"the input was complete before the kill: make the job longer {jobs}")
    assert_exact(outcome, reference)
    assert idle == "yes", idle
