"""The asyncio host of a sans-IO `Speaker`: listening sockets, dials, one loop timer for every
deadline, the end-of-turn flush of the export layer, and the restart state file.

Every input reaches the speaker with `loop.time()`; after each one `settle()` carries out what
the speaker decided (`take_effects()`) and re-arms the timer if its next deadline moved earlier.

`LoopLag` measures the event loop itself (how late a timer runs) and `Host.queues()` the
sizes of what waits inside pyrr, for `pyrr status` and the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import structlog

from ..config import Config
from ..ops.restart_state import load_state, save_state
from ..session.effects import CancelDial, Dial
from ..session.link import Link
from ..session.neighbor import Neighbor
from ..session.recovery import DEFERRAL_BOUND
from ..speaker import Speaker
from .dialer import dial
from .listener import Listeners
from .monitoring import Monitoring
from .protocol import Connection

log = structlog.get_logger("pyrr.speaker")

# How long to wait after a change of the Established set before writing it down: a thousand
# sessions coming up write the file once, not a thousand times.
SAVE_STATE_DELAY = 0.5
# What the NOTIFICATIONs of a shutdown get to reach the sockets before the loop stops.
SHUTDOWN_GRACE = 0.05
# The event-loop lag probe: a timer every LAG_INTERVAL s; `recent_max` spans LAG_RECENT ticks.
LAG_INTERVAL = 0.1
LAG_RECENT = 10


class LoopLag:
    """How late the event loop runs a timer due every `interval` seconds: a loop busy with one
    long callback (or starved of CPU) runs it late by about that long.

    One cheap callback per interval. `last` is the latest tick's lateness, `recent_max` the
    largest of the last `LAG_RECENT` ticks (a second), `max` the largest since start, and
    `total` / `ticks` the mean; lateness shorter than the loop's timer resolution (about a
    millisecond with uvloop) is noise.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = LAG_INTERVAL) -> None:
        self.loop = loop
        self.interval = interval
        self.ticks = 0
        self.total = 0.0
        self.max = 0.0
        self.last = 0.0
        self._recent: deque[float] = deque(maxlen=LAG_RECENT)
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self._handle is None:
            self._arm(self.loop.time())

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    @property
    def recent_max(self) -> float:
        return max(self._recent, default=0.0)

    def _arm(self, now: float) -> None:
        self._due = now + self.interval
        self._handle = self.loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        now = self.loop.time()
        lag = max(0.0, now - self._due)
        self.ticks += 1
        self.total += lag
        self.last = lag
        self.max = max(self.max, lag)
        self._recent.append(lag)
        self._arm(now)

    def as_dict(self) -> dict[str, float | int]:
        return {
            "interval": self.interval,
            "ticks": self.ticks,
            "last": self.last,
            "recent_max": self.recent_max,
            "max": self.max,
            "mean": self.total / self.ticks if self.ticks else 0.0,
        }


class Host:
    def __init__(
        self,
        config: Config,
        loop: asyncio.AbstractEventLoop | None = None,
        state_path: Path | None = None,
    ) -> None:
        self.loop = loop or asyncio.get_running_loop()
        self._speaker = Speaker(config, self.loop.time(), self._soon)
        self.state_path = state_path
        self.recovery_bound = DEFERRAL_BOUND
        self.listeners = Listeners()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._state_timer: asyncio.TimerHandle | None = None
        self._dials: dict[int, asyncio.Task[None]] = {}  # by attempt
        # Wall clock minus loop clock: what status shows as dates (the speaker knows only the
        # loop's monotonic time).
        self.wall_offset = time.time() - self.loop.time()
        self.monitoring: Monitoring | None = None  # BMP stations and MRT files, if configured
        self._dump_tasks: set[asyncio.Task[object]] = set()
        self.lag = LoopLag(self.loop)

    @property
    def speaker(self) -> Speaker:
        return self._speaker

    @property
    def config(self) -> Config:
        return self._speaker.config

    def _soon(self, fn: Callable[[], None]) -> None:
        self.loop.call_soon(fn)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        up_before = None
        if self.state_path is not None:
            up_before = load_state(self.state_path, self.config.bgp.restart_time)
        await self.listeners.start(
            self.loop, self.config.bgp, self.config.peers, lambda: Connection(self, self.loop)
        )
        if Monitoring.wanted(self.config):
            self.monitoring = Monitoring(self._speaker, self.config, self.loop, self.wall_offset)
            self.monitoring.start()
        self._speaker.start(self.loop.time(), up_before, self.recovery_bound)
        self.settle()
        self.lag.start()

    async def stop(self, message: str = "pyrr shutting down") -> None:
        """RFC 4486 §4 / RFC 9003: Cease/Administrative Shutdown with a message to every peer.

        The peers flush our routes, so the next start is a cold one: no restart state is kept.
        """
        self._cancel_state_timer()
        if self.state_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.state_path.unlink()
        self.listeners.close()
        self._speaker.stop(self.loop.time(), message)
        self._speaker.take_effects()
        self._end()
        await asyncio.sleep(SHUTDOWN_GRACE)  # let the NOTIFICATIONs reach the sockets
        await self.listeners.wait_closed()
        if self.monitoring is not None:
            await self.monitoring.stop(message)  # after the Peer Downs the Cease caused

    async def stop_for_restart(self) -> None:
        """Stop so that peers keep our routes (RFC 4724 §4.2 on their side): no NOTIFICATION,
        just close every connection, and remember who was up for the next start."""
        self._cancel_state_timer()
        up = self._speaker.established_peers()
        if self.state_path is not None:
            save_state(self.state_path, up)
        self.listeners.close()
        self._speaker.halt_for_restart()
        self._end()
        if self.monitoring is not None:
            await self.monitoring.stop("pyrr restarting (graceful restart)")
        log.info("stopped for a graceful restart", established=len(up))

    def request_dump(self, why: str) -> bool:
        """Start an MRT table dump (its result and any failure are logged); False when no
        [mrt] directory is configured."""
        m = self.monitoring
        if m is None or m.dumps is None:
            log.warning("MRT table dump asked for, but no [mrt] directory is configured", by=why)
            return False
        log.info("MRT table dump asked for", by=why)
        task: asyncio.Task[object] = self.loop.create_task(m.dump())
        self._dump_tasks.add(task)
        task.add_done_callback(self._dump_done)
        return True

    def _dump_done(self, task: asyncio.Task[object]) -> None:
        self._dump_tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: TableDumps._write logged it

    def reconfigure(self, new: Config) -> None:
        self.listeners.secure_all(new.peers)  # before any peer (re)starts: new keys in place
        self._speaker.reconfigure(new, self.loop.time())
        self.settle()

    def _end(self) -> None:
        self.lag.stop()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None
        for task in self._dials.values():
            task.cancel()

    # -- the speaker's decisions -------------------------------------------------------------

    def settle(self) -> None:
        sp = self._speaker
        if sp.effects:
            for effect in sp.take_effects():
                if isinstance(effect, Dial):
                    self._dial(effect)
                elif isinstance(effect, CancelDial):
                    task = self._dials.get(effect.attempt)
                    if task is not None:
                        task.cancel()
                else:
                    self._sessions_changed()
        at = sp.timers.next_at()
        if at is not None and (self._timer_at is None or at < self._timer_at):
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = at
            self._timer = self.loop.call_at(at, self._on_timer)

    def _dial(self, effect: Dial) -> None:
        task = self.loop.create_task(dial(self, self.loop, effect))
        self._dials[effect.attempt] = task
        task.add_done_callback(lambda _t: self._dials.pop(effect.attempt, None))

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        self._speaker.handle_timer(self.loop.time())
        self.settle()

    def adopt(self, conn: Connection) -> tuple[Neighbor, Link] | None:
        now = self.loop.time()
        n = self._speaker.neighbor_for(conn.remote[0] if conn.remote else "", now)
        if n is None:
            conn.reject()
            return None
        if not self.listeners.secure(conn, n.config):
            return None
        return n, self._speaker.accept(n, conn, now)

    # -- what waits inside pyrr ---------------------------------------------------------------

    def queues(self) -> dict[str, int]:
        """The sizes of pyrr's queues, read when asked (nothing is counted on the hot path):
        prefix changes not yet encoded, bytes the kernel has not taken (all peers, and the
        largest one), members out of the shared stream (slow readers), deadline-queue entries,
        dials in progress, and asyncio tasks."""
        sp = self._speaker
        groups = sp.export.groups.values()
        buffered = [link.sink.write_buffer_size for p in sp.peers.values() for link in p.links]
        return {
            "updates_queued": sum(len(q) for g in groups for q in g.pending.values()),
            "write_buffer_bytes": sum(buffered),
            "write_buffer_max": max(buffered, default=0),
            "slow_peers": sum(len(g.paused) for g in groups),
            "timers": len(sp.timers),
            "dials": len(self._dials),
            "tasks": len(asyncio.all_tasks(self.loop)),
        }

    # -- restart state -----------------------------------------------------------------------

    def _sessions_changed(self) -> None:
        """Remember the Established peers (debounced) for the next start's recovery."""
        if self.state_path is None or self._state_timer is not None:
            return
        self._state_timer = self.loop.call_later(SAVE_STATE_DELAY, self._save_state)

    def _save_state(self) -> None:
        self._state_timer = None
        if self.state_path is not None:
            save_state(self.state_path, self._speaker.established_peers())

    def _cancel_state_timer(self) -> None:
        if self._state_timer is not None:
            self._state_timer.cancel()
            self._state_timer = None
