"""Benchmark figures as data: each measurement named, with its value, unit,
the baseline it is compared with and the ratio; a run's report as JSON with
the machine it ran on; and the comparison of two such reports.

    report = Report(mode="quick", build="build")
    report.record(Measurement("p7_count_python_vs_client", ...), "P7 ...")
    report.write_json("now.json")
    lines, flagged = compare(load("before.json"), load("now.json"))

The JSON (FORMAT_VERSION 1):

    {"format": "tq-benchmarks", "version": 1, "mode": "quick",
     "machine": {"cores": 2, "date": "...", "git_commit": "...", ...},
     "measurements": [
       {"name": "p1_map_vs_python", "title": "...", "value": 19.7, "unit": "ms",
        "baseline": {"name": "seed_pool.py Pool.map", "value": 331.8, "unit": "ms"},
        "ratio": 16.9, "ratio_unit": "x faster", "better": "higher",
        "target": ">= 40x", "runs": 6}, ...]}

A measurement without a baseline (the broker's CPU time per chunk) has
"baseline" and "ratio" null; `better` then applies to its value.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import subprocess
from typing import Any, Optional

FORMAT = "tq-benchmarks"
FORMAT_VERSION = 1
HIGHER, LOWER = "higher", "lower"


@dataclasses.dataclass
class Baseline:
    """What a measurement is compared with, measured in the same run."""
    name: str
    value: float
    unit: str


@dataclasses.dataclass
class Measurement:
    """One figure of a run. `better` says which way is good for the ratio
    (or, without a baseline, for the value): HIGHER for "x faster" and
    rates, LOWER for "x its time", costs and growth."""
    name: str
    title: str
    value: float
    unit: str
    better: str
    baseline: Optional[Baseline] = None
    ratio: Optional[float] = None
    ratio_unit: str = ""
    target: str = ""
    runs: int = 1

    def compared(self) -> float:
        """The number a comparison of runs looks at: the ratio, else the value."""
        return self.ratio if self.ratio is not None else self.value


def machine_info(repo: str, build: str) -> dict[str, Any]:
    """Where and when a run happened: cores, load, date, kernel, CPU model,
    and the git commit of the tree measured (with whether it had changes)."""
    def git(*args: str) -> Optional[str]:
        try:
            return subprocess.run(["git", "-C", repo, *args], capture_output=True,
                                  text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "load_average": list(os.getloadavg()),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "build": os.path.abspath(build),
    }


class Report:
    """The measurements of one run, printed as they come and kept for JSON."""

    def __init__(self, mode: str, repo: str, build: str):
        self.mode = mode
        self.machine = machine_info(repo, build)
        self.measurements: list[Measurement] = []

    def record(self, measurement: Measurement, text: Optional[str] = None) -> None:
        """Keeps a measurement and prints its line of the text report
        (text=None: the measurement is part of a line already printed)."""
        for m in self.measurements:
            if m.name == measurement.name:
                raise ValueError(f"measurement {m.name} recorded twice")
        self.measurements.append(measurement)
        if text is not None:
            print(text, flush=True)

    def to_json(self) -> dict[str, Any]:
        """The report as the JSON object described in this module's docstring."""
        self.machine["load_average_at_end"] = list(os.getloadavg())
        return {"format": FORMAT, "version": FORMAT_VERSION, "mode": self.mode,
                "machine": self.machine,
                "measurements": [dataclasses.asdict(m) for m in self.measurements]}

    def write_json(self, path: str) -> None:
        """Writes the report to path (replaced whole, never half-written)."""
        data = json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n"
        temporary = f"{path}.tmp{os.getpid()}"
        with open(temporary, "w") as f:
            f.write(data)
        os.replace(temporary, path)


def load(path: str) -> dict[str, Any]:
    """Reads and checks a report written by Report.write_json; raises
    ValueError saying what is wrong with it."""
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not JSON: {e}") from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} JSON file")
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: version {data.get('version')}, "
                         f"this script reads {FORMAT_VERSION}")
    names = set()
    for m in data.get("measurements", []):
        for key in ("name", "value", "unit", "better"):
            if key not in m:
                raise ValueError(f"{path}: a measurement without {key!r}: {m}")
        if m["better"] not in (HIGHER, LOWER):
            raise ValueError(f"{path}: {m['name']}: better={m['better']!r}")
        value = m["ratio"] if m.get("ratio") is not None else m["value"]
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{path}: {m['name']}: not a finite number: {value!r}")
        if m["name"] in names:
            raise ValueError(f"{path}: {m['name']} appears twice")
        names.add(m["name"])
    return data


def worsening(old: float, new: float, better: str) -> float:
    """How much worse new is than old, as a fraction of old (0.25: 25 %
    worse; negative: better). Direction-aware: for HIGHER a drop is worse,
    for LOWER a rise. Zero old values: 0 if unchanged, else infinitely
    better or worse."""
    change = new - old if better == LOWER else old - new
    if old == 0:
        return 0.0 if change == 0 else math.copysign(math.inf, change)
    return change / abs(old)


def _shown(m: dict[str, Any]) -> str:
    """A measurement's compared number with its unit, for a table cell."""
    if m.get("ratio") is not None:
        unit = m.get("ratio_unit") or "x"
        if unit == "of raw" or unit.startswith("of "):
            return f"{m['ratio']:.0%} {unit}"
        return f"{m['ratio']:.3g}{unit if unit.startswith('x') else ' ' + unit}"
    return f"{m['value']:.4g} {m['unit']}"


def compare(old: dict[str, Any], new: dict[str, Any],
            tolerance: float = 0.10) -> tuple[list[str], list[str]]:
    """Lines of a side-by-side table of two reports' ratios (the value where
    a measurement has no baseline), and the names of the measurements worse
    in new by more than `tolerance` (a fraction of old; see worsening).
    Measurements in only one report are listed, never flagged."""
    def header(data: dict[str, Any]) -> str:
        machine = data.get("machine", {})
        commit = (machine.get("git_commit") or "?")[:10]
        dirty = "+changes" if machine.get("git_dirty") else ""
        return (f"{commit}{dirty}, {machine.get('date', '?')}, {data.get('mode', '?')}, "
                f"{machine.get('cores', '?')} cores, load "
                f"{(machine.get('load_average') or [math.nan])[0]:.1f}")

    lines = [f"old: {header(old)}", f"new: {header(new)}"]
    if old.get("mode") != new.get("mode"):
        lines.append(f"note: modes differ ({old.get('mode')} vs {new.get('mode')}): "
                     "sizes and repetitions differ too")
    olds = {m["name"]: m for m in old["measurements"]}
    news = {m["name"]: m for m in new["measurements"]}
    width = max([len(n) for n in list(olds) + list(news)] + [11])
    lines.append(f"{'measurement':<{width}}  {'better':<6}  {'old':>18}  {'new':>18}  "
                 "change of new from old")
    flagged = []
    for name in list(news) + [n for n in olds if n not in news]:
        o, n = olds.get(name), news.get(name)
        if o is None or n is None:
            present = o or n
            side = "old" if o is not None else "new"
            lines.append(f"{name:<{width}}  {present['better']:<6}  "
                         f"{_shown(o) if o else '-':>18}  {_shown(n) if n else '-':>18}  "
                         f"only in {side}")
            continue
        old_number = o["ratio"] if o.get("ratio") is not None else o["value"]
        new_number = n["ratio"] if n.get("ratio") is not None else n["value"]
        worse = worsening(old_number, new_number, n["better"])
        mark = ""
        if worse > tolerance:
            flagged.append(name)
            mark = f"  WORSE by more than {tolerance:.0%}"
        if old_number == new_number:
            change = "same"
        elif old_number == 0:
            change = "from 0"
        else:
            change = f"{(new_number - old_number) / abs(old_number):+.1%}"
        lines.append(f"{name:<{width}}  {n['better']:<6}  {_shown(o):>18}  "
                     f"{_shown(n):>18}  {change}{mark}")
    total = len(set(olds) & set(news))
    if flagged:
        lines.append(f"{len(flagged)} of {total} worse by more than {tolerance:.0%}: "
                     + ", ".join(flagged))
    else:
        lines.append(f"none of {total} worse by more than {tolerance:.0%}")
    return lines, flagged
