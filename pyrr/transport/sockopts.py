"""Per-peer TCP socket options: RFC 2385 TCP MD5 signatures and RFC 5082 GTSM (Linux).

TCP MD5 (`TCP_MD5SIG`): the kernel signs every segment to a peer address with the key set for
that address, and silently drops segments from that address that carry no signature or a wrong
one. A key is set on the connecting socket before connect(), and on each listening socket for
every peer of the socket's family; an accepted socket inherits the listener's key for its peer.
A key is removed by setting it again with key length 0.

GTSM (`IP_MINTTL` / `IPV6_MINHOPCOUNT`): we send with TTL (hop limit) 255, and the kernel drops
every segment that arrives with a TTL below 256 - hops, which a host more than `hops` hops away
cannot forge.

The option numbers are Linux's (include/uapi/linux/tcp.h, in.h, in6.h); Python's socket module
does not name all of them.
"""

from __future__ import annotations

import errno
import socket
import struct
from ipaddress import IPv4Address, IPv6Address
from typing import Final, Protocol

__all__ = [
    "GTSM_TTL",
    "IPV6_MINHOPCOUNT",
    "IP_MINTTL",
    "TCP_MD5SIG",
    "TCP_MD5SIG_MAXKEYLEN",
    "SockOpt",
    "clear_md5",
    "md5sig",
    "min_ttl_for",
    "set_gtsm",
    "set_md5",
    "set_min_ttl",
    "set_ttl",
]

TCP_MD5SIG: Final = 14
TCP_MD5SIG_MAXKEYLEN: Final = 80
IP_MINTTL: Final = 21
IPV6_MINHOPCOUNT: Final = 73
GTSM_TTL: Final = 255  # RFC 5082 §3: what a GTSM speaker sends
# linux/tcp.h: keep the SYN of each connection a listener accepts, for one read (Linux 4.2+).
TCP_SAVE_SYN: Final = 27
TCP_SAVED_SYN: Final = 28
_SAVED_SYN_MAX: Final = 512  # the IP and TCP headers of one SYN, options included
_IPV4_TTL_OFFSET: Final = 8  # RFC 791 §3.1
_IPV6_HOP_LIMIT_OFFSET: Final = 7  # RFC 8200 §3
_IP_VERSION_SHIFT: Final = 4
_IPV4: Final = 4
_IPV6: Final = 6
_SOCKADDR_STORAGE: Final = 128

IPAddress = IPv4Address | IPv6Address


class SockOpt(Protocol):
    """What is needed of a socket: a `socket.socket`, asyncio's TransportSocket or uvloop's
    PseudoSocket (what `transport.get_extra_info("socket")` returns)."""

    @property
    def family(self) -> int: ...

    def setsockopt(self, level: int, optname: int, value: int | bytes, /) -> None: ...

    def getsockopt(self, level: int, optname: int, buflen: int, /) -> bytes: ...


def _sockaddr(address: IPAddress, family: int) -> bytes:
    """struct sockaddr_in / sockaddr_in6 (port 0), padded to sockaddr_storage.

    An IPv4 address on an AF_INET6 socket is written as its v4-mapped IPv6 form (::ffff:a.b.c.d),
    which is how a dual-stack socket sees an IPv4 peer.
    """
    if family == socket.AF_INET:
        if not isinstance(address, IPv4Address):
            raise ValueError(f"IPv6 address {address} for an IPv4 socket")
        raw = struct.pack("=H", socket.AF_INET) + struct.pack("!H4s", 0, address.packed)
    else:
        if isinstance(address, IPv4Address):
            address = IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed)
        # family, port, flowinfo, address, scope id
        raw = struct.pack("=H", socket.AF_INET6) + struct.pack("!HI16sI", 0, 0, address.packed, 0)
    return raw.ljust(_SOCKADDR_STORAGE, b"\0")


def md5sig(address: IPAddress, family: int, key: bytes) -> bytes:
    """struct tcp_md5sig: sockaddr_storage, u8 flags, u8 prefixlen, u16 keylen, int ifindex,
    u8 key[80]. Flags 0: the key is for this one address on any interface (the pre-4.13 layout
    had padding there, so the same bytes work on older kernels)."""
    if len(key) > TCP_MD5SIG_MAXKEYLEN:
        raise ValueError(f"TCP MD5 key of {len(key)} bytes; at most {TCP_MD5SIG_MAXKEYLEN}")
    return (
        _sockaddr(address, family)
        + struct.pack("=BBHi", 0, 0, len(key), 0)
        + key.ljust(TCP_MD5SIG_MAXKEYLEN, b"\0")
    )


def set_md5(sock: SockOpt, address: IPAddress, password: str) -> None:
    """Sign every segment to/from `address` with `password` (RFC 2385); OSError if the kernel
    refuses (no CONFIG_TCP_MD5SIG, or a key of the wrong size)."""
    key = password.encode("utf-8")
    if not key:
        raise ValueError("an empty TCP MD5 key; use clear_md5() to remove one")
    sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, md5sig(address, sock.family, key))


def clear_md5(sock: SockOpt, address: IPAddress) -> None:
    """Remove the key for `address`; no key there is not an error."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, md5sig(address, sock.family, b""))
    except OSError as err:
        if err.errno != errno.ENOENT:
            raise


def min_ttl_for(hops: int) -> int:
    """RFC 5082 §3: a peer `hops` hops away arrives with a TTL of at least 256 - hops."""
    if not 1 <= hops <= GTSM_TTL:
        raise ValueError(f"GTSM hop count {hops}; expected 1 to {GTSM_TTL}")
    return 256 - hops


def set_ttl(sock: SockOpt, ttl: int | None) -> None:
    """The TTL / hop limit of what this socket sends; None restores the system default."""
    value = -1 if ttl is None else ttl
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, value)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, value)


def set_min_ttl(sock: SockOpt, min_ttl: int) -> None:
    """Drop what arrives with a lower TTL / hop limit; 0 turns the check off.

    On an AF_INET6 socket, both: an IPv4 peer on a dual-stack socket is checked by IP_MINTTL.
    """
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MINHOPCOUNT, min_ttl)
        try:
            sock.setsockopt(socket.IPPROTO_IP, IP_MINTTL, min_ttl)
        except OSError as err:
            # A v6-only socket may refuse IPv4 options on some kernels; it never sees IPv4.
            if err.errno not in (errno.ENOPROTOOPT, errno.EINVAL):
                raise
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_MINTTL, min_ttl)


def set_gtsm(sock: SockOpt, hops: int) -> None:
    """RFC 5082 on one connection: send with TTL 255, accept only TTL >= 256 - hops."""
    set_ttl(sock, GTSM_TTL)
    set_min_ttl(sock, min_ttl_for(hops))


def save_syn(sock: SockOpt, on: bool) -> None:
    """On a listening socket: keep each accepted connection's SYN (see `syn_ttl`)."""
    sock.setsockopt(socket.IPPROTO_TCP, TCP_SAVE_SYN, 1 if on else 0)


def syn_ttl(sock: SockOpt) -> int | None:
    """The TTL (hop limit) the connection's SYN arrived with, read once from the SYN its
    listener saved; None when none was saved.

    RFC 5082 §3 on a listener shared with peers that do not use GTSM: the kernel cannot drop
    their SYNs by source, so the minimum TTL is set on each accepted connection, and what
    arrived before that (the peer's OPEN, sent at once) was never checked. The SYN's own TTL
    decides instead, before a byte of the connection is read.
    """
    try:
        head = sock.getsockopt(socket.IPPROTO_TCP, TCP_SAVED_SYN, _SAVED_SYN_MAX)
    except OSError:
        return None
    if not head:
        return None
    version = head[0] >> _IP_VERSION_SHIFT
    if version == _IPV4 and len(head) > _IPV4_TTL_OFFSET:
        return head[_IPV4_TTL_OFFSET]
    if version == _IPV6 and len(head) > _IPV6_HOP_LIMIT_OFFSET:
        return head[_IPV6_HOP_LIMIT_OFFSET]
    return None
