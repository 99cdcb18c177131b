"""Tests of tq.runner's framing and request handling, in-process.

The C++ side (tests/worker/python_runners_test.cc) drives real runner
processes; these tests pin the pure parts: frames, call styles, error
details, the function cache and the result limit.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import threading

import cloudpickle
import pytest

from tq import runner
from tq.runner import Reply, Request, RunnerState


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def make_request(function, *, call_style=runner.MAP, items=None,
                 first=0, last=0, offset=0, count=0, initializer=None,
                 max_result_bytes=16 << 20) -> Request:
    function_pickle = cloudpickle.dumps(function)
    init_pickle = cloudpickle.dumps(initializer) if initializer else b""
    items_pickle = pickle.dumps(items) if items is not None else b""
    return Request(
        call_style=call_style,
        items_kind=runner.ITEMS_LIST if items is not None else
        runner.ITEMS_RANGE,
        has_initializer=initializer is not None,
        max_result_bytes=max_result_bytes, job_id=7, chunk_index=3,
        items_a=offset if items is not None else first,
        items_b=count if items is not None else last,
        items_c=len(items) if items is not None else 0,
        function_sha=sha(function_pickle), function_pickle=function_pickle,
        initializer_sha=sha(init_pickle) if initializer else b"",
        initializer_pickle=init_pickle, items_pickle=items_pickle)


def body_of(parts) -> memoryview:
    frame = b"".join(bytes(p) for p in parts)
    (size,) = runner.LENGTH.unpack_from(frame)
    assert size == len(frame) - 4
    return memoryview(frame)[4:]


def run_ok(state: RunnerState, request: Request):
    reply = state.handle(request)
    assert reply.kind == runner.OK, reply.message
    return pickle.loads(reply.payload)


def test_request_round_trips_through_its_frame():
    request = make_request(lambda x: x, items=[1, 2, 3], offset=1, count=2)
    decoded = runner.decode_request(body_of(runner.encode_request(request)))
    assert decoded.items_kind == runner.ITEMS_LIST
    assert (decoded.items_a, decoded.items_b, decoded.items_c) == (1, 2, 3)
    assert bytes(decoded.function_pickle) == request.function_pickle
    assert decoded.function_sha == request.function_sha
    assert bytes(decoded.items_pickle) == request.items_pickle


def test_reply_round_trips_through_its_frame():
    reply = Reply(runner.USER_ERROR, "ValueError: é", b"\x00details",
                  run_micros=12, retire=True)
    assert runner.decode_reply(body_of(runner.encode_reply(reply))) == reply


def test_truncated_or_padded_request_is_a_protocol_error():
    body = body_of(runner.encode_request(make_request(abs, first=1, last=2)))
    with pytest.raises(runner.ProtocolError):
        runner.decode_request(body[:-1])
    with pytest.raises(runner.ProtocolError):
        runner.decode_request(memoryview(bytes(body) + b"x"))


def test_map_over_an_inclusive_range():
    state = RunnerState()
    assert run_ok(state, make_request(lambda x: x * x, first=3, last=6)) == \
        [9, 16, 25, 36]


def test_range_reaches_the_largest_u64():
    top = (1 << 64) - 1
    state = RunnerState()
    assert run_ok(state, make_request(lambda x: x, first=top - 1, last=top)) \
        == [top - 1, top]


def test_star_and_apply_with_a_slice_of_a_list():
    state = RunnerState()
    pairs = [(i, 10 * i) for i in range(6)]
    assert run_ok(state, make_request(lambda a, b: a + b, items=pairs,
                                      call_style=runner.STAR, offset=2,
                                      count=3)) == [22, 33, 44]
    calls = [((i,), {"k": 1}) for i in range(4)]
    assert run_ok(state, make_request(lambda x, k: x - k, items=calls,
                                      call_style=runner.APPLY, offset=1)) == \
        [0, 1, 2]


def failing(n):
    if n == 12:
        raise ValueError(f"bad n {n}")
    return n


def test_exception_names_the_item_and_carries_details():
    reply = RunnerState().handle(make_request(failing, first=9, last=20))
    assert reply.kind == runner.USER_ERROR
    assert reply.message == "ValueError: bad n 12 (item 3 of the chunk: 12)"
    details = pickle.loads(reply.payload)
    assert details["type"] == "ValueError"
    assert details["message"] == "bad n 12"
    assert details["item_offset"] == 3 and details["item_repr"] == "12"
    assert details["stage"] == "call"
    assert isinstance(pickle.loads(details["exception"]), ValueError)
    assert "in failing" in details["traceback"]
    assert runner.__file__ not in details["traceback"]


def test_item_repr_is_truncated():
    items = ["x" * 10_000]
    reply = RunnerState().handle(make_request(int, items=items))
    details = pickle.loads(reply.payload)
    assert len(details["item_repr"]) <= runner.MAX_ITEM_REPR
    assert len(reply.message) <= runner.MAX_MESSAGE_CHARS


class Unpicklable(Exception):
    def __init__(self):
        super().__init__("holds a lock")
        self.lock = threading.Lock()


def raise_unpicklable(_):
    raise Unpicklable()


def test_unpicklable_exception_still_reports_type_and_text():
    reply = RunnerState().handle(make_request(raise_unpicklable, first=0,
                                              last=0))
    details = pickle.loads(reply.payload)
    assert details["exception"] == b""
    assert details["type"].endswith("Unpicklable")
    assert details["message"] == "holds a lock"


def test_function_is_loaded_once_and_cached_by_sha():
    state = RunnerState()
    request = make_request(lambda x: x + 1, first=1, last=1)
    assert run_ok(state, request) == [2]
    request.function_pickle = b""  # "you have it"
    assert run_ok(state, request) == [2]


def test_unknown_function_without_its_pickle_asks_for_the_code():
    request = make_request(abs, first=1, last=1)
    request.function_pickle = b""
    assert RunnerState().handle(request).kind == runner.NEED_CODE


def test_function_cache_evicts_the_least_recently_used():
    state = RunnerState()
    first = make_request(lambda x: 0, first=1, last=1)
    run_ok(state, first)
    for k in range(runner.FUNCTION_CACHE_SIZE):
        run_ok(state, make_request(lambda x, k=k: k, first=1, last=1))
    first.function_pickle = b""
    assert state.handle(first).kind == runner.NEED_CODE


def init_global(value):
    import __main__
    __main__.TQ_TEST_VALUE = value
    calls = getattr(__main__, "TQ_TEST_INIT_CALLS", 0)
    __main__.TQ_TEST_INIT_CALLS = calls + 1


def read_global(_):
    import __main__
    return (__main__.TQ_TEST_VALUE, __main__.TQ_TEST_INIT_CALLS)


def test_initializer_runs_once_per_runner_state():
    import __main__
    __main__.TQ_TEST_INIT_CALLS = 0
    state = RunnerState()
    request = make_request(read_global, first=1, last=1,
                           initializer=(init_global, (42,)))
    assert run_ok(state, request) == [(42, 1)]
    assert run_ok(state, request) == [(42, 1)]
    other = make_request(read_global, first=1, last=1,
                         initializer=(init_global, (43,)))
    assert state.handle(other).kind == runner.PROTOCOL_ERROR


def main_module_functions(source: str) -> dict:
    """Functions as if defined in a user's __main__: cloudpickle ships them
    by value, each pickle with its own copy of the globals it uses."""
    namespace = {"__name__": "__main__"}
    exec(source, namespace)
    return namespace


CLASSIC_INITIALIZER = """
g = None
def init(x):
    global g
    g = x
def helper(i):
    return g + i
def f(i):
    return helper(i)
def other(i):
    return g * i
"""


def test_function_sees_globals_its_initializer_set():
    # multiprocessing's pattern: init() sets a global that f() reads.
    ns = main_module_functions(CLASSIC_INITIALIZER)
    state = RunnerState()
    request = make_request(ns["f"], items=[1, 2],
                           initializer=(ns["init"], (5,)))
    assert run_ok(state, request) == [6, 7]
    # A function loaded later, from another job of the same initializer.
    later = make_request(ns["other"], items=[3],
                         initializer=(ns["init"], (5,)))
    assert run_ok(state, later) == [15]


def test_initializer_globals_stay_in_their_module():
    ns = main_module_functions(CLASSIC_INITIALIZER)
    elsewhere = {"__name__": "some_module"}
    exec("g = 'mine'\ndef f(i):\n    return g\n", elsewhere)
    elsewhere["f"].__module__ = "__main__"  # ship it by value too
    state = RunnerState()
    request = make_request(elsewhere["f"], items=[1],
                           initializer=(ns["init"], (5,)))
    assert run_ok(state, request) == ["mine"]


def test_pickled_range_is_a_valid_list_of_items():
    request = make_request(lambda x: x * x, items=range(10, 40, 10))
    assert run_ok(RunnerState(), request) == [100, 400, 900]
    sliced = make_request(lambda x: x, items=range(0, 100, 7), offset=2,
                          count=3)
    assert run_ok(RunnerState(), sliced) == [14, 21, 28]


def test_failing_initializer_retires_the_runner():
    request = make_request(abs, first=1, last=1,
                           initializer=(failing, (12,)))
    reply = RunnerState().handle(request)
    assert reply.kind == runner.USER_ERROR and reply.retire
    assert reply.message.startswith("the initializer failed: ValueError")


def test_result_over_the_limit_is_a_user_error():
    request = make_request(lambda x: b"x" * (3 << 20), first=1, last=1,
                           max_result_bytes=2 << 20)
    reply = RunnerState().handle(request)
    assert reply.kind == runner.USER_ERROR
    assert reply.message == ("results of chunk 3 of job 7 are 3.0 MiB "
                             "pickled; the limit is 2 MiB: use a smaller "
                             "chunksize")


def test_results_defined_by_value_fall_back_to_cloudpickle():
    state = RunnerState()
    reply = state.handle(make_request(lambda x: (lambda: x), first=5, last=5))
    assert reply.kind == runner.OK
    assert pickle.loads(reply.payload)[0]() == 5


def test_unpicklable_result_is_a_user_error():
    reply = RunnerState().handle(make_request(lambda x: threading.Lock(),
                                              first=1, last=1))
    assert reply.kind == runner.USER_ERROR
    assert reply.message.startswith(
        "results of chunk 3 of job 7 cannot be pickled: TypeError")


def read_reply(replies) -> Reply:
    (size,) = runner.LENGTH.unpack(replies.read(4))
    return runner.decode_reply(memoryview(replies.read(size)))


def test_serve_says_ready_then_answers_until_end_of_input():
    request_r, request_w = os.pipe()
    reply_r, reply_w = os.pipe()
    exit_status = []
    server = threading.Thread(
        target=lambda: exit_status.append(runner.serve(request_r, reply_w)))
    server.start()
    replies = os.fdopen(reply_r, "rb")
    try:
        assert read_reply(replies).kind == runner.READY
        for n in (1, 2):
            parts = runner.encode_request(make_request(lambda x: -x, first=n,
                                                       last=n))
            os.write(request_w, b"".join(bytes(p) for p in parts))
            assert pickle.loads(read_reply(replies).payload) == [-n]
        os.write(request_w, b"\x01\x00")  # a truncated frame
        os.close(request_w)
        server.join(timeout=10)
        assert exit_status == [2]
        assert read_reply(replies).kind == runner.PROTOCOL_ERROR
    finally:
        replies.close()
        for fd in (request_r, reply_w):
            os.close(fd)
