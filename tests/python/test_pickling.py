"""How code and items are cut and pickled (no cluster): by-value modules,
size limits, and the chunk feeder."""

from __future__ import annotations

import pickle
import sys
import textwrap
import warnings

import cloudpickle
import pytest

import tq
from tq import _chunking, _native, _pickling


def test_module_outside_installed_paths_pickles_by_value(tmp_path,
                                                         monkeypatch):
    (tmp_path / "client_only_mod.py").write_text(textwrap.dedent("""
        OFFSET = 1000
        def shifted(x):
            return x + OFFSET
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import client_only_mod

    blob = _pickling.dumps_function(client_only_mod.shifted)
    # Loads without the module: the function came by value.
    del sys.modules["client_only_mod"]
    monkeypatch.undo()
    assert pickle.loads(blob)(1) == 1001


def test_installed_modules_stay_by_reference():
    import json

    blob = _pickling.dumps_function(json.dumps)
    assert len(blob) < 100  # a reference, not the module
    assert not _pickling._is_local(json.__file__)
    assert not _pickling._is_local(tq.__file__)


def test_large_function_warns_and_huge_one_is_refused():
    big = b"x" * (2 << 20)
    with pytest.warns(ResourceWarning, match="MiB pickled"):
        _pickling.dumps_function(lambda x: len(big) + x)
    huge = b"x" * (17 << 20)
    with pytest.raises(tq.CodeTooLargeError, match="the limit is 16 MiB"):
        _pickling.dumps_function(lambda x: len(huge) + x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _pickling.dumps_function(lambda x: x)  # small: no warning


class FixedSizer:
    """Stands in for the native sizer: always `size` items."""

    def __init__(self, size):
        self.size = size
        self.inputs = []

    def next(self, remaining=None, parallelism=1):
        return self.size if remaining is None else min(self.size, remaining)

    def observe_input(self, items, bytes):
        self.inputs.append((items, bytes))


def chunks_of(feeder):
    out = []
    while (chunk := feeder.next_chunk()) is not None:
        out.append(chunk)
    return out


def unpickled(chunks):
    return [cloudpickle.loads(c[0][0]) if isinstance(c[0][0], bytes)
            else c[0] for c in chunks]


def test_contiguous_range_travels_as_ranges():
    feeder = _chunking.ItemFeeder(range(10, 20), FixedSizer(4), 1)
    assert chunks_of(feeder) == [((10, 13), 4), ((14, 17), 4), ((18, 19), 2)]
    huge = range(2**64 - 3, 2**64)
    assert chunks_of(_chunking.ItemFeeder(huge, FixedSizer(10), 1)) == [
        ((2**64 - 3, 2**64 - 1), 3)]


def test_other_ranges_travel_as_pickled_sub_ranges():
    for items in (range(0, 20, 3), range(-5, 5), range(2**64, 2**64 + 3)):
        sizer = FixedSizer(3)
        got = unpickled(chunks_of(_chunking.ItemFeeder(items, sizer, 1)))
        assert all(isinstance(c, range) for c in got)
        assert [x for c in got for x in c] == list(items)
        assert all(b < 100 for _, b in sizer.inputs)
    # Called f(*x): a range of ints cannot be star-called, so no ranges.
    got = chunks_of(_chunking.ItemFeeder(range(5), FixedSizer(5), 1,
                                         ranges_allowed=False))
    assert unpickled(got) == [range(0, 5)]


def test_lists_and_generators_travel_as_pickled_lists():
    sizer = FixedSizer(2)
    got = chunks_of(_chunking.ItemFeeder(["a", "b", "c"], sizer, 1))
    assert unpickled(got) == [["a", "b"], ["c"]]
    assert [c[1] for c in got] == [2, 1]
    assert [items for items, _ in sizer.inputs] == [2, 1]
    generator = (i * i for i in range(5))
    got = chunks_of(_chunking.ItemFeeder(generator, FixedSizer(2), 1))
    assert unpickled(got) == [[0, 1], [4, 9], [16]]


def test_generator_is_read_only_as_chunks_are_cut():
    pulled = []

    def numbers():
        for i in range(100):
            pulled.append(i)
            yield i

    feeder = _chunking.ItemFeeder(numbers(), FixedSizer(10), 1)
    feeder.next_chunk()
    assert len(pulled) == 10


def test_oversized_batch_is_split(monkeypatch):
    monkeypatch.setattr(_pickling, "LIMIT_BYTES", 1000)
    items = [b"x" * 300 for _ in range(8)]
    got = chunks_of(_chunking.ItemFeeder(items, FixedSizer(8), 1))
    assert sum(c[1] for c in got) == 8
    assert all(len(c[0][0]) <= 1000 for c in got)
    assert [x for c in unpickled(got) for x in c] == items
    with pytest.raises(ValueError, match="one chunk holds at most"):
        chunks_of(_chunking.ItemFeeder([b"y" * 2000], FixedSizer(1), 1))


def test_fixed_chunksize_overrides_the_sizer():
    sizer = _native.ChunkSizer()
    got = chunks_of(_chunking.ItemFeeder(list(range(10)), sizer, 1,
                                         chunksize=4))
    assert [c[1] for c in got] == [4, 4, 2]


def test_adaptive_sizes_start_at_one_item():
    sizer = _native.ChunkSizer()
    feeder = _chunking.ItemFeeder(list(range(1000)), sizer, 2)
    assert feeder.next_chunk()[1] == 1
    sizer.observe_result(1, 1, 10)
    assert feeder.next_chunk()[1] == 4
