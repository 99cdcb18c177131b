"""The simulated-host harness itself: speed, isolation, faults, cleanup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tq_hosts
from tq_hosts import Network, wait_for

pytestmark = pytest.mark.usefixtures("hosts_available")

PROBE = [sys.executable, str(Path(__file__).with_name("probe.py"))]
PORT = "9000"


def _our_namespaces(prefix: str) -> list[str]:
    return [n for n in tq_hosts._namespaces() if n.startswith(prefix)]


def _echo(net: Network, server: str) -> None:
    proc = net[server].run(PROBE + ["serve", PORT], stdout=subprocess.PIPE,
                           text=True)
    assert proc.popen.stdout.readline().strip() == "ready"


def _ping(net: Network, src: str, dst: str, count: int = 5,
          wait: float = 0.5) -> dict:
    done = net[src].check(PROBE + ["ping", net[dst].address, PORT,
                                   str(count), str(wait)], timeout=120)
    return json.loads(done.stdout)


def test_five_hosts_set_up_and_torn_down_under_two_seconds() -> None:
    start = time.monotonic()
    net = Network(["b", "w1", "w2", "w3", "c"])
    made = time.monotonic()
    prefix = net.prefix
    assert len(_our_namespaces(prefix)) == 6  # 5 hosts + the switch
    net.close()
    elapsed = time.monotonic() - start
    print(f"5 hosts: set up {made - start:.3f} s, "
          f"torn down {elapsed - (made - start):.3f} s")
    assert _our_namespaces(prefix) == []
    assert elapsed < 2.0, f"set-up + teardown took {elapsed:.2f} s"


def test_hosts_reach_each_other_and_the_root_namespace_is_untouched() -> None:
    links_before = subprocess.run(["ip", "-o", "link"], text=True,
                                  capture_output=True).stdout
    with Network(["a", "b", "c"]) as net:
        assert subprocess.run(["ip", "-o", "link"], text=True,
                              capture_output=True).stdout == links_before
        root_addrs = subprocess.run(["ip", "-o", "addr"], text=True,
                                    capture_output=True).stdout
        assert net["a"].address not in root_addrs
        _echo(net, "b")
        assert _ping(net, "a", "b")["received"] == 5
        assert _ping(net, "c", "b")["received"] == 5


@pytest.mark.parametrize("method", ["drop", "link"])
def test_cut_and_heal(method: str) -> None:
    with Network(["a", "b", "c"]) as net:
        _echo(net, "b")
        assert _ping(net, "a", "b")["received"] == 5
        net["b"].cut(method)
        assert _ping(net, "a", "b", 3, 0.3)["received"] == 0
        assert _ping(net, "c", "b", 3, 0.3)["received"] == 0
        _echo(net, "c")
        assert _ping(net, "a", "c")["received"] == 5, "others still talk"
        net["b"].heal()
        # A healed link may need a neighbour (ARP) round first.
        wait_for(lambda: _ping(net, "a", "b", 1, 1.0)["received"] == 1,
                 10, "the healed host to answer")
        assert _ping(net, "a", "b")["received"] == 5


def test_cut_between_two_hosts_only() -> None:
    with Network(["a", "b", "c"]) as net:
        _echo(net, "b")
        _echo(net, "c")
        net["a"].cut_from(net["b"])
        assert _ping(net, "a", "b", 3, 0.3)["received"] == 0
        assert _ping(net, "a", "c")["received"] == 5, "a still reaches c"
        assert _ping(net, "c", "b")["received"] == 5, "c still reaches b"
        net["a"].heal_from(net["b"])
        wait_for(lambda: _ping(net, "a", "b", 1, 1.0)["received"] == 1,
                 10, "the healed link to carry a ping")


def test_packet_loss_drops_about_the_share_asked_for() -> None:
    with Network(["a", "b"]) as net:
        _echo(net, "b")
        net["b"].loss(50)
        got = _ping(net, "a", "b", 200, 0.05)["received"]
        # 50% each way: a round trip survives with p = 0.25 (mean 50 of 200,
        # sd 6); the bounds fail only if the rules do nothing or drop all.
        assert 20 <= got <= 85, got
        net["b"].clear_loss()
        assert _ping(net, "a", "b", 20, 0.5)["received"] == 20


def test_added_delay() -> None:
    try:
        tq_hosts.nfq_delay_binary()
    except tq_hosts.HostsUnavailable as e:
        pytest.skip(f"added delay unavailable: {e}")
    with Network(["a", "b"]) as net:
        _echo(net, "b")
        base = _ping(net, "a", "b")["median_ms"]
        net["b"].delay(20)
        delayed = _ping(net, "a", "b")
        assert delayed["received"] == 5
        assert 20 <= delayed["median_ms"] < 200, delayed
        net["b"].clear_delay()
        assert _ping(net, "a", "b")["median_ms"] < base + 10


def test_stop_continue_kill() -> None:
    with Network(["a"]) as net:
        proc = net["a"].run([sys.executable, "-c",
                             "import time\nwhile True: time.sleep(0.01)"])

        def state() -> str:
            return Path(f"/proc/{proc.pid}/stat").read_text().split()[2]
        wait_for(lambda: state() in "RS", 5, "the process to run")
        proc.stop()
        wait_for(lambda: state() == "T", 5, "the process to stop")
        proc.cont()
        wait_for(lambda: state() in "RS", 5, "the process to continue")
        proc.kill()
        assert proc.wait(5) == -signal.SIGKILL


def test_process_runs_inside_its_host() -> None:
    with Network(["a", "b"]) as net:
        out = net["b"].check(["ip", "-o", "-4", "addr", "show", "eth0"]).stdout
        assert net["b"].address in out


def test_nothing_left_when_the_test_body_fails() -> None:
    with pytest.raises(ZeroDivisionError):
        with Network(["a", "b"]) as net:
            prefix = net.prefix
            sleeper = net["a"].run(["sleep", "60"])
            1 / 0
    assert _our_namespaces(prefix) == []
    assert sleeper.wait(5) == -signal.SIGKILL


def test_a_killed_run_is_cleaned_up_by_the_next() -> None:
    script = (
        "import sys, time\n"
        f"sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
        "import tq_hosts\n"
        "net = tq_hosts.Network(['a', 'b'])\n"
        "net['a'].run(['sleep', '600'])\n"
        "print(net.prefix, flush=True)\n"
        "time.sleep(600)\n")
    child = subprocess.Popen([sys.executable, "-c", script],
                             stdout=subprocess.PIPE, text=True)
    try:
        prefix = child.stdout.readline().strip()
        assert prefix.startswith("tqh-")
        assert len(_our_namespaces(prefix)) == 3
        assert tq_hosts.cleanup_stale() == [], "a live run is not stale"
        sleeper_pids = subprocess.run(
            ["ip", "netns", "pids", prefix + "a"], text=True,
            capture_output=True).stdout.split()
        assert sleeper_pids
    finally:
        child.kill()
        child.wait()
    removed = tq_hosts.cleanup_stale()
    assert sorted(removed) == sorted(
        [prefix + "a", prefix + "b", prefix + "switch"])
    assert _our_namespaces(prefix) == []
    # The process it ran on a host died with it (PR_SET_PDEATHSIG).
    wait_for(lambda: not any(Path(f"/proc/{p}").exists()
                             for p in sleeper_pids), 5, "the sleeper to die")
    assert not (tq_hosts.LOCK_DIR / f"tqh-{child.pid}.lock").exists()


def test_bad_host_names_are_refused() -> None:
    with Network() as net:
        with pytest.raises(ValueError, match="host name"):
            net.add_hosts(["Way-too-long-name"])
        with pytest.raises(ValueError, match="cut method"):
            net.add_hosts(["a"])[0].cut("bogus")
