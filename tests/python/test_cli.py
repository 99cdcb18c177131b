"""``python3 -m tq``: tq-client's output forms and exit codes, for a Python
function and for a built-in task."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tq_cluster import binary, wait_for

MODULE = textwrap.dedent("""
    import os, time

    def is_prime(n):
        if n <= 1:
            return False
        if n == 2:
            return True
        if n % 2 == 0:
            return False
        for i in range(3, int(n ** 0.5) + 1, 2):
            if n % i == 0:
                return False
        return True

    def factors(n):
        out, d = [], 2
        while d * d <= n:
            while n % d == 0:
                out.append(d)
                n //= d
            d += 1
        if n > 1:
            out.append(n)
        return out

    def fails(n):
        if n == 7:
            raise ZeroDivisionError("seven")
        return n

    def hang(n):
        with open(os.environ["TQ_TEST_PID_FILE"], "w") as out:
            out.write(str(os.getpid()))
        time.sleep(120)
""")


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "clitest_mod.py").write_text(MODULE)
    return tmp_path


def run_tq(workdir, *args, stdin=None, env=None):
    return subprocess.run([sys.executable, "-m", "tq", *args],
                          cwd=workdir, input=stdin, capture_output=True,
                          timeout=300, env={**os.environ, **(env or {})})


def tq_client(*args, stdin=None):
    return subprocess.run([binary("tq-client"), *args], input=stdin,
                          capture_output=True, timeout=300)


@pytest.mark.parametrize("form", ["tsv", "json", "true", "count", "bitmap"])
def test_function_output_equals_tq_clients_for_the_same_answers(workdir,
                                                                form):
    ours = run_tq(workdir, "map", "clitest_mod:is_prime", "1", "3000",
                  f"--format={form}")
    assert ours.returncode == 0, ours.stderr
    theirs = tq_client("map", "primes", "1", "3000", f"--format={form}")
    assert ours.stdout == theirs.stdout


@pytest.mark.parametrize("form", ["tsv", "json", "true", "count", "bitmap"])
def test_builtin_task_output_equals_tq_clients(workdir, form):
    ours = run_tq(workdir, "map", "primes", "1", "100000", f"--format={form}")
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == tq_client("map", "primes", "1", "100000",
                                    f"--format={form}").stdout


def test_lists_as_tsv_and_json(workdir):
    tsv = run_tq(workdir, "map", "clitest_mod:factors", "11", "12")
    assert tsv.stdout == b"11\t11\n12\t2 2 3\n"
    lines = run_tq(workdir, "map", "clitest_mod:factors", "12", "12",
                   "--format=json").stdout.splitlines()
    assert [json.loads(line) for line in lines] == [{"n": 12,
                                                     "result": [2, 2, 3]}]
    assert run_tq(workdir, "map", "factor", "12", "12").stdout == \
        tq_client("map", "factor", "12", "12").stdout


def test_input_file_stdin_and_unordered(workdir):
    (workdir / "numbers.txt").write_text("5 6\n7\n  97\n")
    ours = run_tq(workdir, "map", "clitest_mod:is_prime",
                  "--input=numbers.txt")
    assert ours.stdout == b"5\ttrue\n6\tfalse\n7\ttrue\n97\ttrue\n"
    piped = run_tq(workdir, "map", "clitest_mod:is_prime", "--input=-",
                   "--unordered", stdin=b"5 6\n7\n97")
    assert sorted(piped.stdout.splitlines()) == sorted(
        ours.stdout.splitlines())
    builtin = run_tq(workdir, "map", "primes", "--input=numbers.txt",
                     "--chunk-size=2")
    assert builtin.stdout == tq_client("map", "primes",
                                       f"--input={workdir}/numbers.txt").stdout


def test_usage_and_input_errors_exit_1(workdir):
    for args in (["map"], ["map", "clitest_mod:is_prime", "5", "1"],
                 ["map", "clitest_mod:is_prime", "1", "x"],
                 ["map", "clitest_mod:is_prime", "-5", "1"],
                 ["map", "no_such_module:f", "1", "2"],
                 ["map", "clitest_mod:nope", "1", "2"],
                 ["map", "clitest_mod:is_prime", "1", "2", "--unordered",
                  "--format=bitmap"],
                 ["frobnicate", "x", "1", "2"],
                 ["map", "no-such-task", "1", "2"]):
        result = run_tq(workdir, *args)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.startswith(b"tq: "), result.stderr
    (workdir / "bad.txt").write_text("1 2 x3\n")
    result = run_tq(workdir, "map", "clitest_mod:is_prime", "--input=bad.txt")
    assert result.returncode == 1 and result.stdout == b""
    assert b"bad.txt:1: 'x3' is not a number" in result.stderr


def test_exception_exits_2_with_the_remote_traceback(workdir):
    result = run_tq(workdir, "map", "clitest_mod:fails", "1", "10")
    assert result.returncode == 2
    assert b"ZeroDivisionError: seven" in result.stderr
    assert b'raise ZeroDivisionError("seven")' in result.stderr
    assert b"item 6 of the input" in result.stderr
    assert b"output is incomplete" in result.stderr


def test_unreachable_broker_exits_3(workdir):
    result = run_tq(workdir, "map", "clitest_mod:is_prime", "1", "2",
                    "--broker=tcp://127.0.0.1:1", "--connect-timeout=0.3")
    assert result.returncode == 3
    assert b"tcp://127.0.0.1:1" in result.stderr


def test_interrupt_exits_130_and_stops_the_runner(workdir, tmp_path):
    pid_file = tmp_path / "pid"
    child = subprocess.Popen(
        [sys.executable, "-m", "tq", "map", "clitest_mod:hang", "1", "1"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "TQ_TEST_PID_FILE": str(pid_file)})
    try:
        def runner_pid():
            try:
                return int(pid_file.read_text())
            except (FileNotFoundError, ValueError):
                return None
        wait_for(runner_pid, 60, "the runner to start")
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
        assert child.returncode == 130
        assert b"interrupted" in err
    finally:
        child.kill()
        child.wait()
