"""BMP stations over asyncio: pyrr connects to each configured monitoring station (RFC 7854
§3.2: the monitored router is the TCP client), makes the connection again with backoff when it
fails or ends, and sends the statistics on time. What is sent comes from the sans-IO hub
(pyrr.monitor.hub): on a new connection the Initiation and the tables, then the live stream.

A station never slows BGP down: the hub's writes only append to the transport's buffer, and a
station whose backlog grows past `queue_limit` (beyond what its resynchronisation put there)
has its connection dropped; the next connection, after the backoff, starts with the whole
table again (RFC 7854 §5), so nothing it missed is lost to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import structlog

from ..config import BmpStation
from ..monitor.bmp import TermReason

if TYPE_CHECKING:
    from ..monitor.hub import Hub

log = structlog.get_logger("pyrr.bmp")

CONNECT_TIMEOUT = 10.0
RETRY_MIN = 1.0
RETRY_MAX = 60.0
# A connection that lasted this long starts the backoff again at RETRY_MIN; a shorter one (a
# station that closes at once, or keeps falling behind) doubles it like a failed attempt, so
# the whole table is not encoded again every RETRY_MIN.
STABLE_AFTER = RETRY_MAX
# What a stopping pyrr gives its stations to take the Termination message.
CLOSE_GRACE = 1.0


class StationConnection(asyncio.Protocol):
    """One connection to a station: the hub's `Station`."""

    def __init__(self, client: StationClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Bytes the resynchronisation queued: they may exceed the limit until drained.
        self.allowance = 0

    @property
    def config(self) -> BmpStation:
        return self.client.config

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        t = self.transport = cast(asyncio.Transport, transport)
        limit = self.config.queue_limit
        t.set_write_buffer_limits(high=limit, low=limit // 4)

    def data_received(self, data: bytes) -> None:
        """RFC 7854 §3.3: a station sends nothing; what one sends anyway is discarded."""

    def resume_writing(self) -> None:
        self.allowance = 0  # the resynchronisation has (mostly) drained

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, data: bytes) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        t.write(data)
        if t.get_write_buffer_size() > self.config.queue_limit + self.allowance:
            self.client.overflow(self)

    def buffered(self) -> int:
        t = self.transport
        return t.get_write_buffer_size() if t is not None else 0


class StationClient:
    """One configured station: connects, reconnects with backoff, reports statistics."""

    def __init__(
        self,
        config: BmpStation,
        hub: Hub,
        loop: asyncio.AbstractEventLoop,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.hub = hub
        self.loop = loop
        self.on_change = on_change  # a station came or went (the hub's audience changed)
        self.connection: StationConnection | None = None
        self.connects = 0  # connections made
        self.drops = 0  # connections dropped because the station fell behind
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._stats: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._task = self.loop.create_task(self._run())

    async def stop(self, note: str) -> None:
        """RFC 7854 §4.5: Termination, then close (bounded by CLOSE_GRACE)."""
        self._stopping = True
        conn = self.connection
        if conn is not None and conn.transport is not None:
            self.hub.terminate(conn, TermReason.ADMINISTRATIVELY_CLOSED, note)
            self._changed()
            conn.transport.close()
            try:
                await asyncio.wait_for(asyncio.shield(conn.closed), CLOSE_GRACE)
            except TimeoutError:
                if conn.transport is not None:
                    conn.transport.abort()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def overflow(self, conn: StationConnection) -> None:
        """The station fell more than `queue_limit` behind: drop it (a new connection
        resynchronises it; RFC 7854 §5 sends the whole table on every connection)."""
        self.drops += 1
        log.warning(
            "BMP station too slow: dropping the connection to resynchronise",
            station=self.config.key,
            queued=conn.buffered(),
            limit=self.config.queue_limit,
        )
        self.hub.station_down(conn)
        self._changed()
        if conn.transport is not None:
            conn.transport.abort()

    async def _run(self) -> None:
        delay = RETRY_MIN
        cfg = self.config
        while not self._stopping:
            try:
                _t, conn = await asyncio.wait_for(
                    self.loop.create_connection(
                        lambda: StationConnection(self), str(cfg.address), cfg.port
                    ),
                    CONNECT_TIMEOUT,
                )
            except (OSError, TimeoutError) as err:
                log.info("BMP station unreachable", station=cfg.key, error=str(err), retry_in=delay)
            else:
                began = self.loop.time()
                try:
                    await self._serve(conn)
                except Exception:
                    # A bug in what is sent must not end the client for good, unlogged.
                    log.exception("BMP station connection failed", station=cfg.key)
                if self._stopping:
                    return
                if self.loop.time() - began >= STABLE_AFTER:
                    delay = RETRY_MIN
            await asyncio.sleep(delay * random.uniform(0.75, 1.0))
            delay = min(delay * 2, RETRY_MAX)

    async def _serve(self, conn: StationConnection) -> None:
        cfg = self.config
        self.connection = conn
        self.connects += 1
        try:
            self.hub.station_up(conn)
            conn.allowance = conn.buffered()
            self._changed()
            log.info("BMP station connected", station=cfg.key, synchronised_bytes=conn.allowance)
            self._arm_stats()
            await conn.closed
        finally:
            if self._stats is not None:
                self._stats.cancel()
                self._stats = None
            self.connection = None
            self.hub.station_down(conn)
            self._changed()
            if conn.transport is not None:  # left early (an exception, a cancellation)
                conn.transport.abort()
        if not self._stopping:
            log.warning("BMP station connection ended", station=cfg.key)

    def _arm_stats(self) -> None:
        interval = self.config.stats_interval
        if interval > 0:
            self._stats = self.loop.call_later(interval, self._send_stats)

    def _send_stats(self) -> None:
        conn = self.connection
        self._stats = None
        if conn is not None and conn.transport is not None:
            self.hub.statistics(conn)
            self._arm_stats()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
