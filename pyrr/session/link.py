"""One TCP connection of a neighbour, as the sans-IO side sees it: its `Session`, which way it
was opened, and the `Sink` (the transport) that its bytes go to.

Every message pyrr writes goes through `Link.transmit` or `Link.send_updates`, so the session's
counters see every message, the fanned-out UPDATEs included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..bgp.fsm import Session


class Sink(Protocol):
    """Where a link's bytes go: a transport (pyrr.transport), or a list in tests."""

    def writelines(self, chunks: Sequence[bytes | memoryview]) -> None:
        """Write whole messages, in order, as one system call where possible."""

    def close(self) -> None:
        """Close after what is written (the peer must be able to read a NOTIFICATION)."""

    def abort(self) -> None:
        """Drop the connection now, unsent bytes included."""

    @property
    def write_buffer_size(self) -> int: ...

    def local_address(self) -> str | None:
        """Our address on this connection."""


class Link:
    __slots__ = ("closed", "opened_at", "outgoing", "session", "sink")

    def __init__(self, session: Session, sink: Sink, outgoing: bool, opened_at: float) -> None:
        self.session = session
        self.sink = sink
        self.outgoing = outgoing
        self.opened_at = opened_at  # the `now` its TCP connection came up
        self.closed = False  # close or abort was asked of the sink: nothing more is written

    def __repr__(self) -> str:
        way = "out" if self.outgoing else "in"
        return f"Link({way}, {self.session.state.name})"

    def transmit(self) -> None:
        """Write what the session has queued (OPEN, KEEPALIVE, NOTIFICATION, ROUTE-REFRESH)."""
        data = self.session.data_to_send()
        if data and not self.closed:
            self.sink.writelines((data,))

    def send_updates(self, chunks: Sequence[bytes | memoryview], count: int) -> None:
        """Write `count` UPDATEs (shared blobs or slices of them) behind whatever the session
        has queued (the KEEPALIVE that confirmed the OPEN goes before the table)."""
        s = self.session
        if self.closed or s.closing:
            return
        s.note_updates_sent(count)
        pending = s.data_to_send()
        self.sink.writelines([pending, *chunks] if pending else chunks)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sink.close()

    def abort(self) -> None:
        self.closed = True
        self.sink.abort()
