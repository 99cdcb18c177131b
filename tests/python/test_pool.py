"""tq.Pool, embedded and on a real broker with two workers (`where`).

The functions below live in this test module, which workers cannot import:
they reach the workers by value, as a user's own modules do.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import textwrap
import threading
import time

import pytest

import tq
from tq_cluster import binary


def is_prime(n):
    """The seed's trial division (shared/baselines/seed_pool.py)."""
    if n <= 1:
        return False
    if n == 2:
        return True
    if n % 2 == 0:
        return False
    for i in range(3, int(n ** 0.5) + 1, 2):
        if n % i == 0:
            return False
    return True


def square(x):
    return x * x


def fails_on_13(x):
    if x == 13:
        raise ValueError(f"unlucky {x}")
    return x


class Unpicklable(Exception):
    def __init__(self, a, b):  # pickle cannot rebuild it from .args
        super().__init__(f"{a}/{b}")


def raises_unpicklable(x):
    raise Unpicklable(x, "b")


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x,
                                                                 other.y)


def mirrored(p):
    return Point(p.y, p.x)


def slow_identity(x):
    time.sleep(0.01)
    return x


def sleepy(seconds):
    time.sleep(seconds)
    return seconds


def expected_primes(lo, hi):
    return [is_prime(n) for n in range(lo, hi + 1)]


def test_map_is_an_ordered_list(pool):
    assert pool.map(is_prime, range(1, 5001)) == expected_primes(1, 5000)
    assert pool.map(square, [3, 1, 2]) == [9, 1, 4]
    assert pool.map(square, []) == []
    assert pool.map(square, (x for x in range(4))) == [0, 1, 4, 9]
    assert pool.map(square, range(0, 30, 7)) == [0, 49, 196, 441, 784]
    assert pool.map(square, range(-3, 0)) == [9, 4, 1]


def test_lambdas_and_closures(pool):
    offset = 100
    assert pool.map(lambda x: x + offset, [1, 2]) == [101, 102]

    def make_adder(k):
        return lambda x: x + k

    assert pool.map(make_adder(7), range(3)) == [7, 8, 9]


def test_function_from_a_module_only_the_client_has(pool, tmp_path,
                                                    monkeypatch):
    (tmp_path / "tq_client_side_only.py").write_text(textwrap.dedent("""
        import os
        SECRET = 41
        def helper(x):
            return x + SECRET
        def work(x):
            return (helper(x), os.path.basename(__file__))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import tq_client_side_only

    assert pool.map(tq_client_side_only.work, [1]) == [
        (42, "tq_client_side_only.py")]


def test_imap_streams_in_order_and_imap_unordered_gets_all(pool):
    iterator = pool.imap(square, range(1000))
    assert next(iterator) == 0
    assert list(iterator) == [x * x for x in range(1, 1000)]
    generator = (x for x in range(500))
    assert sorted(pool.imap_unordered(square, generator)) == [
        x * x for x in range(500)]
    assert list(pool.imap(square, [])) == []


def test_imap_next_with_timeout(pool):
    iterator = pool.imap(sleepy, [3])
    with pytest.raises(multiprocessing.TimeoutError):
        iterator.next(timeout=0.05)
    assert iterator.next(timeout=30) == 3  # the job went on


def test_starmap_and_its_async_form(pool):
    assert pool.starmap(pow, [(2, 10), (3, 5)]) == [1024, 243]
    result = pool.starmap_async(max, [(1, 5), (7, 2)])
    assert result.get(timeout=60) == [5, 7] and result.successful()


def test_apply_and_apply_async_with_callbacks(pool):
    assert pool.apply(pow, (2, 8)) == 256
    assert pool.apply(sorted, ([3, 1, 2],), {"reverse": True}) == [3, 2, 1]
    seen = []
    done = threading.Event()
    result = pool.apply_async(square, (12,),
                              callback=lambda v: (seen.append(v), done.set()))
    assert result.get(timeout=60) == 144
    assert done.wait(10) and seen == [144]
    assert result.ready() and result.successful()


def test_map_async_error_callback(pool):
    errors = []
    result = pool.map_async(fails_on_13, range(20),
                            error_callback=errors.append)
    result.wait(60)
    assert result.ready() and not result.successful()
    assert isinstance(errors[0], ValueError)
    with pytest.raises(ValueError, match="unlucky 13"):
        result.get()


def test_async_result_not_ready(pool):
    result = pool.apply_async(sleepy, (2,))
    with pytest.raises(ValueError):
        result.successful()
    with pytest.raises(multiprocessing.TimeoutError):
        result.get(timeout=0.01)
    assert result.get(timeout=60) == 2


def test_exception_names_the_item_with_its_remote_traceback(pool):
    with pytest.raises(ValueError, match="unlucky 13") as caught:
        pool.map(fails_on_13, range(100))
    error = caught.value
    assert any("item 13 of the input" in note for note in error.__notes__)
    assert isinstance(error.__cause__, tq.RemoteTraceback)
    assert "fails_on_13" in str(error.__cause__)
    assert 'raise ValueError(f"unlucky {x}")' in str(error.__cause__)


def test_exception_that_cannot_be_rebuilt_is_a_remote_error(pool):
    with pytest.raises(tq.RemoteError) as caught:
        pool.map(raises_unpicklable, [5])
    assert "Unpicklable" in str(caught.value)
    assert caught.value.item_index == 0


def test_instances_of_the_callers_classes_round_trip(pool):
    assert pool.map(mirrored, [Point(1, 2), Point(3, 4)]) == [
        Point(2, 1), Point(4, 3)]


def test_initializer_globals_reach_the_function(where):
    # multiprocessing's classic pattern, with functions shipped by value.
    namespace = {"__name__": "__main__"}
    exec(textwrap.dedent("""
        factor = None
        def init(value):
            global factor
            factor = value
        def scale(x):
            return factor * x
    """), namespace)
    with tq.Pool(2 if not where else None, namespace["init"], (3,),
                 broker=where) as pool:
        assert pool.map(namespace["scale"], range(5)) == [0, 3, 6, 9, 12]


def pid_of_runner(_):
    return os.getpid()


def test_maxtasksperchild_replaces_runners(where):
    with tq.Pool(2 if not where else None, maxtasksperchild=1,
                 broker=where) as pool:
        pids = pool.map(pid_of_runner, range(8), chunksize=1)
    assert len(set(pids)) == 8  # one runner per chunk


def test_job_timeout_cancels_the_job(where):
    with tq.Pool(2 if not where else None, broker=where,
                 job_timeout=0.5) as pool:
        started = time.monotonic()
        with pytest.raises(tq.JobTimeoutError) as caught:
            pool.map(sleepy, [30, 30])
        assert isinstance(caught.value, TimeoutError)
        assert time.monotonic() - started < 15


def test_count_builtin_task_and_function(pool):
    assert pool.count("primes", range(1, 10**6 + 1)) == 78498
    assert pool.count("primes", [2, 3, 4, 5, 9]) == 3
    assert pool.count("primes", (n for n in range(1, 1001))) == 168
    assert pool.count(is_prime, range(1, 1001)) == 168


def tq_client(*args):
    return subprocess.run([binary("tq-client"), *args], capture_output=True,
                          text=True, check=True, timeout=120).stdout


def test_builtin_tasks_equal_tq_client(pool):
    expected = [line.split("\t")[1] == "true"
                for line in tq_client("map", "primes", "1", "100000")
                .splitlines()]
    assert pool.map("primes", range(1, 100001)) == expected
    assert list(pool.imap("primes", range(1, 100001))) == expected
    numbers = [2**64 - 59, 2**61 - 1, 10**18 + 9, 4, 97]
    assert pool.map("primes", numbers) == [True, True, True, False, True]
    factors = tq_client("map", "factor", "1", "50", "--format=json")
    import json
    assert pool.map("factor", range(1, 51)) == [
        json.loads(line)["result"] for line in factors.splitlines()]
    assert pool.map("spin", [1, 2], params={"us": 1}) == [1, 2]
    with pytest.raises(ValueError, match="primes"):
        pool.map("no-such-task", [1])


def test_close_join_terminate(where):
    pool = tq.Pool(2 if not where else None, broker=where)
    result = pool.map_async(slow_identity, range(20))
    pool.close()
    with pytest.raises(ValueError, match="Pool not running"):
        pool.map(square, [1])
    pool.join()
    assert result.get(timeout=0) == list(range(20))
    pool.terminate()  # after join: harmless

    pool = tq.Pool(2 if not where else None, broker=where)
    with pytest.raises(ValueError, match="still running"):
        pool.join()
    pending = pool.apply_async(sleepy, (60,))
    pool.terminate()
    with pytest.raises(tq.JobCancelledError):
        pending.get(timeout=30)


def test_pool_facts_and_repr(pool, where):
    assert pool.embedded == (where == "")
    assert "primes" in pool.tasks
    assert pool.worker_threads >= 1
    assert "tq.Pool" in repr(pool)
    with pytest.raises(NotImplementedError):
        import pickle
        pickle.dumps(pool)


def test_bad_arguments_fail_as_in_multiprocessing():
    with pytest.raises(ValueError):
        tq.Pool(0)
    with pytest.raises(ValueError):
        tq.Pool(maxtasksperchild=0)
    with pytest.raises(TypeError):
        tq.Pool(initializer=42)


def test_unreachable_broker_is_a_connection_error():
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="tcp://127.0.0.1:1"):
        tq.Pool(broker="tcp://127.0.0.1:1", connect_timeout=0.3)
    assert time.monotonic() - started < 10
