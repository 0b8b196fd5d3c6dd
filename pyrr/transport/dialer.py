"""Carrying out a neighbour's `Dial`: a socket with the peer's TCP MD5 key and TTL security set
before connect(), bound to our source address, connected within the dial's timeout (RFC 4271
§8: Connect and Active, driven by the session's ConnectRetryTimer)."""

from __future__ import annotations

import asyncio
import socket

from ..config import PeerConfig
from ..session.effects import Dial
from .protocol import Connection, ConnectionHost
from .sockopts import set_gtsm, set_md5

IPV4_VERSION = 4


def client_socket(peer: PeerConfig, local: str | None) -> socket.socket:
    fam = socket.AF_INET if peer.address.version == IPV4_VERSION else socket.AF_INET6
    sock = socket.socket(fam, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Before connect(): the SYN is signed (RFC 2385) and the SYN-ACK TTL-checked (RFC 5082).
        if peer.password:
            set_md5(sock, peer.address, peer.password)
        if peer.ttl_security:
            set_gtsm(sock, peer.ttl_security)
        if local:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((local, 0))
    except OSError:
        sock.close()
        raise
    return sock


async def dial(host: ConnectionHost, loop: asyncio.AbstractEventLoop, effect: Dial) -> None:
    """Connect, then hand the socket to a `Connection` (whose `connection_made` tells the
    speaker); a failure is reported to the speaker with what went wrong."""
    pc = effect.neighbor.config
    try:
        sock = client_socket(pc, effect.local)
    except OSError as exc:
        _failed(host, loop, effect, f"socket: {exc}")
        return
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (str(pc.address), pc.port)), effect.timeout)
    except (TimeoutError, OSError) as exc:
        sock.close()
        _failed(host, loop, effect, f"connect: {exc or 'timeout'}")
        return
    except asyncio.CancelledError:
        # CancelDial (or shutdown): the neighbour must know this attempt is over.
        sock.close()
        _failed(host, loop, effect, "connect: cancelled")
        raise
    conn = Connection(host, loop, effect)
    try:
        await loop.connect_accepted_socket(lambda: conn, sock)
    except asyncio.CancelledError:
        if conn.transport is None:  # connection_made never ran: nobody owns the socket
            sock.close()
            _failed(host, loop, effect, "connect: cancelled")
        raise


def _failed(
    host: ConnectionHost, loop: asyncio.AbstractEventLoop, effect: Dial, error: str
) -> None:
    host.speaker.dial_failed(effect, loop.time(), error)
    host.settle()
