"""The UPDATE encoder (pyrr/bgp/encode.py): the message and attribute primitives byte for byte,
and packing: what goes in comes back out of pyrr's decoder, within the size limit, dense."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrr.bgp.constants import (
    HEADER_LEN,
    MAX_EXTENDED_MESSAGE_LEN,
    MAX_MESSAGE_LEN,
)
from pyrr.bgp.encode import (
    _chunks,
    mp_reach_attr,
    mp_unreach_attr,
    next_hop_attr,
    pack_announce,
    pack_withdraw,
    update_message,
)
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family, prefix_to_str

from ..rib.factories import attrs, decode_messages, nh, pfx, with_path_id

ATTRS = attrs(
    local_pref=100,
    as_path=[65001, 65002],
    med=5,
    originator_id="10.0.0.1",
    cluster_list=["198.18.0.250"],
    communities=[(64512, 100)],
)
# Header + withdrawn length + attribute length (RFC 4271 §4.3).
UPDATE_OVERHEAD = HEADER_LEN + 4


def v4_slash26(n: int) -> list[bytes]:
    """n distinct /26 prefixes (5 octets each)."""
    out = []
    for i in range(n):
        x = (10 << 24) | (i << 6)
        out.append(bytes((26,)) + struct.pack("!I", x))
    return out


def v6_slash64(n: int) -> list[bytes]:
    return [
        bytes((64,)) + struct.pack("!HHHH", 0x2001, 0xDB8, i >> 16, i & 0xFFFF) for i in range(n)
    ]


NH4 = nh("10.0.0.11")
NH6 = nh("fd00::11")
NH6_LL = NH6 + nh("fe80::11")
ORIGIN = b"\x40\x01\x01\x00"  # ORIGIN IGP, well-known flags
P1, P2 = pfx("10.65.0.0/26"), pfx("192.168.0.0/16")
V6A = pfx("fd00:10:244::/122")


def check_sizes(msgs: list[bytes], max_len: int) -> None:
    for m in msgs:
        assert len(m) <= max_len
        assert struct.unpack_from("!H", m, 16)[0] == len(m)


# -- message and attribute primitives ----------------------------------------------------------


def test_update_message_layout() -> None:
    msg = update_message(withdrawn=P2, attrs=ORIGIN, nlri=P1)
    assert msg[:16] == b"\xff" * 16
    assert struct.unpack_from("!HB", msg, 16) == (len(msg), 2)
    assert msg[19:] == (
        struct.pack("!H", len(P2)) + P2 + struct.pack("!H", len(ORIGIN)) + ORIGIN + P1
    )


def test_mp_attribute_encoders() -> None:
    assert mp_reach_attr(IPV6_UNICAST, NH6, V6A) == (
        b"\x80\x0e" + bytes((5 + 16 + len(V6A),)) + b"\x00\x02\x01\x10" + NH6 + b"\x00" + V6A
    )
    assert mp_unreach_attr(IPV6_UNICAST, V6A) == (
        b"\x80\x0f" + bytes((3 + len(V6A),)) + b"\x00\x02\x01" + V6A
    )
    assert next_hop_attr(NH4) == b"\x40\x03\x04" + NH4
    big = b"".join(pfx(f"fd00:{i:x}::/64") for i in range(40))
    attr = mp_reach_attr(IPV6_UNICAST, NH6_LL, big)
    assert attr[0] == 0x90 and struct.unpack_from("!H", attr, 2)[0] == 5 + 32 + len(big)


# -- round trips ----------------------------------------------------------------------------


def test_ipv4_announce_round_trip() -> None:
    prefixes = [pfx("10.1.0.0/24"), pfx("10.2.3.128/25"), pfx("0.0.0.0/0"), pfx("192.0.2.7/32")]
    msgs = pack_announce(IPV4_UNICAST, ATTRS.wire, nh("192.0.2.1"), prefixes, MAX_MESSAGE_LEN)
    assert len(msgs) == 1
    d = decode_messages(msgs)
    assert d.announced == {
        IPV4_UNICAST: ["10.1.0.0/24", "10.2.3.128/25", "0.0.0.0/0", "192.0.2.7/32"]
    }
    assert d.withdrawn == {}
    assert d.next_hops == {nh("192.0.2.1")}
    assert d.attrs == [ATTRS]


@pytest.mark.parametrize("hop", ["2001:db8::1", "2001:db8::1 fe80::1"])
def test_ipv6_announce_round_trip(hop: str) -> None:
    # RFC 2545 §3: a global next hop, optionally followed by a link-local one (32 octets).
    next_hop = b"".join(nh(h) for h in hop.split())
    prefixes = [pfx("2001:db8:1::/48"), pfx("::/0"), pfx("2001:db8::7/128"), pfx("2001:db8::/33")]
    msgs = pack_announce(IPV6_UNICAST, ATTRS.wire, next_hop, prefixes, MAX_MESSAGE_LEN)
    assert len(msgs) == 1
    d = decode_messages(msgs)
    assert d.announced == {
        IPV6_UNICAST: ["2001:db8:1::/48", "::/0", "2001:db8::7/128", "2001:db8::/33"]
    }
    assert d.next_hops == {next_hop}
    assert d.attrs == [ATTRS]


def test_withdraw_round_trip() -> None:
    w4 = pack_withdraw(IPV4_UNICAST, [pfx("10.1.0.0/24"), pfx("10.9.0.0/16")], MAX_MESSAGE_LEN)
    w6 = pack_withdraw(IPV6_UNICAST, [pfx("2001:db8::/32")], MAX_MESSAGE_LEN)
    d = decode_messages(w4 + w6)
    assert d.withdrawn == {
        IPV4_UNICAST: ["10.1.0.0/24", "10.9.0.0/16"],
        IPV6_UNICAST: ["2001:db8::/32"],
    }
    assert d.announced == {} and d.end_of_rib == []


def test_empty_input_gives_no_messages() -> None:
    # An empty UPDATE would be an End-of-RIB (RFC 4724 §2): never send one by accident.
    assert pack_announce(IPV4_UNICAST, ATTRS.wire, nh("192.0.2.1"), [], MAX_MESSAGE_LEN) == []
    assert pack_announce(IPV6_UNICAST, ATTRS.wire, nh("2001:db8::1"), [], MAX_MESSAGE_LEN) == []
    assert pack_withdraw(IPV4_UNICAST, [], MAX_MESSAGE_LEN) == []
    assert pack_withdraw(IPV6_UNICAST, [], MAX_MESSAGE_LEN) == []


@pytest.mark.parametrize("family", [IPV4_UNICAST, IPV6_UNICAST])
def test_add_path_keys_round_trip(family: Family) -> None:
    base = "10.1.0.0/24" if family == IPV4_UNICAST else "2001:db8::/48"
    hop = nh("192.0.2.1") if family == IPV4_UNICAST else nh("2001:db8::1")
    keys = [with_path_id(i, pfx(base)) for i in (1, 2, 0xFFFFFFFF)]
    ap = frozenset({family})
    d = decode_messages(
        pack_announce(family, ATTRS.wire, hop, keys, MAX_MESSAGE_LEN), add_path_rx=ap
    )
    assert [u.announced[0][2] for u in d.updates] == [keys]
    d = decode_messages(pack_withdraw(family, keys, MAX_MESSAGE_LEN), add_path_rx=ap)
    assert [u.withdrawn[0][1] for u in d.updates] == [keys]


# -- splitting and density ------------------------------------------------------------------


def _expected_count(total_octets: int, room: int, item: int) -> int:
    per_msg = room // item
    return math.ceil(total_octets // item / per_msg)


@pytest.mark.parametrize("max_len", [MAX_MESSAGE_LEN, MAX_EXTENDED_MESSAGE_LEN])
def test_many_ipv4_prefixes_split_densely(max_len: int) -> None:
    n = 250_000
    prefixes = v4_slash26(n)
    msgs = pack_announce(IPV4_UNICAST, ATTRS.wire, nh("192.0.2.1"), prefixes, max_len)
    check_sizes(msgs, max_len)
    # NEXT_HOP attribute (3 + 4) + the attribute block is in every message.
    room = max_len - UPDATE_OVERHEAD - 7 - len(ATTRS.wire)
    assert len(msgs) == _expected_count(n * 5, room, 5)
    # Dense: every message but the last has no room for one more prefix.
    for m in msgs[:-1]:
        assert len(m) + 5 > max_len
    d = decode_messages(msgs)
    assert len(d.updates) == len(msgs)
    assert all(u.announced[0][2] for u in d.updates)
    assert d.announced_keys[IPV4_UNICAST] == prefixes
    assert prefix_to_str(d.announced_keys[IPV4_UNICAST][-1], IPV4_UNICAST) == "10.244.35.192/26"


@pytest.mark.parametrize("max_len", [MAX_MESSAGE_LEN, MAX_EXTENDED_MESSAGE_LEN])
def test_many_ipv4_withdrawals_split_densely(max_len: int) -> None:
    n = 250_000
    prefixes = v4_slash26(n)
    msgs = pack_withdraw(IPV4_UNICAST, prefixes, max_len)
    check_sizes(msgs, max_len)
    assert len(msgs) == _expected_count(n * 5, max_len - UPDATE_OVERHEAD, 5)
    for m in msgs[:-1]:
        assert len(m) + 5 > max_len
    assert decode_messages(msgs).withdrawn_keys[IPV4_UNICAST] == prefixes


@pytest.mark.parametrize("max_len", [MAX_MESSAGE_LEN, MAX_EXTENDED_MESSAGE_LEN])
def test_many_ipv6_prefixes_split_densely(max_len: int) -> None:
    n = 60_000
    prefixes = v6_slash64(n)  # 9 octets each
    hop = nh("2001:db8::1") + nh("fe80::1")
    msgs = pack_announce(IPV6_UNICAST, ATTRS.wire, hop, prefixes, max_len)
    check_sizes(msgs, max_len)
    # MP_REACH_NLRI: 4-octet attribute header + AFI/SAFI/NH length (4) + next hop + reserved.
    room = max_len - UPDATE_OVERHEAD - len(ATTRS.wire) - 4 - (4 + 32 + 1)
    assert len(msgs) == _expected_count(n * 9, room, 9)
    for m in msgs[:-1]:
        assert len(m) + 9 > max_len
    d = decode_messages(msgs)
    assert d.announced_keys[IPV6_UNICAST] == prefixes
    assert d.next_hops == {hop}
    assert all(a == ATTRS for a in d.attrs)


@pytest.mark.parametrize("max_len", [MAX_MESSAGE_LEN, MAX_EXTENDED_MESSAGE_LEN])
def test_many_ipv6_withdrawals_split_densely(max_len: int) -> None:
    n = 60_000
    prefixes = v6_slash64(n)
    msgs = pack_withdraw(IPV6_UNICAST, prefixes, max_len)
    check_sizes(msgs, max_len)
    room = max_len - UPDATE_OVERHEAD - 4 - 3
    assert len(msgs) == _expected_count(n * 9, room, 9)
    for m in msgs[:-1]:
        assert len(m) + 9 > max_len
    d = decode_messages(msgs)
    assert d.withdrawn_keys[IPV6_UNICAST] == prefixes


def test_mixed_prefix_lengths_never_exceed_the_limit() -> None:
    # /128s (17 octets) and /0s (1 octet) interleaved: the split must respect octets, not counts.
    prefixes = []
    for i in range(3000):
        prefixes.append(bytes((128,)) + struct.pack("!QQ", 0x20010DB8 << 32, i))
        if i % 7 == 0:
            prefixes.append(pfx("::/0"))
    for max_len in (MAX_MESSAGE_LEN, MAX_EXTENDED_MESSAGE_LEN):
        msgs = pack_announce(IPV6_UNICAST, ATTRS.wire, nh("2001:db8::1"), prefixes, max_len)
        check_sizes(msgs, max_len)
        d = decode_messages(msgs)
        assert d.announced_keys[IPV6_UNICAST] == prefixes
        wd = pack_withdraw(IPV6_UNICAST, prefixes, max_len)
        check_sizes(wd, max_len)
        assert decode_messages(wd).withdrawn_keys[IPV6_UNICAST] == prefixes


@given(
    sizes=st.lists(st.integers(1, 21), min_size=0, max_size=60),
    uniform=st.booleans(),
    room=st.integers(1, 120),
)
def test_chunks_fill_runs_in_order_within_room(sizes: list[int], uniform: bool, room: int) -> None:
    """Runs keep the prefixes' order, hold at most `room` octets (one prefix longer than
    `room` alone) and each is as full as the next prefix allows: the same whether the one-length
    shortcut is taken or not."""
    if uniform and sizes:
        sizes = [sizes[0]] * len(sizes)
    prefixes = [bytes((i % 256,)) * n for i, n in enumerate(sizes)]
    runs = _chunks(prefixes, room)
    assert b"".join(runs) == b"".join(prefixes)
    expected: list[bytes] = []
    run: list[bytes] = []
    for p in prefixes:  # the greedy reference
        if run and sum(map(len, run)) + len(p) > room:
            expected.append(b"".join(run))
            run = []
        run.append(p)
    if run:
        expected.append(b"".join(run))
    assert runs == expected
