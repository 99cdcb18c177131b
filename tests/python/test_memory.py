"""Lazy input with bounded memory: a generator of 10**7 items streams
through imap_unordered with the client's peak RSS at most 64 MiB above that
for 10**5 items. Each run is a fresh process (peak RSS only grows)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tq_cluster import Cluster

SCRIPT = textwrap.dedent("""
    import sys, tq
    items, broker = int(sys.argv[1]), sys.argv[2]

    def work(x):
        return x + 1

    total = 0
    with tq.Pool(broker=broker) as pool:
        for result in pool.imap_unordered(work, (i for i in range(items))):
            total += result
    assert total == items * (items + 1) // 2, total
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                print(int(line.split()[1]) // 1024)  # MiB
""")


def peak_rss_mib(items: int, broker: str) -> int:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(items), broker],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1])


@pytest.fixture(scope="module")
def cluster():
    with Cluster(workers=2) as c:
        yield c


def test_generator_input_keeps_client_memory_bounded(cluster):
    small = peak_rss_mib(10**5, cluster.address)
    large = peak_rss_mib(10**7, cluster.address)
    print(f"peak RSS: 10^5 items {small} MiB, 10^7 items {large} MiB")
    assert large - small <= 64
