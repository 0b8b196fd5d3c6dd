"""One TCP connection driving one sans-IO `Session` (after aioquic's asyncio/protocol.py).

The glue only moves bytes and re-arms a single `loop.call_at` timer; what the events mean is the
owner's business (`ConnectionOwner`, the speaker's Peer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol, cast

from ..bgp.events import Event
from ..bgp.fsm import Session

# How long a closing connection waits for the peer to read our NOTIFICATION and close.
LINGER = 2.0
# Write buffer watermarks: above HIGH the peer leaves its update group's shared stream (it is
# resynchronised when the buffer drains below LOW), so a slow reader never holds up the others
# and its backlog stays bounded.
HIGH_WATER = 4 * 1024 * 1024
LOW_WATER = 256 * 1024


class ConnectionOwner(Protocol):
    def on_events(self, conn: Connection, events: list[Event]) -> None: ...

    def on_connection_lost(self, conn: Connection) -> None: ...

    def on_pause_writing(self, conn: Connection) -> None: ...

    def on_resume_writing(self, conn: Connection) -> None: ...


class Acceptor(Protocol):
    def accept(self, conn: Connection) -> tuple[Session, ConnectionOwner] | None:
        """Adopt an inbound connection (session + owner), or None to refuse it."""


class Connection(asyncio.Protocol):
    """asyncio.Protocol <-> Session."""

    def __init__(
        self,
        session: Session | None,
        owner: ConnectionOwner | Acceptor,
        outgoing: bool,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        # An inbound connection has no session until the acceptor knows which peer it is.
        self.session: Session = session  # type: ignore[assignment]
        self.owner: ConnectionOwner = owner  # type: ignore[assignment]
        self._acceptor: Acceptor | None = owner if session is None else None  # type: ignore[assignment]
        self.outgoing = outgoing
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.closed = False
        self._lingering = False
        self.bytes_out = 0
        self.remote: tuple[str, int] | None = None
        self._local: tuple[str, int] | None = None

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)
        peer = transport.get_extra_info("peername")
        self.remote = (peer[0], peer[1]) if peer else None
        if self._acceptor is not None:
            adopted = self._acceptor.accept(self)
            self._acceptor = None
            if adopted is None:
                self.closed = True
                return
            self.session, self.owner = adopted
        self.session.connection_made(self.loop.time())
        self.pump()

    @property
    def local(self) -> tuple[str, int] | None:
        """Our address on this connection, looked up when first asked (one system call that
        most connections never need: only eBGP next-hop-self uses it)."""
        if self._local is None and self.transport is not None:
            sock = self.transport.get_extra_info("sockname")
            self._local = (sock[0], sock[1]) if sock else None
        return self._local

    def data_received(self, data: bytes) -> None:
        if self.closed or self._lingering:
            return  # refused or closing: read and drop, so the kernel sends FIN, not RST
        self.session.receive_data(data, self.loop.time())
        self.pump()

    def pause_writing(self) -> None:
        if self.session is not None:
            self.owner.on_pause_writing(self)

    def resume_writing(self) -> None:
        if self.session is not None and not self.closed:
            self.owner.on_resume_writing(self)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.session is None:  # refused at accept
            return
        self.closed = True
        self._cancel_timer()
        if not self.session.closing:
            self.session.connection_lost(self.loop.time(), str(exc) if exc else "connection closed")
            self._deliver()
        self.owner.on_connection_lost(self)

    # -- driving the session -----------------------------------------------------------------

    def pump(self) -> None:
        """Hand over the session's events, flush its output, close if it is done, re-arm.

        Events go first: what their handlers write (End-of-RIB and the table when a session
        comes up) leaves in one write with the session's own pending output in front of it
        (the KEEPALIVE that confirmed the OPEN), instead of one system call each.
        """
        self._deliver()
        self._flush()
        if self.session.closing:
            # The owner may have ended the session while handling those events (a collision,
            # a prefix limit): its NOTIFICATION goes out before our FIN, and the owner hears
            # of the session's end now (connection_lost() will not tell it again).
            self._flush()
            self._deliver()
            self.close()
            return
        self._rearm()

    def _flush(self) -> None:
        data = self.session.data_to_send()
        t = self.transport
        if data and t is not None and not self._lingering and not t.is_closing():
            t.write(data)

    def _deliver(self) -> None:
        events = self.session.events()
        if events:
            self.owner.on_events(self, events)

    def write_messages(self, messages: Sequence[bytes | memoryview]) -> None:
        """Write chunks of whole UPDATE messages (shared blobs or slices of them) as one writev."""
        t = self.transport
        if t is not None and not self.session.closing:
            # The session's own messages queued before these (a KEEPALIVE) go first.
            pending = self.session.data_to_send()
            if pending:
                t.writelines([pending, *messages])
            else:
                t.writelines(messages)
            self.bytes_out += sum(len(m) for m in messages)

    def close(self) -> None:
        """Close after a NOTIFICATION: half-close (FIN after what is buffered), keep reading and
        discarding until the peer closes too or LINGER runs out.

        Closing outright while the peer's bytes are still arriving makes the kernel answer with
        a RST, and a RST can destroy the NOTIFICATION before the peer has read it.
        """
        self._cancel_timer()
        t = self.transport
        if t is None or t.is_closing() or self._lingering:
            return
        self._lingering = True
        try:
            if t.can_write_eof():
                t.write_eof()
                self.loop.call_later(LINGER, self._end_linger)
                return
        except (OSError, RuntimeError):
            pass
        t.close()

    def _end_linger(self) -> None:
        t = self.transport
        if t is None:
            return
        if t.get_write_buffer_size():
            # The peer has not read our NOTIFICATION in LINGER seconds and may never read:
            # close() would wait for the buffer to drain forever, keeping the socket and its
            # buffer. Reset the connection instead.
            t.abort()
        elif not t.is_closing():
            t.close()

    def abort(self) -> None:
        self._cancel_timer()
        t = self.transport
        if t is not None:
            t.abort()

    @property
    def write_buffer_size(self) -> int:
        t = self.transport
        return t.get_write_buffer_size() if t is not None else 0

    # -- timer -------------------------------------------------------------------------------

    def _rearm(self) -> None:
        at = self.session.next_timer()
        if at is None:
            self._cancel_timer()
            return
        if self._timer_at is not None and self._timer_at <= at:
            # Armed no later than needed: a deadline that moved later (the hold timer restarted
            # by a message) is picked up when this timer fires, instead of a cancel and a new
            # timer per message.
            return
        self._cancel_timer()
        self._timer_at = at
        self._timer = self.loop.call_at(at, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.session.handle_timer(self.loop.time())
        self.pump()
