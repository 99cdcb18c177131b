#!/usr/bin/python3
"""Python-side benchmarks of issue 6, one measurement per run of this script
(run_benchmarks.py runs them, interleaved, and reports ratios):

    python_bench.py p5 tq|mp           is_prime over range(1, 10**6 + 1)
    python_bench.py p6 tq|mp [BROKER]  identity over list(range(10**6))

Each prints one line "SECONDS [ITEMS_PER_SECOND]": the time from entering
the pool's `with` to the list returned, as the issue asks. `tq` is
tq.Pool() (embedded, or BROKER); `mp` is multiprocessing.Pool(2) with its
default chunksize. The function is the seed's trial-division is_prime,
imported unchanged from shared/baselines/seed_pool.py.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                "shared", "baselines"))
from seed_pool import is_prime  # noqa: E402  (the seed's, unchanged)


def identity(x: object) -> object:
    """Returns its argument: per-item overhead with no work."""
    return x


def timed_map(kind: str, function, items, broker: str | None = None) -> float:
    """Seconds from entering the pool's `with` to the list returned."""
    start = time.perf_counter()
    if kind == "tq":
        import tq
        with tq.Pool(broker=broker) as pool:
            results = pool.map(function, items)
    else:
        with multiprocessing.Pool(2) as pool:
            results = pool.map(function, items)
    seconds = time.perf_counter() - start
    if len(results) != len(items):
        sys.exit(f"{kind}: {len(results)} results for {len(items)} items")
    return seconds


def main() -> None:
    """Runs the benchmark named on the command line and prints its time."""
    bench, kind = sys.argv[1], sys.argv[2]
    broker = sys.argv[3] if len(sys.argv) > 3 else None
    if bench == "p5":
        items = range(1, 10**6 + 1)
        seconds = timed_map(kind, is_prime, items, broker)
        print(f"{seconds:.4f}")
    elif bench == "p6":
        items = list(range(10**6))
        seconds = timed_map(kind, identity, items, broker)
        print(f"{seconds:.4f} {len(items) / seconds:.0f}")
    else:
        sys.exit(f"unknown benchmark {bench!r}")


if __name__ == "__main__":
    main()
