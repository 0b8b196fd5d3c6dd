"""The session state machine (RFC 4271 §8) driven through an in-memory link and a fake clock."""

from __future__ import annotations

import struct
import weakref

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrr.bgp.attributes import AttrItem, PathAttrs, encode_as_path
from pyrr.bgp.capabilities import Capabilities, GracefulRestart
from pyrr.bgp.constants import (
    AsPathSegType,
    AttrCode,
    CeaseSub,
    ErrCode,
    FsmSub,
    GRFlags,
    MsgType,
    OpenSub,
    RefreshSubtype,
    State,
)
from pyrr.bgp.encode import end_of_rib, update_message
from pyrr.bgp.errors import LocalProtocolError
from pyrr.bgp.events import (
    ConnectRequested,
    Established,
    Event,
    OpenReceived,
    RefreshReceived,
    SessionDown,
    StateChanged,
    UpdateReceived,
)
from pyrr.bgp.fsm import Session, collision_keep_outgoing
from pyrr.bgp.messages import KEEPALIVE, Notification, Open, RouteRefresh
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, prefix_from_str

from .helpers import FakeClock, SessionPair, attrs_block, caps, config, rid
from .helpers import feed as _feed

T0 = 1000.0


def make_pair(
    a_kw: dict[str, object] | None = None,
    b_kw: dict[str, object] | None = None,
    clock: FakeClock | None = None,
) -> SessionPair:
    a: dict[str, object] = dict(router_id="10.0.0.1")
    a.update(a_kw or {})
    b: dict[str, object] = dict(router_id="10.0.0.2", passive=True)
    b.update(b_kw or {})
    return SessionPair(config(**a), config(**b), clock)  # type: ignore[arg-type]


def state(s: Session) -> State:
    """The current state (a call, so that mypy does not narrow `s.state` across actions)."""
    return s.state


def downs(events: list[Event]) -> list[SessionDown]:
    return [e for e in events if isinstance(e, SessionDown)]


def states(events: list[Event]) -> list[tuple[State, State]]:
    return [(e.old, e.new) for e in events if isinstance(e, StateChanged)]


def peer_open(
    asn: int = 64512,
    router_id: str = "10.0.0.2",
    hold: int = 90,
    capabilities: Capabilities | None = None,
) -> bytes:
    c = capabilities if capabilities is not None else caps(asn=asn)
    return Open(asn=asn, hold_time=hold, router_id=rid(router_id), capabilities=c).encode()


def opensent(**kw: object) -> Session:
    s = Session(config(**kw))  # type: ignore[arg-type]
    s.connection_made(T0)
    s.events()
    s.data_to_send()
    return s


def openconfirm(**kw: object) -> Session:
    s = opensent(**kw)
    feed(s, [peer_open()])
    assert s.state == State.OPENCONFIRM
    s.data_to_send()
    return s


def established(**kw: object) -> Session:
    s = openconfirm(**kw)
    feed(s, [KEEPALIVE])
    assert s.state == State.ESTABLISHED
    s.data_to_send()
    return s


# Events `feed` already took from a session, so that `only_down` can still see them.
_SEEN: weakref.WeakKeyDictionary[Session, list[Event]] = weakref.WeakKeyDictionary()


def feed(s: Session, messages: list[bytes], now: float = T0) -> list[Event]:
    ev = _feed(s, messages, now)
    _SEEN.setdefault(s, []).extend(ev)
    return ev


def only_down(s: Session) -> SessionDown:
    """The one SessionDown this session emitted; it must have ended in Idle."""
    (down,) = downs(_SEEN.pop(s, []) + s.events())
    assert s.state == State.IDLE and s.closing
    return down


UPDATE = end_of_rib(IPV4_UNICAST)
REFRESH = RouteRefresh(1, 1).encode()


# -- open handshake ------------------------------------------------------------------------------


def test_active_passive_handshake() -> None:
    p = make_pair()
    p.establish()
    assert [type(e) for e in p.a.events] == [
        StateChanged,
        ConnectRequested,
        StateChanged,
        StateChanged,
        OpenReceived,
        StateChanged,
        Established,
    ]
    assert states(p.a.events) == [
        (State.IDLE, State.CONNECT),
        (State.CONNECT, State.OPENSENT),
        (State.OPENSENT, State.OPENCONFIRM),
        (State.OPENCONFIRM, State.ESTABLISHED),
    ]
    assert states(p.b.events) == [
        (State.IDLE, State.ACTIVE),
        (State.ACTIVE, State.OPENSENT),
        (State.OPENSENT, State.OPENCONFIRM),
        (State.OPENCONFIRM, State.ESTABLISHED),
    ]
    assert not p.b.of_type(ConnectRequested)
    assert p.a.sent_types() == [MsgType.OPEN, MsgType.KEEPALIVE]
    assert p.b.sent_types() == [MsgType.OPEN, MsgType.KEEPALIVE]
    (opened,) = p.a.of_type(OpenReceived)
    assert opened.open.router_id == rid("10.0.0.2") and opened.open.asn == 64512
    (est,) = p.a.of_type(Established)
    assert est.negotiated.families == (IPV4_UNICAST, IPV6_UNICAST)
    assert est.negotiated.four_octet_as and est.negotiated.route_refresh
    assert p.a.session.negotiated == est.negotiated
    assert p.a.session.peer_open == opened.open
    assert p.a.session.established_at == T0
    assert p.a.session.messages_out == 2 and p.a.session.messages_in == 2


def test_both_active() -> None:
    p = make_pair(b_kw={"passive": False})
    p.establish()
    assert len(p.a.of_type(ConnectRequested)) == len(p.b.of_type(ConnectRequested)) == 1


def test_accepted_connection_starts_from_idle() -> None:
    """A session for an accepted connection goes Idle -> OpenSent without start()."""
    p = make_pair()
    p.connect()
    p.pump()
    assert states(p.b.events)[0] == (State.IDLE, State.OPENSENT)
    assert p.a.session.state == p.b.session.state == State.ESTABLISHED


def test_update_context_follows_negotiation() -> None:
    p = make_pair(
        a_kw={"local_as": 64512, "peer_as": 65001},
        b_kw={
            "local_as": 65001,
            "peer_as": 64512,
            "capabilities": caps(asn=None, families=(IPV4_UNICAST,)),
        },
    )
    p.establish()
    ctx = p.a.session.update_context
    assert (ctx.four_octet_as, ctx.ibgp, ctx.peer_as) == (False, False, 65001)
    assert ctx.families == frozenset({IPV4_UNICAST})


# -- hold time and keepalives ----------------------------------------------------------------


@pytest.mark.parametrize(("ha", "hb", "hold"), [(90, 30, 30), (30, 90, 30), (240, 240, 240)])
def test_hold_time_is_the_minimum(ha: int, hb: int, hold: int) -> None:
    p = make_pair(a_kw={"hold_time": ha}, b_kw={"hold_time": hb})
    p.establish()
    for side in p.sides:
        neg = side.session.negotiated
        assert neg is not None and (neg.hold_time, neg.keepalive_time) == (hold, hold // 3)


def test_keepalive_at_a_third_of_hold_time() -> None:
    p = make_pair(a_kw={"hold_time": 30}, b_kw={"hold_time": 90})
    p.establish()
    n = len(p.a.sent)
    p.advance(9.9)
    assert len(p.a.sent) == n
    p.advance(0.1)
    assert p.a.sent[n:] == [(T0 + 10, MsgType.KEEPALIVE, b"")]
    p.advance(20)
    assert [(t, m) for t, m, _b in p.a.sent[n:]] == [(T0 + 10, 4), (T0 + 20, 4), (T0 + 30, 4)]
    # Keepalives both ways keep the session up indefinitely.
    p.advance(3600)
    assert all(s.session.state == State.ESTABLISHED for s in p.sides)
    assert not p.a.of_type(SessionDown) and not p.b.of_type(SessionDown)


def test_hold_time_zero_means_no_keepalives_and_no_hold_timer() -> None:
    """RFC 4271 §4.4: with a zero hold time neither timer runs."""
    p = make_pair(a_kw={"hold_time": 0}, b_kw={"hold_time": 90})
    p.establish()
    for side in p.sides:
        neg = side.session.negotiated
        assert neg is not None and (neg.hold_time, neg.keepalive_time) == (0, 0)
        assert side.session.next_timer() is None
    sent = [len(p.a.sent), len(p.b.sent)]
    p.mute(p.b)
    p.advance(100_000)
    assert [len(p.a.sent), len(p.b.sent)] == sent
    assert p.a.session.state == p.b.session.state == State.ESTABLISHED


def test_hold_timer_expiry() -> None:
    """RFC 4271 §8.2.2 event 10: NOTIFICATION Hold Timer Expired, then Idle."""
    p = make_pair(a_kw={"hold_time": 30}, b_kw={"hold_time": 30})
    p.establish()
    p.mute(p.b)  # b's keepalives stop arriving at a
    p.advance(29.9)
    assert state(p.a.session) == State.ESTABLISHED
    p.advance(0.1)
    assert state(p.a.session) == State.IDLE
    assert p.a.sent[-1] == (T0 + 30, MsgType.NOTIFICATION, b"\x04\x00")
    (down,) = p.a.of_type(SessionDown)
    assert down.notification == Notification(ErrCode.HOLD_TIMER_EXPIRED, 0)
    assert (down.sent_by_us, down.was_established, down.graceful) == (True, True, False)
    assert p.a.session.next_timer() is None
    (bdown,) = p.b.of_type(SessionDown)
    assert bdown.notification == Notification(4, 0) and not bdown.sent_by_us


def test_hold_timer_in_opensent() -> None:
    s = Session(config(open_wait_time=60))
    s.connection_made(T0)
    s.events()
    s.data_to_send()
    assert s.next_timer() == T0 + 60
    s.handle_timer(T0 + 59.9)
    assert s.state == State.OPENSENT and s.data_to_send() == b""
    s.handle_timer(T0 + 60)
    assert s.data_to_send() == Notification(4, 0).encode()
    down = only_down(s)
    assert not down.was_established and down.sent_by_us


def test_hold_timer_in_openconfirm_uses_negotiated_time() -> None:
    s = opensent(hold_time=30)
    feed(s, [peer_open(hold=90)], now=T0 + 1)
    assert s.state == State.OPENCONFIRM
    assert s.data_to_send() == KEEPALIVE
    assert s.next_timer() == T0 + 11  # keepalive every 10 s, hold timer at 30 s
    s.handle_timer(T0 + 11)
    assert s.data_to_send() == KEEPALIVE
    s.handle_timer(T0 + 21)
    assert s.data_to_send() == KEEPALIVE
    s.handle_timer(T0 + 31)
    assert s.data_to_send() == Notification(4, 0).encode()
    d = only_down(s)
    assert d.notification == Notification(4, 0) and not d.was_established


def test_every_message_restarts_hold_timer() -> None:
    s = established(hold_time=30)
    for i, msg in enumerate((KEEPALIVE, UPDATE, REFRESH)):
        now = T0 + 20 * (i + 1)
        feed(s, [msg], now=now)
        assert s.next_timer() is not None
        s.handle_timer(now + 29)
        assert s.state == State.ESTABLISHED, msg
    s.handle_timer(T0 + 60 + 30)
    assert only_down(s).notification == Notification(4, 0)


def test_next_timer_is_earliest_deadline() -> None:
    s = established(hold_time=90)
    assert s.next_timer() == T0 + 30  # keepalive before hold
    s.send_keepalive(T0 + 5)
    assert s.data_to_send() == KEEPALIVE
    assert s.next_timer() == T0 + 35


def test_keepalive_timer_is_jittered_anew_each_time() -> None:
    """RFC 4271 §10: the KeepaliveTimer is multiplied by a factor from 0.75 to 1.0 picked each
    time it is set, so a KEEPALIVE always comes within the interval."""
    factors = iter([0.8, 0.75, 1.0])
    s = established(hold_time=90, keepalive_jitter=lambda: next(factors))
    assert s.next_timer() == T0 + 30 * 0.8
    s.handle_timer(T0 + 24)
    assert s.data_to_send() == KEEPALIVE
    assert s.next_timer() == T0 + 24 + 30 * 0.75
    s.handle_timer(T0 + 46.5)
    assert s.data_to_send() == KEEPALIVE and s.next_timer() == T0 + 46.5 + 30


# -- connect retry ---------------------------------------------------------------------------


def test_connect_retry_re_emits_connect_requested() -> None:
    s = Session(config(connect_retry_time=5))
    s.start(T0)
    assert s.events() == [StateChanged(State.IDLE, State.CONNECT, "connecting"), ConnectRequested()]
    assert s.next_timer() == T0 + 5
    s.handle_timer(T0 + 4.9)
    assert s.events() == []
    s.handle_timer(T0 + 5)
    assert s.events() == [ConnectRequested()]
    assert state(s) == State.CONNECT and s.next_timer() == T0 + 10
    s.connection_failed(T0 + 6)
    assert states(s.events()) == [(State.CONNECT, State.ACTIVE)]
    s.handle_timer(T0 + 10)
    ev = s.events()
    assert states(ev) == [(State.ACTIVE, State.CONNECT)] and ConnectRequested() in ev
    s.connection_made(T0 + 11)
    assert s.state == State.OPENSENT
    assert s.next_timer() == T0 + 11 + 60  # retry timer gone, open-wait hold timer armed


def test_passive_never_requests_a_connection() -> None:
    s = Session(config(passive=True))
    s.start(T0)
    assert states(s.events()) == [(State.IDLE, State.ACTIVE)]
    for k in range(1, 5):
        s.handle_timer(T0 + 5 * k)
        assert s.events() == [] and s.state == State.ACTIVE


def test_connection_failed_outside_connect_is_ignored() -> None:
    s = established()
    s.connection_failed(T0)
    assert s.state == State.ESTABLISHED and s.events() == []


@pytest.mark.parametrize("how", ["stop", "lost"])
def test_no_timer_left_after_ending_before_connection(how: str) -> None:
    """A finished session must not keep reporting a deadline: a driver sleeping until
    next_timer() would spin on it."""
    s = Session(config())
    s.start(T0)
    s.events()
    if how == "stop":
        s.stop(T0 + 1)
    else:
        s.connection_lost(T0 + 1)
    assert s.state == State.IDLE and s.closing
    assert s.next_timer() is None
    s.events()
    s.handle_timer(T0 + 100)
    assert s.events() == []


# -- OPEN checks -------------------------------------------------------------------------------


def test_bad_peer_as() -> None:
    p = make_pair(
        a_kw={"local_as": 64512, "peer_as": 65000}, b_kw={"local_as": 65000, "peer_as": 65001}
    )
    p.start()
    p.connect()
    p.pump()
    (bd,) = p.b.of_type(SessionDown)
    assert bd.notification == Notification(ErrCode.OPEN_MESSAGE, OpenSub.BAD_PEER_AS)
    assert bd.sent_by_us and not bd.was_established
    assert p.b.sent[-1][1:] == (MsgType.NOTIFICATION, b"\x02\x02")
    (ad,) = p.a.of_type(SessionDown)
    assert ad.notification == Notification(2, 2) and not ad.sent_by_us


def test_bad_peer_as_four_octet() -> None:
    s = opensent(local_as=64512, peer_as=4200000001)
    feed(s, [peer_open(asn=4200000002)])
    assert s.data_to_send() == Notification(2, 2).encode()
    assert only_down(s).notification == Notification(2, 2)


def test_same_router_id_on_ibgp() -> None:
    """RFC 6286 §2.2: within one AS the identifiers must differ."""
    p = make_pair(b_kw={"router_id": "10.0.0.1"})
    p.start()
    p.connect()
    p.pump()
    for side in p.sides:
        (d,) = side.of_type(SessionDown)
        assert d.notification == Notification(ErrCode.OPEN_MESSAGE, OpenSub.BAD_BGP_IDENTIFIER)


def test_same_router_id_on_ebgp_is_fine() -> None:
    p = make_pair(
        a_kw={"local_as": 64512, "peer_as": 65001},
        b_kw={"local_as": 65001, "peer_as": 64512, "router_id": "10.0.0.1"},
    )
    p.establish()


@pytest.mark.parametrize(
    ("body_patch", "expected"),
    [
        ({"version": 3}, Notification(2, 1, b"\x00\x04")),
        ({"hold": 1}, Notification(2, 6)),
        ({"hold": 2}, Notification(2, 6)),
        ({"router_id": 0}, Notification(2, 3)),
    ],
)
def test_bad_open_answered_with_notification(
    body_patch: dict[str, int], expected: Notification
) -> None:
    s = opensent()
    fields = {"version": 4, "asn": 64512, "hold": 90, "router_id": 5}
    fields.update(body_patch)
    body = struct.pack(
        "!BHHIB", fields["version"], fields["asn"], fields["hold"], fields["router_id"], 0
    )
    msg = b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 1) + body
    feed(s, [msg])
    assert s.data_to_send() == expected.encode()
    assert only_down(s).notification == expected


# -- unexpected messages (RFC 6608) ----------------------------------------------------------

OPEN_MSG = peer_open()


@pytest.mark.parametrize(
    ("state", "msg", "sub"),
    [
        ("opensent", KEEPALIVE, FsmSub.UNEXPECTED_IN_OPENSENT),
        ("opensent", UPDATE, FsmSub.UNEXPECTED_IN_OPENSENT),
        ("opensent", REFRESH, FsmSub.UNEXPECTED_IN_OPENSENT),
        ("openconfirm", OPEN_MSG, FsmSub.UNEXPECTED_IN_OPENCONFIRM),
        ("openconfirm", UPDATE, FsmSub.UNEXPECTED_IN_OPENCONFIRM),
        ("openconfirm", REFRESH, FsmSub.UNEXPECTED_IN_OPENCONFIRM),
        ("established", OPEN_MSG, FsmSub.UNEXPECTED_IN_ESTABLISHED),
    ],
)
def test_unexpected_message_is_fsm_error(state: str, msg: bytes, sub: int) -> None:
    s = {"opensent": opensent, "openconfirm": openconfirm, "established": established}[state]()
    was = s.state
    feed(s, [msg])
    assert s.data_to_send() == Notification(ErrCode.FSM, sub).encode()
    down = only_down(s)
    assert down.notification == Notification(5, sub)
    assert down.sent_by_us and down.was_established == (was == State.ESTABLISHED)


@pytest.mark.parametrize(
    ("state", "msg"),
    [
        ("opensent", OPEN_MSG),
        ("openconfirm", KEEPALIVE),
        ("established", KEEPALIVE),
        ("established", UPDATE),
        ("established", REFRESH),
    ],
)
def test_expected_messages_accepted(state: str, msg: bytes) -> None:
    s = {"opensent": opensent, "openconfirm": openconfirm, "established": established}[state]()
    feed(s, [msg])
    assert not s.closing


@pytest.mark.parametrize("state", ["opensent", "openconfirm", "established"])
def test_notification_received_in_each_state(state: str) -> None:
    s = {"opensent": opensent, "openconfirm": openconfirm, "established": established}[state]()
    was = s.state
    n = Notification(ErrCode.CEASE, CeaseSub.PEER_DECONFIGURED, b"\x01\x02")
    ev = feed(s, [n.encode(), KEEPALIVE])
    (down,) = downs(ev)
    assert ev[-1] is down
    assert down.notification == n
    assert not down.sent_by_us and not down.graceful
    assert down.was_established == (was == State.ESTABLISHED)
    assert s.data_to_send() == b""  # never answer a NOTIFICATION
    assert s.state == State.IDLE


def test_data_after_the_end_is_ignored() -> None:
    s = established()
    feed(s, [b"\x00" * 19])
    assert only_down(s).notification == Notification(1, 1)
    s.data_to_send()
    feed(s, [UPDATE, b"garbage"])
    assert s.events() == [] and s.data_to_send() == b""
    s.handle_timer(T0 + 10_000)
    assert s.events() == [] and s.data_to_send() == b""


# -- connection loss and stop ----------------------------------------------------------------


def test_connection_lost_in_established_is_graceful() -> None:
    p = make_pair()
    p.establish()
    p.lose_connection()
    for side in p.sides:
        (d,) = side.of_type(SessionDown)
        assert (d.graceful, d.was_established, d.sent_by_us, d.notification) == (
            True,
            True,
            False,
            None,
        )
        assert side.session.state == State.IDLE and side.session.data_to_send() == b""


def test_connection_lost_before_open_confirm() -> None:
    s = opensent()
    s.connection_lost(T0, "reset by peer")
    d = only_down(s)
    assert not d.was_established and d.reason == "reset by peer"


@pytest.mark.parametrize("passive", [False, True])
def test_connection_lost_before_connecting_has_no_session_down(passive: bool) -> None:
    s = Session(config(passive=passive))
    s.start(T0)
    s.events()
    s.connection_lost(T0)
    ev = s.events()
    assert not downs(ev) and s.state == State.IDLE and s.closing


def test_stop_sends_cease_with_shutdown_message() -> None:
    """RFC 9003: Administrative Shutdown carries the operator's message."""
    p = make_pair()
    p.establish()
    p.a.session.stop(p.clock.now, message="upgrade to pyrr 0.2")
    p.pump()
    raw = b"upgrade to pyrr 0.2"
    assert p.a.sent[-1][1:] == (MsgType.NOTIFICATION, b"\x06\x02" + bytes((len(raw),)) + raw)
    (ad,) = p.a.of_type(SessionDown)
    assert ad.sent_by_us and not ad.graceful and ad.was_established
    assert ad.reason == "upgrade to pyrr 0.2"
    (bd,) = p.b.of_type(SessionDown)
    assert bd.notification is not None
    assert bd.notification.shutdown_message == "upgrade to pyrr 0.2"
    assert not bd.graceful


def test_stop_with_other_subcode_and_no_message() -> None:
    s = established()
    s.stop(T0, CeaseSub.PEER_DECONFIGURED)
    assert s.data_to_send() == Notification(6, 3).encode()
    assert only_down(s).reason == "CEASE/PEER_DECONFIGURED"


def test_stop_with_cease_data() -> None:
    """RFC 4486 §4: Maximum Number of Prefixes Reached carries AFI, SAFI and the limit."""
    s = established()
    data = struct.pack("!HBI", 1, 1, 1000)
    s.stop(T0, CeaseSub.MAXIMUM_PREFIXES_REACHED, data=data)
    assert s.data_to_send() == Notification(6, 1, data).encode()
    d = only_down(s)
    assert d.notification == Notification(6, 1, data) and d.sent_by_us and not d.graceful


def test_stop_in_opensent_sends_cease() -> None:
    s = opensent()
    s.stop(T0)
    assert s.data_to_send() == Notification(6, 2).encode()
    assert not only_down(s).was_established


@pytest.mark.parametrize("passive", [False, True])
def test_stop_before_connection(passive: bool) -> None:
    s = Session(config(passive=passive))
    s.start(T0)
    s.events()
    s.stop(T0, message="bye")
    assert s.data_to_send() == b"" and s.state == State.IDLE and s.closing
    assert states(s.events()) == [(State.CONNECT if not passive else State.ACTIVE, State.IDLE)]
    s.stop(T0)  # twice is harmless
    assert s.events() == []


def test_stop_in_idle() -> None:
    s = Session(config())
    s.stop(T0)
    assert s.closing and s.events() == [] and s.data_to_send() == b""
    with pytest.raises(LocalProtocolError):
        s.start(T0)


# -- RFC 8538 graceful NOTIFICATION ------------------------------------------------------------


def _gr(flags: GRFlags) -> Capabilities:
    return caps(graceful_restart=GracefulRestart(flags, 120, ((IPV4_UNICAST, True),)))


@pytest.mark.parametrize(
    ("a_flags", "b_flags", "subcode", "graceful"),
    [
        (GRFlags.NOTIFICATION, GRFlags.NOTIFICATION, CeaseSub.ADMINISTRATIVE_SHUTDOWN, True),
        (
            GRFlags.NOTIFICATION | GRFlags.RESTART,
            GRFlags.NOTIFICATION,
            CeaseSub.ADMINISTRATIVE_RESET,
            True,
        ),
        (GRFlags.NOTIFICATION, GRFlags.NOTIFICATION, CeaseSub.HARD_RESET, False),
        (GRFlags.NOTIFICATION, GRFlags.NONE, CeaseSub.ADMINISTRATIVE_SHUTDOWN, False),
        (GRFlags.NONE, GRFlags.NOTIFICATION, CeaseSub.ADMINISTRATIVE_SHUTDOWN, False),
        (GRFlags.RESTART, GRFlags.RESTART, CeaseSub.ADMINISTRATIVE_SHUTDOWN, False),
    ],
)
def test_n_bit_graceful_notification(
    a_flags: GRFlags, b_flags: GRFlags, subcode: int, graceful: bool
) -> None:
    """RFC 8538 §4: with N on both sides, a NOTIFICATION other than Hard Reset keeps GR."""
    p = make_pair(a_kw={"capabilities": _gr(a_flags)}, b_kw={"capabilities": _gr(b_flags)})
    p.establish()
    p.b.session.stop(p.clock.now, subcode)
    p.pump()
    (ad,) = p.a.of_type(SessionDown)
    assert ad.notification is not None and ad.notification.subcode == subcode
    assert ad.graceful is graceful
    (bd,) = p.b.of_type(SessionDown)
    assert not bd.graceful  # our own deliberate stop


def test_n_bit_not_applied_before_established() -> None:
    s = openconfirm(capabilities=_gr(GRFlags.NOTIFICATION))
    feed(s, [Notification(6, 2).encode()])
    assert not only_down(s).graceful


def test_n_bit_needs_local_gr_capability() -> None:
    s = opensent()
    feed(
        s,
        [peer_open(capabilities=_gr(GRFlags.NOTIFICATION)), KEEPALIVE, Notification(6, 2).encode()],
    )
    assert not only_down(s).graceful


# -- UPDATE and ROUTE-REFRESH in Established ----------------------------------------------------


def _update(prefix: str = "10.65.0.0/26", origin: bytes = b"\x00", extra: int = 0) -> bytes:
    """An IPv4 UPDATE; `extra` adds an unknown optional transitive attribute of that size."""
    items: list[AttrItem] = [
        (AttrCode.ORIGIN, 0x40, origin),
        (AttrCode.AS_PATH, 0x40, encode_as_path(((AsPathSegType.AS_SEQUENCE, (64512,)),))),
    ]
    if extra:
        items.append((99, 0xE0, bytes(extra)))
    return update_message(
        attrs=attrs_block(PathAttrs(items), IPV4_UNICAST, bytes((10, 0, 0, 2))),
        nlri=prefix_from_str(prefix)[1],
    )


def test_update_received() -> None:
    p = make_pair()
    p.establish()
    p.b.session.send_message(_update())
    p.pump()
    (ev,) = p.a.of_type(UpdateReceived)
    assert ev.update.announced == [
        (IPV4_UNICAST, bytes((10, 0, 0, 2)), [prefix_from_str("10.65.0.0/26")[1]])
    ]
    assert p.a.session.state == State.ESTABLISHED


def test_treat_as_withdraw_keeps_the_session() -> None:
    s = established()
    ev = feed(s, [_update(origin=b"\x07")])
    (upd,) = [e for e in ev if isinstance(e, UpdateReceived)]
    assert upd.update.error and upd.update.announced == []
    assert not s.closing and s.data_to_send() == b""


def test_session_reset_update_sends_notification() -> None:
    s = established()
    bad = update_message(nlri=bytes((33, 1, 2, 3, 4, 5)))
    feed(s, [bad])
    assert s.data_to_send() == Notification(3, 10).encode()
    d = only_down(s)
    assert d.was_established and d.notification == Notification(3, 10)


@pytest.mark.parametrize(
    ("refresh", "enhanced", "delivered"),
    [
        (RouteRefresh(1, 1), False, True),
        (RouteRefresh(2, 1), False, True),
        (RouteRefresh(1, 2), False, False),  # family not negotiated (RFC 2918 §4)
        (RouteRefresh(25, 70), True, False),
        (RouteRefresh(1, 1, RefreshSubtype.BORR), False, False),  # RFC 7313 without capability
        (RouteRefresh(1, 1, RefreshSubtype.BORR), True, True),
        (RouteRefresh(2, 1, RefreshSubtype.EORR), True, True),
        (RouteRefresh(1, 1, 3), True, False),  # RFC 7313 §5: unknown subtype ignored
        (RouteRefresh(1, 1, 255), True, False),
    ],
)
def test_route_refresh(refresh: RouteRefresh, enhanced: bool, delivered: bool) -> None:
    c = caps(enhanced_route_refresh=enhanced)
    p = make_pair(a_kw={"capabilities": c}, b_kw={"capabilities": c})
    p.establish()
    p.b.session.send_message(refresh.encode())
    p.pump()
    got = p.a.of_type(RefreshReceived)
    assert got == ([RefreshReceived(refresh)] if delivered else [])
    assert p.a.session.state == State.ESTABLISHED


def test_route_refresh_bad_length() -> None:
    s = established()
    bad = b"\xff" * 16 + b"\x00\x18\x05" + b"\x00\x01\x00\x01\x00"
    feed(s, [bad])
    assert s.data_to_send() == Notification(7, 1, bad).encode()


def _big_update(size: int) -> bytes:
    return _update(extra=size)


def test_extended_message_after_established() -> None:
    """RFC 8654: the 65535 limit applies once both advertised it, and only from Established."""
    c = caps(extended_message=True)
    p = make_pair(a_kw={"capabilities": c}, b_kw={"capabilities": c})
    p.establish()
    big = _big_update(6000)
    assert len(big) > 4096
    p.b.session.send_message(big)
    p.pump()
    (ev,) = p.a.of_type(UpdateReceived)
    assert ev.update.attrs is not None and ev.update.attrs.get(99) == bytes(6000)


def test_extended_message_needs_both_sides() -> None:
    p = make_pair(a_kw={"capabilities": caps(extended_message=True)})
    p.establish()
    big = _big_update(6000)
    p.b.session.send_message(big)
    p.pump()
    (ad,) = p.a.of_type(SessionDown)
    assert ad.notification == Notification(1, 2, struct.pack("!H", len(big)))


def test_extended_message_not_before_established() -> None:
    s = openconfirm(capabilities=caps(extended_message=True))
    assert s.negotiated is not None and not s.negotiated.extended_message  # peer did not
    s2 = opensent(capabilities=caps(extended_message=True))
    feed(s2, [peer_open(capabilities=caps(extended_message=True))])
    assert s2.negotiated is not None and s2.negotiated.extended_message
    big = _big_update(5000)
    feed(s2, [big])
    assert only_down(s2).notification == Notification(1, 2, struct.pack("!H", len(big)))


# -- collisions (RFC 4271 §6.8) ------------------------------------------------------------------


def test_collision_keep_outgoing_both_ways() -> None:
    low, high = rid("10.0.0.1"), rid("192.168.0.1")
    assert collision_keep_outgoing(high, low) is True
    assert collision_keep_outgoing(low, high) is False
    # Identifiers compare as unsigned 32-bit numbers, not as strings.
    assert collision_keep_outgoing(rid("9.0.0.1"), rid("10.0.0.1")) is False
    assert collision_keep_outgoing(rid("255.0.0.0"), rid("128.0.0.1")) is True


@given(st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1))
def test_collision_both_routers_keep_the_same_connection(x: int, y: int) -> None:
    if x == y:
        return
    # Connection X->Y is X's outgoing and Y's incoming; both ends must agree on it.
    x_keeps_xy = collision_keep_outgoing(x, y)
    y_keeps_xy = not collision_keep_outgoing(y, x)
    assert x_keeps_xy == y_keeps_xy


def test_collision_resolution_end_to_end() -> None:
    """X (10.0.0.1) and Y (10.0.0.2) connect to each other at once; each sees OpenReceived on
    both connections and closes the one RFC 4271 §6.8 says; the other gets Established."""
    xy = SessionPair(config(router_id="10.0.0.1"), config(router_id="10.0.0.2"))  # X->Y
    yx = SessionPair(config(router_id="10.0.0.2"), config(router_id="10.0.0.1"))  # Y->X
    for pair in (xy, yx):
        pair.connect()
        # The OPENs cross on the wire: each side reads the other's before its KEEPALIVE exists.
        da, db = pair.a.session.data_to_send(), pair.b.session.data_to_send()
        pair.a.session.receive_data(db, T0)
        pair.b.session.receive_data(da, T0)
        pair.collect()
        assert all(s.of_type(OpenReceived) for s in pair.sides)
        assert all(s.session.state == State.OPENCONFIRM for s in pair.sides)
    x_id, y_id = rid("10.0.0.1"), rid("10.0.0.2")
    # X decides about its outgoing connection, Y about its own.
    loser_at_x = yx.b if collision_keep_outgoing(x_id, y_id) else xy.a
    loser_at_y = xy.b if collision_keep_outgoing(y_id, x_id) else yx.a
    assert loser_at_x is xy.a and loser_at_y is xy.b  # both close X->Y: Y has the higher id
    loser_at_x.session.stop(T0, CeaseSub.CONNECTION_COLLISION_RESOLUTION)
    xy.pump()
    yx.pump()
    assert yx.a.session.state == yx.b.session.state == State.ESTABLISHED
    for side in xy.sides:
        (d,) = side.of_type(SessionDown)
        assert d.notification == Notification(6, CeaseSub.CONNECTION_COLLISION_RESOLUTION)


# -- API misuse ----------------------------------------------------------------------------------


def test_local_protocol_errors() -> None:
    s = Session(config())
    with pytest.raises(LocalProtocolError):
        s.send_message(UPDATE)
    with pytest.raises(LocalProtocolError):
        s.receive_data(KEEPALIVE, T0)
    with pytest.raises(LocalProtocolError):
        s.send_keepalive(T0)
    s.start(T0)
    with pytest.raises(LocalProtocolError):
        s.start(T0)
    with pytest.raises(LocalProtocolError):
        s.receive_data(KEEPALIVE, T0)
    s.connection_made(T0)
    with pytest.raises(LocalProtocolError):
        s.send_message(UPDATE)
    with pytest.raises(LocalProtocolError):
        s.send_keepalive(T0)
    with pytest.raises(LocalProtocolError):
        s.connection_made(T0)
    feed(s, [peer_open()])
    with pytest.raises(LocalProtocolError):
        s.send_message(UPDATE)  # OpenConfirm is not Established
    feed(s, [KEEPALIVE])
    s.send_message(UPDATE)
    s.stop(T0)
    with pytest.raises(LocalProtocolError):
        s.send_message(UPDATE)


def test_send_message_queues_bytes_and_counts() -> None:
    s = established()
    before = s.messages_out
    s.send_message(UPDATE)
    s.send_message(REFRESH)
    assert s.data_to_send() == UPDATE + REFRESH
    assert s.data_to_send() == b""
    assert s.messages_out == before + 2
    assert s.updates_out == 1
    s.note_updates_sent(5)  # the fanout writes UPDATEs past data_to_send(): still counted
    assert s.messages_out == before + 7
    assert s.updates_out == 6


def test_receive_data_split_anywhere() -> None:
    """The session reacts the same whether the peer's bytes come whole or a byte at a time."""
    stream = peer_open() + KEEPALIVE + _update() + REFRESH + KEEPALIVE
    whole = opensent()
    ev_whole = feed(whole, [stream])
    single = opensent()
    ev_single = feed(single, [stream[i : i + 1] for i in range(len(stream))])
    assert ev_whole == ev_single
    assert whole.data_to_send() == single.data_to_send()
    assert [type(e) for e in ev_whole] == [
        StateChanged,
        OpenReceived,
        StateChanged,
        Established,
        UpdateReceived,
        RefreshReceived,
    ]
    assert whole.messages_in == single.messages_in == 5


def test_ipv6_family_negotiated() -> None:
    s = established()
    assert s.negotiated is not None and IPV6_UNICAST in s.negotiated.families
