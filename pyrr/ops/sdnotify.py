"""sd_notify(3) without libsystemd: one AF_UNIX datagram per message to $NOTIFY_SOCKET.

The protocol is newline-separated VAR=value assignments in one datagram (`READY=1`,
`STATUS=...`, `STOPPING=1`, `WATCHDOG=1`, `RELOADING=1`). An address starting with `@` is in
the abstract namespace (the `@` becomes a NUL byte). The watchdog follows
sd_watchdog_enabled(3): on when WATCHDOG_USEC is a positive number and WATCHDOG_PID, if set, is
our pid; systemd wants a ping at least every WATCHDOG_USEC, and we send one every half of it.

Sending never blocks (MSG_DONTWAIT) and never raises: a service manager that went away must
not take the route reflector with it. Without NOTIFY_SOCKET every call is a no-op.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger("pyrr.sdnotify")


def socket_address(value: str | None) -> str | None:
    """The AF_UNIX address for a NOTIFY_SOCKET value, or None if unset or unsupported."""
    if not value:
        return None
    if value[0] == "@":
        return "\0" + value[1:]  # abstract namespace
    if value[0] == "/":
        return value
    return None  # e.g. systemd 254's "vsock:CID:PORT", which we do not speak


def watchdog_usec(env: Mapping[str, str] | None = None, pid: int | None = None) -> int | None:
    """The watchdog timeout in microseconds if the manager asked us to ping, else None."""
    env = os.environ if env is None else env
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    wd_pid = env.get("WATCHDOG_PID")
    if wd_pid:
        try:
            if int(wd_pid) != (os.getpid() if pid is None else pid):
                return None  # meant for another process (e.g. our parent)
        except ValueError:
            return None
    return usec


class Notifier:
    """Sends sd_notify messages; from_env() reads NOTIFY_SOCKET and the watchdog variables."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec
        self._sock: socket.socket | None = None
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if env is None else env
        value = env.get("NOTIFY_SOCKET")
        address = socket_address(value)
        if value and address is None:
            log.warning("NOTIFY_SOCKET not supported; not notifying", notify_socket=value)
        return cls(address, watchdog_usec(env) if address else None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings (half the timeout), or None if there is no watchdog."""
        return self.watchdog_usec / 2e6 if self.watchdog_usec else None

    def send(self, *assignments: str) -> bool:
        """Send `VAR=value` lines as one datagram; True if it was sent."""
        if self.address is None or not assignments:
            return False
        data = "\n".join(assignments).encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(data, socket.MSG_DONTWAIT, self.address)
        except OSError as err:
            log.debug("sd_notify failed", error=str(err), message=assignments[0])
            return False
        return True

    # -- the messages pyrr sends -------------------------------------------------------------

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *_status(status))

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) match the reload to us.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self, status: str = "") -> bool:
        return self.send("STOPPING=1", *_status(status))

    def status(self, status: str) -> bool:
        return self.send(*_status(status))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    # -- the watchdog, fed from the event loop -------------------------------------------------

    def start_watchdog(
        self, loop: asyncio.AbstractEventLoop, status: Callable[[], str] | None = None
    ) -> bool:
        """Ping every watchdog_interval from a loop timer (so a stuck loop stops the pings).

        `status`, if given, is called on each ping and sent along as STATUS=.
        """
        interval = self.watchdog_interval
        if interval is None or self._timer is not None:
            return False

        def tick() -> None:
            text = ""
            if status is not None:
                try:
                    text = status()
                except Exception as err:  # a status line must never stop the pings
                    log.debug("status line failed", error=str(err))
            self.send("WATCHDOG=1", *_status(text))
            self._timer = loop.call_later(interval, tick)

        tick()
        log.debug("watchdog on", interval=interval)
        return True

    def stop_watchdog(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        self.stop_watchdog()
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _status(text: str) -> tuple[str, ...]:
    # One datagram holds newline-separated assignments: a newline inside STATUS would start a
    # bogus assignment.
    return (f"STATUS={' '.join(text.split())}",) if text else ()
