"""Builders for RIB / outbound tests: Sources, PathAttrs, Paths, Updates, decoded UPDATEs.

Everything takes readable values (dotted quads, "10.0.0.0/24", AS lists) and returns the wire
forms pyrr works with.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address

from pyrr.bgp.attributes import AsPath, AttrItem, PathAttrs, encode_as_path
from pyrr.bgp.constants import HEADER_LEN, AsPathSegType, AttrCode, AttrFlag, MsgType, Origin
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family, prefix_from_str, prefix_to_str
from pyrr.bgp.update import Update, UpdateContext, decode_update
from pyrr.rib.path import Path, Source

LOCAL_AS = 64512
SEQ = AsPathSegType.AS_SEQUENCE
SET = AsPathSegType.AS_SET
CONFED_SEQ = AsPathSegType.AS_CONFED_SEQUENCE
CONFED_SET = AsPathSegType.AS_CONFED_SET

_WK = AttrFlag.TRANSITIVE
_OPT = AttrFlag.OPTIONAL
_OPT_T = AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE


def ip_int(addr: str) -> int:
    """A dotted quad as the 32-bit integer pyrr uses for router ids and cluster ids."""
    return int.from_bytes(socket.inet_aton(addr), "big")


def nh(addr: str) -> bytes:
    """A next hop in wire form (4 or 16 octets)."""
    return ip_address(addr).packed


def pfx(text: str) -> bytes:
    """A prefix in wire form (length octet + significant octets)."""
    return prefix_from_str(text)[1]


def family_of(text: str) -> Family:
    return prefix_from_str(text)[0]


def source(
    address: str = "10.0.0.1",
    *,
    asn: int = LOCAL_AS,
    client: bool = True,
    router_id: str | None = None,
    local_as: int = LOCAL_AS,
) -> Source:
    """A Source like Peer builds one (iBGP when asn == local_as); router id defaults to the
    address for IPv4 peers and to 1.1.1.1 for IPv6 ones."""
    addr = ip_address(address)
    s = Source(address, addr, asn, asn == local_as, client)
    if router_id is None:
        router_id = address if addr.version == 4 else "1.1.1.1"
    s.router_id = ip_int(router_id)
    return s


def as_path_segments(as_path: Sequence[int] | AsPath) -> AsPath:
    """[65001, 65002] -> one AS_SEQUENCE; a tuple of (type, asns) pairs is taken as is."""
    if not as_path:
        return ()
    if isinstance(as_path[0], int):
        return ((SEQ, tuple(int(a) for a in as_path)),)  # type: ignore[arg-type]
    return tuple(as_path)  # type: ignore[arg-type]


def attrs(
    *,
    local_pref: int | None = 100,
    as_path: Sequence[int] | AsPath = (),
    origin: int = Origin.IGP,
    med: int | None = None,
    originator_id: str | None = None,
    cluster_list: Sequence[str] = (),
    communities: Sequence[tuple[int, int]] = (),
    extra: Iterable[AttrItem] = (),
) -> PathAttrs:
    """PathAttrs with the given decision-process attributes (flags as RFC 4271 / 4456 want)."""
    items: list[AttrItem] = [
        (AttrCode.ORIGIN, _WK, bytes((origin,))),
        (AttrCode.AS_PATH, _WK, encode_as_path(as_path_segments(as_path), 4)),
    ]
    if local_pref is not None:
        items.append((AttrCode.LOCAL_PREF, _WK, struct.pack("!I", local_pref)))
    if med is not None:
        items.append((AttrCode.MULTI_EXIT_DISC, _OPT, struct.pack("!I", med)))
    if originator_id is not None:
        items.append((AttrCode.ORIGINATOR_ID, _OPT, socket.inet_aton(originator_id)))
    if cluster_list:
        items.append(
            (AttrCode.CLUSTER_LIST, _OPT, b"".join(socket.inet_aton(c) for c in cluster_list))
        )
    if communities:
        value = b"".join(struct.pack("!HH", hi, lo) for hi, lo in communities)
        items.append((AttrCode.COMMUNITIES, _OPT_T, value))
    items.extend(extra)
    return PathAttrs(items)


def path(
    src: Source,
    a: PathAttrs | None = None,
    *,
    next_hop: str | None = None,
    path_id: int = 0,
) -> Path:
    """The interned Path of `src` for these attributes (default: plain iBGP attributes)."""
    if a is None:
        a = attrs()
    hop = nh(next_hop) if next_hop is not None else src.address.packed
    family = IPV4_UNICAST if len(hop) == 4 else IPV6_UNICAST
    return src.intern(family, a, hop, path_id)


def default_next_hop(family: Family) -> bytes:
    return nh("192.0.2.1") if family == IPV4_UNICAST else nh("2001:db8::1")


def update(
    announce: Iterable[str] = (),
    a: PathAttrs | None = None,
    *,
    withdraw: Iterable[str] = (),
    next_hop: str | None = None,
) -> Update:
    """An Update announcing text prefixes (grouped by family) with `a`, and withdrawing some.

    `next_hop` is used for the family of its address version; the other family gets the
    default next hop."""
    ann: dict[Family, list[bytes]] = {}
    for text in announce:
        fam, key = prefix_from_str(text)
        ann.setdefault(fam, []).append(key)
    wd: dict[Family, list[bytes]] = {}
    for text in withdraw:
        fam, key = prefix_from_str(text)
        wd.setdefault(fam, []).append(key)

    def hop(fam: Family) -> bytes:
        # An explicit next hop applies to the family of its own address version.
        if next_hop is not None and (":" in next_hop) == (fam == IPV6_UNICAST):
            return nh(next_hop)
        return default_next_hop(fam)

    announced = [(fam, hop(fam), keys) for fam, keys in ann.items()]
    if announced and a is None:
        a = attrs()
    return Update(
        attrs=a if announced else None,
        announced=announced,
        withdrawn=list(wd.items()),
    )


def update_keys(
    family: Family,
    announce: Iterable[bytes] = (),
    a: PathAttrs | None = None,
    *,
    withdraw: Iterable[bytes] = (),
    next_hop: bytes | None = None,
) -> Update:
    """An Update from raw NLRI keys (e.g. with an ADD-PATH path id in front)."""
    ann = list(announce)
    wd = list(withdraw)
    return Update(
        attrs=(a or attrs()) if ann else None,
        announced=[(family, next_hop or default_next_hop(family), ann)] if ann else [],
        withdrawn=[(family, wd)] if wd else [],
    )


def with_path_id(path_id: int, key: bytes) -> bytes:
    return struct.pack("!I", path_id) + key


# -- reading UPDATEs back ------------------------------------------------------------------


@dataclass
class Decoded:
    """What a list of UPDATE messages says, per family (keys as received; text on demand)."""

    add_path_rx: frozenset[Family] = frozenset()
    announced_keys: dict[Family, list[bytes]] = field(default_factory=dict)
    withdrawn_keys: dict[Family, list[bytes]] = field(default_factory=dict)
    attrs: list[PathAttrs] = field(default_factory=list)
    next_hops: set[bytes] = field(default_factory=set)
    end_of_rib: list[Family] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)

    def _text(self, keys: dict[Family, list[bytes]]) -> dict[Family, list[str]]:
        return {
            fam: [prefix_to_str(k, fam, fam in self.add_path_rx) for k in ks]
            for fam, ks in keys.items()
        }

    @property
    def announced(self) -> dict[Family, list[str]]:
        return self._text(self.announced_keys)

    @property
    def withdrawn(self) -> dict[Family, list[str]]:
        return self._text(self.withdrawn_keys)

    def ann(self, family: Family = IPV4_UNICAST) -> set[str]:
        return set(self.announced.get(family, []))

    def wd(self, family: Family = IPV4_UNICAST) -> set[str]:
        return set(self.withdrawn.get(family, []))


def decode_messages(
    messages: Iterable[bytes],
    families: Iterable[Family] = (IPV4_UNICAST, IPV6_UNICAST),
    add_path_rx: frozenset[Family] = frozenset(),
) -> Decoded:
    """Decode whole UPDATE messages (header included) with pyrr's own decoder."""
    ctx = UpdateContext(
        four_octet_as=True,
        ibgp=True,
        peer_as=LOCAL_AS,
        families=frozenset(families),
        add_path_rx=add_path_rx,
    )
    out = Decoded(add_path_rx=add_path_rx)
    for msg in messages:
        assert msg[:16] == b"\xff" * 16, "bad marker"
        (length,) = struct.unpack_from("!H", msg, 16)
        assert length == len(msg), f"header says {length}, message is {len(msg)}"
        assert msg[18] == MsgType.UPDATE
        upd = decode_update(msg[HEADER_LEN:], ctx)
        assert not upd.error, upd.error
        out.updates.append(upd)
        if upd.end_of_rib is not None:
            out.end_of_rib.append(upd.end_of_rib)
            continue
        if upd.attrs is not None:
            out.attrs.append(upd.attrs)
        for fam, hop, keys in upd.announced:
            out.next_hops.add(hop)
            out.announced_keys.setdefault(fam, []).extend(keys)
        for fam, keys in upd.withdrawn:
            out.withdrawn_keys.setdefault(fam, []).extend(keys)
    return out


def split_messages(chunks: Iterable[bytes | memoryview]) -> list[bytes]:
    """The whole messages inside written chunks (a chunk may be a blob or a slice of one)."""
    out: list[bytes] = []
    for chunk in chunks:
        data = bytes(chunk)
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack_from("!H", data, pos + 16)
            assert length >= HEADER_LEN and pos + length <= len(data), "chunk cuts a message"
            out.append(data[pos : pos + length])
            pos += length
    return out


class FakeMember:
    """An update group member that records what it is sent (the `bytes` objects themselves)."""

    def __init__(self, src: Source) -> None:
        self.source = src
        self.key = src.key
        self.batches: list[list[bytes]] = []
        self.chunks: list[list[bytes | memoryview]] = []  # exactly what the group wrote

    def send_updates(self, chunks: Sequence[bytes | memoryview], count: int) -> None:
        assert chunks, "a group wrote an empty batch"
        self.chunks.append(list(chunks))
        batch = split_messages(chunks)
        # The count is what the session's counters (and the metrics) are told.
        assert count == len(batch), (count, len(batch))
        self.batches.append(batch)

    @property
    def messages(self) -> list[bytes]:
        return [m for b in self.batches for m in b]

    def take(self) -> list[bytes]:
        """Everything sent since the last take()."""
        out = self.messages
        self.batches.clear()
        return out

    def __repr__(self) -> str:
        return f"FakeMember({self.source.key})"


__all__ = [
    "CONFED_SEQ",
    "CONFED_SET",
    "IPV4_UNICAST",
    "IPV6_UNICAST",
    "LOCAL_AS",
    "SEQ",
    "SET",
    "Decoded",
    "FakeMember",
    "as_path_segments",
    "attrs",
    "decode_messages",
    "default_next_hop",
    "family_of",
    "ip_int",
    "nh",
    "path",
    "pfx",
    "source",
    "update",
    "update_keys",
    "with_path_id",
]
