"""Fuzz targets for the sans-IO BGP core: plain functions of one `bytes` argument.

The invariant every target asserts (pyrr/bgp/errors.py): whatever the bytes, a decoder returns
a value or raises `BGPError`, nothing else; a `Session` turns every protocol violation into a
NOTIFICATION it sends, and never lets an exception out of `receive_data`. Each target also
checks that feeding the input one byte at a time gives exactly what feeding it whole gives.

Used by tests/bgp/test_fuzz_invariants.py through hypothesis, and usable as they are with
atheris::

    import atheris, sys
    with atheris.instrument_imports():
        from fuzz.targets import fuzz_update
    atheris.Setup(sys.argv, fuzz_update)
    atheris.Fuzz()

A target signals a violated invariant with `AssertionError`; any other exception escaping a
target is itself the bug the fuzzer found.
"""

from __future__ import annotations

from collections.abc import Callable

from pyrr.bgp.capabilities import Capabilities
from pyrr.bgp.constants import (
    AFI,
    HEADER_LEN,
    IPV4_ADDR_LEN,
    MARKER,
    MAX_EXTENDED_MESSAGE_LEN,
    MAX_MESSAGE_LEN,
    SAFI,
    AddPathMode,
    ErrCode,
    MsgType,
    State,
)
from pyrr.bgp.encode import mp_reach_attr, next_hop_attr, update_message
from pyrr.bgp.errors import BGPError
from pyrr.bgp.events import Event, SessionDown
from pyrr.bgp.fsm import Session, SessionConfig
from pyrr.bgp.messages import (
    KEEPALIVE,
    Framer,
    Notification,
    Open,
    check_keepalive,
    decode_notification,
    decode_open,
    decode_route_refresh,
)
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST
from pyrr.bgp.update import Update, UpdateContext, decode_update

__all__ = [
    "SESSION_SCENARIOS",
    "UPDATE_CONTEXTS",
    "decode_body",
    "established_session",
    "fuzz_framer",
    "fuzz_session",
    "fuzz_update",
    "opensent_session",
]

NOW = 1000.0
_BOTH = frozenset({IPV4_UNICAST, IPV6_UNICAST})

# The decoding contexts a real session can produce: 4-octet iBGP (Calico's usual), 2-octet eBGP,
# ADD-PATH on both families, IPv4 only.
UPDATE_CONTEXTS: tuple[UpdateContext, ...] = (
    UpdateContext(four_octet_as=True, ibgp=True, peer_as=64512, families=_BOTH),
    UpdateContext(four_octet_as=False, ibgp=False, peer_as=65001, families=_BOTH),
    UpdateContext(four_octet_as=True, ibgp=True, peer_as=64512, families=_BOTH, add_path_rx=_BOTH),
    UpdateContext(
        four_octet_as=False,
        ibgp=True,
        peer_as=4200000001,
        families=frozenset({IPV4_UNICAST}),
        add_path_rx=frozenset({IPV4_UNICAST}),
    ),
    UpdateContext(four_octet_as=True, ibgp=False, peer_as=4200000001, families=_BOTH),
)


# ---------------------------------------------------------------------------------------------
# Shared checks


def _check_error(err: BGPError) -> None:
    assert isinstance(err.code, int) and 1 <= err.code <= 7, err
    assert isinstance(err.subcode, int) and 0 <= err.subcode <= 255, err
    assert isinstance(err.data, bytes), err
    # The NOTIFICATION must be sendable: it has to fit one message.
    assert len(Notification(err.code, err.subcode, err.data).encode()) <= MAX_EXTENDED_MESSAGE_LEN


def _check_prefix(item: bytes, afi: int, addpath: bool) -> None:
    head = 5 if addpath else 1
    assert len(item) >= head, item
    plen = item[head - 1]
    assert plen <= (32 if afi == AFI.IPV4 else 128), item
    assert len(item) == head + ((plen + 7) >> 3), item
    if plen & 7:
        # Host bits are cleared, so that one prefix has one key (nlri.py).
        assert item[-1] & (0xFF >> (plen & 7)) == 0, item


def _check_update(upd: Update, ctx: UpdateContext) -> None:
    assert isinstance(upd, Update)
    if upd.error:
        assert upd.announced == [], "treat-as-withdraw must leave nothing announced"
        assert upd.attrs is None
    if upd.announced:
        assert upd.attrs is not None, "announced routes need attributes"
    for fam, nh, prefixes in upd.announced:
        assert fam in ctx.families
        assert isinstance(nh, bytes)
        assert prefixes
        for p in prefixes:
            _check_prefix(p, fam[0], fam in ctx.add_path_rx)
    for fam, prefixes in upd.withdrawn:
        assert fam in ctx.families
        for p in prefixes:
            _check_prefix(p, fam[0], fam in ctx.add_path_rx)
    if upd.attrs is not None and ctx.four_octet_as:
        _check_reencode(upd, ctx)


def _check_reencode(upd: Update, ctx: UpdateContext) -> None:
    """Canonical form is a fixed point: encode what was decoded, decode it, get it back."""
    attrs = upd.attrs
    assert attrs is not None
    for fam, nh, prefixes in upd.announced:
        nlri = b"".join(prefixes)
        if fam == IPV4_UNICAST and len(nh) == IPV4_ADDR_LEN:
            msg = update_message(attrs=next_hop_attr(nh) + attrs.wire, nlri=nlri)
        else:
            msg = update_message(attrs=mp_reach_attr(fam, nh, nlri) + attrs.wire)
        again = decode_update(msg[HEADER_LEN:], ctx)
        assert not again.error, again.error
        assert again.attrs == attrs, (again.attrs, attrs)
        assert again.announced == [(fam, nh, prefixes)], (again.announced, fam, nh, prefixes)


def decode_body(mtype: int, body: bytes, ctx: UpdateContext) -> object:
    """Decode one framed message body with the decoder for its type."""
    if mtype == MsgType.OPEN:
        op = decode_open(body)
        assert isinstance(op, Open)
        return op
    if mtype == MsgType.UPDATE:
        upd = decode_update(body, ctx)
        _check_update(upd, ctx)
        return upd
    if mtype == MsgType.NOTIFICATION:
        return decode_notification(body)
    if mtype == MsgType.KEEPALIVE:
        check_keepalive(body)
        return None
    assert mtype == MsgType.ROUTE_REFRESH, mtype
    return decode_route_refresh(body)


# ---------------------------------------------------------------------------------------------
# fuzz_framer


def _frame_all(
    chunks: list[bytes], max_length: int
) -> tuple[list[tuple[int, bytes]], BGPError | None]:
    framer = Framer(max_length)
    out: list[tuple[int, bytes]] = []
    for chunk in chunks:
        framer.feed(chunk)
        while True:
            try:
                msg = framer.next_message()
            except BGPError as err:
                _check_error(err)
                return out, err
            if msg is None:
                break
            mtype, body = msg
            assert mtype in MsgType.__members__.values()
            assert HEADER_LEN + len(body) <= max_length
            out.append(msg)
    return out, None


def fuzz_framer(data: bytes) -> None:
    """Frame `data` (whole and byte by byte) and decode every message it yields."""
    max_length = MAX_EXTENDED_MESSAGE_LEN if data[:1] == b"\x01" else MAX_MESSAGE_LEN
    whole, err_whole = _frame_all([data], max_length)
    single, err_single = _frame_all([data[i : i + 1] for i in range(len(data))], max_length)
    assert whole == single, "framing must not depend on how the bytes were split"
    assert (err_whole is None) == (err_single is None)
    if err_whole is not None and err_single is not None:
        assert (err_whole.code, err_whole.subcode, err_whole.data) == (
            err_single.code,
            err_single.subcode,
            err_single.data,
        )
    # The messages cover a prefix of the input exactly.
    consumed = sum(HEADER_LEN + len(b) for _t, b in whole)
    assert consumed <= len(data)
    ctx = UPDATE_CONTEXTS[data[1] % len(UPDATE_CONTEXTS)] if len(data) > 1 else UPDATE_CONTEXTS[0]
    for mtype, body in whole:
        try:
            decode_body(mtype, body, ctx)
        except BGPError as err:
            _check_error(err)


# ---------------------------------------------------------------------------------------------
# fuzz_update


def fuzz_update(data: bytes) -> None:
    """Decode `data` as an UPDATE body in every context; only Update or BGPError may come out."""
    for ctx in UPDATE_CONTEXTS:
        try:
            upd = decode_update(data, ctx)
        except BGPError as err:
            _check_error(err)
            assert err.code == ErrCode.UPDATE_MESSAGE, err
            continue
        _check_update(upd, ctx)
        # Deterministic: the same bytes decode to the same thing.
        assert decode_update(bytes(data), ctx) == upd


# ---------------------------------------------------------------------------------------------
# fuzz_session


def _config(local_as: int, peer_as: int, four_octet: bool) -> SessionConfig:
    caps = Capabilities(
        families=(IPV4_UNICAST, IPV6_UNICAST),
        route_refresh=True,
        enhanced_route_refresh=True,
        four_octet_as=local_as if four_octet else None,
        add_path=(((AFI.IPV4, SAFI.UNICAST), AddPathMode.BOTH),) if four_octet else (),
        extended_message=True,
    )
    return SessionConfig(
        local_as=local_as, router_id=0x0A000001, peer_as=peer_as, capabilities=caps, hold_time=90
    )


def opensent_session(
    local_as: int = 64512, peer_as: int = 64512, four_octet: bool = True
) -> Session:
    s = Session(_config(local_as, peer_as, four_octet))
    s.connection_made(NOW)
    s.events()
    s.data_to_send()
    return s


def established_session(
    local_as: int = 64512, peer_as: int = 64512, four_octet: bool = True
) -> Session:
    """A session in Established, the peer's OPEN and KEEPALIVE consumed, output drained."""
    s = opensent_session(local_as, peer_as, four_octet)
    peer_caps = Capabilities(
        families=(IPV4_UNICAST, IPV6_UNICAST),
        route_refresh=True,
        enhanced_route_refresh=True,
        four_octet_as=peer_as if four_octet else None,
        add_path=(((AFI.IPV4, SAFI.UNICAST), AddPathMode.BOTH),) if four_octet else (),
        extended_message=True,
    )
    peer_open = Open(asn=peer_as, hold_time=90, router_id=0x0A000002, capabilities=peer_caps)
    s.receive_data(peer_open.encode() + KEEPALIVE, NOW)
    assert s.state == State.ESTABLISHED, s.events()
    s.events()
    s.data_to_send()
    return s


# (name, factory): 0 = OpenSent (data is the peer's whole stream), 1 = Established iBGP with
# 4-octet AS, ADD-PATH and extended messages, 2 = Established eBGP, 2-octet AS, extended messages.
SESSION_SCENARIOS: tuple[tuple[str, Callable[[], Session]], ...] = (
    ("opensent", opensent_session),
    ("established-ibgp", established_session),
    ("established-ebgp-as2", lambda: established_session(64512, 65001, four_octet=False)),
)


def _run_session(
    factory: Callable[[], Session], chunks: list[bytes]
) -> tuple[list[Event], bytes, State]:
    s = factory()
    events: list[Event] = []
    out = bytearray()
    for chunk in chunks:
        s.receive_data(chunk, NOW)  # must never raise: errors become NOTIFICATIONs
        events.extend(s.events())
        out += s.data_to_send()
    _check_session_end(s, events, bytes(out))
    return events, bytes(out), s.state


def _check_session_end(s: Session, events: list[Event], out: bytes) -> None:
    downs = [e for e in events if isinstance(e, SessionDown)]
    assert len(downs) <= 1, "a session goes down once"
    if not s.closing:
        assert not downs
        assert s.state in (State.OPENSENT, State.OPENCONFIRM, State.ESTABLISHED)
        return
    assert s.state == State.IDLE
    assert downs and events[-1] is downs[0], "SessionDown is the last event"
    down = downs[0]
    if down.sent_by_us:
        # The session ended on our NOTIFICATION: it is the last thing written.
        assert down.notification is not None
        wire = down.notification.encode()
        assert out.endswith(wire), "the NOTIFICATION must be the last bytes sent"
        assert wire[:16] == MARKER
    else:
        assert down.notification is not None, "only a peer NOTIFICATION ends it from outside"


def fuzz_session(data: bytes) -> None:
    """Feed `data[1:]` to a session chosen by `data[0]`, whole and byte by byte."""
    if not data:
        return
    _name, factory = SESSION_SCENARIOS[data[0] % len(SESSION_SCENARIOS)]
    stream = data[1:]
    whole = _run_session(factory, [stream])
    single = _run_session(factory, [stream[i : i + 1] for i in range(len(stream))])
    assert whole == single, "a session must not depend on how the bytes were split"


# Quick use from the command line: python -m fuzz.targets FILE... runs every target on each file.
if __name__ == "__main__":  # pragma: no cover
    import sys

    for path in sys.argv[1:]:
        with open(path, "rb") as fh:
            blob = fh.read()
        for target in (fuzz_framer, fuzz_update, fuzz_session):
            target(blob)
        print(f"{path}: ok")
