"""Running the speaker in an event loop: uvloop when available, signals, reload."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import structlog

from .config import Config, ConfigError
from .control.server import ControlServer, default_socket_path
from .speaker import Speaker

log = structlog.get_logger("pyrr")


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
    """Run until SIGTERM/SIGINT; SIGHUP re-reads the configuration through `reload`."""
    loop = asyncio.get_running_loop()
    speaker = Speaker(config, loop)
    await speaker.start()
    control = ControlServer(speaker, control_socket or default_socket_path())
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

    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_signal_handler(signal.SIGINT, done.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    try:
        await done.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    log.info("shutting down")
    await control.stop()
    await speaker.stop()
    return 0
