"""The longest Collatz chain below a bound, computed on a tq cluster.

``tq.Pool(broker=...).map`` ships ``collatz_steps`` (a function of this
script, pickled by value with cloudpickle) to the cluster's Python workers,
which run it on every CPU they have; the results come back in input order.
The interpreter must match the workers' major.minor (the tq image's python3
does). Usage::

    TQ_BROKER=tcp://tq-broker:5555 python3 collatz.py [LIMIT]
    # prints: longest Collatz chain below 1000000: 837799 (524 steps)
"""
import os
import sys

import tq


def collatz_steps(n: int) -> int:
    """Steps n takes to reach 1 under n -> n/2 (n even), 3n+1 (n odd)."""
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def main() -> None:
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    numbers = range(1, limit)
    # The CurveZMQ key files, if any, come from TQ_CURVE_KEY and
    # TQ_CURVE_SERVER_KEY; wait up to a minute for the broker to come up.
    with tq.Pool(broker=os.environ["TQ_BROKER"], connect_timeout=60) as pool:
        steps = pool.map(collatz_steps, numbers)
    best = max(numbers, key=lambda n: steps[n - 1])
    print(f"longest Collatz chain below {limit}: {best} ({steps[best - 1]} steps)")


if __name__ == "__main__":
    main()
