"""The BMP and MRT encoders byte by byte, against the layouts of RFC 7854 §4 and RFC 6396 §2-4."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

from pyrr.bgp.constants import AttrCode, MsgType
from pyrr.monitor import bmp, mrt


def test_common_and_per_peer_headers() -> None:
    head = bmp.PeerHeader(
        bmp.PeerType.GLOBAL_INSTANCE,
        bmp.PeerFlag.IPV6 | bmp.PeerFlag.AS2,
        IPv6Address("2001:db8::1"),
        65001,
        0x0A000001,
    )
    stamped = head.at(1_800_000_000.5)
    # RFC 7854 §4.2: type, flags, distinguisher (8), address (16), AS, BGP ID, seconds, micros.
    assert len(stamped) == bmp.PEER_HEADER_LEN == 42
    assert stamped[:2] == bytes((0, 0xA0)) and stamped[2:10] == bytes(8)
    assert stamped[10:26] == IPv6Address("2001:db8::1").packed
    assert struct.unpack("!IIII", stamped[26:]) == (65001, 0x0A000001, 1_800_000_000, 500_000)
    assert head.with_flags(bmp.PeerFlag.IPV6).at(0)[1] == 0x80
    # §4.2: an IPv4 peer address is right-aligned in 16 octets.
    assert bmp.address16(IPv4Address("10.0.0.1")) == bytes(12) + bytes((10, 0, 0, 1))
    msg = bmp.route_monitoring_body(stamped, b"\x00\x00\x00\x00")
    # §4.1: version 3, the whole length, the type; then the header and a whole BGP UPDATE.
    assert msg[:6] == struct.pack("!BIB", 3, len(msg), bmp.BmpMsgType.ROUTE_MONITORING)
    assert msg[6:48] == stamped
    assert msg[48:64] == b"\xff" * 16 and struct.unpack_from("!HB", msg, 64) == (23, MsgType.UPDATE)
    assert msg == bmp.route_monitoring(stamped, msg[48:])


def test_initiation_termination_peer_down_and_statistics() -> None:
    init = bmp.initiation("pyrr", "rr1", note="hello")
    assert init[5] == bmp.BmpMsgType.INITIATION
    # §4.4: TLVs of type (2), length (2), value: sysDescr (1), sysName (2), String (0).
    assert (
        init[6:]
        == (struct.pack("!HH", 1, 4) + b"pyrr" + struct.pack("!HH", 2, 3) + b"rr1")
        + struct.pack("!HH", 0, 5)
        + b"hello"
    )
    term = bmp.termination(bmp.TermReason.ADMINISTRATIVELY_CLOSED, "bye")
    assert term[6:] == struct.pack("!HHH", 1, 2, 0) + struct.pack("!HH", 0, 3) + b"bye"
    head = bytes(42)
    down = bmp.peer_down(head, bmp.PeerDownReason.LOCAL_NO_NOTIFICATION, struct.pack("!H", 0))
    assert down[5] == bmp.BmpMsgType.PEER_DOWN and down[48:] == bytes((2, 0, 0))
    report = bmp.statistics_report(
        head,
        [
            bmp.counter32(bmp.StatType.UPDATES_TREATED_AS_WITHDRAW, 3),
            bmp.afi_safi_gauge64(bmp.StatType.ADJ_RIB_IN_ROUTES_AFI_SAFI, 2, 1, 7),
        ],
    )
    # §4.8: Stats Count, then 32-bit counters and 64-bit gauges (AFI, SAFI first for 9).
    assert report[48:] == (
        struct.pack("!I", 2) + struct.pack("!HHI", 11, 4, 3) + struct.pack("!HHHBQ", 9, 11, 2, 1, 7)
    )


def test_mrt_records() -> None:
    body = mrt.peer_index_table(
        0x01020304, "", [(1, IPv4Address("10.0.0.1"), 64512), (2, IPv6Address("::1"), 70000)]
    )
    # RFC 6396 §4.3.1: collector id, view name, peer count, then typed peer entries (AS4 bit
    # always; the IPv6 bit for the second).
    assert body == (
        struct.pack("!IHH", 0x01020304, 0, 2)
        + struct.pack("!BI", 2, 1)
        + IPv4Address("10.0.0.1").packed
        + struct.pack("!I", 64512)
        + struct.pack("!BI", 3, 2)
        + IPv6Address("::1").packed
        + struct.pack("!I", 70000)
    )
    rec = mrt.record(7, mrt.MrtType.TABLE_DUMP_V2, mrt.TableDumpV2.PEER_INDEX_TABLE, body)
    assert rec[:12] == struct.pack("!IHHI", 7, 13, 1, len(body))
    # §4.3.4: an IPv6 entry's next hop is an MP_REACH_NLRI of only its length and address.
    attrs = mrt.rib_attributes(2, b"", IPv6Address("2001:db8::1").packed)
    assert (
        attrs == bytes((0x80, AttrCode.MP_REACH_NLRI, 17, 16)) + IPv6Address("2001:db8::1").packed
    )
    # §4.4.2: without 4-octet ASes the ASes are 2 octets, AS_TRANS for a larger one.
    head = mrt.bgp4mp_head(70000, 64512, IPv4Address("10.0.0.1"), None, False)
    assert head == struct.pack("!HHHH", 23456, 64512, 0, 1) + bytes((10, 0, 0, 1)) + bytes(4)
    upd = mrt.update_message_record(9, head, b"\x00\x00\x00\x00", False)
    assert struct.unpack_from("!IHH", upd) == (9, mrt.MrtType.BGP4MP, mrt.Bgp4mp.MESSAGE)
    state = mrt.state_change_record(
        9, mrt.bgp4mp_head(1, 2, IPv4Address("10.0.0.1"), None, True), 1, 4
    )
    assert struct.unpack_from("!HH", state, len(state) - 4) == (1, 4)
    assert struct.unpack_from("!H", state, 6)[0] == mrt.Bgp4mp.STATE_CHANGE_AS4
