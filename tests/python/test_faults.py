"""Pool's fault options, per call and per pool, on a real cluster:
``skip_failed`` (an item failing every attempt comes back as a
tq.ItemFailed), ``max_attempts``, ``chunk_timeout`` and ``job_timeout``.

For code jobs a fault is what the cluster retries: a runner process that
dies (``os._exit``) or a chunk past its run limit (``time.sleep``). An
exception raised by the function is not one: it fails the job at once
whatever these options say (tested last). The built-in task path is tested
with the test-only ``crash`` task on a worker started with
``--enable-test-tasks``.
"""

from __future__ import annotations

import os
import pickle
import time

import pytest

import tq
from tq_cluster import Cluster, wait_for

POISON = 3


def die_on_poison(x):
    """x*x, except that the runner process dies on POISON."""
    if x == POISON:
        os._exit(7)
    return x * x


def die_on_poison_counting(x, log):
    """Like die_on_poison, writing a line to `log` per attempt on POISON."""
    if x == POISON:
        with open(log, "a") as out:
            out.write("attempt\n")
        os._exit(7)
    return x * x


# The last item of the chunk_timeout test: a chunk prefetched by a worker
# behind a hanging one can pass its run limit too, so nothing comes after it.
HANG = 5


def hang_on_last(x):
    """x, except that HANG sleeps far past any test's chunk_timeout."""
    if x == HANG:
        time.sleep(120)
    return x


def sleep_then(x):
    time.sleep(x)
    return x


def raise_on_poison(x):
    if x == POISON:
        raise KeyError(x)
    return x


def expected_with_failure(results, values, index):
    """Checks results: `values` everywhere but an ItemFailed at `index`."""
    assert len(results) == len(values)
    for i, (got, want) in enumerate(zip(results, values)):
        if i == index:
            assert isinstance(got, tq.ItemFailed), got
            assert got.index == index
        else:
            assert got == want, (i, got)
    return results[index]


# ------------------------------------------------------------ skip_failed --

def test_skip_failed_map_puts_an_item_failed_in_place(where):
    with tq.Pool(2 if not where else None, broker=where) as pool:
        results = pool.map(die_on_poison, range(8), chunksize=1,
                           max_attempts=2, skip_failed=True)
    failed = expected_with_failure(results, [x * x for x in range(8)],
                                   POISON)
    assert "status 7" in failed.error  # the cause, from the cluster
    assert f"item {POISON}" in str(failed)


def test_a_chunk_that_kills_its_runner_is_split_until_the_item_is_alone(where):
    """One chunk of 8 items: the cluster halves it until the poison item
    runs alone, and only that item is reported failed."""
    with tq.Pool(2 if not where else None, broker=where) as pool:
        results = pool.map(die_on_poison, range(8), chunksize=8,
                           max_attempts=2, skip_failed=True)
    failed = expected_with_failure(results, [x * x for x in range(8)],
                                   POISON)
    assert "status 7" in failed.error


def test_without_skip_failed_the_item_fails_the_job(where):
    with tq.Pool(2 if not where else None, broker=where) as pool:
        with pytest.raises(tq.JobFailedError, match=rf"item {POISON} .*status 7"):
            pool.map(die_on_poison, range(8), max_attempts=1)
        # The same pool runs the next job.
        assert pool.map(abs, [-1, -2]) == [1, 2]


def test_skip_failed_streams_through_imap_and_imap_unordered(shared_cluster):
    with tq.Pool(broker=shared_cluster.address) as pool:
        ordered = list(pool.imap(die_on_poison, iter(range(6)), chunksize=1,
                                 max_attempts=1, skip_failed=True))
        unordered = list(pool.imap_unordered(
            die_on_poison, range(6), chunksize=2, max_attempts=1,
            skip_failed=True))
    expected_with_failure(ordered, [x * x for x in range(6)], POISON)
    # The chunk of 2 holding the poison item is split: only it fails.
    failed = [r for r in unordered if isinstance(r, tq.ItemFailed)]
    assert [f.index for f in failed] == [POISON]
    assert failed[0].error.startswith(f"item {POISON} ")
    assert sorted(r for r in unordered if not isinstance(r, tq.ItemFailed)) \
        == [x * x for x in range(6) if x != POISON]


def test_skip_failed_in_starmap_and_the_async_forms(shared_cluster, tmp_path):
    log = str(tmp_path / "attempts")
    args = [(x, log) for x in range(5)]
    want = [x * x for x in range(5)]
    with tq.Pool(broker=shared_cluster.address) as pool:
        expected_with_failure(
            pool.starmap(die_on_poison_counting, args, chunksize=1,
                         max_attempts=1, skip_failed=True), want, POISON)
        async_map = pool.map_async(die_on_poison, range(5), chunksize=1,
                                   max_attempts=1, skip_failed=True)
        async_star = pool.starmap_async(die_on_poison_counting, args,
                                        chunksize=1, max_attempts=1,
                                        skip_failed=True)
        expected_with_failure(async_map.get(60), want, POISON)
        expected_with_failure(async_star.get(60), want, POISON)


# ----------------------------------------------------------- max_attempts --

def test_max_attempts_is_how_often_a_poison_item_runs(shared_cluster,
                                                      tmp_path):
    log = tmp_path / "attempts"
    with tq.Pool(broker=shared_cluster.address) as pool:
        results = pool.starmap(die_on_poison_counting,
                               [(x, str(log)) for x in range(5)],
                               chunksize=1, max_attempts=3, skip_failed=True)
    failed = expected_with_failure(results, [x * x for x in range(5)], POISON)
    assert "3 times" in failed.error
    assert log.read_text().count("attempt") == 3


def test_the_pools_max_attempts_is_the_default_and_a_call_overrides_it(
        shared_cluster, tmp_path):
    log = tmp_path / "attempts"
    args = [(POISON, str(log))]
    with tq.Pool(broker=shared_cluster.address, max_attempts=1) as pool:
        pool.starmap(die_on_poison_counting, args, skip_failed=True)
        assert log.read_text().count("attempt") == 1
        pool.starmap(die_on_poison_counting, args, max_attempts=2,
                     skip_failed=True)
        assert log.read_text().count("attempt") == 1 + 2


# ---------------------------------------------------------- chunk_timeout --

@pytest.fixture(scope="module")
def one_worker():
    """A broker and a single 1-thread worker: no speculative copy of a
    straggler can run elsewhere (see the test below)."""
    with Cluster(workers=1) as cluster:
        yield cluster


@pytest.mark.parametrize("embedded", [True, False])
def test_chunk_timeout_gives_up_a_hanging_item(embedded, one_worker):
    start = time.monotonic()
    where = "" if embedded else one_worker.address
    with tq.Pool(1 if embedded else None, broker=where) as pool:
        # The limit counts from the hand-out, a runner's start-up included
        # (~0.1-1 s on a busy 2-core host): keep it well above that.
        results = pool.map(hang_on_last, range(HANG + 1), chunksize=1,
                           chunk_timeout=3, max_attempts=1,
                           skip_failed=True)
    failed = expected_with_failure(results, list(range(HANG + 1)), HANG)
    assert "run limit of 3000 ms" in failed.error
    assert time.monotonic() - start < 30  # the runner was killed, not waited


def test_chunk_timeout_of_the_pool_fails_the_job_without_skip_failed(
        one_worker):
    with tq.Pool(broker=one_worker.address, chunk_timeout=2,
                 max_attempts=1) as pool:
        with pytest.raises(tq.JobFailedError, match="run limit of 2000 ms"):
            pool.map(hang_on_last, [HANG])


def test_chunk_timeout_gives_up_even_when_a_copy_runs_elsewhere(
        shared_cluster):
    with tq.Pool(broker=shared_cluster.address) as pool:
        results = pool.map(hang_on_last, range(HANG + 1), chunksize=1,
                           chunk_timeout=3, max_attempts=1, skip_failed=True,
                           job_timeout=12)
    expected_with_failure(results, list(range(HANG + 1)), HANG)


# ------------------------------------------------------------ job_timeout --

def test_job_timeout_per_call_raises_job_timeout_error(where):
    start = time.monotonic()
    with tq.Pool(2 if not where else None, broker=where) as pool:
        with pytest.raises(tq.JobTimeoutError, match="timeout") as error:
            pool.map(hang_on_last, [HANG], job_timeout=0.5)
        assert isinstance(error.value, TimeoutError)
        with pytest.raises(TimeoutError):
            list(pool.imap_unordered(hang_on_last, [HANG],
                                     job_timeout=0.5))
        assert pool.map(abs, [-3]) == [3]  # the pool goes on
    assert time.monotonic() - start < 30


def test_a_calls_job_timeout_overrides_the_pools(shared_cluster):
    with tq.Pool(broker=shared_cluster.address, job_timeout=0.2) as pool:
        assert pool.map(sleep_then, [1.0], job_timeout=60) == [1.0]
        with pytest.raises(tq.JobTimeoutError):
            pool.map(sleep_then, [30.0])


# ------------------------------------------------------------ user errors --

def test_an_exception_in_the_function_fails_the_job_even_with_skip_failed(
        where):
    with tq.Pool(2 if not where else None, broker=where) as pool:
        with pytest.raises(KeyError):
            pool.map(raise_on_poison, range(6), max_attempts=4,
                     skip_failed=True)


# ------------------------------------------------------- built-in tasks --

@pytest.fixture(scope="module")
def test_task_cluster():
    """A broker and one worker offering the test-only task 'crash'."""
    with Cluster(workers=1, broker_flags=(),
                 worker_flags=("--enable-test-tasks",)) as cluster:
        yield cluster


def test_a_built_in_tasks_failing_item_is_skipped(test_task_cluster):
    params = {"items": "7", "mode": "throw"}
    with tq.Pool(broker=test_task_cluster.address) as pool:
        results = pool.map("crash", range(1, 11), params=params,
                           max_attempts=2, skip_failed=True)
        failed = expected_with_failure(results, list(range(1, 11)), 6)
        assert "2 times" in failed.error
        with pytest.raises(tq.JobFailedError, match="item 6 "):
            pool.map("crash", range(1, 11), params=params, max_attempts=1)
        # A count cannot say which items it missed: no skip_failed there.
        with pytest.raises(TypeError):
            pool.count("crash", range(1, 11), params=params,
                       skip_failed=True)


# ------------------------------------------------- arguments, ItemFailed --

@pytest.mark.parametrize("kwargs", [
    {"chunk_timeout": 0}, {"chunk_timeout": -1.0},
    {"chunk_timeout": float("nan")}, {"job_timeout": 0},
    {"job_timeout": float("inf")}, {"max_attempts": 0},
    {"max_attempts": 1.5}, {"max_attempts": True}, {"max_attempts": 2**32},
])
def test_bad_limits_are_value_errors(kwargs):
    with tq.Pool(1) as pool:
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            pool.map(abs, [1], **kwargs)
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        tq.Pool(1, **kwargs)


def test_skip_failed_must_be_a_bool():
    with tq.Pool(1) as pool:
        with pytest.raises(TypeError, match="skip_failed"):
            pool.map(abs, [1], skip_failed="yes")


def test_item_failed_is_a_job_failed_error_that_pickles():
    failed = tq.ItemFailed(3, "item 3 of job 1 failed 4 times; last error: x")
    assert isinstance(failed, tq.JobFailedError)
    assert isinstance(failed, tq.TqError)
    assert str(failed) == failed.error
    assert failed == pickle.loads(pickle.dumps(failed))
    assert failed != tq.ItemFailed(4, failed.error)
    assert "index=3" in repr(failed)
    assert "ItemFailed" in tq.__all__


# ------------------------------------- jobs outliving a client or broker --

def slow_square(x):
    """x*x after 2 ms of work."""
    time.sleep(0.002)
    return x * x


def test_a_python_job_survives_its_broker_killed_half_way(tmp_path):
    """The function, its initializer and the streamed input are journaled:
    a broker restarted on its journal resumes the job, and map returns
    every result once, in order."""
    liveness = ("--heartbeat-interval-ms=200", "--heartbeat-timeout-ms=1000")
    with Cluster(workers=2, broker_flags=(
            "--allow-code=python", f"--journal={tmp_path / 'journal'}",
            *liveness)) as cluster:
        with tq.Pool(broker=cluster.address) as pool:
            result = pool.map_async(slow_square, range(2000), chunksize=20)

            def done_chunks() -> int:
                jobs = cluster.status().get("jobs", [])
                return int(jobs[0].get("chunks_done", 0)) if jobs else 0

            wait_for(lambda: done_chunks() >= 30, 60, "a third of the job")
            cluster.restart_broker()
            assert result.get(timeout=120) == [x * x for x in range(2000)]
        assert "resumed 1 jobs" in cluster.broker.output()


def test_another_pool_attaches_to_a_job_and_reads_the_rest(shared_cluster):
    """imap's iterator names its job (job_id, token); another Pool (in a
    real case another process, after this one died) attaches and reads
    every result not yet acknowledged: together, each item at least once,
    in order, none missing. (The input must have been sent whole: 20
    chunks fit the job's window.)"""
    expected = [x * x for x in range(200)]
    with tq.Pool(broker=shared_cluster.address) as first, \
            tq.Pool(broker=shared_cluster.address) as second:
        it = first.imap(slow_square, range(200), chunksize=10)
        got = [next(it) for _ in range(100)]
        assert it.job_id is not None and len(it.token) == 32
        with pytest.raises(PermissionError):
            second.attach(it.job_id, "00" * 16)
        rest = list(second.attach(it.job_id, it.token))
        assert got == expected[:100]
        assert rest == expected[len(expected) - len(rest):]
        assert len(got) + len(rest) >= len(expected)
        with pytest.raises(tq.JobFailedError, match="attached by another"):
            list(it)
        with pytest.raises(ValueError, match="no job"):  # done, forgotten
            second.attach(it.job_id, it.token)
