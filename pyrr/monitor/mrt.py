"""MRT, the routing information export format (RFC 6396): the records pyrr writes, sans-IO.

Table dumps are TABLE_DUMP_V2 (§4.3): one PEER_INDEX_TABLE, then one RIB_IPV4_UNICAST or
RIB_IPV6_UNICAST record per prefix with an entry per path. The update log is BGP4MP (§4.4):
BGP4MP_MESSAGE_AS4 for each UPDATE received (BGP4MP_MESSAGE from a session without 4-octet
AS numbers, whose UPDATEs carry 2-octet AS_PATHs), BGP4MP_STATE_CHANGE_AS4 for each session
state change. Each function returns one whole record; what is written where is the caller's.
"""

from __future__ import annotations

import struct
from enum import IntEnum, IntFlag
from ipaddress import IPv4Address, IPv6Address

from ..bgp.attributes import encode_attr
from ..bgp.constants import AFI, HEADER_LEN, MARKER, AttrCode, AttrFlag, MsgType

# RFC 6396 §2: Timestamp (4), Type (2), Subtype (2), Length (4, of what follows).
_HEADER = struct.Struct("!IHHI")
HEADER_LEN_MRT = _HEADER.size
_BGP_HEADER = struct.Struct("!16sHB")
_UPDATE_TYPE = int(MsgType.UPDATE)
_MAX_AS2 = 0xFFFF
_AS_TRANS = 23456  # RFC 6793 §9


class MrtType(IntEnum):
    """RFC 6396 §4 (IANA "MRT Types"); only those pyrr writes."""

    TABLE_DUMP_V2 = 13
    BGP4MP = 16


class TableDumpV2(IntEnum):
    """RFC 6396 §4.3 subtypes."""

    PEER_INDEX_TABLE = 1
    RIB_IPV4_UNICAST = 2
    RIB_IPV4_MULTICAST = 3
    RIB_IPV6_UNICAST = 4
    RIB_IPV6_MULTICAST = 5
    RIB_GENERIC = 6


class Bgp4mp(IntEnum):
    """RFC 6396 §4.4 subtypes."""

    STATE_CHANGE = 0
    MESSAGE = 1
    MESSAGE_AS4 = 4
    STATE_CHANGE_AS4 = 5
    MESSAGE_LOCAL = 6
    MESSAGE_AS4_LOCAL = 7


class PeerEntryType(IntFlag):
    """RFC 6396 §4.3.1: the Peer Type bits of a peer entry."""

    IPV4_AS2 = 0
    IPV6 = 0x01  # the Peer IP Address is 16 octets
    AS4 = 0x02  # the Peer AS is 4 octets


def record(when: int, kind: MrtType, subtype: int, body: bytes) -> bytes:
    return _HEADER.pack(when, kind, subtype, len(body)) + body


# -- TABLE_DUMP_V2 (§4.3) ---------------------------------------------------------------------


def peer_index_table(
    collector_id: int, view_name: str, peers: list[tuple[int, IPv4Address | IPv6Address, int]]
) -> bytes:
    """§4.3.1: the record body. `peers`: (BGP ID, address, AS), in index order; every AS is
    written in 4 octets (the AS4 bit)."""
    name = view_name.encode()
    parts = [struct.pack("!IH", collector_id, len(name)), name, struct.pack("!H", len(peers))]
    for bgp_id, address, asn in peers:
        kind = PeerEntryType.AS4
        if isinstance(address, IPv6Address):
            kind |= PeerEntryType.IPV6
        parts.append(struct.pack("!BI", kind, bgp_id) + address.packed + struct.pack("!I", asn))
    return b"".join(parts)


def rib_entry(peer_index: int, originated: int, attributes: bytes) -> bytes:
    """§4.3.4: Peer Index (2), Originated Time (4), Attribute Length (2), BGP Attributes."""
    return struct.pack("!HIH", peer_index, originated, len(attributes)) + attributes


def rib_record_body(sequence: int, prefix: bytes, entries: list[bytes]) -> bytes:
    """§4.3.2 RIB_IPV4_UNICAST / RIB_IPV6_UNICAST: Sequence Number (4), the prefix as in an
    UPDATE (Prefix Length (1) and its significant octets), Entry Count (2), the entries."""
    return b"".join(
        (struct.pack("!I", sequence), prefix, struct.pack("!H", len(entries)), *entries)
    )


def rib_attributes(afi: int, attrs_wire: bytes, next_hop: bytes) -> bytes:
    """§4.3.4: the path's attributes (AS_PATH in 4-octet form, as pyrr keeps it) with its next
    hop: NEXT_HOP for IPv4; for IPv6 an MP_REACH_NLRI of only the Next Hop Length and Next
    Hop ("only the Next Hop Address Length and Next Hop Address fields are included")."""
    if afi == AFI.IPV4:
        hop = encode_attr(AttrCode.NEXT_HOP, AttrFlag.TRANSITIVE, next_hop)
    else:
        hop = encode_attr(
            AttrCode.MP_REACH_NLRI, AttrFlag.OPTIONAL, bytes((len(next_hop),)) + next_hop
        )
    return hop + attrs_wire


# -- BGP4MP (§4.4) ----------------------------------------------------------------------------


def bgp4mp_head(
    peer_as: int,
    local_as: int,
    peer: IPv4Address | IPv6Address,
    local: IPv4Address | IPv6Address | None,
    as4: bool,
) -> bytes:
    """The fields every BGP4MP record of one session starts with (§4.4.1-4.4.4): Peer AS and
    Local AS (4 octets each with AS4, else 2), Interface Index (2, 0: unknown), Address
    Family (2), Peer IP and Local IP (4 or 16 octets, of the peer's family)."""
    afi = AFI.IPV6 if isinstance(peer, IPv6Address) else AFI.IPV4
    if local is None or type(local) is not type(peer):
        local = IPv6Address(0) if afi == AFI.IPV6 else IPv4Address(0)
    if as4:
        ases = struct.pack("!II", peer_as, local_as)
    else:
        ases = struct.pack("!HH", *(a if a <= _MAX_AS2 else _AS_TRANS for a in (peer_as, local_as)))
    return ases + struct.pack("!HH", 0, afi) + peer.packed + local.packed


def update_message_record(when: int, head: bytes, body: bytes, as4: bool) -> bytes:
    """§4.4.2-4.4.3: a received UPDATE, given as its body, in a BGP4MP_MESSAGE_AS4 record (or
    BGP4MP_MESSAGE when the session has no 4-octet AS numbers: readers take the subtype to
    tell how wide the UPDATE's AS_PATH is); `head` from `bgp4mp_head` with the same `as4`."""
    bgp_len = HEADER_LEN + len(body)
    subtype = Bgp4mp.MESSAGE_AS4 if as4 else Bgp4mp.MESSAGE
    return b"".join(
        (
            _HEADER.pack(when, MrtType.BGP4MP, subtype, len(head) + bgp_len),
            head,
            _BGP_HEADER.pack(MARKER, bgp_len, _UPDATE_TYPE),
            body,
        )
    )


def state_change_record(when: int, head_as4: bytes, old: int, new: int) -> bytes:
    """§4.4.4 BGP4MP_STATE_CHANGE_AS4 (`head_as4` from `bgp4mp_head` with as4): Old State (2),
    New State (2), numbered as RFC 4271 §8.2.2 (1 Idle ... 6 Established, like
    pyrr.bgp.constants.State)."""
    body = head_as4 + struct.pack("!HH", old, new)
    return record(when, MrtType.BGP4MP, Bgp4mp.STATE_CHANGE_AS4, body)
