"""How code and items travel to workers: cloudpickle, by value.

Functions, lambdas and closures pickle by value with cloudpickle, and so do
the functions of the user's own modules that workers do not have: a module
whose file lies outside this interpreter's standard library and
site/dist-packages directories is registered with
``cloudpickle.register_pickle_by_value`` before pickling. The C++ library
content-addresses each blob by SHA-256, and the broker ships it to each
worker once.

Items go as one cloudpickled list per chunk (cloudpickle, not pickle: in a
runner ``__main__`` is tq.runner, so instances of classes from the caller's
``__main__`` must travel by value; for plain data both are equally fast).
Results come back as the runner's pickle.
"""

from __future__ import annotations

import os
import pickle
import sys
import warnings
from typing import Any, Callable, Iterable

# A function this large is shipped to every worker: say so.
WARN_BYTES = 1 << 20
# What one payload may hold (kMaxPayloadBytes in common/payload.h).
LIMIT_BYTES = 16 << 20

_PROTOCOL = pickle.HIGHEST_PROTOCOL

# Module name -> (file, registered by value?), so each module is looked at
# once.
_module_decisions: dict[str, tuple[str, bool]] = {}
_installed_roots: tuple[str, ...] | None = None


def _roots() -> tuple[str, ...]:
    """Directories whose modules every worker has: stdlib, site-packages."""
    global _installed_roots
    if _installed_roots is None:
        import site
        import sysconfig

        installed = sysconfig.get_paths()
        paths = {installed[key] for key in
                 ("stdlib", "platstdlib", "purelib", "platlib")}
        paths.update(site.getsitepackages())
        paths.add(site.getusersitepackages())
        # tq itself: workers run it (tq.runner).
        paths.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        _installed_roots = tuple(
            os.path.join(os.path.realpath(p), "") for p in paths if p)
    return _installed_roots


def _is_local(file: str) -> bool:
    real = os.path.realpath(file)
    return not any(real.startswith(root) for root in _roots())


def register_local_modules() -> None:
    """Registers for pickling by value every loaded module workers lack.

    A module counts as the user's own when its source file is outside the
    interpreter's stdlib and site/dist-packages directories. Its top-level
    package is registered, so functions, classes and submodules of it
    travel with the pickle.
    """
    import cloudpickle

    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or name == "__main__" or not file.endswith(".py"):
            continue
        top = name.partition(".")[0]
        if top == "tq":
            continue
        known = _module_decisions.get(name)
        if known is not None and known[0] == file:
            continue
        local = _is_local(file)
        _module_decisions[name] = (file, local)
        if local and top in sys.modules:
            cloudpickle.register_pickle_by_value(sys.modules[top])


def _check_size(data: bytes, what: str) -> None:
    mib = 1 << 20
    if len(data) > LIMIT_BYTES:
        from tq.errors import CodeTooLargeError

        raise CodeTooLargeError(
            f"the {what} is {len(data) / mib:.1f} MiB pickled; the limit is "
            f"{LIMIT_BYTES // mib} MiB. Pass large data as items, or load "
            "it on the workers (e.g. in the initializer)")
    if len(data) > WARN_BYTES:
        warnings.warn(
            f"the {what} is {len(data) / mib:.1f} MiB pickled (above "
            f"{WARN_BYTES // mib} MiB); it travels to every worker. Does it "
            "capture large data?", ResourceWarning, stacklevel=4)


def dumps_function(function: Callable[..., Any]) -> bytes:
    """The function's cloudpickle, by value; size-checked."""
    import cloudpickle

    register_local_modules()
    data = cloudpickle.dumps(function, protocol=_PROTOCOL)
    _check_size(data, f"function {_name(function)}")
    return data


def dumps_initializer(initializer: Callable[..., Any],
                      initargs: Iterable[Any]) -> bytes:
    """The ``(initializer, initargs)`` pair runners run once (tq/runner.py)."""
    import cloudpickle

    register_local_modules()
    data = cloudpickle.dumps((initializer, tuple(initargs)),
                             protocol=_PROTOCOL)
    _check_size(data, f"initializer {_name(initializer)} with its initargs")
    return data


def dumps_items(items: Any) -> bytes:
    """One chunk's items (a list, tuple or range) as the runner loads them."""
    import cloudpickle

    return cloudpickle.dumps(items, protocol=_PROTOCOL)


def loads_results(data: bytes) -> list[Any]:
    """A chunk's results, as the runner pickled them."""
    return pickle.loads(data)


def _name(function: Any) -> str:
    return getattr(function, "__qualname__", None) or repr(function)
