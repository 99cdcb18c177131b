"""The broker-fault table's lines: what one row found, and the Markdown.

scripts/broker_fault_table.py fills a `Row` per fault; `markdown` prints
them with each row's target (issue 8: fault-free time + the broker's
downtime + 3 s) and whether the row made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# Issue 8: the broker's downtime only adds to the job time, plus this.
TARGET_SLACK_S = 3.0


@dataclass
class Row:
    """One line of the table."""

    fault: str
    exact: str = ""
    duplicates: str = "n/a"
    idle_after: str = "n/a"
    seconds: Optional[float] = None
    downtime: float = 0.0
    faults_injected: int = 0
    notes: list[str] = field(default_factory=list)
    # The fault-free time to compare with when it is not the baseline row's
    # (the attach rows': the job with --output=FILE; the streamed rows': the
    # same list job).
    fault_free: Optional[float] = None

    def compared_with(self, baseline: Optional[float]) -> Optional[float]:
        """The fault-free time this row is held to."""
        return self.fault_free if self.fault_free is not None else baseline

    def target(self, baseline: Optional[float]) -> Optional[float]:
        """Fault-free time + downtime + 3 s (None without a baseline)."""
        fault_free = self.compared_with(baseline)
        if fault_free is None or self.seconds is None:
            return None
        return fault_free + self.downtime + TARGET_SLACK_S

    def verdict(self, baseline: Optional[float]) -> str:
        target = self.target(baseline)
        if target is None:
            return "n/a"
        return "ok" if self.seconds <= target else "over"


def markdown(rows: list[Row], baseline: Optional[float]) -> str:
    """The table."""
    out = ["| fault | exact result | duplicates delivered | nothing in "
           "flight after | time (s) | fault-free (s) | broker down (s) | "
           "target (s): fault-free + down + 3 | within target | notes |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ran = r.seconds is not None
        secs = f"{r.seconds:.1f}" if ran else "n/a"
        fault_free = r.compared_with(baseline)
        base = f"{fault_free:.1f}" if fault_free is not None and ran else "n/a"
        target = r.target(baseline)
        down = (f"{r.downtime:.1f}" if r.faults_injected
                else "0" if ran else "n/a")
        notes = "; ".join(n.replace("|", "/") for n in r.notes if n)
        out.append(f"| {r.fault} | {r.exact} | {r.duplicates} | "
                   f"{r.idle_after} | {secs} | {base} | {down} | "
                   f"{f'{target:.1f}' if target is not None else 'n/a'} | "
                   f"{r.verdict(baseline)} | {notes} |")
    return "\n".join(out)
