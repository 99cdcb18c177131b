#!/usr/bin/python3
"""CI's smoke test of the benchmarks (ctest bench_smoke_test, label `smoke`):
runs `run_benchmarks.py --smoke --json=FILE` (tiny sizes, one repetition),
then checks that the JSON holds every measurement of MEASUREMENT_NAMES with
a finite value and the fields --compare reads, and that --compare of the
file with itself flags nothing and exits 0; and that compare() flags a
ratio 11% worse in either direction and not one 9% worse. It never asserts
a time.

    /usr/bin/python3 bench/smoke_test.py --build build

Exits 77 (ctest: skipped, saying why) when the seed's Python baseline,
shared/baselines/seed_pool.py beside the repository, is missing.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from measurements import HIGHER, LOWER, compare  # noqa: E402
from run_benchmarks import BASELINE, MEASUREMENT_NAMES  # noqa: E402

SKIPPED = 77


def problems_in(report: dict) -> list[str]:
    """What is wrong with a report run_benchmarks.py wrote (empty: nothing)."""
    problems = []
    machine = report.get("machine", {})
    for key in ("cores", "date", "git_commit"):
        if key not in machine:
            problems.append(f"machine info without {key}")
    names = [m.get("name") for m in report.get("measurements", [])]
    if names != list(MEASUREMENT_NAMES):
        problems.append(f"measurements {names}, expected {list(MEASUREMENT_NAMES)}")
    for m in report.get("measurements", []):
        name = m.get("name")
        for key in ("title", "unit", "better", "ratio_unit", "target", "runs"):
            if key not in m:
                problems.append(f"{name}: no {key}")
        numbers = [m.get("value")]
        if m.get("baseline") is not None:
            numbers += [m["baseline"].get("value"), m.get("ratio")]
        elif m.get("ratio") is not None:
            problems.append(f"{name}: a ratio without a baseline")
        for x in numbers:
            if not isinstance(x, (int, float)) or not math.isfinite(x):
                problems.append(f"{name}: {x!r} is not a finite number")
    return problems


def direction_problems() -> list[str]:
    """What compare() gets wrong about which way is worse (empty: nothing)."""
    def report(ratios: dict[str, tuple[float, str]]) -> dict:
        return {"measurements": [
            {"name": name, "value": 1.0, "unit": "s", "better": better,
             "baseline": {"name": "b", "value": 1.0, "unit": "s"}, "ratio": ratio}
            for name, (ratio, better) in ratios.items()]}

    old = report({"up": (10.0, HIGHER), "down": (10.0, LOWER),
                  "up_ok": (10.0, HIGHER), "down_ok": (10.0, LOWER)})
    new = report({"up": (8.9, HIGHER), "down": (11.1, LOWER),
                  "up_ok": (9.1, HIGHER), "down_ok": (10.9, LOWER)})
    _, flagged = compare(old, new, 0.10)
    if sorted(flagged) != ["down", "up"]:
        return [f"compare() flagged {flagged}, expected ['up', 'down']"]
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", required=True, help="the build directory")
    args = parser.parse_args()
    if not os.path.exists(BASELINE):
        print(f"skipped: the seed baseline {BASELINE} is missing")
        return SKIPPED
    problems = direction_problems()
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    script = os.path.join(HERE, "run_benchmarks.py")
    with tempfile.TemporaryDirectory(prefix="tq-bench-smoke-") as tmp:
        path = os.path.join(tmp, "smoke.json")
        run = subprocess.run([sys.executable, script, "--smoke", f"--build={args.build}",
                              f"--json={path}"])
        if run.returncode != 0:
            print(f"FAIL: run_benchmarks.py --smoke exited {run.returncode}")
            return 1
        with open(path) as f:
            report = json.load(f)  # a JSONDecodeError fails the test too
        problems = problems_in(report)
        if problems:
            print("FAIL:\n  " + "\n  ".join(problems))
            return 1
        same = subprocess.run([sys.executable, script, "--compare", path, path],
                              capture_output=True, text=True)
        print(same.stdout, end="")
        if same.returncode != 0 or "WORSE" in same.stdout:
            print(f"FAIL: --compare of a file with itself exited {same.returncode}: "
                  f"{same.stderr}")
            return 1
    print(f"ok: {len(MEASUREMENT_NAMES)} measurements, valid JSON, "
          "--compare with itself flags nothing, directions right")
    return 0


if __name__ == "__main__":
    sys.exit(main())
