"""What Pool's asynchronous methods return, as multiprocessing.pool has them.

:class:`AsyncResult` (``apply_async``), :class:`MapResult` (``map_async``,
``starmap_async``) and :class:`IMapIterator` (``imap``,
``imap_unordered``): same methods, same exceptions (``get(timeout)`` raises
``multiprocessing.TimeoutError``; ``successful()`` before ``ready()`` raises
ValueError). Callbacks run on the thread that finished the job, before
``ready()`` turns true, as in multiprocessing.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Generic, Iterator, TypeVar

from tq import _jobs

T = TypeVar("T")

__all__ = ["ApplyResult", "AsyncResult", "IMapIterator", "MapResult"]


class AsyncResult(Generic[T]):
    """The result of ``Pool.apply_async``: ``get()`` it when it is ready.

    >>> result = pool.apply_async(pow, (2, 10))  # doctest: +SKIP
    >>> result.get(timeout=10)                   # doctest: +SKIP
    1024
    """

    def __init__(self, callback: Callable[[T], Any] | None = None,
                 error_callback: Callable[[BaseException], Any] | None = None
                 ) -> None:
        self._event = threading.Event()
        self._callback = callback
        self._error_callback = error_callback
        self._success = False
        self._value: Any = None
        self._cancel: Callable[[], None] | None = None

    def ready(self) -> bool:
        """Whether the call has completed (successfully or not)."""
        return self._event.is_set()

    def successful(self) -> bool:
        """Whether it completed without raising; ValueError if not ready."""
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return self._success

    def wait(self, timeout: float | None = None) -> None:
        """Waits until the result is ready or `timeout` seconds pass."""
        self._event.wait(timeout)

    def get(self, timeout: float | None = None) -> T:
        """The result, or the exception the call raised, raised here.

        Raises multiprocessing.TimeoutError if not ready within `timeout`
        seconds (the job goes on). Ctrl-C while waiting cancels the job.
        """
        try:
            self.wait(timeout)
        except KeyboardInterrupt:
            if self._cancel is not None:
                self._cancel()
            raise
        if not self.ready():
            raise _jobs._timeout_error()
        if self._success:
            return self._value
        raise self._value

    def _set(self, success: bool, value: Any) -> None:
        """Records the outcome (once), runs the callback, then wakes get()."""
        if self._event.is_set():
            return
        self._success, self._value = success, value
        callback = self._callback if success else self._error_callback
        if callback is not None:
            try:
                callback(value)
            except Exception:  # noqa: BLE001 - a callback must not kill us
                import traceback

                traceback.print_exc()
        self._event.set()


ApplyResult = AsyncResult


class MapResult(AsyncResult[list]):
    """What ``Pool.map_async``/``starmap_async`` return: a list, when ready."""


class IMapIterator(Generic[T]):
    """The iterator of ``Pool.imap``/``imap_unordered``.

    Results stream as chunks complete; ``next(timeout)`` raises
    multiprocessing.TimeoutError if none comes in time (iteration can go
    on). Closing it, or dropping it unfinished, cancels the job.
    """

    def __init__(self, job: Any, on_close: Callable[[Any], None] | None = None
                 ) -> None:
        self._job = job
        self._results: list[Any] = []
        self._position = 0
        self._on_close = on_close

    @property
    def job_id(self) -> int | None:
        """The job's id at the broker (None on an embedded cluster, or for
        an empty input)."""
        return getattr(self._job, "job_id", None) if self._job else None

    @property
    def token(self) -> str | None:
        """With :attr:`job_id`, what lets another process read the rest of
        the results if this one dies: ``tq.Pool(broker=...).attach(job_id,
        token)``."""
        return getattr(self._job, "token", None) if self._job else None

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        return self.next()

    def next(self, timeout: float | None = None) -> T:
        """The next result; StopIteration after the last."""
        while self._position >= len(self._results):
            chunk = self._job.next_chunk(timeout) if self._job else None
            if chunk is None:
                self.close()
                raise StopIteration
            self._results = chunk[1]
            self._position = 0
        value = self._results[self._position]
        self._results[self._position] = None  # hand it over, keep no copy
        self._position += 1
        return value

    __next__.__doc__ = next.__doc__

    def close(self) -> None:
        """Stops the job if it is still running."""
        job, self._job = self._job, None
        if job is not None:
            job.close()
            if self._on_close is not None:
                self._on_close(job)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - at interpreter exit anything goes
            pass
