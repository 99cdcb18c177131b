#!/usr/bin/env python3
"""tq's benchmarks (issue 2, part 9): targets, not tests. Everything is
measured in this one run and reported as ratios, because the machine is
shared and noisy.

    python3 bench/run_benchmarks.py [--build DIR] [--quick]

P1  tq-client map primes 1 100000 (embedded, whole process, output to
    /dev/null) vs the Python baseline seed_pool.py (multiprocessing.Pool.map).
P2  no-op chunks/s through a real broker + 2 workers on loopback, next to
    the raw ZeroMQ round-trip rate (bench/zmq_roundtrip); then the same
    with the broker's job journal (--journal), as a share of without.
P3  map primes 1 1e9 in packed-bitmap form through broker + 2 workers vs
    `primesieve 1e9 --count -t2`.
MEM peak RSS of broker and client for 1..1e11 vs 1..1e9 in count form.
P5  the seed's is_prime over range(1, 10**6 + 1) with tq.Pool().map
    (embedded) vs multiprocessing.Pool(2).map, each timed from entering
    `with` to the list returned (bench/python_bench.py).
P6  identity over list(range(10**6)): items/s through tq (embedded, and a
    broker + 2 workers with --threads=1) vs multiprocessing.Pool(2).map.
P7  pool.count("primes", range(1, 10**8 + 1)) from a python3 process vs
    tq-client map primes 1 100000000 --format=count, whole processes.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from processes import PYTHON, REPO, Cluster, python_env, run_quietly, timed

BASELINE = os.path.join(os.path.dirname(REPO), "shared", "baselines", "seed_pool.py")


def child_peak_rss_kib(cmd):
    """Runs cmd to completion; returns (seconds, its own peak RSS in KiB)."""
    seconds, usage = run_quietly(cmd)
    return seconds, usage.ru_maxrss


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(REPO, "build"))
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    build = args.build
    client = f"{build}/client/tq-client"
    runs = 3 if args.quick else 10

    # P1 ------------------------------------------------------------------
    tq_s = timed([client, "map", "primes", "1", "100000"], runs * 2)
    py_s = timed([sys.executable, BASELINE, "1", "100000", "pool"], max(3, runs // 2))
    print(f"P1 embedded map primes 1..1e5: tq {tq_s * 1000:.1f} ms, "
          f"python Pool.map {py_s * 1000:.1f} ms -> {py_s / tq_s:.1f}x faster "
          f"(target >= 20x)")

    # P2 ------------------------------------------------------------------
    raw = subprocess.run([f"{build}/bench/zmq_roundtrip", "300000", "64"],
                         capture_output=True, text=True, check=True).stdout
    raw_rate = float(raw.split()[1])
    cluster = Cluster(build)
    try:
        chunks = 200000
        # Warm-up connects the workers before timing.
        timed([client, f"--broker={cluster.endpoint}", "map", "noop", "1", "1000"], 1)
        s = timed([client, f"--broker={cluster.endpoint}", "map", "noop", "1",
                   str(chunks), "--chunk-size=1"], max(1, runs // 3))
        rate = chunks / s
        print(f"P2 no-op chunks through broker + 2 workers: {rate:,.0f} chunks/s; "
              f"raw ZeroMQ round trips {raw_rate:,.0f}/s -> {rate / raw_rate:.0%} of raw "
              f"(targets >= 100,000/s and >= 40%)")

        # P2 with the job journal (issue 8: target >= 80% of without) ----
        journal = tempfile.mkdtemp(prefix="tq-bench-journal-")
        journaled = Cluster(build, broker_args=[f"--journal={journal}"])
        try:
            timed([client, f"--broker={journaled.endpoint}", "map", "noop", "1",
                   "1000"], 1)
            s = timed([client, f"--broker={journaled.endpoint}", "map", "noop",
                       "1", str(chunks), "--chunk-size=1"], max(1, runs // 3))
        finally:
            journaled.close()
            shutil.rmtree(journal, ignore_errors=True)
        print(f"P2 with --journal: {chunks / s:,.0f} chunks/s -> "
              f"{chunks / s / rate:.0%} of without (target >= 80%)")

        # P3 --------------------------------------------------------------
        tq_s = timed([client, f"--broker={cluster.endpoint}", "map", "primes", "1",
                      "1000000000", "--format=bitmap"], max(1, runs // 3))
        ps_s = timed(["primesieve", "1e9", "--count", "-t2"], max(1, runs // 3))
        print(f"P3 primes 1..1e9 bitmap via broker + 2 workers: tq {tq_s:.2f} s, "
              f"primesieve --count -t2 {ps_s:.2f} s -> {tq_s / ps_s:.2f}x its time "
              f"(target <= 2x)")
    finally:
        cluster.close()

    # MEM -----------------------------------------------------------------
    rss = {}
    for hi in ("1000000000", "100000000000"):
        cluster = Cluster(build)
        try:
            secs, client_kib = child_peak_rss_kib(
                [client, f"--broker={cluster.endpoint}", "map", "primes", "1", hi,
                 "--format=count"])
            rss[hi] = (client_kib, cluster.broker_peak_rss_kib(), secs)
        finally:
            cluster.close()
    (c9, b9, s9), (c11, b11, s11) = rss["1000000000"], rss["100000000000"]
    print(f"MEM count 1..1e9 ({s9:.1f} s): client {c9 / 1024:.1f} MiB, broker "
          f"{b9 / 1024:.1f} MiB; 1..1e11 ({s11:.1f} s): client {c11 / 1024:.1f} MiB, "
          f"broker {b11 / 1024:.1f} MiB -> ratios {c11 / c9:.2f} / {b11 / b9:.2f} "
          f"(target: flat, ~1.0)")

    python_benchmarks(build, client, runs)


def python_benchmarks(build, client, runs):
    """P5, P6 and P7: tq's Python API against multiprocessing and tq-client,
    each pair interleaved so load on the machine hits both sides alike."""
    script = os.path.join(REPO, "bench", "python_bench.py")
    env = python_env(build)

    def measure(*args):
        out = subprocess.run([PYTHON, script, *args], env=env, check=True,
                             capture_output=True, text=True).stdout.split()
        return [float(x) for x in out]

    # P5 ------------------------------------------------------------------
    tq_s, mp_s = [], []
    for _ in range(max(3, runs // 2)):
        tq_s.append(measure("p5", "tq")[0])
        mp_s.append(measure("p5", "mp")[0])
    tq5, mp5 = statistics.median(tq_s), statistics.median(mp_s)
    print(f"P5 is_prime over 1..1e6: tq.Pool().map (embedded) {tq5:.3f} s, "
          f"multiprocessing.Pool(2).map {mp5:.3f} s -> {tq5 / mp5:.2f}x its time "
          f"(target <= 0.8x)")

    # P6 ------------------------------------------------------------------
    rates = {"tq embedded": [], "mp": []}
    for _ in range(max(3, runs // 2)):
        rates["tq embedded"].append(measure("p6", "tq")[1])
        rates["mp"].append(measure("p6", "mp")[1])
    cluster = Cluster(build, workers=2, threads=1, python=True)
    try:
        rates["tq broker + 2 workers"] = [
            measure("p6", "tq", cluster.endpoint)[1] for _ in range(max(3, runs // 2))]
    finally:
        cluster.close()
    mp6 = statistics.median(rates["mp"])
    for name in ("tq embedded", "tq broker + 2 workers"):
        rate = statistics.median(rates[name])
        print(f"P6 identity over list(range(1e6)), {name}: {rate:,.0f} items/s, "
              f"multiprocessing.Pool(2) {mp6:,.0f} items/s -> {rate / mp6:.2f}x "
              f"(target >= 1.0x)")

    # P7 ------------------------------------------------------------------
    count = ("import tq\n"
             "with tq.Pool() as pool:\n"
             "    print(pool.count('primes', range(1, 10**8 + 1)))\n")
    py_s, cl_s = [], []
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        for _ in range(runs):
            py_s.append(run_quietly([PYTHON, "-c", count])[0])
            cl_s.append(run_quietly([client, "map", "primes", "1", "100000000",
                                     "--format=count"])[0])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    py7, cl7 = statistics.median(py_s), statistics.median(cl_s)
    print(f"P7 count primes 1..1e8, whole processes: python3 + tq {py7 * 1000:.0f} ms, "
          f"tq-client {cl7 * 1000:.0f} ms -> {py7 / cl7:.2f}x its time "
          f"(target <= 1.2x)")


if __name__ == "__main__":
    main()
