"""Connecting to a cluster: a broker ($TQ_BROKER) or an embedded one.

With no broker the library starts the embedded cluster in this process (the
same broker and worker code), whose worker runs shipped Python in runner
processes of this very interpreter, importing this very tq package.

Every live connection is closed at interpreter exit (before daemon threads
freeze), so no runner process or broker session outlives the program.
"""

from __future__ import annotations

import atexit
import os
import sys
import weakref
from typing import Any

from tq import _jobs, errors

# How long exit waits for a closed pool's threads to leave the library.
EXIT_JOIN_SECONDS = 10.0

# Objects with a terminate()-like `_atexit()`: Pools and Executors alive.
_live: "weakref.WeakSet[Any]" = weakref.WeakSet()
_atexit_registered = False


def _close_all() -> None:
    for owner in list(_live):
        try:
            owner._atexit()
        except Exception:  # noqa: BLE001 - exiting: do what we can
            pass


def track(owner: Any) -> None:
    """Closes `owner` (its ``_atexit()``) at exit if it is still alive."""
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_close_all)
        _atexit_registered = True
    _live.add(owner)


def broker_address(broker: str | None) -> str:
    """`broker`, else $TQ_BROKER, else "" (the embedded cluster)."""
    if broker is None:
        broker = os.environ.get("TQ_BROKER", "")
    return broker


def embedded_python() -> tuple[str, str, str, str]:
    """How the embedded worker runs Python: this interpreter and package.

    The detail names no cloudpickle version: importing cloudpickle costs
    ~11 ms that a Pool running only built-in tasks need not pay.
    """
    version = ".".join(str(part) for part in sys.version_info[:3])
    detail = (f"{sys.implementation.name.replace('cpython', 'CPython')} "
              f"{version} (this process)")
    package_parent = os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    return (sys.executable, _jobs.RUNTIME_VERSION, detail, package_parent)


def connect(*, broker: str | None, threads: int | None,
            connect_timeout: float, curve_key: str | None,
            curve_server_key: str | None, name: str | None) -> Any:
    """A native Pool; tq errors (ConnectionError, ...) if that fails."""
    _native = _jobs.native()
    address = broker_address(broker)
    program = os.path.basename(sys.argv[0] or "python")
    if connect_timeout is None or not 0 < connect_timeout < float("inf"):
        raise ValueError(
            "connect_timeout must be a positive number of seconds")
    if threads is not None and threads < 1:
        raise ValueError("processes must be at least 1")
    try:
        return _native.connect(
            broker=address,
            connect_timeout_ms=max(1, int(connect_timeout * 1000)),
            embedded_threads=threads or 0,
            name=name or f"{program}:{os.getpid()}",
            curve_key_file=curve_key or os.environ.get("TQ_CURVE_KEY", ""),
            curve_server_key_file=(curve_server_key or
                                   os.environ.get("TQ_CURVE_SERVER_KEY", "")),
            python=None if address else embedded_python())
    except _native.Error as error:
        failure = errors.from_native(error)
    failure.__suppress_context__ = True
    raise failure
