"""NLRI prefixes in wire form (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 §3)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrr.bgp.constants import AFI, ErrCode, UpdateSub
from pyrr.bgp.errors import BGPError
from pyrr.bgp.nlri import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    _uniform,
    _walk,
    decode_prefix,
    encode_prefix,
    family_name,
    parse_prefixes,
    prefix_from_str,
    prefix_to_str,
    split_path_id,
)

ipv4_nets = st.builds(
    lambda addr, plen: IPv4Network((addr, plen), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
ipv6_nets = st.builds(
    lambda addr, plen: IPv6Network((addr, plen), strict=False),
    st.integers(0, 2**128 - 1),
    st.integers(0, 128),
)
path_ids = st.integers(0, 2**32 - 1)


def test_encode_prefix_layout() -> None:
    assert encode_prefix(ip_network("10.65.0.0/26")) == bytes((26, 10, 65, 0, 0))
    assert encode_prefix(ip_network("10.0.0.0/8")) == bytes((8, 10))
    assert encode_prefix(ip_network("0.0.0.0/0")) == b"\x00"
    assert encode_prefix(ip_network("192.0.2.1/32")) == bytes((32, 192, 0, 2, 1))
    assert encode_prefix(ip_network("2001:db8::/32")) == bytes((32, 0x20, 0x01, 0x0D, 0xB8))
    assert encode_prefix(ip_network("::/0")) == b"\x00"
    # RFC 7911 §3: the path identifier goes in front of the length octet.
    assert encode_prefix(ip_network("10.0.0.0/8"), path_id=7) == b"\x00\x00\x00\x07\x08\x0a"


@given(st.lists(ipv4_nets, max_size=20))
def test_ipv4_round_trip(nets: list[IPv4Network]) -> None:
    wire = [encode_prefix(n) for n in nets]
    assert parse_prefixes(b"".join(wire), AFI.IPV4) == wire
    assert [decode_prefix(w, AFI.IPV4) for w in wire] == nets


@given(st.lists(ipv6_nets, max_size=20))
def test_ipv6_round_trip(nets: list[IPv6Network]) -> None:
    wire = [encode_prefix(n) for n in nets]
    assert parse_prefixes(b"".join(wire), AFI.IPV6) == wire
    assert [decode_prefix(w, AFI.IPV6) for w in wire] == nets


@given(st.lists(st.tuples(st.one_of(ipv4_nets), path_ids), max_size=20))
def test_addpath_round_trip(items: list[tuple[IPv4Network, int]]) -> None:
    wire = [encode_prefix(n, pid) for n, pid in items]
    parsed = parse_prefixes(b"".join(wire), AFI.IPV4, addpath=True)
    assert parsed == wire
    for (net, pid), item in zip(items, parsed, strict=True):
        assert split_path_id(item) == (pid, encode_prefix(net))
        assert decode_prefix(item, AFI.IPV4, addpath=True) == net


@given(st.integers(0, 2**32 - 1), st.integers(1, 31))
def test_host_bits_are_cleared(addr: int, plen: int) -> None:
    """RFC 4271 §4.3: trailing bits are irrelevant, so one prefix gets exactly one key."""
    nbytes = (plen + 7) >> 3
    raw = bytes((plen,)) + addr.to_bytes(4, "big")[:nbytes]
    (item,) = parse_prefixes(raw, AFI.IPV4)
    net = IPv4Network((addr, plen), strict=False)
    assert item == encode_prefix(net)
    assert decode_prefix(item, AFI.IPV4) == net


def test_host_bits_cleared_example() -> None:
    assert parse_prefixes(bytes((23, 10, 0, 1)), AFI.IPV4) == [bytes((23, 10, 0, 0))]
    assert parse_prefixes(bytes((1, 0xFF)), AFI.IPV4) == [bytes((1, 0x80))]
    assert parse_prefixes(bytes((127,)) + b"\xff" * 16, AFI.IPV6) == [
        bytes((127,)) + b"\xff" * 15 + b"\xfe"
    ]


def test_empty_field() -> None:
    assert parse_prefixes(b"", AFI.IPV4) == []
    assert parse_prefixes(b"", AFI.IPV6, addpath=True) == []


def test_max_lengths_accepted() -> None:
    assert parse_prefixes(bytes((32, 1, 2, 3, 4)), AFI.IPV4) == [bytes((32, 1, 2, 3, 4))]
    v6 = bytes((128,)) + bytes(range(16))
    assert parse_prefixes(v6, AFI.IPV6) == [v6]


@pytest.mark.parametrize(
    ("raw", "afi", "addpath"),
    [
        (bytes((33, 1, 2, 3, 4, 5)), AFI.IPV4, False),  # longer than an IPv4 address
        (bytes((255,)) + b"\x00" * 32, AFI.IPV4, False),
        (bytes((129,)) + b"\x00" * 17, AFI.IPV6, False),
        (bytes((24, 10, 0)), AFI.IPV4, False),  # prefix runs past the field
        (bytes((8, 10, 16)), AFI.IPV4, False),  # second prefix has no octets
        (bytes((64,)) + b"\x20\x01", AFI.IPV6, False),
        (b"\x00\x00\x00", AFI.IPV4, True),  # path id truncated
        (b"\x00\x00\x00\x01", AFI.IPV4, True),  # path id but no length octet
        (b"\x00\x00\x00\x01\x18\x0a", AFI.IPV4, True),
        (b"\x00\x00\x00\x01\x21" + b"\x00" * 5, AFI.IPV4, True),
    ],
)
def test_unparseable_field_is_session_reset(raw: bytes, afi: int, addpath: bool) -> None:
    """RFC 7606 §5.3: an NLRI field that cannot be walked leaves only session reset."""
    with pytest.raises(BGPError) as exc:
        parse_prefixes(raw, afi, addpath)
    assert (exc.value.code, exc.value.subcode) == (
        ErrCode.UPDATE_MESSAGE,
        UpdateSub.INVALID_NETWORK_FIELD,
    )
    assert exc.value.data == b""


def test_subcode_is_the_callers() -> None:
    """Inside MP_REACH/MP_UNREACH the answer is Optional Attribute Error (RFC 4760 §7)."""
    with pytest.raises(BGPError) as exc:
        parse_prefixes(
            bytes((33, 0, 0, 0, 0, 0)), AFI.IPV4, subcode=UpdateSub.OPTIONAL_ATTRIBUTE_ERROR
        )
    assert (exc.value.code, exc.value.subcode) == (3, 9)


def test_accepts_memoryview() -> None:
    mv = memoryview(b"junk" + bytes((8, 10, 16, 172, 16)))[4:]
    assert parse_prefixes(mv, AFI.IPV4) == [bytes((8, 10)), bytes((16, 172, 16))]


def test_family_names() -> None:
    assert family_name(IPV4_UNICAST) == "ipv4-unicast"
    assert family_name(IPV6_UNICAST) == "ipv6-unicast"
    assert family_name((1, 2)) == "ipv4-multicast"
    assert family_name((25, 70)) == "afi25-safi70"


def test_prefix_strings() -> None:
    assert prefix_from_str("10.65.0.7/26") == (IPV4_UNICAST, bytes((26, 10, 65, 0, 0)))
    assert prefix_from_str("fd00::/8") == (IPV6_UNICAST, bytes((8, 0xFD)))
    assert prefix_to_str(bytes((26, 10, 65, 0, 0)), IPV4_UNICAST) == "10.65.0.0/26"
    assert (
        prefix_to_str(b"\x00\x00\x00\x05" + bytes((8, 0xFD)), IPV6_UNICAST, addpath=True)
        == "fd00::/8"
    )


def _outcome(data: bytes, afi: int, addpath: bool) -> list[bytes] | tuple[int, int]:
    try:
        return parse_prefixes(data, afi, addpath)
    except BGPError as e:
        return (e.code, e.subcode)


def _walked(data: bytes, afi: int, addpath: bool) -> list[bytes] | tuple[int, int]:
    head = 5 if addpath else 1
    try:
        return _walk(data, head, 32 if afi == AFI.IPV4 else 128, UpdateSub.INVALID_NETWORK_FIELD)
    except BGPError as e:
        return (e.code, e.subcode)


@given(
    plen=st.integers(0, 40),
    count=st.integers(1, 40),
    octet=st.integers(0, 255),
    afi=st.sampled_from([AFI.IPV4, AFI.IPV6]),
    addpath=st.booleans(),
    tail=st.binary(max_size=3),
)
def test_one_pass_cut_agrees_with_the_walk(
    plen: int, count: int, octet: int, afi: int, addpath: bool, tail: bytes
) -> None:
    """A field of same-length prefixes is cut in one pass (`_uniform`); whatever the field
    (host bits set, a length past the family's, a truncated or mixed tail), the result or the
    error is exactly the walk's."""
    item = (b"\0\0\0\7" if addpath else b"") + bytes((plen,)) + bytes((plen + 7) >> 3)
    if len(item) > (5 if addpath else 1):
        item = item[:-1] + bytes((octet,))  # maybe host bits, cleared by the walk
    data = item * count + tail
    assert _outcome(data, afi, addpath) == _walked(data, afi, addpath)


def test_one_pass_cut_is_taken_and_clean() -> None:
    items = [bytes((26, 10, 65, i, 64)) for i in range(200)]
    assert _uniform(b"".join(items), 1, 32) == items
    assert _uniform(b"".join(items) + bytes((26, 10, 0, 0, 65)), 1, 32) is None  # host bit
