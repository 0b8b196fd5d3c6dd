"""`pyrr decode`: human-readable dumps of BGP messages built with the codec's own encoders."""

from __future__ import annotations

import struct
from ipaddress import IPv6Address, ip_network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrr.bgp.attributes import PathAttrs, encode_as_path, encode_attr
from pyrr.bgp.capabilities import Capabilities, GracefulRestart, LongLivedGR
from pyrr.bgp.constants import (
    MARKER,
    AddPathMode,
    AttrCode,
    AttrFlag,
    CeaseSub,
    GRFlags,
    MsgType,
    RefreshSubtype,
)
from pyrr.bgp.decode import decode_bytes, decode_hex, parse_hex
from pyrr.bgp.encode import end_of_rib, mp_reach_attr, mp_unreach_attr, update_message
from pyrr.bgp.messages import KEEPALIVE, Notification, Open, RouteRefresh, shutdown_notification
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, encode_prefix, prefix_from_str

from ..bgp.helpers import attrs_block

WK = AttrFlag.TRANSITIVE
OPT = AttrFlag.OPTIONAL
OPT_T = AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def pfx(text: str) -> bytes:
    return prefix_from_str(text)[1]


def base_attrs(path: tuple[int, ...] = (65001, 65002)) -> PathAttrs:
    return PathAttrs(
        [
            (AttrCode.ORIGIN, WK, b"\x00"),
            (AttrCode.AS_PATH, WK, encode_as_path(((2, path),))),
            (AttrCode.MULTI_EXIT_DISC, OPT, struct.pack("!I", 10)),
            (AttrCode.LOCAL_PREF, WK, struct.pack("!I", 100)),
            (AttrCode.COMMUNITIES, OPT_T, struct.pack("!HH", 65001, 666)),
            (AttrCode.ORIGINATOR_ID, OPT, bytes((10, 0, 0, 7))),
            (AttrCode.CLUSTER_LIST, OPT, bytes((10, 0, 0, 9))),
            (AttrCode.LARGE_COMMUNITIES, OPT_T, struct.pack("!III", 4200000001, 1, 2)),
        ]
    )


# ---------------------------------------------------------------------------------------------
# Hex input


@pytest.mark.parametrize(
    "text",
    [
        "ffffffffffffffffffffffffffffffff001304",
        "FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF 00 13 04",
        "ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:00:13:04",
        "0xffffffffffffffffffffffffffffffff001304\n",
        "0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff\n0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff"
        " 0x00 0x13 0x04",
        "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\x13\\x04",
        "  ffffffff ffffffff\tffffffff ffffffff\r\n0013 04  ",
    ],
)
def test_hex_formats(text: str) -> None:
    assert parse_hex(text) == KEEPALIVE
    assert lines(decode_hex(text)) == ["#1 KEEPALIVE (type 4), length 19, offset 0"]


def test_no_bytes() -> None:
    assert decode_hex("") == "no bytes to decode"
    assert decode_hex(" 0x ") == "no bytes to decode"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ffzz", "unexpected character 'z' at position 2"),
        ("ff ff ff ff g", "unexpected character 'g' at position 12"),
        ("fff", "odd number of hex digits (3)"),
        ("ff0xff", "unexpected character 'x' at position 3"),
    ],
)
def test_bad_hex_raises_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="invalid hex") as info:
        decode_hex(text)
    assert message in str(info.value)


# ---------------------------------------------------------------------------------------------
# OPEN

# What BIRD 2 sends to a Calico node (as Wireshark copies it): AS 64512, hold 240, router id
# 192.168.10.1, multiprotocol IPv4 unicast, route refresh, graceful restart (120 s, IPv4
# forwarding preserved), 4-octet AS, enhanced route refresh, hostname "node1".
BIRD_OPEN = """
ffffffff ffffffff ffffffff ffffffff 0040 01
04 fc00 00f0 c0a80a01 23
02 21 01040001 0001 0200 4006 0078 0001 0180 4104 0000 fc00 4600 4907 056e 6f64 6531 00
"""


def test_bird_open() -> None:
    out = lines(decode_hex(BIRD_OPEN))
    assert out == [
        "#1 OPEN (type 1), length 64, offset 0",
        "version: 4",
        "AS: 64512",
        "hold time: 240s",
        "BGP identifier: 192.168.10.1",
        "optional parameters: 35 bytes",
        "capability 1 MULTIPROTOCOL: ipv4-unicast",
        "capability 2 ROUTE_REFRESH",
        "capability 64 GRACEFUL_RESTART: flags -, restart time 120s; ipv4-unicast F=1",
        "capability 65 FOUR_OCTET_AS: 64512",
        "capability 70 ENHANCED_ROUTE_REFRESH",
        'capability 73 FQDN: hostname "node1" domain ""',
    ]


def test_bird_open_matches_encoder() -> None:
    caps = Capabilities(
        families=(IPV4_UNICAST,),
        route_refresh=True,
        graceful_restart=GracefulRestart(GRFlags.NONE, 120, ((IPV4_UNICAST, True),)),
        four_octet_as=64512,
        enhanced_route_refresh=True,
        fqdn=("node1", ""),
    )
    encoded = Open(64512, 240, 0xC0A80A01, caps).encode()
    # The encoder orders capabilities its own way; the facts are the same.
    assert sorted(lines(decode_hex(encoded.hex()))) == sorted(lines(decode_hex(BIRD_OPEN)))


def test_open_every_capability() -> None:
    caps = Capabilities(
        families=(IPV4_UNICAST, IPV6_UNICAST),
        route_refresh=True,
        route_refresh_cisco=True,
        enhanced_route_refresh=True,
        four_octet_as=4200000001,
        graceful_restart=GracefulRestart(
            GRFlags.RESTART | GRFlags.NOTIFICATION,
            300,
            ((IPV4_UNICAST, True), (IPV6_UNICAST, False)),
        ),
        long_lived_gr=LongLivedGR(((IPV4_UNICAST, 0x80, 86400), (IPV6_UNICAST, 0, 3600))),
        add_path=((IPV4_UNICAST, AddPathMode.RECEIVE), (IPV6_UNICAST, AddPathMode.BOTH)),
        extended_message=True,
        extended_next_hop=((IPV4_UNICAST, 2),),
        fqdn=("rr1", "cluster.local"),
        unknown=((9, b"\x01"), (75, b"\x0bFRRouting/9"), (200, b"\xca\xfe")),
    )
    out = lines(decode_hex(Open(4200000001, 90, 0x0A000001, caps).encode().hex()))
    assert out[0].startswith("#1 OPEN (type 1), length ")
    for expected in [
        "AS: 4200000001 (asdot 64086.59905); My AS field 23456 = AS_TRANS",
        "hold time: 90s",
        "BGP identifier: 10.0.0.1",
        "capability 1 MULTIPROTOCOL: ipv4-unicast",
        "capability 1 MULTIPROTOCOL: ipv6-unicast",
        "capability 2 ROUTE_REFRESH",
        "capability 128 ROUTE_REFRESH_CISCO",
        "capability 70 ENHANCED_ROUTE_REFRESH",
        "capability 6 EXTENDED_MESSAGE",
        "capability 5 EXTENDED_NEXT_HOP: ipv4-unicast next hop ipv6",
        "capability 64 GRACEFUL_RESTART: flags R,N, restart time 300s; "
        "ipv4-unicast F=1, ipv6-unicast F=0",
        "capability 65 FOUR_OCTET_AS: 4200000001 (asdot 64086.59905)",
        "capability 69 ADD_PATH: ipv4-unicast receive, ipv6-unicast send/receive",
        "capability 71 LONG_LIVED_GRACEFUL_RESTART: ipv4-unicast F=1 stale time 86400s, "
        "ipv6-unicast F=0 stale time 3600s",
        'capability 73 FQDN: hostname "rr1" domain "cluster.local"',
        "capability 9 BGP_ROLE: route server",
        'capability 75 SOFTWARE_VERSION: "FRRouting/9"',
        "capability 200 unknown: cafe",
    ]:
        assert expected in out


def test_open_without_capabilities() -> None:
    out = lines(decode_hex(Open(65001, 0, 0x01020304).encode().hex()))
    assert "hold time: 0 (no keepalives)" in out
    assert "capabilities: none (IPv4 unicast only, RFC 4760 §8)" in out


def test_open_unsupported_version_is_an_error() -> None:
    msg = Open(65001, 90, 0x01020304, version=3).encode()
    out = lines(decode_hex(msg.hex() + KEEPALIVE.hex()))
    assert out == [
        "#1 OPEN (type 1), length 29, offset 0",
        "version: 3",
        "my AS: 65001",
        "hold time: 90",
        "BGP identifier: 1.2.3.4",
        "optional parameters: 0 bytes",
        "error: NOTIFICATION OPEN_MESSAGE/UNSUPPORTED_VERSION_NUMBER (code 2, subcode 1), "
        "data 0004: version 3",
    ]  # and the KEEPALIVE after it is not decoded: the session would be gone


def test_open_malformed_capability() -> None:
    # A 4-octet AS capability three octets long.
    body = struct.pack("!BHHIB", 4, 65001, 90, 0x01020304, 7) + bytes((2, 5, 65, 3, 0, 0, 1))
    msg = MARKER + struct.pack("!HB", 19 + len(body), MsgType.OPEN) + body
    out = lines(decode_hex(msg.hex()))
    assert out[-1] == (
        "error: NOTIFICATION OPEN_MESSAGE/UNSPECIFIC (code 2, subcode 0), data 4103000001: "
        "malformed capability 65: length must be 4 (RFC 6793 §3)"
    )


# ---------------------------------------------------------------------------------------------
# UPDATE


def test_ipv4_update() -> None:
    msg = update_message(
        withdrawn=pfx("192.0.2.0/24"),
        attrs=attrs_block(base_attrs(), IPV4_UNICAST, bytes((10, 0, 0, 1))),
        nlri=pfx("10.10.1.0/26") + pfx("10.10.2.0/24"),
    )
    assert lines(decode_hex(msg.hex())) == [
        f"#1 UPDATE (type 2), length {len(msg)}, offset 0",
        "withdrawn routes: 4 bytes, path attributes: 74 bytes, NLRI: 9 bytes",
        "attribute NEXT_HOP=10.0.0.1 (flags 0x40 well-known)",
        "attribute ORIGIN=IGP (flags 0x40 well-known)",
        "attribute AS_PATH=65001 65002 (flags 0x40 well-known)",
        "attribute MULTI_EXIT_DISC=10 (flags 0x80 optional non-transitive)",
        "attribute LOCAL_PREF=100 (flags 0x40 well-known)",
        "attribute COMMUNITIES=65001:666 (flags 0xc0 optional transitive)",
        "attribute ORIGINATOR_ID=10.0.0.7 (flags 0x80 optional non-transitive)",
        "attribute CLUSTER_LIST=10.0.0.9 (flags 0x80 optional non-transitive)",
        "attribute LARGE_COMMUNITIES=4200000001:1:2 (flags 0xc0 optional transitive)",
        "withdrawn ipv4-unicast: 192.0.2.0/24",
        "next hop ipv4-unicast: 10.0.0.1",
        "announced ipv4-unicast: 10.10.1.0/26",
        "announced ipv4-unicast: 10.10.2.0/24",
    ]


def test_ipv6_mp_update() -> None:
    nh = IPv6Address("2001:db8::1").packed + IPv6Address("fe80::1").packed
    announce = update_message(
        attrs=attrs_block(
            base_attrs(), IPV6_UNICAST, nh, mp_nlri=pfx("2001:db8::/64") + pfx("2001:db8:1::/48")
        )
    )
    withdraw = update_message(attrs=mp_unreach_attr(IPV6_UNICAST, pfx("2001:db8:2::/56")))
    out = lines(decode_hex(announce.hex() + withdraw.hex()))
    second = out.index(f"#2 UPDATE (type 2), length {len(withdraw)}, offset {len(announce)}")
    assert out[1] == "withdrawn routes: 0 bytes, path attributes: 123 bytes, NLRI: 0 bytes"
    assert out[2] == (
        "attribute MP_REACH_NLRI ipv6-unicast, next hop 2001:db8::1 link-local fe80::1, "
        "NLRI 16 bytes (flags 0x80 optional non-transitive)"
    )
    assert out[second - 3 : second] == [
        "next hop ipv6-unicast: 2001:db8::1 link-local fe80::1",
        "announced ipv6-unicast: 2001:db8::/64",
        "announced ipv6-unicast: 2001:db8:1::/48",
    ]
    assert out[second + 1 :] == [
        "withdrawn routes: 0 bytes, path attributes: 14 bytes, NLRI: 0 bytes",
        "attribute MP_UNREACH_NLRI ipv6-unicast, NLRI 8 bytes (flags 0x80 optional non-transitive)",
        "withdrawn ipv6-unicast: 2001:db8:2::/56",
    ]


def test_end_of_rib() -> None:
    out = lines(decode_hex(end_of_rib(IPV4_UNICAST).hex() + end_of_rib(IPV6_UNICAST).hex()))
    assert out == [
        "#1 UPDATE (type 2), length 23, offset 0",
        "withdrawn routes: 0 bytes, path attributes: 0 bytes, NLRI: 0 bytes",
        "End-of-RIB: ipv4-unicast",
        "#2 UPDATE (type 2), length 29, offset 23",
        "withdrawn routes: 0 bytes, path attributes: 6 bytes, NLRI: 0 bytes",
        "attribute MP_UNREACH_NLRI ipv6-unicast, no NLRI (End-of-RIB) "
        "(flags 0x80 optional non-transitive)",
        "End-of-RIB: ipv6-unicast",
    ]


def test_add_path_ids() -> None:
    nlri = encode_prefix(ip_network("10.1.0.0/16"), 1) + encode_prefix(ip_network("10.1.0.0/16"), 2)
    v6 = encode_prefix(ip_network("2001:db8::/32"), 7)
    msg = update_message(attrs=attrs_block(base_attrs(), IPV4_UNICAST, b"\x0a\0\0\x01"), nlri=nlri)
    msg6 = update_message(
        attrs=attrs_block(base_attrs(), IPV6_UNICAST, IPv6Address("2001:db8::1").packed, mp_nlri=v6)
    )
    out = lines(decode_hex(msg.hex() + msg6.hex(), add_path=True))
    assert "announced ipv4-unicast: 10.1.0.0/16 path-id 1" in out
    assert "announced ipv4-unicast: 10.1.0.0/16 path-id 2" in out
    assert "next hop ipv6-unicast: 2001:db8::1" in out
    assert "announced ipv6-unicast: 2001:db8::/32 path-id 7" in out
    # Without ADD-PATH the same bytes do not parse: the path id's first octet is a length.
    assert lines(decode_hex(msg.hex()))[-1].startswith(
        "error: NOTIFICATION UPDATE_MESSAGE/INVALID_NETWORK_FIELD (code 3, subcode 10)"
    )


def test_two_octet_as_session() -> None:
    wire = (
        encode_attr(AttrCode.NEXT_HOP, WK, b"\x0a\0\0\x01")
        + encode_attr(AttrCode.ORIGIN, WK, b"\x02")
        + encode_attr(AttrCode.AS_PATH, WK, encode_as_path(((2, (65001, 23456)),), 2))
        + encode_attr(AttrCode.AS4_PATH, OPT_T, encode_as_path(((2, (4200000001,)),), 4))
    )
    msg = update_message(attrs=wire, nlri=pfx("10.2.0.0/16"))
    out = lines(decode_hex(msg.hex(), four_octet_as=False))
    assert "attribute ORIGIN=INCOMPLETE (flags 0x40 well-known)" in out
    assert "attribute AS_PATH=65001 23456 (flags 0x40 well-known)" in out
    assert "attribute AS4_PATH=4200000001 (flags 0xc0 optional transitive)" in out
    assert out[-1] == "announced ipv4-unicast: 10.2.0.0/16"
    # Read as a 4-octet session, the 2-octet AS_PATH is malformed: treat-as-withdraw.
    out4 = lines(decode_hex(msg.hex()))
    assert "note: attribute 17 from a 4-octet-AS peer discarded (RFC 6793 §4.1)" in out4


def test_treat_as_withdraw_and_discard() -> None:
    wire = (
        encode_attr(AttrCode.NEXT_HOP, WK, b"\x0a\0\0\x01")
        + encode_attr(AttrCode.ORIGIN, WK, b"\x05")  # undefined ORIGIN: treat-as-withdraw
        + encode_attr(AttrCode.AS_PATH, WK, encode_as_path(((2, (65001,)),)))
        + encode_attr(AttrCode.ATOMIC_AGGREGATE, WK, b"\x01")  # length 1: discarded
    )
    msg = update_message(
        withdrawn=pfx("192.0.2.0/24"), attrs=wire, nlri=pfx("10.3.0.0/16") + pfx("10.4.0.0/16")
    )
    out = lines(decode_hex(msg.hex()))
    assert "attribute ORIGIN(05) (flags 0x40 well-known)" in out
    assert "attribute ATOMIC_AGGREGATE (flags 0x40 well-known)" in out
    assert out[-4:] == [
        "treat-as-withdraw: ORIGIN undefined ORIGIN value 5: TREAT_AS_WITHDRAW (RFC 7606 §7.1); "
        "ATOMIC_AGGREGATE length 1, expected 0: ATTRIBUTE_DISCARD (RFC 7606 §7.6)",
        "withdrawn ipv4-unicast: 192.0.2.0/24",
        "treat-as-withdraw ipv4-unicast: 10.3.0.0/16",
        "treat-as-withdraw ipv4-unicast: 10.4.0.0/16",
    ]
    assert not any(line.startswith(("error:", "announced")) for line in out)


def test_treat_as_withdraw_keeps_real_withdrawals_apart() -> None:
    nh = IPv6Address("2001:db8::1").packed
    wire = (
        mp_unreach_attr(IPV6_UNICAST, pfx("2001:db8:9::/48"))
        + mp_reach_attr(IPV6_UNICAST, nh, pfx("2001:db8:7::/48"))
        + encode_attr(AttrCode.NEXT_HOP, WK, b"\x0a\0\0\x01")
        + encode_attr(AttrCode.ORIGIN, WK, b"\x00")
        + encode_attr(AttrCode.AS_PATH, WK, encode_as_path(((2, (65001,)),)))
        + encode_attr(AttrCode.MULTI_EXIT_DISC, OPT, b"\x00\x01")  # length 2: withdraw
    )
    msg = update_message(withdrawn=pfx("192.0.2.0/24"), attrs=wire, nlri=pfx("10.6.0.0/16"))
    out = lines(decode_hex(msg.hex()))
    assert out[-5:] == [
        "treat-as-withdraw: MULTI_EXIT_DISC length 2, expected 4: TREAT_AS_WITHDRAW "
        "(RFC 7606 §7.4)",
        "withdrawn ipv4-unicast: 192.0.2.0/24",
        "withdrawn ipv6-unicast: 2001:db8:9::/48",
        "treat-as-withdraw ipv4-unicast: 10.6.0.0/16",
        "treat-as-withdraw ipv6-unicast: 2001:db8:7::/48",
    ]


def test_attribute_discard_note() -> None:
    wire = (
        encode_attr(AttrCode.NEXT_HOP, WK, b"\x0a\0\0\x01")
        + encode_attr(AttrCode.ORIGIN, WK, b"\x00")
        + encode_attr(AttrCode.AS_PATH, WK, encode_as_path(((2, (65001,)),)))
        + encode_attr(AttrCode.AGGREGATOR, OPT_T, b"\x00\x01")  # wrong length: discarded
        + encode_attr(99, OPT_T | AttrFlag.PARTIAL, b"\xbe\xef")  # unknown optional transitive
    )
    out = lines(decode_hex(update_message(attrs=wire, nlri=pfx("10.5.0.0/16")).hex()))
    assert "attribute AGGREGATOR(0001) (flags 0xc0 optional transitive)" in out
    assert "attribute attr99(flags=0xe0, beef) (flags 0xe0 optional transitive, partial)" in out
    assert out[-2:] == [
        "announced ipv4-unicast: 10.5.0.0/16",
        "note: AGGREGATOR length 2, expected 8: ATTRIBUTE_DISCARD (RFC 7606 §7.7)",
    ]


def test_malformed_update_stops_the_dump() -> None:
    bad = update_message(attrs=mp_reach_attr(IPV6_UNICAST, b"\x01" * 5, pfx("2001:db8::/32")))
    out = lines(decode_hex(bad.hex() + KEEPALIVE.hex()))
    assert out == [
        f"#1 UPDATE (type 2), length {len(bad)}, offset 0",
        "withdrawn routes: 0 bytes, path attributes: 18 bytes, NLRI: 0 bytes",
        "attribute MP_REACH_NLRI ipv6-unicast, next hop 0x0101010101, NLRI 5 bytes "
        "(flags 0x80 optional non-transitive)",
        "error: NOTIFICATION UPDATE_MESSAGE/OPTIONAL_ATTRIBUTE_ERROR (code 3, subcode 9), "
        "data 800e0f000201050101010101002020010db8: MP next hop length 5 for AFI 2",
    ]


def test_unrecognized_well_known_attribute() -> None:
    wire = encode_attr(AttrCode.ORIGIN, WK, b"\x00") + encode_attr(99, WK, b"\x01")
    out = lines(decode_hex(update_message(attrs=wire).hex()))
    assert out[-1] == (
        "error: NOTIFICATION UPDATE_MESSAGE/UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE (code 3, subcode 2), "
        "data 40630101: unrecognized well-known attribute 99"
    )


def test_attribute_field_overrun() -> None:
    # The last attribute claims more octets than the attribute field has (RFC 7606 §4).
    wire = encode_attr(AttrCode.ORIGIN, WK, b"\x00") + bytes((0x40, 2, 9, 2, 1))
    body = struct.pack("!HH", 0, len(wire)) + wire
    msg = MARKER + struct.pack("!HB", 19 + len(body), MsgType.UPDATE) + body
    out = lines(decode_hex(msg.hex()))
    assert (
        "attribute field: attribute 2 (flags 0x40 well-known): length 9 overruns the "
        "attribute field by 7 bytes"
    ) in out
    assert not any(line.startswith("error:") for line in out)


# ---------------------------------------------------------------------------------------------
# NOTIFICATION, ROUTE-REFRESH, KEEPALIVE


def test_notifications() -> None:
    shutdown = shutdown_notification(CeaseSub.ADMINISTRATIVE_SHUTDOWN, "maintenance, back at 14:00")
    hold = Notification(4, 0)
    length = Notification(1, 2, b"\x10\x01")
    odd = Notification(42, 7, b"\x01")
    text = "".join(m.encode().hex() for m in (shutdown, hold, length, odd))
    assert lines(decode_hex(text)) == [
        "#1 NOTIFICATION (type 3), length 48, offset 0",
        "notification: CEASE/ADMINISTRATIVE_SHUTDOWN (code 6, subcode 2)",
        'shutdown communication: "maintenance, back at 14:00" (RFC 9003)',
        "#2 NOTIFICATION (type 3), length 21, offset 48",
        "notification: HOLD_TIMER_EXPIRED (code 4, subcode 0)",
        "#3 NOTIFICATION (type 3), length 23, offset 69",
        "notification: MESSAGE_HEADER/BAD_MESSAGE_LENGTH (code 1, subcode 2)",
        "data: 1001",
        "bad length: 4097",
        "#4 NOTIFICATION (type 3), length 22, offset 92",
        "notification: 42/7 (code 42, subcode 7)",
        "data: 01",
    ]


def test_unsupported_capability_notification() -> None:
    note = Notification(2, 7, bytes((69, 4, 0, 1, 1, 3)))
    out = lines(decode_hex(note.encode().hex()))
    assert out[1:] == [
        "notification: OPEN_MESSAGE/UNSUPPORTED_CAPABILITY (code 2, subcode 7)",
        "data: 450400010103",
        "unsupported capability 69 ADD_PATH: ipv4-unicast send/receive",
    ]


def test_unsupported_capability_notification_malformed_data() -> None:
    note = Notification(2, 7, bytes((1, 3, 0, 1, 1)))
    out = lines(decode_hex(note.encode().hex()))
    assert out[-1] == (
        "unsupported capability 1 MULTIPROTOCOL: malformed (malformed capability 1: length "
        "must be 4 (RFC 4760 §8)): 000101"
    )


def test_route_refresh() -> None:
    msgs = [
        RouteRefresh(1, 1),
        RouteRefresh(2, 1, RefreshSubtype.BORR),
        RouteRefresh(2, 1, RefreshSubtype.EORR),
        RouteRefresh(1, 1, 7),
    ]
    out = lines(decode_hex("".join(m.encode().hex() for m in msgs)))
    assert out == [
        "#1 ROUTE-REFRESH (type 5), length 23, offset 0",
        "family: ipv4-unicast",
        "subtype: normal route refresh (RFC 2918)",
        "#2 ROUTE-REFRESH (type 5), length 23, offset 23",
        "family: ipv6-unicast",
        "subtype: BoRR, beginning of route refresh (RFC 7313)",
        "#3 ROUTE-REFRESH (type 5), length 23, offset 46",
        "family: ipv6-unicast",
        "subtype: EoRR, end of route refresh (RFC 7313)",
        "#4 ROUTE-REFRESH (type 5), length 23, offset 69",
        "family: ipv4-unicast",
        "subtype: reserved 7 (ignored)",
    ]


def test_route_refresh_bad_length() -> None:
    msg = MARKER + struct.pack("!HB", 24, MsgType.ROUTE_REFRESH) + bytes((0, 1, 0, 1, 0))
    out = lines(decode_hex(msg.hex()))
    assert out[-1] == (
        "error: NOTIFICATION ROUTE_REFRESH_MESSAGE/INVALID_MESSAGE_LENGTH (code 7, subcode 1), "
        f"data {msg.hex()}: ROUTE-REFRESH length 24"
    )


def test_keepalives() -> None:
    out = lines(decode_hex(KEEPALIVE.hex() * 3))
    assert out == [
        "#1 KEEPALIVE (type 4), length 19, offset 0",
        "#2 KEEPALIVE (type 4), length 19, offset 19",
        "#3 KEEPALIVE (type 4), length 19, offset 38",
    ]


# ---------------------------------------------------------------------------------------------
# Framing problems


def test_truncated_message() -> None:
    msg = update_message(
        attrs=attrs_block(base_attrs(), IPV4_UNICAST, b"\x0a\0\0\x01"), nlri=pfx("10.0.0.0/8")
    )
    out = lines(decode_hex(KEEPALIVE.hex() + msg[:-10].hex()))
    assert out == [
        "#1 KEEPALIVE (type 4), length 19, offset 0",
        f"#2 truncated UPDATE (type 2) at offset 19: have {len(msg) - 10} of {len(msg)} bytes, "
        "10 bytes missing",
    ]


def test_truncated_header() -> None:
    out = lines(decode_hex(KEEPALIVE.hex() + "ffffffff"))
    assert out[-1] == (
        "#2 truncated header at offset 19: have 4 of 19 header bytes, at least 15 bytes missing"
    )


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (
            b"\xfe" * 16 + b"\x00\x13\x04",
            "error: NOTIFICATION MESSAGE_HEADER/CONNECTION_NOT_SYNCHRONIZED (code 1, subcode 1), "
            "no data: marker is not all ones",
        ),
        (
            MARKER + b"\x00\x13\x09",
            "error: NOTIFICATION MESSAGE_HEADER/BAD_MESSAGE_TYPE (code 1, subcode 3), "
            "data 09: unknown message type 9",
        ),
        (
            MARKER + b"\x00\x14\x04\x00",
            "error: NOTIFICATION MESSAGE_HEADER/BAD_MESSAGE_LENGTH (code 1, subcode 2), "
            "data 0014: length 20 for type 4",
        ),
    ],
)
def test_bad_header(raw: bytes, error: str) -> None:
    out = lines(decode_hex(KEEPALIVE.hex() + raw.hex() + KEEPALIVE.hex()))
    assert out[0] == "#1 KEEPALIVE (type 4), length 19, offset 0"
    assert out[1].startswith("#2 ")
    assert out[2:] == [error]


def test_extended_message_length_is_flagged() -> None:
    prefixes = b"".join(pfx(f"10.{i >> 8}.{i & 255}.0/24") for i in range(1100))
    msg = update_message(
        attrs=attrs_block(base_attrs(), IPV4_UNICAST, b"\x0a\0\0\x01"), nlri=prefixes
    )
    out = lines(decode_hex(msg.hex()))
    assert out[1] == (
        "note: longer than 4096 octets: valid only after both sides advertised the extended "
        "message capability (RFC 8654)"
    )
    assert out[-1] == "announced ipv4-unicast: 10.4.75.0/24"


# ---------------------------------------------------------------------------------------------
# Robustness: any input is described, never an exception


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.booleans(), st.booleans())
def test_arbitrary_bytes_never_raise(data: bytes, four: bool, add_path: bool) -> None:
    assert isinstance(decode_hex(data.hex(), four_octet_as=four, add_path=add_path), str)


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from([1, 2, 3, 4, 5]),
    st.binary(max_size=300),
    st.booleans(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
)
def test_arbitrary_bodies_never_raise(
    mtype: int, body: bytes, four: bool, add_path: bool, skew: int
) -> None:
    # A valid header in front of random bytes reaches every body decoder; `skew` makes the
    # length field lie a little, for truncation and trailing garbage.
    length = max(0, min(0xFFFF, 19 + len(body) + skew))
    msg = MARKER + struct.pack("!HB", length, mtype) + body
    out = decode_bytes(msg, four_octet_as=four, add_path=add_path)
    assert out.startswith("#1 ")


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0x40, 0x80, 0xC0, 0xE0, 0x50, 0x90, 0x00]),
            st.sampled_from([int(c) for c in AttrCode] + [99, 255]),
            st.binary(max_size=40),
        ),
        max_size=6,
    ),
    st.binary(max_size=20),
    st.binary(max_size=20),
    st.booleans(),
)
def test_arbitrary_attributes_never_raise(
    attrs: list[tuple[int, int, bytes]], withdrawn: bytes, nlri: bytes, add_path: bool
) -> None:
    wire = b"".join(encode_attr(code, flags, value) for flags, code, value in attrs)
    msg = update_message(withdrawn=withdrawn, attrs=wire, nlri=nlri)
    assert decode_bytes(msg, add_path=add_path).startswith("#1 UPDATE (type 2)")
