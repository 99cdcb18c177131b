"""The process a tq worker runs users' Python code in: ``python -m tq.runner``.

A worker started with ``--allow-code=python`` keeps long-lived runners (see
worker/runners/python_runners.h). Each runner serves one owner and one
initializer for its whole life, caches the functions it has loaded by sha256,
and runs one chunk at a time: requests arrive on fd 3, replies leave on fd 4,
so the user's ``print()`` goes to the runner's stdout and stderr (the
worker's), as with multiprocessing.

It imports only the standard library and cloudpickle: no generated protobuf
module and no tq native extension, so it starts in a python start-up plus
``import cloudpickle``.

Framing (the same text is in worker/runners/runner_protocol.h; change both):

  Every message is one frame: a u32 body length, then the body. Integers are
  little-endian; a blob is a u32 length followed by that many bytes.

  Request body (worker -> runner, fd 3):
    u8  kind          1 = run a chunk
    u8  call_style    0 = f(x), 1 = f(*x), 2 = f(*x[0], **x[1])
    u8  items_kind    0 = integer range, 1 = pickled list
    u8  flags         bit 0: the chunk has an initializer
    u32 max_result_bytes
    u64 job_id
    u64 chunk_index
    u64 items_a       range: first;  list: offset of the first item to run
    u64 items_b       range: last (inclusive);  list: count (0 = to the end)
    u64 items_c       list: length of the pickled list (0 = unchecked)
    5 blobs: function sha256, function pickle (empty = "you have it"),
             initializer sha256 (empty = no initializer), initializer pickle
             (empty = "you have it" or none), items pickle (empty for a range)

  Reply body (runner -> worker, fd 4):
    u8  kind          1 = ok, 2 = user error, 3 = need code (resend the
                      request with the pickles), 4 = protocol error (the
                      runner exits after sending it), 5 = ready (sent once,
                      unasked, when the runner has started: a runner that
                      dies before it failed to start, not the user's code)
    u8  flags         bit 0: retire this runner (its state is unusable)
    u16 reserved, 0
    u64 run_micros    wall time of the request inside the runner
    2 blobs: message (UTF-8, one line), payload (ok: the results' pickle;
             user error: the details' pickle, see ``error_details``)
"""

from __future__ import annotations

import collections
import itertools
import os
import pickle
import struct
import sys
import time
import cloudpickle

# Annotations only (they are strings here): importing typing, like
# dataclasses, would add milliseconds to every runner's start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Callable, Iterable, Sequence

__all__ = [
    "Reply",
    "Request",
    "RunnerState",
    "decode_reply",
    "decode_request",
    "encode_reply",
    "error_details",
    "encode_request",
    "main",
    "serve",
]

REQUEST_FD = 3
REPLY_FD = 4

RUN_CHUNK = 1
MAP, STAR, APPLY = 0, 1, 2
ITEMS_RANGE, ITEMS_LIST = 0, 1
FLAG_HAS_INITIALIZER = 1

OK, USER_ERROR, NEED_CODE, PROTOCOL_ERROR, READY = 1, 2, 3, 4, 5
FLAG_RETIRE = 1

LENGTH = struct.Struct("<I")
REQUEST_HEADER = struct.Struct("<BBBBIQQQQQ")
REPLY_HEADER = struct.Struct("<BBHQ")
REQUEST_BLOBS = 5
REPLY_BLOBS = 2

# Functions kept loaded per runner; the worker mirrors this LRU to decide
# when it may omit a function's pickle (kRunnerCodeCacheSize).
FUNCTION_CACHE_SIZE = 32
# Bounds on what an error reply carries, so that a huge exception cannot
# exceed the worker's reply limit (max_result_bytes + 4 MiB).
MAX_EXCEPTION_PICKLE = 1 << 20
MAX_TRACEBACK_CHARS = 64 << 10
MAX_MESSAGE_CHARS = 1000
MAX_ITEM_REPR = 200


class ProtocolError(Exception):
    """A malformed frame: the worker and this runner disagree on the format."""


class Request:
    """One chunk to run, as decoded from a request frame."""

    __slots__ = ("call_style", "items_kind", "has_initializer",
                 "max_result_bytes", "job_id", "chunk_index", "items_a",
                 "items_b", "items_c", "function_sha", "function_pickle",
                 "initializer_sha", "initializer_pickle", "items_pickle")

    def __init__(self, call_style: int, items_kind: int,
                 has_initializer: bool, max_result_bytes: int, job_id: int,
                 chunk_index: int, items_a: int, items_b: int, items_c: int,
                 function_sha: bytes, function_pickle: Any,
                 initializer_sha: bytes, initializer_pickle: Any,
                 items_pickle: Any) -> None:
        self.call_style = call_style
        self.items_kind = items_kind
        self.has_initializer = has_initializer
        self.max_result_bytes = max_result_bytes
        self.job_id = job_id
        self.chunk_index = chunk_index
        self.items_a = items_a  # range: first; list: offset
        self.items_b = items_b  # range: last; list: count (0 = to the end)
        self.items_c = items_c  # list: its length (0 = unchecked)
        self.function_sha = function_sha
        self.function_pickle = function_pickle  # empty: the runner has it
        self.initializer_sha = initializer_sha
        self.initializer_pickle = initializer_pickle
        self.items_pickle = items_pickle


class Reply:
    """What the runner answers to one request."""

    __slots__ = ("kind", "message", "payload", "run_micros", "retire")

    def __init__(self, kind: int, message: str = "", payload: bytes = b"",
                 run_micros: int = 0, retire: bool = False) -> None:
        self.kind = kind
        self.message = message
        self.payload = payload
        self.run_micros = run_micros
        self.retire = retire

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reply) and all(
            getattr(self, name) == getattr(other, name)
            for name in self.__slots__)

    def __repr__(self) -> str:
        return (f"Reply(kind={self.kind}, message={self.message!r}, "
                f"payload={self.payload[:40]!r}, run_micros={self.run_micros}, "
                f"retire={self.retire})")


def _blobs(parts: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for part in parts:
        out.append(LENGTH.pack(len(part)))
        out.append(part)
    return out


def _frame(header: bytes, blobs: Sequence[Any]) -> list[Any]:
    parts = [header, *_blobs(blobs)]
    size = sum(len(p) for p in parts)
    return [LENGTH.pack(size), *parts]


def _split_blobs(body: memoryview, offset: int,
                 count: int) -> list[memoryview]:
    blobs = []
    for _ in range(count):
        if offset + 4 > len(body):
            raise ProtocolError("frame ends inside a blob length")
        (size,) = LENGTH.unpack_from(body, offset)
        offset += 4
        if offset + size > len(body):
            raise ProtocolError("frame ends inside a blob")
        blobs.append(body[offset : offset + size])
        offset += size
    if offset != len(body):
        raise ProtocolError(
            f"{len(body) - offset} stray bytes after the blobs")
    return blobs


def encode_request(request: Request) -> list[Any]:
    """Returns the frame of ``request`` as a list of parts (for os.writev).

    >>> b"".join(encode_request(req))  # doctest: +SKIP
    """
    flags = FLAG_HAS_INITIALIZER if request.has_initializer else 0
    header = REQUEST_HEADER.pack(
        RUN_CHUNK, request.call_style, request.items_kind, flags,
        request.max_result_bytes, request.job_id, request.chunk_index,
        request.items_a, request.items_b, request.items_c)
    return _frame(header, [
        request.function_sha, request.function_pickle,
        request.initializer_sha, request.initializer_pickle,
        request.items_pickle])


def decode_request(body: memoryview) -> Request:
    """Decodes a request body (the frame without its length prefix)."""
    if len(body) < REQUEST_HEADER.size:
        raise ProtocolError(f"request of {len(body)} bytes is too short")
    (kind, call_style, items_kind, flags, max_result_bytes, job_id,
     chunk_index, a, b, c) = REQUEST_HEADER.unpack_from(body)
    if kind != RUN_CHUNK:
        raise ProtocolError(f"unknown request kind {kind}")
    if call_style not in (MAP, STAR, APPLY):
        raise ProtocolError(f"unknown call style {call_style}")
    if items_kind not in (ITEMS_RANGE, ITEMS_LIST):
        raise ProtocolError(f"unknown items kind {items_kind}")
    blobs = _split_blobs(body, REQUEST_HEADER.size, REQUEST_BLOBS)
    return Request(call_style, items_kind, bool(flags & FLAG_HAS_INITIALIZER),
                   max_result_bytes, job_id, chunk_index, a, b, c,
                   bytes(blobs[0]), blobs[1], bytes(blobs[2]), blobs[3],
                   blobs[4])


def encode_reply(reply: Reply) -> list[Any]:
    """Returns the frame of ``reply`` as a list of parts (for os.writev)."""
    header = REPLY_HEADER.pack(reply.kind, FLAG_RETIRE if reply.retire else 0,
                               0, reply.run_micros)
    message = reply.message.encode("utf-8", "replace")
    return _frame(header, [message, reply.payload])


def decode_reply(body: memoryview) -> Reply:
    """Decodes a reply body; the inverse of ``encode_reply`` (for tests)."""
    if len(body) < REPLY_HEADER.size:
        raise ProtocolError(f"reply of {len(body)} bytes is too short")
    kind, flags, _, run_micros = REPLY_HEADER.unpack_from(body)
    message, payload = _split_blobs(body, REPLY_HEADER.size, REPLY_BLOBS)
    return Reply(kind, bytes(message).decode("utf-8"), bytes(payload),
                 run_micros, bool(flags & FLAG_RETIRE))


def _qualified_name(cls: type) -> str:
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_repr(item: Any) -> str:
    import reprlib  # error path only: keep start-up light

    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = MAX_ITEM_REPR
    try:
        text = shortener.repr(item)
    except BaseException:  # a user's __repr__ may raise anything
        text = f"<{_qualified_name(type(item))} with a failing repr>"
    text = _one_line(text, MAX_ITEM_REPR)
    return text


def _pickle_exception(exc: BaseException) -> bytes:
    """The exception's pickle, or b"" if it cannot make the round trip."""
    for dumps in (pickle.dumps, cloudpickle.dumps):
        try:
            data = dumps(exc, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.loads(data)  # custom __init__s often break unpickling
        except BaseException:
            continue
        return data if len(data) <= MAX_EXCEPTION_PICKLE else b""
    return b""


def _remote_traceback(exc: BaseException) -> str:
    import traceback  # error path only

    tb = exc.__traceback__
    # Frames of this file say nothing to the user: start at their code.
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    if len(text) > MAX_TRACEBACK_CHARS:
        text = "...\n" + text[-MAX_TRACEBACK_CHARS:]
    return text


def error_details(exc: BaseException, stage: str, item_offset: int = -1,
                  item_repr: str = "") -> bytes:
    """The pickled details of a user error (the payload of a USER_ERROR).

    A dict: "exception" (its pickle, or b""), "type" (qualified name),
    "message" (str(exc)), "traceback" (text), "item_offset" (index within the
    items run, -1 when no item is at fault), "item_repr" (truncated repr, ""
    when no item), "stage" ("initializer", "function", "items", "call" or
    "result").
    """
    try:
        text = str(exc)
    except BaseException:
        text = "<exception with a failing str>"
    return pickle.dumps({
        "exception": _pickle_exception(exc),
        "type": _qualified_name(type(exc)),
        "message": text,
        "traceback": _remote_traceback(exc),
        "item_offset": item_offset,
        "item_repr": item_repr,
        "stage": stage,
    }, protocol=pickle.HIGHEST_PROTOCOL)


def _user_error(what: str, exc: BaseException, stage: str,
                item_offset: int = -1, item: Any = None,
                retire: bool = False) -> Reply:
    item_repr = _short_repr(item) if item_offset >= 0 else ""
    try:
        text = str(exc)
    except BaseException:
        text = "<exception with a failing str>"
    message = f"{_qualified_name(type(exc))}: {text}" if text else \
        _qualified_name(type(exc))
    if what:
        message = f"{what}: {message}"
    if item_offset >= 0:
        message += f" (item {item_offset} of the chunk: {item_repr})"
    return Reply(USER_ERROR, _one_line(message),
                 error_details(exc, stage, item_offset, item_repr),
                 retire=retire)


def _call_all(function: Callable[..., Any], call_style: int,
              items: Iterable[Any], results: list[Any]) -> None:
    # extend() keeps what was appended before an exception, so on failure
    # len(results) is the index of the item that raised.
    if call_style == MAP:
        results.extend(map(function, items))
    elif call_style == STAR:
        results.extend(itertools.starmap(function, items))
    else:
        results.extend(function(*args, **kwargs) for args, kwargs in items)


class RunnerState:
    """What a runner keeps between requests: loaded functions, initializer.

    Not thread-safe; a runner handles one request at a time.
    """

    def __init__(self) -> None:
        self.functions: collections.OrderedDict[bytes, Callable[..., Any]] = \
            collections.OrderedDict()
        self.initializer_sha: bytes | None = None
        # The module (__name__ of its globals) of the initializer that ran,
        # and the globals running it bound: see _share_initializer_globals.
        self.initializer_module: str | None = None
        self.initializer_assigned: dict[str, Any] = {}

    def handle(self, request: Request) -> Reply:
        """Runs one chunk; never raises for anything the user's code does."""
        start = time.perf_counter_ns()
        reply = self._handle(request)
        reply.run_micros = (time.perf_counter_ns() - start) // 1000
        return reply

    def _handle(self, request: Request) -> Reply:
        sha = request.function_sha
        if sha not in self.functions and not request.function_pickle:
            return Reply(NEED_CODE, "function not loaded in this runner")
        if request.has_initializer:
            if self.initializer_sha is None:
                if not request.initializer_pickle:
                    return Reply(NEED_CODE, "initializer not run here")
                # The initializer runs first: it may set up what loading the
                # function needs (sys.path, environment).
                try:
                    initializer, initargs = pickle.loads(
                        request.initializer_pickle)
                    self._run_initializer(initializer, initargs)
                except BaseException as exc:
                    return _user_error("the initializer failed", exc,
                                       "initializer", retire=True)
                self.initializer_sha = request.initializer_sha
            elif self.initializer_sha != request.initializer_sha:
                return Reply(PROTOCOL_ERROR,
                             "this runner ran another initializer")
        elif self.initializer_sha is not None:
            return Reply(PROTOCOL_ERROR, "this runner ran an initializer")

        function = self.functions.get(sha)
        if function is None:
            try:
                function = pickle.loads(request.function_pickle)
            except BaseException as exc:
                return _user_error("cannot load the function", exc,
                                   "function")
            self._share_initializer_globals(function)
            self.functions[sha] = function
            if len(self.functions) > FUNCTION_CACHE_SIZE:
                self.functions.popitem(last=False)
        else:
            self.functions.move_to_end(sha)

        items: Sequence[Any]
        if request.items_kind == ITEMS_RANGE:
            items = range(request.items_a, request.items_b + 1)
        else:
            try:
                items = self._load_items(request)
            except BaseException as exc:
                return _user_error("cannot load the chunk's items", exc,
                                   "items")

        results: list[Any] = []
        try:
            _call_all(function, request.call_style, items, results)
        except BaseException as exc:
            index = len(results)
            item = items[index] if index < len(items) else None
            return _user_error("", exc, "call", index, item)
        return _pickle_results(request, results)

    def _run_initializer(self, initializer: Callable[..., Any],
                         initargs: Sequence[Any]) -> None:
        namespace = getattr(initializer, "__globals__", None)
        before = dict(namespace) if isinstance(namespace, dict) else {}
        initializer(*initargs)
        if isinstance(namespace, dict):
            self.initializer_module = namespace.get("__name__")
            self.initializer_assigned = {
                name: value for name, value in namespace.items()
                if name not in before or before[name] is not value}

    def _share_initializer_globals(self, function: Any) -> None:
        """Shows `function` the globals the initializer set.

        multiprocessing's pattern ``def init(x): global g; g = x`` with
        ``def f(i): return g + i`` works because both live in one module.
        Here each is unpickled on its own, and cloudpickle gives each
        function of a module pickled by value (``__main__``, the user's own
        modules) a private copy of the globals it uses: `f` would never see
        `g`. So a function of the initializer's module gets, in its globals
        (shared by the helpers unpickled with it), the names the initializer
        bound or rebound, as if they shared their module as they did at
        home.
        """
        if not self.initializer_assigned:
            return
        namespace = getattr(function, "__globals__", None)
        if (isinstance(namespace, dict) and
                namespace.get("__name__") == self.initializer_module):
            namespace.update(self.initializer_assigned)

    @staticmethod
    def _load_items(request: Request) -> Sequence[Any]:
        items = pickle.loads(request.items_pickle)
        # A range pickles in a few bytes: non-contiguous ranges travel so.
        if not isinstance(items, (list, tuple, range)):
            raise TypeError(f"items are a pickled {type(items).__name__}, "
                            "not a list")
        if request.items_c and len(items) != request.items_c:
            raise ValueError(f"the pickled list holds {len(items)} items, "
                             f"not {request.items_c}")
        offset, count = request.items_a, request.items_b
        if offset > len(items) or (count and offset + count > len(items)):
            raise ValueError(f"items [{offset}, {offset + count}) are outside "
                             f"the list of {len(items)}")
        if offset == 0 and (count == 0 or count == len(items)):
            return items
        return items[offset : offset + count] if count else items[offset:]


def _pickle_results(request: Request, results: list[Any]) -> Reply:
    where = f"results of chunk {request.chunk_index} of job {request.job_id}"
    try:
        data = pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        # Classes and functions defined in the user's __main__ only pickle
        # by value.
        try:
            data = cloudpickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            return _user_error(f"{where} cannot be pickled", exc, "result")
    if len(data) > request.max_result_bytes:
        mib = 1 << 20
        error = ValueError(
            f"{where} are {len(data) / mib:.1f} MiB pickled; the limit is "
            f"{request.max_result_bytes / mib:g} MiB: use a smaller chunksize")
        return Reply(USER_ERROR, str(error), error_details(error, "result"))
    return Reply(OK, payload=data)


def _read_frame(reader: BinaryIO) -> memoryview | None:
    head = reader.read(LENGTH.size)
    if not head:
        return None
    if len(head) != LENGTH.size:
        raise ProtocolError("stream ends inside a frame length")
    (size,) = LENGTH.unpack(head)
    body = memoryview(bytearray(size))
    done = 0
    while done < size:
        got = reader.readinto(body[done:])
        if not got:
            raise ProtocolError("stream ends inside a frame")
        done += got
    return body


def _write_all(fd: int, parts: list[Any]) -> None:
    views = [memoryview(p).cast("B") for p in parts if len(p)]
    while views:
        written = os.writev(fd, views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if written:
            views[0] = views[0][written:]


def _flush_user_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # the user may have closed or replaced them
            pass


def serve(request_fd: int = REQUEST_FD, reply_fd: int = REPLY_FD) -> int:
    """Answers requests until the worker closes the request pipe.

    Returns the exit status: 0 at end of input, 2 after a protocol error.
    """
    reader = open(request_fd, "rb", buffering=1 << 16, closefd=False)
    state = RunnerState()
    _write_all(reply_fd, encode_reply(Reply(READY, f"python {sys.version}")))
    while True:
        try:
            body = _read_frame(reader)
            if body is None:
                return 0
            request = decode_request(body)
        except ProtocolError as exc:
            _write_all(reply_fd, encode_reply(Reply(PROTOCOL_ERROR, str(exc))))
            return 2
        reply = state.handle(request)
        del body, request  # free the items before the next request arrives
        _flush_user_output()
        _write_all(reply_fd, encode_reply(reply))
        if reply.kind == PROTOCOL_ERROR:
            return 2


def _refuse_inspection() -> None:
    """Makes this process non-dumpable (PR_SET_DUMPABLE 0).

    Runners of different owners may share a uid (one --code-user), and
    without Yama's ptrace restrictions a process may ptrace or read the
    memory of any other process of its uid: one owner's code could read
    another's functions and data. A non-dumpable process refuses that to
    all but root. ctypes costs ~3 ms per runner start; best effort (not
    Linux: nothing to do).
    """
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


def main() -> int:
    """Entry point of ``python -m tq.runner`` (started by tq-worker)."""
    try:
        # Processes the user's code starts must not hold our pipes: the
        # worker would not see EOF when this runner dies.
        os.set_inheritable(REQUEST_FD, False)
        os.set_inheritable(REPLY_FD, False)
    except OSError:
        print("tq.runner is started by tq-worker: it reads requests on fd 3 "
              "and writes replies on fd 4", file=sys.stderr)
        return 2
    _refuse_inspection()
    return serve()


if __name__ == "__main__":
    sys.exit(main())
