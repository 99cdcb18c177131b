"""A job outlives its broker and its client (issue 8): broker SIGKILLed
half-way and restarted on its journal, plainly and with the journal's last
record torn; the client (``--output=FILE``) SIGKILLed half-way and the file
completed by ``tq-client attach``, with and without a broker restart in
between.

The broker (``--journal``) runs on host b, the client on host c, one-thread
workers on w1-w3 (tests/hosts/tq_broker_faults.py). The job: primes
1..10^7 in 100-item chunks (a few seconds), ``--format=true``; the output
must hash like the reference, the client must count 0 duplicates, and the
broker must be left with nothing in flight. For attach the file must hash
like the reference, attach's --stats (the part it received) count 0
duplicates, and the broker must no longer know the job afterwards.
scripts/broker_fault_table.py runs the same faults (and more) on the
issue's 10^8 job.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Optional

import pytest

from tq_attach_run import FileJobRun
from tq_broker_faults import (BrokerFaultCluster, JobRun, kill_and_restart,
                              tear_last_record)
from tq_cluster_hosts import Binaries
from tq_job_check import broker_idle, reference_primes

pytestmark = pytest.mark.usefixtures("hosts_available")

HI = 10_000_000
CHUNK_SIZE = 100
JOB = ["map", "primes", "1", str(HI), "--format=true",
       f"--chunk-size={CHUNK_SIZE}", "--stats", "--resume-timeout=30",
       "--progress=never"]


@functools.lru_cache(maxsize=None)
def _reference(client: str) -> str:
    return reference_primes(client, HI)[0]


def _print_logs(logdir: Path) -> None:
    """Shown by pytest when the test fails."""
    for log in sorted(logdir.glob("*.log")) + sorted(logdir.glob("*.err")):
        print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")


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
        _print_logs(logdir)
    if damage is not None:
        assert note.startswith("tore"), note
        assert any("ignored" in r for r in reports), (
            f"the broker did not report the torn tail: {reports}")
    assert outcome.returncode == 0, outcome.stderr[-2000:]
    assert outcome.sha256 == reference, (
        f"{outcome.lines} lines, not the reference's output")
    assert outcome.stats is not None, outcome.stderr[-2000:]
    assert outcome.stats["duplicates"] == 0, outcome.stats
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
        _print_logs(logdir)
    assert outcome.returncode == 0, outcome.stderr[-2000:]
    assert outcome.sha256 == reference, (
        f"{outcome.lines} lines, not the reference's output")
    assert outcome.stats is not None, outcome.stderr[-2000:]
    assert outcome.stats["duplicates"] == 0, outcome.stats
    assert idle == "yes", idle
    assert held is False, "the broker still holds the job (or said neither)"
