"""Framing (RFC 4271 §4.1, §6.1) and the small messages: OPEN, NOTIFICATION, ROUTE-REFRESH,
KEEPALIVE, with the exact NOTIFICATION each malformation earns."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz.make_corpus import corpus_messages
from pyrr.bgp.capabilities import Capabilities
from pyrr.bgp.constants import (
    AS_TRANS,
    MARKER,
    MAX_EXTENDED_MESSAGE_LEN,
    CeaseSub,
    ErrCode,
    HeaderSub,
    MsgType,
    OpenSub,
    RefreshSubtype,
)
from pyrr.bgp.errors import BGPError, LocalProtocolError, describe
from pyrr.bgp.messages import (
    KEEPALIVE,
    MIN_LENGTH,
    Framer,
    Notification,
    Open,
    RouteRefresh,
    check_keepalive,
    decode_notification,
    decode_open,
    decode_route_refresh,
    frame,
    shutdown_notification,
    valid_hold_time,
)
from pyrr.bgp.nlri import IPV4_UNICAST
from pyrr.bgp.update import UpdateContext, decode_update

CORPUS = corpus_messages()
VALID = [
    *CORPUS.values(),
    Notification(6, 4).encode(),
    frame(MsgType.UPDATE, b"\x00\x00\x00\x00"),
    RouteRefresh(1, 1).encode(),
]


def header(length: int, mtype: int) -> bytes:
    return MARKER + struct.pack("!HB", length, mtype)


def frame_error(data: bytes, max_length: int = 4096) -> BGPError:
    f = Framer(max_length)
    f.feed(data)
    with pytest.raises(BGPError) as exc:
        f.next_message()
    return exc.value


def triple(err: BGPError) -> tuple[int, int, bytes]:
    return err.code, err.subcode, err.data


# -- framing ---------------------------------------------------------------------------------


def test_keepalive_wire_form() -> None:
    assert KEEPALIVE == b"\xff" * 16 + b"\x00\x13\x04"
    check_keepalive(b"")


def test_framer_yields_each_message_and_keeps_the_rest() -> None:
    f = Framer()
    stream = b"".join(VALID)
    f.feed(stream + VALID[0][:7])
    got = []
    while (msg := f.next_message()) is not None:
        got.append(msg)
    assert got == [(m[18], m[19:]) for m in VALID]
    assert f.buffered == 7
    f.feed(VALID[0][7:])
    assert f.next_message() == (VALID[0][18], VALID[0][19:])
    assert f.buffered == 0
    assert f.next_message() is None


def test_framer_one_byte_at_a_time_same_messages() -> None:
    stream = b"".join(VALID)
    whole = Framer()
    whole.feed(stream)
    expected = []
    while (msg := whole.next_message()) is not None:
        expected.append(msg)
    single = Framer()
    got = []
    for i in range(len(stream)):
        single.feed(stream[i : i + 1])
        while (msg := single.next_message()) is not None:
            got.append(msg)
    assert got == expected
    assert len(got) == len(VALID)


@given(st.lists(st.integers(1, 64), min_size=1, max_size=40))
def test_framer_any_split(sizes: list[int]) -> None:
    stream = b"".join(VALID) * 2
    f = Framer()
    got = []
    pos = 0
    i = 0
    while pos < len(stream):
        n = sizes[i % len(sizes)]
        i += 1
        f.feed(memoryview(stream)[pos : pos + n])
        pos += n
        while (msg := f.next_message()) is not None:
            got.append(msg)
    assert got == [(m[18], m[19:]) for m in VALID] * 2


@pytest.mark.parametrize("msg", VALID, ids=lambda m: f"type{m[18]}-len{len(m)}")
def test_every_cut_is_need_more(msg: bytes) -> None:
    """A valid message cut anywhere: the framer waits for the rest."""
    for cut in range(len(msg)):
        f = Framer()
        f.feed(msg[:cut])
        assert f.next_message() is None, cut
        f.feed(msg[cut:])
        assert f.next_message() == (msg[18], msg[19:])


@pytest.mark.parametrize("msg", VALID, ids=lambda m: f"type{m[18]}-len{len(m)}")
def test_every_cut_with_honest_length_is_value_or_bgperror(msg: bytes) -> None:
    """The same cut with the length field saying so: a header error or a decoder's answer."""
    ctx = UpdateContext(families=frozenset({IPV4_UNICAST, (2, 1)}))
    for cut in range(19, len(msg)):
        short = bytearray(msg[:cut])
        struct.pack_into("!H", short, 16, cut)
        f = Framer()
        f.feed(bytes(short))
        try:
            framed = f.next_message()
            assert framed is not None
            mtype, body = framed
            if mtype == MsgType.OPEN:
                decode_open(body)
            elif mtype == MsgType.UPDATE:
                decode_update(body, ctx)
            elif mtype == MsgType.NOTIFICATION:
                decode_notification(body)
            elif mtype == MsgType.ROUTE_REFRESH:
                decode_route_refresh(body)
            else:
                check_keepalive(body)
        except BGPError as err:
            assert 1 <= err.code <= 7
            if cut < MIN_LENGTH[MsgType(msg[18])]:
                assert triple(err) == (1, 2, struct.pack("!H", cut))


def test_bad_marker() -> None:
    """RFC 4271 §6.1: Connection Not Synchronized, no data."""
    bad = b"\xff" * 15 + b"\xfe" + KEEPALIVE[16:]
    assert triple(frame_error(bad)) == (
        ErrCode.MESSAGE_HEADER,
        HeaderSub.CONNECTION_NOT_SYNCHRONIZED,
        b"",
    )
    assert triple(frame_error(b"\x00" * 19)) == (1, 1, b"")


@pytest.mark.parametrize(
    ("length", "mtype"),
    [
        (20, MsgType.KEEPALIVE),  # a KEEPALIVE is exactly 19 octets
        (18, MsgType.KEEPALIVE),
        (0, MsgType.KEEPALIVE),
        (28, MsgType.OPEN),
        (22, MsgType.UPDATE),
        (20, MsgType.NOTIFICATION),
        (18, MsgType.UPDATE),
        (4097, MsgType.UPDATE),
        (4097, MsgType.OPEN),
        (65535, MsgType.UPDATE),
    ],
)
def test_bad_length_carries_the_length_field(length: int, mtype: int) -> None:
    """RFC 4271 §6.1: Bad Message Length, data = the erroneous 2-octet length field."""
    err = frame_error(header(length, mtype) + bytes(max(0, length - 19)))
    assert triple(err) == (
        ErrCode.MESSAGE_HEADER,
        HeaderSub.BAD_MESSAGE_LENGTH,
        struct.pack("!H", length),
    )


def test_bad_length_detected_from_header_alone() -> None:
    # The body of an oversized message need not arrive before the error.
    assert triple(frame_error(header(5000, 2))) == (1, 2, b"\x13\x88")


@pytest.mark.parametrize("mtype", [0, 6, 7, 128, 255])
def test_bad_type_carries_the_type(mtype: int) -> None:
    """RFC 4271 §6.1: Bad Message Type, data = the type octet."""
    assert triple(frame_error(header(19, mtype))) == (
        ErrCode.MESSAGE_HEADER,
        HeaderSub.BAD_MESSAGE_TYPE,
        bytes((mtype,)),
    )


def test_extended_length_only_after_max_raised() -> None:
    """RFC 8654: 65535-octet messages only once the extended message capability applies."""
    body = b"\x00\x00" + struct.pack("!H", 65535 - 23) + b"\xc0\x63\xff" + bytes(255)
    body = body[: 65535 - 19]
    big = header(65535, MsgType.UPDATE) + body.ljust(65535 - 19, b"\x00")
    assert triple(frame_error(big)) == (1, 2, b"\xff\xff")
    f = Framer(MAX_EXTENDED_MESSAGE_LEN)
    f.feed(big)
    msg = f.next_message()
    assert msg is not None and msg[0] == MsgType.UPDATE and len(msg[1]) == 65535 - 19
    # Raising the limit on a live framer is what the session does after Established.
    g = Framer()
    g.feed(KEEPALIVE)
    assert g.next_message() == (MsgType.KEEPALIVE, b"")
    g.max_length = MAX_EXTENDED_MESSAGE_LEN
    g.feed(big)
    assert g.next_message() == msg


def test_framer_buffer_compaction() -> None:
    f = Framer()
    for _ in range(5000):  # far past the 64 KiB compaction point
        f.feed(KEEPALIVE + KEEPALIVE[:5])
        assert f.next_message() == (MsgType.KEEPALIVE, b"")
        f.feed(KEEPALIVE[5:])
        assert f.next_message() == (MsgType.KEEPALIVE, b"")
    assert f.buffered == 0


def test_keepalive_with_body() -> None:
    with pytest.raises(BGPError) as exc:
        check_keepalive(b"\x00")
    assert triple(exc.value) == (1, 2, b"\x00\x14")


# -- OPEN --------------------------------------------------------------------------------------


def test_open_wire_form() -> None:
    op = Open(
        asn=65001,
        hold_time=90,
        router_id=0x0A000001,
        capabilities=Capabilities(route_refresh=True, four_octet_as=65001),
    )
    wire = op.encode()
    assert wire == (
        header(39, MsgType.OPEN)
        + bytes.fromhex("04fde9005a0a000001")
        + bytes.fromhex("0a 02 08 0200 4104 0000fde9".replace(" ", ""))
    )
    assert decode_open(wire[19:]) == Open(
        asn=65001,
        hold_time=90,
        router_id=0x0A000001,
        capabilities=op.capabilities,
        raw_capabilities=((2, b""), (65, b"\x00\x00\xfd\xe9")),
    )


def test_open_decoding_of_alike_clients_is_shared_and_errors_are_not_cached() -> None:
    """Clients of an RR send the same optional parameters: the second OPEN gets the first's
    (immutable) Capabilities; the fixed fields are still each OPEN's own; a malformed OPEN
    raises every time, and a hold-time error is not hidden by parameters seen before."""
    from pyrr.bgp.capabilities import negotiate

    caps = Capabilities(families=(IPV4_UNICAST,), route_refresh=True, four_octet_as=65001)
    one = decode_open(Open(asn=65001, hold_time=90, router_id=1, capabilities=caps).encode()[19:])
    two = decode_open(Open(asn=65001, hold_time=30, router_id=2, capabilities=caps).encode()[19:])
    assert one.capabilities == caps and two.capabilities is one.capabilities
    assert (one.router_id, one.hold_time, two.router_id, two.hold_time) == (1, 90, 2, 30)
    with pytest.raises(BGPError) as exc:
        decode_open(Open(asn=65001, hold_time=2, router_id=3, capabilities=caps).encode()[19:])
    assert exc.value.subcode == OpenSub.UNACCEPTABLE_HOLD_TIME
    # A capability whose value is cut short: OPEN Message Error, on each attempt.
    bad = Open(asn=65001, hold_time=90, router_id=4).encode()[19:-1] + bytes.fromhex("0402020104")
    for _ in range(2):
        with pytest.raises(BGPError) as exc:
            decode_open(bad)
        assert exc.value.code == ErrCode.OPEN_MESSAGE
    # Negotiation with the shared capabilities: the same agreement, each peer's own AS and id.
    local = Capabilities(families=(IPV4_UNICAST,), route_refresh=True, four_octet_as=64512)
    n1 = negotiate(local, one.capabilities, 240, one.hold_time, one.asn, one.router_id)
    n2 = negotiate(local, two.capabilities, 240, two.hold_time, two.asn, two.router_id)
    assert n1.families == n2.families == (IPV4_UNICAST,) and n1.route_refresh
    assert (n1.hold_time, n1.peer_id, n2.hold_time, n2.peer_id) == (90, 1, 30, 2)


def test_open_without_capabilities() -> None:
    op = Open(asn=65001, hold_time=0, router_id=1)
    assert op.encode() == header(29, 1) + bytes.fromhex("04fde9000000000001") + b"\x00"
    back = decode_open(op.encode()[19:])
    assert back.capabilities == Capabilities() and back.raw_capabilities == ()


def test_open_four_octet_as() -> None:
    """RFC 6793 §4.1: My AS is AS_TRANS; the true AS rides in the capability."""
    op = Open(
        asn=4200000001,
        hold_time=90,
        router_id=1,
        capabilities=Capabilities(four_octet_as=4200000001),
    )
    wire = op.encode()
    assert struct.unpack_from("!H", wire, 20)[0] == AS_TRANS
    assert decode_open(wire[19:]).asn == 4200000001
    # Without the capability the 2-octet field is all there is.
    plain = Open(asn=4200000001, hold_time=90, router_id=1).encode()
    assert decode_open(plain[19:]).asn == AS_TRANS


def test_open_my_as_mismatch_tolerated() -> None:
    body = bytearray(
        Open(
            asn=65001, hold_time=90, router_id=1, capabilities=Capabilities(four_octet_as=65001)
        ).encode()[19:]
    )
    struct.pack_into("!H", body, 1, 65002)
    assert decode_open(bytes(body)).asn == 65001


def test_router_id_str() -> None:
    assert Open(asn=1, hold_time=0, router_id=0xC0A80001).router_id_str == "192.168.0.1"


def test_open_too_many_capabilities_is_local_error() -> None:
    caps = Capabilities(unknown=tuple((200 + i, bytes(60)) for i in range(5)))
    with pytest.raises(ValueError):
        Open(asn=1, hold_time=90, router_id=1, capabilities=caps).encode()


def open_body(
    *,
    version: int = 4,
    my_as: int = 65001,
    hold: int = 90,
    router_id: int = 1,
    params: bytes = b"",
    plen: int | None = None,
) -> bytes:
    return (
        struct.pack(
            "!BHHIB", version, my_as, hold, router_id, len(params) if plen is None else plen
        )
        + params
    )


def open_error(body: bytes) -> tuple[int, int, bytes]:
    with pytest.raises(BGPError) as exc:
        decode_open(body)
    return triple(exc.value)


@pytest.mark.parametrize("version", [0, 3, 5, 255])
def test_open_unsupported_version(version: int) -> None:
    """RFC 4271 §6.2: data = the largest supported version, 2 octets."""
    assert open_error(open_body(version=version)) == (
        2,
        OpenSub.UNSUPPORTED_VERSION_NUMBER,
        b"\x00\x04",
    )


def test_open_bad_bgp_identifier() -> None:
    assert open_error(open_body(router_id=0)) == (2, OpenSub.BAD_BGP_IDENTIFIER, b"")


@pytest.mark.parametrize("ptype", [0, 1, 3, 254])
def test_open_unsupported_optional_parameter(ptype: int) -> None:
    params = bytes((ptype, 2, 0, 0))
    assert open_error(open_body(params=params)) == (2, OpenSub.UNSUPPORTED_OPTIONAL_PARAMETER, b"")


@pytest.mark.parametrize("hold", [1, 2])
def test_open_unacceptable_hold_time(hold: int) -> None:
    assert open_error(open_body(hold=hold)) == (2, OpenSub.UNACCEPTABLE_HOLD_TIME, b"")


@pytest.mark.parametrize("hold", [0, 3, 65535])
def test_open_acceptable_hold_times(hold: int) -> None:
    assert decode_open(open_body(hold=hold)).hold_time == hold
    assert valid_hold_time(hold)


def test_valid_hold_time() -> None:
    assert not valid_hold_time(1) and not valid_hold_time(2)


@pytest.mark.parametrize(
    "body",
    [
        open_body(params=b"\x02\x00", plen=3),  # length says more than there is
        open_body(params=b"\x02\x00\x00", plen=2),  # trailing octet
        open_body(params=b"\x02"),  # parameter header truncated
        open_body(params=b"\x02\x05\x02\x00"),  # parameter overruns
        open_body(params=b"\x02\x03\x02\x00\x41"),  # capability overruns its parameter
        open_body(params=b"\x02\x03\x41\x01\x00"),  # 4-octet AS capability of length 1
        open_body(params=b"\x02\x06\x01\x04\x00\x01\x01"),
        open_body(params=b"\xff", plen=255),  # RFC 9072 marker without a length
    ],
)
def test_open_malformed_parameters(body: bytes) -> None:
    code, sub, _data = open_error(body)
    assert (code, sub) == (2, 0)


def test_open_malformed_capability_data_is_the_tlv() -> None:
    body = open_body(params=b"\x02\x04\x41\x02\xfd\xe9")
    assert open_error(body) == (2, 0, b"\x41\x02\xfd\xe9")


def test_open_body_too_short() -> None:
    assert open_error(b"\x04\x00") == (1, 2, b"\x00\x15")


def test_open_several_capability_parameters() -> None:
    """RFC 5492 §4: capabilities may come in one parameter each (old Cisco style)."""
    params = b"\x02\x02\x02\x00" + b"\x02\x06\x41\x04\x00\x00\xfd\xe9"
    op = decode_open(open_body(params=params))
    assert op.capabilities.route_refresh and op.capabilities.four_octet_as == 65001
    assert op.raw_capabilities == ((2, b""), (65, b"\x00\x00\xfd\xe9"))


def test_open_extended_optional_parameters() -> None:
    """RFC 9072 §2: 255, then type 255 and a 2-octet length; each parameter has 2-octet length."""
    caps = b"\x02\x00" + b"\x41\x04\x00\x00\xfd\xe9"
    params = b"\x02" + struct.pack("!H", len(caps)) + caps
    body = open_body(params=b"\xff" + struct.pack("!H", len(params)) + params, plen=255)
    op = decode_open(body)
    assert op.capabilities == Capabilities(route_refresh=True, four_octet_as=65001)
    bad = open_body(params=b"\xff" + struct.pack("!H", len(params) + 1) + params, plen=255)
    assert open_error(bad)[:2] == (2, 0)
    trunc = b"\xff" + struct.pack("!H", 2) + b"\x02\x00"
    assert open_error(open_body(params=trunc, plen=255))[:2] == (2, 0)


def test_open_errors_checked_in_rfc_order() -> None:
    # Version is checked before anything else.
    assert open_error(open_body(version=3, router_id=0, hold=1))[1] == 1
    # A bad parameter is found before the hold time and identifier are looked at.
    assert open_error(open_body(hold=1, router_id=0, params=b"\x01\x00"))[1] == 4


# -- NOTIFICATION ----------------------------------------------------------------------------


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=100))
def test_notification_round_trip(code: int, sub: int, data: bytes) -> None:
    n = Notification(code, sub, data)
    wire = n.encode()
    assert wire[:19] == header(21 + len(data), MsgType.NOTIFICATION)
    assert decode_notification(wire[19:]) == n


def test_notification_body_too_short() -> None:
    for body in (b"", b"\x06"):
        with pytest.raises(BGPError) as exc:
            decode_notification(body)
        assert triple(exc.value) == (1, 2, struct.pack("!H", 19 + len(body)))


def test_notification_names() -> None:
    assert Notification(6, 2).name == "CEASE/ADMINISTRATIVE_SHUTDOWN"
    assert Notification(4, 0).name == "HOLD_TIMER_EXPIRED"
    assert Notification(3, 99).name == "UPDATE_MESSAGE/99"
    assert Notification(99, 1).name == "99/1"
    assert str(Notification(1, 2, b"\x00\x14")) == "MESSAGE_HEADER/BAD_MESSAGE_LENGTH data=0014"
    assert describe(5, 1) == "FSM/UNEXPECTED_IN_OPENSENT"
    assert describe(7, 1) == "ROUTE_REFRESH_MESSAGE/INVALID_MESSAGE_LENGTH"
    assert str(BGPError(2, 3, reason="id 0")) == "OPEN_MESSAGE/BAD_BGP_IDENTIFIER: id 0"
    assert str(BGPError(4)) == "HOLD_TIMER_EXPIRED"


def test_shutdown_message_round_trip() -> None:
    """RFC 9003 §2: a length octet then UTF-8, for Administrative Shutdown and Reset."""
    n = shutdown_notification(CeaseSub.ADMINISTRATIVE_SHUTDOWN, "maintenance — back at 10:00")
    raw = "maintenance — back at 10:00".encode()
    assert n.data == bytes((len(raw),)) + raw
    back = decode_notification(n.encode()[19:])
    assert back.shutdown_message == "maintenance — back at 10:00"
    assert str(back) == 'CEASE/ADMINISTRATIVE_SHUTDOWN "maintenance — back at 10:00"'
    reset = shutdown_notification(CeaseSub.ADMINISTRATIVE_RESET, "bye")
    assert reset.shutdown_message == "bye" and reset.subcode == 4


def test_shutdown_message_truncated_on_character_boundary() -> None:
    msg = "é" * 200  # 400 octets of UTF-8
    n = shutdown_notification(CeaseSub.ADMINISTRATIVE_SHUTDOWN, msg)
    assert n.data[0] == 254 and len(n.data) == 255
    assert n.shutdown_message == "é" * 127
    ascii_msg = "x" * 300
    m = shutdown_notification(CeaseSub.ADMINISTRATIVE_SHUTDOWN, ascii_msg)
    assert m.data == b"\xff" + b"x" * 255
    emoji = "a" + "\U0001f600" * 70  # 1 + 280 octets: cut inside the 64th emoji
    e = shutdown_notification(CeaseSub.ADMINISTRATIVE_SHUTDOWN, emoji)
    assert e.shutdown_message == "a" + "\U0001f600" * 63


def test_shutdown_without_message() -> None:
    n = shutdown_notification(CeaseSub.ADMINISTRATIVE_SHUTDOWN)
    assert n.data == b"" and n.shutdown_message is None
    assert str(n) == "CEASE/ADMINISTRATIVE_SHUTDOWN"


def test_shutdown_message_only_where_rfc_9003_says() -> None:
    assert Notification(6, CeaseSub.PEER_DECONFIGURED, b"\x02hi").shutdown_message is None
    assert Notification(3, 2, b"\x02hi").shutdown_message is None
    # A length octet that overruns, or broken UTF-8: no exception.
    assert Notification(6, 2, b"\x05hi").shutdown_message is None
    assert Notification(6, 2, b"\x02\xff\xfe").shutdown_message == "\ufffd\ufffd"


# -- ROUTE-REFRESH ---------------------------------------------------------------------------


@pytest.mark.parametrize("subtype", list(RefreshSubtype))
def test_route_refresh_round_trip(subtype: RefreshSubtype) -> None:
    rr = RouteRefresh(2, 1, subtype)
    wire = rr.encode()
    assert wire == header(23, MsgType.ROUTE_REFRESH) + bytes((0, 2, subtype, 1))
    assert decode_route_refresh(wire[19:]) == rr


@pytest.mark.parametrize("body", [b"\x00\x01\x00\x01\x00", b"\x00\x01\x01\x01" + bytes(20)])
def test_route_refresh_bad_length(body: bytes) -> None:
    """RFC 7313 §5: ROUTE-REFRESH Message Error / Invalid Message Length, data = the message."""
    with pytest.raises(BGPError) as exc:
        decode_route_refresh(body)
    whole = header(19 + len(body), MsgType.ROUTE_REFRESH) + body
    assert triple(exc.value) == (ErrCode.ROUTE_REFRESH_MESSAGE, 1, whole)


def test_local_protocol_error_is_not_bgperror() -> None:
    assert not issubclass(LocalProtocolError, BGPError)


def test_short_route_refresh_is_a_route_refresh_error_with_the_message() -> None:
    """RFC 7313 §5: a ROUTE-REFRESH whose length is not 23 is 7/1 with the whole message as
    data, not a header error."""
    msg = MARKER + struct.pack("!HB", 22, MsgType.ROUTE_REFRESH) + b"\x00\x01\x00"
    f = Framer()
    f.feed(msg)
    got = f.next_message()
    assert got is not None and got[0] == MsgType.ROUTE_REFRESH
    body = got[1]
    with pytest.raises(BGPError) as e:
        decode_route_refresh(body)
    assert (e.value.code, e.value.subcode, e.value.data) == (
        ErrCode.ROUTE_REFRESH_MESSAGE,
        1,  # RFC 7313 §5 Invalid Message Length
        msg,
    )
