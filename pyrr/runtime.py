"""Running the speaker in an event loop: uvloop when available, signals, reload."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import structlog

from .config import Config, ConfigError
from .control.server import ControlServer, default_socket_path
from .speaker import Speaker

log = structlog.get_logger("pyrr")
STATE_FILE = "pyrr.state.json"


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop if installed (it is a dependency on Linux), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


async def serve(
    config: Config,
    reload: Callable[[], Config] | None = None,
    control_socket: str | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (Cease to every peer) or SIGUSR2 (stop for a graceful restart:
    no NOTIFICATION, peers keep our routes); SIGHUP re-reads the configuration via `reload`."""
    loop = asyncio.get_running_loop()
    control_path = control_socket or default_socket_path()
    # The restart state lives beside the control socket (/run/pyrr): it survives a restart of
    # the process, not a reboot, which is exactly the lifetime RFC 4724 state should have.
    speaker = Speaker(config, loop, state_path=Path(control_path).parent / STATE_FILE)
    await speaker.start()
    control = ControlServer(speaker, control_path)
    try:
        await control.start()
    except OSError as err:
        log.error("control socket unavailable", path=control.path, error=str(err))
    done = asyncio.Event()

    def on_hup() -> None:
        if reload is None:
            return
        try:
            new = reload()
        except ConfigError as err:
            log.error("reload failed; keeping the running configuration", error=str(err))
            return
        log.info("configuration reloaded", peers=len(new.peers))
        speaker.reconfigure(new)

    graceful_restart = False

    def on_usr2() -> None:
        nonlocal graceful_restart
        graceful_restart = True
        done.set()

    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_signal_handler(signal.SIGINT, done.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    loop.add_signal_handler(signal.SIGUSR2, on_usr2)
    try:
        await done.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR2):
            loop.remove_signal_handler(sig)
    await control.stop()
    if graceful_restart:
        await speaker.stop_for_restart()
    else:
        log.info("shutting down")
        await speaker.stop()
    return 0
