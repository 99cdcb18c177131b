"""Failures on a real cluster, each with its own broker and workers: runner
crashes, a killed worker, cancellation killing runners, code refused, and a
Python version no worker offers."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import tq
from tq_cluster import Cluster, pid_alive, wait_for


def crash_once(item, marker):
    """Kills its runner the first time any runner gets here."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return item * 2
    os.close(fd)
    os._exit(3)


def crash_always(item):
    os._exit(4)


def record_pid_and_sleep(path):
    with open(path, "w") as out:
        out.write(str(os.getpid()))
    time.sleep(120)


def slow_square(x):
    time.sleep(0.05)
    return x * x


def read_pid(path):
    def ready():
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        return int(text) if text else None
    return wait_for(ready, 60, f"a runner to write {path}")


def assert_gone_within_one_second(pid):
    wait_for(lambda: not pid_alive(pid), 1.0, f"runner {pid} to die")


@pytest.fixture(scope="module")
def cluster():
    with Cluster(workers=2) as c:
        yield c


def test_transient_runner_crash_is_retried(cluster, tmp_path):
    marker = str(tmp_path / "crashed")
    with tq.Pool(broker=cluster.address) as pool:
        assert pool.starmap(crash_once, [(i, marker) for i in range(6)],
                            chunksize=2) == [0, 2, 4, 6, 8, 10]
    assert os.path.exists(marker)


def test_permanent_runner_crash_fails_naming_the_item(cluster):
    with tq.Pool(broker=cluster.address) as pool:
        with pytest.raises(tq.JobFailedError, match=r"item 0 .*failed") as e:
            pool.map(crash_always, [1])
    assert "4" in str(e.value)  # the exit status shows


def test_terminate_kills_the_running_runner_within_a_second(cluster,
                                                            tmp_path):
    path = str(tmp_path / "pid")
    pool = tq.Pool(broker=cluster.address)
    result = pool.apply_async(record_pid_and_sleep, (path,))
    pid = read_pid(path)
    pool.terminate()
    assert_gone_within_one_second(pid)
    with pytest.raises(tq.JobCancelledError):
        result.get(timeout=10)


def test_future_cancel_kills_its_runner_within_a_second(cluster, tmp_path):
    path = str(tmp_path / "pid")
    with tq.Executor(broker=cluster.address) as ex:
        future = ex.submit(record_pid_and_sleep, path)
        pid = read_pid(path)
        assert future.cancel()
        assert_gone_within_one_second(pid)


def test_closing_an_imap_kills_its_runner(cluster, tmp_path):
    path = str(tmp_path / "pid")
    with tq.Pool(broker=cluster.address) as pool:
        iterator = pool.imap(record_pid_and_sleep, [path])
        with pytest.raises(multiprocessing.TimeoutError):
            iterator.next(timeout=0.01)
        pid = read_pid(path)
        iterator.close()
        assert_gone_within_one_second(pid)


def test_leaving_with_on_an_exception_cancels(cluster, tmp_path):
    path = str(tmp_path / "pid")
    with pytest.raises(RuntimeError):
        with tq.Pool(broker=cluster.address) as pool:
            pool.apply_async(record_pid_and_sleep, (path,))
            pid = read_pid(path)
            raise RuntimeError("leaving")
    assert_gone_within_one_second(pid)


def test_ctrl_c_in_map_cancels_the_job(cluster, tmp_path):
    path = str(tmp_path / "pid")
    script = textwrap.dedent(f"""
        import os, time, tq
        def record(path):
            with open(path, "w") as out:
                out.write(str(os.getpid()))
            time.sleep(120)
        with tq.Pool(broker={cluster.address!r}) as pool:
            try:
                pool.map(record, [{path!r}])
            except KeyboardInterrupt:
                print("interrupted", flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", script],
                             stdout=subprocess.PIPE, text=True)
    try:
        pid = read_pid(path)
        child.send_signal(signal.SIGINT)
        assert_gone_within_one_second(pid)
        out, _ = child.communicate(timeout=30)
        assert "interrupted" in out
    finally:
        child.kill()
        child.wait()


def test_killed_worker_still_gives_the_exact_result(tmp_path):
    with Cluster(workers=2) as cluster:
        with tq.Pool(broker=cluster.address) as pool:
            iterator = pool.imap(slow_square, range(200), chunksize=5)
            first = [next(iterator) for _ in range(10)]
            cluster.workers[0].kill(signal.SIGKILL)
            rest = list(iterator)
    assert first + rest == [x * x for x in range(200)]


def test_broker_without_allow_code_refuses_naming_the_flag():
    with Cluster(workers=1, broker_flags=()) as cluster:
        with tq.Pool(broker=cluster.address) as pool:
            with pytest.raises(tq.CodeRefusedError,
                               match="--allow-code=python") as caught:
                pool.map(abs, [-1])
            assert isinstance(caught.value, PermissionError)
            assert pool.map("primes", [7]) == [True]  # tasks still run


def test_worker_without_allow_code_leaves_the_job_waiting_and_says_why():
    with Cluster(workers=1, worker_flags=()) as cluster:
        with tq.Pool(broker=cluster.address) as pool:
            result = pool.apply_async(abs, (-5,))

            def waiting_job():
                jobs = pool.status().get("jobs", [])
                return jobs and jobs[0]["state"] == \
                    "STATE_WAITING_FOR_CAPABLE_WORKER" and jobs[0]
            job = wait_for(waiting_job, 30, "the job to wait for a worker")
            assert "--allow-code=python" in job["waiting_for"]
            assert "python 3.11" in job["waiting_for"] or \
                f"python {sys.version_info[0]}." in job["waiting_for"]
            status = subprocess.run(
                [os.environ["TQ_CLIENT_BIN"], f"--broker={cluster.address}",
                 "status"], capture_output=True, text=True, timeout=30).stdout
            assert "--allow-code=python" in status
            with pytest.raises(Exception) as caught:
                result.get(timeout=0.5)
            assert type(caught.value).__name__ == "TimeoutError"


def test_version_mismatch_names_both_versions():
    mine = "%d.%d" % sys.version_info[:2]
    with Cluster(workers=1,
                 worker_env={"TQ_TEST_PYTHON_VERSION": "3.9"}) as cluster:
        with tq.Pool(broker=cluster.address) as pool:
            with pytest.raises(tq.VersionMismatchError) as caught:
                pool.map(abs, [-1])
    assert mine in str(caught.value) and "3.9" in str(caught.value)
