"""Fixtures of the tq package's tests.

`where` runs a test twice: on the embedded cluster ("" broker) and on a real
tq-broker with two tq-workers over loopback TCP (one cluster for the
session). Tests that break their cluster (kill a worker, start a worker
without --allow-code) build their own with tq_cluster.Cluster.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

# The tests choose their cluster; a TQ_BROKER from the caller must not.
os.environ.pop("TQ_BROKER", None)

from tq_cluster import Cluster  # noqa: E402

import tq  # noqa: E402


@pytest.fixture(scope="session")
def shared_cluster():
    """tq-broker + 2 workers (1 thread each), running Python code."""
    with Cluster(workers=2) as cluster:
        yield cluster


@pytest.fixture(params=["embedded", "broker"])
def where(request) -> str:
    """The broker address to use: "" (embedded) or the shared cluster's."""
    if request.param == "embedded":
        return ""
    return request.getfixturevalue("shared_cluster").address


@pytest.fixture
def pool(where):
    """A tq.Pool on `where`: 2 embedded threads, or the broker's workers."""
    with tq.Pool(2 if not where else None, broker=where) as p:
        yield p
