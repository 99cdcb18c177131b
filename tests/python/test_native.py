"""tq._native: the binding itself, on the embedded cluster.

What the pure-Python layer relies on: connect and a pool's facts, task and
code submission, poll events, chunk data, errors carrying status codes, the
GIL released while waiting, Ctrl-C reaching a wait, a closed pool failing
its jobs cleanly, and a module exporting nothing but PyInit__native.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import cloudpickle
import pytest

import tq
from tq import _native

VERSION = "%d.%d" % sys.version_info[:2]
# How the embedded worker runs Python: this interpreter, this tq package.
EMBEDDED_PYTHON = (sys.executable, VERSION, "CPython, for tests",
                   os.path.dirname(os.path.dirname(tq.__file__)))


@pytest.fixture(scope="module")
def native_pool():
    pool = _native.connect(embedded_threads=2, python=EMBEDDED_PYTHON)
    yield pool
    pool.close()


def drain(job, ordered=True):
    chunks = []
    while True:
        kind, chunk = job.poll(ordered, 30)
        if kind == _native.DONE:
            return chunks
        assert kind == _native.RESULT, kind
        chunks.append(chunk)


def test_pool_facts(native_pool):
    assert native_pool.embedded
    assert native_pool.worker_threads == 2
    assert native_pool.endpoint.startswith("inproc://")
    assert {"primes", "factor", "spin", "noop"} <= set(native_pool.tasks)
    assert native_pool.code_runtimes == ["python"]
    assert not native_pool.closed


def test_task_over_range_gives_bits_as_bools_and_count(native_pool):
    chunks = drain(native_pool.submit_task("primes", range=(1, 100)))
    bools = [b for c in chunks for b in c.bools()]
    numbers = [n for c in chunks for n in c.numbers()]
    assert numbers == list(range(1, 101))
    assert [n for n, b in zip(numbers, bools) if b][:5] == [2, 3, 5, 7, 11]
    assert sum(c.count() for c in chunks) == 25
    assert chunks[0].kind == "bits" and chunks[0].byte_size == 0
    assert len(chunks[0].bits()) == (chunks[0].size + 7) // 8


def test_task_count_reduction(native_pool):
    chunks = drain(native_pool.submit_task("primes", range=(1, 10**6),
                                           count=True), ordered=False)
    assert {c.kind for c in chunks} == {"count"}
    assert sum(c.count() for c in chunks) == 78498


def test_task_over_numbers_values_and_lists(native_pool):
    chunks = drain(native_pool.submit_task("factor", numbers=[12, 1, 97]))
    assert [x for c in chunks for x in c.lists()] == [[2, 2, 3], [], [97]]
    chunks = drain(native_pool.submit_task("spin", numbers=[5, 6],
                                           params={"us": "1"}))
    assert chunks[0].kind == "values"
    assert [x for c in chunks for x in c.values()] == [5, 6]  # its items
    with pytest.raises(TypeError):
        chunks[0].bools()


def test_streamed_task_input(native_pool):
    job = native_pool.submit_task("primes", streamed=True)
    feed = [[2, 3, 4], [5, 6], [7]]
    results = []
    while True:
        kind, chunk = job.poll(True, 30)
        if kind == _native.INPUT_ROOM:
            if feed:
                job.append(feed.pop(0))
            else:
                job.end_input()
        elif kind == _native.RESULT:
            results += chunk.bools()
        else:
            assert kind == _native.DONE
            break
    assert results == [True, True, False, True, False, True]


def test_code_job_ranges_and_encoded_items(native_pool):
    function = cloudpickle.dumps(lambda x: x * 10)
    items = cloudpickle.dumps([7, 8])
    job = native_pool.submit_code(
        function, runtime_version=VERSION,
        first_chunks=[(1, 3), (items, 2)], complete=True)
    chunks = drain(job)
    assert [c.kind for c in chunks] == ["bytes", "bytes"]
    assert [c.first_item for c in chunks] == [0, 3]
    import pickle
    assert [pickle.loads(c.data()) for c in chunks] == [[10, 20, 30], [70, 80]]
    assert all(c.byte_size == len(c.data()) for c in chunks)


def test_errors_carry_status_code(native_pool):
    with pytest.raises(_native.Error) as caught:
        native_pool.submit_task("no-such-task", range=(1, 2))
    assert caught.value.code in (3, 5)  # INVALID_ARGUMENT / NOT_FOUND
    assert "primes" in str(caught.value)  # lists the offered tasks
    with pytest.raises(_native.Error) as caught:
        _native.connect(broker="tcp://127.0.0.1:1", connect_timeout_ms=200)
    assert caught.value.code_name == "UNAVAILABLE"
    assert "tcp://127.0.0.1:1" in str(caught.value)
    with pytest.raises(ValueError):
        native_pool.submit_task("primes", numbers=[-1])
    with pytest.raises(ValueError):
        native_pool.submit_task("primes", range=(1, 2), numbers=[1])


def test_user_code_error_details(native_pool):
    def fails(x):
        if x == 5:
            raise KeyError("five")
        return x

    job = native_pool.submit_code(
        cloudpickle.dumps(fails),
        runtime_version=VERSION,
        first_chunks=[(1, 3), (4, 6)], complete=True)
    with pytest.raises(_native.Error) as caught:
        drain(job)
    assert caught.value.code_name == "ABORTED"
    chunk_index, first_item, details = job.user_code_error()
    assert (chunk_index, first_item) == (1, 3)
    import pickle
    info = pickle.loads(details)
    assert info["item_offset"] == 1 and info["type"] == "KeyError"


def test_poll_releases_the_gil(native_pool):
    job = native_pool.submit_task("spin", range=(1, 4), chunk_size=1,
                                  params={"us": "300000"})
    ticks = []
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        drain(job)
    finally:
        stop.set()
        counter.join()
    assert len(ticks) > 50  # the other thread ran while poll() waited


def test_ctrl_c_reaches_a_waiting_poll(native_pool):
    job = native_pool.submit_task("spin", range=(1, 2), chunk_size=1,
                                  params={"us": "5000000"})
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        job.poll(True, 30)
    assert time.monotonic() - started < 2
    job.cancel()
    with pytest.raises(_native.Error) as caught:
        job.poll(True, 5)
    assert caught.value.code_name == "CANCELLED"


def test_closed_pool_fails_jobs_and_calls():
    pool = _native.connect(embedded_threads=1)
    job = pool.submit_task("spin", range=(1, 100), chunk_size=1,
                           params={"us": "100000"})
    waiter_error = []

    def wait():
        try:
            job.poll(True, 30)
            job.poll(True, 30)
        except _native.Error as error:
            waiter_error.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    pool.close()
    waiter.join(10)
    assert not waiter.is_alive()
    assert pool.closed
    assert waiter_error and waiter_error[0].code_name in (
        "CANCELLED", "FAILED_PRECONDITION")
    with pytest.raises(_native.Error):
        pool.submit_task("primes", range=(1, 2))
    with pytest.raises(_native.Error):
        job.poll(True, 1)
    pool.close()  # idempotent


def test_chunk_sizer_binding():
    sizer = _native.ChunkSizer(target_micros=10_000)
    assert sizer.next() == 1 and not sizer.measured
    sizer.observe_result(1, 2, 100)
    assert sizer.measured and sizer.next() == 4
    assert sizer.next(remaining=2, parallelism=1) == 2
    sizer.observe_input(10, 10 << 20)
    assert sizer.bytes_per_item == 1 << 20
    assert sizer.target_micros == 10_000


def test_module_exports_only_its_init_function():
    # Everything it links (tq, Abseil, protobuf) stays hidden inside, so it
    # cannot clash with other extensions (e.g. python3-protobuf).
    path = _native.__file__
    out = subprocess.run(["nm", "-D", "--defined-only", path],
                         capture_output=True, text=True, check=True).stdout
    names = [line.split()[-1] for line in out.splitlines() if line.strip()]
    assert names == ["PyInit__native"]


def test_coexists_with_python_protobuf():
    pytest.importorskip("google.protobuf")
    code = ("import google.protobuf.descriptor_pb2 as d;"
            "from tq import _native;"
            "p = _native.connect(); d.FileDescriptorProto(name='x');"
            "print(sum(c.count() for c in []) + 1); p.close()")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
