"""Path attributes: TLV encoding, AS_PATH forms, RFC 6793 AS4 handling, `PathAttrs`."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrr.bgp.attributes import (
    EXPECTED_FLAGS,
    AsPath,
    PathAttrs,
    as_path_length,
    decode_as_path,
    describe_attr,
    encode_as_path,
    encode_attr,
    first_as,
    merge_as4_path,
)
from pyrr.bgp.constants import AS_TRANS, AsPathSegType, AttrCode, AttrFlag, Origin
from pyrr.bgp.encode import update_message
from pyrr.bgp.nlri import IPV4_UNICAST
from pyrr.bgp.update import UpdateContext, decode_update

from .helpers import attrs_block

SEQ, SET = AsPathSegType.AS_SEQUENCE, AsPathSegType.AS_SET
CSEQ, CSET = AsPathSegType.AS_CONFED_SEQUENCE, AsPathSegType.AS_CONFED_SET
WK = AttrFlag.TRANSITIVE
OPT = AttrFlag.OPTIONAL
OPT_T = AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE

asn4 = st.integers(0, 2**32 - 1)
asn2 = st.integers(0, 0xFFFF)
big_or_small = st.one_of(asn2, st.integers(0x10000, 2**32 - 1))


def segments(
    asn: st.SearchStrategy[int], types: list[int], max_len: int = 8
) -> st.SearchStrategy[AsPath]:
    seg = st.tuples(st.sampled_from(types), st.lists(asn, min_size=1, max_size=max_len).map(tuple))
    return st.lists(seg, max_size=6).map(tuple)


as_paths = segments(asn4, [SEQ, SET])
as_paths_confed = segments(asn4, [SEQ, SET, CSEQ, CSET])


# -- encode_attr ---------------------------------------------------------------------------------


def test_encode_attr_short_and_extended() -> None:
    assert encode_attr(AttrCode.ORIGIN, WK, b"\x00") == b"\x40\x01\x01\x00"
    assert encode_attr(AttrCode.ATOMIC_AGGREGATE, WK, b"") == b"\x40\x06\x00"
    v = bytes(255)
    assert encode_attr(99, OPT_T, v) == b"\xc0\x63\xff" + v
    v = bytes(256)
    # Extended Length exactly when the value needs two length octets (RFC 4271 §4.3).
    assert encode_attr(99, OPT_T, v) == b"\xd0\x63\x01\x00" + v


def test_encode_attr_masks_meaningless_flag_bits() -> None:
    # The low four bits are unused; a stray Extended Length bit is recomputed.
    assert encode_attr(8, 0xFF, b"\x00" * 4) == b"\xe0\x08\x04" + b"\x00" * 4


# -- AS_PATH ---------------------------------------------------------------------------------


@given(as_paths_confed)
def test_as_path_round_trip_4_octet(path: AsPath) -> None:
    assert decode_as_path(encode_as_path(path, 4), 4) == path


@given(segments(asn2, [SEQ, SET, CSEQ, CSET]))
def test_as_path_round_trip_2_octet(path: AsPath) -> None:
    assert decode_as_path(encode_as_path(path, 2), 2) == path


def test_as_path_wire_forms() -> None:
    path = ((SEQ, (64512, 4200000001)), (SET, (1, 2)))
    assert encode_as_path(path, 4) == bytes.fromhex(
        "0202 0000fc00 fa56ea01 0102 00000001 00000002".replace(" ", "")
    )
    # 2-octet form: an AS that does not fit becomes AS_TRANS (RFC 6793 §4.2.2).
    assert encode_as_path(path, 2) == bytes.fromhex(
        "0202 fc00 5ba0 0102 0001 0002".replace(" ", "")
    )
    assert encode_as_path(()) == b""
    assert decode_as_path(b"", 4) == ()


def test_long_segment_is_split_at_255() -> None:
    asns = tuple(range(1, 601))
    wire = encode_as_path(((SEQ, asns),), 4)
    decoded = decode_as_path(wire, 4)
    assert decoded == ((SEQ, asns[:255]), (SEQ, asns[255:510]), (SEQ, asns[510:]))
    assert as_path_length(decoded) == 600


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (b"\x02", 4),  # header truncated
        (b"\x02\x00", 4),  # zero-length segment
        (b"\x00\x01\x00\x00\x00\x01", 4),  # segment type 0
        (b"\x05\x01\x00\x00\x00\x01", 4),  # segment type 5
        (b"\x02\x02\x00\x00\x00\x01", 4),  # overrun
        (b"\x02\x01\x00\x00\x00\x01\x02", 4),  # trailing octet
        (b"\x02\x01\x00\x01", 4),  # a 2-octet path read as 4-octet
        (b"\x02\x02\x00\x01", 2),
    ],
)
def test_malformed_as_path(value: bytes, size: int) -> None:
    """RFC 7606 §7.2 malformations decode to None (the caller picks the action)."""
    assert decode_as_path(value, size) is None


def test_as_path_length_rules() -> None:
    """RFC 4271 §9.1.2.2 a: a set counts 1; RFC 5065 §5.3: confederation segments count 0."""
    path: AsPath = ((CSEQ, (1, 2)), (SEQ, (3, 4, 5)), (SET, (6, 7, 8)), (CSET, (9,)))
    assert as_path_length(path) == 4
    assert as_path_length(()) == 0


def test_first_as() -> None:
    assert first_as(((SEQ, (65001, 65002)),)) == 65001
    assert first_as(((CSEQ, (1,)), (CSET, (2,)), (SEQ, (65003,)))) == 65003
    assert first_as(((SET, (65001,)),)) is None
    assert first_as(()) is None


# -- RFC 6793 §4.2.3 merge -----------------------------------------------------------------------


def test_merge_replaces_as_trans() -> None:
    as_path = ((SEQ, (65001, AS_TRANS, AS_TRANS)),)
    as4 = ((SEQ, (65001, 4200000001, 4200000002)),)
    assert merge_as4_path(as_path, as4) == as4


def test_merge_keeps_leading_2_octet_speakers() -> None:
    # Two 2-octet ASes prepended after the path left 4-octet land.
    as_path = ((SEQ, (65010, 65011, AS_TRANS, 65001)),)
    as4 = ((SEQ, (4200000001, 65001)),)
    assert merge_as4_path(as_path, as4) == ((SEQ, (65010, 65011)), (SEQ, (4200000001, 65001)))


def test_merge_with_sets_counts_a_set_as_one() -> None:
    as_path: AsPath = ((SEQ, (65010,)), (SET, (AS_TRANS, 65002)))
    as4: AsPath = ((SET, (4200000001, 65002)),)
    assert merge_as4_path(as_path, as4) == ((SEQ, (65010,)), (SET, (4200000001, 65002)))
    as_path = ((SET, (65010, 65011)), (SEQ, (AS_TRANS,)))
    as4 = ((SEQ, (4200000001,)),)
    assert merge_as4_path(as_path, as4) == ((SET, (65010, 65011)), (SEQ, (4200000001,)))


def test_merge_ignores_longer_as4_path() -> None:
    """§4.2.3: an AS4_PATH longer than AS_PATH is not to be trusted: AS_PATH is the path."""
    as_path = ((SEQ, (65001, AS_TRANS)),)
    as4 = ((SEQ, (1, 2, 3)),)
    assert merge_as4_path(as_path, as4) == as_path
    assert merge_as4_path((), ((SEQ, (1,)),)) == ()


def test_merge_keeps_leading_confederation_segments() -> None:
    """§4.2.3: a confederation segment is prepended if it leads, or is adjacent to a segment
    that is prepended (AS4_PATH never carries them)."""
    as_path: AsPath = ((CSEQ, (65100, 65101)), (SEQ, (AS_TRANS,)))
    as4: AsPath = ((SEQ, (4200000001,)),)
    assert merge_as4_path(as_path, as4) == ((CSEQ, (65100, 65101)), (SEQ, (4200000001,)))
    as_path = ((CSEQ, (65100,)), (SEQ, (65010, AS_TRANS)))
    assert merge_as4_path(as_path, as4) == ((CSEQ, (65100,)), (SEQ, (65010,)), (SEQ, (4200000001,)))


# -- PathAttrs -------------------------------------------------------------------------------


def _full_items() -> list[tuple[int, int, bytes]]:
    return [
        (AttrCode.LARGE_COMMUNITIES, OPT_T, struct.pack("!III", 4200000001, 1, 2)),
        (AttrCode.ORIGIN, WK, b"\x01"),
        (AttrCode.AS_PATH, WK, encode_as_path(((SEQ, (64512, 4200000001)), (SET, (7, 8))))),
        (AttrCode.MULTI_EXIT_DISC, OPT, struct.pack("!I", 50)),
        (AttrCode.LOCAL_PREF, WK, struct.pack("!I", 200)),
        (AttrCode.ATOMIC_AGGREGATE, WK, b""),
        (AttrCode.AGGREGATOR, OPT_T, struct.pack("!I", 4200000001) + bytes((10, 0, 0, 9))),
        (AttrCode.COMMUNITIES, OPT_T, struct.pack("!HH", 64512, 1)),
        (AttrCode.ORIGINATOR_ID, OPT, bytes((10, 0, 0, 11))),
        (AttrCode.CLUSTER_LIST, OPT, bytes((10, 0, 0, 1, 10, 0, 0, 2))),
        (AttrCode.EXTENDED_COMMUNITIES, OPT_T, bytes.fromhex("0002fc00000000c8")),
    ]


def test_path_attrs_fields_and_canonical_order() -> None:
    pa = PathAttrs(_full_items())
    assert [c for c, _f, _v in pa.items] == sorted(c for c, _f, _v in _full_items())
    assert pa.origin == Origin.EGP
    assert pa.as_path == ((SEQ, (64512, 4200000001)), (SET, (7, 8)))
    assert pa.med == 50
    assert pa.local_pref == 200
    assert pa.originator_id == 0x0A00000B
    assert pa.cluster_list == (0x0A000001, 0x0A000002)
    assert pa.wire == b"".join(encode_attr(c, f, v) for c, f, v in pa.items)
    assert pa.get(AttrCode.COMMUNITIES) == struct.pack("!HH", 64512, 1)
    assert pa.get(AttrCode.NEXT_HOP) is None


def test_path_attrs_defaults() -> None:
    pa = PathAttrs([])
    assert (pa.origin, pa.as_path, pa.med, pa.local_pref, pa.originator_id, pa.cluster_list) == (
        Origin.INCOMPLETE,
        (),
        None,
        None,
        None,
        (),
    )
    assert pa.wire == b""


def test_path_attrs_equality_is_wire_equality() -> None:
    a = PathAttrs(_full_items())
    b = PathAttrs(list(reversed(_full_items())))
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    c = a.replace(AttrCode.MULTI_EXIT_DISC, struct.pack("!I", 51))
    assert c != a and c.med == 51
    assert a != "not attrs"


def test_replace_and_remove() -> None:
    pa = PathAttrs(_full_items())
    lp = pa.replace(AttrCode.LOCAL_PREF, struct.pack("!I", 300))
    assert lp.local_pref == 300
    assert (AttrCode.LOCAL_PREF, WK, struct.pack("!I", 300)) in lp.items
    gone = pa.replace(AttrCode.ORIGINATOR_ID, None)
    assert gone.originator_id is None and gone.get(AttrCode.ORIGINATOR_ID) is None
    # Flags default to the attribute's own; unknown codes default to optional transitive.
    assert (99, OPT_T, b"x") in pa.replace(99, b"x").items
    assert (99, OPT, b"x") in pa.replace(99, b"x", OPT).items
    assert pa == PathAttrs(_full_items())  # immutable: the original is untouched


def test_repr_and_describe() -> None:
    text = repr(PathAttrs(_full_items()))
    for part in (
        "ORIGIN=EGP",
        "AS_PATH=64512 4200000001 {7,8}",
        "MULTI_EXIT_DISC=50",
        "LOCAL_PREF=200",
        "ATOMIC_AGGREGATE",
        "COMMUNITIES=64512:1",
        "ORIGINATOR_ID=10.0.0.11",
        "CLUSTER_LIST=10.0.0.1 10.0.0.2",
        "LARGE_COMMUNITIES=4200000001:1:2",
    ):
        assert part in text, part
    assert describe_attr(200, 0xC0, b"\x01") == "attr200(flags=0xc0, 01)"
    assert describe_attr(AttrCode.ORIGIN, WK, b"\x07") == "ORIGIN(07)"
    assert describe_attr(AttrCode.AS_PATH, WK, b"\x02\x01\x00\x01", asn_size=2) == "AS_PATH=1"


def test_expected_flags_table() -> None:
    well_known = {
        AttrCode.ORIGIN,
        AttrCode.AS_PATH,
        AttrCode.NEXT_HOP,
        AttrCode.LOCAL_PREF,
        AttrCode.ATOMIC_AGGREGATE,
    }
    non_transitive = {
        AttrCode.MULTI_EXIT_DISC,
        AttrCode.ORIGINATOR_ID,
        AttrCode.CLUSTER_LIST,
        AttrCode.MP_REACH_NLRI,
        AttrCode.MP_UNREACH_NLRI,
    }
    for code in AttrCode:
        if code in well_known:
            assert EXPECTED_FLAGS[code] == WK
        elif code in non_transitive:
            assert EXPECTED_FLAGS[code] == OPT
        else:
            assert EXPECTED_FLAGS[code] == OPT_T, code


# -- wire_for_as2 (RFC 6793 §4.2.2) ----------------------------------------------------------


def _decode_as2(wire: bytes, ibgp: bool = True) -> PathAttrs | None:
    """Decode attributes as a 2-octet session would (with a NEXT_HOP and one prefix added)."""
    ctx = UpdateContext(four_octet_as=False, ibgp=ibgp, peer_as=64512)
    body = update_message(attrs=b"\x40\x03\x04\x0a\x00\x00\x01" + wire, nlri=b"\x08\x0a")[19:]
    upd = decode_update(body, ctx)
    assert not upd.error, upd.error
    return upd.attrs


def test_wire_for_as2_small_ases_no_as4_path() -> None:
    pa = PathAttrs(
        [
            (AttrCode.ORIGIN, WK, b"\x00"),
            (AttrCode.AS_PATH, WK, encode_as_path(((SEQ, (65001, 65002)),))),
        ]
    )
    wire = pa.wire_for_as2()
    assert wire == b"\x40\x01\x01\x00" + b"\x40\x02\x06\x02\x02\xfd\xe9\xfd\xea"
    assert _decode_as2(wire) == pa


def test_wire_for_as2_big_as_uses_as_trans_and_as4_path() -> None:
    path = ((SEQ, (65001, 4200000001)), (SET, (4200000002, 7)))
    pa = PathAttrs([(AttrCode.ORIGIN, WK, b"\x00"), (AttrCode.AS_PATH, WK, encode_as_path(path))])
    wire = pa.wire_for_as2()
    as2 = encode_as_path(((SEQ, (65001, AS_TRANS)), (SET, (AS_TRANS, 7))), 2)
    assert wire == (
        b"\x40\x01\x01\x00"
        + encode_attr(AttrCode.AS_PATH, WK, as2)
        + encode_attr(AttrCode.AS4_PATH, OPT_T, encode_as_path(path, 4))
    )
    assert _decode_as2(wire) == pa


def test_wire_for_as2_aggregator() -> None:
    big = PathAttrs([(AttrCode.AGGREGATOR, OPT_T, struct.pack("!I", 4200000001) + b"\x0a\0\0\x01")])
    assert big.wire_for_as2() == (
        encode_attr(AttrCode.AGGREGATOR, OPT_T, struct.pack("!H", AS_TRANS) + b"\x0a\0\0\x01")
        + encode_attr(
            AttrCode.AS4_AGGREGATOR, OPT_T, struct.pack("!I", 4200000001) + b"\x0a\0\0\x01"
        )
    )
    small = PathAttrs([(AttrCode.AGGREGATOR, OPT_T, struct.pack("!I", 65001) + b"\x0a\0\0\x01")])
    assert small.wire_for_as2() == encode_attr(
        AttrCode.AGGREGATOR, OPT_T, struct.pack("!H", 65001) + b"\x0a\0\0\x01"
    )


def test_wire_for_as2_leaves_confederation_out_of_as4_path() -> None:
    path = ((CSEQ, (65100,)), (SEQ, (4200000001,)))
    pa = PathAttrs([(AttrCode.AS_PATH, WK, encode_as_path(path))])
    items = dict((c, v) for c, _f, v in _split(pa.wire_for_as2()))
    assert decode_as_path(items[AttrCode.AS4_PATH], 4) == ((SEQ, (4200000001,)),)
    assert decode_as_path(items[AttrCode.AS_PATH], 2) == ((CSEQ, (65100,)), (SEQ, (AS_TRANS,)))


def _split(wire: bytes) -> list[tuple[int, int, bytes]]:
    out = []
    pos = 0
    while pos < len(wire):
        flags, code = wire[pos], wire[pos + 1]
        if flags & AttrFlag.EXTENDED_LENGTH:
            n = struct.unpack_from("!H", wire, pos + 2)[0]
            pos += 4
        else:
            n = wire[pos + 2]
            pos += 3
        out.append((code, flags, wire[pos : pos + n]))
        pos += n
    return out


@given(segments(big_or_small, [SEQ, SET]), st.booleans())
def test_as2_round_trip_any_path(path: AsPath, aggregator_big: bool) -> None:
    """What wire_for_as2 sends, a 2-octet session's decoder merges back to the same attributes."""
    agg_as = 4200000009 if aggregator_big else 65009
    pa = PathAttrs(
        [
            (AttrCode.ORIGIN, WK, b"\x02"),
            (AttrCode.AS_PATH, WK, encode_as_path(path)),
            (AttrCode.AGGREGATOR, OPT_T, struct.pack("!I", agg_as) + b"\x0a\0\0\x09"),
        ]
    )
    assert _decode_as2(pa.wire_for_as2()) == pa


@given(segments(asn2, [CSEQ, CSET]), segments(big_or_small, [SEQ, SET]))
def test_as2_round_trip_with_confederations(confed: AsPath, rest: AsPath) -> None:
    """iBGP inside a confederation: leading confederation segments survive the round trip.

    (Member ASes are 2-octet here: RFC 6793 §4.2.2 keeps confederation segments out of
    AS4_PATH, so a 4-octet member AS cannot cross a 2-octet session.)
    """
    ordered = confed + rest  # RFC 5065 §3: confederation segments come first
    pa = PathAttrs(
        [(AttrCode.ORIGIN, WK, b"\x00"), (AttrCode.AS_PATH, WK, encode_as_path(ordered))]
    )
    assert _decode_as2(pa.wire_for_as2()) == pa


def test_attrs_block_uses_as2_form_when_asked() -> None:
    pa = PathAttrs([(AttrCode.AS_PATH, WK, encode_as_path(((SEQ, (4200000001,)),)))])
    nh = bytes((10, 0, 0, 1))
    assert attrs_block(pa, IPV4_UNICAST, nh, four_octet_as=False) == (
        b"\x40\x03\x04" + nh + pa.wire_for_as2()
    )
    assert attrs_block(pa, IPV4_UNICAST, nh) == b"\x40\x03\x04" + nh + pa.wire
