"""tq.Pool: multiprocessing.Pool's API, run on a tq cluster.

::

    import tq

    def is_prime(n): ...

    with tq.Pool() as pool:                  # no broker: an embedded cluster
        flags = pool.map(is_prime, range(1, 10**6 + 1))
    with tq.Pool(broker="tcp://broker:5555") as pool:
        total = pool.count("primes", range(1, 10**9 + 1))   # a built-in task

Same names, arguments and semantics as multiprocessing.Pool where they fit
(see README "Python" for what differs): functions travel by value
(cloudpickle), chunk sizes adapt to the function's speed, input streams
with bounded memory, and an exception in the function fails the job at once
and is re-raised here with its original type.

Faults of the cluster (a runner or worker that dies, a chunk past its run
limit) are retried; each map-like call may set its own limits::

    results = pool.map(f, xs, job_timeout=60, chunk_timeout=5,
                       max_attempts=2, skip_failed=True)
    failed = [r for r in results if isinstance(r, tq.ItemFailed)]
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable, Mapping, TypeVar

from tq import _cluster, _dispatch, _jobs, _pickling, _results, errors

__all__ = ["Pool"]

T = TypeVar("T")
R = TypeVar("R")

# Background jobs (apply_async, map_async) at once per Pool: half the
# broker's per-client limit (64), leaving room for map/imap in the caller's
# threads.
ASYNC_JOBS_IN_FLIGHT = 32

RUN, CLOSE, TERMINATE = "RUN", "CLOSE", "TERMINATE"

Func = Callable[..., Any]
ErrorCallback = Callable[[BaseException], Any]


class Pool:
    """A pool of workers on a tq cluster, used like multiprocessing.Pool.

    >>> with tq.Pool() as pool:                          # doctest: +SKIP
    ...     pool.map(abs, [-1, -2, 3])
    [1, 2, 3]

    ``processes`` sizes the embedded cluster (default: the usable CPUs), or
    on a broker caps how many of each job's chunks run at once.
    ``initializer(*initargs)`` runs once in each runner process before its
    first chunk (globals it sets are seen by the mapped function);
    ``maxtasksperchild`` replaces a runner after that many chunks.

    tq's own arguments are keyword-only: ``broker`` (default $TQ_BROKER;
    neither: an embedded in-process cluster), ``job_timeout`` (seconds after
    which the cluster cancels a job: :class:`tq.JobTimeoutError`),
    ``connect_timeout`` (seconds), ``curve_key``/``curve_server_key``
    (CurveZMQ key files; default $TQ_CURVE_KEY/$TQ_CURVE_SERVER_KEY) and
    ``name`` (shown by ``tq-client status``).

    Fault limits, the defaults of every job of this pool (None: the
    broker's, ``--chunk-timeout-ms``/``--max-attempts``): ``chunk_timeout``
    (seconds one hand-out of a chunk may run; past it the worker gives the
    chunk up, killing its runner, and that counts as a failed attempt) and
    ``max_attempts`` (failed attempts of an item before it fails the job).
    The map-like methods take ``job_timeout``, ``chunk_timeout``,
    ``max_attempts`` and ``skip_failed`` per call.

    Leaving a ``with`` block calls :meth:`terminate`, as in multiprocessing.
    Methods may be called from several threads.
    """

    def __init__(self, processes: int | None = None,
                 initializer: Func | None = None,
                 initargs: Iterable[Any] = (),
                 maxtasksperchild: int | None = None, *,
                 broker: str | None = None,
                 job_timeout: float | None = None,
                 connect_timeout: float = 10.0,
                 curve_key: str | None = None,
                 curve_server_key: str | None = None,
                 name: str | None = None,
                 chunk_timeout: float | None = None,
                 max_attempts: int | None = None) -> None:
        if processes is not None and (not isinstance(processes, int) or
                                      processes < 1):
            raise ValueError("Number of processes must be at least 1")
        if maxtasksperchild is not None and (
                not isinstance(maxtasksperchild, int) or
                maxtasksperchild <= 0):
            raise ValueError("maxtasksperchild must be a positive int or None")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._limits = _jobs.Limits(
            timeout_ms=_jobs.milliseconds(job_timeout, "job_timeout"),
            chunk_timeout_ms=_jobs.milliseconds(chunk_timeout,
                                                "chunk_timeout"),
            max_attempts=_jobs.attempts(max_attempts))
        self._state = TERMINATE  # until connected: nothing to clean up
        self._lock = threading.Lock()
        self._processes = processes
        self._initializer = initializer
        self._initargs = tuple(initargs)
        self._initializer_blob: bytes | None = None
        self._maxtasksperchild = maxtasksperchild or 0
        address = _cluster.broker_address(broker)
        self._native = _cluster.connect(
            broker=address, threads=processes if not address else None,
            connect_timeout=connect_timeout, curve_key=curve_key,
            curve_server_key=curve_server_key, name=name)
        self._dispatcher = _dispatch.Dispatcher(ASYNC_JOBS_IN_FLIGHT,
                                                "tq-pool")
        self._state = RUN
        _cluster.track(self)

    # ------------------------------------------------------------ facts --

    @property
    def broker(self) -> str:
        """The broker's address ("inproc://..." for the embedded cluster)."""
        return self._native.endpoint

    @property
    def embedded(self) -> bool:
        """Whether this pool runs its own in-process cluster."""
        return self._native.embedded

    @property
    def worker_threads(self) -> int:
        """Worker threads the cluster had when this pool connected."""
        return self._native.worker_threads

    @property
    def tasks(self) -> list[str]:
        """The built-in tasks the cluster offers ("primes", "factor", ...)."""
        return list(self._native.tasks)

    def status(self) -> dict[str, Any]:
        """The broker's view: workers, queue, running jobs (StatusReply).

        >>> pool.status()["jobs"][0]["state"]      # doctest: +SKIP
        'STATE_WAITING_FOR_CAPABLE_WORKER'

        Field names as in proto/tq/v1/tq.proto's StatusReply (64-bit
        counts are strings, as proto3 JSON has them).
        """
        import json

        self._check_running(allow_closed=True)
        try:
            return json.loads(self._native.status_json())
        except _jobs.native().Error as error:
            failure = errors.from_native(error)
        raise failure

    # ------------------------------------------------------------- jobs --

    def _check_running(self, allow_closed: bool = False) -> None:
        if self._state == RUN or (allow_closed and self._state == CLOSE):
            return
        raise ValueError("Pool not running")

    def _limits_for(self, job_timeout: float | None,
                    chunk_timeout: float | None, max_attempts: int | None,
                    skip_failed: bool) -> _jobs.Limits:
        """One call's limits: its own where given, else the pool's."""
        pool = self._limits
        if not isinstance(skip_failed, bool):
            raise TypeError(f"skip_failed must be a bool, not {skip_failed!r}")
        return _jobs.Limits(
            timeout_ms=(_jobs.milliseconds(job_timeout, "job_timeout")
                        if job_timeout is not None else pool.timeout_ms),
            chunk_timeout_ms=(
                _jobs.milliseconds(chunk_timeout, "chunk_timeout")
                if chunk_timeout is not None else pool.chunk_timeout_ms),
            max_attempts=(_jobs.attempts(max_attempts)
                          if max_attempts is not None else pool.max_attempts),
            skip_failed=skip_failed)

    def _code_options(self, limits: _jobs.Limits | None = None
                      ) -> _jobs.CodeOptions:
        with self._lock:
            if (self._initializer is not None and
                    self._initializer_blob is None):
                self._initializer_blob = _pickling.dumps_initializer(
                    self._initializer, self._initargs)
        threads = max(1, self._native.worker_threads)
        on_broker = not self._native.embedded
        if on_broker and self._processes:
            threads = min(threads, self._processes)
        return _jobs.CodeOptions(
            initializer=self._initializer_blob or b"",
            max_chunks_per_runner=self._maxtasksperchild,
            max_concurrency=(self._processes or 0) if on_broker else 0,
            parallelism=threads, limits=limits or self._limits)

    def _job(self, func: Func | str, iterable: Iterable[Any], *,
             call_style: int, ordered: bool, chunksize: int | None,
             params: Mapping[str, Any] | None = None,
             count: bool = False,
             limits: _jobs.Limits | None = None) -> Any:
        """Submits a job (code or task) and returns its reader.

        Callers check the pool is running first: a closed pool still runs
        the async work submitted before close().
        """
        self._check_running(allow_closed=True)
        if chunksize is not None and (not isinstance(chunksize, int) or
                                      chunksize < 1):
            raise ValueError(f"Chunksize must be 1+, not {chunksize!r}")
        if isinstance(func, str):
            if call_style != _jobs.CALL_MAP:
                raise TypeError(f"built-in task {func!r} takes one number "
                                "per item: use map, imap or count")
            return _jobs.TaskJob(
                self._native, func, iterable, ordered=ordered, count=count,
                chunksize=chunksize, params=dict(params or {}),
                max_concurrency=(0 if self._native.embedded
                                 else self._processes or 0),
                limits=limits or self._limits)
        if not callable(func):
            raise TypeError(f"{type(func).__name__!r} object is not callable")
        if params:
            raise TypeError("params= is for built-in tasks, not functions")
        return _jobs.CodeJob(
            self._native, _pickling.dumps_function(func), iterable,
            call_style=call_style, ordered=ordered,
            options=self._code_options(limits), chunksize=chunksize)

    @staticmethod
    def _collect(job: Any) -> list[Any]:
        out: list[Any] = []
        while (chunk := job.next_chunk()) is not None:
            out.extend(chunk[1])
        return out

    def _start(self, result: _results.AsyncResult, make_job: Callable[[], Any],
               finish: Callable[[Any], Any]) -> None:
        """Runs make_job() then finish(job) on a background thread."""
        def task() -> None:
            if self._state == TERMINATE:
                result._set(False, errors.JobCancelledError(
                    "the pool was terminated"))
                return
            try:
                job = make_job()
                result._cancel = job.cancel
                value = finish(job)
            except BaseException as exc:  # noqa: BLE001 - goes to get()
                result._set(False, exc)
            else:
                result._set(True, value)
        self._dispatcher.submit(task)

    # ------------------------------------------ multiprocessing.Pool API --

    def apply(self, func: Callable[..., R], args: Iterable[Any] = (),
              kwds: Mapping[str, Any] | None = None) -> R:
        """``func(*args, **kwds)`` on a worker; waits for the result.

        >>> pool.apply(pow, (2, 10))     # doctest: +SKIP
        1024
        """
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func: Callable[..., R], args: Iterable[Any] = (),
                    kwds: Mapping[str, Any] | None = None,
                    callback: Callable[[R], Any] | None = None,
                    error_callback: ErrorCallback | None = None
                    ) -> _results.AsyncResult[R]:
        """Like :meth:`apply`, returning an AsyncResult at once."""
        self._check_running()
        if not callable(func):
            raise TypeError(f"{type(func).__name__!r} object is not callable")
        call = [(tuple(args), dict(kwds or {}))]
        blob = _pickling.dumps_function(func)
        result: _results.AsyncResult[R] = _results.AsyncResult(
            callback, error_callback)
        def make_job() -> Any:
            return _jobs.CodeJob(self._native, blob, call,
                                 call_style=_jobs.CALL_APPLY, ordered=True,
                                 options=self._code_options())

        self._start(result, make_job, lambda job: self._collect(job)[0])
        return result

    def map(self, func: Callable[[T], R] | str, iterable: Iterable[T],
            chunksize: int | None = None, *,
            params: Mapping[str, Any] | None = None,
            job_timeout: float | None = None,
            chunk_timeout: float | None = None,
            max_attempts: int | None = None,
            skip_failed: bool = False) -> list[R | errors.ItemFailed]:
        """``[func(x) for x in iterable]``, computed on the cluster, in order.

        >>> pool.map(is_prime, range(1, 11))     # doctest: +SKIP
        [False, True, True, False, True, False, True, False, False, False]

        ``func`` may name a built-in task ("primes", "factor", ...): then
        items are integers and the work runs in C++ (``params``: the
        task's parameters). ``chunksize``: items per chunk (default:
        automatic).

        Limits of this job (None: the pool's): ``job_timeout`` (seconds;
        the cluster cancels the job and this raises
        :class:`tq.JobTimeoutError`), ``chunk_timeout`` (seconds one
        hand-out of a chunk may run before it counts as a failed attempt)
        and ``max_attempts`` (failed attempts of an item before it fails the
        job: :class:`tq.JobFailedError` naming it). With ``skip_failed``
        such an item does not fail the job: its result is a
        :class:`tq.ItemFailed` naming the cause.

        >>> pool.map(crashy, range(4), skip_failed=True)  # doctest: +SKIP
        [0, 1, tq.ItemFailed(index=2, error='...'), 9]
        """
        self._check_running()
        return self._collect(self._job(
            func, iterable, call_style=_jobs.CALL_MAP, ordered=True,
            chunksize=chunksize, params=params,
            limits=self._limits_for(job_timeout, chunk_timeout, max_attempts,
                                    skip_failed)))

    def map_async(self, func: Callable[[T], R] | str, iterable: Iterable[T],
                  chunksize: int | None = None,
                  callback: Callable[[list[R]], Any] | None = None,
                  error_callback: ErrorCallback | None = None, *,
                  job_timeout: float | None = None,
                  chunk_timeout: float | None = None,
                  max_attempts: int | None = None,
                  skip_failed: bool = False) -> _results.MapResult:
        """Like :meth:`map`, returning a MapResult at once.

        ``job_timeout`` stops the job on the cluster (``get()`` raises
        :class:`tq.JobTimeoutError`); ``get(timeout)`` only stops waiting.
        """
        return self._map_async(
            func, iterable, _jobs.CALL_MAP, chunksize, callback,
            error_callback, self._limits_for(job_timeout, chunk_timeout,
                                             max_attempts, skip_failed))

    def _map_async(self, func: Any, iterable: Iterable[Any], call_style: int,
                   chunksize: int | None, callback: Any,
                   error_callback: Any,
                   limits: _jobs.Limits) -> _results.MapResult:
        self._check_running()
        result = _results.MapResult(callback, error_callback)
        self._start(result,
                    lambda: self._job(func, iterable, call_style=call_style,
                                      ordered=True, chunksize=chunksize,
                                      limits=limits),
                    self._collect)
        return result

    def imap(self, func: Callable[[T], R] | str, iterable: Iterable[T],
             chunksize: int | None = None, *,
             params: Mapping[str, Any] | None = None,
             job_timeout: float | None = None,
             chunk_timeout: float | None = None,
             max_attempts: int | None = None,
             skip_failed: bool = False
             ) -> _results.IMapIterator[R | errors.ItemFailed]:
        """Like :meth:`map`, but results stream back, in input order.

        The input is read lazily as the job has room (a generator or a file
        of any length needs memory for one window of chunks). Limits as for
        :meth:`map`; ``next(timeout)`` only stops waiting, ``job_timeout``
        stops the job.
        """
        self._check_running()
        return _results.IMapIterator(
            self._job(func, iterable, call_style=_jobs.CALL_MAP, ordered=True,
                      chunksize=chunksize, params=params,
                      limits=self._limits_for(job_timeout, chunk_timeout,
                                              max_attempts, skip_failed)))

    def imap_unordered(self, func: Callable[[T], R] | str,
                       iterable: Iterable[T], chunksize: int | None = None, *,
                       params: Mapping[str, Any] | None = None,
                       job_timeout: float | None = None,
                       chunk_timeout: float | None = None,
                       max_attempts: int | None = None,
                       skip_failed: bool = False
                       ) -> _results.IMapIterator[R | errors.ItemFailed]:
        """Like :meth:`imap`, results in the order chunks complete.

        A :class:`tq.ItemFailed` (``skip_failed``) says which item it
        stands for (``.index``), as results here come out of order.
        """
        self._check_running()
        return _results.IMapIterator(
            self._job(func, iterable, call_style=_jobs.CALL_MAP, ordered=False,
                      chunksize=chunksize, params=params,
                      limits=self._limits_for(job_timeout, chunk_timeout,
                                              max_attempts, skip_failed)))

    def attach(self, job_id: int, token: str, *, ordered: bool = True
               ) -> _results.IMapIterator[Any]:
        """The results of a job another process submitted (``imap``'s
        iterator there has ``.job_id`` and ``.token``), e.g. after that
        process died: every result it had not consumed, in input order
        (``ordered=False``: as chunks complete). Results it consumed do not
        come again. The job's input must have been sent whole (the rest of
        an iterable is only its own process's: tq.JobFailedError otherwise,
        and the job stays with its process).
        Needs a broker (an embedded cluster's jobs die with their process); a wrong token raises PermissionError, a job the
        broker does not hold (it ended) ValueError. The process reading it
        before loses it (its reads raise tq.JobFailedError).
        """
        self._check_running()
        if self._native.embedded:
            raise ValueError("attach needs a broker: an embedded cluster's "
                             "jobs end with the process that started them")
        return _results.IMapIterator(
            _jobs.AttachedJob(self._native, job_id, token, ordered=ordered))

    def starmap(self, func: Callable[..., R],
                iterable: Iterable[Iterable[Any]],
                chunksize: int | None = None, *,
                job_timeout: float | None = None,
                chunk_timeout: float | None = None,
                max_attempts: int | None = None,
                skip_failed: bool = False) -> list[R | errors.ItemFailed]:
        """``[func(*args) for args in iterable]``, on the cluster, in order.

        >>> pool.starmap(pow, [(2, 10), (3, 5)])     # doctest: +SKIP
        [1024, 243]

        Limits as for :meth:`map`.
        """
        self._check_running()
        return self._collect(self._job(
            func, iterable, call_style=_jobs.CALL_STAR, ordered=True,
            chunksize=chunksize,
            limits=self._limits_for(job_timeout, chunk_timeout, max_attempts,
                                    skip_failed)))

    def starmap_async(self, func: Callable[..., R],
                      iterable: Iterable[Iterable[Any]],
                      chunksize: int | None = None,
                      callback: Callable[[list[R]], Any] | None = None,
                      error_callback: ErrorCallback | None = None, *,
                      job_timeout: float | None = None,
                      chunk_timeout: float | None = None,
                      max_attempts: int | None = None,
                      skip_failed: bool = False) -> _results.MapResult:
        """Like :meth:`starmap`, returning a MapResult at once."""
        return self._map_async(
            func, iterable, _jobs.CALL_STAR, chunksize, callback,
            error_callback, self._limits_for(job_timeout, chunk_timeout,
                                             max_attempts, skip_failed))

    def count(self, func: Callable[[T], Any] | str, iterable: Iterable[T], *,
              chunksize: int | None = None,
              params: Mapping[str, Any] | None = None,
              job_timeout: float | None = None,
              chunk_timeout: float | None = None,
              max_attempts: int | None = None) -> int:
        """How many items ``func`` finds true.

        >>> pool.count("primes", range(1, 10**9 + 1))   # doctest: +SKIP
        50847534

        With a built-in task's name the workers count (nothing per item
        travels); with a function, the true results are counted here.
        Limits as for :meth:`map`; an item failing every attempt fails the
        count (there is no ``skip_failed``: a count cannot say what it
        missed).
        """
        self._check_running()
        limits = self._limits_for(job_timeout, chunk_timeout, max_attempts,
                                  False)
        if isinstance(func, str):
            job = self._job(func, iterable, call_style=_jobs.CALL_MAP,
                            ordered=False, chunksize=chunksize,
                            params=params, count=True, limits=limits)
            total = 0
            while (chunk := job.next_chunk()) is not None:
                total += chunk[1]
            return total
        return sum(1 for result in _results.IMapIterator(self._job(
            func, iterable, call_style=_jobs.CALL_MAP, ordered=False,
            chunksize=chunksize, limits=limits)) if result)

    # --------------------------------------------------------- lifetime --

    def close(self) -> None:
        """No more work may be submitted; submitted work goes on."""
        if self._state == RUN:
            self._state = CLOSE
            self._dispatcher.stop()

    def terminate(self) -> None:
        """Cancels every job of this pool on the cluster and disconnects.

        Workers kill the runners of its running chunks; pending results fail
        with :class:`tq.JobCancelledError`. Idempotent.
        """
        if self._state == TERMINATE:
            return
        self._state = TERMINATE
        self._dispatcher.stop()
        for task in self._dispatcher.take_queued():
            task()  # each sees TERMINATE and fails its result
        self._native.close()  # cancels the running jobs
        self._dispatcher.join()

    def join(self) -> None:
        """Waits for submitted work to finish, after close() or terminate()."""
        if self._state == RUN:
            raise ValueError("Pool is still running")
        self._dispatcher.join()
        self._native.close()

    def _atexit(self) -> None:
        self.terminate()

    def __enter__(self) -> "Pool":
        self._check_running()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.terminate()

    def __reduce__(self) -> Any:
        raise NotImplementedError(
            "pool objects cannot be passed between processes or pickled")

    def __repr__(self) -> str:
        where = "embedded" if self._native.embedded else self._native.endpoint
        return (f"<tq.Pool state={self._state} cluster={where} "
                f"worker_threads={self._native.worker_threads}>")

    def __del__(self) -> None:
        if getattr(self, "_state", TERMINATE) != TERMINATE:
            try:
                self.terminate()
            except Exception:  # noqa: BLE001 - finalizer: nothing to report to
                pass
