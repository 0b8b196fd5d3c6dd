"""BGP capabilities (RFC 5492) and what two OPENs negotiate.

Each capability is decoded into one field of `Capabilities`; codes pyrr does not know are kept
as raw (code, value) pairs and otherwise ignored (RFC 5492 §3: "MUST ignore").
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from .constants import (
    AS4_LEN,
    GR_AF_FORWARDING,
    AddPathMode,
    CapCode,
    ErrCode,
    GRFlags,
    OpenSub,
)
from .errors import BGPError
from .nlri import IPV4_UNICAST, Family

RawCap = tuple[int, bytes]

# The sizes of capability values and of their per-family tuples, each of which starts with
# AFI (2) and SAFI (1).
_AFI_SAFI_LEN = 3
_MULTIPROTOCOL_LEN = 4  # RFC 4760 §8: AFI, reserved, SAFI
_ADD_PATH_LEN = 4  # RFC 7911 §4: AFI, SAFI, Send/Receive
_EXT_NH_LEN = 6  # RFC 8950 §3: NLRI AFI, NLRI SAFI (2 octets here), next hop AFI
_LLGR_FAMILY_LEN = 7  # RFC 9494 §3: AFI, SAFI, flags, long-lived stale time (3)
# RFC 4724 §3: restart flags (4 bits) and restart time (12 bits), then AFI, SAFI, flags tuples.
_GR_HEAD_LEN = 2
_GR_FAMILY_LEN = 4
_GR_FLAGS_SHIFT = 12
_GR_TIME_MASK = 0x0FFF
_GR_KNOWN_FLAGS = GRFlags.RESTART | GRFlags.NOTIFICATION
# RFC 7911 §4: the only Send/Receive values.
_ADD_PATH_MODES = frozenset({AddPathMode.RECEIVE, AddPathMode.SEND, AddPathMode.BOTH})


@dataclass(frozen=True, slots=True)
class GracefulRestart:
    """RFC 4724 §3: restart flags, restart time, and per-family forwarding-state flags."""

    flags: GRFlags = GRFlags.NONE
    restart_time: int = 120
    families: tuple[tuple[Family, bool], ...] = ()  # (family, F bit)

    @property
    def restarting(self) -> bool:
        return bool(self.flags & GRFlags.RESTART)

    @property
    def notification(self) -> bool:
        """RFC 8538 §2: the N bit, GR also applies after a NOTIFICATION."""
        return bool(self.flags & GRFlags.NOTIFICATION)

    def forwarding_preserved(self, family: Family) -> bool:
        return any(f == family and fwd for f, fwd in self.families)

    def covers(self, family: Family) -> bool:
        return any(f == family for f, _ in self.families)


@dataclass(frozen=True, slots=True)
class LongLivedGR:
    """RFC 9494 §3: per-family long-lived stale time (24 bits)."""

    families: tuple[tuple[Family, int, int], ...] = ()  # (family, flags, stale time)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """The capabilities of one OPEN, decoded."""

    families: tuple[Family, ...] = ()
    route_refresh: bool = False
    route_refresh_cisco: bool = False
    enhanced_route_refresh: bool = False
    four_octet_as: int | None = None
    graceful_restart: GracefulRestart | None = None
    long_lived_gr: LongLivedGR | None = None
    add_path: tuple[tuple[Family, AddPathMode], ...] = ()
    extended_message: bool = False
    extended_next_hop: tuple[tuple[Family, int], ...] = ()  # (NLRI family, next-hop AFI)
    fqdn: tuple[str, str] | None = None  # (hostname, domain)
    unknown: tuple[RawCap, ...] = field(default=())

    def add_path_mode(self, family: Family) -> AddPathMode:
        for fam, mode in self.add_path:
            if fam == family:
                return mode
        return AddPathMode.NONE

    def encode(self) -> bytes:
        """The capability TLVs (RFC 5492 §4), to go inside one optional parameter."""
        out = bytearray()

        def cap(code: int, value: bytes = b"") -> None:
            out.append(code)
            out.append(len(value))
            out.extend(value)

        for afi, safi in self.families:
            cap(CapCode.MULTIPROTOCOL, struct.pack("!HBB", afi, 0, safi))
        if self.route_refresh:
            cap(CapCode.ROUTE_REFRESH)
        if self.route_refresh_cisco:
            cap(CapCode.ROUTE_REFRESH_CISCO)
        if self.enhanced_route_refresh:
            cap(CapCode.ENHANCED_ROUTE_REFRESH)
        if self.extended_message:
            cap(CapCode.EXTENDED_MESSAGE)
        if self.extended_next_hop:
            cap(
                CapCode.EXTENDED_NEXT_HOP,
                b"".join(struct.pack("!HHH", a, s, nh) for (a, s), nh in self.extended_next_hop),
            )
        gr = self.graceful_restart
        if gr is not None:
            val = struct.pack(
                "!H", (int(gr.flags) << _GR_FLAGS_SHIFT) | (gr.restart_time & _GR_TIME_MASK)
            )
            val += b"".join(
                struct.pack("!HBB", a, s, GR_AF_FORWARDING if fwd else 0)
                for (a, s), fwd in gr.families
            )
            cap(CapCode.GRACEFUL_RESTART, val)
        if self.four_octet_as is not None:
            cap(CapCode.FOUR_OCTET_AS, struct.pack("!I", self.four_octet_as))
        if self.add_path:
            cap(
                CapCode.ADD_PATH,
                b"".join(struct.pack("!HBB", a, s, int(m)) for (a, s), m in self.add_path),
            )
        if self.long_lived_gr is not None:
            cap(
                CapCode.LONG_LIVED_GRACEFUL_RESTART,
                b"".join(
                    struct.pack("!HBB", a, s, flags) + stale.to_bytes(3, "big")
                    for (a, s), flags, stale in self.long_lived_gr.families
                ),
            )
        if self.fqdn is not None:
            host = self.fqdn[0].encode()[:255]
            dom = self.fqdn[1].encode()[:255]
            cap(CapCode.FQDN, bytes((len(host),)) + host + bytes((len(dom),)) + dom)
        for code, value in self.unknown:
            cap(code, value)
        return bytes(out)


def _bad_cap(code: int, value: bytes, why: str) -> BGPError:
    # RFC 5492 does not name a subcode for a malformed capability; like BIRD and FRR we answer
    # OPEN Message Error / Unspecific, with the offending TLV as data.
    return BGPError(
        ErrCode.OPEN_MESSAGE,
        OpenSub.UNSPECIFIC,
        bytes((code, len(value))) + value,
        f"malformed capability {code}: {why}",
    )


def split_tlvs(data: bytes) -> list[RawCap]:
    """Split a capabilities optional parameter into (code, value) pairs."""
    caps: list[RawCap] = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + 2 > end:
            raise BGPError(
                ErrCode.OPEN_MESSAGE, OpenSub.UNSPECIFIC, reason="capability header truncated"
            )
        code, length = data[pos], data[pos + 1]
        if pos + 2 + length > end:
            raise BGPError(
                ErrCode.OPEN_MESSAGE, OpenSub.UNSPECIFIC, reason=f"capability {code} overruns"
            )
        caps.append((code, bytes(data[pos + 2 : pos + 2 + length])))
        pos += 2 + length
    return caps


def _afi_safi_list(code: int, value: bytes, size: int) -> list[tuple[Family, bytes]]:
    """Tuples of `size` octets that start with AFI (2) and SAFI (1): (family, the rest)."""
    if len(value) % size:
        raise _bad_cap(code, value, f"length {len(value)} is not a multiple of {size}")
    out = []
    for i in range(0, len(value), size):
        afi, safi = struct.unpack_from("!HB", value, i)
        out.append(((afi, safi), value[i + _AFI_SAFI_LEN : i + size]))
    return out


class _Found:
    """The capabilities of one OPEN as they are decoded, before they become `Capabilities`."""

    __slots__ = ("add_path", "ext_nh", "families", "kw", "unknown")

    def __init__(self) -> None:
        self.families: list[Family] = []
        self.kw: dict[str, object] = {}
        self.add_path: dict[Family, AddPathMode] = {}
        self.ext_nh: list[tuple[Family, int]] = []
        self.unknown: list[RawCap] = []


_CapDecoder = Callable[[_Found, int, bytes], None]


def _multiprotocol(found: _Found, code: int, value: bytes) -> None:
    if len(value) != _MULTIPROTOCOL_LEN:
        raise _bad_cap(code, value, "length must be 4 (RFC 4760 §8)")
    afi, _res, safi = struct.unpack("!HBB", value)
    if (afi, safi) not in found.families:
        found.families.append((afi, safi))


def _present(name: str) -> _CapDecoder:
    """A capability whose presence is all it says (RFC 2918, RFC 7313, RFC 8654)."""

    def decode(found: _Found, code: int, value: bytes) -> None:
        found.kw[name] = True

    return decode


def _four_octet_as(found: _Found, code: int, value: bytes) -> None:
    if len(value) != AS4_LEN:
        raise _bad_cap(code, value, "length must be 4 (RFC 6793 §3)")
    found.kw["four_octet_as"] = struct.unpack("!I", value)[0]


def _graceful_restart(found: _Found, code: int, value: bytes) -> None:
    if len(value) < _GR_HEAD_LEN:
        raise _bad_cap(code, value, "shorter than 2 octets (RFC 4724 §3)")
    (head,) = struct.unpack_from("!H", value)
    # A trailing partial tuple is ignored rather than fatal: GR is an optimisation, and
    # refusing the session over it would lose more than it protects.
    whole = (len(value) - _GR_HEAD_LEN) // _GR_FAMILY_LEN * _GR_FAMILY_LEN
    usable = value[_GR_HEAD_LEN : _GR_HEAD_LEN + whole]
    fams = tuple(
        (fam, bool(rest[0] & GR_AF_FORWARDING))
        for fam, rest in _afi_safi_list(code, usable, _GR_FAMILY_LEN)
    )
    found.kw["graceful_restart"] = GracefulRestart(
        flags=GRFlags((head >> _GR_FLAGS_SHIFT) & _GR_KNOWN_FLAGS),
        restart_time=head & _GR_TIME_MASK,
        families=fams,
    )


def _add_path(found: _Found, code: int, value: bytes) -> None:
    tuples = _afi_safi_list(code, value, _ADD_PATH_LEN)
    if any(rest[0] not in _ADD_PATH_MODES for _fam, rest in tuples):
        # RFC 7911 §4: "If any other value is received, then the capability SHOULD be treated
        # as not received" (refusing the OPEN kept the peer out).
        found.unknown.append((code, value))
        return
    for fam, rest in tuples:
        found.add_path[fam] = AddPathMode(rest[0])


def _long_lived_gr(found: _Found, code: int, value: bytes) -> None:
    llgr = tuple(
        (fam, rest[0], int.from_bytes(rest[1:], "big"))
        for fam, rest in _afi_safi_list(code, value, _LLGR_FAMILY_LEN)
    )
    found.kw["long_lived_gr"] = LongLivedGR(llgr)


def _extended_next_hop(found: _Found, code: int, value: bytes) -> None:
    if len(value) % _EXT_NH_LEN:
        raise _bad_cap(code, value, "length is not a multiple of 6 (RFC 8950 §3)")
    for i in range(0, len(value), _EXT_NH_LEN):
        a, s, nh = struct.unpack_from("!HHH", value, i)
        found.ext_nh.append(((a, s), nh))


def _fqdn(found: _Found, code: int, value: bytes) -> None:
    fqdn = _decode_fqdn(value)
    if fqdn is None:
        found.unknown.append((code, value))
    else:
        found.kw["fqdn"] = fqdn


def _unknown(found: _Found, code: int, value: bytes) -> None:
    found.unknown.append((code, value))  # RFC 5492 §3: ignored, kept for the record


# One decoder per capability code pyrr understands (as update.py has one per attribute).
_DECODERS: dict[int, _CapDecoder] = {
    CapCode.MULTIPROTOCOL: _multiprotocol,
    CapCode.ROUTE_REFRESH: _present("route_refresh"),
    CapCode.ROUTE_REFRESH_CISCO: _present("route_refresh_cisco"),
    CapCode.ENHANCED_ROUTE_REFRESH: _present("enhanced_route_refresh"),
    CapCode.EXTENDED_MESSAGE: _present("extended_message"),
    CapCode.FOUR_OCTET_AS: _four_octet_as,
    CapCode.GRACEFUL_RESTART: _graceful_restart,
    CapCode.ADD_PATH: _add_path,
    CapCode.LONG_LIVED_GRACEFUL_RESTART: _long_lived_gr,
    CapCode.EXTENDED_NEXT_HOP: _extended_next_hop,
    CapCode.FQDN: _fqdn,
}


def decode_capabilities(raw: list[RawCap]) -> Capabilities:
    """Decode a list of capability TLVs.

    Several instances of one code are merged where the RFC expects lists (multiprotocol);
    for the others the last instance wins, as BIRD does.
    """
    found = _Found()
    for code, value in raw:
        _DECODERS.get(code, _unknown)(found, code, value)
    return Capabilities(
        families=tuple(found.families),
        add_path=tuple(found.add_path.items()),
        extended_next_hop=tuple(found.ext_nh),
        unknown=tuple(found.unknown),
        **found.kw,  # type: ignore[arg-type]
    )


def _decode_fqdn(value: bytes) -> tuple[str, str] | None:
    """draft-walton-bgp-hostname-capability: length-prefixed hostname then domain name.

    Malformed is not fatal: the capability is informational, so we keep it as unknown.
    """
    if not value:
        return None
    hl = value[0]
    if 1 + hl + 1 > len(value):
        return None
    dl = value[1 + hl]
    if 2 + hl + dl > len(value):
        return None
    host = value[1 : 1 + hl].decode("utf-8", "replace")
    dom = value[2 + hl : 2 + hl + dl].decode("utf-8", "replace")
    return host, dom


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What a pair of OPENs agreed on (computed once, read on every message)."""

    families: tuple[Family, ...]
    four_octet_as: bool
    hold_time: int
    keepalive_time: int
    route_refresh: bool
    enhanced_route_refresh: bool
    extended_message: bool
    add_path_rx: frozenset[Family]  # we decode path identifiers on these
    add_path_tx: frozenset[Family]  # we must send path identifiers on these
    peer_as: int
    peer_id: int
    peer_caps: Capabilities
    local_caps: Capabilities

    @property
    def peer_gr(self) -> GracefulRestart | None:
        """RFC 4724 §4.2: GR helper behaviour applies only if both advertised the capability."""
        if self.local_caps.graceful_restart is None:
            return None
        return self.peer_caps.graceful_restart


@dataclass(frozen=True, slots=True)
class _Agreement:
    """The part of a negotiation that depends on the two capability sets alone."""

    families: tuple[Family, ...]
    four_octet_as: bool
    route_refresh: bool
    enhanced_route_refresh: bool
    extended_message: bool
    add_path_rx: frozenset[Family]
    add_path_tx: frozenset[Family]


# (local, peer) -> agreement. Keyed by identity: OPEN decoding shares one Capabilities per
# distinct set of optional parameters, so a thousand alike clients agree once. The entry keeps
# both objects alive, so their ids cannot be reused while it exists.
_AGREED: dict[tuple[int, int], tuple[Capabilities, Capabilities, _Agreement]] = {}
_AGREED_MAX = 256


def _agree(local: Capabilities, peer: Capabilities) -> _Agreement:
    key = (id(local), id(peer))
    hit = _AGREED.get(key)
    if hit is not None and hit[0] is local and hit[1] is peer:
        return hit[2]
    # RFC 4760 §8: a speaker that sends no multiprotocol capability supports IPv4 unicast only.
    peer_fams = peer.families or (IPV4_UNICAST,)
    local_fams = local.families or (IPV4_UNICAST,)
    fams = tuple(f for f in local_fams if f in peer_fams)
    # RFC 7911 §4: a direction is on when one side sends and the other receives.
    rx = frozenset(
        f
        for f in fams
        if local.add_path_mode(f) & AddPathMode.RECEIVE and peer.add_path_mode(f) & AddPathMode.SEND
    )
    tx = frozenset(
        f
        for f in fams
        if local.add_path_mode(f) & AddPathMode.SEND and peer.add_path_mode(f) & AddPathMode.RECEIVE
    )
    agreed = _Agreement(
        families=fams,
        four_octet_as=local.four_octet_as is not None and peer.four_octet_as is not None,
        route_refresh=(local.route_refresh or local.route_refresh_cisco)
        and (peer.route_refresh or peer.route_refresh_cisco),
        enhanced_route_refresh=local.enhanced_route_refresh and peer.enhanced_route_refresh,
        extended_message=local.extended_message and peer.extended_message,
        add_path_rx=rx,
        add_path_tx=tx,
    )
    if len(_AGREED) >= _AGREED_MAX:
        _AGREED.clear()
    _AGREED[key] = (local, peer, agreed)
    return agreed


def negotiate(
    local: Capabilities,
    peer: Capabilities,
    local_hold: int,
    peer_hold: int,
    peer_as: int,
    peer_id: int,
) -> Negotiated:
    """RFC 4271 §4.2 hold time (the smaller), RFC 4760 §8 families (both), RFC 7911 §4 ADD-PATH."""
    hold = min(local_hold, peer_hold)
    a = _agree(local, peer)
    return Negotiated(
        families=a.families,
        four_octet_as=a.four_octet_as,
        hold_time=hold,
        keepalive_time=hold // 3,
        route_refresh=a.route_refresh,
        enhanced_route_refresh=a.enhanced_route_refresh,
        extended_message=a.extended_message,
        add_path_rx=a.add_path_rx,
        add_path_tx=a.add_path_tx,
        peer_as=peer_as,
        peer_id=peer_id,
        peer_caps=peer,
        local_caps=local,
    )
