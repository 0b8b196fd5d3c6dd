"""Capabilities (RFC 5492 and the RFCs of each capability) and what two OPENs negotiate."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrr.bgp.capabilities import (
    Capabilities,
    GracefulRestart,
    LongLivedGR,
    decode_capabilities,
    negotiate,
    split_tlvs,
)
from pyrr.bgp.constants import AFI, SAFI, AddPathMode, CapCode, ErrCode, GRFlags, OpenSub
from pyrr.bgp.errors import BGPError
from pyrr.bgp.messages import Open, decode_open
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family

KNOWN_CODES = frozenset(int(c) for c in CapCode)

families = st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFF))
common_families = st.sampled_from([IPV4_UNICAST, IPV6_UNICAST, (1, 2), (2, 2), (25, 70)])


def _unique(
    strategy: st.SearchStrategy[Family], max_size: int
) -> st.SearchStrategy[tuple[Family, ...]]:
    return st.lists(strategy, max_size=max_size, unique=True).map(tuple)


graceful_restarts = st.builds(
    GracefulRestart,
    flags=st.sampled_from(
        [
            GRFlags.NONE,
            GRFlags.RESTART,
            GRFlags.NOTIFICATION,
            GRFlags.RESTART | GRFlags.NOTIFICATION,
        ]
    ),
    restart_time=st.integers(0, 0x0FFF),
    families=st.lists(st.tuples(families, st.booleans()), max_size=4).map(tuple),
)
long_lived = st.builds(
    LongLivedGR,
    st.lists(st.tuples(families, st.integers(0, 255), st.integers(0, 2**24 - 1)), max_size=4).map(
        tuple
    ),
)
add_paths = st.lists(
    st.tuples(families, st.sampled_from([AddPathMode.RECEIVE, AddPathMode.SEND, AddPathMode.BOTH])),
    max_size=4,
    unique_by=lambda t: t[0],
).map(tuple)
ext_nh = st.lists(
    st.tuples(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)), st.integers(0, 0xFFFF)),
    max_size=4,
).map(tuple)
labels = st.text(max_size=20).filter(lambda s: len(s.encode()) <= 60)  # no surrogates
unknown_caps = st.lists(
    st.tuples(st.integers(0, 255).filter(lambda c: c not in KNOWN_CODES), st.binary(max_size=12)),
    max_size=3,
).map(tuple)

capability_sets = st.builds(
    Capabilities,
    families=_unique(families, 4),
    route_refresh=st.booleans(),
    route_refresh_cisco=st.booleans(),
    enhanced_route_refresh=st.booleans(),
    four_octet_as=st.none() | st.integers(0, 2**32 - 1),
    graceful_restart=st.none() | graceful_restarts,
    long_lived_gr=st.none() | long_lived,
    add_path=add_paths,
    extended_message=st.booleans(),
    extended_next_hop=ext_nh,
    fqdn=st.none() | st.tuples(labels, labels),
    unknown=unknown_caps,
)


@given(capability_sets)
def test_every_capability_round_trips(c: Capabilities) -> None:
    assert decode_capabilities(split_tlvs(c.encode())) == c


@given(
    capability_sets.filter(lambda c: len(c.encode()) <= 255),
    st.integers(1, 2**32 - 1),
    st.sampled_from([0, 3, 90, 180, 240, 65535]),
)
def test_open_round_trips_capabilities(c: Capabilities, router_id: int, hold: int) -> None:
    asn = c.four_octet_as if c.four_octet_as is not None else 64512
    op = decode_open(
        Open(asn=asn, hold_time=hold, router_id=router_id, capabilities=c).encode()[19:]
    )
    assert op.capabilities == c
    assert (op.hold_time, op.router_id) == (hold, router_id)
    if c.four_octet_as is not None or asn <= 0xFFFF:
        assert op.asn == asn
    # The raw TLVs are kept as they came (for `pyrr decode` and logging).
    assert list(op.raw_capabilities) == split_tlvs(c.encode())


@pytest.mark.parametrize(
    ("caps", "wire"),
    [
        (Capabilities(families=(IPV4_UNICAST,)), "0104 00010001"),
        (Capabilities(families=(IPV6_UNICAST,)), "0104 00020001"),
        (Capabilities(route_refresh=True), "0200"),
        (Capabilities(route_refresh_cisco=True), "8000"),
        (Capabilities(enhanced_route_refresh=True), "4600"),
        (Capabilities(extended_message=True), "0600"),
        (Capabilities(four_octet_as=4200000001), "4104 fa56ea01"),
        # RFC 4724 §3: restart flags in the top 4 bits, 12-bit time, F bit per family.
        (
            Capabilities(
                graceful_restart=GracefulRestart(GRFlags.NONE, 120, ((IPV4_UNICAST, True),))
            ),
            "4006 0078 00010180",
        ),
        (Capabilities(graceful_restart=GracefulRestart(GRFlags.RESTART, 120, ())), "4002 8078"),
        (
            Capabilities(
                graceful_restart=GracefulRestart(
                    GRFlags.RESTART | GRFlags.NOTIFICATION, 4095, ((IPV6_UNICAST, False),)
                )
            ),
            "4006 cfff 00020100",
        ),
        (
            Capabilities(
                add_path=((IPV4_UNICAST, AddPathMode.BOTH), (IPV6_UNICAST, AddPathMode.RECEIVE))
            ),
            "4508 00010103 00020101",
        ),
        # RFC 8950 §3: NLRI AFI, NLRI SAFI (2 octets), next-hop AFI.
        (Capabilities(extended_next_hop=((IPV4_UNICAST, AFI.IPV6),)), "0506 000100010002"),
        # RFC 9494 §3: AFI, SAFI, flags, 24-bit stale time.
        (
            Capabilities(long_lived_gr=LongLivedGR(((IPV4_UNICAST, 0x80, 86400),))),
            "4707 00010180 015180",
        ),
        (Capabilities(long_lived_gr=LongLivedGR(())), "4700"),
        (Capabilities(fqdn=("node1", "example.com")), "4912 056e6f646531 0b6578616d706c652e636f6d"),
        (Capabilities(unknown=((99, b"\x01\x02"),)), "6302 0102"),
    ],
)
def test_capability_wire_form(caps: Capabilities, wire: str) -> None:
    expected = bytes.fromhex(wire.replace(" ", ""))
    assert caps.encode() == expected
    assert decode_capabilities(split_tlvs(expected)) == caps


def test_encode_order_and_all_together() -> None:
    c = Capabilities(
        families=(IPV4_UNICAST, IPV6_UNICAST),
        route_refresh=True,
        route_refresh_cisco=True,
        enhanced_route_refresh=True,
        four_octet_as=64512,
        graceful_restart=GracefulRestart(GRFlags.NOTIFICATION, 300, ((IPV4_UNICAST, True),)),
        long_lived_gr=LongLivedGR(((IPV6_UNICAST, 0, 3600),)),
        add_path=((IPV4_UNICAST, AddPathMode.SEND),),
        extended_message=True,
        extended_next_hop=((IPV4_UNICAST, AFI.IPV6),),
        fqdn=("h", "d"),
        unknown=((200, b""), (11, b"\xaa")),
    )
    codes = [code for code, _v in split_tlvs(c.encode())]
    assert codes == [1, 1, 2, 128, 70, 6, 5, 64, 65, 69, 71, 73, 200, 11]
    assert decode_capabilities(split_tlvs(c.encode())) == c


def test_empty_capabilities_encode_to_nothing() -> None:
    assert Capabilities().encode() == b""
    assert decode_capabilities([]) == Capabilities()


def test_repeated_multiprotocol_merged_and_deduplicated() -> None:
    raw = [(1, b"\x00\x01\x00\x01"), (1, b"\x00\x02\x00\x01"), (1, b"\x00\x01\x00\x01")]
    assert decode_capabilities(raw).families == (IPV4_UNICAST, IPV6_UNICAST)


def test_multiprotocol_reserved_octet_ignored() -> None:
    assert decode_capabilities([(1, b"\x00\x02\xff\x01")]).families == (IPV6_UNICAST,)


def test_last_instance_wins_for_single_valued() -> None:
    raw = [(65, struct.pack("!I", 1)), (65, struct.pack("!I", 2))]
    assert decode_capabilities(raw).four_octet_as == 2


def test_add_path_entries_merge_per_family() -> None:
    raw = [(69, b"\x00\x01\x01\x01"), (69, b"\x00\x01\x01\x03\x00\x02\x01\x02")]
    c = decode_capabilities(raw)
    assert c.add_path_mode(IPV4_UNICAST) == AddPathMode.BOTH
    assert c.add_path_mode(IPV6_UNICAST) == AddPathMode.SEND
    assert c.add_path_mode((1, 2)) == AddPathMode.NONE


def test_unknown_capabilities_kept_in_order() -> None:
    """RFC 5492 §3: an unknown capability is ignored, but pyrr keeps it for display."""
    raw = [(0, b""), (250, b"xyz"), (1, b"\x00\x01\x00\x01"), (7, b"\x01")]
    c = decode_capabilities(raw)
    assert c.unknown == ((0, b""), (250, b"xyz"), (7, b"\x01"))
    assert c.families == (IPV4_UNICAST,)


def test_graceful_restart_parsing_details() -> None:
    # Reserved restart-flag bits (the low two of the nibble) are ignored; a trailing partial
    # family tuple is ignored rather than fatal.
    value = struct.pack("!H", 0xF000 | 90) + b"\x00\x01\x01\x80" + b"\x00\x02\x01\x7f" + b"\x00\x02"
    gr = decode_capabilities([(64, value)]).graceful_restart
    assert gr == GracefulRestart(
        GRFlags.RESTART | GRFlags.NOTIFICATION, 90, ((IPV4_UNICAST, True), (IPV6_UNICAST, False))
    )
    assert gr.restarting and gr.notification
    assert gr.forwarding_preserved(IPV4_UNICAST)
    assert not gr.forwarding_preserved(IPV6_UNICAST)
    assert gr.covers(IPV6_UNICAST) and not gr.covers((1, 2))
    plain = GracefulRestart()
    assert not plain.restarting and not plain.notification
    assert plain.restart_time == 120


def test_fqdn_decoding() -> None:
    assert decode_capabilities([(73, b"\x02hi\x00")]).fqdn == ("hi", "")
    # Invalid UTF-8 is replaced, never an exception.
    assert decode_capabilities([(73, b"\x01\xff\x00")]).fqdn == ("\ufffd", "")


@pytest.mark.parametrize("value", [b"", b"\x05ab", b"\x02ab", b"\x02ab\x03x"])
def test_malformed_fqdn_kept_as_unknown(value: bytes) -> None:
    """An informational capability: malformed is not worth a NOTIFICATION."""
    c = decode_capabilities([(73, value)])
    assert c.fqdn is None
    assert c.unknown == ((73, value),)


@pytest.mark.parametrize(
    ("code", "value"),
    [
        (1, b"\x00\x01\x01"),  # RFC 4760 §8: exactly 4 octets
        (1, b"\x00\x01\x00\x01\x00"),
        (65, b"\x00\x01"),  # RFC 6793 §3: exactly 4 octets
        (65, b""),
        (64, b"\x00"),  # RFC 4724 §3: at least the 2-octet header
        (69, b"\x00\x01\x01"),  # RFC 7911 §4: 4-octet tuples
        (69, b"\x00\x01\x01\x03\x00"),
        (71, b"\x00\x01\x01\x00\x00\x00"),  # RFC 9494 §3: 7-octet tuples
        (5, b"\x00\x01\x00\x01\x00"),  # RFC 8950 §3: 6-octet tuples
    ],
)
def test_malformed_capability_is_open_error(code: int, value: bytes) -> None:
    with pytest.raises(BGPError) as exc:
        decode_capabilities([(code, value)])
    err = exc.value
    assert (err.code, err.subcode) == (ErrCode.OPEN_MESSAGE, OpenSub.UNSPECIFIC)
    assert err.data == bytes((code, len(value))) + value


@pytest.mark.parametrize("data", [b"\x02", b"\x02\x01", b"\x01\x04\x00\x01\x00", b"\x02\x00\x41"])
def test_split_tlvs_truncation(data: bytes) -> None:
    with pytest.raises(BGPError) as exc:
        split_tlvs(data)
    assert (exc.value.code, exc.value.subcode) == (2, 0)


def test_split_tlvs() -> None:
    assert split_tlvs(b"") == []
    assert split_tlvs(b"\x02\x00\x41\x04\x00\x00\xfd\xe8") == [(2, b""), (65, b"\x00\x00\xfd\xe8")]


# -- negotiation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lh", "ph", "hold", "ka"),
    [
        (90, 30, 30, 10),
        (30, 90, 30, 10),
        (240, 180, 180, 60),
        (0, 90, 0, 0),
        (90, 0, 0, 0),
        (3, 240, 3, 1),
        (10, 10, 10, 3),
    ],
)
def test_hold_time_is_the_smaller(lh: int, ph: int, hold: int, ka: int) -> None:
    """RFC 4271 §4.2: the smaller hold time; keepalive at a third of it (§10)."""
    n = negotiate(Capabilities(), Capabilities(), lh, ph, 1, 2)
    assert (n.hold_time, n.keepalive_time) == (hold, ka)


def test_families_are_the_intersection_in_local_order() -> None:
    local = Capabilities(families=(IPV6_UNICAST, IPV4_UNICAST, (1, 2)))
    peer = Capabilities(families=(IPV4_UNICAST, IPV6_UNICAST, (2, 2)))
    assert negotiate(local, peer, 90, 90, 1, 2).families == (IPV6_UNICAST, IPV4_UNICAST)


def test_no_multiprotocol_means_ipv4_unicast() -> None:
    """RFC 4760 §8: without the capability a speaker does IPv4 unicast only."""
    both = Capabilities(families=(IPV4_UNICAST, IPV6_UNICAST))
    assert negotiate(both, Capabilities(), 90, 90, 1, 2).families == (IPV4_UNICAST,)
    assert negotiate(Capabilities(), both, 90, 90, 1, 2).families == (IPV4_UNICAST,)
    v6 = Capabilities(families=(IPV6_UNICAST,))
    assert negotiate(v6, Capabilities(), 90, 90, 1, 2).families == ()


@pytest.mark.parametrize(
    ("local", "peer", "rx", "tx"),
    [
        (AddPathMode.BOTH, AddPathMode.BOTH, True, True),
        (AddPathMode.RECEIVE, AddPathMode.SEND, True, False),
        (AddPathMode.SEND, AddPathMode.RECEIVE, False, True),
        (AddPathMode.RECEIVE, AddPathMode.RECEIVE, False, False),
        (AddPathMode.SEND, AddPathMode.SEND, False, False),
        (AddPathMode.BOTH, AddPathMode.RECEIVE, False, True),
        (AddPathMode.BOTH, AddPathMode.NONE, False, False),
    ],
)
def test_add_path_directions(local: AddPathMode, peer: AddPathMode, rx: bool, tx: bool) -> None:
    """RFC 7911 §4: we receive path ids only if we said Receive and the peer said Send."""
    lc = Capabilities(families=(IPV4_UNICAST,), add_path=((IPV4_UNICAST, local),))
    pc = Capabilities(families=(IPV4_UNICAST,), add_path=((IPV4_UNICAST, peer),) if peer else ())
    n = negotiate(lc, pc, 90, 90, 1, 2)
    assert (IPV4_UNICAST in n.add_path_rx) is rx
    assert (IPV4_UNICAST in n.add_path_tx) is tx


def test_add_path_only_on_negotiated_families() -> None:
    lc = Capabilities(families=(IPV4_UNICAST,), add_path=((IPV6_UNICAST, AddPathMode.BOTH),))
    pc = Capabilities(
        families=(IPV4_UNICAST, IPV6_UNICAST), add_path=((IPV6_UNICAST, AddPathMode.BOTH),)
    )
    n = negotiate(lc, pc, 90, 90, 1, 2)
    assert n.add_path_rx == frozenset() and n.add_path_tx == frozenset()


@pytest.mark.parametrize(
    ("local", "peer", "expected"),
    [
        ({"route_refresh": True}, {"route_refresh": True}, True),
        ({"route_refresh": True}, {"route_refresh_cisco": True}, True),
        ({"route_refresh_cisco": True}, {"route_refresh": True}, True),
        ({"route_refresh": True}, {}, False),
        ({}, {"route_refresh": True}, False),
    ],
)
def test_route_refresh_either_code(
    local: dict[str, Any], peer: dict[str, Any], expected: bool
) -> None:
    n = negotiate(Capabilities(**local), Capabilities(**peer), 90, 90, 1, 2)
    assert n.route_refresh is expected


def test_flags_need_both_sides() -> None:
    on = Capabilities(enhanced_route_refresh=True, extended_message=True, four_octet_as=1)
    off = Capabilities()
    for a, b, expect in ((on, on, True), (on, off, False), (off, on, False)):
        n = negotiate(a, b, 90, 90, 1, 2)
        assert n.enhanced_route_refresh is expect
        assert n.extended_message is expect
        assert n.four_octet_as is expect


def test_peer_gr_needs_local_gr() -> None:
    """RFC 4724 §4.2: helper behaviour only when we advertised GR ourselves."""
    gr = GracefulRestart(GRFlags.RESTART, 120, ((IPV4_UNICAST, True),))
    with_gr = Capabilities(graceful_restart=GracefulRestart())
    peer = Capabilities(graceful_restart=gr)
    assert negotiate(with_gr, peer, 90, 90, 1, 2).peer_gr == gr
    assert negotiate(Capabilities(), peer, 90, 90, 1, 2).peer_gr is None
    assert negotiate(with_gr, Capabilities(), 90, 90, 1, 2).peer_gr is None


def test_negotiated_keeps_both_capability_sets() -> None:
    local, peer = Capabilities(route_refresh=True), Capabilities(extended_message=True)
    n = negotiate(local, peer, 90, 90, 65001, 42)
    assert (n.local_caps, n.peer_caps, n.peer_as, n.peer_id) == (local, peer, 65001, 42)


def test_safi_enum_values() -> None:
    # The family tuples are plain ints: IntEnums compare equal to them.
    assert (AFI.IPV4, SAFI.UNICAST) == IPV4_UNICAST
