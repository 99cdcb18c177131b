"""Simulated hosts: network namespaces on a private bridge, with faults.

A `Network` is a set of hosts. Each host is a network namespace with one
interface, ``eth0``, holding an address from a private subnet (10.77.0.0/24 by
default). The hosts' links meet on a bridge that lives in a namespace of its
own (the "switch"), so nothing is added to the root namespace and the
addresses exist only inside the namespaces. Processes run "on" a host with
``ip netns exec``; they are ordinary children of the caller.

Faults, each undone by its counterpart or by closing the network:

- `Host.cut` / `Host.heal`: the host's link is gone (silently: packets to
  and from it are dropped, or with ``method="link"`` its port on the switch is
  down, which the host sees as a lost carrier).
- `Host.cut_from` / `Host.heal_from`: the link between two hosts only is
  gone (silently), both still reach every other host.
- `Host.loss`: every packet into and out of the host is dropped with a
  probability (iptables' ``statistic`` match; this kernel has no netem).
- `Host.delay`: the host's outgoing packets are held for a fixed time by an
  NFQUEUE delayer (nfq_delay.c beside this file).
- `Proc.kill` / `Proc.stop` / `Proc.cont` / `Proc.term`: signals to a process
  started on a host.

Nothing is left behind: `Network` is a context manager, open networks are
also closed at interpreter exit, processes started on hosts die with the
process that started them (PR_SET_PDEATHSIG), and every namespace is named
``tqh-<pid>-<n>-...`` with a lock file held by that pid, so that
`cleanup_stale` (run when the first network of a process is created) removes
what a killed earlier run left. iptables rules live inside the hosts'
namespaces and go with them; they carry the network's prefix as a comment.

Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN), iproute2 and iptables;
`unavailable_reason` says why not when it cannot run.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import fcntl
import hashlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Sequence

PREFIX_ROOT = "tqh-"
LOCK_DIR = Path("/run/tq-hosts")
_NS_RE = re.compile(r"^tqh-(\d+)-(\d+)-")
_HOST_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,9}$")
_PR_SET_PDEATHSIG = 1

_lock = threading.Lock()
_open_networks: list["Network"] = []
_counter = 0
_stale_cleaned = False
_lock_file: IO[str] | None = None


class HostsUnavailable(RuntimeError):
    """The machine cannot run simulated hosts (not root, no ip, ...)."""


def unavailable_reason() -> str | None:
    """Why simulated hosts cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return ("needs root: simulated hosts are network namespaces "
                "(ip netns, iptables); CI runs as root")
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"needs {tool} (Debian packages iproute2, iptables)"
    return None


def _run(argv: Sequence[str], *, input: str | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs a command, raising with its stderr when it fails and check."""
    done = subprocess.run(list(argv), input=input, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({done.returncode}): "
            f"{done.stderr.strip()}")
    return done


def _batch(namespace: str | None, commands: Iterable[str]) -> None:
    """Runs ip commands in one `ip -batch` (inside `namespace` if given)."""
    argv = ["ip"] + (["-n", namespace] if namespace else []) + [
        "-batch", "-"]
    _run(argv, input="\n".join(commands) + "\n")


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when its parent thread dies."""
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_alive(pid: int) -> bool:
    """Whether the harness process `pid` still runs (its lock is held).

    A pid alone could have been reused, so a live pid counts only while its
    lock file is locked; without a lock file, the pid decides.
    """
    path = LOCK_DIR / f"{PREFIX_ROOT}{pid}.lock"
    if pid == os.getpid():
        return True
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return _pid_alive(pid)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)
    return False


def _namespaces() -> list[str]:
    done = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in done.stdout.splitlines() if line]


def _kill_namespace_processes(namespace: str) -> None:
    """SIGKILLs every process whose network namespace is `namespace`."""
    done = _run(["ip", "netns", "pids", namespace], check=False)
    for word in done.stdout.split():
        try:
            os.kill(int(word), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def cleanup_stale() -> list[str]:
    """Deletes namespaces left by harness processes that no longer run.

    Returns the names deleted. Namespaces of live harness processes (this one
    included) are untouched.
    """
    removed = []
    for name in _namespaces():
        match = _NS_RE.match(name)
        if not match or _owner_alive(int(match.group(1))):
            continue
        _kill_namespace_processes(name)
        _run(["ip", "netns", "del", name], check=False)
        removed.append(name)
    if LOCK_DIR.is_dir():
        for path in LOCK_DIR.glob(f"{PREFIX_ROOT}*.lock"):
            match = re.match(rf"^{PREFIX_ROOT}(\d+)\.lock$", path.name)
            if match and not _owner_alive(int(match.group(1))):
                path.unlink(missing_ok=True)
    return removed


def _take_process_lock() -> None:
    """Holds this process's lock file while it lives (see _owner_alive)."""
    global _lock_file
    if _lock_file is not None:
        return
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    path = LOCK_DIR / f"{PREFIX_ROOT}{os.getpid()}.lock"
    handle = open(path, "w")
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _lock_file = handle


def _close_all_at_exit() -> None:
    for network in list(_open_networks):
        network.close()
    if _lock_file is not None:
        Path(_lock_file.name).unlink(missing_ok=True)


atexit.register(_close_all_at_exit)


def exit_on_sigterm() -> None:
    """Turns SIGTERM and SIGHUP into SystemExit, so that cleanup runs.

    For scripts; call it from the main thread. SIGKILL cannot be caught: the
    next run's `cleanup_stale` removes what it leaves.
    """
    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


class Proc:
    """A process started on a host: a `subprocess.Popen` plus signals."""

    def __init__(self, host: "Host", argv: Sequence[str],
                 popen: subprocess.Popen[Any]) -> None:
        self.host = host
        self.argv = list(argv)
        self.popen = popen

    @property
    def pid(self) -> int:
        """The process id (`ip netns exec` execs the command in place)."""
        return self.popen.pid

    def running(self) -> bool:
        """True until the process has exited."""
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        """Sends `sig` if the process still runs."""
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL."""
        self.signal(signal.SIGKILL)

    def term(self) -> None:
        """SIGTERM."""
        self.signal(signal.SIGTERM)

    def stop(self) -> None:
        """SIGSTOP: the process freezes, its sockets stay open."""
        self.signal(signal.SIGSTOP)

    def cont(self) -> None:
        """SIGCONT."""
        self.signal(signal.SIGCONT)

    def wait(self, timeout: float | None = None) -> int:
        """Waits for the exit status (raises subprocess.TimeoutExpired)."""
        return self.popen.wait(timeout)

    def finish(self, timeout: float = 5.0) -> int:
        """SIGCONT + SIGTERM, then SIGKILL after `timeout`; the status."""
        self.cont()
        self.term()
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.popen.wait(timeout)


class Host:
    """One simulated host: a network namespace with ``eth0`` on the switch."""

    IFACE = "eth0"

    def __init__(self, network: "Network", name: str, address: str) -> None:
        self.network = network
        self.name = name
        self.address = address
        self.namespace = network.prefix + name
        self.port = "p-" + name  # its end of the link, in the switch
        self.procs: list[Proc] = []
        self._delayer: Proc | None = None
        self._cut_method: str | None = None
        self._loss: float | None = None

    def __repr__(self) -> str:
        return f"Host({self.name!r}, {self.address})"

    # -- running things -------------------------------------------------

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` wrapped to run inside this host's namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def run(self, argv: Sequence[str], **popen_kwargs: Any) -> Proc:
        """Starts `argv` on this host (Popen keyword arguments pass through).

        The process is killed when the network closes and when the caller
        dies; stdin defaults to /dev/null.
        """
        popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
        popen = subprocess.Popen(self.command(argv),
                                 preexec_fn=_die_with_parent, **popen_kwargs)
        proc = Proc(self, argv, popen)
        self.procs.append(proc)
        return proc

    def check(self, argv: Sequence[str], timeout: float = 30.0,
              check: bool = True) -> subprocess.CompletedProcess[str]:
        """Runs `argv` on this host to completion; its text output."""
        done = subprocess.run(self.command(argv), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"on {self.name}: {' '.join(argv)} failed "
                               f"({done.returncode}): {done.stderr.strip()}")
        return done

    def iptables(self, *args: str) -> None:
        """Runs iptables inside this host's namespace."""
        _run(self.command(["iptables", "-w", *args]))

    # -- faults ---------------------------------------------------------

    def _rule(self, tag: str) -> list[str]:
        return ["-m", "comment", "--comment", f"{self.network.prefix}{tag}"]

    def cut(self, method: str = "drop") -> None:
        """Cuts this host off the network until `heal`.

        ``drop`` (default): every packet into this host, and every packet
        from it into the other hosts, is dropped silently, as on a broken
        link between switches: connections stay open and time out on their
        own. ``link``: its port on the switch goes down, so the host also sees
        its carrier go (its neighbours time out, connects fail faster).
        """
        if self._cut_method is not None:
            raise RuntimeError(f"{self.name} is already cut")
        if method == "drop":
            self.iptables("-I", "INPUT", "-i", self.IFACE,
                          *self._rule("cut"), "-j", "DROP")
            for other in self.network.hosts.values():
                if other is not self:
                    other.iptables("-I", "INPUT", "-s", self.address,
                                   *other._rule(f"cut-{self.name}"),
                                   "-j", "DROP")
        elif method == "link":
            _run(["ip", "-n", self.network.switch, "link", "set",
                  self.port, "down"])
        else:
            raise ValueError(f"cut method {method!r}: want drop or link")
        self._cut_method = method

    def heal(self) -> None:
        """Undoes `cut`."""
        method, self._cut_method = self._cut_method, None
        if method == "drop":
            self.iptables("-D", "INPUT", "-i", self.IFACE,
                          *self._rule("cut"), "-j", "DROP")
            for other in self.network.hosts.values():
                if other is not self:
                    other.iptables("-D", "INPUT", "-s", self.address,
                                   *other._rule(f"cut-{self.name}"),
                                   "-j", "DROP")
        elif method == "link":
            _run(["ip", "-n", self.network.switch, "link", "set",
                  self.port, "up"])

    def _between_rules(self, other: "Host") -> list[tuple["Host", list[str]]]:
        return [(a, ["INPUT", "-s", b.address,
                     *a._rule(f"between-{self.name}-{other.name}"), "-j",
                     "DROP"])
                for a, b in ((self, other), (other, self))]

    def cut_from(self, other: "Host") -> None:
        """Cuts the link between this host and `other` only, silently (each
        drops the other's packets on arrival); both still reach the rest.
        Until `heal_from`."""
        if other is self:
            raise ValueError(f"{self.name} cannot be cut from itself")
        for host, rule in self._between_rules(other):
            host.iptables("-I", *rule)

    def heal_from(self, other: "Host") -> None:
        """Undoes `cut_from`."""
        for host, rule in self._between_rules(other):
            host.iptables("-D", *rule)

    def _loss_rules(self, probability: float) -> list[list[str]]:
        p = f"{probability:.6f}"
        stat = ["-m", "statistic", "--mode", "random", "--probability", p]
        return [["INPUT", "-i", self.IFACE, *stat, *self._rule("loss"),
                 "-j", "DROP"],
                # Dropped on OUTPUT, the host's TCP would see a local error;
                # on the wire a lost packet is silent, so drop it where it
                # arrives: this host's packets, entering the other hosts.
                *[["INPUT", "-s", self.address, *stat,
                   *self._rule(f"loss-{self.name}"), "-j", "DROP"]]]

    def loss(self, percent: float) -> None:
        """Drops `percent` % of the packets into and out of this host.

        Each direction independently: a packet into the host is dropped on
        arrival with that probability, and so is a packet from it on arrival
        at any other host. Until `clear_loss`.
        """
        if not 0 < percent <= 100:
            raise ValueError(f"loss {percent}%: want 0 < percent <= 100")
        if self._loss is not None:
            self.clear_loss()
        probability = percent / 100.0
        into, out_of = self._loss_rules(probability)
        self.iptables("-I", *into)
        for other in self.network.hosts.values():
            if other is not self:
                other.iptables("-I", *out_of)
        self._loss = probability

    def clear_loss(self) -> None:
        """Undoes `loss`."""
        if self._loss is None:
            return
        into, out_of = self._loss_rules(self._loss)
        self._loss = None
        self.iptables("-D", *into)
        for other in self.network.hosts.values():
            if other is not self:
                other.iptables("-D", *out_of)

    def delay(self, ms: float, queue: int = 0) -> None:
        """Holds every packet this host sends for `ms` milliseconds.

        An NFQUEUE rule on eth0's output and the nfq_delay program on this
        host (FIFO, so order is kept). ``--queue-bypass``: if the delayer
        dies, packets flow undelayed. Until `clear_delay`.
        """
        if self._delayer is not None:
            self.clear_delay()
        delayer = nfq_delay_binary()
        proc = self.run([delayer, str(queue), str(int(ms * 1000))],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # The queue must be bound before the rule sends packets to it, or
        # they bypass it; nfq_delay binds at once, give it a moment.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and proc.running():
            if _queue_bound(self, queue):
                break
            time.sleep(0.01)
        if not proc.running():
            err = proc.popen.stderr.read() if proc.popen.stderr else ""
            raise RuntimeError(f"nfq_delay on {self.name} exited: {err}")
        self.iptables("-A", "OUTPUT", "-o", self.IFACE, *self._rule("delay"),
                      "-j", "NFQUEUE", "--queue-num", str(queue),
                      "--queue-bypass")
        self._delayer = proc
        self._delay_queue = queue

    def clear_delay(self) -> None:
        """Undoes `delay`."""
        if self._delayer is None:
            return
        self.iptables("-D", "OUTPUT", "-o", self.IFACE, *self._rule("delay"),
                      "-j", "NFQUEUE", "--queue-num", str(self._delay_queue),
                      "--queue-bypass")
        self._delayer.kill()
        self._delayer.wait(5)
        self._delayer = None


def _queue_bound(host: Host, queue: int) -> bool:
    """Whether a program in `host` has bound NFQUEUE `queue`."""
    done = host.check(["cat", "/proc/net/netfilter/nfnetlink_queue"],
                      check=False)
    return any(line.split()[:1] == [str(queue)]
               for line in done.stdout.splitlines())


_nfq_lock = threading.Lock()


def nfq_delay_binary() -> str:
    """The nfq_delay program: $TQ_NFQ_DELAY, else built from nfq_delay.c.

    Building needs gcc and libnetfilter-queue-dev; the result is cached in
    the temporary directory under a hash of the source.
    """
    given = os.environ.get("TQ_NFQ_DELAY")
    if given:
        return given
    source = Path(__file__).with_name("nfq_delay.c")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"tq-nfq-delay-{digest}"
    with _nfq_lock:
        if not target.exists():
            partial = target.with_suffix(f".{os.getpid()}")
            done = _run(["gcc", "-O2", "-o", str(partial), str(source),
                         "-lnetfilter_queue"], check=False)
            if done.returncode != 0:
                raise HostsUnavailable(
                    "added delay needs nfq_delay, which did not build "
                    "(gcc and libnetfilter-queue-dev): "
                    + done.stderr.strip()[-300:])
            partial.replace(target)
    return str(target)


class Network:
    """Hosts on one switch; a context manager that removes them all.

    ``Network(["b", "w1", "w2"])`` creates the hosts at once (one address
    each from `subnet`, in order); `add_hosts` adds more later.
    """

    def __init__(self, hosts: Sequence[str] = (),
                 subnet: str = "10.77.0.0/24") -> None:
        reason = unavailable_reason()
        if reason:
            raise HostsUnavailable(reason)
        global _counter, _stale_cleaned
        with _lock:
            if not _stale_cleaned:
                cleanup_stale()
                _stale_cleaned = True
            _take_process_lock()
            self.prefix = f"{PREFIX_ROOT}{os.getpid()}-{_counter}-"
            _counter += 1
            _open_networks.append(self)
        self.subnet = ipaddress.ip_network(subnet)
        self._addresses = self.subnet.hosts()
        self.switch = self.prefix + "switch"
        self.hosts: dict[str, Host] = {}
        self.closed = False
        try:
            _run(["ip", "netns", "add", self.switch])
            _batch(self.switch, ["link set lo up",
                                 "link add br0 type bridge",
                                 "link set br0 up"])
            if hosts:
                self.add_hosts(hosts)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "Network":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def add_hosts(self, names: Sequence[str]) -> list[Host]:
        """Creates hosts named `names` (lower-case, at most 10 characters)."""
        new = []
        for name in names:
            if not _HOST_NAME_RE.match(name):
                raise ValueError(f"host name {name!r}: want [a-z][a-z0-9]* "
                                 "of at most 10 characters")
            if name in self.hosts:
                raise ValueError(f"host {name!r} exists already")
            host = Host(self, name, str(next(self._addresses)))
            # Registered before it exists, so close() removes a half-made one.
            self.hosts[name] = host
            new.append(host)
        for host in new:
            _run(["ip", "netns", "add", host.namespace])
        switch_cmds = []
        for host in new:
            switch_cmds += [
                f"link add {host.port} type veth peer name {Host.IFACE} "
                f"netns {host.namespace}",
                f"link set {host.port} master br0 up"]
        _batch(self.switch, switch_cmds)
        for host in new:
            _batch(host.namespace, [
                "link set lo up",
                f"addr add {host.address}/{self.subnet.prefixlen} "
                f"dev {Host.IFACE}",
                f"link set {Host.IFACE} up"])
        return new

    def close(self) -> None:
        """Kills every process on the hosts and deletes the namespaces."""
        if self.closed:
            return
        self.closed = True
        procs = [p for h in self.hosts.values() for p in h.procs]
        for proc in procs:
            proc.kill()
        names = [h.namespace for h in self.hosts.values()] + [self.switch]
        existing = set(_namespaces())
        for name in names:
            if name in existing:
                _kill_namespace_processes(name)
        for proc in procs:
            try:
                proc.popen.wait(5)
            except subprocess.TimeoutExpired:
                pass
            for stream in (proc.popen.stdout, proc.popen.stderr):
                if stream is not None:
                    stream.close()
        doomed = [n for n in names if n in existing]
        if doomed:
            _run(["ip", "-batch", "-"], check=False,
                 input="".join(f"netns del {n}\n" for n in doomed))
        with _lock:
            if self in _open_networks:
                _open_networks.remove(self)


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Polls `condition` until it returns something true; raises on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
