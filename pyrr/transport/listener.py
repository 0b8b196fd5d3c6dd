"""The listening sockets, with the RFC 2385 keys and RFC 5082 TTLs of the configured peers set on
them before `listen()`, and on each accepted connection before any of its bytes is read."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence

import structlog

from ..config import GlobalConfig, IPAddress, PeerConfig
from .sockopts import (
    GTSM_TTL,
    clear_md5,
    min_ttl_for,
    save_syn,
    set_gtsm,
    set_md5,
    set_min_ttl,
    set_ttl,
    syn_ttl,
)
from .stream import Stream

log = structlog.get_logger("pyrr.speaker")

# A deep backlog: a thousand nodes connecting at once must not lose SYNs (BIRD's backlog of 8
# costs it ~20 s at N=1000).
BACKLOG = 4096
IPV6_VERSION = 6


class Listeners:
    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.servers: list[asyncio.AbstractServer] = []
        self._keys: dict[int, dict[IPAddress, str]] = {}  # RFC 2385 keys set, by socket fd
        self._ttl_255: set[int] = set()  # IP versions whose listeners send TTL 255

    async def start(
        self,
        loop: asyncio.AbstractEventLoop,
        g: GlobalConfig,
        peers: Sequence[PeerConfig],
        factory: Callable[[], asyncio.Protocol],
    ) -> None:
        hosts: list[str] = [str(a) for a in g.listen] or ["0.0.0.0", "::"]
        for host in hosts:
            sock = _bound(host, g.port)
            try:
                # Keys and TTLs before listen(): no SYN is ever accepted without them.
                self._secure(sock, peers)
            except OSError as err:
                sock.close()
                raise OSError(
                    err.errno, f"TCP MD5 keys / TTL security on {host}: {err.strerror}"
                ) from err
            sock.setblocking(False)
            try:
                server = await loop.create_server(factory, sock=sock, backlog=BACKLOG)
            except BaseException:
                sock.close()  # bound but never served: not left to the garbage collector
                raise
            self.sockets.append(sock)
            self.servers.append(server)

    def close(self) -> None:
        for srv in self.servers:
            srv.close()

    async def wait_closed(self) -> None:
        for srv in self.servers:
            await srv.wait_closed()

    def secure_all(self, peers: Sequence[PeerConfig]) -> None:
        """The peers changed: keys and TTLs on every listener follow (before any peer starts)."""
        for sock in self.sockets:
            try:
                self._secure(sock, peers)
            except OSError as err:
                log.error(
                    "cannot set TCP MD5 keys / TTL security on a listening socket",
                    listen=str(sock.getsockname()[0]),
                    error=str(err),
                )

    def _secure(self, sock: socket.socket, all_peers: Sequence[PeerConfig]) -> None:
        """RFC 2385 keys and RFC 5082 TTLs on one listening socket, from the configured peers of
        its family.

        - TCP MD5: one key per peer with a password (an accepted connection inherits its
          peer's key); the keys of peers that are gone or lost their password are removed.
        - GTSM: when any peer of this family uses it, the listener sends with TTL 255 (its
          SYN-ACKs must pass that peer's own minimum TTL check, which a GTSM speaker sets
          before connecting). A listener cannot check the minimum TTL per source address, so
          it checks one only when *every* peer of its family uses GTSM (the loosest of their
          minimums); each accepted connection then gets its own peer's minimum in `secure`,
          after its SYN's TTL was checked (the listener saves SYNs when its peers are mixed).
        """
        version = IPV6_VERSION if sock.family == socket.AF_INET6 else 4
        peers = [p for p in all_peers if p.address.version == version]
        keys = {p.address: p.password for p in peers if p.password}
        had = self._keys.get(sock.fileno(), {})
        for addr in had.keys() - keys.keys():
            clear_md5(sock, addr)
        for addr, password in keys.items():
            if had.get(addr) != password:
                set_md5(sock, addr, password)
        self._keys[sock.fileno()] = keys
        hops = [p.ttl_security for p in peers]
        set_ttl(sock, GTSM_TTL if any(hops) else None)
        save_syn(sock, any(hops) and not all(hops))  # see `secure`
        if any(hops):
            self._ttl_255.add(version)
        else:
            self._ttl_255.discard(version)
        set_min_ttl(sock, min_ttl_for(max(hops)) if hops and all(hops) else 0)

    def secure(self, conn: Stream, pc: PeerConfig) -> bool:
        """RFC 5082 on an accepted connection, before any of its bytes is read: TTL 255 out,
        the peer's minimum TTL in. (Its TCP MD5 key came with it from the listener.) False when
        that failed and the connection was closed."""
        if not pc.ttl_security and pc.address.version not in self._ttl_255:
            return True  # nothing to set (and uvloop builds a socket object per lookup)
        t = conn.transport
        sock = t.get_extra_info("socket") if t is not None else None
        if sock is None:
            return True
        try:
            if pc.ttl_security:
                ttl = syn_ttl(sock)
                if ttl is not None and ttl < min_ttl_for(pc.ttl_security):
                    log.warning(
                        "TTL security: the connection's SYN arrived with a lower TTL;"
                        " connection dropped (RFC 5082)",
                        peer=pc.key,
                        ttl=ttl,
                        minimum=min_ttl_for(pc.ttl_security),
                    )
                    conn.abort()
                    return False
                set_gtsm(sock, pc.ttl_security)
            else:
                # The listener sends TTL 255 for the GTSM peers (see _secure); this peer's
                # connection is an ordinary one.
                set_ttl(sock, None)
                set_min_ttl(sock, 0)
        except OSError as err:
            log.warning("cannot set TTL security: connection closed", peer=pc.key, error=str(err))
            conn.abort()
            return False
        return True


def _bound(host: str, port: int) -> socket.socket:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
