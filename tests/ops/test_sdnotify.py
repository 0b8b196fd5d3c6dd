"""sd_notify against real AF_UNIX datagram sockets bound by the test, and `pyrr run` under a
pretend service manager: READY=1, WATCHDOG=1 pings, STOPPING=1, exit 0."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyrr.ops.sdnotify import Notifier, socket_address, watchdog_usec

from ..peer_sim import free_port
from .daemon import PYRR_BIN, pyrr_env, running, write_config


class Manager:
    """The service manager's end: a datagram socket that collects what pyrr sends."""

    def __init__(self, sock: socket.socket, env_value: str) -> None:
        self.sock = sock
        self.env_value = env_value  # what NOTIFY_SOCKET is set to
        self.messages: list[str] = []

    def receive(self, timeout: float = 2.0) -> str:
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096)
        self.messages.append(data.decode())
        return self.messages[-1]

    def wait_for(self, assignment: str, timeout: float = 10.0) -> str:
        """The first message (in arrival order) with this line; earlier ones are kept too."""
        deadline = time.monotonic() + timeout
        for msg in self.messages:
            if assignment in msg.split("\n"):
                return msg
        while time.monotonic() < deadline:
            try:
                msg = self.receive(max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
            if assignment in msg.split("\n"):
                return msg
        raise AssertionError(f"no {assignment!r} within {timeout} s; got {self.messages}")


@pytest.fixture
def path_manager(tmp_path: Path) -> Iterator[Manager]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    with sock:
        yield Manager(sock, path)


@pytest.fixture
def abstract_manager() -> Iterator[Manager]:
    name = f"pyrr-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    with sock:
        yield Manager(sock, "@" + name)


def test_socket_address_forms() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@abstract/name") == "\0abstract/name"
    assert socket_address("") is None
    assert socket_address(None) is None
    assert socket_address("vsock:2:1234") is None  # systemd 254's vsock form: not spoken


def test_every_message_reaches_a_path_socket(path_manager: Manager) -> None:
    n = Notifier.from_env({"NOTIFY_SOCKET": path_manager.env_value})
    assert n.enabled
    assert n.ready("3/3 peers established")
    assert path_manager.receive() == "READY=1\nSTATUS=3/3 peers established"
    assert n.status("two\nlines")
    assert path_manager.receive() == "STATUS=two lines"  # a newline would start a new variable
    assert n.watchdog()
    assert path_manager.receive() == "WATCHDOG=1"
    assert n.reloading()
    reload_msg = path_manager.receive().split("\n")
    assert reload_msg[0] == "RELOADING=1"
    assert reload_msg[1].startswith("MONOTONIC_USEC=") and int(reload_msg[1].split("=")[1]) > 0
    assert n.stopping()
    assert path_manager.receive() == "STOPPING=1"
    n.close()


def test_abstract_namespace_socket(abstract_manager: Manager) -> None:
    n = Notifier.from_env({"NOTIFY_SOCKET": abstract_manager.env_value})
    assert n.address is not None and n.address.startswith("\0")
    assert n.ready()
    assert abstract_manager.receive() == "READY=1"
    n.close()


def test_no_notify_socket_is_a_quiet_no_op() -> None:
    n = Notifier.from_env({})
    assert not n.enabled
    assert not n.ready() and not n.watchdog() and not n.stopping()
    assert n.watchdog_interval is None


def test_a_vanished_manager_does_not_raise(tmp_path: Path) -> None:
    n = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert n.enabled
    assert n.ready() is False  # ENOENT: logged at debug, not raised
    n.close()


def test_watchdog_follows_sd_watchdog_enabled() -> None:
    me = os.getpid()
    assert watchdog_usec({"WATCHDOG_USEC": "30000000"}) == 30_000_000
    assert watchdog_usec({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(me)}) == 30_000_000
    # Meant for another process (the variable leaked from a parent): not ours to feed.
    assert watchdog_usec({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(me + 1)}) is None
    for bad in ("", "0", "-5", "x"):
        assert watchdog_usec({"WATCHDOG_USEC": bad}) is None
    assert watchdog_usec({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "x"}) is None
    n = Notifier.from_env({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000"})
    assert n.watchdog_interval == 15.0  # every WatchdogSec/2
    # No NOTIFY_SOCKET, no watchdog: there is nobody to ping.
    assert Notifier.from_env({"WATCHDOG_USEC": "30000000"}).watchdog_interval is None


def test_watchdog_timer_pings_from_the_loop(path_manager: Manager) -> None:
    n = Notifier.from_env({"NOTIFY_SOCKET": path_manager.env_value, "WATCHDOG_USEC": "100000"})

    async def go() -> None:
        loop = asyncio.get_running_loop()
        assert n.start_watchdog(loop, lambda: "fine")
        assert not n.start_watchdog(loop)  # once is enough
        await asyncio.sleep(0.23)  # pings at 0, 0.05, 0.10, 0.15, 0.20
        n.stop_watchdog()

    asyncio.run(go())
    pings = []
    while True:
        try:
            pings.append(path_manager.receive(timeout=0.1))
        except TimeoutError:
            break
    assert 3 <= len(pings) <= 6, pings  # 5 on time; a loaded machine may delay one
    assert all(p == "WATCHDOG=1\nSTATUS=fine" for p in pings)


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_pyrr_run_notifies_ready_watchdog_and_stopping(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    manager: Manager = request.getfixturevalue(f"{kind}_manager")
    cfg = write_config(tmp_path / "rr.toml", free_port(), peers=["127.0.3.1"])
    env = pyrr_env(
        tmp_path,
        {"NOTIFY_SOCKET": manager.env_value, "WATCHDOG_USEC": "400000"},  # WatchdogSec=0.4
    )
    argv = [str(PYRR_BIN), "run", "--config", str(cfg)]
    with running(argv, env, tmp_path / "pyrr.log") as daemon:
        ready = manager.wait_for("READY=1")
        # Ready means listening: the BGP port and the control socket both answer by now.
        assert "STATUS=0/1 peers established, 0 prefixes" in ready.split("\n")
        assert (tmp_path / "pyrr.sock").is_socket()
        t0 = time.monotonic()
        for _ in range(3):
            manager.wait_for("WATCHDOG=1", timeout=2.0)
            manager.messages.clear()
        # Three pings, every WATCHDOG_USEC/2 = 0.2 s.
        assert time.monotonic() - t0 < 2.0
        code, took = daemon.stop()
        assert manager.wait_for("STOPPING=1", timeout=2.0)
        assert code == 0, daemon.stderr()
        assert took < 2.0
