"""The asyncio side of one BGP connection, shared by pyrr's own connections (Connection) and
the lone sessions of test peers and the demo (SessionStream): write buffer limits, whole-message
writes, and closing so that a NOTIFICATION reaches the peer.

A `Stream` is the `Sink` of pyrr.session.link: `writelines`, `close`, `abort`,
`write_buffer_size`, `local_address`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast

# How long a closing connection waits for the peer to read our NOTIFICATION and close.
LINGER = 2.0
# Write buffer watermarks: above HIGH the peer leaves its update group's shared stream (it is
# resynchronised when the buffer drains below LOW), so a slow reader never holds up the others
# and its backlog stays bounded.
HIGH_WATER = 4 * 1024 * 1024
LOW_WATER = 256 * 1024


class Stream(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.remote: tuple[str, int] | None = None
        self.closed = False  # the connection is gone (or was refused)
        self.lingering = False  # we sent FIN after a NOTIFICATION; reading and dropping
        self.bytes_out = 0
        self._local: tuple[str, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)
        peer = transport.get_extra_info("peername")
        self.remote = (peer[0], peer[1]) if peer else None

    def eof_received(self) -> bool | None:
        return None  # close our side too

    # -- Sink --------------------------------------------------------------------------------

    def writelines(self, chunks: Sequence[bytes | memoryview]) -> None:
        t = self.transport
        if t is not None and not self.lingering and not t.is_closing():
            t.writelines(chunks)
            self.bytes_out += sum(map(len, chunks))

    @property
    def local(self) -> tuple[str, int] | None:
        """Our address and port on this connection, looked up when first asked (one system
        call that most connections never need: only eBGP next-hop-self uses it)."""
        if self._local is None and self.transport is not None:
            sock = self.transport.get_extra_info("sockname")
            self._local = (sock[0], sock[1]) if sock else None
        return self._local

    def local_address(self) -> str | None:
        local = self.local
        return local[0] if local else None

    @property
    def write_buffer_size(self) -> int:
        t = self.transport
        return t.get_write_buffer_size() if t is not None else 0

    def close(self) -> None:
        """Close after a NOTIFICATION: half-close (FIN after what is buffered), keep reading and
        discarding until the peer closes too or LINGER runs out.

        Closing outright while the peer's bytes are still arriving makes the kernel answer with
        a RST, and a RST can destroy the NOTIFICATION before the peer has read it.
        """
        t = self.transport
        if t is None or t.is_closing() or self.lingering:
            return
        self.lingering = True
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
        t = self.transport
        if t is not None:
            t.abort()
