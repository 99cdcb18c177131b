#!/usr/bin/python3
"""Python-side benchmarks of issue 6, one measurement per run of this script
(run_benchmarks.py runs them, interleaved, and reports ratios):

    python_bench.py p5 [--n=N] tq|mp           is_prime over range(1, N + 1)
    python_bench.py p6 [--n=N] tq|mp [BROKER]  identity over list(range(N))

N is 10**6 unless given (run_benchmarks.py --smoke passes a small one).

Each prints one line "SECONDS [ITEMS_PER_SECOND]": the time from entering
the pool's `with` to the list returned, as the issue asks. `tq` is
tq.Pool() (embedded, or BROKER); `mp` is multiprocessing.Pool(2) with its
default chunksize. The function is the seed's trial-division is_prime,
imported unchanged from shared/baselines/seed_pool.py.
"""
from __future__ import annotations

import argparse
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bench", choices=("p5", "p6"))
    parser.add_argument("kind", choices=("tq", "mp"))
    parser.add_argument("broker", nargs="?", default=None)
    parser.add_argument("--n", type=int, default=10**6, help="how many items")
    args = parser.parse_args()
    if args.bench == "p5":
        seconds = timed_map(args.kind, is_prime, range(1, args.n + 1), args.broker)
        print(f"{seconds:.4f}")
    else:
        items = list(range(args.n))
        seconds = timed_map(args.kind, identity, items, args.broker)
        print(f"{seconds:.4f} {len(items) / seconds:.0f}")


if __name__ == "__main__":
    main()
