"""UPDATE decoding and encoding (RFC 4271 §4.3, RFC 4760, RFC 7911) with RFC 7606 error handling."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrr.bgp.attributes import (
    EXPECTED_FLAGS,
    AttrItem,
    PathAttrs,
    decode_as_path,
    encode_as_path,
)
from pyrr.bgp.constants import AFI, AS_TRANS, AsPathSegType, AttrCode, AttrFlag, UpdateSub
from pyrr.bgp.encode import end_of_rib, mp_reach_attr, mp_unreach_attr, update_message
from pyrr.bgp.errors import BGPError
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family, encode_prefix
from pyrr.bgp.update import _RULES, Action, Update, UpdateContext, decode_update

from .helpers import attrs_block

SEQ, SET = AsPathSegType.AS_SEQUENCE, AsPathSegType.AS_SET
CSEQ = AsPathSegType.AS_CONFED_SEQUENCE
WK = AttrFlag.TRANSITIVE
OPT = AttrFlag.OPTIONAL
OPT_T = AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE
PARTIAL = AttrFlag.PARTIAL
BOTH = frozenset({IPV4_UNICAST, IPV6_UNICAST})

IBGP = UpdateContext(four_octet_as=True, ibgp=True, peer_as=64512, families=BOTH)
EBGP = UpdateContext(four_octet_as=True, ibgp=False, peer_as=65001, families=BOTH)
AS2_IBGP = UpdateContext(four_octet_as=False, ibgp=True, peer_as=64512, families=BOTH)
AS2_EBGP = UpdateContext(four_octet_as=False, ibgp=False, peer_as=65001, families=BOTH)
ADDPATH = UpdateContext(
    four_octet_as=True, ibgp=True, peer_as=64512, families=BOTH, add_path_rx=BOTH
)


def raw_attr(flags: int, code: int, value: bytes, ext: bool | None = None) -> bytes:
    """An attribute TLV with exactly these flags (encode_attr would normalise them)."""
    if ext or (ext is None and len(value) > 255):
        return struct.pack("!BBH", flags | AttrFlag.EXTENDED_LENGTH, code, len(value)) + value
    return struct.pack("!BBB", flags & ~AttrFlag.EXTENDED_LENGTH, code, len(value)) + value


def pfx(text: str, path_id: int | None = None) -> bytes:
    return encode_prefix(ip_network(text), path_id)


NH4 = IPv4Address("10.0.0.11").packed
NH6 = IPv6Address("fd00::11").packed
NH6_LL = NH6 + IPv6Address("fe80::11").packed
ORIGIN = raw_attr(WK, AttrCode.ORIGIN, b"\x00")
AS_PATH_IBGP = raw_attr(WK, AttrCode.AS_PATH, encode_as_path(((SEQ, (64512,)),)))
AS_PATH_IBGP2 = raw_attr(WK, AttrCode.AS_PATH, encode_as_path(((SEQ, (64512,)),), 2))
AS_PATH_EBGP = raw_attr(WK, AttrCode.AS_PATH, encode_as_path(((SEQ, (65001, 65002)),)))
AS_PATH_EBGP2 = raw_attr(WK, AttrCode.AS_PATH, encode_as_path(((SEQ, (65001, 65002)),), 2))
NEXT_HOP = raw_attr(WK, AttrCode.NEXT_HOP, NH4)
P1, P2 = pfx("10.65.0.0/26"), pfx("192.168.0.0/16")
V6A, V6B = pfx("fd00:10:244::/122"), pfx("2001:db8::/32")


def body(withdrawn: bytes = b"", attrs: bytes = b"", nlri: bytes = b"") -> bytes:
    return update_message(withdrawn, attrs, nlri)[19:]


def base_attrs(ctx: UpdateContext = IBGP, /, **override: bytes | None) -> bytes:
    """ORIGIN, AS_PATH, NEXT_HOP for `ctx`, with some replaced (by name) or left out (None)."""
    parts: dict[str, bytes | None] = {
        "origin": ORIGIN,
        "as_path": (
            (AS_PATH_IBGP if ctx.four_octet_as else AS_PATH_IBGP2)
            if ctx.ibgp
            else (AS_PATH_EBGP if ctx.four_octet_as else AS_PATH_EBGP2)
        ),
        "next_hop": NEXT_HOP,
    }
    parts.update(override)
    return b"".join(p for p in parts.values() if p is not None)


def dec(
    attrs: bytes, nlri: bytes = P1, ctx: UpdateContext = IBGP, withdrawn: bytes = b""
) -> Update:
    return decode_update(body(withdrawn, attrs, nlri), ctx)


def reset(data: bytes, ctx: UpdateContext = IBGP) -> tuple[int, int, bytes]:
    with pytest.raises(BGPError) as exc:
        decode_update(data, ctx)
    return exc.value.code, exc.value.subcode, exc.value.data


def assert_withdrawn(upd: Update, *fragments: str) -> None:
    """RFC 7606 treat-as-withdraw: nothing announced, everything moved to withdrawn."""
    assert upd.announced == []
    assert upd.attrs is None
    assert upd.error
    for f in fragments:
        assert f in upd.error, (f, upd.error)


# -- round trips -------------------------------------------------------------------------------


def test_ipv4_update_round_trip() -> None:
    attrs = PathAttrs(
        [
            (AttrCode.ORIGIN, WK, b"\x00"),
            (AttrCode.AS_PATH, WK, encode_as_path(((SEQ, (64512, 65001)),))),
            (AttrCode.LOCAL_PREF, WK, struct.pack("!I", 100)),
        ]
    )
    msg = update_message(
        withdrawn=pfx("10.66.0.0/26") + pfx("10.0.0.1/32"),
        attrs=attrs_block(attrs, IPV4_UNICAST, NH4),
        nlri=P1 + P2,
    )
    upd = decode_update(msg[19:], IBGP)
    assert upd.announced == [(IPV4_UNICAST, NH4, [P1, P2])]
    assert upd.withdrawn == [(IPV4_UNICAST, [pfx("10.66.0.0/26"), pfx("10.0.0.1/32")])]
    assert upd.attrs == attrs
    assert (upd.error, upd.notes, upd.end_of_rib) == ("", [], None)


@pytest.mark.parametrize("nh", [NH6, NH6_LL], ids=["nh16", "nh32"])
def test_ipv6_mp_reach_round_trip(nh: bytes) -> None:
    attrs = PathAttrs(
        [(AttrCode.ORIGIN, WK, b"\x02"), (AttrCode.AS_PATH, WK, encode_as_path(((SEQ, (64512,)),)))]
    )
    block = attrs_block(attrs, IPV6_UNICAST, nh, mp_nlri=V6A + V6B)
    # RFC 7606 §5.1: MP_REACH_NLRI goes first.
    assert block[1] == AttrCode.MP_REACH_NLRI
    upd = decode_update(body(attrs=block + mp_unreach_attr(IPV6_UNICAST, pfx("fd00:1::/64"))), IBGP)
    assert upd.announced == [(IPV6_UNICAST, nh, [V6A, V6B])]
    assert upd.withdrawn == [(IPV6_UNICAST, [pfx("fd00:1::/64")])]
    assert upd.attrs == attrs
    assert not upd.error


def test_ipv4_and_ipv6_in_one_update() -> None:
    attrs = base_attrs() + mp_reach_attr(IPV6_UNICAST, NH6, V6A)
    upd = dec(attrs, nlri=P1)
    assert upd.announced == [(IPV4_UNICAST, NH4, [P1]), (IPV6_UNICAST, NH6, [V6A])]


def test_ipv4_via_mp_reach_with_ipv6_next_hop() -> None:
    """RFC 8950: IPv4 NLRI with a 16- or 32-octet next hop goes in MP_REACH_NLRI."""
    attrs = PathAttrs([(AttrCode.ORIGIN, WK, b"\x00"), (AttrCode.AS_PATH, WK, b"")])
    block = attrs_block(attrs, IPV4_UNICAST, NH6, mp_nlri=P1)
    assert block[1] == AttrCode.MP_REACH_NLRI
    upd = decode_update(body(attrs=block), IBGP)
    assert upd.announced == [(IPV4_UNICAST, NH6, [P1])]


def test_withdraw_only_update() -> None:
    upd = decode_update(body(withdrawn=P1 + P2), IBGP)
    assert upd.withdrawn == [(IPV4_UNICAST, [P1, P2])]
    assert upd.announced == [] and upd.attrs is None and not upd.error
    upd = decode_update(body(attrs=mp_unreach_attr(IPV6_UNICAST, V6A)), IBGP)
    assert upd.withdrawn == [(IPV6_UNICAST, [V6A])] and upd.end_of_rib is None


def test_attributes_without_nlri_announce_nothing() -> None:
    upd = dec(base_attrs(), nlri=b"")
    assert (upd.announced, upd.withdrawn, upd.attrs, upd.error) == ([], [], None, "")


@pytest.mark.parametrize("family", [IPV4_UNICAST, IPV6_UNICAST])
def test_end_of_rib(family: Family) -> None:
    """RFC 4724 §2: an empty UPDATE (IPv4) or an empty MP_UNREACH_NLRI (others)."""
    msg = end_of_rib(family)
    if family == IPV4_UNICAST:
        assert msg == b"\xff" * 16 + b"\x00\x17\x02\x00\x00\x00\x00"
    else:
        assert msg[19:] == b"\x00\x00\x00\x06\x80\x0f\x03\x00\x02\x01"
    upd = decode_update(msg[19:], IBGP)
    assert upd.end_of_rib == family
    assert (upd.announced, upd.withdrawn, upd.error) == ([], [], "")


def test_add_path_ids_on_both_families() -> None:
    """RFC 7911 §3: a 4-octet path id before each prefix, when add_path_rx has the family."""
    v4 = pfx("10.65.0.0/26", 1) + pfx("10.65.0.0/26", 2)
    v6 = pfx("fd00:10:244::/122", 7)
    attrs = (
        base_attrs()
        + mp_reach_attr(IPV6_UNICAST, NH6, v6)
        + mp_unreach_attr(IPV6_UNICAST, pfx("2001:db8::/32", 9))
    )
    upd = dec(attrs, nlri=v4, ctx=ADDPATH, withdrawn=pfx("10.0.0.0/8", 3))
    assert upd.announced == [
        (IPV4_UNICAST, NH4, [pfx("10.65.0.0/26", 1), pfx("10.65.0.0/26", 2)]),
        (IPV6_UNICAST, NH6, [v6]),
    ]
    assert upd.withdrawn == [
        (IPV4_UNICAST, [pfx("10.0.0.0/8", 3)]),
        (IPV6_UNICAST, [pfx("2001:db8::/32", 9)]),
    ]


def test_add_path_only_for_the_negotiated_family() -> None:
    ctx = UpdateContext(families=BOTH, add_path_rx=frozenset({IPV6_UNICAST}))
    v6 = pfx("fd00::/8", 5)
    upd = dec(base_attrs() + mp_reach_attr(IPV6_UNICAST, NH6, v6), nlri=P1, ctx=ctx)
    assert upd.announced == [(IPV4_UNICAST, NH4, [P1]), (IPV6_UNICAST, NH6, [v6])]
    # The same path-id bytes on a session without ADD-PATH are not prefixes at all.
    assert reset(body(attrs=base_attrs(), nlri=pfx("10.0.0.0/8", 1)))[:2] == (3, 10)


# Hypothesis strategies for a full attribute set.
u32 = st.integers(0, 2**32 - 1)
ipv4_nets = st.builds(lambda a, n: ip_network((a, n), strict=False), u32, st.integers(0, 32))
ipv6_nets = st.builds(
    lambda a, n: IPv6Network((a, n), strict=False), st.integers(0, 2**128 - 1), st.integers(0, 128)
)
as_paths = st.lists(
    st.tuples(st.sampled_from([SEQ, SET]), st.lists(u32, min_size=1, max_size=6).map(tuple)),
    max_size=5,
).map(tuple)
UNKNOWN_CODES = [c for c in range(256) if c not in {int(a) for a in AttrCode}]


@st.composite
def path_attrs(draw: st.DrawFn) -> PathAttrs:
    items: list[AttrItem] = [
        (AttrCode.ORIGIN, WK, bytes((draw(st.integers(0, 2)),))),
        (AttrCode.AS_PATH, WK, encode_as_path(draw(as_paths))),
    ]

    def maybe(code: int, flags: int, value: st.SearchStrategy[bytes]) -> None:
        if draw(st.booleans()):
            items.append((code, flags, draw(value)))

    def packed(fmt: str, elem: st.SearchStrategy[tuple[int, ...]]) -> st.SearchStrategy[bytes]:
        return st.lists(elem, min_size=1, max_size=5).map(
            lambda xs: b"".join(struct.pack(fmt, *x) for x in xs)
        )

    maybe(AttrCode.MULTI_EXIT_DISC, OPT, u32.map(lambda v: struct.pack("!I", v)))
    maybe(AttrCode.LOCAL_PREF, WK, u32.map(lambda v: struct.pack("!I", v)))
    maybe(AttrCode.ATOMIC_AGGREGATE, WK, st.just(b""))
    maybe(AttrCode.AGGREGATOR, OPT_T, st.binary(min_size=8, max_size=8))
    maybe(AttrCode.COMMUNITIES, OPT_T, packed("!I", st.tuples(u32)))
    maybe(AttrCode.ORIGINATOR_ID, OPT, st.binary(min_size=4, max_size=4))
    maybe(AttrCode.CLUSTER_LIST, OPT, packed("!I", st.tuples(u32)))
    maybe(AttrCode.EXTENDED_COMMUNITIES, OPT_T, packed("!Q", st.tuples(st.integers(0, 2**64 - 1))))
    maybe(AttrCode.LARGE_COMMUNITIES, OPT_T, packed("!III", st.tuples(u32, u32, u32)))
    for code in draw(st.lists(st.sampled_from(UNKNOWN_CODES), max_size=3, unique=True)):
        # Received unknown optional transitives carry Partial from then on.
        items.append((code, OPT_T | PARTIAL, draw(st.binary(max_size=300))))
    return PathAttrs(items)


@given(
    path_attrs(),
    st.lists(ipv4_nets, min_size=1, max_size=5, unique=True),
    st.lists(ipv4_nets, max_size=3, unique=True),
)
def test_every_attribute_round_trips_ipv4(
    attrs: PathAttrs, nets: list[object], gone: list[object]
) -> None:
    nlri = [encode_prefix(n) for n in nets]  # type: ignore[arg-type]
    wd = [encode_prefix(n) for n in gone]  # type: ignore[arg-type]
    msg = update_message(b"".join(wd), attrs_block(attrs, IPV4_UNICAST, NH4), b"".join(nlri))
    upd = decode_update(msg[19:], IBGP)
    assert not upd.error, upd.error
    assert upd.attrs == attrs
    assert upd.announced == [(IPV4_UNICAST, NH4, nlri)]
    assert upd.withdrawn == ([(IPV4_UNICAST, wd)] if wd else [])


@given(
    path_attrs(),
    st.lists(ipv6_nets, min_size=1, max_size=5, unique=True),
    st.sampled_from([NH6, NH6_LL]),
    st.booleans(),
)
def test_every_attribute_round_trips_ipv6(
    attrs: PathAttrs, nets: list[IPv6Network], nh: bytes, addpath: bool
) -> None:
    ctx = ADDPATH if addpath else IBGP
    nlri = [encode_prefix(n, i if addpath else None) for i, n in enumerate(nets)]
    msg = update_message(attrs=attrs_block(attrs, IPV6_UNICAST, nh, mp_nlri=b"".join(nlri)))
    upd = decode_update(msg[19:], ctx)
    assert not upd.error, upd.error
    assert upd.attrs == attrs
    assert upd.announced == [(IPV6_UNICAST, nh, nlri)]


@given(path_attrs())
def test_every_attribute_round_trips_through_a_2_octet_session(attrs: PathAttrs) -> None:
    msg = update_message(attrs=attrs_block(attrs, IPV4_UNICAST, NH4, four_octet_as=False), nlri=P1)
    upd = decode_update(msg[19:], AS2_IBGP)
    assert not upd.error, upd.error
    assert upd.attrs == attrs


def test_as_path_2_octet_session_becomes_4_octet() -> None:
    path2 = encode_as_path(((SEQ, (65001, 65002)), (SET, (1, 2, 3))), 2)
    upd = dec(base_attrs(AS2_EBGP, as_path=raw_attr(WK, AttrCode.AS_PATH, path2)), ctx=AS2_EBGP)
    assert upd.attrs is not None
    assert upd.attrs.as_path == ((SEQ, (65001, 65002)), (SET, (1, 2, 3)))
    assert upd.attrs.get(AttrCode.AS_PATH) == encode_as_path(upd.attrs.as_path, 4)


def test_aggregator_2_octet_becomes_4_octet() -> None:
    agg = raw_attr(OPT_T, AttrCode.AGGREGATOR, struct.pack("!H", 65001) + NH4)
    upd = dec(base_attrs(AS2_IBGP) + agg, ctx=AS2_IBGP)
    assert upd.attrs is not None
    assert upd.attrs.get(AttrCode.AGGREGATOR) == struct.pack("!I", 65001) + NH4


def test_canonical_form_drops_extended_length_and_foreign_partial() -> None:
    # Extended Length on a short value, Partial on a well-known attribute: the stored form is
    # the canonical one (RFC 4271 §4.3: Partial only on optional transitive attributes).
    attrs = (
        raw_attr(WK | PARTIAL, AttrCode.ORIGIN, b"\x00", ext=True)
        + AS_PATH_IBGP
        + NEXT_HOP
        + raw_attr(OPT_T | PARTIAL, AttrCode.COMMUNITIES, b"\x00\x01\x00\x02")
        + raw_attr(OPT, AttrCode.MULTI_EXIT_DISC, b"\x00\x00\x00\x05", ext=True)
    )
    upd = dec(attrs)
    assert upd.attrs is not None
    assert upd.attrs.items == (
        (AttrCode.ORIGIN, WK, b"\x00"),
        (AttrCode.AS_PATH, WK, encode_as_path(((SEQ, (64512,)),))),
        (AttrCode.MULTI_EXIT_DISC, OPT, b"\x00\x00\x00\x05"),
        (AttrCode.COMMUNITIES, OPT_T | PARTIAL, b"\x00\x01\x00\x02"),
    )


def test_unknown_optional_transitive_passed_on_with_partial() -> None:
    """RFC 4271 §5: unrecognized optional transitive: passed along, Partial bit set."""
    upd = dec(base_attrs() + raw_attr(OPT_T, 99, b"hello") + raw_attr(OPT_T, 250, bytes(300)))
    assert upd.attrs is not None
    assert upd.attrs.get(99) == b"hello"
    assert (99, OPT_T | PARTIAL, b"hello") in upd.attrs.items
    assert b"\xe0\x63\x05hello" in upd.attrs.wire
    assert b"\xf0\xfa\x01\x2c" in upd.attrs.wire  # extended length kept where needed


def test_unknown_optional_non_transitive_dropped() -> None:
    upd = dec(base_attrs() + raw_attr(OPT, 99, b"hello") + raw_attr(OPT | PARTIAL, 200, b""))
    assert upd.attrs is not None and not upd.error
    assert upd.attrs.get(99) is None and upd.attrs.get(200) is None
    assert upd.announced == [(IPV4_UNICAST, NH4, [P1])]


@pytest.mark.parametrize("ext", [False, True])
def test_unrecognized_well_known_is_session_reset(ext: bool) -> None:
    """RFC 4271 §6.3: Unrecognized Well-known Attribute, data = the attribute."""
    bad = raw_attr(WK, 99, b"\x01\x02", ext=ext)
    assert reset(body(attrs=base_attrs() + bad, nlri=P1)) == (
        3,
        UpdateSub.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
        bad,
    )
    bad0 = raw_attr(0, 42, b"")
    assert reset(body(attrs=bad0)) == (3, 2, bad0)


def test_host_bits_cleared_in_update() -> None:
    upd = dec(base_attrs(), nlri=bytes((24, 10, 1, 2)), withdrawn=bytes((8, 11)))
    assert upd.announced == [(IPV4_UNICAST, NH4, [bytes((24, 10, 1, 2))])]
    upd = dec(base_attrs(), nlri=bytes((23, 10, 1, 3)))
    assert upd.announced[0][2] == [bytes((23, 10, 1, 2))]


# -- session reset (RFC 7606 §3, §5.3) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "sub"),
    [
        (b"", UpdateSub.MALFORMED_ATTRIBUTE_LIST),
        (b"\x00\x00\x00", UpdateSub.MALFORMED_ATTRIBUTE_LIST),
        (b"\x00\x05\x08\x0a\x00\x00", UpdateSub.MALFORMED_ATTRIBUTE_LIST),  # withdrawn overruns
        (b"\x00\x02\x08\x0a\x00", UpdateSub.MALFORMED_ATTRIBUTE_LIST),  # no room for attr len
        (b"\x00\x00\x00\x05\x40\x01\x01", UpdateSub.MALFORMED_ATTRIBUTE_LIST),  # attrs overrun
        (b"\x00\x00\xff\xff", UpdateSub.MALFORMED_ATTRIBUTE_LIST),
    ],
)
def test_length_overruns_are_session_reset(data: bytes, sub: int) -> None:
    assert reset(data) == (3, sub, b"")


@pytest.mark.parametrize(
    ("withdrawn", "nlri"),
    [
        (b"", bytes((33, 10, 0, 0, 0, 0))),  # prefix length 33
        (b"", bytes((24, 10, 0))),  # prefix overruns the NLRI field
        (bytes((33, 1, 2, 3, 4, 5)), b""),  # same in withdrawn routes
        (bytes((16, 10)), b""),
    ],
)
def test_bad_nlri_is_invalid_network_field(withdrawn: bytes, nlri: bytes) -> None:
    assert reset(body(withdrawn, base_attrs(), nlri)) == (3, UpdateSub.INVALID_NETWORK_FIELD, b"")


@pytest.mark.parametrize(
    "value",
    [
        b"\x00\x02\x01\x10",  # shorter than 5 octets
        b"\x00\x02\x01\x10" + NH6[:8],  # next hop overruns
        b"\x00\x02\x01\x10" + NH6,  # no reserved octet
        b"\x00\x02\x01\x08" + NH6[:8] + b"\x00",  # 8-octet next hop for IPv6
        b"\x00\x02\x01\x04" + NH4 + b"\x00",  # IPv4-sized next hop for IPv6
        b"\x00\x01\x01\x05" + NH6[:5] + b"\x00",  # 5-octet next hop for IPv4
        b"\x00\x02\x01\x10" + NH6 + b"\x00" + bytes((129,)) + bytes(17),  # prefix too long
        b"\x00\x02\x01\x10" + NH6 + b"\x00" + bytes((64, 0x20, 0x01)),  # prefix overruns
    ],
)
def test_malformed_mp_reach_is_optional_attribute_error(value: bytes) -> None:
    """RFC 7606 §7.11 / RFC 4760 §7: MP_REACH_NLRI that cannot be parsed: session reset, 3/9."""
    mp = raw_attr(OPT, AttrCode.MP_REACH_NLRI, value)
    attrs = mp + base_attrs(next_hop=None)
    # RFC 4271 §6.3: the data is the erroneous attribute.
    assert reset(body(attrs=attrs)) == (3, UpdateSub.OPTIONAL_ATTRIBUTE_ERROR, mp)


@pytest.mark.parametrize("value", [b"\x00\x02", b"\x00\x02\x01" + bytes((64, 0x20))])
def test_malformed_mp_unreach_is_optional_attribute_error(value: bytes) -> None:
    attrs = raw_attr(OPT, AttrCode.MP_UNREACH_NLRI, value)
    assert reset(body(attrs=attrs)) == (3, UpdateSub.OPTIONAL_ATTRIBUTE_ERROR, attrs)


@pytest.mark.parametrize("code", [AttrCode.MP_REACH_NLRI, AttrCode.MP_UNREACH_NLRI])
def test_repeated_mp_attribute_is_malformed_attribute_list(code: int) -> None:
    """RFC 7606 §3 g: MP_REACH or MP_UNREACH more than once: Malformed Attribute List."""
    one = (
        mp_reach_attr(IPV6_UNICAST, NH6, V6A)
        if code == AttrCode.MP_REACH_NLRI
        else mp_unreach_attr(IPV6_UNICAST, V6A)
    )
    assert reset(body(attrs=base_attrs(next_hop=None) + one + one)) == (
        3,
        UpdateSub.MALFORMED_ATTRIBUTE_LIST,
        b"",
    )


@pytest.mark.parametrize("code", [AttrCode.MP_REACH_NLRI, AttrCode.MP_UNREACH_NLRI])
@pytest.mark.parametrize("flags", [WK, OPT_T, 0])
def test_mp_attribute_flags_error(code: int, flags: int) -> None:
    value = (
        struct.pack("!HBB", 2, 1, 16) + NH6 + b"\x00" + V6A
        if code == AttrCode.MP_REACH_NLRI
        else b"\x00\x02\x01" + V6A
    )
    bad = raw_attr(flags, code, value)
    attrs = base_attrs(next_hop=None) + bad
    # RFC 4271 §6.3: Attribute Flags Error data is the erroneous attribute.
    assert reset(body(attrs=attrs)) == (3, UpdateSub.ATTRIBUTE_FLAGS_ERROR, bad)


def test_mp_for_unnegotiated_family_ignored() -> None:
    ctx = UpdateContext(families=frozenset({IPV4_UNICAST}))
    attrs = (
        base_attrs() + mp_reach_attr(IPV6_UNICAST, NH6, V6A) + mp_unreach_attr(IPV6_UNICAST, V6B)
    )
    upd = dec(attrs, ctx=ctx)
    assert upd.announced == [(IPV4_UNICAST, NH4, [P1])]
    assert upd.withdrawn == []
    assert len([n for n in upd.notes if "not negotiated" in n]) == 2
    # Even unparseable contents of an ignored family do not reset the session.
    junk = raw_attr(OPT, AttrCode.MP_REACH_NLRI, b"\x00\x19\x46\x01\x00\x00\xff")
    assert dec(base_attrs() + junk, ctx=ctx).announced == [(IPV4_UNICAST, NH4, [P1])]


def test_ipv4_nlri_without_ipv4_family_ignored() -> None:
    ctx = UpdateContext(families=frozenset({IPV6_UNICAST}))
    upd = dec(base_attrs(), ctx=ctx, withdrawn=P2)
    assert (upd.announced, upd.withdrawn, upd.error) == ([], [], "")
    assert any("IPv4 NLRI" in n for n in upd.notes)


# -- RFC 7606 per-attribute outcomes -------------------------------------------------------------

# RFC 7606 §7 (and RFC 6793 §6, RFC 8092 §6): what a malformed attribute costs.
RFC_7606_ACTIONS: dict[int, Action] = {
    AttrCode.ORIGIN: Action.TREAT_AS_WITHDRAW,  # §7.1
    AttrCode.AS_PATH: Action.TREAT_AS_WITHDRAW,  # §7.2
    AttrCode.NEXT_HOP: Action.TREAT_AS_WITHDRAW,  # §7.3
    AttrCode.MULTI_EXIT_DISC: Action.TREAT_AS_WITHDRAW,  # §7.4
    AttrCode.LOCAL_PREF: Action.TREAT_AS_WITHDRAW,  # §7.5
    AttrCode.ATOMIC_AGGREGATE: Action.ATTRIBUTE_DISCARD,  # §7.6
    AttrCode.AGGREGATOR: Action.ATTRIBUTE_DISCARD,  # §7.7
    AttrCode.COMMUNITIES: Action.TREAT_AS_WITHDRAW,  # §7.8
    AttrCode.ORIGINATOR_ID: Action.TREAT_AS_WITHDRAW,  # §7.9
    AttrCode.CLUSTER_LIST: Action.TREAT_AS_WITHDRAW,  # §7.10
    AttrCode.EXTENDED_COMMUNITIES: Action.TREAT_AS_WITHDRAW,  # §7.14
    AttrCode.AS4_PATH: Action.ATTRIBUTE_DISCARD,  # RFC 6793 §6
    AttrCode.AS4_AGGREGATOR: Action.ATTRIBUTE_DISCARD,  # RFC 6793 §6
    AttrCode.LARGE_COMMUNITIES: Action.TREAT_AS_WITHDRAW,  # RFC 8092 §6
}
CHECKED = sorted(c for c in _RULES if c not in (AttrCode.AS4_PATH, AttrCode.AS4_AGGREGATOR))
_BASE_NAMES: dict[int, str] = {
    AttrCode.ORIGIN: "origin",
    AttrCode.AS_PATH: "as_path",
    AttrCode.NEXT_HOP: "next_hop",
}


def test_rules_table_matches_rfc_7606() -> None:
    assert set(_RULES) == set(RFC_7606_ACTIONS)
    for code, (_check, action, _rfc) in _RULES.items():
        assert action == RFC_7606_ACTIONS[code], AttrCode(code).name


def with_attr(code: int, attr: bytes, ctx: UpdateContext = IBGP) -> bytes:
    """The base attributes with `attr` standing in for (or added beside) attribute `code`."""
    name = _BASE_NAMES.get(code)
    if name is not None:
        return base_attrs(ctx, **{name: attr})
    return base_attrs(ctx) + attr


def assert_outcome(upd: Update, code: int, action: Action) -> None:
    name = AttrCode(code).name
    if action == Action.TREAT_AS_WITHDRAW:
        assert_withdrawn(upd, name, "TREAT_AS_WITHDRAW")
        assert upd.withdrawn == [(IPV4_UNICAST, [P1])]
    else:
        assert action == Action.ATTRIBUTE_DISCARD
        assert not upd.error
        assert upd.announced == [(IPV4_UNICAST, NH4, [P1])]
        assert upd.attrs is not None and upd.attrs.get(code) is None
        assert any(name in n and "ATTRIBUTE_DISCARD" in n for n in upd.notes), upd.notes


@pytest.mark.parametrize("code", CHECKED, ids=lambda c: AttrCode(c).name)
def test_malformed_length_follows_rules(code: int) -> None:
    """Three octets are the wrong length for every attribute in the table."""
    upd = dec(with_attr(code, raw_attr(EXPECTED_FLAGS[code], code, b"\x02\x01\x00")))
    assert_outcome(upd, code, _RULES[code][1])


@pytest.mark.parametrize("code", CHECKED, ids=lambda c: AttrCode(c).name)
def test_wrong_flags_follow_rules(code: int) -> None:
    """RFC 7606 §3 c: an Attribute Flags error is handled by the attribute's own rule."""
    valid = {
        AttrCode.ORIGIN: b"\x00",
        AttrCode.AS_PATH: b"",
        AttrCode.NEXT_HOP: NH4,
        AttrCode.MULTI_EXIT_DISC: bytes(4),
        AttrCode.LOCAL_PREF: bytes(4),
        AttrCode.ATOMIC_AGGREGATE: b"",
        AttrCode.AGGREGATOR: bytes(8),
        AttrCode.COMMUNITIES: bytes(4),
        AttrCode.ORIGINATOR_ID: bytes(4),
        AttrCode.CLUSTER_LIST: bytes(4),
        AttrCode.EXTENDED_COMMUNITIES: bytes(8),
        AttrCode.LARGE_COMMUNITIES: bytes(12),
    }[AttrCode(code)]
    flags = EXPECTED_FLAGS[code] ^ AttrFlag.OPTIONAL
    upd = dec(with_attr(code, raw_attr(flags, code, valid)))
    assert_outcome(upd, code, _RULES[code][1])
    # And with the right flags the same value is accepted.
    ok = dec(with_attr(code, raw_attr(EXPECTED_FLAGS[code], code, valid)))
    assert not ok.error and ok.announced


@pytest.mark.parametrize(
    ("code", "value", "ctx"),
    [
        (AttrCode.ORIGIN, b"", IBGP),
        (AttrCode.ORIGIN, b"\x00\x00", IBGP),
        (AttrCode.ORIGIN, b"\x03", IBGP),
        (AttrCode.ORIGIN, b"\xff", IBGP),
        (AttrCode.AS_PATH, b"\x02\x00", IBGP),
        (AttrCode.AS_PATH, b"\x05\x01\x00\x00\xfc\x00", IBGP),
        (AttrCode.AS_PATH, b"\x02\x01\x00\x00\xfc\x00\x02", IBGP),
        (AttrCode.AS_PATH, b"\x02\x01\xfc\x00", IBGP),  # 2-octet path on a 4-octet session
        (AttrCode.AS_PATH, b"\x02\x02\xfd\xe9", AS2_EBGP),
        (AttrCode.NEXT_HOP, b"\x0a\x00\x00", IBGP),
        (AttrCode.NEXT_HOP, b"\x0a\x00\x00\x01\x00", IBGP),
        (AttrCode.NEXT_HOP, b"\x00\x00\x00\x00", IBGP),  # RFC 4271 §6.3 semantic errors
        (AttrCode.NEXT_HOP, b"\xe0\x00\x00\x01", IBGP),
        (AttrCode.NEXT_HOP, b"\xff\xff\xff\xff", IBGP),
        (AttrCode.MULTI_EXIT_DISC, b"", IBGP),
        (AttrCode.MULTI_EXIT_DISC, bytes(5), IBGP),
        (AttrCode.LOCAL_PREF, bytes(3), IBGP),
        (AttrCode.LOCAL_PREF, bytes(8), IBGP),
        (AttrCode.COMMUNITIES, b"", IBGP),
        (AttrCode.COMMUNITIES, bytes(6), IBGP),
        (AttrCode.ORIGINATOR_ID, b"", IBGP),
        (AttrCode.ORIGINATOR_ID, bytes(8), IBGP),
        (AttrCode.CLUSTER_LIST, b"", IBGP),
        (AttrCode.CLUSTER_LIST, bytes(6), IBGP),
        (AttrCode.EXTENDED_COMMUNITIES, b"", IBGP),
        (AttrCode.EXTENDED_COMMUNITIES, bytes(12), IBGP),
        (AttrCode.LARGE_COMMUNITIES, b"", IBGP),
        (AttrCode.LARGE_COMMUNITIES, bytes(13), IBGP),
        (AttrCode.LARGE_COMMUNITIES, bytes(25), IBGP),
    ],
)
def test_treat_as_withdraw_cases(code: int, value: bytes, ctx: UpdateContext) -> None:
    upd = dec(with_attr(code, raw_attr(EXPECTED_FLAGS[code], code, value), ctx), ctx=ctx)
    assert_outcome(upd, code, Action.TREAT_AS_WITHDRAW)


@pytest.mark.parametrize(
    ("code", "value", "ctx"),
    [
        (AttrCode.ATOMIC_AGGREGATE, b"\x00", IBGP),
        (AttrCode.AGGREGATOR, bytes(6), IBGP),  # 2-octet form on a 4-octet session
        (AttrCode.AGGREGATOR, bytes(8), AS2_IBGP),  # and the other way round
        (AttrCode.AGGREGATOR, bytes(7), IBGP),
        (AttrCode.AGGREGATOR, b"", IBGP),
        # RFC 7606 §7.5, §7.9, §7.10: from an external peer these are simply discarded.
        (AttrCode.LOCAL_PREF, bytes(4), EBGP),
        (AttrCode.LOCAL_PREF, bytes(3), EBGP),
        (AttrCode.ORIGINATOR_ID, bytes(4), EBGP),
        (AttrCode.CLUSTER_LIST, bytes(4), EBGP),
        (AttrCode.CLUSTER_LIST, bytes(3), EBGP),
    ],
)
def test_attribute_discard_cases(code: int, value: bytes, ctx: UpdateContext) -> None:
    upd = dec(with_attr(code, raw_attr(EXPECTED_FLAGS[code], code, value), ctx), ctx=ctx)
    assert_outcome(upd, code, Action.ATTRIBUTE_DISCARD)


def test_worst_action_wins() -> None:
    attrs = (
        base_attrs()
        + raw_attr(WK, AttrCode.ATOMIC_AGGREGATE, b"\x01")
        + raw_attr(OPT, AttrCode.MULTI_EXIT_DISC, b"\x01")
    )
    upd = dec(attrs)
    assert_withdrawn(upd, "MULTI_EXIT_DISC", "ATOMIC_AGGREGATE")


@pytest.mark.parametrize("missing", ["origin", "as_path", "next_hop"])
def test_missing_well_known_is_treat_as_withdraw(missing: str) -> None:
    """RFC 7606 §3 d: a missing mandatory attribute means treat-as-withdraw."""
    upd = dec(base_attrs(**{missing: None}), nlri=P1 + P2)
    assert_withdrawn(upd, missing.upper(), "missing")
    assert upd.withdrawn == [(IPV4_UNICAST, [P1, P2])]


def test_no_attributes_at_all_with_nlri() -> None:
    upd = decode_update(body(nlri=P1), IBGP)
    assert_withdrawn(upd, "NEXT_HOP missing", "ORIGIN missing", "AS_PATH missing")


def test_mp_only_update_needs_origin_and_as_path_but_not_next_hop() -> None:
    mp = mp_reach_attr(IPV6_UNICAST, NH6, V6A)
    ok = decode_update(body(attrs=mp + base_attrs(next_hop=None)), IBGP)
    assert ok.announced == [(IPV6_UNICAST, NH6, [V6A])] and not ok.error
    upd = decode_update(body(attrs=mp + base_attrs(origin=None, next_hop=None)), IBGP)
    assert_withdrawn(upd, "ORIGIN missing")
    assert upd.withdrawn == [(IPV6_UNICAST, [V6A])]


@pytest.mark.parametrize("nh", [b"\x00\x00\x00\x00", b"\xe0\x00\x00\x05", b"\x01\x02"])
def test_next_hop_ignored_without_ipv4_nlri(nh: bytes) -> None:
    """RFC 4760 §3: a NEXT_HOP in an UPDATE whose only NLRI is in MP_REACH is ignored."""
    attrs = mp_reach_attr(IPV6_UNICAST, NH6, V6A) + base_attrs(
        next_hop=raw_attr(WK, AttrCode.NEXT_HOP, nh)
    )
    upd = decode_update(body(attrs=attrs), IBGP)
    assert not upd.error, upd.error
    assert upd.announced == [(IPV6_UNICAST, NH6, [V6A])]
    assert any("NEXT_HOP" in n for n in upd.notes)


def test_treat_as_withdraw_moves_every_family() -> None:
    attrs = base_attrs(origin=raw_attr(WK, AttrCode.ORIGIN, b"\x09")) + mp_reach_attr(
        IPV6_UNICAST, NH6, V6A + V6B
    )
    upd = dec(attrs, nlri=P1, withdrawn=P2)
    assert_withdrawn(upd, "ORIGIN")
    assert sorted(upd.withdrawn) == sorted(
        [(IPV4_UNICAST, [P2]), (IPV4_UNICAST, [P1]), (IPV6_UNICAST, [V6A, V6B])]
    )


@pytest.mark.parametrize(
    "tail",
    [
        raw_attr(OPT, AttrCode.MULTI_EXIT_DISC, bytes(4))[:-1],  # value runs past the field
        b"\x40\x01",  # attribute header cut short
        b"\x90\x08\x00",  # extended-length header cut short
    ],
)
def test_attribute_overrunning_field_is_treat_as_withdraw(tail: bytes) -> None:
    """RFC 7606 §4: the NLRI is still found through Total Path Attribute Length."""
    upd = dec(base_attrs() + tail, nlri=P1)
    assert_withdrawn(upd, "RFC 7606 §4")
    assert upd.withdrawn == [(IPV4_UNICAST, [P1])]


def test_repeated_attribute_first_kept() -> None:
    """RFC 7606 §3 g: repeats other than MP_REACH/MP_UNREACH are discarded, first kept."""
    attrs = (
        base_attrs()
        + raw_attr(OPT, AttrCode.MULTI_EXIT_DISC, struct.pack("!I", 1))
        + raw_attr(OPT, AttrCode.MULTI_EXIT_DISC, b"bad")
        + raw_attr(WK, AttrCode.ORIGIN, b"\x02")
    )
    upd = dec(attrs)
    assert not upd.error
    assert upd.attrs is not None and upd.attrs.med == 1 and upd.attrs.origin == 0
    assert sum("repeated" in n for n in upd.notes) == 2


def test_1300_tiny_unknown_attributes() -> None:
    """Many tiny attributes in one UPDATE: a loop, not recursion, and no quadratic blow-up."""
    codes = UNKNOWN_CODES
    tiny = b"".join(
        raw_attr(OPT_T if i % 2 else OPT, codes[i % len(codes)], b"") for i in range(1300)
    )
    attrs = base_attrs() + tiny
    assert len(attrs) > 3900
    upd = dec(attrs)
    assert not upd.error
    assert upd.announced == [(IPV4_UNICAST, NH4, [P1])]
    assert upd.attrs is not None
    kept = {c for c, _f, _v in upd.attrs.items} - {AttrCode.ORIGIN, AttrCode.AS_PATH}
    # First occurrence of each code decides; only transitive ones are kept.
    first_flags: dict[int, int] = {}
    for i in range(1300):
        first_flags.setdefault(codes[i % len(codes)], OPT_T if i % 2 else OPT)
    assert kept == {c for c, f in first_flags.items() if f == OPT_T}
    assert sum("repeated" in n for n in upd.notes) == 1300 - len(first_flags)


def test_as_path_of_1000_segments() -> None:
    path = tuple((SEQ if i % 3 else SET, (64512 + i,)) for i in range(1000))
    value = encode_as_path(path, 4)
    assert len(value) == 6000
    upd = dec(base_attrs(as_path=raw_attr(WK, AttrCode.AS_PATH, value)))
    assert not upd.error
    assert upd.attrs is not None and upd.attrs.as_path == path
    assert upd.attrs.get(AttrCode.AS_PATH) == value


def test_huge_2_octet_as_path_is_withdrawn_not_crash() -> None:
    """With extended messages a 2-octet AS_PATH can exceed 32 KiB; its 4-octet form would not
    fit an attribute, and the decoder must still answer (here: treat-as-withdraw)."""
    seg = bytes((2, 255)) + struct.pack("!255H", *range(1, 256))
    path2 = raw_attr(WK, AttrCode.AS_PATH, seg * 127)
    upd = dec(base_attrs(AS2_IBGP, as_path=path2), ctx=AS2_IBGP)
    assert_withdrawn(upd, "AS_PATH", "65535")
    # Just under the bound is fine.
    ok = dec(base_attrs(AS2_IBGP, as_path=raw_attr(WK, AttrCode.AS_PATH, seg * 64)), ctx=AS2_IBGP)
    assert not ok.error and ok.attrs is not None
    assert len(ok.attrs.get(AttrCode.AS_PATH) or b"") == 64 * (2 + 4 * 255)


# -- eBGP AS_PATH checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        (((SEQ, (65001, 65002)),), True),
        (((SEQ, (65002, 65001)),), False),  # RFC 4271 §6.3: leftmost AS must be the peer's
        (((SET, (65001,)),), False),
        ((), False),
        (((CSEQ, (65001,)), (SEQ, (65001,))), False),  # RFC 5065 §5.3: no confed from eBGP
    ],
)
def test_ebgp_first_as(path: tuple[tuple[int, tuple[int, ...]], ...], ok: bool) -> None:
    upd = dec(
        base_attrs(EBGP, as_path=raw_attr(WK, AttrCode.AS_PATH, encode_as_path(path))), ctx=EBGP
    )
    if ok:
        assert not upd.error and upd.announced
    else:
        assert_withdrawn(upd, "AS_PATH")


def test_ibgp_accepts_empty_and_confed_paths() -> None:
    for path in ((), ((CSEQ, (65100,)), (SEQ, (65001,)))):
        upd = dec(base_attrs(as_path=raw_attr(WK, AttrCode.AS_PATH, encode_as_path(path))))
        assert not upd.error and upd.attrs is not None and upd.attrs.as_path == path


def test_ebgp_2_octet_peer_with_big_as_leads_with_as_trans() -> None:
    ctx = UpdateContext(four_octet_as=False, ibgp=False, peer_as=4200000001, families=BOTH)
    path = raw_attr(WK, AttrCode.AS_PATH, encode_as_path(((SEQ, (AS_TRANS, 65002)),), 2))
    upd = dec(base_attrs(ctx, as_path=path), ctx=ctx)
    assert not upd.error and upd.announced


# -- RFC 6793 AS4_PATH / AS4_AGGREGATOR from a 2-octet session ----------------------------------


def as4(path: tuple[tuple[int, tuple[int, ...]], ...]) -> bytes:
    return raw_attr(OPT_T, AttrCode.AS4_PATH, encode_as_path(path, 4))


def as2(path: tuple[tuple[int, tuple[int, ...]], ...]) -> bytes:
    return raw_attr(WK, AttrCode.AS_PATH, encode_as_path(path, 2))


def test_as4_path_merged() -> None:
    attrs = base_attrs(AS2_IBGP, as_path=as2(((SEQ, (65010, AS_TRANS, AS_TRANS)),)))
    upd = dec(attrs + as4(((SEQ, (4200000001, 4200000002)),)), ctx=AS2_IBGP)
    assert upd.attrs is not None
    assert upd.attrs.as_path == ((SEQ, (65010,)), (SEQ, (4200000001, 4200000002)))
    assert upd.attrs.get(AttrCode.AS4_PATH) is None  # folded in, never stored


def test_as4_path_longer_than_as_path_ignored() -> None:
    """RFC 6793 §4.2.3: AS4_PATH with more ASes than AS_PATH is ignored."""
    attrs = base_attrs(AS2_IBGP, as_path=as2(((SEQ, (65010, AS_TRANS)),)))
    upd = dec(attrs + as4(((SEQ, (1, 2, 3)),)), ctx=AS2_IBGP)
    assert upd.attrs is not None
    assert upd.attrs.as_path == ((SEQ, (65010, AS_TRANS)),)


def test_as4_aggregator_replaces_as_trans_aggregator() -> None:
    agg = raw_attr(OPT_T, AttrCode.AGGREGATOR, struct.pack("!H", AS_TRANS) + NH4)
    agg4 = raw_attr(OPT_T, AttrCode.AS4_AGGREGATOR, struct.pack("!I", 4200000001) + NH4)
    attrs = base_attrs(AS2_IBGP, as_path=as2(((SEQ, (AS_TRANS,)),)))
    upd = dec(attrs + agg + agg4 + as4(((SEQ, (4200000001,)),)), ctx=AS2_IBGP)
    assert upd.attrs is not None
    assert upd.attrs.get(AttrCode.AGGREGATOR) == struct.pack("!I", 4200000001) + NH4
    assert upd.attrs.get(AttrCode.AS4_AGGREGATOR) is None
    assert upd.attrs.as_path == ((SEQ, (4200000001,)),)


def test_aggregator_not_as_trans_means_as4_attributes_ignored() -> None:
    """RFC 6793 §4.2.3: a 2-octet aggregator: AS4_AGGREGATOR and AS4_PATH are both ignored."""
    agg = raw_attr(OPT_T, AttrCode.AGGREGATOR, struct.pack("!H", 65010) + NH4)
    agg4 = raw_attr(OPT_T, AttrCode.AS4_AGGREGATOR, struct.pack("!I", 4200000001) + NH4)
    attrs = base_attrs(AS2_IBGP, as_path=as2(((SEQ, (AS_TRANS,)),)))
    upd = dec(attrs + agg + agg4 + as4(((SEQ, (4200000001,)),)), ctx=AS2_IBGP)
    assert upd.attrs is not None
    assert upd.attrs.get(AttrCode.AGGREGATOR) == struct.pack("!I", 65010) + NH4
    assert upd.attrs.as_path == ((SEQ, (AS_TRANS,)),)
    assert any("ignored" in n for n in upd.notes)


@pytest.mark.parametrize("value", [b"\x02\x01\x00", encode_as_path(((CSEQ, (1,)),), 4)])
def test_malformed_as4_path_discarded(value: bytes) -> None:
    attrs = base_attrs(AS2_IBGP, as_path=as2(((SEQ, (AS_TRANS,)),)))
    upd = dec(attrs + raw_attr(OPT_T, AttrCode.AS4_PATH, value), ctx=AS2_IBGP)
    assert not upd.error and upd.attrs is not None
    assert upd.attrs.as_path == ((SEQ, (AS_TRANS,)),)
    assert any("AS4_PATH" in n for n in upd.notes)


def test_as4_attributes_from_4_octet_peer_discarded() -> None:
    """RFC 6793 §4.1: NEW speakers never send them to each other."""
    agg4 = raw_attr(OPT_T, AttrCode.AS4_AGGREGATOR, bytes(8))
    upd = dec(base_attrs() + as4(((SEQ, (1, 2, 3, 4)),)) + agg4)
    assert not upd.error and upd.attrs is not None
    assert upd.attrs.as_path == ((SEQ, (64512,)),)
    assert upd.attrs.get(AttrCode.AS4_PATH) is None
    assert upd.attrs.get(AttrCode.AS4_AGGREGATOR) is None
    assert sum("RFC 6793 §4.1" in n for n in upd.notes) == 2


def test_decode_update_accepts_family_enums() -> None:
    ctx = UpdateContext(families=frozenset({(AFI.IPV4, 1), (AFI.IPV6, 1)}))
    assert dec(base_attrs(), ctx=ctx).announced == [(IPV4_UNICAST, NH4, [P1])]


def test_as_path_attribute_round_trip_value() -> None:
    path = ((SEQ, (1, 2)), (SET, (3,)))
    upd = dec(base_attrs(as_path=raw_attr(WK, AttrCode.AS_PATH, encode_as_path(path))))
    assert upd.attrs is not None
    assert decode_as_path(upd.attrs.get(AttrCode.AS_PATH) or b"", 4) == path
