"""Hosts in network namespaces on one shared L2 segment, built with iproute2.

Layout of a lab named ``pyrr1234``::

    pyrr1234-sw   (the "switch": a bridge br0, one port p-<host> per host)
      |- pyrr1234-rr     eth0 198.18.0.104/24 2001:db8::104/64
      |- pyrr1234-node1  eth0 198.18.0.101/24 2001:db8::101/64

Everything, the bridge included, lives in namespaces the lab creates, so the host's root
namespace never gains an interface, a route or a listening socket. Veth pairs are created
inside the switch namespace with their far end placed directly in the host namespace, so
their names never exist in the root namespace either (no clash between parallel runs).

Safety: addresses must lie in 198.18.0.0/15 (RFC 2544 benchmarking) or 2001:db8::/32
(documentation). The lab refuses anything else, so a typo cannot route test traffic
anywhere real.

Processes started with `Host.popen` are tracked by pid and are the only ones `Lab.stop`
signals. `ip netns exec` execs the command in place (no fork), so the pid we hold is the
daemon's own pid.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv6Interface, ip_interface, ip_network
from pathlib import Path
from types import TracebackType
from typing import TypeVar

T = TypeVar("T")

# The only address space test traffic may use (see the module docstring).
ALLOWED_V4 = ip_network("198.18.0.0/15")
ALLOWED_V6 = ip_network("2001:db8::/32")

# Interface names are limited to 15 bytes (IFNAMSIZ - 1); the switch-side port is
# "p-" + host name, hence 13 characters at most for a host name.
_HOST_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,12}$")
_SWITCH_HOST = "sw"  # reserved: the switch namespace's suffix
_BRIDGE = "br0"
_HOST_IFACE = "eth0"

# Where each lab records which pid owns its namespaces, so a later run can tell a namespace
# left behind by a killed test run (owner gone) from one in use by a parallel run.
_OWNER_DIR = Path("/run/pyrr-lab")

# Labs currently open in this process, by base name, so two concurrent labs get two names.
_open_names: set[str] = set()
_open_names_lock = threading.Lock()

_PR_SET_PDEATHSIG = 1


class LabError(RuntimeError):
    """The lab could not be built or a command in it failed."""


class CommandFailed(subprocess.CalledProcessError):
    """`Host.run(check=True)` failed; unlike CalledProcessError, str() shows the output."""

    def __str__(self) -> str:
        argv = self.cmd if isinstance(self.cmd, str) else " ".join(map(str, self.cmd))
        return (
            f"command exited with {self.returncode}: {argv}\n"
            f"--- stdout ---\n{self.stdout or ''}--- stderr ---\n{self.stderr or ''}"
        )


class GiveUp(Exception):
    """Raised by a `wait_until` predicate to end the wait at once (e.g. a daemon died)."""


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = 30.0,
    interval: float = 0.5,
    message: str = "condition",
) -> T:
    """Poll `predicate` until it returns something truthy, and return that value.

    An exception from the predicate counts as "not yet" (a daemon's control socket may not
    exist during startup), except `GiveUp`, which propagates at once. On timeout raises
    AssertionError naming `message` and the last value or exception seen, which is usually
    what explains the failure.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
        except GiveUp:
            raise
        except Exception as exc:  # the predicate may poke at a daemon that isn't up yet
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:.1f}s waiting for {message}; last observed: {last!r}"
            )
        time.sleep(interval)


def _run(argv: Sequence[str], timeout: float = 30.0, check: bool = True) -> str:
    """Run a lab-building command in the root namespace; return stdout."""
    cp = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and cp.returncode != 0:
        raise CommandFailed(cp.returncode, list(argv), cp.stdout, cp.stderr)
    return cp.stdout


def list_netns() -> list[str]:
    """Names of all network namespaces (`ip netns list`), without the "(id: N)" suffix."""
    out = _run(["ip", "netns", "list"])
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(netns: str) -> list[int]:
    """Pids of the processes inside a namespace."""
    out = _run(["ip", "netns", "pids", netns], check=False)
    return [int(tok) for tok in out.split() if tok.isdigit()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale_labs(prefix: str = "pyrr") -> list[str]:
    """Delete namespaces left behind by lab runs that were killed before they could clean up.

    Only namespaces with an owner record whose pid is gone and that hold no process are
    deleted; anything else (a parallel run's lab, a namespace someone else made) is left
    alone. Returns the names deleted.
    """
    deleted: list[str] = []
    if not _OWNER_DIR.is_dir():
        return deleted
    existing = set(list_netns())
    for rec in sorted(_OWNER_DIR.glob(f"{prefix}*.owner")):
        try:
            owner = int(rec.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if _pid_alive(owner):
            continue
        base = rec.name.removesuffix(".owner")
        ours = [ns for ns in existing if ns.startswith(base + "-")]
        if any(netns_pids(ns) for ns in ours):
            continue  # processes still inside: not safe to judge; leave it
        for ns in ours:
            _run(["ip", "netns", "del", ns], check=False)
            deleted.append(ns)
        # The record's second line is the lab's temporary workdir (configs, sockets, logs).
        lines = rec.read_text().splitlines()
        if len(lines) > 1:
            workdir = Path(lines[1])
            if workdir.parent == Path(tempfile.gettempdir()) and workdir.name.startswith(base):
                shutil.rmtree(workdir, ignore_errors=True)
        rec.unlink(missing_ok=True)
    return deleted


def _set_pdeathsig() -> None:
    """In the child before exec: die with the parent, so a SIGKILLed pytest leaves no daemon.

    PR_SET_PDEATHSIG survives execve (for non-setuid programs), so it reaches the daemon
    that `ip netns exec` execs into.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class LabProcess:
    """A process started in a lab host; the lab signals only these."""

    host: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float = 10.0) -> int:
        return self.popen.wait(timeout=timeout)

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL (a crash, as far as the daemon's peers can tell) and reap."""
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5.0)

    def terminate(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL if still running after `timeout` seconds; returns exit code."""
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.popen.poll()

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""


@dataclass
class Host:
    """One lab host: a network namespace with lo and eth0 (plugged into the lab switch)."""

    lab: Lab
    name: str
    netns: str
    ip4_iface: IPv4Interface
    ip6_iface: IPv6Interface | None
    dir: Path  # this host's scratch directory (configs, sockets, logs)
    port: str  # the switch-side veth name
    processes: list[LabProcess] = field(default_factory=list)

    @property
    def ip4(self) -> str:
        """IPv4 address without prefix length, e.g. "198.18.0.101"."""
        return str(self.ip4_iface.ip)

    @property
    def ip6(self) -> str:
        """IPv6 address without prefix length, e.g. "2001:db8::101"."""
        if self.ip6_iface is None:
            raise LabError(f"host {self.name} has no IPv6 address")
        return str(self.ip6_iface.ip)

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        """`argv` wrapped to run inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def run(
        self,
        argv: Sequence[str],
        check: bool = True,
        timeout: float = 30.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the namespace and wait for it (killed after `timeout` seconds)."""
        full = self.exec_argv(argv)
        cp = subprocess.run(
            full,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and cp.returncode != 0:
            raise CommandFailed(cp.returncode, full, cp.stdout, cp.stderr)
        return cp

    def popen(
        self,
        argv: Sequence[str],
        log: Path | str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | str | None = None,
    ) -> LabProcess:
        """Start a long-running process in the namespace; stdout+stderr go to `log`.

        `log` may be a bare file name (placed in this host's directory) or a path; by
        default it is named after the program. The process is stopped by `Lab.stop`.
        """
        if self.lab.stopped:
            raise LabError("lab is closed")
        if log is None:
            n = len(self.processes)
            log = f"{Path(argv[0]).name}-{n}.log"
        log_path = Path(log)
        if not log_path.is_absolute():
            log_path = self.dir / log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # Only the main thread: PDEATHSIG fires when the *thread* that forked exits, which
        # for a worker thread would kill the daemon mid-test.
        on_main = threading.current_thread() is threading.main_thread()
        with log_path.open("ab") as logf:
            logf.write(f"### {time.strftime('%H:%M:%S')} start: {' '.join(argv)}\n".encode())
            logf.flush()
            proc = subprocess.Popen(
                self.exec_argv(argv),
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                # Own process group: a Ctrl-C aimed at pytest doesn't hit the daemons
                # before the lab stops them in order.
                start_new_session=True,
                preexec_fn=_set_pdeathsig if on_main else None,  # noqa: PLW1509
            )
        lp = LabProcess(host=self.name, argv=list(argv), popen=proc, log=log_path)
        self.processes.append(lp)
        self.lab.processes.append(lp)
        return lp

    def link_down(self) -> None:
        """Unplug this host from the switch (its eth0 loses carrier)."""
        self.lab.switch_ip("link", "set", self.port, "down")

    def link_up(self) -> None:
        """Plug this host back into the switch."""
        self.lab.switch_ip("link", "set", self.port, "up")

    def ip(self, *args: str, check: bool = True) -> str:
        """Run `ip -n <netns> ARGS...`; return stdout."""
        return _run(["ip", "-n", self.netns, *args], check=check)


class Lab:
    """A set of hosts in network namespaces on one bridge. Close it (or use `with`)."""

    def __init__(self, prefix: str = "pyrr", workdir: Path | str | None = None) -> None:
        if not re.fullmatch(r"[a-z]{1,8}", prefix):
            raise LabError(f"prefix must be 1-8 lowercase letters, got {prefix!r}")
        base = f"{prefix}{os.getpid() % 10000}"
        with _open_names_lock:
            name, n = base, 0
            while name in _open_names:
                n += 1
                name = f"{base}{chr(ord('a') + n - 1)}"
            _open_names.add(name)
        self.name = name
        self.switch_netns = f"{name}-{_SWITCH_HOST}"
        self.hosts: dict[str, Host] = {}
        self.processes: list[LabProcess] = []
        self._diagnostics: list[tuple[str, Callable[[], str]]] = []
        self._netns_made: list[str] = []
        self._started = False
        self.stopped = False
        self._closed = False
        self._owns_workdir = workdir is None
        self.workdir = (
            Path(tempfile.mkdtemp(prefix=f"{name}-")) if workdir is None else Path(workdir)
        )
        self.workdir.mkdir(parents=True, exist_ok=True)

    # --- building -------------------------------------------------------------------

    def start(self) -> Lab:
        """Create the switch namespace and bridge; idempotent, also done by `add_host`."""
        if self.stopped:
            raise LabError("lab is closed")
        if self._started:
            return self
        self._write_owner_record()
        sw = self.switch_netns
        self._add_netns(sw)
        # The switch only forwards frames: no IPv6 on it means no link-local chatter and no
        # DAD on its ports.
        self._sysctl(sw, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        self.switch_ip("link", "set", "lo", "up")
        # No STP and no forward delay: ports forward the moment they come up. No multicast
        # snooping: without a querier it could drop IPv6 neighbour discovery.
        self.switch_ip(
            "link", "add", _BRIDGE, "type", "bridge",
            "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0",
        )  # fmt: skip
        self.switch_ip("link", "set", _BRIDGE, "up")
        self._started = True
        return self

    def add_host(self, name: str, ip4: str, ip6: str | None = None) -> Host:
        """Create a host namespace plugged into the switch, with addresses up and usable.

        `ip4`/`ip6` are in CIDR form ("198.18.0.101/24", "2001:db8::101/64").
        """
        if not _HOST_NAME_RE.fullmatch(name) or name == _SWITCH_HOST:
            raise LabError(
                f"host name must match {_HOST_NAME_RE.pattern} and not be {_SWITCH_HOST!r}:"
                f" {name!r}"
            )
        if name in self.hosts:
            raise LabError(f"host {name!r} already exists")
        v4 = ip_interface(ip4)
        if not isinstance(v4, IPv4Interface) or v4.ip not in ALLOWED_V4:
            raise LabError(f"{name}: IPv4 address must be inside {ALLOWED_V4}: {ip4!r}")
        v6: IPv6Interface | None = None
        if ip6 is not None:
            v6_any = ip_interface(ip6)
            if not isinstance(v6_any, IPv6Interface) or v6_any.ip not in ALLOWED_V6:
                raise LabError(f"{name}: IPv6 address must be inside {ALLOWED_V6}: {ip6!r}")
            v6 = v6_any
        self.start()

        ns = f"{self.name}-{name}"
        port = f"p-{name}"
        hostdir = self.workdir / name
        hostdir.mkdir(parents=True, exist_ok=True)
        self._add_netns(ns)
        # No DAD anywhere on this host, link-local included: addresses are usable at once
        # instead of "tentative" for a second or two.
        self._sysctl(ns, "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        # Created inside the switch namespace with the far end placed straight into the
        # host namespace: neither name ever appears in the root namespace.
        self.switch_ip("link", "add", port, "type", "veth", "peer", "name", _HOST_IFACE,
                       "netns", ns)  # fmt: skip
        self.switch_ip("link", "set", port, "master", _BRIDGE)
        self.switch_ip("link", "set", port, "up")
        _run(["ip", "-n", ns, "addr", "add", str(v4), "dev", _HOST_IFACE])
        if v6 is not None:
            _run(["ip", "-n", ns, "-6", "addr", "add", str(v6), "dev", _HOST_IFACE, "nodad"])
        _run(["ip", "-n", ns, "link", "set", _HOST_IFACE, "up"])

        host = Host(
            lab=self, name=name, netns=ns, ip4_iface=v4, ip6_iface=v6, dir=hostdir, port=port
        )
        self.hosts[name] = host
        return host

    def host(self, name: str) -> Host:
        return self.hosts[name]

    def switch_ip(self, *args: str) -> str:
        """Run `ip -n <switch netns> ARGS...`."""
        return _run(["ip", "-n", self.switch_netns, *args])

    def namespaces(self) -> list[str]:
        """The namespaces this lab created (and has not deleted yet)."""
        return list(self._netns_made)

    def _add_netns(self, ns: str) -> None:
        if ns in list_netns():
            # Same name as ours: a leftover of an earlier run whose pid%10000 matched ours.
            # Take it over only if nothing runs inside it.
            if netns_pids(ns):
                raise LabError(f"network namespace {ns} exists and has processes in it")
            _run(["ip", "netns", "del", ns])
        _run(["ip", "netns", "add", ns])
        self._netns_made.append(ns)

    @staticmethod
    def _sysctl(ns: str, *settings: str) -> None:
        _run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *settings])

    def _write_owner_record(self) -> None:
        with contextlib.suppress(OSError):
            _OWNER_DIR.mkdir(parents=True, exist_ok=True)
            (_OWNER_DIR / f"{self.name}.owner").write_text(f"{os.getpid()}\n{self.workdir}\n")

    # --- debugging aids -------------------------------------------------------------

    def add_diagnostic(self, name: str, fn: Callable[[], str]) -> None:
        """Register a state dump (e.g. `birdc show protocols all`) taken when a test fails."""
        self._diagnostics.append((name, fn))

    def collect_diagnostics(self) -> list[Path]:
        """Run the registered dumps plus addresses/routes/sockets of each host into files.

        Call before `stop()`, while the daemons still answer. Never raises.
        """
        written: list[Path] = []
        ddir = self.workdir / "diagnostics"
        ddir.mkdir(parents=True, exist_ok=True)

        def dump(fname: str, fn: Callable[[], str]) -> None:
            try:
                text = fn()
            except Exception as exc:  # a dead daemon must not hide the other dumps
                text = f"<diagnostic failed: {exc!r}>"
            path = ddir / fname
            path.write_text(text)
            written.append(path)

        for h in self.hosts.values():

            def net_state(h: Host = h) -> str:
                parts = []
                for args in (["addr"], ["route"], ["-6", "route"], ["neigh"]):
                    parts.append(f"$ ip {' '.join(args)}\n{h.ip(*args, check=False)}")
                parts.append(h.run(["ss", "-tanp"], check=False, timeout=10).stdout)
                return "\n".join(parts)

            dump(f"{h.name}-net.txt", net_state)
        for name, fn in self._diagnostics:
            dump(f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.txt", fn)
        return written

    def log_files(self) -> list[Path]:
        """All files in the workdir worth reading after a failure (logs, configs, dumps)."""
        if not self.workdir.is_dir():
            return []
        return sorted(
            p for p in self.workdir.rglob("*")
            if p.is_file() and p.suffix in {".log", ".txt", ".conf", ".toml", ".cfg"}
        )  # fmt: skip

    def tails(self, lines: int = 30, suffixes: Sequence[str] = (".log",)) -> str:
        """The last `lines` lines of every log (by default daemon logs only), for a report."""
        out: list[str] = []
        for p in self.log_files():
            if p.suffix not in suffixes:
                continue
            text = p.read_text(errors="replace").splitlines()
            out.append(f"===== {p.relative_to(self.workdir)} (last {lines} lines) =====")
            out.extend(text[-lines:])
        return "\n".join(out)

    def save_logs(self, dest: Path) -> Path:
        """Copy logs, configs and dumps into `dest` (replaced if present); return it."""
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for p in self.log_files():
            target = dest / p.relative_to(self.workdir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, target)
        return dest

    # --- teardown -------------------------------------------------------------------

    def stop(self, grace: float = 5.0) -> None:
        """Stop every process the lab started and delete its namespaces; idempotent.

        SIGTERM to all first (so daemons shut down in parallel), SIGKILL whatever is still
        running `grace` seconds later. Files in the workdir stay until `close()`.
        """
        if self.stopped:
            return
        self.stopped = True
        try:
            for p in self.processes:
                p.signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            for p in self.processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            for p in self.processes:
                if p.alive():
                    p.kill()
        finally:
            # Host namespaces first: deleting them destroys the veths; then the switch.
            errors = []
            for ns in reversed(self._netns_made):
                try:
                    _run(["ip", "netns", "del", ns], check=True)
                except CommandFailed as exc:
                    if ns in list_netns():
                        errors.append(str(exc))
            self._netns_made.clear()
            with contextlib.suppress(OSError):
                (_OWNER_DIR / f"{self.name}.owner").unlink(missing_ok=True)
            with _open_names_lock:
                _open_names.discard(self.name)
            if errors:
                raise LabError("could not delete namespaces:\n" + "\n".join(errors))

    def close(self) -> None:
        """`stop()` and remove the workdir (if the lab created it); idempotent."""
        if self._closed:
            return
        try:
            self.stop()
        finally:
            self._closed = True
            if self._owns_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[Host]:
        return iter(self.hosts.values())
