"""tq: run Python functions on a tq cluster, the way multiprocessing.Pool does.

::

    import tq

    def is_prime(n): ...

    with tq.Pool() as pool:                      # no broker: embedded cluster
        flags = pool.map(is_prime, range(1, 10**6 + 1))
    with tq.Pool(broker="tcp://broker:5555") as pool:   # or $TQ_BROKER
        for n, ok in zip(numbers, pool.imap(is_prime, numbers)): ...
    with tq.Executor(broker="tcp://broker:5555") as ex:  # concurrent.futures
        future = ex.submit(pow, 2, 10)

This file stays import-light on purpose: ``python -m tq.runner`` (the process
a worker runs users' code in) executes it first, and a runner must start
fast. Names load on first use (PEP 562): ``import tq`` loads neither the
native extension nor cloudpickle, multiprocessing or concurrent.futures.
"""

from __future__ import annotations

__all__ = [
    "AsyncResult",
    "BrokerUnavailableError",
    "CodeRefusedError",
    "CodeTooLargeError",
    "Executor",
    "Future",
    "IMapIterator",
    "ItemFailed",
    "JobCancelledError",
    "JobFailedError",
    "JobTimeoutError",
    "MapResult",
    "Pool",
    "RemoteError",
    "RemoteTraceback",
    "TqError",
    "VersionMismatchError",
]

# Public name -> the module that defines it.
_HOMES = {
    "AsyncResult": "tq._results",
    "MapResult": "tq._results",
    "IMapIterator": "tq._results",
    "Executor": "tq.executor",
    "Future": "tq.executor",
    "Pool": "tq.pool",
    **{name: "tq.errors" for name in (
        "BrokerUnavailableError", "CodeRefusedError", "CodeTooLargeError",
        "ItemFailed", "JobCancelledError", "JobFailedError", "JobTimeoutError",
        "RemoteError", "RemoteTraceback", "TqError", "VersionMismatchError")},
}


def __getattr__(name: str) -> object:
    """Loads a public name's module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tq' has no attribute {name!r}")
    # __import__, not importlib: importing importlib costs a runner start-up.
    value = getattr(__import__(home, fromlist=[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
