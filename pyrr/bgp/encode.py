"""The one UPDATE encoder (RFC 4271 §4.3, RFC 4760 §3-4, RFC 4724 §2, RFC 8654).

`pack_announce` / `pack_withdraw` pack prefixes that share one attribute block into as few
UPDATEs as the neighbour's maximum message size allows; the result is a list of complete
messages (`bytes`), made once and written unchanged to every member of an update group.
`update_message`, `mp_reach_attr`, `mp_unreach_attr` and `next_hop_attr` are the pieces they
are built from; `end_of_rib` is the RFC 4724 marker. Decoding is update.py's.
"""

from __future__ import annotations

import functools
import struct

from .attributes import encode_attr
from .constants import (
    ATTR_EXT_HEADER_LEN,
    HEADER_LEN,
    IPV4_ADDR_LEN,
    MARKER,
    MP_REACH_HEAD_LEN,
    MP_UNREACH_HEAD_LEN,
    UPDATE_MIN_BODY_LEN,
    AttrCode,
    AttrFlag,
    MsgType,
)
from .nlri import IPV4_UNICAST, MAX_PREFIX_ITEM_LEN, Family

# RFC 4271 §4.3: header + Withdrawn Routes Length (2) + Total Path Attribute Length (2).
_UPDATE_OVERHEAD = HEADER_LEN + UPDATE_MIN_BODY_LEN
_UPDATE_TYPE = bytes((MsgType.UPDATE,))
_LENGTH = struct.Struct("!H")


def update_message(withdrawn: bytes = b"", attrs: bytes = b"", nlri: bytes = b"") -> bytes:
    """One UPDATE (RFC 4271 §4.3 layout); the caller keeps it within the maximum length."""
    pack = _LENGTH.pack
    return b"".join(
        (
            MARKER,
            pack(_UPDATE_OVERHEAD + len(withdrawn) + len(attrs) + len(nlri)),
            _UPDATE_TYPE,
            pack(len(withdrawn)),
            withdrawn,
            pack(len(attrs)),
            attrs,
            nlri,
        )
    )


def mp_reach_attr(family: Family, next_hop: bytes, nlri: bytes) -> bytes:
    """MP_REACH_NLRI (RFC 4760 §3) carrying `nlri` (wire-form prefixes, joined)."""
    # AFI, SAFI, Length of Next Hop, Next Hop, Reserved (one zero octet), NLRI.
    afi, safi = family
    value = struct.pack("!HBB", afi, safi, len(next_hop)) + next_hop + b"\0" + nlri
    return encode_attr(AttrCode.MP_REACH_NLRI, AttrFlag.OPTIONAL, value)


def mp_unreach_attr(family: Family, withdrawn: bytes) -> bytes:
    """MP_UNREACH_NLRI (RFC 4760 §4) withdrawing `withdrawn` (wire-form prefixes, joined)."""
    afi, safi = family
    return encode_attr(
        AttrCode.MP_UNREACH_NLRI, AttrFlag.OPTIONAL, struct.pack("!HB", afi, safi) + withdrawn
    )


def next_hop_attr(next_hop: bytes) -> bytes:
    """The NEXT_HOP attribute (RFC 4271 §5.1.3) of IPv4 unicast routes."""
    return encode_attr(AttrCode.NEXT_HOP, AttrFlag.TRANSITIVE, next_hop)


@functools.lru_cache(maxsize=16)
def end_of_rib(family: Family) -> bytes:
    """RFC 4724 §2: an empty UPDATE for IPv4 unicast, an empty MP_UNREACH_NLRI otherwise."""
    if family == IPV4_UNICAST:
        return update_message()
    return update_message(attrs=mp_unreach_attr(family, b""))


def _chunks(prefixes: list[bytes], room: int) -> list[bytes]:
    """Join prefixes into runs of at most `room` octets (a prefix longer than `room` alone)."""
    if not prefixes:
        return []
    size = len(prefixes[0])
    if len(set(map(len, prefixes))) == 1:
        # All of one length (the usual burst: one block size): join once, cut in C.
        step = max(room // size, 1) * size
        blob = b"".join(prefixes)
        return [blob[i : i + step] for i in range(0, len(blob), step)]
    out: list[bytes] = []
    run: list[bytes] = []
    used = 0
    for p in prefixes:
        n = len(p)
        if used + n > room and run:
            out.append(b"".join(run))
            run, used = [], 0
        run.append(p)
        used += n
    if run:
        out.append(b"".join(run))
    return out


def pack_announce(
    family: Family, attrs_wire: bytes, next_hop: bytes, prefixes: list[bytes], max_len: int
) -> list[bytes]:
    """UPDATEs announcing `prefixes` with one attribute set (without NEXT_HOP / MP_REACH)."""
    if family == IPV4_UNICAST and len(next_hop) == IPV4_ADDR_LEN:
        attrs = next_hop_attr(next_hop) + attrs_wire
        room = max_len - _UPDATE_OVERHEAD - len(attrs)
        prefixes, msgs = _too_big(family, prefixes, room, max_len)
        return msgs + [update_message(b"", attrs, run) for run in _chunks(prefixes, room)]
    # MP_REACH_NLRI with the extended length form (4-octet attribute header) always fits.
    head = MP_REACH_HEAD_LEN + len(next_hop)
    room = max_len - _UPDATE_OVERHEAD - len(attrs_wire) - ATTR_EXT_HEADER_LEN - head
    prefixes, msgs = _too_big(family, prefixes, room, max_len)
    for run in _chunks(prefixes, room):
        # RFC 7606 §5.1: MP_REACH_NLRI first, so a receiver can always locate the NLRI.
        msgs.append(update_message(b"", mp_reach_attr(family, next_hop, run) + attrs_wire))
    return msgs


def _too_big(
    family: Family, prefixes: list[bytes], room: int, max_len: int
) -> tuple[list[bytes], list[bytes]]:
    """(the prefixes that fit one UPDATE with these attributes, withdrawals for the others).

    RFC 8654 §4: an UPDATE larger than a neighbour's maximum message size "MUST NOT be sent
    to the neighbor", and the "treat-as-withdraw" approach of RFC 7606 is used instead. Such
    a route reaches a reflector from a peer with extended messages, or grows past 4096 octets
    when reflection adds ORIGINATOR_ID and CLUSTER_LIST; sent anyway, it made every peer
    without extended messages reset its session (RFC 4271 §6.1 Bad Message Length).
    """
    if room >= MAX_PREFIX_ITEM_LEN or all(len(p) <= room for p in prefixes):
        return prefixes, []
    big = [p for p in prefixes if len(p) > room]
    return [p for p in prefixes if len(p) <= room], pack_withdraw(family, big, max_len)


def pack_withdraw(family: Family, prefixes: list[bytes], max_len: int) -> list[bytes]:
    """UPDATEs withdrawing `prefixes`: in the Withdrawn Routes field for IPv4 unicast, in
    MP_UNREACH_NLRI (extended length header, RFC 4760 §4) for the other families."""
    if family == IPV4_UNICAST:
        room = max_len - _UPDATE_OVERHEAD
        return [update_message(run) for run in _chunks(prefixes, room)]
    room = max_len - _UPDATE_OVERHEAD - ATTR_EXT_HEADER_LEN - MP_UNREACH_HEAD_LEN
    return [update_message(b"", mp_unreach_attr(family, run)) for run in _chunks(prefixes, room)]
