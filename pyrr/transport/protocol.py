"""One TCP connection of a pyrr neighbour: bytes in go to the sans-IO speaker (which hands them
to the neighbour's session), bytes out come back through this object as the link's `Sink`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..bgp.constants import CeaseSub, ErrCode
from ..bgp.messages import Notification
from ..session.effects import Dial
from ..session.link import Link
from .stream import Stream

if TYPE_CHECKING:
    import asyncio

    from ..session.neighbor import Neighbor
    from ..speaker import Speaker

# RFC 4486 §4: what a host that is not a configured peer is sent.
REJECTED = Notification(ErrCode.CEASE, CeaseSub.CONNECTION_REJECTED).encode()


class ConnectionHost(Protocol):
    """What a connection needs of the asyncio host (pyrr.transport.host.Host)."""

    @property
    def speaker(self) -> Speaker: ...

    def settle(self) -> None:
        """Carry out what the speaker decided (effects, its next deadline)."""

    def adopt(self, conn: Connection) -> tuple[Neighbor, Link] | None:
        """The neighbour and link of an inbound connection, or None (refused and closed)."""


class Connection(Stream):
    """asyncio.Protocol <-> the speaker. Inbound when `dial` is None."""

    def __init__(
        self, host: ConnectionHost, loop: asyncio.AbstractEventLoop, dial: Dial | None = None
    ) -> None:
        super().__init__(loop)
        self.host = host
        self.speaker = host.speaker  # looked up once: every message goes to it
        self.dial = dial
        self.outgoing = dial is not None
        self.neighbor: Neighbor | None = None
        self.link: Link | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        host = self.host
        if self.dial is None:
            adopted = host.adopt(self)
        else:
            adopted = self.speaker.connected(self.dial, self, self.loop.time())
            if adopted is None:
                self.closed = True
                self.abort()  # no longer wanted (an inbound session won, or the peer went)
        if adopted is not None:
            self.neighbor, self.link = adopted
        host.settle()

    def reject(self) -> None:
        """RFC 4486 §4: Cease / Connection Rejected for a host that is not a configured peer."""
        self.closed = True
        t = self.transport
        if t is not None:
            t.write(REJECTED)
            self.close()

    def data_received(self, data: bytes) -> None:
        link = self.link
        if link is None or self.lingering or link.closed:
            return  # refused or closing: read and drop, so the kernel sends FIN, not RST
        n = self.neighbor
        assert n is not None
        n.receive(link, data, self.loop.time())  # the per-message path: straight to it
        self.host.settle()

    def pause_writing(self) -> None:
        if self.link is not None and self.neighbor is not None:
            self.speaker.write_paused(self.neighbor, self.link, self.loop.time())
            self.host.settle()

    def resume_writing(self) -> None:
        if self.link is not None and self.neighbor is not None and not self.closed:
            self.speaker.write_resumed(self.neighbor, self.link, self.loop.time())
            self.host.settle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.closed = True
        if self.link is None or self.neighbor is None:
            return  # refused at accept
        reason = str(exc) if exc else "connection closed"
        self.speaker.connection_lost(self.neighbor, self.link, self.loop.time(), reason)
        self.host.settle()
