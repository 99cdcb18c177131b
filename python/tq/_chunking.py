"""Cutting a job's input into chunks, as the cluster takes them.

A code job's input streams in under credit: the feeder hands out one chunk
at a time, when the job has room, so the client holds at most a window of
chunks however long the input (a generator, a file). Chunk sizes come from
a :class:`tq._native.ChunkSizer` (common/chunk_sizer.h) fed with each
chunk's run time and bytes, unless the caller fixed ``chunksize``.

How items travel:
  * ``range(a, b)`` (step 1, within 0..2**64-1), called as ``f(x)``: as
    integer ranges; nothing per item moves;
  * other ranges: as pickled sub-ranges (a few bytes each);
  * anything else: a cloudpickled list per chunk.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Iterator

from tq import _pickling

U64_MAX = (1 << 64) - 1


def is_u64_range(items: Any) -> bool:
    """A range the cluster can take as (first, last): step 1, in uint64."""
    return (isinstance(items, range) and items.step == 1 and len(items) > 0
            and items.start >= 0 and items.stop - 1 <= U64_MAX)


def known_length(items: Any) -> int | None:
    """len(items) if it has one (lists, tuples, ranges, dict views)."""
    try:
        return len(items)
    except TypeError:
        return None


class ItemFeeder:
    """Hands out a code job's input chunk by chunk.

    ``next_chunk()`` returns the next chunk as the binding takes it
    (``(first, last)`` for an integer range, ``(pickle, count)`` for items)
    or None at the end. Used by one thread (the job's reader).
    """

    def __init__(self, items: Iterable[Any], sizer: Any, parallelism: int,
                 chunksize: int | None = None,
                 ranges_allowed: bool = True) -> None:
        self._sizer = sizer
        self._parallelism = max(1, parallelism)
        self._chunksize = chunksize
        self.total = known_length(items)
        self.handed_out = 0  # items in the chunks returned so far
        self._range: range | None = None
        self._as_ranges = False
        self._sliceable: Any = None
        self._iterator: Iterator[Any] | None = None
        self._pending: list[Any] = []  # items cut but not yet sent
        if isinstance(items, range):
            self._range = items
            self._as_ranges = ranges_allowed and is_u64_range(items)
        elif isinstance(items, (list, tuple)):
            self._sliceable = items
        else:
            self._iterator = iter(items)

    def _size(self) -> int:
        if self._chunksize:
            return self._chunksize
        remaining = (None if self.total is None
                     else self.total - self.handed_out)
        return self._sizer.next(remaining, self._parallelism)

    def next_chunk(self) -> tuple[Any, int] | None:
        """The next chunk for Job.append, or None when the input is done."""
        if self.total is not None and self.handed_out >= self.total \
                and not self._pending:
            return None
        size = self._size()
        start = self.handed_out
        if self._as_ranges:
            assert self._range is not None
            count = min(size, self.total - start)
            first = self._range.start + start
            self.handed_out += count
            return (first, first + count - 1), count
        items = self._take(size)
        if not items:
            return None
        data = _pickling.dumps_items(items)
        while len(data) > _pickling.LIMIT_BYTES and len(items) > 1:
            # Too large for one payload: send half, keep the rest for later.
            half = len(items) // 2
            self._pending[:0] = list(items[half:])
            items = items[:half]
            data = _pickling.dumps_items(items)
        if len(data) > _pickling.LIMIT_BYTES:
            raise ValueError(
                f"item {start} of the input is {len(data) >> 20} MiB "
                f"pickled; one chunk holds at most "
                f"{_pickling.LIMIT_BYTES >> 20} MiB")
        count = len(items)
        self.handed_out += count
        self._sizer.observe_input(count, len(data))
        return (data, count), count

    def _take(self, size: int) -> Any:
        """Up to `size` items: a list, or a sub-range of a range."""
        if self._pending:
            taken = self._pending[:size]
            del self._pending[:size]
            return taken
        start = self.handed_out
        if self._range is not None:
            return self._range[start:start + size]
        if self._sliceable is not None:
            return self._sliceable[start:start + size]
        assert self._iterator is not None
        return list(itertools.islice(self._iterator, size))


def fixed_number_chunks(numbers: Iterable[Any],
                        size: int) -> Iterator[list[int]]:
    """A task job's streamed numbers, `size` at a time."""
    iterator = iter(numbers)
    while True:
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield chunk
