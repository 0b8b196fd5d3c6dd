"""A neighbour's outbound side (RFC 4271 §8: Connect and Active, driven by the session's
ConnectRetryTimer): the session waiting for its TCP connection, the Dial under way, and the
redial backoff after a session failed. Composed into `Neighbor`, which decides when to start,
stop and redial; this object only keeps the state straight."""

from __future__ import annotations

import itertools

from ..bgp.events import ConnectRequested, Event
from ..bgp.fsm import Session
from ..config import PeerConfig
from .backoff import Backoff
from .effects import CancelDial, Dial, DialTarget, Effect
from .local import Local

# The shortest connect timeout, whatever the (jittered) ConnectRetryTime.
MIN_CONNECT_TIMEOUT = 1.0

_attempts = itertools.count(1)


class Dialing:
    __slots__ = ("attempt", "backoff", "effects", "local", "pending", "session", "target")

    def __init__(self, target: DialTarget, local: Local, effects: list[Effect]) -> None:
        self.target = target
        self.local = local
        self.effects = effects
        self.session: Session | None = None  # in Connect/Active, driving the retries
        self.attempt = 0  # the Dial under way (0: none) ...
        self.pending: Session | None = None  # ... and the session it is for
        self.backoff = Backoff(local.rng)

    @property
    def config(self) -> PeerConfig:
        return self.target.config

    def start(self, now: float) -> list[Event]:
        """A new session in Connect (RFC 4271 §8.2.2 ManualStart); its events for the owner."""
        s = Session(self.local.session_config(self.config))
        self.session = s
        s.start(now)
        return self.drive()

    def drive(self) -> list[Event]:
        """Turn the session's ConnectRequested into a Dial (one at a time); the other events
        (its state changes) are the owner's."""
        s = self.session
        if s is None:
            return []
        rest: list[Event] = []
        for ev in s.events():
            if isinstance(ev, ConnectRequested):
                if not self.attempt:
                    self._dial(s)
            else:
                rest.append(ev)
        return rest

    def _dial(self, s: Session) -> None:
        self.attempt = next(_attempts)
        self.pending = s
        timeout = max(MIN_CONNECT_TIMEOUT, s.config.connect_retry_time)
        local = self.local.source_address(self.config)
        self.effects.append(Dial(self.target, self.attempt, local, timeout))

    def stop_retrying(self) -> None:
        """An inbound connection arrived: no more retries. A Dial under way is cancelled if
        its TCP connection is not up yet; one that is up still comes in (`take`), and
        collision resolution decides between the two (RFC 4271 §6.8)."""
        self.session = None
        if self.attempt:
            self.effects.append(CancelDial(self.attempt))

    def cancel(self) -> None:
        """Stop everything: a late connection is refused."""
        self.stop_retrying()
        self.attempt = 0
        self.pending = None

    def take(self, attempt: int) -> Session | None:
        """Our dial `attempt` connected: its session, or None when no longer wanted."""
        s = self.pending
        if attempt != self.attempt or s is None:
            return None
        self.attempt = 0
        self.pending = None
        if self.session is s:
            self.session = None
        return s

    def failed(self, attempt: int, now: float) -> list[Event] | None:
        """Our dial failed: the retrying session's events (Connect -> Active), or None when
        that attempt no longer matters."""
        if attempt != self.attempt:
            return None
        s = self.pending
        self.attempt = 0
        self.pending = None
        if s is None or s is not self.session:
            return None
        s.connection_failed(now)
        return self.drive()

    def next_timer(self) -> float | None:
        at = self.backoff.at
        if self.session is not None:
            d = self.session.next_timer()
            if d is not None and (at is None or d < at):
                at = d
        return at

    def handle_timer(self, now: float) -> list[Event]:
        s = self.session
        if s is not None and (at := s.next_timer()) is not None and now >= at:
            s.handle_timer(now)
            return self.drive()
        return []
