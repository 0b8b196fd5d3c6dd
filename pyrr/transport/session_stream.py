"""One TCP connection driving one lone sans-IO `Session` (after aioquic's asyncio/protocol.py):
the demo's simulated Calico nodes and the tests' scriptable peers use it. pyrr's own
connections belong to neighbours instead (pyrr.transport.protocol).

The glue only moves bytes and re-arms a single `loop.call_at` timer; what the events mean is
the owner's business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from ..bgp.events import Event
from ..bgp.fsm import Session
from .stream import Stream


class SessionOwner(Protocol):
    def on_events(self, conn: SessionStream, events: list[Event]) -> None: ...

    def on_connection_lost(self, conn: SessionStream) -> None: ...


class SessionStream(Stream):
    def __init__(
        self,
        session: Session,
        owner: SessionOwner,
        outgoing: bool,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(loop)
        self.session = session
        self.owner = owner
        self.outgoing = outgoing
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.session.connection_made(self.loop.time())
        self.pump()

    def data_received(self, data: bytes) -> None:
        if self.closed or self.lingering:
            return
        self.session.receive_data(data, self.loop.time())
        self.pump()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.closed = True
        self._cancel_timer()
        if not self.session.closing:
            self.session.connection_lost(self.loop.time(), str(exc) if exc else "connection closed")
            self._deliver()
        self.owner.on_connection_lost(self)

    def pump(self) -> None:
        """Hand over the session's events, write its output, close if it is done, re-arm."""
        self._deliver()
        self._flush()
        if self.session.closing:
            self._flush()
            self._deliver()
            self._cancel_timer()
            self.close()
            return
        self._cancel_timer()
        at = self.session.next_timer()
        if at is not None:
            self._timer = self.loop.call_at(at, self._on_timer)

    def write_messages(self, messages: Sequence[bytes | memoryview]) -> None:
        """Write encoded messages (UPDATEs) behind what the session has queued."""
        if not self.session.closing:
            self.session.note_updates_sent(len(messages))
            pending = self.session.data_to_send()
            self.writelines([pending, *messages] if pending else messages)

    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data:
            self.writelines((data,))

    def _deliver(self) -> None:
        events = self.session.events()
        if events:
            self.owner.on_events(self, events)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        self.session.handle_timer(self.loop.time())
        self.pump()
