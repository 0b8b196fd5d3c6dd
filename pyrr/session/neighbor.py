"""One configured peer, sans-IO: its sessions (at most two during a collision, RFC 4271 §6.8),
dialing with backoff, inbound connections, the hold and stall limits, maximum prefixes
(RFC 4486), route refresh (RFC 2918, RFC 7313), graceful restart as helper (RFC 4724 §4.2) and
the restart deferral of a restarting speaker (RFC 4724 §4.1).

Inputs carry the time: `start(now)`, `accept(sink, now)`, `connected(attempt, sink, now)`,
`receive(link, data, now)`, `connection_lost(link, now, reason)`, `handle_timer(now)`.
Outputs: bytes and closes go to each link's `Sink`, in the order the decisions are made (a
NOTIFICATION before its FIN); a `Dial` and `SessionsChanged` are effects for the host to carry
out; `next_timer()` says when to call `handle_timer`. Learned routes go to `Routes`, and the
neighbour joins the export layer (`Exporter`) as a member while its session is up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from ipaddress import IPv4Address

import structlog

from .. import log as logmod
from ..bgp.capabilities import Negotiated
from ..bgp.constants import CeaseSub, RefreshSubtype, State
from ..bgp.events import (
    Established,
    Event,
    OpenReceived,
    RefreshReceived,
    SessionDown,
    StateChanged,
    UpdateReceived,
)
from ..bgp.fsm import Session
from ..bgp.messages import RouteRefresh
from ..bgp.nlri import Family, family_name
from ..bgp.update import Update
from ..config import PeerConfig
from ..export.export import group_key
from ..export.group import GroupKey
from ..export.policy import Role, role_of
from ..rib.path import Source
from .collision import Outcome, resolve
from .dialing import Dialing
from .effects import SESSIONS_CHANGED, Effect
from .graceful import Helper
from .link import Link, Sink
from .local import Local
from .ports import Deferral, Exporter, Routes
from .prefix_limit import CEASE, cease_data, over_limit
from .timers import Timers

log = structlog.get_logger("pyrr.peer")

# How long a peer may stay unable to take our writes when it negotiated no hold time.
STALL_LIMIT = 240.0
# Inbound connections of one peer that may wait for their OPEN at once; a newer one replaces
# the oldest. A peer reconnecting after a half-open connection does not wait out the open
# timer, and a flood of connections from a configured address holds no more than this.
MAX_PENDING_INBOUND = 2


class Neighbor:
    def __init__(
        self,
        config: PeerConfig,
        local: Local,
        routes: Routes,
        export: Exporter,
        effects: list[Effect],
        timers: Timers,
        deferral: Deferral | None = None,
    ) -> None:
        self.config = config
        self.key = config.key  # peers are identified by address; used in every log line
        self.local = local
        self.routes = routes
        self.export = export
        self.effects = effects
        self.timers = timers
        self.deferral = deferral
        # iBGP or eBGP by the AS of this session (a BGPPeer's localASNumber may differ from
        # ours, RFC 4271 §5.1.4 / RFC 7705 local AS).
        ibgp = config.asn == local.local_as(config)
        self.source = Source(self.key, config.address, config.asn, ibgp, config.client)
        self.links: list[Link] = []
        self.dialing = Dialing(self, local, effects)
        self.established: Link | None = None
        self.negotiated: Negotiated | None = None
        self.group_key: GroupKey | None = None  # set while a member of the export layer
        self.state = State.IDLE
        self.since = 0.0  # the `now` of the last state change
        self.last_error = ""
        self.helper = Helper(self.source, routes)
        self.stopped = False
        self.flaps = 0
        self.updates_in = 0
        self.treat_as_withdraw = 0
        self.eor_received: set[Family] = set()
        self.eor_at: dict[Family, float] = {}  # `now` of the first End-of-RIB per family
        self.established_at: float | None = None
        self.stall_at: float | None = None
        self._max_warned = False
        self.timer_at: float | None = None  # owned by session.timers.Timers
        self.timer_dirty = True  # a deadline may have moved earlier since Timers last looked

    def __repr__(self) -> str:
        return f"Neighbor({self.key})"

    @property
    def role(self) -> Role:
        return role_of(self.source)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, now: float) -> None:
        self.stopped = False
        self.since = now
        if self.config.passive:
            self.state = State.ACTIVE  # RFC 4271 §8.2.2: passive peers wait in Active
        else:
            self._start_dialer(now)

    def stop(
        self, now: float, subcode: int = CeaseSub.ADMINISTRATIVE_SHUTDOWN, message: str = ""
    ) -> None:
        """End every session with Cease; used for shutdown and de-configuration."""
        self.stopped = True
        self.dialing.cancel()
        self.dialing.backoff.cancel()
        self.stall_at = None
        for link in list(self.links):
            link.session.stop(now, subcode, message)
            self._process(link, now)
        # Routes kept for a restarting peer (RFC 4724) go with the peer. Stale and current
        # routes may be keyed differently (RFC 7911 path ids): each with its own session's view.
        self.helper.restart_at = None
        self.routes.drop(self.source)

    def halt_for_restart(self) -> None:
        """Drop every connection without a NOTIFICATION (pyrr restarts; RFC 4724 §4.2 lets the
        peer keep our routes meanwhile)."""
        self.stopped = True
        self.dialing.cancel()
        for link in list(self.links):
            link.abort()

    # -- connections -------------------------------------------------------------------------

    def accept(self, sink: Sink, now: float) -> Link:
        """An inbound connection from this peer: it gets a fresh session (RFC 4271 §8.2.2:
        a connection arriving in Connect/Active moves the FSM to OpenSent). Our own dial stops
        retrying; one whose TCP connection is already up still becomes a link, and §6.8
        collision resolution decides between the two."""
        self.dialing.stop_retrying()
        waiting = (
            [
                c
                for c in self.links
                if not c.outgoing and not c.session.closing and c.session.state == State.OPENSENT
            ]
            if self.links
            else []
        )
        for old in waiting[: max(0, len(waiting) - MAX_PENDING_INBOUND + 1)]:
            log.debug("newer inbound connection replaces one still waiting for OPEN", peer=self.key)
            old.session.stop(now, CeaseSub.CONNECTION_REJECTED)
            self._process(old, now)
        return self._open(Session(self.local.session_config(self.config)), sink, False, now)

    def connected(self, attempt: int, sink: Sink, now: float) -> Link | None:
        """Our dial succeeded; None when it is no longer wanted (the caller closes it)."""
        s = self.dialing.take(attempt)
        if s is None or self.stopped:
            return None
        return self._open(s, sink, True, now)

    def dial_failed(self, attempt: int, now: float, error: str) -> None:
        events = self.dialing.failed(attempt, now)
        if events is not None:
            self.last_error = error
            self._dialer_events(events, now)

    def receive(self, link: Link, data: bytes, now: float) -> None:
        """Bytes from one of our connections: the per-message path, straight from the
        transport."""
        link.session.receive_data(data, now)
        self._process(link, now)
        if self.timer_dirty:  # most messages only move deadlines later: nothing to queue
            self.timer_dirty = False
            self.timers.update(self)

    def connection_lost(self, link: Link, now: float, reason: str) -> None:
        link.closed = True
        if not link.session.closing:
            link.session.connection_lost(now, reason)
            events = link.session.events()
            if events:
                self._handle(link, events, now)
        if link in self.links:
            self.links.remove(link)
        dialing = self.dialing
        if (
            not self.links
            and dialing.session is None
            and not self.stopped
            and not self.config.passive
        ):
            dialing.backoff.schedule(now)
            self.timer_dirty = True

    def write_paused(self, link: Link, now: float) -> None:
        """The peer reads slower than we write: leave the shared stream (Export.pause) and give
        it up if it stays stuck longer than its hold time."""
        if link is not self.established or self.group_key is None:
            return
        self.export.pause(self)
        neg = self.negotiated
        stall = float(neg.hold_time) if neg is not None and neg.hold_time else STALL_LIMIT
        if self.stall_at is None:
            self.stall_at = now + stall
            self.timer_dirty = True
        log.info(
            "peer is slow: out of the shared stream",
            peer=self.key,
            buffered=link.sink.write_buffer_size,
        )

    def write_resumed(self, link: Link, now: float) -> None:
        self.stall_at = None
        if link is not self.established or self.group_key is None:
            return
        self.export.resume(self)
        log.info("peer caught up: resynchronised", peer=self.key)

    # -- time --------------------------------------------------------------------------------

    def next_timer(self) -> float | None:
        # Asked after every state change of every session: plain comparisons, no tuples.
        at = self.dialing.next_timer()
        for d in (self.helper.restart_at, self.stall_at):
            if d is not None and (at is None or d < at):
                at = d
        for link in self.links:
            d = link.session.next_timer()
            if d is not None and (at is None or d < at):
                at = d
        return at

    def handle_timer(self, now: float) -> None:
        self.timer_dirty = False
        for link in list(self.links):
            at = link.session.next_timer()
            if at is not None and now >= at:
                link.session.handle_timer(now)
                self._process(link, now)
        self._dialer_events(self.dialing.handle_timer(now), now)
        if self.dialing.backoff.due(now) and not self.stopped and not self.links:
            self._start_dialer(now)
        if self.helper.due(now):
            self._sweep_all("restart time expired")
        if self.stall_at is not None and now >= self.stall_at:
            self._stalled()

    # -- dialing -----------------------------------------------------------------------------

    def _start_dialer(self, now: float) -> None:
        if self.stopped or self.dialing.session is not None or self.config.passive:
            return
        self._dialer_events(self.dialing.start(now), now)

    def _dialer_events(self, events: list[Event], now: float) -> None:
        for ev in events:
            if isinstance(ev, StateChanged):
                self._note_state(ev, now, None)

    # -- one link's events -------------------------------------------------------------------

    def _open(self, s: Session, sink: Sink, outgoing: bool, now: float) -> Link:
        link = Link(s, sink, outgoing, now)
        self.links.append(link)
        s.connection_made(now)
        self._process(link, now)
        return link

    def _process(self, link: Link, now: float) -> None:
        """Handle the session's events, write its output, close the link if it is done.

        Events go first: what their handlers write (End-of-RIB and the table when a session
        comes up) leaves in one write with the session's own pending output in front of it
        (the KEEPALIVE that confirmed the OPEN), instead of one system call each.
        """
        s = link.session
        events = s.events()
        if events:
            self._handle(link, events, now)
        link.transmit()
        if s.closing and not link.closed:
            # The session ended while those events were handled (a collision, a prefix limit):
            # its NOTIFICATION goes out before our FIN, and its end is handled now.
            events = s.events()
            if events:
                self._handle(link, events, now)
            link.transmit()
            link.close()

    def _handle(self, link: Link, events: list[Event], now: float) -> None:
        for ev in events:
            _HANDLERS[ev.__class__](self, link, ev, now)

    def _note_state(self, ev: StateChanged, now: float, link: Link | None) -> None:
        monitor = self.routes.monitor
        if monitor is not None:
            monitor.state_changed(self, link, ev.old, ev.new)
        # The peer's state is its most advanced session's state.
        new = State.IDLE
        for c in self.links:
            s = c.session
            if not s.closing and s.state > new:
                new = s.state
        dialer = self.dialing.session
        if dialer is not None and dialer.state > new:
            new = dialer.state
        if new == State.IDLE and self.config.passive and not self.stopped:
            new = State.ACTIVE
        if new != self.state:
            self.state = new
            self.since = now
        self.timer_dirty = True  # a new state may arm an earlier deadline
        if logmod.enabled(logmod.DEBUG):
            log.debug(
                "session state", peer=self.key, old=ev.old.name, new=ev.new.name, reason=ev.reason
            )

    def _on_state(self, link: Link, ev: Event, now: float) -> None:
        assert isinstance(ev, StateChanged)
        self._note_state(ev, now, link)

    def _on_open(self, link: Link, ev: Event, now: float) -> None:
        """RFC 4271 §6.8 connection collisions and RFC 4724 §4.2 restarts (see collision.py)."""
        assert isinstance(ev, OpenReceived)
        if len(self.links) == 1:
            return  # the only connection: nothing collides (the common case)
        neg = self.negotiated
        gr_helper = neg is not None and neg.peer_gr is not None
        for loser, outcome in resolve(link, self.links, ev.open, self.local.router_id, gr_helper):
            if outcome is Outcome.PEER_RESTARTED:
                log.info("peer restarted (new OPEN while established)", peer=self.key)
                loser.session.connection_lost(now, "peer restarted (RFC 4724 §4.2)")
                self._process(loser, now)
                loser.abort()
                continue
            if outcome is Outcome.SUPERSEDED:
                log.info("newer connection supersedes an older one", peer=self.key)
                subcode = CeaseSub.CONNECTION_REJECTED
            else:
                if outcome is Outcome.LOST_COLLISION:
                    way = "outgoing" if loser.outgoing else "incoming"
                    log.info("connection collision", peer=self.key, closing=way)
                subcode = CeaseSub.CONNECTION_COLLISION_RESOLUTION
            loser.session.stop(now, subcode)
            if loser is not link:  # the link being handled is closed by its own _process
                self._process(loser, now)

    def _on_established(self, link: Link, ev: Event, now: float) -> None:
        assert isinstance(ev, Established)
        if link.session.closing:
            return  # it just lost a collision
        neg = ev.negotiated
        self.established = link
        self.negotiated = neg
        self.dialing.backoff.reset()
        self.source.router_id = neg.peer_id
        self.eor_received = set()
        self.eor_at = {}
        self.established_at = now
        self.last_error = ""
        if logmod.enabled(logmod.INFO):
            log.info(
                "session established",
                peer=self.key,
                peer_as=neg.peer_as,
                peer_id=str(IPv4Address(neg.peer_id)),
                families=", ".join(family_name(f) for f in neg.families),
                hold=neg.hold_time,
                reason="OPEN accepted and KEEPALIVE received",
            )
        if self.source.stale_families:
            peer_gr = neg.peer_gr
            if peer_gr is None or not peer_gr.restarting:
                self._sweep_all("peer returned without Restart State")
            for fam in self.helper.gone_on_return(peer_gr):
                self._sweep(fam)
        self.effects.append(SESSIONS_CHANGED)
        monitor = self.routes.monitor
        if monitor is not None:
            monitor.peer_up(self, link)
        if self.deferral is not None and self.deferral.active:
            self.deferral.defer(self)  # RFC 4724 §4.1: nothing is sent until recovery ends
        else:
            self.advertise()

    def advertise(self) -> None:
        """Join the export layer: the peer gets the whole table, End-of-RIB, then changes."""
        link, neg = self.established, self.negotiated
        if link is None or neg is None or self.group_key is not None:
            return
        sink = link.sink
        local_as = self.local.local_as(self.config)
        self.group_key = group_key(self, neg, local_as, sink.local_address, config=self.config)
        self.export.join(self, self.group_key)

    def _on_update(self, link: Link, ev: Event, now: float) -> None:
        assert isinstance(ev, UpdateReceived)
        upd = ev.update
        neg = self.negotiated
        if neg is None or link is not self.established or link.session.closing:
            return
        monitor = self.routes.monitor  # (not an attribute of its own: see the module's end)
        if monitor is not None:
            monitor.update_received(self, link, ev.body)
        self.updates_in += 1
        if upd.error:
            self.treat_as_withdraw += 1
            log.warning(
                "malformed UPDATE treated as withdraw (RFC 7606)", peer=self.key, reason=upd.error
            )
        for note in upd.notes:
            log.info("UPDATE note", peer=self.key, note=note)
        if upd.end_of_rib is not None:
            self._on_end_of_rib(upd.end_of_rib, neg, now)
            return
        self.routes.apply(self.source, upd, neg.add_path_rx, now)
        if self.config.max_prefixes and upd.announced:
            self._check_max_prefixes(link, upd, now)

    def _on_end_of_rib(self, family: Family, neg: Negotiated, now: float) -> None:
        self.eor_received.add(family)
        self.eor_at.setdefault(family, now)
        log.debug("End-of-RIB", peer=self.key, family=family_name(family))
        self._sweep(family)
        if self.deferral is not None and self.deferral.active:
            done = all(f in self.eor_received for f in neg.families)
            self.deferral.end_of_rib(self, done)

    def _check_max_prefixes(self, link: Link, upd: Update, now: float) -> None:
        limit = self.config.max_prefixes
        over = over_limit(self.source, upd, limit)
        if over is None:
            return
        fam, count = over
        fields = {"peer": self.key, "family": family_name(fam), "count": count, "limit": limit}
        if self.config.max_prefixes_action != CEASE:
            if not self._max_warned:
                self._max_warned = True
                log.warning("maximum prefixes exceeded", **fields)
            return
        log.warning("maximum prefixes exceeded: closing the session (RFC 4486)", **fields)
        data = cease_data(fam, limit)
        link.session.stop(now, CeaseSub.MAXIMUM_PREFIXES_REACHED, data=data)

    def _on_refresh(self, link: Link, ev: Event, now: float) -> None:
        """RFC 2918 §4: re-send the Adj-RIB-Out of that family (RFC 7313: inside BoRR/EoRR)."""
        assert isinstance(ev, RefreshReceived)
        rr = ev.refresh
        fam = (rr.afi, rr.safi)
        if rr.subtype == RefreshSubtype.BORR:
            # RFC 7313 §4: the peer re-sends its whole table; what it does not re-send by EoRR
            # is gone. Its routes stay in use (stale) meanwhile.
            self.routes.mark_stale(self.source, (fam,))
            return
        if rr.subtype == RefreshSubtype.EORR:
            self._sweep(fam)
            return
        neg = self.negotiated
        if neg is None or link is not self.established or self.group_key is None:
            return
        enhanced = neg.enhanced_route_refresh
        table = self.export.refresh(self, fam, end_of_rib_after=not enhanced)
        if table is None:
            return  # not reading what we sent: its resync on resume re-sends the family
        chunks, count = table
        s = link.session
        if enhanced:
            s.send_message(RouteRefresh(rr.afi, rr.safi, RefreshSubtype.BORR).encode())
        link.send_updates(chunks, count)
        if enhanced:
            s.send_message(RouteRefresh(rr.afi, rr.safi, RefreshSubtype.EORR).encode())

    def _on_down(self, link: Link, ev: Event, now: float) -> None:
        assert isinstance(ev, SessionDown)
        lvl = log.warning if ev.was_established and not self.stopped else log.info
        lvl("session down", peer=self.key, reason=ev.reason, was_established=ev.was_established)
        if (ev.notification is not None and (ev.sent_by_us or not ev.was_established)) or ev.reason:
            self.last_error = ev.reason
        if link is not self.established:
            return
        monitor = self.routes.monitor
        if monitor is not None:
            monitor.peer_down(self, link, ev)
        self.established = None
        self.established_at = None
        self.stall_at = None
        self.flaps += 1
        self.effects.append(SESSIONS_CHANGED)
        if self.deferral is not None:
            self.deferral.peer_down(self)
        if self.group_key is not None:
            self.export.leave(self)
            self.group_key = None
        neg = self.negotiated
        peer_gr = neg.peer_gr if neg is not None else None
        if (
            ev.graceful
            and neg is not None
            and peer_gr is not None
            and peer_gr.restart_time > 0
            and not self.stopped
        ):
            # RFC 4724 §4.2: helper mode: keep the routes, stale, until the peer returns with
            # End-of-RIB or its restart time runs out.
            n = self.helper.keep(neg, peer_gr, now)
            for fam in self.helper.uncovered(peer_gr):
                self._sweep(fam)
            log.info(
                "graceful restart: keeping routes as stale",
                peer=self.key,
                routes=n,
                restart_time=peer_gr.restart_time,
            )
        else:
            self.routes.drop(self.source)
        self.negotiated = None

    # -- graceful restart helper, slow readers -----------------------------------------------

    def _sweep(self, family: Family) -> None:
        n = self.helper.sweep(family)
        if n:
            log.info("stale routes removed", peer=self.key, family=family_name(family), routes=n)

    def _sweep_all(self, reason: str) -> None:
        if self.source.stale_families:
            log.info("sweeping stale routes", peer=self.key, reason=reason)
        for fam in self.source.stale_families:
            self._sweep(fam)
        self.helper.restart_at = None

    def _stalled(self) -> None:
        self.stall_at = None
        link = self.established
        if link is not None and link.sink.write_buffer_size > 0:
            # It has not read what we sent for a whole hold time: its own hold timer must have
            # expired by now. Nothing more can be written to it, not even a NOTIFICATION.
            log.warning(
                "peer stopped reading: dropping the connection",
                peer=self.key,
                buffered=link.sink.write_buffer_size,
            )
            link.abort()

    # -- member of the export layer, and what status shows -----------------------------------

    def send_updates(self, chunks: Sequence[bytes | memoryview], count: int) -> None:
        link = self.established
        if link is not None:
            link.send_updates(chunks, count)

    def prefixes_received(self) -> int:
        return self.source.route_count()

    def prefixes_sent(self) -> int:
        return self.export.sent_count(self) if self.group_key is not None else 0


# A Neighbor has 29 attributes, all set in __init__. CPython 3.11 keeps an instance's
# attributes inline, where the specialised attribute loads find them fastest, only while its
# class's shared keys hold them all; a 30th attribute (a `monitor` of its own) made the fan-out
# path, which reads several per member and UPDATE, 25% slower. Hence `self.routes.monitor`;
# tests/session/test_neighbor.py keeps the count.
_Handler = Callable[[Neighbor, Link, Event, float], None]
_HANDLERS: dict[type[Event], _Handler] = {
    UpdateReceived: Neighbor._on_update,
    StateChanged: Neighbor._on_state,
    OpenReceived: Neighbor._on_open,
    Established: Neighbor._on_established,
    RefreshReceived: Neighbor._on_refresh,
    SessionDown: Neighbor._on_down,
}
