"""The exceptions tq raises, and how the binding's errors map onto them.

Every tq exception derives from :class:`TqError`, and also from the built-in
exception a Python user would catch for the same situation::

    try:
        pool.map(f, xs)
    except ConnectionError:        # tq.BrokerUnavailableError
        ...
    except TimeoutError:           # tq.JobTimeoutError (job_timeout=)
        ...

With ``skip_failed=True`` an item that failed on every attempt does not
raise: its place in the results holds a :class:`ItemFailed` (an exception
object returned as a value, as ``asyncio.gather(return_exceptions=True)``
does).

An exception raised by the user's function is re-raised as itself (its own
type, when it unpickles), with a note naming the item and the remote
traceback as ``__cause__`` (a :class:`RemoteTraceback`), as multiprocessing
does; :class:`RemoteError` stands in for one that cannot be rebuilt.

Light on purpose: ``import tq`` may load this module without the native
extension or cloudpickle.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BrokerUnavailableError",
    "CodeRefusedError",
    "CodeTooLargeError",
    "ItemFailed",
    "JobCancelledError",
    "JobFailedError",
    "JobTimeoutError",
    "RemoteError",
    "RemoteTraceback",
    "TqError",
    "VersionMismatchError",
]

# absl::StatusCode numbers (absl/status/status.h), as the binding reports.
CANCELLED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
ABORTED = 10
OUT_OF_RANGE = 11
INTERNAL = 13
UNAVAILABLE = 14


class TqError(Exception):
    """Base of every tq error; ``code`` is the status code behind it, if any.

    ``except tq.TqError:`` catches every failure of the cluster itself (not
    the exceptions your own function raised, which keep their types).
    """

    code: int | None = None


class BrokerUnavailableError(TqError, ConnectionError):
    """The broker cannot be reached, refused us, or was lost mid-job.

    The message names the broker's address (and, for CURVE, the cause).
    """


class CodeRefusedError(TqError, PermissionError):
    """The cluster does not run shipped Python code for us.

    The message is the broker's: e.g. ``start tq-broker with
    --allow-code=python``.
    """


class VersionMismatchError(TqError):
    """Client and cluster disagree on a version.

    A pickle travels only between equal Python versions, so a job needs
    workers offering this interpreter's major.minor; the message names both.
    """


class JobFailedError(TqError):
    """A job failed in the cluster (e.g. a chunk failed on every attempt).

    The message names the chunk and the last error.
    """


class JobTimeoutError(TqError, TimeoutError):
    """The cluster cancelled the job at its ``job_timeout``."""


class ItemFailed(JobFailedError):
    """Stands in the results for an item that failed on every attempt.

    Returned, not raised: with ``skip_failed=True`` the job completes and
    each item the cluster gave up on (its runner or worker died, it ran past
    ``chunk_timeout``, a built-in task reported an error, ``max_attempts``
    times) holds one of these in its place::

        results = pool.map(f, xs, skip_failed=True)
        bad = [r for r in results if isinstance(r, tq.ItemFailed)]
        # bad[0].index == 3, bad[0].error == "... killed by signal 9 ..."

    ``index`` is the item's position in the input, ``error`` the cluster's
    cause (signal, exit status, error text or run limit). ``raise item``
    raises it as a :class:`JobFailedError`. An exception raised by the
    function itself still fails the job at once: it is yours, not a fault.
    Two are equal when index and error are.
    """

    def __init__(self, index: int, error: str) -> None:
        # The cluster's cause already names the item ("item 3 of job 7
        # failed 4 times; last error: ...").
        super().__init__(error or f"item {index} failed on every attempt")
        self.index = index
        self.error = error

    def __repr__(self) -> str:
        return f"tq.ItemFailed(index={self.index}, error={self.error!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ItemFailed):
            return NotImplemented
        return (self.index, self.error) == (other.index, other.error)

    def __hash__(self) -> int:
        return hash((self.index, self.error))

    def __reduce__(self) -> Any:
        return ItemFailed, (self.index, self.error)


class JobCancelledError(TqError):
    """The job was cancelled (``terminate()``, ``shutdown``, Ctrl-C)."""


class CodeTooLargeError(TqError, ValueError):
    """A pickled function or initializer exceeds the 16 MiB limit."""


class RemoteTraceback(Exception):
    """The traceback of an exception raised on a worker, as text.

    Set as ``__cause__`` of the re-raised exception, so it prints after it
    (multiprocessing.pool.RemoteTraceback does the same).
    """

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


class RemoteError(TqError):
    """The user's function raised an exception that could not be rebuilt here.

    ``type_name`` is its qualified type name, ``item_index`` the index in
    the input of the item it raised on (None if no item was at fault),
    ``item_repr`` that item's (truncated) repr.
    """

    def __init__(self, message: str, type_name: str = "",
                 item_index: int | None = None, item_repr: str = "") -> None:
        super().__init__(message)
        self.type_name = type_name
        self.item_index = item_index
        self.item_repr = item_repr


def _with_code(error: TqError, code: int) -> TqError:
    error.code = code
    return error


def from_native(error: Exception) -> BaseException:
    """The exception users see for a ``tq._native.Error``.

    Chosen by the status code, i.e. by what the caller does next.
    """
    code = getattr(error, "code", UNKNOWN)
    message = str(error)
    if message.startswith(("chunk ", "item ", "items ")) and " failed " in message:
        # The broker gave up on an item or a chunk ("item 3 of job 7 failed
        # 4 times; last error: ..."); its code is the last failure's, which
        # may be UNAVAILABLE (a runner died) without the broker being lost.
        return _with_code(JobFailedError(message), code)
    if code == UNAVAILABLE:
        return _with_code(BrokerUnavailableError(message), code)
    if code == PERMISSION_DENIED:
        return _with_code(CodeRefusedError(message), code)
    if code == FAILED_PRECONDITION and "version" in message:
        # A job's Python version no worker offers, or the protocol's.
        return _with_code(VersionMismatchError(message), code)
    if code == FAILED_PRECONDITION and "closed" in message:
        # The binding's pool was closed under a job: terminate().
        return _with_code(JobCancelledError(
            f"the job was cancelled: {message}"), CANCELLED)
    if code == DEADLINE_EXCEEDED:
        return _with_code(JobTimeoutError(message), code)
    if code == CANCELLED:
        return _with_code(JobCancelledError(message), code)
    if code in (INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE):
        # Bad input or an unknown task: what the standard library raises.
        return ValueError(message)
    return _with_code(JobFailedError(message), code)


def from_user_code(chunk_first_item: int, details: bytes,
                   fallback: str) -> BaseException:
    """Rebuilds the exception the user's function raised on a worker.

    ``details`` is the runner's pickled dict (tq/runner.py error_details);
    ``chunk_first_item`` the index in the input of the chunk's first item;
    ``fallback`` the job's message, used if the details are unreadable.
    """
    import pickle  # only on this path: keep `import tq` light

    try:
        info: dict[str, Any] = pickle.loads(details)
    except Exception:  # noqa: BLE001 - unreadable details: say what we have
        return RemoteError(fallback)
    offset = info.get("item_offset", -1)
    item_index = chunk_first_item + offset if offset >= 0 else None
    item_repr = info.get("item_repr", "")
    where = "on a tq worker"
    if item_index is not None:
        where = (f"on item {item_index} of the input ({item_repr}), "
                 "on a tq worker")
    elif info.get("stage") == "initializer":
        where = "in the pool's initializer, on a tq worker"
    exc: BaseException | None = None
    if info.get("exception"):
        try:
            exc = pickle.loads(info["exception"])
        except Exception:  # noqa: BLE001 - its class may not exist here
            exc = None
    if not isinstance(exc, BaseException):
        exc = RemoteError(
            f"{info.get('type', 'Exception')}: {info.get('message', '')} "
            f"(raised {where})", info.get("type", ""), item_index, item_repr)
    else:
        exc.add_note(f"tq: raised {where}")
    exc.__cause__ = RemoteTraceback(
        f'\n"""\n{info.get("traceback", "")}"""')
    return exc
