"""One job on the cluster, driven from Python: submit, feed, read, fail.

:class:`CodeJob` runs a shipped function, :class:`TaskJob` a built-in task.
Both stream: input is cut and appended only as the job has room (credit),
results are read a chunk at a time, so memory stays bounded however long
the input. Errors leave as the exceptions users expect (tq/errors.py);
anything interrupting a read (Ctrl-C, a closed generator) cancels the job on
the cluster first.

A job is read (and fed) by one thread at a time; ``cancel()`` may come from
any thread.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Iterable

from tq import _chunking, _pickling, errors

# The chunk duration the sizer aims at: see README "Chunk sizing" for the
# measurements behind it.
TARGET_CHUNK_MICROS = 50_000
# A task job's streamed numbers per chunk (tq-client's default for stdin).
TASK_STREAM_CHUNK = 1 << 16

RUNTIME_VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"

# How a code job calls its function on each item x (tq._native.CALL_*):
# f(x), f(*x), or x = (args, kwargs): f(*args, **kwargs).
CALL_MAP, CALL_STAR, CALL_APPLY = 0, 1, 2


def native() -> Any:
    """The tq._native module, loaded on first use (`import tq` stays light)."""
    from tq import _native

    return _native


def milliseconds(seconds: float | None, name: str) -> int:
    """A positive timeout in seconds as whole milliseconds (rounded up, so
    it never becomes 0, which means "no limit"); None gives 0."""
    if seconds is None:
        return 0
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not seconds > 0:
        raise ValueError(f"{name} must be a positive number of seconds or "
                         f"None, not {seconds!r}")
    if not seconds * 1000 < 2**63:  # inf too
        raise ValueError(f"{name} is too large: {seconds!r}")
    return int(-(-round(seconds * 1000, 6) // 1))  # ceil, 1.1 s -> 1100


def attempts(value: int | None) -> int:
    """max_attempts as the binding takes it (0: the broker's default)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or \
            not 1 <= value < 2**32:
        raise ValueError(f"max_attempts must be a positive int or None, "
                         f"not {value!r}")
    return value


class Limits:
    """One job's limits and what a failing item does, as the binding takes
    them: ``timeout_ms`` (the cluster cancels the job), ``chunk_timeout_ms``
    (a hand-out of a chunk running longer is a failed attempt),
    ``max_attempts`` (0s: the broker's defaults) and ``skip_failed`` (an
    item failing every attempt comes back as a ``tq.ItemFailed``)."""

    def __init__(self, *, timeout_ms: int = 0, chunk_timeout_ms: int = 0,
                 max_attempts: int = 0, skip_failed: bool = False) -> None:
        self.timeout_ms = timeout_ms
        self.chunk_timeout_ms = chunk_timeout_ms
        self.max_attempts = max_attempts
        self.skip_failed = skip_failed

    def kwargs(self) -> dict[str, Any]:
        return dict(timeout_ms=self.timeout_ms,
                    chunk_timeout_ms=self.chunk_timeout_ms,
                    max_attempts=self.max_attempts,
                    skip_failed=self.skip_failed)


class CodeOptions:
    """What every code job of a Pool or Executor shares.

    A plain class, not a dataclass: importing dataclasses (and with it
    inspect) costs ~10 ms, which every `tq.Pool()` would pay.
    """

    def __init__(self, *, initializer: bytes = b"",
                 max_chunks_per_runner: int = 0, max_concurrency: int = 0,
                 timeout_ms: int = 0, parallelism: int = 1,
                 limits: Limits | None = None) -> None:
        self.initializer = initializer
        self.max_chunks_per_runner = max_chunks_per_runner
        self.max_concurrency = max_concurrency
        self.parallelism = parallelism
        # timeout_ms alone (Executor) or every limit (Pool).
        self.limits = limits or Limits(timeout_ms=timeout_ms)


def _failed_items(chunk: Any) -> tuple[int, list[Any]]:
    """A 'failed' chunk (skip_failed) as one tq.ItemFailed per item."""
    first, cause = chunk.first_item, chunk.error
    return first, [errors.ItemFailed(first + i, cause)
                   for i in range(chunk.size)]


def _task_results(chunk: Any) -> tuple[int, list[Any]]:
    """A built-in task's chunk (not a count) as (first_item, results)."""
    kind = chunk.kind
    if kind == "failed":
        return _failed_items(chunk)
    if kind == "bits":
        return chunk.first_item, chunk.bools()
    if kind == "values":
        return chunk.first_item, chunk.values()
    return chunk.first_item, chunk.lists()


def _timeout_error() -> BaseException:
    import multiprocessing  # the standard library's own TimeoutError type

    return multiprocessing.TimeoutError()


class _Job:
    """What code and task jobs share: the read loop and error mapping."""

    def __init__(self, ordered: bool) -> None:
        self._ordered = ordered
        self._job: Any = None
        self.finished = False
        # On a broker: what another process needs to attach (Pool.attach).
        self.job_id: int | None = None
        self.token: str | None = None

    def _started(self) -> None:
        """Notes the job's id and token (hex) once the broker accepted it."""
        self.job_id = self._job.id
        self.token = self._job.token.hex()

    def cancel(self) -> None:
        """Cancels the job on the cluster (thread-safe); reads then fail."""
        if self._job is not None and not self.finished:
            self._job.cancel()

    def _feed(self) -> None:
        raise NotImplementedError

    def _take(self, chunk: Any) -> Any:
        raise NotImplementedError

    def _translate(self, error: Exception) -> BaseException:
        return errors.from_native(error)

    def next_chunk(self, timeout: float | None = None) -> Any:
        """The next chunk's decoded results, or None after the last.

        Raises multiprocessing.TimeoutError after `timeout` seconds without
        one (the job goes on), or the job's error.
        """
        if self._job is None or self.finished:
            return None
        deadline = None if timeout is None else time.monotonic() + timeout
        _native = native()
        while True:
            remaining = None if deadline is None else max(
                0.0, deadline - time.monotonic())
            failure: BaseException | None = None
            try:
                kind, chunk = self._job.poll(self._ordered, remaining)
                if kind == _native.INPUT_ROOM:
                    self._feed()
                    continue
            except _native.Error as error:
                self.finished = True
                failure = self._translate(error)
            except BaseException:
                # Ctrl-C, or the input generator raised: stop the job.
                self.cancel()
                self.finished = True
                raise
            if failure is not None:
                failure.__suppress_context__ = True
                raise failure
            if kind == _native.RESULT:
                return self._take(chunk)
            if kind == _native.DONE:
                self.finished = True
                self._job = None  # frees the library's job at once
                return None
            raise _timeout_error()

    def close(self) -> None:
        """Cancels the job if unfinished and lets it go."""
        self.cancel()
        self.finished = True
        self._job = None


class CodeJob(_Job):
    """A shipped function over items (tq/runner.py runs it on workers).

    ``next_chunk()`` returns ``(first_item, results)``: the index in the
    input of the chunk's first item and the list of its results.
    """

    def __init__(self, pool: Any, function: bytes, items: Iterable[Any], *,
                 call_style: int, ordered: bool, options: CodeOptions,
                 chunksize: int | None = None) -> None:
        super().__init__(ordered)
        _native = native()
        self._sizer = _native.ChunkSizer(target_micros=TARGET_CHUNK_MICROS)
        self._feeder = _chunking.ItemFeeder(
            items, self._sizer, options.parallelism, chunksize,
            ranges_allowed=call_style == CALL_MAP)
        first = self._feeder.next_chunk()
        if first is None:  # empty input: no job at all
            self.finished = True
            return
        try:
            self._job = pool.submit_code(
                function, initializer=options.initializer,
                call_style=call_style, runtime_version=RUNTIME_VERSION,
                max_chunks_per_runner=options.max_chunks_per_runner,
                max_concurrency=options.max_concurrency,
                first_chunks=[first[0]], **options.limits.kwargs())
        except _native.Error as error:
            failure = errors.from_native(error)
        else:
            self._started()
            return
        failure.__suppress_context__ = True
        raise failure

    def _feed(self) -> None:
        chunk = self._feeder.next_chunk()
        if chunk is None:
            self._job.end_input()
        else:
            self._job.append(chunk[0])

    def _take(self, chunk: Any) -> tuple[int, list[Any]]:
        if chunk.kind == "failed":
            return _failed_items(chunk)
        self._sizer.observe_result(chunk.size, chunk.run_micros,
                                   chunk.byte_size)
        return chunk.first_item, _pickling.loads_results(chunk.data())

    def _translate(self, error: Exception) -> BaseException:
        if getattr(error, "code", None) == errors.ABORTED:
            details = self._job.user_code_error()
            if details is not None:
                _, first_item, blob = details
                return errors.from_user_code(first_item, blob, str(error))
        return errors.from_native(error)


class AttachedJob(_Job):
    """A job another process submitted (Pool.attach): its results that the
    earlier client did not acknowledge. ``next_chunk()`` returns
    ``(first_item, results)`` as for the job's own kind."""

    def __init__(self, pool: Any, job_id: int, token: str, *,
                 ordered: bool) -> None:
        super().__init__(ordered)
        try:
            secret = bytes.fromhex(token)
        except ValueError:
            raise ValueError("token is the 32 hex digits the job's client "
                             f"had (job.token), not {token!r}") from None
        try:
            self._job = pool.attach(job_id, token=secret)
        except native().Error as error:
            failure = errors.from_native(error)
        else:
            self._started()
            return
        failure.__suppress_context__ = True
        raise failure

    def _feed(self) -> None:
        raise AssertionError("an attached job's input is complete")

    def _take(self, chunk: Any) -> Any:
        if chunk.kind == "bytes":
            return chunk.first_item, _pickling.loads_results(chunk.data())
        if chunk.kind == "count":
            return chunk.first_item, [chunk.count()]
        return _task_results(chunk)


class TaskJob(_Job):
    """A built-in task ("primes", ...) over integers: the native path.

    A ``range`` (step 1, within uint64) travels as a Range and the broker
    cuts it; other ranges, lists and tuples as numbers the library cuts; any
    other iterable streams. ``next_chunk()`` returns ``(first_item,
    results)``, or with ``count=True`` ``(items, true_items)``.
    """

    def __init__(self, pool: Any, task: str, items: Iterable[Any], *,
                 ordered: bool, count: bool = False,
                 chunksize: int | None = None,
                 params: dict[str, Any] | None = None,
                 max_concurrency: int = 0,
                 limits: Limits | None = None) -> None:
        super().__init__(ordered)
        limits = limits or Limits()
        if count and limits.skip_failed:
            raise TypeError("count() cannot skip failed items: use "
                            "imap_unordered(..., skip_failed=True)")
        _native = native()
        self._count = count
        self._numbers: Any = None
        kwargs: dict[str, Any] = dict(
            chunk_size=chunksize or 0, count=count,
            params={str(k): str(v) for k, v in (params or {}).items()},
            max_concurrency=max_concurrency, **limits.kwargs())
        if _chunking.known_length(items) == 0:
            self.finished = True
            return
        if _chunking.is_u64_range(items):
            kwargs["range"] = (items.start, items.stop - 1)
        elif isinstance(items, (range, list, tuple)):
            kwargs["numbers"] = list(items)
        else:
            self._numbers = _chunking.fixed_number_chunks(
                items, chunksize or TASK_STREAM_CHUNK)
            kwargs["streamed"] = True
        try:
            self._job = pool.submit_task(task, **kwargs)
        except (_native.Error, TypeError, ValueError) as error:
            failure = (errors.from_native(error)
                       if isinstance(error, _native.Error) else error)
        else:
            return
        failure.__suppress_context__ = True
        raise failure

    def _feed(self) -> None:
        chunk = next(self._numbers, None)
        if chunk is None:
            self._job.end_input()
        else:
            self._job.append(chunk)

    def _take(self, chunk: Any) -> Any:
        if self._count:
            return chunk.size, chunk.count()
        return _task_results(chunk)
