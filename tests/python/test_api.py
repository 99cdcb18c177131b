"""The package's surface: what `import tq` costs, and that every public name
has a docstring and type hints."""

from __future__ import annotations

import concurrent.futures
import inspect
import multiprocessing
import subprocess
import sys
import typing

import tq


def test_import_tq_stays_light():
    # tq.runner imports tq/__init__.py in every runner start; Pool users pay
    # for the native module and cloudpickle on first use, not at import.
    code = ("import sys, tq\n"
            "heavy = ['tq._native', 'cloudpickle', 'multiprocessing',\n"
            "         'concurrent.futures', 'typing', 'importlib']\n"
            "print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_all_names_resolve_and_nothing_else_is_public():
    for name in tq.__all__:
        assert getattr(tq, name) is not None
    assert sorted(tq.__all__) == tq.__all__
    assert set(dir(tq)) >= set(tq.__all__)


def public_callables():
    for name in tq.__all__:
        value = getattr(tq, name)
        yield name, value
        if inspect.isclass(value):
            for attr, member in vars(value).items():
                if attr.startswith("_") and attr not in ("__init__",):
                    continue
                if isinstance(member, property):
                    yield f"{name}.{attr}", member.fget
                elif inspect.isfunction(member):
                    yield f"{name}.{attr}", member


def test_every_public_name_and_method_has_a_docstring():
    missing = [name for name, value in public_callables()
               if name.split(".")[-1] != "__init__" and
               not (inspect.getdoc(value) or "").strip()]
    assert missing == []


def test_every_public_function_has_type_hints():
    missing = []
    for name, value in public_callables():
        if not inspect.isfunction(value):
            continue
        module = sys.modules[value.__module__]
        try:
            hints = typing.get_type_hints(value, vars(module))
        except Exception as error:  # noqa: BLE001 - report, don't crash
            missing.append(f"{name}: unresolvable hints ({error})")
            continue
        parameters = [p for p in inspect.signature(value).parameters
                      if p != "self"]
        unhinted = [p for p in parameters if p not in hints]
        if unhinted or "return" not in hints:
            missing.append(f"{name}: {unhinted or 'return'}")
    assert missing == []


def test_pool_and_executor_mirror_the_standard_library():
    mp_pool_methods = ["apply", "apply_async", "map", "map_async", "imap",
                       "imap_unordered", "starmap", "starmap_async", "close",
                       "terminate", "join", "__enter__", "__exit__"]
    for method in mp_pool_methods:
        assert callable(getattr(tq.Pool, method)), method
    assert list(inspect.signature(tq.Pool).parameters)[:4] == [
        "processes", "initializer", "initargs", "maxtasksperchild"]
    assert issubclass(tq.Executor, concurrent.futures.Executor)
    assert issubclass(tq.Future, concurrent.futures.Future)
    for result in ("get", "wait", "ready", "successful"):
        assert callable(getattr(tq.AsyncResult, result))
    assert issubclass(tq.MapResult, tq.AsyncResult)


def test_exceptions_are_the_builtin_kinds_users_catch():
    assert issubclass(tq.BrokerUnavailableError, ConnectionError)
    assert issubclass(tq.CodeRefusedError, PermissionError)
    assert issubclass(tq.JobTimeoutError, TimeoutError)
    assert issubclass(tq.CodeTooLargeError, ValueError)
    for name in tq.__all__:
        value = getattr(tq, name)
        if inspect.isclass(value) and issubclass(value, BaseException) \
                and value is not tq.RemoteTraceback:
            assert issubclass(value, tq.TqError), name
    assert multiprocessing.TimeoutError  # what get(timeout) raises
