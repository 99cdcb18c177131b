"""Multi-host: broker, two workers and a client each on its own simulated
host (tq_hosts). A job can only finish if workers on other hosts do its
chunks: a built-in task from tq-client, and a Python function from tq.Pool
(shipped by value from the client host; the workers run it in their
runners). Then a worker host is cut off mid-job and healed: the result is
still exact."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tq_cluster_hosts import Binaries, TqHosts
from tq_hosts import Network, wait_for

pytestmark = pytest.mark.usefixtures("hosts_available")

PYTHON = "/usr/bin/python3"

JOB = textwrap.dedent("""
    import sys
    import tq

    def collatz_steps(n):
        steps = 0
        while n != 1:
            n = n // 2 if n % 2 == 0 else 3 * n + 1
            steps += 1
        return steps

    with tq.Pool(broker=sys.argv[1]) as pool:
        remote = pool.map(collatz_steps, range(1, 20001), chunksize=500)
    local = [collatz_steps(n) for n in range(1, 20001)]
    assert remote == local, "remote results differ from local ones"
    print(sum(remote))
""")


@pytest.fixture
def cluster(tmp_path: Path):
    """Hosts b (broker), w1, w2 (workers, Python allowed) and c (clients)."""
    python_dir = os.environ.get("TQ_PYTHON_DIR", "")
    env = dict(os.environ, PYTHONPATH=python_dir)
    with Network(["b", "w1", "w2", "c"]) as net:
        # Code is allowed beyond loopback here only because these hosts
        # exist inside this test alone (the flag says so).
        tq = TqHosts(net, Binaries.from_env(), tmp_path / "logs", "b",
                     ["--allow-code=python", "--allow-code-insecure"])
        tq.start_broker()
        for host in ("w1", "w2"):
            tq.start_worker(host, ["--threads=1", "--allow-code=python",
                                   f"--python={PYTHON}"], env=env)
        tq.wait_workers(2)
        yield tq
        for log in sorted((tmp_path / "logs").glob("*.log")):
            print(f"--- {log.name}\n{log.read_text()[-3000:]}")


def _client(tq: TqHosts, args: list[str], timeout: float = 60) -> str:
    done = tq.net["c"].check(tq.client_command(args), timeout=timeout,
                             check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_builtin_task_across_hosts(cluster: TqHosts) -> None:
    assert _client(cluster, ["map", "primes", "1", "1000000",
                             "--format=count"]).strip() == "78498"
    remote = _client(cluster, ["map", "factor", "1", "20000",
                               "--chunk-size=500"])
    local = subprocess.run([cluster.bins.client, "map", "factor", "1",
                            "20000"], capture_output=True, text=True,
                           timeout=60, check=True).stdout
    assert remote.splitlines() == local.splitlines(), \
        "results across hosts differ from embedded"


def test_python_function_across_hosts(cluster: TqHosts,
                                      tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text(JOB)
    env = dict(os.environ, PYTHONPATH=os.environ.get("TQ_PYTHON_DIR", ""))
    done = subprocess.run(
        cluster.net["c"].command([PYTHON, str(tmp_path / "job.py"),
                                  cluster.endpoint]),
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1834634"


def test_exact_after_a_worker_host_is_cut_and_healed(
        cluster: TqHosts) -> None:
    # spin burns 1 ms per item: 3000 items on 2 one-thread workers run ~1.5 s
    # undisturbed, so the cut lands in mid-job.
    client = cluster.client(
        ["map", "spin", "1", "3000", "--param=us=1000", "--chunk-size=20",
         "--progress=never"],
        host=cluster.net["c"], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (cluster.status() or {}).get("jobs"), 10,
             "the job to start")
    cluster.net["w1"].cut()
    time.sleep(3)  # the length of the fault, not a synchronisation
    cluster.net["w1"].heal()
    out, err = client.popen.communicate(timeout=90)
    assert client.popen.returncode == 0, err
    want = [f"{n}\t{n}" for n in range(1, 3001)]
    got = out.splitlines()
    first_bad = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w),
                     None)
    assert first_bad is None and len(got) == len(want), (
        f"{len(got)} lines (want {len(want)}); first difference at line "
        f"{first_bad}: {got[first_bad:first_bad + 3] if first_bad is not None else ''}")
