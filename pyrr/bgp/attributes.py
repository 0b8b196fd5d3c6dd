"""Path attributes (RFC 4271 §4.3, §5) as an immutable set whose canonical value is its wire bytes.

`PathAttrs.wire` is the encoding of every attribute except NEXT_HOP, MP_REACH_NLRI and
MP_UNREACH_NLRI (those belong to the NLRI they travel with), in ascending type code, with
AS numbers always 4 octets (RFC 6793: a 2-octet peer's AS_PATH + AS4_PATH are merged on the way
in and split again on the way out). Two routes with equal `wire` have equal attributes: the
RIB interns on it and outbound packing groups by it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

from .constants import (
    AGGREGATOR4_LEN,
    AS2_LEN,
    AS4_LEN,
    AS_TRANS,
    IPV4_ADDR_LEN,
    MAX_AS2,
    MAX_ATTR_LEN_SHORT,
    AsPathSegType,
    AttrCode,
    AttrFlag,
    Origin,
)

AsPath = tuple[tuple[int, tuple[int, ...]], ...]  # ((segment type, (asn, ...)), ...)
AttrItem = tuple[int, int, bytes]  # (type code, flags, value)

# RFC 5065 §3: confederation segments, which a path's length (§5.3) and eBGP never see.
# Plain ints, as the flags below.
CONFED_SEGMENTS = frozenset(
    {int(AsPathSegType.AS_CONFED_SEQUENCE), int(AsPathSegType.AS_CONFED_SET)}
)
_SEGMENT_TYPES = frozenset(int(t) for t in AsPathSegType)
_AS4_PATH_SEGMENTS = frozenset({int(AsPathSegType.AS_SET), int(AsPathSegType.AS_SEQUENCE)})
# RFC 4271 §4.3: a segment is its type, its count of ASes (one octet), then the ASes.
_SEGMENT_HEAD_LEN = 2
_MAX_SEGMENT_ASNS = 0xFF
# MED and LOCAL_PREF are 4-octet numbers (RFC 4271 §4.3); communities 4 octets (RFC 1997),
# large communities 12 (RFC 8092 §3).
_U32_LEN = 4
_COMMUNITY_LEN = 4
_LARGE_COMMUNITY_LEN = 12

# RFC 4271 §4.3: the flag bits that carry meaning; the low four bits are unused, sent as zero.
# Plain ints: IntFlag arithmetic goes through the enum machinery, too slow for the hot path.
_FLAG_MASK = int(AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE | AttrFlag.PARTIAL)
_EXTENDED_LENGTH = int(AttrFlag.EXTENDED_LENGTH)
_WELL_KNOWN = int(AttrFlag.TRANSITIVE)
_OPT_TRANS = int(AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE)
_OPT_NON_TRANS = int(AttrFlag.OPTIONAL)

# The Optional and Transitive bits each known attribute must carry (RFC 4271 §5, RFC 4456 §8,
# RFC 4760 §3-4, RFC 1997, RFC 4360, RFC 6793 §3, RFC 8092 §3).
EXPECTED_FLAGS: dict[int, int] = {
    AttrCode.ORIGIN: _WELL_KNOWN,
    AttrCode.AS_PATH: _WELL_KNOWN,
    AttrCode.NEXT_HOP: _WELL_KNOWN,
    AttrCode.MULTI_EXIT_DISC: _OPT_NON_TRANS,
    AttrCode.LOCAL_PREF: _WELL_KNOWN,
    AttrCode.ATOMIC_AGGREGATE: _WELL_KNOWN,
    AttrCode.AGGREGATOR: _OPT_TRANS,
    AttrCode.COMMUNITIES: _OPT_TRANS,
    AttrCode.ORIGINATOR_ID: _OPT_NON_TRANS,
    AttrCode.CLUSTER_LIST: _OPT_NON_TRANS,
    AttrCode.MP_REACH_NLRI: _OPT_NON_TRANS,
    AttrCode.MP_UNREACH_NLRI: _OPT_NON_TRANS,
    AttrCode.EXTENDED_COMMUNITIES: _OPT_TRANS,
    AttrCode.AS4_PATH: _OPT_TRANS,
    AttrCode.AS4_AGGREGATOR: _OPT_TRANS,
    AttrCode.LARGE_COMMUNITIES: _OPT_TRANS,
}


def encode_attr(code: int, flags: int, value: bytes) -> bytes:
    """One attribute TLV; the Extended Length bit is set exactly when the value needs it."""
    flags &= _FLAG_MASK
    n = len(value)
    if n > MAX_ATTR_LEN_SHORT:
        return struct.pack("!BBH", flags | _EXTENDED_LENGTH, code, n) + value
    return struct.pack("!BBB", flags, code, n) + value


def decode_as_path(value: bytes, asn_size: int) -> AsPath | None:
    """AS_PATH / AS4_PATH segments, or None when malformed (RFC 7606 §7.2 says what that is)."""
    segs: list[tuple[int, tuple[int, ...]]] = []
    pos, end = 0, len(value)
    fmt = "!%dI" if asn_size == AS4_LEN else "!%dH"
    while pos < end:
        if pos + _SEGMENT_HEAD_LEN > end:
            return None
        stype, count = value[pos], value[pos + 1]
        if stype not in _SEGMENT_TYPES or count == 0:
            return None
        stop = pos + _SEGMENT_HEAD_LEN + count * asn_size
        if stop > end:
            return None
        segs.append((stype, struct.unpack_from(fmt % count, value, pos + _SEGMENT_HEAD_LEN)))
        pos = stop
    return tuple(segs)


def encode_as_path(path: AsPath, asn_size: int = AS4_LEN) -> bytes:
    out = bytearray()
    for stype, asns in path:
        # RFC 4271 §4.3: a segment holds at most 255 ASes (one length octet): split longer ones.
        for i in range(0, len(asns), _MAX_SEGMENT_ASNS):
            chunk = asns[i : i + _MAX_SEGMENT_ASNS]
            out += bytes((stype, len(chunk)))
            if asn_size == AS4_LEN:
                out += struct.pack("!%dI" % len(chunk), *chunk)
            else:
                out += struct.pack(
                    "!%dH" % len(chunk), *(a if a <= MAX_AS2 else AS_TRANS for a in chunk)
                )
    return bytes(out)


def as_path_length(path: AsPath) -> int:
    """RFC 4271 §9.1.2.2 a: an AS_SET counts as 1; RFC 5065 §5.3: confederation segments count 0."""
    n = 0
    for stype, asns in path:
        if stype == AsPathSegType.AS_SEQUENCE:
            n += len(asns)
        elif stype == AsPathSegType.AS_SET:
            n += 1
    return n


def merge_as4_path(as_path: AsPath, as4_path: AsPath) -> AsPath:
    """RFC 6793 §4.2.3: rebuild the true path from a 2-octet speaker's AS_PATH and AS4_PATH."""
    n_as = as_path_length(as_path)
    n_as4 = as_path_length(as4_path)
    if n_as < n_as4:
        return as_path  # AS4_PATH is not trustworthy: ignore it (§4.2.3)
    keep = n_as - n_as4
    out: list[tuple[int, tuple[int, ...]]] = []
    prev_taken = False
    for i, (stype, asns) in enumerate(as_path):
        if stype in CONFED_SEGMENTS:
            # §4.2.3: "a valid AS_CONFED_SEQUENCE or AS_CONFED_SET path segment SHALL be
            # prepended if it is either the leading path segment or is adjacent to a path
            # segment that is prepended" (AS4_PATH never carries them, §4.2.2), even when no
            # AS number is left to take.
            if i == 0 or prev_taken or keep > 0:
                out.append((stype, asns))
                prev_taken = True
                continue
            break
        if keep <= 0:
            break
        prev_taken = True
        if stype == AsPathSegType.AS_SEQUENCE:
            take = asns[:keep]
            out.append((stype, take))
            keep -= len(take)
        elif stype == AsPathSegType.AS_SET:
            out.append((stype, asns))
            keep -= 1
        else:
            out.append((stype, asns))
    return tuple(out) + as4_path


def first_as(path: AsPath) -> int | None:
    """The neighbouring AS (RFC 4271 §9.1.2.2 c compares MED only between routes from one)."""
    for stype, asns in path:
        if stype == AsPathSegType.AS_SEQUENCE and asns:
            return asns[0]
        if stype in CONFED_SEGMENTS:
            continue
        return None
    return None


class PathAttrs:
    """An immutable set of path attributes; equality and hash are those of `wire`."""

    __slots__ = (
        "_hash",
        "as_path",
        "cluster_list",
        "items",
        "local_pref",
        "med",
        "origin",
        "originator_id",
        "wire",
    )

    wire: bytes
    items: tuple[AttrItem, ...]
    origin: int
    as_path: AsPath
    med: int | None
    local_pref: int | None
    originator_id: int | None
    cluster_list: tuple[int, ...]

    def __init__(self, items: Iterable[AttrItem]) -> None:
        """Build from (code, flags, value) items; AS_PATH/AGGREGATOR values in 4-octet form."""
        its = tuple(sorted(items, key=lambda it: it[0]))
        self.items = its
        self.wire = b"".join(encode_attr(c, f, v) for c, f, v in its)
        self._hash = hash(self.wire)
        d = {c: v for c, _f, v in its}
        o = d.get(AttrCode.ORIGIN)
        self.origin = o[0] if o else Origin.INCOMPLETE
        ap = d.get(AttrCode.AS_PATH)
        self.as_path = (decode_as_path(ap, 4) or ()) if ap is not None else ()
        v = d.get(AttrCode.MULTI_EXIT_DISC)
        self.med = int.from_bytes(v, "big") if v is not None else None
        v = d.get(AttrCode.LOCAL_PREF)
        self.local_pref = int.from_bytes(v, "big") if v is not None else None
        v = d.get(AttrCode.ORIGINATOR_ID)
        self.originator_id = int.from_bytes(v, "big") if v is not None else None
        v = d.get(AttrCode.CLUSTER_LIST)
        self.cluster_list = struct.unpack("!%dI" % (len(v) // 4), v) if v else ()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PathAttrs) and other.wire == self.wire

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"PathAttrs({describe_items(self.items)})"

    def get(self, code: int) -> bytes | None:
        for c, _f, v in self.items:
            if c == code:
                return v
        return None

    def replace(self, code: int, value: bytes | None, flags: int | None = None) -> PathAttrs:
        """A copy with one attribute set (or removed when value is None)."""
        if flags is None:
            flags = EXPECTED_FLAGS.get(code, _OPT_TRANS)
        kept = [it for it in self.items if it[0] != code]
        if value is not None:
            kept.append((code, flags, value))
        return PathAttrs(kept)

    def wire_for_as2(self) -> bytes:
        """RFC 6793 §4.2.2: the encoding for a peer without the 4-octet AS capability.

        AS_PATH goes out in 2-octet form with AS_TRANS for big ASes, and the true path rides in
        AS4_PATH when (and only when) some AS does not fit; AGGREGATOR likewise.
        """
        out: list[AttrItem] = []
        for code, flags, value in self.items:
            if code == AttrCode.AS_PATH:
                out.append((code, flags, encode_as_path(self.as_path, AS2_LEN)))
                if any(a > MAX_AS2 for _t, asns in self.as_path for a in asns):
                    # RFC 6793 §4.2.2: confederation segments are never put in AS4_PATH.
                    path4 = tuple(s for s in self.as_path if s[0] in _AS4_PATH_SEGMENTS)
                    out.append((AttrCode.AS4_PATH, _OPT_TRANS, encode_as_path(path4, AS4_LEN)))
            elif code == AttrCode.AGGREGATOR and len(value) == AGGREGATOR4_LEN:
                asn = int.from_bytes(value[:AS4_LEN], "big")
                router = value[AS4_LEN:]
                if asn > MAX_AS2:
                    out.append((code, flags, struct.pack("!H", AS_TRANS) + router))
                    out.append((AttrCode.AS4_AGGREGATOR, _OPT_TRANS, value))
                else:
                    out.append((code, flags, struct.pack("!H", asn) + router))
            else:
                out.append((code, flags, value))
        out.sort(key=lambda it: it[0])
        return b"".join(encode_attr(c, f, v) for c, f, v in out)


def _ip4(v: bytes) -> str:
    return ".".join(str(b) for b in v)


def describe_items(items: Iterable[AttrItem]) -> str:
    """Human text for a set of attributes (for `pyrr decode` and logs)."""
    parts = []
    for code, flags, value in items:
        parts.append(describe_attr(code, flags, value))
    return ", ".join(parts)


def _origin_text(name: str, value: bytes, asn_size: int) -> str | None:
    return f"{name}={Origin(value[0]).name}" if len(value) == 1 else None


def _as_path_text(name: str, value: bytes, asn_size: int) -> str | None:
    path = decode_as_path(value, asn_size)
    if path is None:
        return None
    return f"{name}=" + " ".join(
        " ".join(map(str, asns))
        if t == AsPathSegType.AS_SEQUENCE
        else "{" + ",".join(map(str, asns)) + "}"
        for t, asns in path
    )


def _as4_path_text(name: str, value: bytes, asn_size: int) -> str | None:
    return _as_path_text(name, value, AS4_LEN)  # RFC 6793 §3: always 4-octet ASes


def _address_text(name: str, value: bytes, asn_size: int) -> str | None:
    return f"{name}={_ip4(value)}" if len(value) == IPV4_ADDR_LEN else None


def _number_text(name: str, value: bytes, asn_size: int) -> str | None:
    return f"{name}={int.from_bytes(value, 'big')}" if len(value) == _U32_LEN else None


def _cluster_list_text(name: str, value: bytes, asn_size: int) -> str | None:
    if len(value) % IPV4_ADDR_LEN:
        return None
    step = IPV4_ADDR_LEN
    return f"{name}=" + " ".join(_ip4(value[i : i + step]) for i in range(0, len(value), step))


def _communities_text(name: str, value: bytes, asn_size: int) -> str | None:
    if len(value) % _COMMUNITY_LEN:
        return None
    pairs = struct.iter_unpack("!HH", value)
    return f"{name}=" + " ".join(f"{hi}:{lo}" for hi, lo in pairs)


def _large_communities_text(name: str, value: bytes, asn_size: int) -> str | None:
    if len(value) % _LARGE_COMMUNITY_LEN:
        return None
    return f"{name}=" + " ".join(
        ":".join(str(x) for x in struct.unpack_from("!III", value, i))
        for i in range(0, len(value), _LARGE_COMMUNITY_LEN)
    )


def _name_only(name: str, value: bytes, asn_size: int) -> str | None:
    return name


# How `describe_attr` shows each attribute it knows; None (or ValueError) means "show the hex".
_DESCRIBERS: dict[int, Callable[[str, bytes, int], str | None]] = {
    AttrCode.ORIGIN: _origin_text,
    AttrCode.AS_PATH: _as_path_text,
    AttrCode.AS4_PATH: _as4_path_text,
    AttrCode.NEXT_HOP: _address_text,
    AttrCode.ORIGINATOR_ID: _address_text,
    AttrCode.MULTI_EXIT_DISC: _number_text,
    AttrCode.LOCAL_PREF: _number_text,
    AttrCode.CLUSTER_LIST: _cluster_list_text,
    AttrCode.COMMUNITIES: _communities_text,
    AttrCode.LARGE_COMMUNITIES: _large_communities_text,
    AttrCode.ATOMIC_AGGREGATE: _name_only,
}


def describe_attr(code: int, flags: int, value: bytes, asn_size: int = AS4_LEN) -> str:
    try:
        name = AttrCode(code).name
    except ValueError:
        return f"attr{code}(flags=0x{flags:02x}, {value.hex()})"
    describe = _DESCRIBERS.get(code)
    text = None
    if describe is not None:
        try:
            text = describe(name, value, asn_size)
        except ValueError:  # an undefined ORIGIN value
            text = None
    return text if text is not None else f"{name}({value.hex()})"
