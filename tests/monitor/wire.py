"""Reading back what pyrr's monitoring writes, for the tests: BMP messages (RFC 7854) cut from a
byte stream, with their per-peer header, and the UPDATEs they carry decoded by pyrr's own
decoder."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from pyrr.bgp.constants import HEADER_LEN
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, prefix_to_str
from pyrr.bgp.update import Update, UpdateContext, decode_update
from pyrr.monitor.bmp import BmpMsgType, PeerType

CONTEXT = UpdateContext(four_octet_as=True, families=frozenset({IPV4_UNICAST, IPV6_UNICAST}))
_WITH_PEER = {
    BmpMsgType.ROUTE_MONITORING,
    BmpMsgType.STATISTICS_REPORT,
    BmpMsgType.PEER_DOWN,
    BmpMsgType.PEER_UP,
}


@dataclass
class Message:
    kind: BmpMsgType
    peer_type: int = -1
    flags: int = 0
    address: IPv4Address | IPv6Address | None = None
    asn: int = 0
    bgp_id: int = 0
    when: float = 0.0
    body: bytes = b""  # what follows the per-peer header (or the common header)

    @property
    def loc_rib(self) -> bool:
        return self.peer_type == PeerType.LOC_RIB_INSTANCE

    def update(self, context: UpdateContext = CONTEXT) -> Update:
        assert self.kind == BmpMsgType.ROUTE_MONITORING
        (length,) = struct.unpack_from("!H", self.body, 16)
        assert length == len(self.body)
        return decode_update(self.body[HEADER_LEN:], context)

    def routes(self) -> tuple[set[str], set[str]]:
        """(announced, withdrawn) prefixes of a Route Monitoring message, as text."""
        u = self.update()
        ann = {prefix_to_str(p, f) for f, _nh, ps in u.announced for p in ps}
        wd = {prefix_to_str(p, f) for f, ps in u.withdrawn for p in ps}
        return ann, wd

    def tlvs(self, start: int = 0) -> dict[int, bytes]:
        out: dict[int, bytes] = {}
        pos = start
        while pos < len(self.body):
            kind, n = struct.unpack_from("!HH", self.body, pos)
            out[kind] = self.body[pos + 4 : pos + 4 + n]
            pos += 4 + n
        return out


def split(data: bytes) -> list[Message]:
    out = []
    pos = 0
    while pos < len(data):
        version, length, kind = struct.unpack_from("!BIB", data, pos)
        assert version == 3
        msg = data[pos + 6 : pos + length]
        pos += length
        if kind in _WITH_PEER:
            ptype, flags, _dist, addr, asn, bgp_id, sec, usec = struct.unpack_from(
                "!BB8s16sIIII", msg
            )
            v6 = bool(flags & 0x80) and ptype != PeerType.LOC_RIB_INSTANCE
            address = ip_address(addr if v6 else addr[12:])
            out.append(
                Message(
                    BmpMsgType(kind), ptype, flags, address, asn, bgp_id, sec + usec / 1e6, msg[42:]
                )
            )
        else:
            out.append(Message(BmpMsgType(kind), body=msg))
    assert pos == len(data)
    return out
