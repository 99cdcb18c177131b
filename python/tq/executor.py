"""tq.Executor: a concurrent.futures.Executor running calls on a tq cluster.

::

    with tq.Executor(broker="tcp://broker:5555") as ex:
        future = ex.submit(pow, 2, 10)
        print(future.result())                 # 1024
        print(list(ex.map(abs, [-1, -2])))     # [1, 2]

Each ``submit`` is a one-call job; at most ``max_workers`` of them run at
once (the broker allows a client 64 running jobs) and the rest wait here, in
order. ``map`` runs one streaming job, like Pool.imap. A running future's
``cancel()`` cancels its job on the cluster, whose worker kills the runner
that ran it (concurrent.futures cannot stop a running call; tq can).
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures._base as futures_base
import threading
import time
from typing import Any, Callable, Iterable, Iterator, TypeVar

from tq import _cluster, _dispatch, _jobs, _pickling

__all__ = ["Executor", "Future"]

R = TypeVar("R")

# Jobs in flight per Executor at most: below the broker's per-client limit
# (64), with room for map() jobs.
MAX_JOBS_IN_FLIGHT = 48


class Future(concurrent.futures.Future):
    """A concurrent.futures.Future whose ``cancel()`` also stops it running.

    A pending future is cancelled as usual; a running one has its job
    cancelled on the cluster (its runner is killed) and turns cancelled.
    """

    def __init__(self) -> None:
        super().__init__()
        self._tq_job: Any = None

    def cancel(self) -> bool:
        """Cancels the call, running or not; False only once it finished."""
        with self._condition:
            if self._state != futures_base.RUNNING:
                return super().cancel()
            job = self._tq_job
            self._state = futures_base.CANCELLED_AND_NOTIFIED
            for waiter in self._waiters:
                waiter.add_cancelled(self)
            self._condition.notify_all()
        if job is not None:
            job.cancel()
        self._invoke_callbacks()
        return True

    def _attach(self, job: Any) -> bool:
        """Records the running job; False if the future was cancelled."""
        with self._condition:
            if self._state != futures_base.RUNNING:
                return False
            self._tq_job = job
            return True


class Executor(concurrent.futures.Executor):
    """Runs calls on a tq cluster: ``submit``, ``map``, ``shutdown``.

    >>> with tq.Executor() as ex:                  # doctest: +SKIP
    ...     ex.submit(pow, 2, 10).result()
    1024

    ``max_workers``: calls running at once (embedded: also the cluster's
    threads; default: the cluster's threads, at most 48). ``broker``
    (default $TQ_BROKER; neither: an embedded cluster), ``initializer``,
    ``initargs``, ``max_tasks_per_child``, ``job_timeout`` (seconds),
    ``connect_timeout``, ``curve_key``, ``curve_server_key`` and ``name``
    are as for :class:`tq.Pool`.
    """

    def __init__(self, max_workers: int | None = None, *,
                 broker: str | None = None,
                 initializer: Callable[..., Any] | None = None,
                 initargs: Iterable[Any] = (),
                 max_tasks_per_child: int | None = None,
                 job_timeout: float | None = None,
                 connect_timeout: float = 10.0,
                 curve_key: str | None = None,
                 curve_server_key: str | None = None,
                 name: str | None = None) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or
                                        max_workers <= 0):
            raise ValueError("max_workers must be greater than 0")
        if max_tasks_per_child is not None and (
                not isinstance(max_tasks_per_child, int) or
                max_tasks_per_child < 1):
            raise ValueError("max_tasks_per_child must be >= 1")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        address = _cluster.broker_address(broker)
        self._native = _cluster.connect(
            broker=address, threads=max_workers if not address else None,
            connect_timeout=connect_timeout, curve_key=curve_key,
            curve_server_key=curve_server_key, name=name)
        threads = max(1, self._native.worker_threads)
        limit = max_workers or max(4, threads)
        self._options = _jobs.CodeOptions(
            initializer=(_pickling.dumps_initializer(initializer, initargs)
                         if initializer is not None else b""),
            max_chunks_per_runner=max_tasks_per_child or 0,
            max_concurrency=0 if self._native.embedded else (max_workers or 0),
            timeout_ms=int(job_timeout * 1000) if job_timeout else 0,
            parallelism=min(threads, max_workers or threads))
        self._dispatcher = _dispatch.Dispatcher(
            min(limit, MAX_JOBS_IN_FLIGHT), "tq-executor")
        self._lock = threading.Lock()
        self._shutdown = False
        self._queued: dict[Future, None] = {}  # not yet started, in order
        self._closer: threading.Thread | None = None  # shutdown(wait=False)
        # The last function submitted and its pickle: a loop submitting one
        # function pickles it once.
        self._last: tuple[Any, bytes] | None = None
        _cluster.track(self)

    def _pickle(self, fn: Callable[..., Any]) -> bytes:
        last = self._last
        if last is not None and last[0] is fn:
            return last[1]
        blob = _pickling.dumps_function(fn)
        self._last = (fn, blob)
        return blob

    def submit(self, fn: Callable[..., R], /, *args: Any,
               **kwargs: Any) -> Future:
        """Schedules ``fn(*args, **kwargs)``; returns its Future.

        >>> ex.submit(pow, 2, 10).result()        # doctest: +SKIP
        1024
        """
        if not callable(fn):
            raise TypeError(f"{type(fn).__name__!r} object is not callable")
        with self._lock:
            if self._shutdown:
                raise RuntimeError(
                    "cannot schedule new futures after shutdown")
            blob = self._pickle(fn)
            future = Future()
            self._queued[future] = None
            self._dispatcher.submit(
                lambda: self._run(future, blob, [(args, kwargs)]))
            return future

    def _run(self, future: Future, blob: bytes, call: list[Any]) -> None:
        with self._lock:
            self._queued.pop(future, None)
        if not future.set_running_or_notify_cancel():
            return
        job = None
        try:
            job = _jobs.CodeJob(self._native, blob, call,
                                call_style=_jobs.CALL_APPLY, ordered=True,
                                options=self._options)
            if not future._attach(job):
                job.close()
                return
            value = job.next_chunk()[1][0]
            job.next_chunk()  # the job's end
        except BaseException as exc:  # noqa: BLE001 - goes to the future
            if not future.cancelled():
                future.set_exception(exc)
        else:
            if not future.cancelled():
                future.set_result(value)
        finally:
            if job is not None:
                job.close()

    def map(self, fn: Callable[..., R], *iterables: Iterable[Any],
            timeout: float | None = None,
            chunksize: int = 1) -> Iterator[R]:
        """Like the built-in map over the iterables, computed on the cluster.

        >>> list(ex.map(pow, [2, 3], [10, 5]))    # doctest: +SKIP
        [1024, 243]

        One streaming job, in input order, its input read lazily. Results
        that are not ready ``timeout`` seconds after this call raise
        TimeoutError. ``chunksize`` > 1 fixes items per chunk; the default
        lets tq size chunks.
        """
        if not callable(fn):
            raise TypeError(f"{type(fn).__name__!r} object is not callable")
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        with self._lock:
            if self._shutdown:
                raise RuntimeError(
                    "cannot schedule new futures after shutdown")
        end = None if timeout is None else time.monotonic() + timeout
        if len(iterables) == 1:
            items, style = iterables[0], _jobs.CALL_MAP
        else:
            items, style = zip(*iterables), _jobs.CALL_STAR
        job = _jobs.CodeJob(self._native, self._pickle(fn), items,
                            call_style=style, ordered=True,
                            options=self._options,
                            chunksize=chunksize if chunksize > 1 else None)
        return self._results(job, end)

    @staticmethod
    def _results(job: Any, end: float | None) -> Iterator[Any]:
        import multiprocessing

        try:
            while True:
                remaining = None if end is None else end - time.monotonic()
                try:
                    chunk = job.next_chunk(remaining)
                except multiprocessing.TimeoutError:
                    raise concurrent.futures.TimeoutError() from None
                if chunk is None:
                    return
                yield from chunk[1]
        finally:
            job.close()

    def shutdown(self, wait: bool = True, *,
                 cancel_futures: bool = False) -> None:
        """No more submits; with ``cancel_futures`` pending ones are dropped.

        ``wait``: return when the running calls are done (then disconnect).
        """
        with self._lock:
            self._shutdown = True
            queued = list(self._queued) if cancel_futures else []
        self._dispatcher.stop()
        for future in queued:
            future.cancel()
        if wait:
            self._dispatcher.join()
            self._native.close()
        elif self._closer is None:
            self._closer = threading.Thread(
                target=self._close_when_idle, daemon=True,
                name="tq-executor-shutdown")
            self._closer.start()

    def _close_when_idle(self) -> None:
        self._dispatcher.join()
        self._native.close()

    def _atexit(self) -> None:
        # No thread may be inside the library once the interpreter
        # finalizes: one taking the GIL back then is ended by
        # pthread_exit, whose unwinding through C++ aborts. Closing fails
        # every call fast, so the threads end promptly; wait for them.
        self.shutdown(wait=False, cancel_futures=True)
        self._native.close()  # returns once a close in progress is done
        self._dispatcher.join(_cluster.EXIT_JOIN_SECONDS)
        if self._closer is not None:
            self._closer.join(_cluster.EXIT_JOIN_SECONDS)

    def __del__(self) -> None:
        native = getattr(self, "_native", None)
        if native is not None and not native.closed:
            try:
                self.shutdown(wait=False, cancel_futures=True)
            except Exception:  # noqa: BLE001 - finalizer
                pass
