"""Hostile BGP peers: what each one sends and what the route reflector must answer.

Every `Case` is one configured peer (its own source address, so no case can disturb another)
that connects to the reflector and misbehaves in one way: before, instead of, or after a
valid OPEN handshake. The expected answer is the one the RFCs ask for: the exact NOTIFICATION
(code, subcode, and data where RFC 4271 §6 / RFC 7313 §5 define it) and the session torn
down, or no NOTIFICATION (RFC 7606 treat-as-withdraw, attribute discard, "ignore") and the
session still up. Route outcomes are checked from a bystander's view: a clean peer of the
same reflector must (not) see the probe prefix, and a reflected unknown attribute must reach it
with the Partial bit set.

The hostile side is deliberately independent of pyrr's codec: every message is built here,
octet by octet, from the RFC layouts, and what the reflector sends back is cut with a framer
of its own (any length up to 65535, so an oversized message from the reflector is seen).

`run_case(case, env)` runs one case with blocking sockets; an `Env` supplies the socket (on
loopback or inside a lab namespace) and the bystander's view, so the same table runs against
pyrr in-process (tests/hostile/test_hostile.py), `pyrr run` in a lab with a BIRD 2 bystander,
or any other reflector (BIRD 2 as RR, for comparison).

A case checks, in this order: the NOTIFICATION (or its absence: a valid "sentinel" route sent
after the payload must reach the bystander, which also proves that whatever the payload
announced would have reached it by then), the timing when a timer must fire, the session's fate
(closed by the reflector after its NOTIFICATION, or still up), the bystander's view of the probe
prefix, and finally `env.health()`: reflector alive, every bystander session up since the start
with its routes intact.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_network
from typing import Literal, Protocol

MARKER = b"\xff" * 16
ASN = 64512
EBGP_ASN = 65001
AttrItem = tuple[int, int, bytes]  # (type code, flags, value)

# Message types (RFC 4271 §4.1, RFC 2918 §3).
OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE_REFRESH = 1, 2, 3, 4, 5
# Attribute flags (RFC 4271 §4.3).
OPT, TRANS, PARTIAL, EXT = 0x80, 0x40, 0x20, 0x10
WK = TRANS  # well-known: transitive, not optional
OPT_T = OPT | TRANS
# Unknown attribute type codes safe to send through any reflector to BIRD, FRR, pyrr: none of
# them is assigned to an attribute these implementations decode (40 Prefix-SID, 128 ATTR_SET
# and 254/255 are avoided; BIRD uses 254 internally).
UNKNOWN_CODES: tuple[int, ...] = (*range(41, 128), *range(129, 201))


# ---------------------------------------------------------------------------------------------
# Building messages (RFC layouts, no pyrr code involved)


def msg(mtype: int, body: bytes = b"", length: int | None = None, marker: bytes = MARKER) -> bytes:
    """A message with its header; `length` overrides the length field (to lie about it)."""
    n = 19 + len(body) if length is None else length
    return marker + struct.pack("!HB", n, mtype) + body


KEEPALIVE_MSG = msg(KEEPALIVE)


def cap(code: int, value: bytes = b"") -> tuple[int, bytes]:
    return (code, value)


def mp_cap(afi: int, safi: int = 1) -> tuple[int, bytes]:
    return (1, struct.pack("!HBB", afi, 0, safi))


def as4_cap(asn: int) -> tuple[int, bytes]:
    return (65, struct.pack("!I", asn))


def default_caps(
    asn: int, v6: bool = True, enhanced: bool = True, extended_message: bool = False
) -> list[tuple[int, bytes]]:
    caps = [mp_cap(1)]
    if v6:
        caps.append(mp_cap(2))
    caps.append(cap(2))  # route refresh (RFC 2918)
    if enhanced:
        caps.append(cap(70))  # enhanced route refresh (RFC 7313)
    caps.append(as4_cap(asn))
    if extended_message:
        caps.append(cap(6))  # RFC 8654
    return caps


def open_body(
    asn: int,
    router_id: int,
    *,
    hold: int = 90,
    caps: Sequence[tuple[int, bytes]] | None = None,
    version: int = 4,
    my_as: int | None = None,
    params: bytes | None = None,
) -> bytes:
    """An OPEN body; capabilities go in one optional parameter of type 2 (RFC 5492 §4)."""
    if params is None:
        tlvs = b"".join(
            bytes((c, len(v))) + v for c, v in (caps if caps is not None else default_caps(asn))
        )
        params = bytes((2, len(tlvs))) + tlvs if tlvs else b""
    field_as = my_as if my_as is not None else (asn if asn <= 0xFFFF else 23456)
    return struct.pack("!BHHIB", version, field_as, hold, router_id, len(params)) + params


def open_msg(asn: int, router_id: int, **kw: object) -> bytes:
    return msg(OPEN, open_body(asn, router_id, **kw))  # type: ignore[arg-type]


def attr(flags: int, code: int, value: bytes) -> bytes:
    """One path attribute; the Extended Length bit is added when the value needs it."""
    if len(value) > 255 or flags & EXT:
        return struct.pack("!BBH", flags | EXT, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def raw_attr(flags: int, code: int, length: int, value: bytes) -> bytes:
    """An attribute whose length field says `length` whatever the value is (to overrun)."""
    if flags & EXT:
        return struct.pack("!BBH", flags, code, length) + value
    return struct.pack("!BBB", flags, code, length) + value


def prefix(text: str) -> bytes:
    net = ip_network(text)
    n = net.prefixlen
    return bytes((n,)) + net.network_address.packed[: (n + 7) // 8]


def update_body(withdrawn: bytes = b"", attrs: bytes = b"", nlri: bytes = b"") -> bytes:
    return (
        struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", len(attrs)) + attrs + nlri
    )


def update(withdrawn: bytes = b"", attrs: bytes = b"", nlri: bytes = b"") -> bytes:
    return msg(UPDATE, update_body(withdrawn, attrs, nlri))


def as_path_value(asns: Sequence[int], seg_type: int = 2) -> bytes:
    if not asns:
        return b""
    return bytes((seg_type, len(asns))) + struct.pack("!%dI" % len(asns), *asns)


def mp_reach(afi: int, safi: int, next_hop: bytes, nlri: bytes) -> bytes:
    return attr(OPT, 14, struct.pack("!HBB", afi, safi, len(next_hop)) + next_hop + b"\0" + nlri)


def mp_unreach(afi: int, safi: int, nlri: bytes) -> bytes:
    return attr(OPT, 15, struct.pack("!HB", afi, safi) + nlri)


def route_refresh(afi: int, safi: int, subtype: int = 0) -> bytes:
    return msg(ROUTE_REFRESH, struct.pack("!HBB", afi, subtype, safi))


def notification(code: int, subcode: int, data: bytes = b"") -> bytes:
    return msg(NOTIFICATION, bytes((code, subcode)) + data)


# ---------------------------------------------------------------------------------------------
# Per-case context


@dataclass(frozen=True)
class Ctx:
    """What a case knows when it builds its messages."""

    index: int
    address: str  # the hostile peer's source address (IPv4)
    asn: int  # the AS it announces
    rr_id: int  # the reflector's BGP identifier
    cluster_id: int  # the reflector's cluster id
    prefix: str  # IPv4 probe prefix, e.g. 10.99.7.0/24
    sentinel: str  # IPv4 prefix announced validly after the payload
    prefix6: str  # IPv6 probe prefix
    next_hop6: str  # an IPv6 next hop on the lab's segment

    @property
    def router_id(self) -> int:
        return int(IPv4Address(self.address))

    @property
    def nh4(self) -> bytes:
        return IPv4Address(self.address).packed

    @property
    def nh6(self) -> bytes:
        return IPv6Address(self.next_hop6).packed

    @property
    def ebgp(self) -> bool:
        return self.asn != ASN

    def origin(self, value: int = 0) -> bytes:
        return attr(WK, 1, bytes((value,)))

    def as_path(self) -> bytes:
        # RFC 4271 §5.1.2: an external peer puts its AS first; internal peers send it empty.
        return attr(WK, 2, as_path_value([self.asn] if self.ebgp else []))

    def next_hop(self) -> bytes:
        return attr(WK, 3, self.nh4)

    def local_pref(self) -> bytes:
        return b"" if self.ebgp else attr(WK, 5, struct.pack("!I", 100))

    def base(
        self,
        *,
        origin: bool = True,
        as_path: bool = True,
        next_hop: bool = True,
        local_pref: bool = True,
    ) -> bytes:
        """The mandatory attributes of a valid IPv4 announcement, minus the ones switched off."""
        return b"".join(
            (
                self.origin() if origin else b"",
                self.as_path() if as_path else b"",
                self.next_hop() if next_hop else b"",
                self.local_pref() if local_pref else b"",
            )
        )

    def announce(self, pfx: str | None = None, extra: bytes = b"") -> bytes:
        return update(attrs=self.base() + extra, nlri=prefix(pfx or self.prefix))

    def withdraw(self, pfx: str | None = None) -> bytes:
        return update(withdrawn=prefix(pfx or self.prefix))

    def announce6(self, pfx: str | None = None, extra: bytes = b"") -> bytes:
        reach = mp_reach(2, 1, self.nh6, prefix(pfx or self.prefix6))
        return update(attrs=reach + self.base(next_hop=False) + extra)

    def open(self, **kw: object) -> bytes:
        return open_msg(self.asn, self.router_id, **kw)


# ---------------------------------------------------------------------------------------------
# Cases

Mode = Literal["established", "raw", "openconfirm"]
RouteExpect = Literal["absent", "present", "withdrawn"] | None


@dataclass(frozen=True)
class Deviation:
    """pyrr's known, documented departure from the RFC answer for one case (the test accepts
    it, the report shows it): a fix that would break a test pinning the current answer."""

    notification: tuple[int, int, bytes | None]
    why: str


@dataclass(frozen=True)
class Case:
    name: str
    group: str  # header, open, fsm, update, mp, refresh, rr, load, timer
    rfc: str
    sends: str  # what the hostile peer does, in words
    payload: Callable[[Ctx], bytes | list[bytes]] | None = None
    mode: Mode = "established"
    # The expected NOTIFICATION: (code, subcode, data or None = not checked); None = none.
    notify: (
        tuple[int, int, bytes | None] | Callable[[Ctx], tuple[int, int, bytes | None]] | None
    ) = None
    route: RouteExpect = None  # the bystander's view of ctx.prefix afterwards
    route6: RouteExpect = None  # ... of ctx.prefix6
    route_ext: RouteExpect = None  # ... of ctx.prefix at a bystander with extended messages
    pre_announce: bool = False  # announce ctx.prefix validly first (and see it arrive)
    attr_check: Callable[[Ctx, list[AttrItem]], str] | None = None  # on the bystander's copy
    attr_note: str = ""  # what attr_check checks, for the report
    open: Callable[[Ctx], bytes] | None = None  # the handshake OPEN (default: a valid one)
    asn: int = ASN  # the peer's AS (pyrr is configured with it; EBGP_ASN makes an eBGP peer)
    configured_asn: int | None = None  # what the reflector is told, when it must differ
    rr_hold: int | None = None  # hold time configured on the reflector for this peer
    timer: Literal["open_wait", "hold"] | None = None  # a timer must fire; bound checked
    peer_closes: bool = False  # the peer itself ends the session (no NOTIFICATION expected)
    wait: float = 4.0  # how long to wait for the NOTIFICATION
    deviation: Deviation | None = None
    # Another answer the RFCs also allow (a MAY), e.g. RFC 5492 §3's Unsupported Capability.
    alternative: tuple[int, int, bytes | None] | None = None

    @property
    def expects_notification(self) -> bool:
        return self.notify is not None

    def expected_notification(self, ctx: Ctx) -> tuple[int, int, bytes | None] | None:
        n = self.notify
        return n(ctx) if callable(n) else n


def _u16(n: int) -> bytes:
    return struct.pack("!H", n)


def _bad_marker(c: Ctx) -> bytes:
    return msg(KEEPALIVE, marker=b"\xff" * 8 + b"\x00" + b"\xff" * 7)


def _whole_rr(length: int, body: bytes) -> bytes:
    return msg(ROUTE_REFRESH, body, length=length)


def _as_path_1000_segments(c: Ctx) -> bytes:
    segs = b"".join(bytes((2, 1)) + struct.pack("!I", 64600 + i % 100) for i in range(1000))
    return update(
        attrs=c.origin() + attr(WK, 2, segs) + c.next_hop() + c.local_pref(), nlri=prefix(c.prefix)
    )


def _as_path_1000_asns(c: Ctx) -> bytes:
    asns = [64600 + i % 100 for i in range(1000)]
    segs = b"".join(as_path_value(asns[i : i + 250]) for i in range(0, 1000, 250))
    return update(
        attrs=c.origin() + attr(WK, 2, segs) + c.next_hop() + c.local_pref(), nlri=prefix(c.prefix)
    )


def _many_unknown(c: Ctx) -> bytes:
    # 1,300 zero-length optional attributes cycling over the unknown codes: odd codes
    # transitive, even codes not. RFC 7606 §3 g keeps the first of each code.
    attrs = bytearray(c.base())
    for i in range(1300):
        code = UNKNOWN_CODES[i % len(UNKNOWN_CODES)]
        attrs += attr(OPT_T if code % 2 else OPT, code, b"")
    return update(attrs=bytes(attrs), nlri=prefix(c.prefix))


def _check_partial(c: Ctx, items: list[AttrItem]) -> str:
    got = {code: flags for code, flags, _v in items if code in UNKNOWN_CODES}
    want = {code for code in UNKNOWN_CODES if code % 2}
    if set(got) != want:
        missing = sorted(want - set(got))[:5]
        extra = sorted(set(got) - want)[:5]
        return f"unknown attributes passed on: missing {missing}..., unexpected {extra}..."
    want_flags = OPT | TRANS | PARTIAL
    bad = {code: f for code, f in got.items() if f & want_flags != want_flags}
    if bad:
        return f"Partial bit not set on {sorted(bad)[:5]}"
    return ""


def _check_no(code: int) -> Callable[[Ctx, list[AttrItem]], str]:
    def check(c: Ctx, items: list[AttrItem]) -> str:
        return (
            f"attribute {code} should have been discarded"
            if any(i[0] == code for i in items)
            else ""
        )

    return check


def _check_origin(value: int) -> Callable[[Ctx, list[AttrItem]], str]:
    def check(c: Ctx, items: list[AttrItem]) -> str:
        got = [v for code, _f, v in items if code == 1]
        return "" if got == [bytes((value,))] else f"ORIGIN {got}, expected the first one"

    return check


def _reflect_grows(c: Ctx) -> bytes:
    # Exactly 4096 octets; the reflector adds ORIGINATOR_ID and CLUSTER_LIST (RFC 4456 §8).
    comms = b"".join(struct.pack("!HH", 64512, i) for i in range(1011))
    m = update(attrs=c.base() + attr(OPT_T, 8, comms), nlri=prefix(c.prefix))
    assert len(m) == 4096, len(m)
    return m


def _churn(c: Ctx) -> list[bytes]:
    one = c.announce() + c.withdraw()
    return [one * 100 for _ in range(10)] + [c.announce()]


def _ext_open(c: Ctx) -> bytes:
    return c.open(caps=default_caps(c.asn, extended_message=True))


def _mp_attr_bytes(c: Ctx, nhlen: int) -> bytes:
    return mp_reach(
        2, 1, c.nh6[:nhlen] if nhlen <= 16 else c.nh6 + bytes(nhlen - 16), prefix(c.prefix6)
    )


def cases() -> list[Case]:
    """The table, in the order it runs. Ctx-dependent bytes are built by functions."""
    A = ASN
    out: list[Case] = []
    add = out.append

    # -- message header (RFC 4271 §4.1, §6.1) ---------------------------------------------
    add(
        Case(
            "hdr-bad-marker",
            "header",
            "RFC 4271 §6.1",
            "KEEPALIVE whose marker has a zero octet",
            _bad_marker,
            notify=(1, 1, b""),
        )
    )
    add(
        Case(
            "hdr-bad-marker-instead-of-open",
            "header",
            "RFC 4271 §6.1",
            "bad marker as the first message",
            _bad_marker,
            mode="raw",
            notify=(1, 1, b""),
        )
    )
    add(
        Case(
            "hdr-length-0",
            "header",
            "RFC 4271 §6.1",
            "header with length 0",
            lambda c: msg(KEEPALIVE, length=0),
            notify=(1, 2, _u16(0)),
        )
    )
    add(
        Case(
            "hdr-length-18",
            "header",
            "RFC 4271 §6.1",
            "header with length 18 (< 19)",
            lambda c: msg(UPDATE, length=18),
            notify=(1, 2, _u16(18)),
        )
    )
    add(
        Case(
            "hdr-length-4097",
            "header",
            "RFC 4271 §6.1, RFC 8654 §3",
            "UPDATE of 4097 octets, extended messages not negotiated",
            lambda c: msg(UPDATE, bytes(4078)),
            notify=(1, 2, _u16(4097)),
        )
    )
    add(
        Case(
            "hdr-length-65535",
            "header",
            "RFC 4271 §6.1",
            "length field 65535 (only the header sent)",
            lambda c: msg(UPDATE, length=65535),
            notify=(1, 2, _u16(65535)),
        )
    )
    add(
        Case(
            "hdr-extended-message-allowed",
            "header",
            "RFC 8654 §3",
            "extended messages negotiated; a valid 5,000-octet UPDATE",
            lambda c: c.announce(
                extra=attr(OPT_T, 8, b"".join(struct.pack("!HH", 64512, i) for i in range(1240)))
            ),
            open=_ext_open,
            route="absent",
            route_ext="present",
        )
    )
    add(
        Case(
            "hdr-keepalive-with-body",
            "header",
            "RFC 4271 §6.1",
            "KEEPALIVE with a 1-octet body (length 20)",
            lambda c: msg(KEEPALIVE, b"\x00"),
            notify=(1, 2, _u16(20)),
        )
    )
    add(
        Case(
            "hdr-open-too-short",
            "header",
            "RFC 4271 §6.1",
            "OPEN of 28 octets (minimum 29) instead of OPEN",
            lambda c: msg(OPEN, bytes(9)),
            mode="raw",
            notify=(1, 2, _u16(28)),
        )
    )
    add(
        Case(
            "hdr-update-too-short",
            "header",
            "RFC 4271 §6.1",
            "UPDATE of 22 octets",
            lambda c: msg(UPDATE, b"\x00\x00\x00"),
            notify=(1, 2, _u16(22)),
        )
    )
    add(
        Case(
            "hdr-notification-too-short",
            "header",
            "RFC 4271 §6.1",
            "NOTIFICATION of 20 octets",
            lambda c: msg(NOTIFICATION, b"\x06"),
            notify=(1, 2, _u16(20)),
        )
    )
    add(
        Case(
            "hdr-type-0",
            "header",
            "RFC 4271 §6.1",
            "message type 0",
            lambda c: msg(0),
            notify=(1, 3, b"\x00"),
        )
    )
    add(
        Case(
            "hdr-type-255",
            "header",
            "RFC 4271 §6.1",
            "message type 255",
            lambda c: msg(255, b"junk"),
            notify=(1, 3, b"\xff"),
        )
    )
    add(
        Case(
            "hdr-type-7-instead-of-open",
            "header",
            "RFC 4271 §6.1",
            "unknown type 7 as the first message",
            lambda c: msg(7),
            mode="raw",
            notify=(1, 3, b"\x07"),
        )
    )

    # -- OPEN (RFC 4271 §6.2, RFC 5492, RFC 6793, RFC 7911) ---------------------------------
    add(
        Case(
            "open-version-3",
            "open",
            "RFC 4271 §6.2",
            "OPEN with version 3",
            lambda c: c.open(version=3),
            mode="raw",
            notify=(2, 1, _u16(4)),
        )
    )
    add(
        Case(
            "open-version-5",
            "open",
            "RFC 4271 §6.2",
            "OPEN with version 5",
            lambda c: c.open(version=5),
            mode="raw",
            notify=(2, 1, _u16(4)),
        )
    )
    add(
        Case(
            "open-hold-1",
            "open",
            "RFC 4271 §6.2",
            "hold time 1",
            lambda c: c.open(hold=1),
            mode="raw",
            notify=(2, 6, None),
        )
    )
    add(
        Case(
            "open-hold-2",
            "open",
            "RFC 4271 §6.2",
            "hold time 2",
            lambda c: c.open(hold=2),
            mode="raw",
            notify=(2, 6, None),
        )
    )
    add(
        Case(
            "open-hold-0",
            "open",
            "RFC 4271 §4.2",
            "hold time 0 (no keepalives): valid",
            open=lambda c: c.open(hold=0),
            payload=lambda c: c.announce(),
            route="present",
        )
    )
    add(
        Case(
            "open-bgp-id-0",
            "open",
            "RFC 4271 §6.2, RFC 6286 §2.2",
            "BGP identifier 0",
            lambda c: open_msg(c.asn, 0),
            mode="raw",
            notify=(2, 3, None),
        )
    )
    add(
        Case(
            "open-bgp-id-ours",
            "open",
            "RFC 6286 §2.2",
            "iBGP OPEN with the reflector's own BGP identifier",
            lambda c: open_msg(c.asn, c.rr_id),
            mode="raw",
            notify=(2, 3, None),
        )
    )
    add(
        Case(
            "open-wrong-as",
            "open",
            "RFC 4271 §6.2",
            "OPEN from AS 65099 (configured 64512)",
            lambda c: open_msg(65099, c.router_id),
            mode="raw",
            notify=(2, 2, None),
        )
    )
    add(
        Case(
            "open-wrong-as4-capability",
            "open",
            "RFC 4271 §6.2, RFC 6793 §4.1",
            "My AS 64512 but the 4-octet AS capability says 4200000000",
            lambda c: c.open(my_as=A, caps=[mp_cap(1), as4_cap(4200000000)]),
            mode="raw",
            notify=(2, 2, None),
        )
    )
    add(
        Case(
            "open-unknown-optional-parameter",
            "open",
            "RFC 4271 §6.2",
            "optional parameter type 3 (unknown)",
            lambda c: c.open(params=b"\x03\x02\x00\x00"),
            mode="raw",
            notify=(2, 4, None),
        )
    )
    add(
        Case(
            "open-auth-parameter",
            "open",
            "RFC 4271 §6.2, RFC 5492 §4",
            "optional parameter type 1 (deprecated authentication)",
            lambda c: c.open(params=b"\x01\x01\x00"),
            mode="raw",
            notify=(2, 4, None),
        )
    )
    add(
        Case(
            "open-params-overrun",
            "open",
            "RFC 4271 §6.2",
            "optional parameters length larger than the parameters",
            lambda c: msg(
                OPEN,
                struct.pack("!BHHIB", 4, A, 90, c.router_id, 20)
                + b"\x02\x06\x01\x04\x00\x01\x00\x01",
            ),
            mode="raw",
            notify=(2, 0, None),
        )
    )
    add(
        Case(
            "open-capability-overrun",
            "open",
            "RFC 5492 §4",
            "a capability whose length runs past its parameter",
            lambda c: c.open(params=b"\x02\x04\x41\x08\x00\x00"),
            mode="raw",
            notify=(2, 0, None),
        )
    )
    add(
        Case(
            "open-dup-as4-first-wrong",
            "open",
            "RFC 4271 §6.2, RFC 5492 §4",
            "two 4-octet AS capabilities: 65099 then 64512",
            lambda c: c.open(caps=[mp_cap(1), as4_cap(65099), as4_cap(A)]),
            mode="raw",
            notify=(2, 2, None),
        )
    )
    add(
        Case(
            "open-dup-as4-second-wrong",
            "open",
            "RFC 4271 §6.2, RFC 5492 §4",
            "two 4-octet AS capabilities: 64512 then 65099",
            lambda c: c.open(caps=[mp_cap(1), as4_cap(A), as4_cap(65099)]),
            mode="raw",
            notify=(2, 2, None),
        )
    )
    add(
        Case(
            "open-dup-same-capabilities",
            "open",
            "RFC 5492 §4",
            "every capability twice (identical repeats are legal)",
            open=lambda c: c.open(caps=default_caps(c.asn) * 2),
            payload=lambda c: c.announce(),
            route="present",
        )
    )
    add(
        Case(
            "open-addpath-bad-mode",
            "open",
            "RFC 7911 §4",
            "ADD-PATH capability with Send/Receive 0: treated as not received",
            open=lambda c: c.open(caps=[*default_caps(c.asn), cap(69, b"\x00\x01\x01\x00")]),
            payload=lambda c: c.announce(),
            route="present",
        )
    )
    add(
        Case(
            "open-as4-capability-short",
            "open",
            "RFC 6793 §3",
            "4-octet AS capability of 2 octets",
            lambda c: c.open(caps=[mp_cap(1), cap(65, b"\xfc\x00")]),
            mode="raw",
            notify=(2, 0, b"\x41\x02\xfc\x00"),
        )
    )
    add(
        Case(
            "open-no-capabilities",
            "open",
            "RFC 4271, RFC 4760 §8",
            "a plain RFC 4271 OPEN (2-octet AS, IPv4 only): valid",
            open=lambda c: c.open(caps=[]),
            payload=lambda c: update(
                attrs=c.origin() + attr(WK, 2, b"") + c.next_hop() + c.local_pref(),
                nlri=prefix(c.prefix),
            ),
            route="present",
        )
    )
    add(
        Case(
            "open-unknown-family-only",
            "open",
            "RFC 4760 §8",
            "capabilities for L2VPN EVPN only: no family in common, session up, nothing read",
            open=lambda c: c.open(caps=[mp_cap(25, 70), as4_cap(c.asn)]),
            payload=lambda c: update(withdrawn=prefix(c.prefix)),
            alternative=(2, 7, None),
        )
    )

    # -- FSM (RFC 4271 §8.2.2, RFC 6608) ---------------------------------------------------
    add(
        Case(
            "fsm-update-in-opensent",
            "fsm",
            "RFC 6608 §4",
            "UPDATE instead of OPEN",
            lambda c: c.announce(),
            mode="raw",
            notify=(5, 1, b""),
        )
    )
    add(
        Case(
            "fsm-keepalive-in-opensent",
            "fsm",
            "RFC 6608 §4",
            "KEEPALIVE instead of OPEN",
            lambda c: KEEPALIVE_MSG,
            mode="raw",
            notify=(5, 1, b""),
        )
    )
    add(
        Case(
            "fsm-route-refresh-in-opensent",
            "fsm",
            "RFC 6608 §4",
            "ROUTE-REFRESH instead of OPEN",
            lambda c: route_refresh(1, 1),
            mode="raw",
            notify=(5, 1, b""),
        )
    )
    add(
        Case(
            "fsm-open-in-openconfirm",
            "fsm",
            "RFC 6608 §4",
            "a second OPEN instead of KEEPALIVE",
            lambda c: c.open(),
            mode="openconfirm",
            notify=(5, 2, b""),
        )
    )
    add(
        Case(
            "fsm-update-in-openconfirm",
            "fsm",
            "RFC 6608 §4",
            "UPDATE instead of KEEPALIVE",
            lambda c: c.announce(),
            mode="openconfirm",
            notify=(5, 2, b""),
        )
    )
    add(
        Case(
            "fsm-open-in-established",
            "fsm",
            "RFC 6608 §4",
            "OPEN once Established",
            lambda c: c.open(),
            notify=(5, 3, b""),
            pre_announce=True,
            route="withdrawn",
        )
    )
    add(
        Case(
            "fsm-peer-cease",
            "fsm",
            "RFC 4271 §8.2.2",
            "the peer sends Cease: closed without a NOTIFICATION back",
            lambda c: notification(6, 2),
            peer_closes=True,
            pre_announce=True,
            route="withdrawn",
        )
    )

    # -- UPDATE attributes (RFC 7606 §7, RFC 4271 §6.3) ------------------------------------
    def taw(name: str, rfc: str, sends: str, bad: Callable[[Ctx], bytes]) -> None:
        """Treat-as-withdraw: the valid route announced first must disappear."""
        add(
            Case(
                name,
                "update",
                rfc,
                sends,
                lambda c: update(attrs=bad(c), nlri=prefix(c.prefix)),
                pre_announce=True,
                route="withdrawn",
            )
        )

    taw(
        "attr-origin-bad-value",
        "RFC 7606 §7.1",
        "ORIGIN 3",
        lambda c: c.origin(3) + c.base(origin=False),
    )
    taw(
        "attr-origin-bad-length",
        "RFC 7606 §7.1",
        "ORIGIN of 2 octets",
        lambda c: attr(WK, 1, b"\x00\x00") + c.base(origin=False),
    )
    taw(
        "attr-origin-bad-flags",
        "RFC 7606 §3 c, §7.1",
        "ORIGIN flagged optional",
        lambda c: attr(OPT_T, 1, b"\x00") + c.base(origin=False),
    )
    taw(
        "attr-as-path-bad-segment-type",
        "RFC 7606 §7.2",
        "AS_PATH segment type 5",
        lambda c: attr(WK, 2, as_path_value([A], 5)) + c.base(as_path=False),
    )
    taw(
        "attr-as-path-zero-length-segment",
        "RFC 7606 §7.2",
        "AS_PATH segment of 0 ASes",
        lambda c: attr(WK, 2, b"\x02\x00") + c.base(as_path=False),
    )
    taw(
        "attr-as-path-overrun",
        "RFC 7606 §7.2",
        "AS_PATH segment claims 3 ASes, holds 1",
        lambda c: attr(WK, 2, b"\x02\x03" + struct.pack("!I", A)) + c.base(as_path=False),
    )
    taw(
        "attr-as-path-underrun",
        "RFC 7606 §7.2",
        "AS_PATH with one stray trailing octet",
        lambda c: attr(WK, 2, as_path_value([A]) + b"\x02") + c.base(as_path=False),
    )
    taw(
        "attr-next-hop-length-5",
        "RFC 7606 §7.3",
        "NEXT_HOP of 5 octets",
        lambda c: attr(WK, 3, c.nh4 + b"\x00") + c.base(next_hop=False),
    )
    add(
        Case(
            "attr-next-hop-zero",
            "update",
            "RFC 4271 §6.3, RFC 7606 §7.3",
            "NEXT_HOP 0.0.0.0 (semantically incorrect: route ignored)",
            lambda c: update(
                attrs=c.base(next_hop=False) + attr(WK, 3, bytes(4)), nlri=prefix(c.prefix)
            ),
            route="absent",
        )
    )
    add(
        Case(
            "attr-next-hop-multicast",
            "update",
            "RFC 4271 §6.3, RFC 7606 §7.3",
            "NEXT_HOP 224.0.0.1 (semantically incorrect: route ignored)",
            lambda c: update(
                attrs=c.base(next_hop=False) + attr(WK, 3, b"\xe0\x00\x00\x01"),
                nlri=prefix(c.prefix),
            ),
            route="absent",
        )
    )
    taw(
        "attr-med-length-3",
        "RFC 7606 §7.4",
        "MULTI_EXIT_DISC of 3 octets",
        lambda c: c.base() + attr(OPT, 4, b"\x00\x00\x01"),
    )
    taw(
        "attr-local-pref-length-2",
        "RFC 7606 §7.5",
        "LOCAL_PREF of 2 octets",
        lambda c: c.base(local_pref=False) + attr(WK, 5, b"\x00\x64"),
    )
    add(
        Case(
            "attr-atomic-aggregate-with-data",
            "update",
            "RFC 7606 §7.6",
            "ATOMIC_AGGREGATE with 1 octet (attribute discard)",
            lambda c: c.announce(extra=attr(WK, 6, b"\x01")),
            route="present",
            attr_check=_check_no(6),
            attr_note="ATOMIC_AGGREGATE dropped",
        )
    )
    add(
        Case(
            "attr-aggregator-length-7",
            "update",
            "RFC 7606 §7.7",
            "AGGREGATOR of 7 octets on a 4-octet AS session (attribute discard)",
            lambda c: c.announce(extra=attr(OPT_T, 7, bytes(7))),
            route="present",
            attr_check=_check_no(7),
            attr_note="AGGREGATOR dropped",
        )
    )
    taw(
        "attr-communities-length-5",
        "RFC 7606 §7.8",
        "COMMUNITIES of 5 octets",
        lambda c: c.base() + attr(OPT_T, 8, bytes(5)),
    )
    taw(
        "attr-communities-length-0",
        "RFC 7606 §7.8",
        "COMMUNITIES of 0 octets",
        lambda c: c.base() + attr(OPT_T, 8, b""),
    )
    taw(
        "attr-originator-id-length-5",
        "RFC 7606 §7.9",
        "ORIGINATOR_ID of 5 octets",
        lambda c: c.base() + attr(OPT, 9, bytes(5)),
    )
    taw(
        "attr-cluster-list-length-6",
        "RFC 7606 §7.10",
        "CLUSTER_LIST of 6 octets",
        lambda c: c.base() + attr(OPT, 10, bytes(6)),
    )
    taw(
        "attr-ext-communities-length-12",
        "RFC 7606 §7.14",
        "EXTENDED_COMMUNITIES of 12 octets",
        lambda c: c.base() + attr(OPT_T, 16, bytes(12)),
    )
    taw(
        "attr-large-communities-length-13",
        "RFC 8092 §6",
        "LARGE_COMMUNITIES of 13 octets",
        lambda c: c.base() + attr(OPT_T, 32, bytes(13)),
    )
    add(
        Case(
            "attr-unknown-well-known",
            "update",
            "RFC 4271 §6.3",
            "unrecognized well-known attribute (type 100, flags 0x40)",
            lambda c: update(attrs=c.base() + attr(WK, 100, b"\x01\x02"), nlri=prefix(c.prefix)),
            notify=(3, 2, attr(WK, 100, b"\x01\x02")),
            pre_announce=True,
            route="withdrawn",
        )
    )
    taw("attr-missing-origin", "RFC 7606 §3 d", "no ORIGIN", lambda c: c.base(origin=False))
    taw("attr-missing-as-path", "RFC 7606 §3 d", "no AS_PATH", lambda c: c.base(as_path=False))
    taw(
        "attr-missing-next-hop",
        "RFC 7606 §3 d",
        "no NEXT_HOP (IPv4 NLRI)",
        lambda c: c.base(next_hop=False),
    )
    taw(
        "attr-overruns-attribute-field",
        "RFC 7606 §4",
        "last attribute's length runs past the attribute field",
        lambda c: c.base() + raw_attr(OPT_T, 8, 40, bytes(8)),
    )
    add(
        Case(
            "attr-duplicate-origin",
            "update",
            "RFC 7606 §3 g",
            "ORIGIN twice (IGP, then INCOMPLETE): the first is kept",
            lambda c: c.announce(extra=c.origin(2)),
            route="present",
            attr_check=_check_origin(0),
            attr_note="first ORIGIN kept",
        )
    )
    add(
        Case(
            "attr-origin-extended-length-flag",
            "update",
            "RFC 4271 §4.3, RFC 7606 §3 c",
            "ORIGIN with the Extended Length bit (legal)",
            lambda c: update(
                attrs=raw_attr(WK | EXT, 1, 1, b"\x00") + c.base(origin=False),
                nlri=prefix(c.prefix),
            ),
            route="present",
        )
    )
    add(
        Case(
            "update-withdrawn-length-overrun",
            "update",
            "RFC 4271 §6.3, RFC 7606 §4",
            "withdrawn routes length larger than the message",
            lambda c: msg(UPDATE, _u16(200) + prefix(c.prefix) + _u16(0)),
            notify=(3, 1, b""),
            pre_announce=True,
            route="withdrawn",
        )
    )
    add(
        Case(
            "update-attribute-length-overrun",
            "update",
            "RFC 4271 §6.3, RFC 7606 §4",
            "total path attribute length larger than the message",
            lambda c: msg(UPDATE, _u16(0) + _u16(500) + c.base()),
            notify=(3, 1, b""),
            pre_announce=True,
            route="withdrawn",
        )
    )
    add(
        Case(
            "nlri-prefix-length-33",
            "update",
            "RFC 4271 §6.3, RFC 7606 §5.3",
            "IPv4 NLRI with prefix length 33",
            lambda c: update(attrs=c.base(), nlri=b"\x21" + bytes(5)),
            notify=(3, 10, b""),
            pre_announce=True,
            route="withdrawn",
        )
    )
    add(
        Case(
            "withdrawn-prefix-length-33",
            "update",
            "RFC 4271 §6.3, RFC 7606 §5.3",
            "withdrawn route with prefix length 33",
            lambda c: update(withdrawn=b"\x21" + bytes(5)),
            notify=(3, 10, b""),
        )
    )
    add(
        Case(
            "withdraw-unknown-prefixes",
            "update",
            "RFC 4271 §9",
            "withdrawal of 200 prefixes never announced",
            lambda c: update(withdrawn=b"".join(prefix(f"10.250.{i}.0/24") for i in range(200))),
            pre_announce=True,
            route="present",
        )
    )
    add(
        Case(
            "as-path-1000-segments",
            "load",
            "RFC 4271 §4.3, RFC 8654 §4",
            "AS_PATH of 1,000 one-AS segments (6,000 octets, extended messages negotiated)",
            _as_path_1000_segments,
            open=_ext_open,
            route="absent",
            route_ext="present",
        )
    )
    add(
        Case(
            "as-path-1000-asns",
            "load",
            "RFC 4271 §4.3",
            "AS_PATH of 1,000 ASes in 4 segments",
            _as_path_1000_asns,
            route="present",
        )
    )
    add(
        Case(
            "unknown-attributes-1300",
            "load",
            "RFC 4271 §5, §9.1.3; RFC 7606 §3 g",
            "1,300 zero-length unknown optional attributes in one UPDATE",
            _many_unknown,
            route="present",
            attr_check=_check_partial,
            attr_note="transitive ones passed on once each with Partial set, others dropped",
        )
    )
    add(
        Case(
            "reflected-update-outgrows-4096",
            "load",
            "RFC 8654 §4, RFC 7606 §2",
            "a 4,096-octet UPDATE; reflection adds ORIGINATOR_ID and CLUSTER_LIST",
            _reflect_grows,
            route="absent",
            route_ext="present",
        )
    )
    add(
        Case(
            "churn-1000",
            "load",
            "RFC 4271 §9",
            "announce/withdraw one prefix 1,000 times back to back, then announce",
            _churn,
            route="present",
        )
    )

    # -- MP-BGP (RFC 4760, RFC 7606 §7.11) -------------------------------------------------
    add(
        Case(
            "mp-reach-next-hop-length-5",
            "mp",
            "RFC 7606 §7.11, RFC 4760 §7, RFC 4271 §6.3",
            "MP_REACH_NLRI (IPv6) with a 5-octet next hop",
            lambda c: update(attrs=_mp_attr_bytes(c, 5) + c.base(next_hop=False)),
            notify=lambda c: (3, 9, _mp_attr_bytes(c, 5)),
        )
    )
    add(
        Case(
            "mp-reach-prefix-length-129",
            "mp",
            "RFC 7606 §5.3, RFC 4760 §7",
            "MP_REACH_NLRI (IPv6) with prefix length 129",
            lambda c: update(
                attrs=mp_reach(2, 1, c.nh6, b"\x81" + bytes(17)) + c.base(next_hop=False)
            ),
            notify=lambda c: (3, 9, mp_reach(2, 1, c.nh6, b"\x81" + bytes(17))),
        )
    )
    add(
        Case(
            "mp-reach-family-not-negotiated",
            "mp",
            "RFC 4760 §6",
            "IPv4-only session; MP_REACH_NLRI for IPv6 (ignored)",
            lambda c: c.announce6(),
            open=lambda c: c.open(caps=default_caps(c.asn, v6=False)),
            route6="absent",
        )
    )
    add(
        Case(
            "mp-reach-duplicate",
            "mp",
            "RFC 7606 §3 g",
            "MP_REACH_NLRI twice",
            lambda c: update(
                attrs=mp_reach(2, 1, c.nh6, prefix(c.prefix6)) * 2 + c.base(next_hop=False)
            ),
            notify=(3, 1, b""),
        )
    )
    add(
        Case(
            "mp-unreach-duplicate",
            "mp",
            "RFC 7606 §3 g",
            "MP_UNREACH_NLRI twice",
            lambda c: update(attrs=mp_unreach(2, 1, prefix(c.prefix6)) * 2),
            notify=(3, 1, b""),
        )
    )
    add(
        Case(
            "mp-reach-valid-ipv6",
            "mp",
            "RFC 4760 §3",
            "a valid IPv6 route (control case)",
            lambda c: c.announce6(),
            route6="present",
        )
    )

    # -- ROUTE-REFRESH (RFC 2918, RFC 7313) ------------------------------------------------
    add(
        Case(
            "refresh-length-24",
            "refresh",
            "RFC 7313 §5",
            "ROUTE-REFRESH of 24 octets",
            lambda c: _whole_rr(24, b"\x00\x01\x00\x01\x00"),
            notify=lambda c: (7, 1, _whole_rr(24, b"\x00\x01\x00\x01\x00")),
        )
    )
    add(
        Case(
            "refresh-length-22",
            "refresh",
            "RFC 7313 §5",
            "ROUTE-REFRESH of 22 octets",
            lambda c: _whole_rr(22, b"\x00\x01\x00"),
            notify=lambda c: (7, 1, _whole_rr(22, b"\x00\x01\x00")),
        )
    )
    add(
        Case(
            "refresh-family-not-negotiated",
            "refresh",
            "RFC 2918 §4",
            "ROUTE-REFRESH for AFI 25 / SAFI 70 (ignored)",
            lambda c: route_refresh(25, 70),
            pre_announce=True,
            route="present",
        )
    )
    add(
        Case(
            "refresh-borr-without-enhanced",
            "refresh",
            "RFC 7313 §4-5",
            "BoRR and EoRR without the enhanced route refresh capability (ignored)",
            lambda c: route_refresh(1, 1, 1) + route_refresh(1, 1, 2),
            open=lambda c: c.open(caps=default_caps(c.asn, enhanced=False)),
            pre_announce=True,
            route="present",
        )
    )
    add(
        Case(
            "refresh-unknown-subtype",
            "refresh",
            "RFC 7313 §5",
            "ROUTE-REFRESH with subtype 7 (ignored)",
            lambda c: route_refresh(1, 1, 7),
            pre_announce=True,
            route="present",
        )
    )

    # -- RFC 4456 loops --------------------------------------------------------------------
    add(
        Case(
            "rr-originator-id-is-ours",
            "rr",
            "RFC 4456 §8",
            "a route whose ORIGINATOR_ID is the reflector's router id",
            lambda c: c.announce(extra=attr(OPT, 9, struct.pack("!I", c.rr_id))),
            route="absent",
        )
    )
    add(
        Case(
            "rr-cluster-list-has-ours",
            "rr",
            "RFC 4456 §8",
            "a route whose CLUSTER_LIST contains the reflector's cluster id",
            lambda c: c.announce(extra=attr(OPT, 10, struct.pack("!II", 0x01020304, c.cluster_id))),
            route="absent",
        )
    )

    # -- eBGP peers -------------------------------------------------------------------------
    add(
        Case(
            "ebgp-as-path-wrong-first-as",
            "update",
            "RFC 4271 §6.3, RFC 7606 §7.2",
            "eBGP peer; AS_PATH not starting with its AS (treat-as-withdraw)",
            lambda c: update(
                attrs=c.origin() + attr(WK, 2, as_path_value([65002])) + c.next_hop(),
                nlri=prefix(c.prefix),
            ),
            asn=EBGP_ASN,
            pre_announce=True,
            route="withdrawn",
        )
    )
    add(
        Case(
            "ebgp-local-pref-discarded",
            "update",
            "RFC 7606 §7.5",
            "eBGP peer sends LOCAL_PREF (attribute discard)",
            lambda c: update(
                attrs=c.base() + attr(WK, 5, struct.pack("!I", 500)), nlri=prefix(c.prefix)
            ),
            asn=EBGP_ASN,
            route="present",
        )
    )

    # -- timers ----------------------------------------------------------------------------
    add(
        Case(
            "silent-after-connect",
            "timer",
            "RFC 4271 §8.2.2 (OpenSent, HoldTimer)",
            "connects and sends nothing",
            None,
            mode="raw",
            notify=(4, 0, b""),
            timer="open_wait",
        )
    )
    add(
        Case(
            "half-open",
            "timer",
            "RFC 4271 §8.2.2 (OpenSent, HoldTimer)",
            "sends the first 20 octets of an OPEN, then nothing",
            lambda c: c.open()[:20],
            mode="raw",
            notify=(4, 0, b""),
            timer="open_wait",
        )
    )
    add(
        Case(
            "truncated-header-opensent",
            "timer",
            "RFC 4271 §8.2.2 (OpenSent, HoldTimer)",
            "10 octets of a header instead of OPEN, then nothing",
            lambda c: MARKER[:10],
            mode="raw",
            notify=(4, 0, b""),
            timer="open_wait",
        )
    )
    add(
        Case(
            "truncated-header-established",
            "timer",
            "RFC 4271 §6.5",
            "Established (hold 3); 10 octets of a header, then nothing",
            lambda c: MARKER[:10],
            notify=(4, 0, b""),
            rr_hold=3,
            timer="hold",
            pre_announce=True,
            route="withdrawn",
        )
    )
    add(
        Case(
            "silent-established",
            "timer",
            "RFC 4271 §6.5",
            "Established (hold 3); then no KEEPALIVE",
            None,
            notify=(4, 0, b""),
            rr_hold=3,
            timer="hold",
        )
    )
    return out


CASES: tuple[Case, ...] = tuple(cases())
CASE_NAMES: tuple[str, ...] = tuple(c.name for c in CASES)
assert len(set(CASE_NAMES)) == len(CASE_NAMES)


def case_index(name: str) -> int:
    """1-based, stable: the case's address and prefixes derive from it."""
    return CASE_NAMES.index(name) + 1


def make_ctx(case: Case, address: str, rr_id: int, cluster_id: int, next_hop6: str) -> Ctx:
    i = case_index(case.name)
    return Ctx(
        index=i,
        address=address,
        asn=case.asn,
        rr_id=rr_id,
        cluster_id=cluster_id,
        prefix=f"10.99.{i}.0/24",
        sentinel=f"10.98.{i}.0/24",
        prefix6=f"2001:db8:99:{i:x}::/64",
        next_hop6=next_hop6,
    )


# ---------------------------------------------------------------------------------------------
# Running a case


class Env(Protocol):
    """Where a case runs: the reflector's socket address and identity, and a bystander."""

    rr_id: int
    cluster_id: int
    open_wait: float  # the reflector's OpenSent hold timer, seconds
    extended_bystander: bool  # a bystander with RFC 8654 extended messages exists

    def connect(self, source: str) -> socket.socket: ...

    def address_for(self, case: Case) -> str: ...

    def next_hop6_for(self, case: Case) -> str: ...

    def bystander_has(self, pfx: str) -> bool: ...

    def bystander_attrs(self, pfx: str) -> list[AttrItem] | None: ...

    def extended_bystander_has(self, pfx: str) -> bool: ...

    def health(self) -> list[str]: ...


@dataclass
class Result:
    case: Case
    expected: str
    got: str = ""
    passed: bool = False
    deviation: bool = False
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


class _Wire:
    """The hostile end of the connection: writes bytes, cuts what comes back into messages."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.messages: list[tuple[int, bytes]] = []
        self.notification: tuple[int, int, bytes] | None = None
        self.notification_at: float | None = None
        self.eof = False
        self.reset = False
        self.oversized: list[int] = []
        self.cursor = 0  # messages before this index were consumed by wait_type
        self.up_at_end: bool | None = None  # still up when we said goodbye (no-error cases)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self.reset = True

    def poll(self, timeout: float) -> None:
        """Read what is there (waiting up to `timeout` for the first bytes)."""
        if self.eof:
            return
        end = time.monotonic() + timeout
        while True:
            left = max(0.0, end - time.monotonic())
            r, _w, _x = select.select([self.sock], [], [], left)
            if not r:
                return
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, OSError):
                self.eof = self.reset = True
                return
            if not data:
                self.eof = True
                self._cut()
                return
            self.buf += data
            self._cut()
            end = time.monotonic()  # got something: drain without waiting further

    def _cut(self) -> None:
        while len(self.buf) >= 19:
            length, mtype = struct.unpack_from("!HB", self.buf, 16)
            if length < 19:
                self.buf.clear()
                return
            if len(self.buf) < length:
                return
            body = bytes(self.buf[19:length])
            del self.buf[:length]
            if length > 4096:
                self.oversized.append(length)
            self.messages.append((mtype, body))
            if mtype == NOTIFICATION and self.notification is None and len(body) >= 2:
                self.notification = (body[0], body[1], body[2:])
                self.notification_at = time.monotonic()

    def wait_for(self, pred: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not pred():
            if self.eof or time.monotonic() > end:
                return pred()
            self.poll(min(0.05, max(0.0, end - time.monotonic())))
        return True

    def wait_type(self, mtype: int, timeout: float) -> bool:
        """Wait for the next message of `mtype` after those already consumed."""

        def found() -> bool:
            for i in range(self.cursor, len(self.messages)):
                if self.messages[i][0] == mtype:
                    self.cursor = i + 1
                    return True
            return False

        return self.wait_for(lambda: found() or self.notification is not None, timeout) and (
            self.cursor > 0 and self.messages[self.cursor - 1][0] == mtype
        )

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _fmt_notification(n: tuple[int, int, bytes | None] | None) -> str:
    if n is None:
        return "no NOTIFICATION"
    code, sub, data = n
    if data is None:
        return f"NOTIFICATION {code}/{sub}"
    return f"NOTIFICATION {code}/{sub}" + (f" data {data.hex()}" if data else "")


def _fmt_data(data: bytes) -> str:
    return data.hex() if len(data) <= 12 else f"{data[:10].hex()}...({len(data)} octets)"


def describe_expected(case: Case, ctx: Ctx, open_wait: float) -> str:
    n = case.expected_notification(ctx)
    if n is None:
        parts = ["no NOTIFICATION", "closed by the peer" if case.peer_closes else "session up"]
    else:
        code, sub, data = n
        text = f"{code}/{sub}"
        if data:
            text += f" data {_fmt_data(data)}"
        parts = [text, "session closed"]
    if case.timer == "open_wait":
        parts.append(f"after the open-wait timer ({open_wait:g} s)")
    elif case.timer == "hold":
        parts.append(f"after the hold time ({case.rr_hold} s)")
    words = {
        "absent": "route not reflected",
        "present": "route reflected",
        "withdrawn": "earlier route withdrawn",
    }
    if case.route:
        parts.append(words[case.route])
    if case.route6:
        parts.append("IPv6 " + words[case.route6])
    if case.route_ext:
        parts.append(words[case.route_ext] + " to an extended-message peer")
    if case.attr_note:
        parts.append(case.attr_note)
    if case.alternative is not None:
        parts.append(f"(or {_fmt_notification(case.alternative)[13:]}, RFC 5492 §3 MAY)")
    return "; ".join(parts)


def run_case(case: Case, env: Env) -> Result:
    address = env.address_for(case)
    ctx = make_ctx(case, address, env.rr_id, env.cluster_id, env.next_hop6_for(case))
    res = Result(case, describe_expected(case, ctx, env.open_wait))
    t0 = time.monotonic()
    problems = res.problems
    try:
        sock = env.connect(address)
    except OSError as exc:
        res.got = f"connect failed: {exc}"
        problems.append(res.got)
        return res
    wire = _Wire(sock)
    try:
        _drive(case, ctx, env, wire, problems)
    finally:
        wire.close()
    got = wire.notification
    res.got = _fmt_notification(got)
    if case.expects_notification or got is not None:
        res.got += "; session closed" if wire.eof else "; session still open"
    elif wire.up_at_end is not None:
        res.got += "; session up" if wire.up_at_end else "; session closed by the reflector"
    else:
        res.got += "; closed" if wire.eof else "; session up"
    if wire.oversized:
        problems.append(f"reflector sent messages longer than 4096 octets: {wire.oversized[:3]}")
    want = case.expected_notification(ctx)
    matched = _matches(want, got)
    if not matched and case.deviation is not None and _matches(case.deviation.notification, got):
        res.deviation = True
        matched = True
    if not matched and case.alternative is not None and _matches(case.alternative, got):
        # The RFC-allowed alternative: the session's later steps do not apply.
        problems.clear()
        res.got += " (an answer the RFC also allows)"
        matched = True
    if not matched:
        problems.insert(0, f"expected {_fmt_notification(want)}, got {_fmt_notification(got)}")
    problems.extend(env.health())
    res.seconds = time.monotonic() - t0
    res.passed = not problems
    return res


def _matches(
    want: tuple[int, int, bytes | None] | None, got: tuple[int, int, bytes] | None
) -> bool:
    if want is None or got is None:
        return want is None and got is None
    return want[:2] == got[:2] and (want[2] is None or want[2] == got[2])


def _drive(case: Case, ctx: Ctx, env: Env, wire: _Wire, problems: list[str]) -> None:
    payload = case.payload(ctx) if case.payload is not None else b""
    chunks = payload if isinstance(payload, list) else [payload] if payload else []
    started = time.monotonic()
    if case.mode != "raw" and not _handshake(case, ctx, env, wire, problems):
        return
    last_send = _send_chunks(wire, chunks)
    if case.expects_notification:
        _expect_notification(case, ctx, env, wire, problems, started, last_send)
    elif case.peer_closes:
        _expect_peer_closes(case, ctx, env, wire, problems)
    else:
        _expect_session_up(case, ctx, env, wire, problems)


def _handshake(case: Case, ctx: Ctx, env: Env, wire: _Wire, problems: list[str]) -> bool:
    """Take the session as far as `case.mode` (OpenConfirm, or Established and the valid
    pre-announcement seen at the bystander). False, with the problem noted, if it stopped."""
    wire.send(case.open(ctx) if case.open is not None else ctx.open())
    if not wire.wait_type(OPEN, 5):
        problems.append(f"no OPEN from the reflector ({_fmt_notification(wire.notification)})")
        return False
    if case.mode != "established":
        return True
    wire.send(KEEPALIVE_MSG)
    if not wire.wait_type(KEEPALIVE, 5):
        problems.append("session did not come up: " + _fmt_notification(wire.notification))
        return False
    if not case.pre_announce:
        return True
    wire.send(ctx.announce())
    if not _wait_bystander(env, wire, ctx.prefix, True, 8):
        problems.append(f"valid announcement of {ctx.prefix} never reached the bystander")
        return False
    return True


def _send_chunks(wire: _Wire, chunks: list[bytes]) -> float:
    """Send the payload, a short pause between chunks; returns when the last one went."""
    last_send = time.monotonic()
    for i, chunk in enumerate(chunks):
        if i:
            time.sleep(0.02)
        wire.send(chunk)
        last_send = time.monotonic()
    return last_send


def _expect_notification(
    case: Case,
    ctx: Ctx,
    env: Env,
    wire: _Wire,
    problems: list[str],
    started: float,
    last_send: float,
) -> None:
    bound = {"open_wait": env.open_wait, "hold": float(case.rr_hold or 0)}.get(
        case.timer or "", 0.0
    )
    wire.wait_for(lambda: wire.notification is not None, bound + case.wait)
    if case.timer is not None and wire.notification_at is not None:
        ref = started if case.timer == "open_wait" else last_send
        _check_timer(wire.notification_at - ref, bound, problems)
    # The reflector closes after its NOTIFICATION (RFC 4271 §8.2.2: -> Idle).
    if wire.notification is not None and not wire.wait_for(lambda: wire.eof, 5):
        problems.append("connection still open 5 s after the NOTIFICATION")
    _check_withdrawn_at_end(case, ctx, env, wire, problems)


def _check_timer(took: float, bound: float, problems: list[str]) -> None:
    # RFC 4271 §10 lets timers jitter (BIRD fires up to 25 % early).
    if not min(bound - 1.0, 0.75 * bound) <= took <= bound + 3.0:
        problems.append(f"timer fired after {took:.1f} s, expected about {bound:g} s")


def _expect_peer_closes(case: Case, ctx: Ctx, env: Env, wire: _Wire, problems: list[str]) -> None:
    wire.poll(0.2)
    if not wire.wait_for(lambda: wire.eof, 5):
        problems.append("connection still open 5 s after our NOTIFICATION")
    _check_withdrawn_at_end(case, ctx, env, wire, problems)


def _check_withdrawn_at_end(
    case: Case, ctx: Ctx, env: Env, wire: _Wire, problems: list[str]
) -> None:
    """The session ended: a case whose route must be withdrawn checks the bystander."""
    if case.route == "withdrawn" and not _wait_bystander(env, wire, ctx.prefix, False, 8):
        problems.append(f"{ctx.prefix} still at the bystander after the session ended")


def _expect_session_up(case: Case, ctx: Ctx, env: Env, wire: _Wire, problems: list[str]) -> None:
    # No NOTIFICATION expected: a valid sentinel route after the payload must reach the
    # bystander (unless the session carries no IPv4), which also orders the checks below
    # after whatever the payload did.
    if case.name != "open-unknown-family-only":
        wire.send(ctx.announce(ctx.sentinel))
        if not _wait_bystander(env, wire, ctx.sentinel, True, 10):
            problems.append(
                "the session stopped carrying routes (sentinel never reflected)"
                if wire.notification is None
                else "session reset"
            )
    wire.poll(0.1)
    if wire.eof:
        problems.append("the reflector closed the session")
    _check_routes(case, ctx, env, wire, problems)
    wire.up_at_end = not wire.eof
    wire.send(notification(6, 2))  # a clean goodbye: Cease / Administrative Shutdown
    wire.poll(0.05)


def _check_routes(case: Case, ctx: Ctx, env: Env, wire: _Wire, problems: list[str]) -> None:
    if case.route == "withdrawn":
        if not _wait_bystander(env, wire, ctx.prefix, False, 8):
            problems.append(f"{ctx.prefix} not withdrawn at the bystander (treat-as-withdraw)")
    elif case.route == "absent" and env.bystander_has(ctx.prefix):
        problems.append(f"{ctx.prefix} reached the bystander")
    elif case.route == "present" and not env.bystander_has(ctx.prefix):
        problems.append(f"{ctx.prefix} did not reach the bystander")
    if (
        case.route_ext == "present"
        and env.extended_bystander
        and not _wait(lambda: env.extended_bystander_has(ctx.prefix), 8)
    ):
        problems.append(f"{ctx.prefix} never reached the extended-message bystander")
    if case.route6 == "absent" and env.bystander_has(ctx.prefix6):
        problems.append(f"{ctx.prefix6} reached the bystander")
    if case.route6 == "present" and not _wait(lambda: env.bystander_has(ctx.prefix6), 8):
        problems.append(f"{ctx.prefix6} did not reach the bystander")
    if case.attr_check is not None:
        items = env.bystander_attrs(ctx.prefix)
        if items is not None:
            why = case.attr_check(ctx, items)
            if why:
                problems.append(why)


def _wait(pred: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def _wait_bystander(env: Env, wire: _Wire, pfx: str, present: bool, timeout: float) -> bool:
    """Wait for the bystander to (not) have `pfx`, reading the hostile socket meanwhile."""
    end = time.monotonic() + timeout
    while env.bystander_has(pfx) != present:
        if time.monotonic() > end:
            return False
        if present and (wire.notification is not None or wire.eof):
            return False  # the session died: the route will not come
        wire.poll(0.02)
    return True


# ---------------------------------------------------------------------------------------------
# The report


def result_record(r: Result) -> dict[str, object]:
    return {
        "case": r.case.name,
        "expected": r.expected,
        "got": r.got,
        "passed": r.passed,
        "deviation": r.deviation,
        "problems": r.problems,
        "seconds": round(r.seconds, 2),
    }


def _passed(rec: dict[str, object], pyrr: bool) -> bool:
    # A Deviation is pyrr's documented departure: another implementation giving the same
    # answer departs from the RFC just the same.
    return bool(rec["passed"]) and (pyrr or not rec["deviation"])


def _cell(rec: dict[str, object] | None, pyrr: bool) -> str:
    if rec is None:
        return "-"
    got = str(rec["got"])
    problems = rec.get("problems") or []
    assert isinstance(problems, list)
    if problems:
        got += "; " + "; ".join(str(p)[:160] for p in problems)
    if not _passed(rec, pyrr):
        verdict = "**NO**"
    else:
        verdict = "yes, known deviation" if rec["deviation"] else "yes"
    return f"{got} ({verdict})".replace("|", "/")


def combined_table(runs: dict[str, list[dict[str, object]]]) -> str:
    """One markdown table: expected, then each run's answer. `runs` maps a column title to the
    records of `result_record` (JSON files written by tests/hostile/test_hostile.py)."""
    by_run = {title: {str(r["case"]): r for r in recs} for title, recs in runs.items()}
    head = "| # | case | RFC | the hostile peer sends | expected | " + " | ".join(by_run) + " |"
    lines = [head, "| ---: | --- | --- | --- | --- |" + " --- |" * len(by_run)]
    for c in CASES:
        first = next((recs[c.name] for recs in by_run.values() if c.name in recs), None)
        expected = str(first["expected"]) if first is not None else ""
        cells = " | ".join(
            _cell(recs.get(c.name), t.startswith("pyrr")) for t, recs in by_run.items()
        )
        lines.append(
            f"| {case_index(c.name)} | `{c.name}` | {c.rfc} | {c.sends} | {expected} | {cells} |"
        )
    lines.append("")
    for title, recs in by_run.items():
        mine = title.startswith("pyrr")
        ok = sum(_passed(r, mine) for r in recs.values())
        dev = sum(_passed(r, mine) and bool(r["deviation"]) for r in recs.values())
        lines.append(
            f"- {title}: {ok} of {len(recs)} cases as expected"
            + (f" ({dev} of them a known deviation)" if dev else "")
            + "."
        )
    return "\n".join(lines) + "\n"


def report_table(results: Sequence[Result], title: str) -> str:
    lines = [
        f"### {title}",
        "",
        "| # | case | RFC | the hostile peer sends | expected | got | pass |",
        "| ---: | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        c = r.case
        verdict = (
            "yes"
            if r.passed and not r.deviation
            else ("yes (known deviation)" if r.passed else "**NO**")
        )
        got = r.got
        if r.problems:
            got += "; " + "; ".join(r.problems)
        lines.append(
            f"| {case_index(c.name)} | `{c.name}` | {c.rfc} | {c.sends} | {r.expected}"
            f" | {got} | {verdict} |"
        )
    passed = sum(r.passed for r in results)
    lines += ["", f"{passed} of {len(results)} cases pass."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import json
    import sys

    # python -m tests.hostile.cases DIR: the combined table of DIR/{loopback,lab,bird2}.json
    d = sys.argv[1] if len(sys.argv) > 1 else "."
    titles = {
        "loopback": "pyrr, loopback (SimPeer bystanders)",
        "lab": "pyrr run, lab (BIRD 2 + BIRD 1.6 bystanders)",
        "bird2": "BIRD 2.0 as RR, lab (comparison)",
    }
    runs = {}
    for key, title in titles.items():
        try:
            with open(f"{d}/{key}.json") as fh:
                runs[title] = json.load(fh)
        except FileNotFoundError:
            continue
    print(combined_table(runs), end="")
