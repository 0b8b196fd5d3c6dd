"""Test helpers for the sans-IO core: a fake clock, two Sessions joined by an in-memory link, and
`attrs_block` to craft UPDATEs the product's encoder (pyrr/bgp/encode.py) would not make."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import TypeVar

from pyrr.bgp.attributes import PathAttrs
from pyrr.bgp.capabilities import Capabilities
from pyrr.bgp.constants import IPV4_ADDR_LEN, MAX_EXTENDED_MESSAGE_LEN, State
from pyrr.bgp.encode import mp_reach_attr, next_hop_attr
from pyrr.bgp.events import Event
from pyrr.bgp.fsm import Session, SessionConfig
from pyrr.bgp.messages import Framer
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family

E = TypeVar("E", bound=Event)


def rid(text: str) -> int:
    """A BGP identifier from its dotted-quad form."""
    return int(IPv4Address(text))


def caps(**kw: object) -> Capabilities:
    """Capabilities with a sensible Calico-like default (IPv4+IPv6, route refresh, 4-octet AS)."""
    base: dict[str, object] = {
        "families": (IPV4_UNICAST, IPV6_UNICAST),
        "route_refresh": True,
        "four_octet_as": kw.pop("asn", 64512),
    }
    base.update(kw)
    return Capabilities(**base)  # type: ignore[arg-type]


def config(
    local_as: int = 64512,
    router_id: str = "10.0.0.1",
    peer_as: int = 64512,
    *,
    capabilities: Capabilities | None = None,
    hold_time: int = 90,
    passive: bool = False,
    connect_retry_time: float = 5.0,
    open_wait_time: float = 60.0,
    keepalive_jitter: Callable[[], float] | None = None,
) -> SessionConfig:
    return SessionConfig(
        local_as=local_as,
        router_id=rid(router_id),
        peer_as=peer_as,
        capabilities=capabilities if capabilities is not None else caps(asn=local_as),
        hold_time=hold_time,
        passive=passive,
        connect_retry_time=connect_retry_time,
        open_wait_time=open_wait_time,
        keepalive_jitter=keepalive_jitter,
    )


class FakeClock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        assert seconds >= 0, "time does not go backwards"
        self.now += seconds
        return self.now


@dataclass
class Side:
    """One end of the link: its session, everything it emitted, and what it put on the wire."""

    name: str
    session: Session
    events: list[Event] = field(default_factory=list)
    # (time, message type, body) of every message this side sent, in order.
    sent: list[tuple[float, int, bytes]] = field(default_factory=list)
    _framer: Framer = field(default_factory=lambda: Framer(MAX_EXTENDED_MESSAGE_LEN))

    def of_type(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def sent_types(self) -> list[int]:
        return [t for _at, t, _b in self.sent]

    def take_events(self) -> list[Event]:
        ev, self.events = self.events, []
        return ev


class SessionPair:
    """Two `Session`s whose `data_to_send()` is carried to the other's `receive_data()`.

    `a` is the side that usually connects, `b` the one that accepts. Nothing moves until a test
    calls `pump()` (or `establish()` / `advance()`, which pump); `mute(side)` drops what one side
    sends, as a peer whose packets stop arriving.
    """

    def __init__(self, a: SessionConfig, b: SessionConfig, clock: FakeClock | None = None) -> None:
        self.clock = clock if clock is not None else FakeClock()
        self.a = Side("a", Session(a))
        self.b = Side("b", Session(b))
        self.connected = False
        self.muted: set[str] = set()

    @property
    def sides(self) -> tuple[Side, Side]:
        return self.a, self.b

    def other(self, side: Side) -> Side:
        return self.b if side is self.a else self.a

    def collect(self) -> None:
        for side in self.sides:
            side.events.extend(side.session.events())

    def start(self) -> None:
        """ManualStart on both sides (each goes to Connect or Active per its `passive`)."""
        for side in self.sides:
            side.session.start(self.clock.now)
        self.collect()

    def connect(self) -> None:
        """The TCP connection comes up: both sessions send their OPEN."""
        self.connected = True
        for side in self.sides:
            side.session.connection_made(self.clock.now)
        self.collect()

    def _record(self, side: Side, data: bytes) -> None:
        side._framer.feed(data)
        while (msg := side._framer.next_message()) is not None:
            side.sent.append((self.clock.now, msg[0], msg[1]))

    def deliver(self, side: Side) -> bool:
        """Carry what `side` has queued to its peer once; False if it had nothing."""
        data = side.session.data_to_send()
        if not data:
            return False
        self._record(side, data)
        if side.name not in self.muted and self.connected:
            peer = self.other(side).session
            if peer.state in (State.OPENSENT, State.OPENCONFIRM, State.ESTABLISHED):
                peer.receive_data(data, self.clock.now)
        self.collect()
        return True

    def pump(self, max_rounds: int = 100) -> None:
        """Carry bytes both ways until neither side has anything left to send."""
        for _ in range(max_rounds):
            moved = [self.deliver(side) for side in self.sides]
            if not any(moved):
                return
        raise AssertionError("the link did not settle")

    def establish(self) -> None:
        """start + connect + pump, and check that both sides reached Established."""
        self.start()
        self.connect()
        self.pump()
        for side in self.sides:
            assert side.session.state == State.ESTABLISHED, (side.name, side.events)

    def mute(self, side: Side) -> None:
        self.muted.add(side.name)

    def next_deadline(self) -> float | None:
        times = [t for s in self.sides if (t := s.session.next_timer()) is not None]
        return min(times) if times else None

    def advance(self, seconds: float) -> None:
        """Let time pass, firing every timer at its own deadline and pumping after each."""
        target = self.clock.now + seconds
        last: float | None = None
        while (deadline := self.next_deadline()) is not None and deadline <= target:
            # A deadline that survives its own handle_timer() would make a driver spin.
            assert deadline != last, f"timer at {deadline} did not move after firing"
            last = deadline
            self.clock.now = max(self.clock.now, deadline)
            for side in self.sides:
                t = side.session.next_timer()
                if t is not None and t <= self.clock.now:
                    side.session.handle_timer(self.clock.now)
            self.collect()
            self.pump()
        self.clock.now = target

    def lose_connection(self) -> None:
        """The TCP connection dies under both sessions."""
        self.connected = False
        for side in self.sides:
            side.session.connection_lost(self.clock.now)
        self.collect()


def feed(session: Session, messages: Iterable[bytes], now: float = 1000.0) -> list[Event]:
    """Give raw messages to a session, return the events they caused."""
    for msg in messages:
        session.receive_data(msg, now)
    return session.events()


def attrs_block(
    attrs: PathAttrs,
    family: Family,
    next_hop: bytes,
    four_octet_as: bool = True,
    mp_nlri: bytes | None = None,
) -> bytes:
    """The attribute field for routes of one family sharing `attrs` and `next_hop`.

    IPv4 unicast goes the RFC 4271 way (NEXT_HOP attribute, NLRI after the attributes); other
    families carry next hop and NLRI in MP_REACH_NLRI (RFC 4760 §3), placed first as RFC 7606
    §5.1 asks so a receiver can always find the NLRI. With `four_octet_as=False` the attributes
    take their RFC 6793 §4.2.2 form for a 2-octet peer.
    """
    wire = attrs.wire if four_octet_as else attrs.wire_for_as2()
    if family == IPV4_UNICAST and len(next_hop) == IPV4_ADDR_LEN:
        return next_hop_attr(next_hop) + wire
    return mp_reach_attr(family, next_hop, mp_nlri or b"") + wire
