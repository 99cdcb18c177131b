#!/usr/bin/env python3
"""Fairness between clients (issue 7, part 9): a benchmark, not a test.

    python3 bench/fairness.py [--build DIR] [--jobs 1000] [--runs 5]

A broker + 2 one-thread workers on loopback. A small job from one client
(`tq-client map spin 1 200 --param=us=1000`: 0.2 s of work, about 0.1 s on
the two workers) is timed
alone, then again while a greedy client (tq.Pool) holds --jobs big jobs
open (`spin` over a million items each, 1 ms per item) and never reads a
result. Prints the medians, their ratio (target: at most 2x) and the
broker's peak RSS, all from this one run.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from processes import PYTHON, REPO, python_env, run_quietly  # noqa: E402

GREEDY = r"""
import sys, time, tq
pool = tq.Pool(broker=sys.argv[1])
jobs = [pool.imap("spin", range(1, 1_000_001), params={"us": 1000})
        for _ in range(int(sys.argv[2]))]
print("ready", flush=True)
time.sleep(3600)  # holds every job open, never reads a result
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(REPO, "build"))
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--items", default="200",
                        help="the small job: spin over 1..ITEMS, 1 ms each")
    args = parser.parse_args()
    build = args.build
    limit = str(args.jobs + 16)
    broker = subprocess.Popen(
        [f"{build}/broker/tq-broker", "--listen=tcp://127.0.0.1:*",
         f"--max-jobs-per-client={limit}", f"--max-jobs={limit}"],
        stdout=subprocess.PIPE, text=True)
    endpoint = broker.stdout.readline().split()[-1]
    workers = [subprocess.Popen([f"{build}/worker/tq-worker", f"--broker={endpoint}",
                                 "--threads=1"], stderr=subprocess.DEVNULL)
               for _ in range(2)]
    greedy = None
    try:
        small = [f"{build}/client/tq-client", f"--broker={endpoint}", "map",
                 "spin", "1", args.items, "--param=us=1000"]
        run_quietly(small)  # warm-up: both workers connected
        solo = statistics.median(run_quietly(small)[0] for _ in range(args.runs))
        start = time.perf_counter()
        greedy = subprocess.Popen([PYTHON, "-c", GREEDY, endpoint, str(args.jobs)],
                                  stdout=subprocess.PIPE, text=True,
                                  env=python_env(build))
        if greedy.stdout.readline().strip() != "ready":
            sys.exit("the greedy client did not start")
        opened = time.perf_counter() - start
        time.sleep(1)  # its jobs fill the workers and their windows
        busy = statistics.median(run_quietly(small)[0] for _ in range(args.runs))
        with open(f"/proc/{broker.pid}/status") as f:
            rss_kib = int(next(line.split()[1] for line in f
                               if line.startswith("VmHWM:")))
        print(f"F1 small job (spin 1..{args.items}, 1 ms each) from another client: solo "
              f"{solo * 1000:.0f} ms, while one client holds {args.jobs} big jobs "
              f"open and never reads {busy * 1000:.0f} ms -> {busy / solo:.2f}x "
              f"(target <= 2x); {args.jobs} jobs opened in {opened:.1f} s; "
              f"broker peak RSS {rss_kib / 1024:.0f} MiB")
    finally:
        if greedy is not None:
            greedy.kill()
            greedy.wait()
        for p in workers + [broker]:
            p.terminate()
        for p in workers + [broker]:
            p.wait(timeout=30)


if __name__ == "__main__":
    main()
