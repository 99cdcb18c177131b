#!/usr/bin/env python3
"""tq's benchmarks (issues 2 and 9): targets, not tests. Everything is
measured in this one run and reported as ratios, because the machine is
shared and noisy.

    python3 bench/run_benchmarks.py [--build DIR] [--quick | --smoke] [--json=FILE]
    python3 bench/run_benchmarks.py --compare OLD.json NEW.json [--tolerance=0.10]

P1  tq-client map primes 1 100000 (embedded, whole process, output to
    /dev/null) vs the Python baseline seed_pool.py (multiprocessing.Pool.map);
    the same against its floor, bench/bare_client (a process linking
    tq-client's libraries whose main returns at once); tq-client --version
    vs /bin/true. The three tq-side commands and /bin/true take turns.
P2  no-op chunks/s through a real broker + 2 workers on loopback, next to
    the raw ZeroMQ round-trip rate (bench/zmq_roundtrip), and the broker's
    CPU time per chunk and per MB of results (8 bytes per no-op value);
    then the same with the broker's job journal (--journal), as a share of
    without.
P3  map primes 1 1e9 in packed-bitmap form through broker + 2 workers vs
    `primesieve 1e9 --count -t2`, with the broker's CPU time per chunk and
    per MB of the bitmap printed (125 MB; it travels as a 33 MB prime
    wheel); then embedded (no --broker), the bitmap and the count form,
    median of 5, each against primesieve.
MEM peak RSS of broker and client for 1..1e11 vs 1..1e9 in count form.
P5  the seed's is_prime over range(1, 10**6 + 1) with tq.Pool().map
    (embedded) vs multiprocessing.Pool(2).map, each timed from entering
    `with` to the list returned (bench/python_bench.py).
P6  identity over list(range(10**6)): items/s through tq (embedded, and a
    broker + 2 workers with --threads=1) vs multiprocessing.Pool(2).map.
P7  pool.count("primes", range(1, 10**8 + 1)) from a python3 process vs
    tq-client map primes 1 100000000 --format=count, whole processes.

The broker's CPU time is read from /proc before and after the timed runs:
unlike wall time it barely moves with load from other processes, so a
regression in the broker shows on a noisy machine. --json writes every
figure (see bench/measurements.py for the format) besides the text.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import shutil
import subprocess
import sys
import tempfile

from measurements import HIGHER, LOWER, Baseline, Measurement, Report, compare, load
from processes import (PYTHON, REPO, Cluster, client_stats, medians, python_env,
                       run_quietly, timed)

BASELINE = os.path.join(os.path.dirname(REPO), "shared", "baselines", "seed_pool.py")

# Every measurement a run records, in order; a run that misses one fails,
# and the CI smoke test (bench/smoke_test.py) checks the JSON against it.
MEASUREMENT_NAMES = (
    "p1_map_vs_python", "p1_map_vs_floor", "p1_version_vs_true",
    "p2_noop_vs_raw", "p2_broker_cpu_per_chunk", "p2_broker_cpu_per_mb",
    "p2_journal_vs_without",
    "p3_bitmap_broker_vs_primesieve", "p3_broker_cpu_per_chunk",
    "p3_broker_cpu_per_mb", "p3_bitmap_embedded_vs_primesieve",
    "p3_count_embedded_vs_primesieve",
    "mem_client_growth", "mem_broker_growth",
    "p5_is_prime_vs_multiprocessing", "p6_identity_embedded_vs_multiprocessing",
    "p6_identity_broker_vs_multiprocessing", "p7_count_python_vs_client",
)


@dataclasses.dataclass(frozen=True)
class Plan:
    """The sizes and repetitions of one mode of the benchmarks."""
    p1_hi: int            # P1: map primes 1..p1_hi
    p1_runs: int          # rounds of tq-client, floor, --version, /bin/true
    python_runs: int      # runs of seed_pool.py
    raw_roundtrips: int   # zmq_roundtrip's messages
    p2_chunks: int        # P2: one-item no-op chunks per job
    p2_runs: int
    p3_hi: int            # P3: primes 1..p3_hi
    p3_runs: int          # through the broker
    p3_embedded_runs: int
    mem_small: int        # MEM: count 1..mem_small vs 1..mem_big
    mem_big: int
    p5_hi: int            # P5: is_prime over 1..p5_hi
    p6_items: int         # P6: identity over that many items
    python_api_runs: int  # P5 and P6 runs per side
    p7_hi: int            # P7: count primes 1..p7_hi
    p7_runs: int


PLANS = {
    "full": Plan(p1_hi=10**5, p1_runs=20, python_runs=5, raw_roundtrips=300000,
                 p2_chunks=200000, p2_runs=3, p3_hi=10**9, p3_runs=3,
                 p3_embedded_runs=5, mem_small=10**9, mem_big=10**11,
                 p5_hi=10**6, p6_items=10**6, python_api_runs=5, p7_hi=10**8,
                 p7_runs=10),
    "quick": Plan(p1_hi=10**5, p1_runs=6, python_runs=3, raw_roundtrips=300000,
                  p2_chunks=200000, p2_runs=1, p3_hi=10**9, p3_runs=1,
                  p3_embedded_runs=5, mem_small=10**9, mem_big=10**11,
                  p5_hi=10**6, p6_items=10**6, python_api_runs=3, p7_hi=10**8,
                  p7_runs=3),
    # Every measurement once, at sizes that take milliseconds: proves the
    # script works (CI), says nothing about speed.
    "smoke": Plan(p1_hi=10**3, p1_runs=1, python_runs=1, raw_roundtrips=5000,
                  p2_chunks=2000, p2_runs=1, p3_hi=10**7, p3_runs=1,
                  p3_embedded_runs=1, mem_small=10**6, mem_big=10**8,
                  p5_hi=10**4, p6_items=10**4, python_api_runs=1, p7_hi=10**6,
                  p7_runs=1),
}

NOOP_VALUE_BYTES = 8  # a no-op result is one uint64 per item


def sci(n: int) -> str:
    """1000000000 -> '1e9' (powers of ten only; anything else as is)."""
    text = str(n)
    if n >= 10 and text.strip("0") == "1":
        return f"1e{len(text) - 1}"
    return text


def figure(x: float) -> str:
    """Three significant digits, never an exponent: 1460.2 -> '1,460'."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def measure_p1(report: Report, plan: Plan, build: str, client: str) -> None:
    """P1: the small job as a whole process, against Python, its floor and
    /bin/true."""
    hi = sci(plan.p1_hi)
    t = medians({"map": [client, "map", "primes", "1", str(plan.p1_hi)],
                 "floor": [f"{build}/bench/bare_client"],
                 "version": [client, "--version"],
                 "true": ["/bin/true"]}, plan.p1_runs)
    py_s = timed([sys.executable, BASELINE, "1", str(plan.p1_hi), "pool"],
                 plan.python_runs)
    report.record(Measurement(
        "p1_map_vs_python", f"P1 tq-client map primes 1 {hi} (embedded) vs seed_pool.py",
        t["map"] * 1000, "ms", HIGHER, Baseline("seed_pool.py Pool.map", py_s * 1000, "ms"),
        py_s / t["map"], "x faster", ">= 40x", plan.p1_runs),
        f"P1 embedded map primes 1..{hi}: tq {t['map'] * 1000:.1f} ms, "
        f"python Pool.map {py_s * 1000:.1f} ms -> {py_s / t['map']:.1f}x faster "
        f"(target >= 40x)")
    report.record(Measurement(
        "p1_map_vs_floor", f"P1 tq-client map primes 1 {hi} vs a bare process "
        "linking the same libraries", t["map"] * 1000, "ms", LOWER,
        Baseline("bench/bare_client", t["floor"] * 1000, "ms"),
        t["map"] / t["floor"], "x its time", "<= 2x", plan.p1_runs),
        f"P1 floor, a process linking tq-client's libraries that returns at once: "
        f"{t['floor'] * 1000:.1f} ms -> tq-client map is {t['map'] / t['floor']:.2f}x "
        f"its time (target <= 2x)")
    report.record(Measurement(
        "p1_version_vs_true", "tq-client --version vs /bin/true",
        t["version"] * 1000, "ms", LOWER, Baseline("/bin/true", t["true"] * 1000, "ms"),
        t["version"] / t["true"], "x its time", "", plan.p1_runs),
        f"P1 tq-client --version {t['version'] * 1000:.1f} ms, /bin/true "
        f"{t['true'] * 1000:.1f} ms -> {t['version'] / t['true']:.2f}x its time "
        f"(no target of its own: the floor above bounds it)")


def broker_cpu(report: Report, part: str, cpu_s: float, chunks: int,
               result_bytes: int, what_bytes: str, runs: int) -> None:
    """Records the broker's CPU time per chunk and per MB of results, and
    prints them on one line."""
    per_chunk_us = cpu_s / max(chunks, 1) * 1e6
    per_mb_ms = cpu_s * 1000 / max(result_bytes / 1e6, 1e-9)
    report.record(Measurement(
        f"{part}_broker_cpu_per_chunk", f"{part.upper()} tq-broker CPU time per chunk",
        per_chunk_us, "us/chunk", LOWER, runs=runs))
    report.record(Measurement(
        f"{part}_broker_cpu_per_mb", f"{part.upper()} tq-broker CPU time per MB of "
        f"results ({what_bytes})", per_mb_ms, "ms/MB", LOWER, runs=runs),
        f"{part.upper()} broker CPU {cpu_s * 1000:.0f} ms: {figure(per_chunk_us)} us per "
        f"chunk ({chunks:,} chunks), {figure(per_mb_ms)} ms per MB of results "
        f"({result_bytes / 1e6:.3g} MB, {what_bytes}; no target: compare runs)")


def measure_p2_p3(report: Report, plan: Plan, build: str, client: str) -> None:
    """P2 and P3 through a broker + 2 workers, then P3 embedded."""
    raw = subprocess.run([f"{build}/bench/zmq_roundtrip", str(plan.raw_roundtrips), "64"],
                         capture_output=True, text=True, check=True).stdout
    raw_rate = float(raw.split()[1])
    chunks = plan.p2_chunks
    with Cluster(build) as cluster:
        broker = f"--broker={cluster.endpoint}"
        noop = [client, broker, "map", "noop", "1", str(chunks), "--chunk-size=1"]
        # Warm-up connects the workers before timing.
        timed([client, broker, "map", "noop", "1", "1000"], 1)
        cpu0 = cluster.broker_cpu_seconds()
        seconds, seen = [], 0
        for _ in range(plan.p2_runs):
            s, stats = client_stats(noop)
            seconds.append(s)
            seen += stats["chunks"]
        cpu = cluster.broker_cpu_seconds() - cpu0
        rate = chunks / statistics.median(seconds)
        report.record(Measurement(
            "p2_noop_vs_raw", "P2 no-op chunks/s through broker + 2 workers vs raw "
            "ZeroMQ round trips", rate, "chunks/s", HIGHER,
            Baseline("zmq_roundtrip", raw_rate, "round trips/s"), rate / raw_rate,
            "of raw", ">= 60%", plan.p2_runs),
            f"P2 no-op chunks through broker + 2 workers: {rate:,.0f} chunks/s; "
            f"raw ZeroMQ round trips {raw_rate:,.0f}/s -> {rate / raw_rate:.0%} of raw "
            f"(targets >= 100,000/s and >= 60%)")
        broker_cpu(report, "p2", cpu, seen, chunks * plan.p2_runs * NOOP_VALUE_BYTES,
                   f"{NOOP_VALUE_BYTES} bytes per no-op value", plan.p2_runs)

        journal = tempfile.mkdtemp(prefix="tq-bench-journal-")
        try:
            with Cluster(build, broker_args=[f"--journal={journal}"]) as journaled:
                timed([client, f"--broker={journaled.endpoint}", "map", "noop", "1",
                       "1000"], 1)
                s = timed([client, f"--broker={journaled.endpoint}", "map", "noop",
                           "1", str(chunks), "--chunk-size=1"], plan.p2_runs)
        finally:
            shutil.rmtree(journal, ignore_errors=True)
        report.record(Measurement(
            "p2_journal_vs_without", "P2 no-op chunks/s with the broker's --journal "
            "vs without", chunks / s, "chunks/s", HIGHER,
            Baseline("without --journal", rate, "chunks/s"), chunks / s / rate,
            "of without", ">= 80%", plan.p2_runs),
            f"P2 with --journal: {chunks / s:,.0f} chunks/s -> "
            f"{chunks / s / rate:.0%} of without (target >= 80%)")

        hi = sci(plan.p3_hi)
        primesieve = ["primesieve", str(plan.p3_hi), "--count", "-t2"]
        bitmap = [client, broker, "map", "primes", "1", str(plan.p3_hi), "--format=bitmap"]
        tq_s, ps_s, seen, cpu = [], [], 0, 0.0
        for _ in range(plan.p3_runs):  # interleaved: load hits both alike
            cpu0 = cluster.broker_cpu_seconds()
            s, stats = client_stats(bitmap)
            cpu += cluster.broker_cpu_seconds() - cpu0
            tq_s.append(s)
            seen += stats["chunks"]
            ps_s.append(run_quietly(primesieve)[0])
        tq3, ps3 = statistics.median(tq_s), statistics.median(ps_s)
        report.record(Measurement(
            "p3_bitmap_broker_vs_primesieve", f"P3 map primes 1 {hi} --format=bitmap "
            "via broker + 2 workers vs primesieve --count -t2", tq3, "s", LOWER,
            Baseline("primesieve --count -t2", ps3, "s"), tq3 / ps3, "x its time",
            "<= 2x", plan.p3_runs),
            f"P3 primes 1..{hi} bitmap via broker + 2 workers: tq {tq3:.3g} s, "
            f"primesieve --count -t2 {ps3:.3g} s -> {tq3 / ps3:.2f}x its time "
            f"(target <= 2x)")
        broker_cpu(report, "p3", cpu, seen, math.ceil(plan.p3_hi / 8) * plan.p3_runs,
                   "the bitmap printed; it travels as a prime wheel of 4/15 its size",
                   plan.p3_runs)

    t = medians({"bitmap": [client, "map", "primes", "1", str(plan.p3_hi),
                            "--format=bitmap"],
                 "count": [client, "map", "primes", "1", str(plan.p3_hi),
                           "--format=count"],
                 "primesieve": primesieve}, plan.p3_embedded_runs)
    runs = plan.p3_embedded_runs
    report.record(Measurement(
        "p3_bitmap_embedded_vs_primesieve", f"P3 map primes 1 {hi} --format=bitmap "
        "embedded vs primesieve --count -t2", t["bitmap"], "s", LOWER,
        Baseline("primesieve --count -t2", t["primesieve"], "s"),
        t["bitmap"] / t["primesieve"], "x its time", "<= 1.5x", runs),
        f"P3 embedded (no TCP), bitmap 1..{hi}: tq {t['bitmap']:.3g} s, primesieve "
        f"{t['primesieve']:.3g} s -> {t['bitmap'] / t['primesieve']:.2f}x its time "
        f"(median of {runs}; target <= 1.5x)")
    report.record(Measurement(
        "p3_count_embedded_vs_primesieve", f"map primes 1 {hi} --format=count "
        "embedded vs primesieve --count -t2", t["count"], "s", LOWER,
        Baseline("primesieve --count -t2", t["primesieve"], "s"),
        t["count"] / t["primesieve"], "x its time", "<= 1.1x", runs),
        f"P3 count form 1..{hi}, embedded: tq {t['count']:.3g} s -> "
        f"{t['count'] / t['primesieve']:.2f}x primesieve's time "
        f"(median of {runs}; target <= 1.1x)")


def measure_memory(report: Report, plan: Plan, build: str, client: str) -> None:
    """MEM: peak RSS of client and broker for a big count vs a small one."""
    rss = {}
    for hi in (plan.mem_small, plan.mem_big):
        with Cluster(build) as cluster:
            secs, usage = run_quietly([client, f"--broker={cluster.endpoint}", "map",
                                       "primes", "1", str(hi), "--format=count"])
            rss[hi] = (usage.ru_maxrss, cluster.broker_peak_rss_kib(), secs)
    (c9, b9, s9), (c11, b11, s11) = rss[plan.mem_small], rss[plan.mem_big]
    small, big = sci(plan.mem_small), sci(plan.mem_big)
    for who, before, after in (("client", c9, c11), ("broker", b9, b11)):
        report.record(Measurement(
            f"mem_{who}_growth", f"MEM peak RSS of tq-{who}, count 1..{big} vs "
            f"1..{small}", after / 1024, "MiB", LOWER,
            Baseline(f"count 1..{small}", before / 1024, "MiB"), after / before,
            "x", "flat, ~1.0"))
    print(f"MEM count 1..{small} ({s9:.1f} s): client {c9 / 1024:.1f} MiB, broker "
          f"{b9 / 1024:.1f} MiB; 1..{big} ({s11:.1f} s): client {c11 / 1024:.1f} MiB, "
          f"broker {b11 / 1024:.1f} MiB -> ratios {c11 / c9:.2f} / {b11 / b9:.2f} "
          f"(target: flat, ~1.0)", flush=True)


def measure_python(report: Report, plan: Plan, build: str, client: str) -> None:
    """P5, P6 and P7: tq's Python API against multiprocessing and tq-client,
    each pair interleaved so load on the machine hits both sides alike."""
    script = os.path.join(REPO, "bench", "python_bench.py")
    env = python_env(build)
    runs = plan.python_api_runs

    def measure(*args: str) -> list[float]:
        out = subprocess.run([PYTHON, script, *args], env=env, check=True,
                             capture_output=True, text=True).stdout.split()
        return [float(x) for x in out]

    # P5 ------------------------------------------------------------------
    p5 = ["p5", f"--n={plan.p5_hi}"]
    tq_s, mp_s = [], []
    for _ in range(runs):
        tq_s.append(measure(*p5, "tq")[0])
        mp_s.append(measure(*p5, "mp")[0])
    tq5, mp5 = statistics.median(tq_s), statistics.median(mp_s)
    report.record(Measurement(
        "p5_is_prime_vs_multiprocessing", f"P5 is_prime over 1..{sci(plan.p5_hi)}: "
        "tq.Pool().map (embedded) vs multiprocessing.Pool(2).map", tq5, "s", LOWER,
        Baseline("multiprocessing.Pool(2).map", mp5, "s"), tq5 / mp5, "x its time",
        "<= 0.8x", runs),
        f"P5 is_prime over 1..{sci(plan.p5_hi)}: tq.Pool().map (embedded) {tq5:.3f} s, "
        f"multiprocessing.Pool(2).map {mp5:.3f} s -> {tq5 / mp5:.2f}x its time "
        f"(target <= 0.8x)")

    # P6 ------------------------------------------------------------------
    p6 = ["p6", f"--n={plan.p6_items}"]
    rates: dict[str, list[float]] = {"embedded": [], "mp": []}
    for _ in range(runs):
        rates["embedded"].append(measure(*p6, "tq")[1])
        rates["mp"].append(measure(*p6, "mp")[1])
    with Cluster(build, workers=2, threads=1, python=True) as cluster:
        rates["broker"] = [measure(*p6, "tq", cluster.endpoint)[1] for _ in range(runs)]
    mp6 = statistics.median(rates["mp"])
    items = sci(plan.p6_items)
    for key, name in (("embedded", "tq embedded"), ("broker", "tq broker + 2 workers")):
        rate = statistics.median(rates[key])
        report.record(Measurement(
            f"p6_identity_{key}_vs_multiprocessing", f"P6 identity over "
            f"list(range({items})), {name}, vs multiprocessing.Pool(2).map", rate,
            "items/s", HIGHER, Baseline("multiprocessing.Pool(2).map", mp6, "items/s"),
            rate / mp6, "x", ">= 1.0x", runs),
            f"P6 identity over list(range({items})), {name}: {rate:,.0f} items/s, "
            f"multiprocessing.Pool(2) {mp6:,.0f} items/s -> {rate / mp6:.2f}x "
            f"(target >= 1.0x)")

    # P7 ------------------------------------------------------------------
    count = ("import tq\n"
             "with tq.Pool() as pool:\n"
             f"    print(pool.count('primes', range(1, {plan.p7_hi} + 1)))\n")
    py_s, cl_s = [], []
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        for _ in range(plan.p7_runs):
            py_s.append(run_quietly([PYTHON, "-c", count])[0])
            cl_s.append(run_quietly([client, "map", "primes", "1", str(plan.p7_hi),
                                     "--format=count"])[0])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    py7, cl7 = statistics.median(py_s), statistics.median(cl_s)
    hi = sci(plan.p7_hi)
    report.record(Measurement(
        "p7_count_python_vs_client", f"P7 pool.count('primes', 1..{hi}) from python3 "
        f"vs tq-client map primes 1 {hi} --format=count", py7 * 1000, "ms", LOWER,
        Baseline("tq-client --format=count", cl7 * 1000, "ms"), py7 / cl7,
        "x its time", "<= 1.2x", plan.p7_runs),
        f"P7 count primes 1..{hi}, whole processes: python3 + tq {py7 * 1000:.0f} ms, "
        f"tq-client {cl7 * 1000:.0f} ms -> {py7 / cl7:.2f}x its time "
        f"(target <= 1.2x)")


def run_compare(old_path: str, new_path: str, tolerance: float) -> int:
    """--compare: prints the two reports side by side; the exit status."""
    try:
        old, new = load(old_path), load(new_path)
    except (OSError, ValueError) as e:  # json.JSONDecodeError is a ValueError
        print(f"run_benchmarks: {e}", file=sys.stderr)
        return 2
    lines, flagged = compare(old, new, tolerance)
    print("\n".join(lines))
    return 1 if flagged else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description="tq's benchmarks: every figure as a ratio to a baseline "
        "measured in the same run, as text and (--json) JSON; --compare "
        "flags the ratios of two runs' JSON that got worse.",
        epilog="--compare exits 0 when no measurement is worse by more than the "
        "tolerance, 1 when one or more are (each is marked WORSE), 2 when a file "
        "cannot be read. 'Worse' follows each measurement's direction: a ratio "
        "in 'x faster' or a rate must not drop, one in 'x its time' or a cost "
        "must not rise. Measurements in only one file are listed, not flagged.")
    parser.add_argument("--build", default=os.path.join(REPO, "build"),
                        help="the build directory (default: %(default)s)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer repetitions")
    mode.add_argument("--smoke", action="store_true",
                      help="tiny sizes, one repetition: checks that every "
                      "measurement is produced (CI); the figures mean nothing")
    parser.add_argument("--json", metavar="FILE",
                        help="also write every figure, with the machine's cores, "
                        "load, date and git commit, to FILE as JSON")
    parser.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"),
                        help="run nothing: print the ratios of two --json files "
                        "side by side and flag each worse in NEW by more than "
                        "--tolerance")
    parser.add_argument("--tolerance", type=float, default=0.10,
                        help="--compare: the change that counts as worse, a "
                        "fraction of OLD (default: %(default)s)")
    args = parser.parse_args()
    if args.compare:
        return run_compare(*args.compare, args.tolerance)

    mode_name = "smoke" if args.smoke else "quick" if args.quick else "full"
    plan = PLANS[mode_name]
    build = args.build
    client = f"{build}/client/tq-client"
    # Embedded runs must be embedded: the client falls back to $TQ_BROKER.
    os.environ.pop("TQ_BROKER", None)
    report = Report(mode_name, REPO, build)

    measure_p1(report, plan, build, client)
    measure_p2_p3(report, plan, build, client)
    measure_memory(report, plan, build, client)
    measure_python(report, plan, build, client)

    recorded = [m.name for m in report.measurements]
    if recorded != list(MEASUREMENT_NAMES):
        missing = sorted(set(MEASUREMENT_NAMES) - set(recorded))
        extra = sorted(set(recorded) - set(MEASUREMENT_NAMES))
        print(f"run_benchmarks: recorded measurements differ from MEASUREMENT_NAMES "
              f"(missing {missing}, unexpected {extra}, or out of order)",
              file=sys.stderr)
        return 1
    if args.json:
        report.write_json(args.json)
        print(f"wrote {len(recorded)} measurements to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
