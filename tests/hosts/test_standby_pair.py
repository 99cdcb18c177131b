"""A standby broker pair through the issue's two partitions (issue 8 part
4): the primary's host cut off (the backup takes over, the job is exact,
and the old primary is fenced once the partition heals), and the link
between the two brokers cut (no second active: clients and workers stay
with the primary, even those that list the backup first, and the backup
takes no job).

The pair runs on hosts p and s, the client on c, one-thread workers on
w1-w3 (tests/hosts/tq_standby_pair.py). The job: primes 1..10^7 in
100-item chunks (a few seconds), ``--format=true``; the output must hash
like the reference, the client must count 0 duplicates, and the serving
broker must be left with nothing in flight. scripts/broker_fault_table.py
runs the same faults on the issue's 10^8 job (rows standby-*).
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import pytest

from tq_broker_faults import JobRun
from tq_cluster_hosts import Binaries
from tq_job_check import (assert_exact, broker_idle, print_logs,
                          reference_primes)
from tq_standby_pair import (BACKUP_HOST, CLIENT_HOST, FENCED_EXIT,
                             PRIMARY_HOST, StandbyPairCluster)

pytestmark = pytest.mark.usefixtures("hosts_available")

HI = 10_000_000
CHUNK_SIZE = 100
FLAGS = ["--format=true", f"--chunk-size={CHUNK_SIZE}", "--stats",
         "--resume-timeout=30", "--progress=never"]
JOB = ["map", "primes", "1", str(HI), *FLAGS]


@functools.lru_cache(maxsize=None)
def _reference(client: str) -> str:
    return reference_primes(client, HI)[0]


def test_the_backup_takes_over_when_the_primarys_host_is_cut_off(
        tmp_path: Path) -> None:
    bins = Binaries.from_env()
    reference = _reference(bins.client)
    logdir = tmp_path / "logs"
    try:
        with StandbyPairCluster(bins, logdir) as pair:
            job = JobRun(pair, JOB, HI)
            assert job.wait_for_progress(0.5, timeout=30), (
                "the job ended before half-way: make it longer")
            at = job.last_item()
            took_over = pair.cut_primary()
            print(f"primary cut off at item {at}; the backup took over "
                  f"{took_over:.1f} s later")
            outcome = job.finish(timeout=90)
            idle = broker_idle(pair.tq)
            # Healed, the old primary (active, epoch 1) hears the backup
            # (active, epoch 2): it must stop.
            pair.heal_primary()
            try:
                fenced = pair.brokers[PRIMARY_HOST].wait(30)
            except subprocess.TimeoutExpired:
                fenced = None
            primary = pair.log(PRIMARY_HOST)
            backup = pair.pair_lines(BACKUP_HOST)
    finally:
        print_logs(logdir)
    assert_exact(outcome, reference)
    assert idle == "yes", idle
    assert any("passive -> active" in line and "lost it asked" in line
               for line in backup), backup
    assert fenced == FENCED_EXIT, (fenced, primary)
    assert "tq-broker: fenced: the pair peer is active with epoch 2" in \
        primary, primary


def test_a_cut_link_between_the_brokers_makes_no_second_active(
        tmp_path: Path) -> None:
    bins = Binaries.from_env()
    reference = _reference(bins.client)
    logdir = tmp_path / "logs"
    try:
        with StandbyPairCluster(bins, logdir) as pair:
            job = JobRun(pair, JOB, HI)
            assert job.wait_for_progress(0.25, timeout=30), (
                "the job ended before a quarter: make it longer")
            pair.cut_pair_link()
            # Each broker holds the other silent: a passive could take
            # over from here on.
            pair.wait_log(BACKUP_HOST, "pair: peer silent for", 20)
            pair.wait_log(PRIMARY_HOST, "serving alone", 20)
            # A client that lists the backup first is sent on to the
            # primary (its Hello did not fail over): no second active.
            second = pair.net[CLIENT_HOST].check(
                pair.tq.client_command(
                    ["map", "primes", "1", "100000", "--format=count"],
                    backup_first=True),
                timeout=60, check=False)
            outcome = job.finish(timeout=90)
            idle = broker_idle(pair.tq)
            primary_running = pair.brokers[PRIMARY_HOST].running()
            # Healed, the backup follows the primary again.
            pair.heal_pair_link()
            followed_again = True
            try:
                pair.wait_log(BACKUP_HOST, "following the active's journal",
                              20, times=2)
            except (TimeoutError, RuntimeError):
                followed_again = False
            primary = pair.log(PRIMARY_HOST)
            backup = pair.pair_lines(BACKUP_HOST)
    finally:
        print_logs(logdir)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.strip() == "9592", second.stdout
    assert_exact(outcome, reference)
    assert idle == "yes", idle
    assert not any("-> active" in line for line in backup), backup
    assert primary_running, primary
    assert not any("fenced" in line for line in primary), primary
    assert followed_again, backup
