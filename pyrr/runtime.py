"""Running pyrr in an event loop: uvloop when available, the signals (SIGTERM/SIGINT stop,
SIGUSR2 stops for a graceful restart, SIGHUP reloads, SIGUSR1 writes an MRT table dump), the
control socket, metrics and sd_notify around the speaker's asyncio host."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from .bgp.constants import State
from .config import Config, ConfigError
from .control.server import ControlServer, default_socket_path
from .ops.sdnotify import Notifier
from .transport.host import Host

if TYPE_CHECKING:
    from .control.metrics import MetricsServer
    from .store.calico.source import CalicoSource

log = structlog.get_logger("pyrr")
STATE_FILE = "pyrr.state.json"
EXIT_RESTART = 75  # sysexits EX_TEMPFAIL: stopped for a graceful restart, start again


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop if installed (it is a dependency on Linux), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


# The cyclic garbage collector's generation-0 threshold (CPython's default: 700 container
# allocations). A full table or a thousand peers' churn allocates millions of short-lived
# tuples; with the default, each burst triggers collections that walk every long-lived object
# again (a 250,000-prefix withdrawal: 0.12 s of 0.2 s spent there). pyrr makes few reference
# cycles, so collecting 30x less often costs little memory.
GC_THRESHOLDS = (20_000, 10, 10)


def tune_gc() -> None:
    """Objects alive once pyrr is up (modules, configuration, listeners) are never garbage:
    keep them out of every collection (`gc.freeze`), and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def serve(
    config: Config,
    reload: Callable[[], Config] | None = None,
    control_socket: str | None = None,
    source: CalicoSource | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (Cease to every peer) or SIGUSR2 (stop for a graceful restart:
    no NOTIFICATION, peers keep our routes); SIGHUP re-reads the configuration via `reload`.

    With `source` (Calico mode) the peers come from etcd: the speaker starts once the first
    snapshot is read (signals meanwhile stop pyrr), follows every change, and SIGHUP re-lists
    the datastore instead of reading a file."""
    loop = asyncio.get_running_loop()
    if source is not None:
        first = await _first_snapshot(loop, source)
        if first is None:
            return 0
        config = first
    control_path = control_socket or config.control.socket or default_socket_path()
    host = await _start_host(loop, config, control_path, source)
    tune_gc()
    metrics = await _start_metrics(host, config.control.metrics)
    control = ControlServer(host, control_path)
    try:
        await control.start()
    except OSError as err:
        log.error("control socket unavailable", path=control.path, error=str(err))
    run = _Running(loop, host, Notifier.from_env(), reload, source)
    graceful_restart = await run.until_stopped()
    if metrics is not None:
        await metrics.stop()
    await control.stop()
    await run.shutdown(graceful_restart)
    # After SIGUSR2 the supervisor should start us again at once (systemd
    # RestartForceExitStatus=75, Docker --restart on-failure): EX_TEMPFAIL says so.
    return EXIT_RESTART if graceful_restart else 0


async def _start_host(
    loop: asyncio.AbstractEventLoop,
    config: Config,
    control_path: str,
    source: CalicoSource | None,
) -> Host:
    # The restart state lives beside the control socket (/run/pyrr): it survives a restart of
    # the process, not a reboot, which is exactly the lifetime RFC 4724 state should have.
    host = Host(config, loop, state_path=Path(control_path).parent / STATE_FILE)
    try:
        await host.start()
    except BaseException:
        if source is not None:
            await source.stop()  # e.g. the BGP port is taken: leave etcd cleanly
        raise
    if source is not None:
        source.attach(host)
    return host


class _Running:
    """The signals of a running pyrr, and its way down."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR2, signal.SIGUSR1)

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        host: Host,
        notifier: Notifier,
        reload: Callable[[], Config] | None,
        source: CalicoSource | None,
    ) -> None:
        self.loop = loop
        self.host = host
        self.notifier = notifier
        self.reload = reload
        self.source = source
        self.done = asyncio.Event()
        self.graceful_restart = False

    async def until_stopped(self) -> bool:
        """Serve until a stop signal; True when it was SIGUSR2 (a graceful restart)."""
        loop = self.loop
        loop.add_signal_handler(signal.SIGTERM, self.done.set)
        loop.add_signal_handler(signal.SIGINT, self.done.set)
        loop.add_signal_handler(signal.SIGHUP, self.on_hup)
        loop.add_signal_handler(signal.SIGUSR2, self.on_usr2)
        loop.add_signal_handler(signal.SIGUSR1, lambda: self.host.request_dump("SIGUSR1"))
        # systemd Type=notify: ready once listening with the configuration loaded and the
        # signal handlers in place (a reload right after start must not kill us); the watchdog
        # is fed from a loop timer, so a stuck loop gets the service restarted.
        self.notifier.ready(_status_line(self.host))
        self.notifier.start_watchdog(loop, lambda: _status_line(self.host))
        try:
            await self.done.wait()
        finally:
            for sig in self.SIGNALS:
                loop.remove_signal_handler(sig)
        self.notifier.stopping("shutting down")
        self.notifier.stop_watchdog()
        return self.graceful_restart

    def on_hup(self) -> None:
        if self.source is not None:
            self.source.resync()
            return
        if self.reload is None:
            return
        self.notifier.reloading()
        try:
            new = self.reload()
        except ConfigError as err:
            log.error("reload failed; keeping the running configuration", error=str(err))
            self.notifier.ready(f"reload failed: {err}")
            return
        log.info("configuration reloaded", peers=len(new.peers))
        self.host.reconfigure(new)
        self.notifier.ready(_status_line(self.host))

    def on_usr2(self) -> None:
        self.graceful_restart = True
        self.done.set()

    async def shutdown(self, graceful_restart: bool) -> None:
        if self.source is not None:
            await self.source.stop(graceful_restart=graceful_restart)
        if graceful_restart:
            await self.host.stop_for_restart()
        else:
            log.info("shutting down")
            await self.host.stop()
        self.notifier.close()


async def _first_snapshot(loop: asyncio.AbstractEventLoop, source: CalicoSource) -> Config | None:
    """`source.initial_config()`, ended by SIGTERM, SIGINT or SIGUSR2 (None: stop, exit 0);
    SIGHUP and SIGUSR1 meanwhile are ignored, as there is nothing to reload or dump yet."""
    stop = asyncio.Event()
    waiting = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2)
    for sig in waiting:
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: log.info("SIGHUP ignored: not started"))
    loop.add_signal_handler(signal.SIGUSR1, lambda: log.info("SIGUSR1 ignored: not started"))
    try:
        return await source.initial_config(stop)
    finally:
        for sig in (*waiting, signal.SIGHUP, signal.SIGUSR1):
            loop.remove_signal_handler(sig)


async def _start_metrics(host: Host, address: str) -> MetricsServer | None:
    """The opt-in Prometheus endpoint; a failure to bind is logged, like the control socket's."""
    if not address:
        return None
    from .control.metrics import MetricsServer

    server = MetricsServer(host, address)
    try:
        await server.start()
    except OSError as err:
        log.error("metrics endpoint unavailable", address=address, error=str(err))
        return None
    return server


def _status_line(host: Host) -> str:
    sp = host.speaker
    up = sum(1 for p in sp.peers.values() if p.state == State.ESTABLISHED)
    return f"{up}/{len(sp.peers)} peers established, {len(sp.rib)} prefixes"
