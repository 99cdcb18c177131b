"""tq.Executor, a concurrent.futures.Executor, embedded and on a broker."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

import tq


def square(x):
    return x * x


def sleepy(seconds):
    time.sleep(seconds)
    return seconds


def boom(x):
    raise KeyError(x)


@pytest.fixture
def executor(where):
    with tq.Executor(2 if not where else None, broker=where) as ex:
        yield ex


def test_submit_and_result(executor):
    future = executor.submit(pow, 2, 10)
    assert isinstance(future, concurrent.futures.Future)
    assert future.result(timeout=60) == 1024
    assert executor.submit(sorted, [3, 1], reverse=True).result(60) == [3, 1]


def test_many_submits_stay_within_the_job_limit(executor):
    # More futures than the broker lets one client run jobs (64): the rest
    # wait in the executor.
    futures = [executor.submit(square, i) for i in range(150)]
    assert [f.result(timeout=120) for f in futures] == [
        i * i for i in range(150)]


def test_as_completed_and_wait(executor):
    futures = [executor.submit(sleepy, s) for s in (0.3, 0.0, 0.1)]
    done = [f.result() for f in concurrent.futures.as_completed(futures, 60)]
    assert sorted(done) == [0.0, 0.1, 0.3]
    finished, pending = concurrent.futures.wait(futures, timeout=60)
    assert len(finished) == 3 and not pending


def test_exception_in_a_future(executor):
    future = executor.submit(boom, "key")
    with pytest.raises(KeyError) as caught:
        future.result(timeout=60)
    assert isinstance(caught.value.__cause__, tq.RemoteTraceback)
    assert isinstance(future.exception(), KeyError)


def test_map_over_several_iterables_in_order(executor):
    assert list(executor.map(pow, [2, 3, 4], [1, 2, 3])) == [2, 9, 64]
    assert list(executor.map(square, range(200), chunksize=7)) == [
        x * x for x in range(200)]
    assert list(executor.map(square, [])) == []


def test_map_timeout(executor):
    results = executor.map(sleepy, [5], timeout=0.1)
    with pytest.raises(TimeoutError):
        next(results)


def test_shutdown_cancels_pending_futures(where):
    ex = tq.Executor(1, broker=where)
    first = ex.submit(sleepy, 0.5)
    queued = [ex.submit(sleepy, 0.5) for _ in range(3)]
    deadline = time.monotonic() + 30
    while not first.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    ex.shutdown(wait=True, cancel_futures=True)
    assert first.result(0) == 0.5
    assert all(f.cancelled() for f in queued)  # one call at a time
    with pytest.raises(RuntimeError):
        ex.submit(square, 1)


def test_cancel_a_running_future(executor):
    future = executor.submit(sleepy, 60)
    deadline = time.monotonic() + 30
    while not future.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert future.running()
    assert future.cancel()
    assert future.cancelled()
    with pytest.raises(concurrent.futures.CancelledError):
        future.result(timeout=5)


def test_initializer_and_max_tasks_per_child(where):
    def init(value):
        global tq_executor_test_value
        tq_executor_test_value = value

    def read(_):
        return tq_executor_test_value  # noqa: F821 - set by init

    with tq.Executor(2 if not where else None, broker=where,
                     initializer=init, initargs=("ready",),
                     max_tasks_per_child=1) as ex:
        assert ex.submit(read, 0).result(60) == "ready"
        assert list(ex.map(read, range(3))) == ["ready"] * 3
