"""Pack prefixes into as few UPDATE messages as the size limit allows (RFC 4271 §4.3, RFC 8654).

Prefixes that share one attribute block go into one UPDATE until it is full; withdrawals are
packed the same way. The result is a list of complete messages (`bytes`), made once and written
unchanged to every member of an update group.
"""

from __future__ import annotations

import struct

from .attributes import encode_attr
from .constants import HEADER_LEN, MARKER, AttrCode, AttrFlag, MsgType
from .nlri import IPV4_UNICAST, Family
from .update import mp_unreach_attr

# Header (19) + withdrawn length (2) + attribute length (2).
_UPDATE_OVERHEAD = HEADER_LEN + 4
_UPDATE_TYPE = bytes((MsgType.UPDATE,))
# An ADD-PATH IPv6 /128: path id (4) + length (1) + 16 octets; every prefix is at most this.
_LONGEST_PREFIX = 21


def _message(withdrawn: bytes, attrs: bytes, nlri: bytes) -> bytes:
    length = _UPDATE_OVERHEAD + len(withdrawn) + len(attrs) + len(nlri)
    return b"".join(
        (
            MARKER,
            struct.pack("!H", length),
            _UPDATE_TYPE,
            struct.pack("!H", len(withdrawn)),
            withdrawn,
            struct.pack("!H", len(attrs)),
            attrs,
            nlri,
        )
    )


def _chunks(prefixes: list[bytes], room: int) -> list[bytes]:
    """Join prefixes into runs of at most `room` octets."""
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
    if family == IPV4_UNICAST and len(next_hop) == 4:
        attrs = encode_attr(AttrCode.NEXT_HOP, AttrFlag.TRANSITIVE, next_hop) + attrs_wire
        room = max_len - _UPDATE_OVERHEAD - len(attrs)
        prefixes, msgs = _too_big(family, prefixes, room, max_len)
        return msgs + [_message(b"", attrs, run) for run in _chunks(prefixes, room)]
    afi, safi = family
    mp_head = struct.pack("!HBB", afi, safi, len(next_hop)) + next_hop + b"\0"
    # MP_REACH_NLRI with the extended length form (4-octet attribute header) always fits.
    room = max_len - _UPDATE_OVERHEAD - len(attrs_wire) - 4 - len(mp_head)
    prefixes, msgs = _too_big(family, prefixes, room, max_len)
    for run in _chunks(prefixes, room):
        mp = encode_attr(AttrCode.MP_REACH_NLRI, AttrFlag.OPTIONAL, mp_head + run)
        # RFC 7606 §5.1: MP_REACH_NLRI first, so a receiver can always locate the NLRI.
        msgs.append(_message(b"", mp + attrs_wire, b""))
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
    if room >= _LONGEST_PREFIX or all(len(p) <= room for p in prefixes):
        return prefixes, []
    big = [p for p in prefixes if len(p) > room]
    return [p for p in prefixes if len(p) <= room], pack_withdraw(family, big, max_len)


def pack_withdraw(family: Family, prefixes: list[bytes], max_len: int) -> list[bytes]:
    if family == IPV4_UNICAST:
        room = max_len - _UPDATE_OVERHEAD
        return [_message(run, b"", b"") for run in _chunks(prefixes, room)]
    room = max_len - _UPDATE_OVERHEAD - 4 - 3
    return [_message(b"", mp_unreach_attr(family, run), b"") for run in _chunks(prefixes, room)]


# TEMPORARY (arch-core branch): the codec branch provides the real one encoder.
from .update import end_of_rib  # noqa: E402

__all__ = ["end_of_rib", "pack_announce", "pack_withdraw"]
