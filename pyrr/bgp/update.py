"""Decoding UPDATE messages (RFC 4271 §4.3, RFC 4760 MP-BGP) with RFC 7606 error handling.

Decoding returns an `Update` or raises `BGPError` only where RFC 7606 leaves session reset as the
one answer (the NLRI can no longer be located). `decode_update` pulls the message apart in
order (lengths, IPv4 withdrawn routes and NLRI, the attribute walk, the verdict); the walk hands
each attribute to its handler in `_HANDLERS`, one per type code. What a malformed attribute
costs is in `_RULES`, the table docs/security.md points at. Encoding is encode.py's.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from .attributes import (
    CONFED_SEGMENTS,
    EXPECTED_FLAGS,
    AttrItem,
    PathAttrs,
    decode_as_path,
    encode_as_path,
    merge_as4_path,
)
from .constants import (
    AFI,
    AGGREGATOR2_LEN,
    AGGREGATOR4_LEN,
    AS2_LEN,
    AS4_LEN,
    AS_TRANS,
    ATTR_EXT_HEADER_LEN,
    ATTR_HEADER_LEN,
    IPV4_ADDR_LEN,
    IPV6_ADDR_LEN,
    MAX_AS2,
    MAX_ATTR_LEN,
    MP_REACH_HEAD_LEN,
    MP_UNREACH_HEAD_LEN,
    UPDATE_MIN_BODY_LEN,
    AsPathSegType,
    AttrCode,
    AttrFlag,
    ErrCode,
    Origin,
    UpdateSub,
)
from .errors import BGPError
from .nlri import IPV4_UNICAST, Family, parse_prefixes

__all__ = ["Action", "Update", "UpdateContext", "decode_update"]


class Action(IntEnum):
    """RFC 7606 §2 outcomes, ordered so that the worst one wins (as GoBGP orders them)."""

    NONE = 0
    ATTRIBUTE_DISCARD = 1
    TREAT_AS_WITHDRAW = 2
    SESSION_RESET = 3


@dataclass(frozen=True, slots=True)
class UpdateContext:
    """What the decoder must know of the session (negotiated once, reused per UPDATE)."""

    four_octet_as: bool = True
    ibgp: bool = True
    peer_as: int = 0
    families: frozenset[Family] = frozenset({IPV4_UNICAST})
    add_path_rx: frozenset[Family] = frozenset()


@dataclass(slots=True)
class Update:
    """A decoded UPDATE: per-family announcements (with their next hop) and withdrawals.

    `announced` items are (family, next hop bytes, [prefix, ...]); prefixes are wire-form keys
    (nlri.py), with a 4-octet path id in front on ADD-PATH families. `error` is set when RFC 7606
    treat-as-withdraw applied: everything announced was moved to `withdrawn`.
    """

    attrs: PathAttrs | None = None
    announced: list[tuple[Family, bytes, list[bytes]]] = field(default_factory=list)
    withdrawn: list[tuple[Family, list[bytes]]] = field(default_factory=list)
    error: str = ""
    notes: list[str] = field(default_factory=list)
    end_of_rib: Family | None = None


# ---------------------------------------------------------------------------------------------
# Per-attribute validation: each returns the 4-octet-canonical value to keep, or raises _Bad.


class _Bad(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _fixed(n: int) -> Callable[[bytes, UpdateContext], bytes]:
    def check(v: bytes, ctx: UpdateContext) -> bytes:
        if len(v) != n:
            raise _Bad(f"length {len(v)}, expected {n}")
        return v

    return check


def _multiple(n: int) -> Callable[[bytes, UpdateContext], bytes]:
    def check(v: bytes, ctx: UpdateContext) -> bytes:
        if not v or len(v) % n:
            raise _Bad(f"length {len(v)} is not a positive multiple of {n}")
        return v

    return check


# RFC 4271 §5.1.1: IGP, EGP, INCOMPLETE; anything above is undefined (RFC 7606 §7.1).
_LAST_ORIGIN = max(Origin)


def _origin(v: bytes, ctx: UpdateContext) -> bytes:
    if len(v) != 1:
        raise _Bad(f"length {len(v)}, expected 1")
    if v[0] > _LAST_ORIGIN:
        raise _Bad(f"undefined ORIGIN value {v[0]}")
    return v


def _as_path(v: bytes, ctx: UpdateContext) -> bytes:
    size = AS4_LEN if ctx.four_octet_as else AS2_LEN
    path = decode_as_path(v, size)
    if path is None:
        raise _Bad("malformed AS_PATH segments")
    # RFC 4271 §6.3: an external peer's AS must lead the path (RFC 7606 §7.2: withdraw); a
    # 2-octet session shows a big AS as AS_TRANS.
    leading_ok = (ctx.peer_as, AS_TRANS if ctx.peer_as > MAX_AS2 and not ctx.four_octet_as else 0)
    if not ctx.ibgp and (
        not path or path[0][0] != AsPathSegType.AS_SEQUENCE or path[0][1][0] not in leading_ok
    ):
        raise _Bad("AS_PATH does not start with the peer's AS")
    if not ctx.ibgp and any(t in CONFED_SEGMENTS for t, _ in path):
        raise _Bad("confederation segment from an external peer")  # RFC 5065 §5.3
    if size == AS4_LEN:
        return v
    wide = encode_as_path(path, AS4_LEN)
    if len(wide) > MAX_ATTR_LEN:
        # A 2-octet AS_PATH of more than 32 KiB (possible with RFC 8654 extended messages) has
        # no 4-octet form that fits an attribute's 2-octet length (RFC 4271 §4.3): the route
        # cannot be kept, so withdraw it (RFC 7606 §7.2) rather than fail to encode it.
        raise _Bad(f"AS_PATH of {len(wide)} octets in 4-octet form exceeds 65535")
    return wide


# RFC 5771 / RFC 1112 §4: 224.0.0.0/4 is multicast and 240.0.0.0/4 reserved: no next hop there.
_FIRST_MULTICAST_OCTET = 224


def _next_hop(v: bytes, ctx: UpdateContext) -> bytes:
    if len(v) != IPV4_ADDR_LEN:
        raise _Bad(f"length {len(v)}, expected 4")
    if v == b"\0\0\0\0" or v[0] >= _FIRST_MULTICAST_OCTET:
        # RFC 4271 §6.3: semantically incorrect next hop, route ignored, no NOTIFICATION.
        raise _Bad(f"unusable next hop {'.'.join(map(str, v))}")
    return v


def _aggregator(v: bytes, ctx: UpdateContext) -> bytes:
    if ctx.four_octet_as:
        if len(v) != AGGREGATOR4_LEN:
            raise _Bad(f"length {len(v)}, expected 8")
        return v
    if len(v) != AGGREGATOR2_LEN:
        raise _Bad(f"length {len(v)}, expected 6")
    return struct.pack("!I", int.from_bytes(v[:2], "big")) + v[2:]


def _atomic(v: bytes, ctx: UpdateContext) -> bytes:
    if v:
        raise _Bad(f"length {len(v)}, expected 0")
    return v


def _local_pref(v: bytes, ctx: UpdateContext) -> bytes:
    if not ctx.ibgp:
        raise _Bad("LOCAL_PREF from an external peer")  # RFC 4271 §5.1.5, RFC 7606 §7.5
    return _fixed(4)(v, ctx)


def _ibgp_only(
    check: Callable[[bytes, UpdateContext], bytes],
) -> Callable[[bytes, UpdateContext], bytes]:
    def wrapped(v: bytes, ctx: UpdateContext) -> bytes:
        if not ctx.ibgp:
            raise _Bad("RFC 4456 attribute from an external peer")
        return check(v, ctx)

    return wrapped


# (validator, action when malformed, RFC section that says so). MP_REACH/MP_UNREACH are parsed
# separately (their malformation is a session reset, RFC 7606 §7.11-7.12).
_RULES: dict[int, tuple[Callable[[bytes, UpdateContext], bytes], Action, str]] = {
    AttrCode.ORIGIN: (_origin, Action.TREAT_AS_WITHDRAW, "RFC 7606 §7.1"),
    AttrCode.AS_PATH: (_as_path, Action.TREAT_AS_WITHDRAW, "RFC 7606 §7.2"),
    AttrCode.NEXT_HOP: (_next_hop, Action.TREAT_AS_WITHDRAW, "RFC 7606 §7.3"),
    AttrCode.MULTI_EXIT_DISC: (_fixed(4), Action.TREAT_AS_WITHDRAW, "RFC 7606 §7.4"),
    AttrCode.LOCAL_PREF: (_local_pref, Action.TREAT_AS_WITHDRAW, "RFC 7606 §7.5"),
    AttrCode.ATOMIC_AGGREGATE: (_atomic, Action.ATTRIBUTE_DISCARD, "RFC 7606 §7.6"),
    AttrCode.AGGREGATOR: (_aggregator, Action.ATTRIBUTE_DISCARD, "RFC 7606 §7.7"),
    AttrCode.COMMUNITIES: (_multiple(4), Action.TREAT_AS_WITHDRAW, "RFC 7606 §7.8"),
    AttrCode.ORIGINATOR_ID: (_ibgp_only(_fixed(4)), Action.TREAT_AS_WITHDRAW, "RFC 7606 §7.9"),
    AttrCode.CLUSTER_LIST: (_ibgp_only(_multiple(4)), Action.TREAT_AS_WITHDRAW, "RFC 7606 §7.10"),
    AttrCode.EXTENDED_COMMUNITIES: (_multiple(8), Action.TREAT_AS_WITHDRAW, "RFC 7606 §7.14"),
    AttrCode.AS4_PATH: (_fixed(-1), Action.ATTRIBUTE_DISCARD, "RFC 6793 §6"),  # handled apart
    AttrCode.AS4_AGGREGATOR: (_fixed(8), Action.ATTRIBUTE_DISCARD, "RFC 6793 §6"),
    AttrCode.LARGE_COMMUNITIES: (_multiple(12), Action.TREAT_AS_WITHDRAW, "RFC 8092 §6"),
}
# Plain ints: IntFlag arithmetic goes through the enum machinery, too slow for the hot path.
_OPT_TRANS_FLAGS = int(AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE)
_EXT_LEN = int(AttrFlag.EXTENDED_LENGTH)
_OPTIONAL = int(AttrFlag.OPTIONAL)
_TRANSITIVE = int(AttrFlag.TRANSITIVE)
_PARTIAL = int(AttrFlag.PARTIAL)
# Malformed LOCAL_PREF / ORIGINATOR_ID / CLUSTER_LIST from an eBGP peer are simply dropped.
_EBGP_DISCARD = frozenset({AttrCode.LOCAL_PREF, AttrCode.ORIGINATOR_ID, AttrCode.CLUSTER_LIST})


def _reset(sub: int, reason: str, data: bytes = b"") -> BGPError:
    return BGPError(ErrCode.UPDATE_MESSAGE, sub, data, reason)


# RFC 4760 §3 / RFC 2545 §3 / RFC 8950 §3: next hop lengths each AFI may use.
_NEXT_HOP_LENGTHS: dict[int, tuple[int, ...]] = {
    AFI.IPV4: (IPV4_ADDR_LEN, IPV6_ADDR_LEN, 2 * IPV6_ADDR_LEN),
    AFI.IPV6: (IPV6_ADDR_LEN, 2 * IPV6_ADDR_LEN),
}

# RFC 4760 §3: the next hop follows AFI, SAFI and its length; the reserved octet follows it.
_MP_NEXT_HOP_AT = MP_REACH_HEAD_LEN - 1


def _parse_mp_reach(v: bytes, ctx: UpdateContext, upd: Update) -> None:
    # RFC 4760 §3; RFC 7606 §7.11: anything we cannot parse here is a session reset.
    if len(v) < MP_REACH_HEAD_LEN:
        raise _reset(UpdateSub.OPTIONAL_ATTRIBUTE_ERROR, "MP_REACH_NLRI shorter than 5 octets")
    afi, safi, nhlen = struct.unpack_from("!HBB", v)
    if MP_REACH_HEAD_LEN + nhlen > len(v):
        raise _reset(UpdateSub.OPTIONAL_ATTRIBUTE_ERROR, "MP_REACH_NLRI next hop overruns")
    fam = (afi, safi)
    if fam not in ctx.families:
        # RFC 4760 §6 leaves this to the implementation; ignoring it costs nothing and keeps
        # the session (the peer is sending what it was not asked for).
        upd.notes.append(f"MP_REACH_NLRI for family {afi}/{safi} not negotiated: ignored")
        return
    nh = v[_MP_NEXT_HOP_AT : _MP_NEXT_HOP_AT + nhlen]
    ok: tuple[int, ...] = _NEXT_HOP_LENGTHS.get(afi, ())
    if nhlen not in ok:
        raise _reset(
            UpdateSub.OPTIONAL_ATTRIBUTE_ERROR, f"MP next hop length {nhlen} for AFI {afi}"
        )
    prefixes = parse_prefixes(
        memoryview(v)[MP_REACH_HEAD_LEN + nhlen :],
        afi,
        fam in ctx.add_path_rx,
        UpdateSub.OPTIONAL_ATTRIBUTE_ERROR,
    )
    if prefixes:
        upd.announced.append((fam, bytes(nh), prefixes))


def _parse_mp_unreach(v: bytes, ctx: UpdateContext, upd: Update) -> None:
    if len(v) < MP_UNREACH_HEAD_LEN:
        raise _reset(UpdateSub.OPTIONAL_ATTRIBUTE_ERROR, "MP_UNREACH_NLRI shorter than 3 octets")
    afi, safi = struct.unpack_from("!HB", v)
    fam = (afi, safi)
    if fam not in ctx.families:
        upd.notes.append(f"MP_UNREACH_NLRI for family {afi}/{safi} not negotiated: ignored")
        return
    prefixes = parse_prefixes(
        memoryview(v)[MP_UNREACH_HEAD_LEN:],
        afi,
        fam in ctx.add_path_rx,
        UpdateSub.OPTIONAL_ATTRIBUTE_ERROR,
    )
    if prefixes:
        upd.withdrawn.append((fam, prefixes))
    else:
        upd.end_of_rib = fam  # RFC 4724 §2: an empty MP_UNREACH is that family's End-of-RIB


# ---------------------------------------------------------------------------------------------
# The attribute walk: one handler per attribute type code (as BIRD's bgp_attr_table), called
# with the walk's state, the attribute's flags, code and value, and where its header starts.


class _Walk:
    """What the walk over one UPDATE's attributes has found so far."""

    __slots__ = (
        "as4_aggr",
        "as4_path",
        "body",
        "ctx",
        "has_nlri",
        "items",
        "next_hop",
        "reasons",
        "seen",
        "upd",
        "worst",
    )

    def __init__(self, body: bytes, ctx: UpdateContext, upd: Update, has_nlri: bool) -> None:
        self.body = body
        self.ctx = ctx
        self.upd = upd
        self.has_nlri = has_nlri
        self.worst = Action.NONE
        self.reasons: list[str] = []
        self.items: list[AttrItem] = []
        self.seen: set[int] = set()
        self.next_hop = b""
        self.as4_path: bytes | None = None
        self.as4_aggr: bytes | None = None

    def fail(self, action: Action, reason: str) -> None:
        """Record an RFC 7606 outcome; the worst one recorded decides (RFC 7606 §2)."""
        self.worst = max(self.worst, action)
        self.reasons.append(reason)

    def whole(self, flags: int, value: bytes, pos: int) -> bytes:
        """The attribute as it was on the wire (RFC 4271 §6.3: the NOTIFICATION data)."""
        head = ATTR_EXT_HEADER_LEN if flags & _EXT_LEN else ATTR_HEADER_LEN
        return bytes(self.body[pos : pos + head + len(value)])


_Handler = Callable[[_Walk, int, int, bytes, int], None]


def _validated(w: _Walk, flags: int, code: int, value: bytes) -> bytes | None:
    """The canonical value of a known attribute, or None once its RFC 7606 rule is applied."""
    check, action, rfc = _RULES[code]
    try:
        if flags & _OPT_TRANS_FLAGS != EXPECTED_FLAGS[code]:
            raise _Bad(f"flags 0x{flags:02x}")  # RFC 7606 §3 c: malformed, per its rule
        return check(value, w.ctx)
    except _Bad as bad:
        if not w.ctx.ibgp and code in _EBGP_DISCARD:
            action = Action.ATTRIBUTE_DISCARD
        w.fail(action, f"{AttrCode(code).name} {bad.reason}: {action.name} ({rfc})")
        return None


def _on_known(w: _Walk, flags: int, code: int, value: bytes, pos: int) -> None:
    checked = _validated(w, flags, code, value)
    if checked is not None:
        expected = EXPECTED_FLAGS[code]
        # Only an optional transitive attribute may carry Partial (RFC 4271 §4.3).
        partial = flags & _PARTIAL if expected == _OPT_TRANS_FLAGS else 0
        w.items.append((code, expected | partial, checked))


def _on_next_hop(w: _Walk, flags: int, code: int, value: bytes, pos: int) -> None:
    if not w.has_nlri:
        # RFC 4760 §3: an UPDATE with no NLRI outside MP_REACH_NLRI "SHOULD NOT carry the
        # NEXT_HOP attribute. If such a message contains the NEXT_HOP attribute, the BGP
        # speaker that receives the message SHOULD ignore this attribute." Validating it
        # would withdraw MP routes over a next hop that applies to none of them.
        w.upd.notes.append("NEXT_HOP without IPv4 NLRI ignored (RFC 4760 §3)")
        return
    checked = _validated(w, flags, code, value)
    if checked is not None:
        w.next_hop = checked


def _on_as4(w: _Walk, flags: int, code: int, value: bytes, pos: int) -> None:
    if w.ctx.four_octet_as:
        # RFC 6793 §4.1: never sent between NEW speakers; discard.
        w.upd.notes.append(f"attribute {code} from a 4-octet-AS peer discarded (RFC 6793 §4.1)")
    elif code == AttrCode.AS4_PATH:
        w.as4_path = value  # folded in by _apply_as4 once AS_PATH is known (RFC 6793 §4.2.3)
    else:
        w.as4_aggr = value


def _on_mp(w: _Walk, flags: int, code: int, value: bytes, pos: int) -> None:
    # RFC 4271 §6.3: the Attribute Flags Error and Optional Attribute Error data is the
    # erroneous attribute (type, length and value).
    if flags & _OPT_TRANS_FLAGS != EXPECTED_FLAGS[code]:
        raise _reset(
            UpdateSub.ATTRIBUTE_FLAGS_ERROR, f"attribute {code} flags", w.whole(flags, value, pos)
        )
    parse = _parse_mp_reach if code == AttrCode.MP_REACH_NLRI else _parse_mp_unreach
    try:
        parse(value, w.ctx, w.upd)
    except BGPError as err:
        if err.subcode == UpdateSub.OPTIONAL_ATTRIBUTE_ERROR and not err.data:
            err.data = w.whole(flags, value, pos)
        raise


def _on_unknown(w: _Walk, flags: int, code: int, value: bytes, pos: int) -> None:
    if not flags & _OPTIONAL:
        # RFC 4271 §6.3: Unrecognized Well-known Attribute, data = the attribute.
        raise _reset(
            UpdateSub.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
            f"unrecognized well-known attribute {code}",
            w.whole(flags, value, pos),
        )
    if flags & _TRANSITIVE:
        # RFC 4271 §5: pass an unknown optional transitive on, marked Partial.
        w.items.append((code, flags | _PARTIAL, value))
    # Unknown optional non-transitive: quietly ignored (RFC 4271 §5).


_HANDLERS: dict[int, _Handler] = {
    **dict.fromkeys(_RULES, _on_known),
    AttrCode.NEXT_HOP: _on_next_hop,
    AttrCode.AS4_PATH: _on_as4,
    AttrCode.AS4_AGGREGATOR: _on_as4,
    AttrCode.MP_REACH_NLRI: _on_mp,
    AttrCode.MP_UNREACH_NLRI: _on_mp,
}
_U16 = struct.Struct("!H")


def _walk_attributes(w: _Walk, pos: int, end: int) -> None:
    """Every attribute of body[pos:end], in order, through its handler.

    An iterative walk: an UPDATE full of tiny attributes costs a loop, not a stack. Where the
    attribute field stops making sense, RFC 7606 §4 withdraws and the walk ends.
    """
    body, seen, handler = w.body, w.seen, _HANDLERS.get
    while pos < end:
        if end - pos < ATTR_HEADER_LEN:
            w.fail(Action.TREAT_AS_WITHDRAW, "attribute header truncated (RFC 7606 §4)")
            return
        flags, code = body[pos], body[pos + 1]
        if flags & _EXT_LEN:
            if end - pos < ATTR_EXT_HEADER_LEN:
                w.fail(Action.TREAT_AS_WITHDRAW, "attribute header truncated (RFC 7606 §4)")
                return
            vstart = pos + ATTR_EXT_HEADER_LEN
            vend = vstart + _U16.unpack_from(body, pos + 2)[0]
        else:
            vstart = pos + ATTR_HEADER_LEN
            vend = vstart + body[pos + 2]
        if vend > end:
            w.fail(
                Action.TREAT_AS_WITHDRAW,
                f"attribute {code} overruns the attribute field (RFC 7606 §4)",
            )
            return
        if code in seen:
            _repeated(w, code)
        else:
            seen.add(code)
            handler(code, _on_unknown)(w, flags, code, body[vstart:vend], pos)
        pos = vend


def _repeated(w: _Walk, code: int) -> None:
    if code in (AttrCode.MP_REACH_NLRI, AttrCode.MP_UNREACH_NLRI):
        raise _reset(UpdateSub.MALFORMED_ATTRIBUTE_LIST, f"repeated attribute {code}")
    # RFC 7606 §3 g: keep the first, discard the repeats.
    w.upd.notes.append(f"repeated attribute {code} discarded (RFC 7606 §3 g)")


# ---------------------------------------------------------------------------------------------
# The message: lengths, IPv4 withdrawn routes and NLRI, attributes, then the verdict.


def _pull_lengths(body: bytes) -> tuple[int, int]:
    """(withdrawn routes length, end of the attribute field); RFC 7606 §4 resets otherwise."""
    n = len(body)
    if n < UPDATE_MIN_BODY_LEN:
        raise _reset(UpdateSub.MALFORMED_ATTRIBUTE_LIST, "UPDATE shorter than 4 octets")
    wlen = _U16.unpack_from(body)[0]
    if UPDATE_MIN_BODY_LEN + wlen > n:
        # RFC 7606 §4: without a locatable attribute field nothing can be withdrawn: reset.
        raise _reset(UpdateSub.MALFORMED_ATTRIBUTE_LIST, "withdrawn routes length overruns")
    aend = UPDATE_MIN_BODY_LEN + wlen + _U16.unpack_from(body, 2 + wlen)[0]
    if aend > n:
        raise _reset(UpdateSub.MALFORMED_ATTRIBUTE_LIST, "total path attribute length overruns")
    return wlen, aend


def _pull_ipv4(body: bytes, wlen: int, aend: int, ctx: UpdateContext, upd: Update) -> list[bytes]:
    """The Withdrawn Routes field into `upd`; the NLRI field returned (RFC 4271 §4.3)."""
    mv = memoryview(body)
    v4 = IPV4_UNICAST in ctx.families
    v4_addpath = IPV4_UNICAST in ctx.add_path_rx
    if wlen:
        wd = parse_prefixes(mv[2 : 2 + wlen], AFI.IPV4, v4_addpath)
        if v4:
            upd.withdrawn.append((IPV4_UNICAST, wd))
    nlri = parse_prefixes(mv[aend:], AFI.IPV4, v4_addpath) if aend < len(body) else []
    if nlri and not v4:
        upd.notes.append("IPv4 NLRI on a session without IPv4 unicast: ignored")
        return []
    return nlri


def decode_update(body: bytes, ctx: UpdateContext) -> Update:
    """Decode an UPDATE body; raises BGPError only for session-reset errors (RFC 7606 §2)."""
    wlen, aend = _pull_lengths(body)
    upd = Update()
    nlri = _pull_ipv4(body, wlen, aend, ctx, upd)
    astart = UPDATE_MIN_BODY_LEN + wlen
    if not wlen and aend == astart == len(body):
        upd.end_of_rib = IPV4_UNICAST  # RFC 4724 §2: the empty UPDATE
        return upd
    w = _Walk(body, ctx, upd, bool(nlri))
    _walk_attributes(w, astart, aend)
    if not ctx.four_octet_as:
        _apply_as4(w.items, w.as4_path, w.as4_aggr, upd)
    if nlri:
        upd.announced.insert(0, (IPV4_UNICAST, w.next_hop, nlri))
        if not w.next_hop and w.worst < Action.TREAT_AS_WITHDRAW:
            w.fail(Action.TREAT_AS_WITHDRAW, "NEXT_HOP missing (RFC 7606 §3 d)")
    if upd.announced:
        _require_well_known(w)
    if w.worst >= Action.TREAT_AS_WITHDRAW:
        upd.error = "; ".join(w.reasons)
        upd.withdrawn.extend((fam, pfx) for fam, _nh, pfx in upd.announced)
        upd.announced = []
        return upd
    if w.reasons:
        upd.notes.extend(w.reasons)
    if upd.announced:
        upd.attrs = PathAttrs(w.items)
    return upd


def _require_well_known(w: _Walk) -> None:
    """RFC 7606 §3 d: routes without ORIGIN or AS_PATH are withdrawn (NEXT_HOP: see above)."""
    present = {c for c, _f, _v in w.items}
    for code in (AttrCode.ORIGIN, AttrCode.AS_PATH):
        if code in present:
            continue
        if code in w.seen and w.worst >= Action.TREAT_AS_WITHDRAW:
            continue  # already counted as malformed
        w.fail(Action.TREAT_AS_WITHDRAW, f"{AttrCode(code).name} missing (RFC 7606 §3 d)")


def _apply_as4(
    items: list[AttrItem], as4_path: bytes | None, as4_aggr: bytes | None, upd: Update
) -> None:
    """RFC 6793 §4.2.3: fold a 2-octet speaker's AS4_PATH / AS4_AGGREGATOR into the 4-octet form."""
    idx = {c: i for i, (c, _f, _v) in enumerate(items)}
    if as4_aggr is not None and AttrCode.AGGREGATOR in idx:
        i = idx[AttrCode.AGGREGATOR]
        code, flags, value = items[i]
        if len(as4_aggr) != AGGREGATOR4_LEN or int.from_bytes(value[:AS4_LEN], "big") != AS_TRANS:
            # §4.2.3: an AGGREGATOR that is not AS_TRANS means the aggregating speaker was
            # 2-octet: AS4_AGGREGATOR and AS4_PATH are both ignored.
            upd.notes.append("AS4_AGGREGATOR and AS4_PATH ignored (AGGREGATOR is not AS_TRANS)")
            return
        items[i] = (code, flags, as4_aggr)
    if as4_path is not None and AttrCode.AS_PATH in idx:
        path4 = decode_as_path(as4_path, AS4_LEN)
        if path4 is None or any(t in CONFED_SEGMENTS for t, _ in path4):
            upd.notes.append("malformed AS4_PATH discarded (RFC 6793 §6)")
            return
        i = idx[AttrCode.AS_PATH]
        code, flags, value = items[i]
        path = decode_as_path(value, AS4_LEN) or ()
        merged = encode_as_path(merge_as4_path(path, path4), AS4_LEN)
        if len(merged) > MAX_ATTR_LEN:
            # Same bound as in _as_path: keep AS_PATH rather than build an unencodable value.
            upd.notes.append("AS4_PATH ignored: merged path exceeds 65535 octets")
            return
        items[i] = (code, flags, merged)
