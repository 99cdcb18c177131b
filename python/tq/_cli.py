"""``python3 -m tq``: map a Python function (or a built-in task) over numbers.

::

    python3 -m tq map mymodule:is_prime 1 1000000
    python3 -m tq map mymodule:is_prime --input=numbers.txt --format=json
    python3 -m tq map primes 1 100 --format=count

Output forms and exit codes are tq-client's (README "tq-client", "Exit
codes"): 0 ok, 1 bad usage or input, 2 the job failed (an exception in the
function is printed with its remote traceback), 3 broker unreachable or
refusing us, 130 interrupted (the job is cancelled on the broker).
MODULE is imported from the current directory or sys.path, as ``python -m``
does; workers get the function by value (they need not have the module).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import time
from typing import Any, Callable, Iterator, NoReturn

from tq import _jobs, _numbers, _output, errors

EXIT_OK, EXIT_USAGE, EXIT_JOB_FAILED, EXIT_UNAVAILABLE = 0, 1, 2, 3
EXIT_INTERRUPTED = 130

USAGE = """\
python3 -m tq [flags] map MODULE:FUNCTION LO HI   f(n), n in LO..HI inclusive
python3 -m tq [flags] map MODULE:FUNCTION --input=FILE  numbers ('-': stdin)
python3 -m tq [flags] map TASK LO HI               a built-in task (primes)"""


class _UsageError(Exception):
    """Bad command line: exit 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python3 -m tq", usage=USAGE,
        description="Runs a Python function or a built-in task over numbers "
                    "on a tq cluster (or an embedded one) and prints the "
                    "results as tq-client does.",
        epilog="Exit codes: 0 ok, 1 bad usage or input, 2 job failed, "
               "3 broker unreachable or lost, 130 interrupted.")
    parser.add_argument("command", help="map")
    parser.add_argument("target", help="MODULE:FUNCTION or a built-in task")
    parser.add_argument("range", nargs="*", metavar="LO HI")
    parser.add_argument("--input", "--input-file", default="",
                        help="whitespace-separated numbers; '-' = stdin")
    parser.add_argument("--format", default="tsv", choices=_output.FORMATS,
                        help="tsv, json, true, count or bitmap")
    parser.add_argument("--unordered", action="store_true",
                        help="print chunks as they complete")
    parser.add_argument("--chunk-size", "--chunk_size", type=int, default=0,
                        dest="chunk_size",
                        help="items per chunk; 0: automatic")
    parser.add_argument("--broker", default=None,
                        help="tcp://HOST:PORT; default $TQ_BROKER, else an "
                             "embedded cluster")
    parser.add_argument("--progress", default="auto",
                        choices=("auto", "always", "never"),
                        help="progress on stderr (auto: if a terminal)")
    parser.add_argument("--connect-timeout", "--connect_timeout", type=float,
                        default=10.0, dest="connect_timeout",
                        help="seconds to wait for the broker")
    parser.add_argument("--threads", type=int, default=0,
                        help="embedded cluster's threads; 0: usable CPUs")
    parser.add_argument("--param", action="append", default=[],
                        help="task parameter key=value (repeatable)")
    return parser


def _fail(code: int, message: str) -> int:
    sys.stdout.flush()
    print(f"tq: {message}", file=sys.stderr)
    return code


def _load_function(target: str) -> Callable[..., Any]:
    module_name, _, attribute = target.partition(":")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # the current directory, as `python -m`
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise _UsageError(f"cannot import {module_name}: {error}") from None
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise _UsageError(
                f"module {module_name} has no attribute {attribute}") from None
    if not callable(value):
        raise _UsageError(f"{target} is not callable")
    return value


class _Progress:
    """``done / total items  rate/s  ETA``, on stderr, ~10 times a second."""

    def __init__(self, enabled: bool, total: int | None) -> None:
        self._enabled = enabled
        self._total = total
        self._done = 0
        self._start = self._last = time.monotonic()
        self._drawn = False

    def advance(self, items: int) -> None:
        self._done += items
        now = time.monotonic()
        if not self._enabled or now - self._last < 0.1:
            return
        self._last = now
        rate = self._done / max(now - self._start, 1e-9)
        line = f"{self._done}"
        if self._total:
            line += f" / {self._total}"
        line += f" items  {rate:,.0f}/s"
        if self._total and rate > 0:
            line += f"  ETA {(self._total - self._done) / rate:.0f}s"
        sys.stderr.write("\r" + line + "\033[K")
        sys.stderr.flush()
        self._drawn = True

    def clear(self) -> None:
        if self._drawn:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self._drawn = False


class _Recorder:
    """Remembers the numbers fed to a job until their results are written.

    Holds only the items cut and not yet written: one window of chunks.
    """

    def __init__(self, numbers: Iterator[int]) -> None:
        self._numbers = numbers
        self._by_index: dict[int, int] = {}
        self._next = 0

    def __iter__(self) -> Iterator[int]:
        for n in self._numbers:
            self._by_index[self._next] = n
            self._next += 1
            yield n

    def take(self, first: int, count: int) -> list[int]:
        pop = self._by_index.pop
        return [pop(i) for i in range(first, first + count)]


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python3 -m tq``; returns the exit code."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        args = _parser().parse_args(argv)
        return _run(args)
    except _UsageError as error:
        return _fail(EXIT_USAGE, f"{error} (see python3 -m tq --help)")


def _run(args: argparse.Namespace) -> int:
    if args.command != "map":
        raise _UsageError(f"unknown command '{args.command}'; use map")
    if args.input and args.range:
        raise _UsageError("'map' with --input takes no LO HI")
    if not args.input and len(args.range) != 2:
        raise _UsageError("'map' takes TARGET LO HI, or TARGET with --input")
    if args.chunk_size < 0 or args.threads < 0:
        raise _UsageError("--chunk-size and --threads must not be negative")
    ordered = not args.unordered
    if args.format == "bitmap" and not ordered:
        raise _UsageError(
            "--format=bitmap needs input order; drop --unordered")
    params = {}
    for param in args.param:
        key, eq, value = param.partition("=")
        if not eq or not key:
            raise _UsageError(f"--param '{param}' is not key=value")
        params[key] = value
    task = None if ":" in args.target else args.target
    function = _load_function(args.target) if task is None else None
    if task is None and params:
        raise _UsageError("--param is for built-in tasks")

    total: int | None = None
    recorder: _Recorder | None = None
    lo = 0
    try:
        if args.input:
            stream = sys.stdin.buffer if args.input == "-" else open(
                args.input, "rb")
            source = "stdin" if args.input == "-" else args.input
            if stream is not sys.stdin.buffer:
                # A file is checked whole before the job starts.
                total = sum(1 for _ in _numbers.read_numbers(stream, source))
                stream.seek(0)
            recorder = _Recorder(_numbers.read_numbers(stream, source))
            items: Any = iter(recorder)
        else:
            lo = _numbers.parse_number(args.range[0])
            hi = _numbers.parse_number(args.range[1])
            if lo > hi:
                raise _UsageError(f"LO {lo} is greater than HI {hi}")
            items = range(lo, hi + 1)
            total = hi - lo + 1
    except _numbers.NumberError as error:
        raise _UsageError(str(error)) from None
    except OSError as error:
        raise _UsageError(f"cannot read --input '{args.input}': "
                          f"{error.strerror}") from None

    show = args.progress == "always" or (args.progress == "auto" and
                                         sys.stderr.isatty())
    progress = _Progress(show, total)
    writer = _output.Writer(args.format, sys.stdout.buffer)
    count_only = args.format == "count"
    if count_only:
        ordered = False
    code = EXIT_OK
    try:
        from tq.pool import Pool

        with Pool(args.threads or None, broker=args.broker,
                  connect_timeout=args.connect_timeout) as pool:
            job = pool._job(task or function, items,
                            call_style=_jobs.CALL_MAP, ordered=ordered,
                            chunksize=args.chunk_size or None,
                            params=params, count=count_only and bool(task))
            last_flush = time.monotonic()
            while (chunk := job.next_chunk()) is not None:
                if count_only and task:
                    size, count = chunk
                    writer.add_count(count)
                    progress.advance(size)
                    continue
                first, results = chunk
                numbers = (recorder.take(first, len(results)) if recorder
                           else range(lo + first, lo + first + len(results)))
                writer.write(numbers, results)
                progress.advance(len(results))
                if time.monotonic() - last_flush > 0.1:
                    sys.stdout.buffer.flush()
                    last_flush = time.monotonic()
    except KeyboardInterrupt:
        code = _fail(EXIT_INTERRUPTED, "interrupted; output is incomplete")
    except _numbers.NumberError as error:
        code = _fail(EXIT_USAGE, f"{error}; output is incomplete")
    except (errors.BrokerUnavailableError, errors.CodeRefusedError) as error:
        code = _fail(EXIT_UNAVAILABLE, str(error))
    except BrokenPipeError:
        code = _fail(EXIT_JOB_FAILED,
                     "writing the output failed; output is incomplete")
    except errors.TqError as error:
        code = _fail(EXIT_JOB_FAILED, f"job failed: {error}; output is "
                                      "incomplete")
    except Exception as error:  # noqa: BLE001 - sorted out below
        if not isinstance(error.__cause__, errors.RemoteTraceback):
            if isinstance(error, (ValueError, TypeError)):
                # Refused at submit: an unknown task, bad parameters.
                code = _fail(EXIT_USAGE, str(error))
            else:
                raise
        else:
            import traceback

            progress.clear()
            traceback.print_exception(error)
            code = _fail(EXIT_JOB_FAILED, "job failed: the function raised "
                                          f"{type(error).__name__}; output is "
                                          "incomplete")
    finally:
        progress.clear()
    try:
        writer.finish(code == EXIT_OK)
    except BrokenPipeError:
        code = code or EXIT_JOB_FAILED
    return code
