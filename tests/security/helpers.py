"""Shared pieces of the security tests: a SimPeer that can sign (RFC 2385) and set its TTL, and
pyrr in-process on loopback with a short open wait."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from ipaddress import ip_address

from pyrr.bgp.fsm import Session
from pyrr.config import PeerConfig
from pyrr.transport.host import Host
from pyrr.transport.session_stream import SessionStream
from pyrr.transport.sockopts import set_md5, set_ttl

from ..peer_sim import SimPeer, free_port
from ..test_speaker import ASN, make_config

RR = "127.0.0.1"


@dataclass
class SecPeer(SimPeer):
    """A SimPeer whose socket carries a TCP MD5 key for the RR's address and/or a fixed TTL."""

    password: str | None = None
    ttl: int | None = None

    async def connect(self, session: Session | None = None, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.bind((self.address, 0))
            if self.password is not None:
                set_md5(sock, ip_address(self.rr[0]), self.password)
            if self.ttl is not None:
                set_ttl(sock, self.ttl)
            await asyncio.wait_for(loop.sock_connect(sock, self.rr), timeout)
        except BaseException:
            sock.close()
            raise
        conn = SessionStream(session or self.session(), self, True, loop)
        self.conn = conn
        self.lost = False
        await loop.connect_accepted_socket(lambda: conn, sock)


def client(addr: str, **kw: object) -> PeerConfig:
    return PeerConfig(address=ip_address(addr), asn=ASN, passive=True, **kw)  # type: ignore[arg-type]


@asynccontextmanager
async def running(
    peers: list[PeerConfig], open_wait: float | None = None
) -> AsyncIterator[tuple[Host, int]]:
    port = free_port()
    sp = Host(make_config(port, peers), asyncio.get_running_loop())
    if open_wait is not None:
        sp.speaker.local.open_wait = open_wait
    await sp.start()
    try:
        yield sp, port
    finally:
        await sp.stop()


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


__all__ = ["ASN", "RR", "SecPeer", "client", "fd_count", "free_port", "running"]
