"""Fixtures of the simulated-host tests.

Every test here needs root (network namespaces). Without it the tests skip
with a reason that starts with SKIP_MARK, which ctest's
SKIP_REGULAR_EXPRESSION turns into "skipped" (CI runs as root and runs them).
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import tq_hosts  # noqa: E402

SKIP_MARK = "TQ-HOSTS-SKIPPED"


@pytest.fixture
def hosts_available() -> None:
    """Skips the test, saying why, when simulated hosts cannot run."""
    reason = tq_hosts.unavailable_reason()
    if reason:
        pytest.skip(f"{SKIP_MARK}: {reason}")


# A SIGTERM (timeout(1), a CI runner) unwinds the test, so the networks'
# context managers and atexit remove the hosts; SIGKILL is left to the next
# run's cleanup of stale prefixes.
tq_hosts.exit_on_sigterm()
