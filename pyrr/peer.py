"""One configured neighbour: its sessions (at most two during a collision), inbound connections,
collision resolution (RFC 4271 §6.8), the events that feed the RIB, graceful-restart helper
mode (RFC 4724 §4.2), maximum prefixes, route refresh and write flow control.

Two ideas live beside it as mixins of `Peer`: dialing with backoff (pyrr.peer_dial) and
sweeping the stale routes of a restarting peer (pyrr.peer_gr). Protocol decisions come from
pyrr.bgp (Session) and pyrr.rib; this file only wires them.
"""

from __future__ import annotations

import asyncio
import random
import struct
import time
from collections.abc import Sequence
from ipaddress import IPv4Address
from typing import TYPE_CHECKING

import structlog

from . import log as logmod
from .bgp.capabilities import Negotiated
from .bgp.constants import CeaseSub, RefreshSubtype, State
from .bgp.events import (
    Established,
    Event,
    OpenReceived,
    RefreshReceived,
    SessionDown,
    StateChanged,
    UpdateReceived,
)
from .bgp.fsm import Session, SessionConfig, collision_keep_outgoing
from .bgp.messages import RouteRefresh
from .bgp.nlri import Family, family_name
from .bgp.update import Update, end_of_rib
from .config import PeerConfig
from .out.groups import GroupKey, UpdateGroup
from .peer_dial import BACKOFF_MAX, BACKOFF_START, PeerDialer
from .peer_gr import PeerGracefulRestart
from .rib.path import Source
from .rib.reflect import Role, is_looped, role_of
from .transport.protocol import Connection

if TYPE_CHECKING:
    from .speaker import Speaker

log = structlog.get_logger("pyrr.peer")

# How long a peer may stay unable to take our writes when it negotiated no hold time.
STALL_LIMIT = 240.0
# Inbound connections of one peer that may wait for their OPEN at once; a newer one replaces
# the oldest. A peer reconnecting after a half-open connection does not wait out the open
# timer, and a flood of connections from a configured address holds no more than this.
MAX_PENDING_INBOUND = 2


class Peer(PeerDialer, PeerGracefulRestart):
    def __init__(self, speaker: Speaker, config: PeerConfig) -> None:
        self.speaker = speaker
        self.config = config
        # Peers are identified by address; the string is used in every log line and lookup.
        self.key = config.key
        g = speaker.config.bgp
        self.source = Source(
            self.key, config.address, config.asn, config.asn == g.asn, config.client
        )
        self.connections: list[Connection] = []
        self.dialer: Session | None = None  # a session in Connect/Active waiting for TCP
        self._dial_timer: asyncio.TimerHandle | None = None
        self._dial_task: asyncio.Task[None] | None = None
        self._gr_timer: asyncio.TimerHandle | None = None
        # RFC 7911 §3: the ADD-PATH receive families of the session whose routes are now stale
        # (their Adj-RIB-In keys carry a path id); kept after `negotiated` is cleared so that
        # the restart timer and stop() can still find the prefixes in the Loc-RIB.
        self._stale_add_path: frozenset[Family] = frozenset()
        self._redial: asyncio.TimerHandle | None = None
        self.established: Connection | None = None
        self.negotiated: Negotiated | None = None
        self.group: UpdateGroup | None = None
        self.group_key: GroupKey | None = None
        self.state = State.IDLE
        self.since = time.time()
        self.last_error = ""
        self.backoff = BACKOFF_START
        self.stopped = False
        self.flaps = 0
        self.updates_in = 0
        self.withdrawals_in = 0
        self.treat_as_withdraw = 0
        self.eor_received: set[Family] = set()
        self.eor_at: dict[Family, float] = {}  # time.time() of the first End-of-RIB per family
        self.established_at: float | None = None  # time.time() the current session came up
        self._max_warned = False
        self._stall_timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"Peer({self.key})"

    # -- lifecycle ---------------------------------------------------------------------------

    def session_config(self) -> SessionConfig:
        g = self.speaker.config.bgp
        c = self.config
        return SessionConfig(
            local_as=g.asn,
            router_id=int(g.router_id),
            peer_as=c.asn,
            capabilities=self.speaker.capabilities_for(c),
            hold_time=c.hold_time,
            passive=c.passive,
            # RFC 4271 §10: jitter the ConnectRetryTimer (x0.75..1) so that two speakers
            # dialing each other do not stay in lock step.
            connect_retry_time=float(g.connect_retry) * random.uniform(0.75, 1.0),
            open_wait_time=self.speaker.open_wait,
        )

    def start(self) -> None:
        self.stopped = False
        if self.config.passive:
            self.state = State.ACTIVE  # RFC 4271 §8.2.2: passive peers wait in Active
        else:
            self._start_dialer()

    def stop(self, subcode: int = CeaseSub.ADMINISTRATIVE_SHUTDOWN, message: str = "") -> None:
        """End every session with Cease; used for shutdown and de-configuration."""
        self.stopped = True
        self._cancel_dialer()
        for h in (self._redial, self._gr_timer):
            if h is not None:
                h.cancel()
        self._redial = self._gr_timer = None
        now = self.speaker.loop.time()
        for conn in list(self.connections):
            conn.session.stop(now, subcode, message)
            conn.pump()
        # Routes kept for a restarting peer (RFC 4724) go with the peer. Stale and current
        # routes may be keyed differently (RFC 7911 path ids): each with its own session's view.
        rib = self.speaker.rib
        leftover = []
        for fam in list(self.source.stale):
            leftover += rib.sweep_stale(self.source, fam, fam in self._stale_add_path)
        neg = self.negotiated
        leftover += rib.drop_source(self.source, neg.add_path_rx if neg else frozenset())
        if leftover:
            self.speaker.outbound.changes(leftover)

    def halt_for_restart(self) -> None:
        """Drop every connection without a NOTIFICATION (pyrr restarts; RFC 4724 §4.2 lets the
        peer keep our routes meanwhile)."""
        self.stopped = True
        self._cancel_dialer()
        for conn in list(self.connections):
            conn.abort()

    # -- inbound connections -----------------------------------------------------------------

    def adopt_inbound(self, conn: Connection) -> Session:
        """An inbound connection from this peer: it gets a fresh session (RFC 4271 §8.2.2:
        a connection arriving in Connect/Active moves the FSM to OpenSent)."""
        self._cancel_dialer()
        waiting = [
            c
            for c in self.connections
            if not c.outgoing and not c.session.closing and c.session.state == State.OPENSENT
        ]
        now = self.speaker.loop.time()
        for old in waiting[: max(0, len(waiting) - MAX_PENDING_INBOUND + 1)]:
            log.debug("newer inbound connection replaces one still waiting for OPEN", peer=self.key)
            old.session.stop(now, CeaseSub.CONNECTION_REJECTED)
            old.pump()
        s = Session(self.session_config())
        conn.outgoing = False
        self.connections.append(conn)
        return s

    # -- session events ----------------------------------------------------------------------

    def on_events(self, conn: Connection, events: list[Event]) -> None:
        for ev in events:
            if isinstance(ev, UpdateReceived):
                self._on_update(conn, ev)
            elif isinstance(ev, StateChanged):
                self._note_state(ev, conn)
            elif isinstance(ev, OpenReceived):
                self._check_collision(conn, ev)
            elif isinstance(ev, Established):
                if not conn.session.closing:  # not if it just lost a collision
                    self._on_established(conn, ev.negotiated)
            elif isinstance(ev, RefreshReceived):
                self._on_refresh(conn, ev)
            elif isinstance(ev, SessionDown):
                self._on_down(conn, ev)

    def on_pause_writing(self, conn: Connection) -> None:
        """The peer reads slower than we write: leave the shared stream (see UpdateGroup.pause)
        and give it up if it stays stuck longer than its hold time."""
        if conn is not self.established or self.group_key is None:
            return
        g = self.speaker.outbound.groups.get(self.group_key)
        if g is not None:
            g.pause(self)
        neg = self.negotiated
        stall = float(neg.hold_time) if neg is not None and neg.hold_time else STALL_LIMIT
        if self._stall_timer is None:
            self._stall_timer = self.speaker.loop.call_later(stall, self._stalled, conn)
        log.info(
            "peer is slow: out of the shared stream", peer=self.key, buffered=conn.write_buffer_size
        )

    def on_resume_writing(self, conn: Connection) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        if conn is not self.established or self.group_key is None:
            return
        g = self.speaker.outbound.groups.get(self.group_key)
        if g is not None:
            g.resume(self)
        log.info("peer caught up: resynchronised", peer=self.key)

    def _stalled(self, conn: Connection) -> None:
        self._stall_timer = None
        if conn is self.established and conn.write_buffer_size > 0:
            # It has not read what we sent for a whole hold time: its own hold timer must
            # have expired by now. Nothing more can be written to it, not even a NOTIFICATION.
            log.warning(
                "peer stopped reading: dropping the connection",
                peer=self.key,
                buffered=conn.write_buffer_size,
            )
            conn.abort()

    def on_connection_lost(self, conn: Connection) -> None:
        if conn in self.connections:
            self.connections.remove(conn)
        if not self.connections and self.dialer is None and not self.stopped:
            self._schedule_redial()

    def _note_state(self, ev: StateChanged, conn: Connection | None = None) -> None:
        # The peer's state is its most advanced session's state.
        new = State.IDLE
        for c in self.connections:
            s = c.session
            if not s.closing and s.state > new:
                new = s.state
        if self.dialer is not None and self.dialer.state > new:
            new = self.dialer.state
        if new == State.IDLE and self.config.passive and not self.stopped:
            new = State.ACTIVE
        if new != self.state:
            self.state = new
            self.since = time.time()
        if logmod.enabled(logmod.DEBUG):
            log.debug(
                "session state", peer=self.key, old=ev.old.name, new=ev.new.name, reason=ev.reason
            )

    def _check_collision(self, conn: Connection, ev: OpenReceived) -> None:
        """RFC 4271 §6.8 connection collision detection."""
        now = self.speaker.loop.time()
        local_id = int(self.speaker.config.bgp.router_id)
        for other in list(self.connections):
            if other is conn or other.session.closing:
                continue
            st = other.session.state
            if st == State.ESTABLISHED:
                gr = ev.open.capabilities.graceful_restart
                if (
                    not conn.outgoing
                    and gr is not None
                    and self.negotiated is not None
                    and self.negotiated.peer_gr is not None
                ):
                    # RFC 4724 §4.2: a new OPEN while the old session is up means the peer
                    # restarted; the old session ends as if its TCP connection had failed.
                    log.info("peer restarted (new OPEN while established)", peer=self.key)
                    other.session.connection_lost(now, "peer restarted (RFC 4724 §4.2)")
                    other.pump()
                    other.abort()
                    continue
                # §6.8: a collision with an Established session closes the new connection.
                # (An OPEN on a connection *we* made is the peer answering our dial, never a
                # sign that it restarted: only a connection it initiates is, RFC 4724 §4.2.)
                conn.session.stop(now, CeaseSub.CONNECTION_COLLISION_RESOLUTION)
                return
            if st in (State.OPENSENT, State.OPENCONFIRM) and other.outgoing == conn.outgoing:
                # Not a collision (§6.8 is about one connection each way): an older connection
                # in the same direction is superseded by the one whose OPEN just arrived (a
                # peer that reconnected, or a connection that never sent its OPEN).
                log.info("newer connection supersedes an older one", peer=self.key)
                other.session.stop(now, CeaseSub.CONNECTION_REJECTED)
                other.pump()
                continue
            if st == State.OPENCONFIRM:
                # §6.8 resolves between two connections whose OPENs both arrived. One still in
                # OpenSent is left alone (as BIRD does): it is resolved when its own OPEN
                # arrives, or closed by the peer. Deciding earlier races with a KEEPALIVE
                # already on its way, and the two sides can end up closing each other's
                # Established connection in turn.
                keep_outgoing = collision_keep_outgoing(local_id, ev.open.router_id)
                loser = other if other.outgoing != keep_outgoing else conn
                log.info(
                    "connection collision",
                    peer=self.key,
                    closing="outgoing" if loser.outgoing else "incoming",
                )
                loser.session.stop(now, CeaseSub.CONNECTION_COLLISION_RESOLUTION)
                if loser is not conn:
                    loser.pump()
                if loser is conn:
                    return

    def _on_established(self, conn: Connection, neg: Negotiated) -> None:
        self.established = conn
        self.negotiated = neg
        self.backoff = BACKOFF_START
        self.source.router_id = neg.peer_id
        self.eor_received = set()
        self.eor_at = {}
        self.established_at = time.time()
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
        peer_gr = neg.peer_gr
        if self.source.stale and (peer_gr is None or not peer_gr.restarting):
            # RFC 4724 §4.2: the peer came back without the Restart State bit (BIRD after a
            # plain reconnect sends R=0, F=0): what we kept for it is not coming back.
            self._sweep_all_stale("peer returned without Restart State")
        elif self.source.stale and peer_gr is not None:
            for fam in list(self.source.stale):
                if not peer_gr.forwarding_preserved(fam):
                    # RFC 4724 §4.2: forwarding state not preserved for this family.
                    self._sweep_stale(fam)
        self.speaker.sessions_changed()
        rec = self.speaker.recovery
        if rec is not None and rec.active:
            rec.defer(self)  # RFC 4724 §4.1: nothing is sent until recovery ends
        else:
            self.advertise()

    def advertise(self) -> None:
        """Join the update group: the peer gets the whole table, End-of-RIB, then changes."""
        conn, neg = self.established, self.negotiated
        if conn is None or neg is None or self.group is not None:
            return
        self.group_key = self.speaker.group_key(self, neg, conn)
        self.group = self.speaker.outbound.join(self.group_key, self)

    def _on_update(self, conn: Connection, ev: UpdateReceived) -> None:
        upd = ev.update
        neg = self.negotiated
        if neg is None or conn is not self.established:
            return
        self.updates_in += 1
        if upd.error:
            self.treat_as_withdraw += 1
            log.warning(
                "malformed UPDATE treated as withdraw (RFC 7606)", peer=self.key, reason=upd.error
            )
        for note in upd.notes:
            log.info("UPDATE note", peer=self.key, note=note)
        if upd.end_of_rib is not None:
            self.eor_received.add(upd.end_of_rib)
            self.eor_at.setdefault(upd.end_of_rib, time.time())
            log.debug("End-of-RIB", peer=self.key, family=family_name(upd.end_of_rib))
            self._sweep_stale(upd.end_of_rib)
            rec = self.speaker.recovery
            if rec is not None and rec.active:
                rec.end_of_rib(self, upd.end_of_rib, neg.families)
            return
        attrs = upd.attrs
        if attrs is not None and self.source.ibgp:
            g = self.speaker.config.bgp
            loop_reason = is_looped(attrs, int(g.router_id), int(g.cluster_id))
            if loop_reason:
                # RFC 4456 §8: a reflected route came back to us: drop (= withdraw) it.
                upd.withdrawn.extend((fam, pfx) for fam, _nh, pfx in upd.announced)
                upd.announced = []
                upd.attrs = None
        changes = self.speaker.rib.apply_update(self.source, upd, neg.add_path_rx)
        if self.config.max_prefixes and upd.announced:
            self._check_max_prefixes(conn, upd)
        if changes:
            self.speaker.outbound.changes(changes)

    def _check_max_prefixes(self, conn: Connection, upd: Update) -> None:
        limit = self.config.max_prefixes
        for fam, _nh, _p in upd.announced:
            count = len(self.source.adj_in.get(fam, ()))
            if count <= limit:
                continue
            if self.config.max_prefixes_action != "cease":
                if not self._max_warned:
                    self._max_warned = True
                    log.warning(
                        "maximum prefixes exceeded",
                        peer=self.key,
                        family=family_name(fam),
                        count=count,
                        limit=limit,
                    )
                continue
            log.warning(
                "maximum prefixes exceeded: closing the session (RFC 4486)",
                peer=self.key,
                family=family_name(fam),
                count=count,
                limit=limit,
            )
            # RFC 4486 §4: data = AFI (2 octets), SAFI (1 octet), the upper bound (4 octets).
            data = struct.pack("!HBI", fam[0], fam[1], limit)
            conn.session.stop(
                self.speaker.loop.time(), CeaseSub.MAXIMUM_PREFIXES_REACHED, data=data
            )
            conn.pump()
            return

    def _on_refresh(self, conn: Connection, ev: RefreshReceived) -> None:
        """RFC 2918 §4: re-send the Adj-RIB-Out of that family (RFC 7313: inside BoRR/EoRR)."""
        rr = ev.refresh
        fam = (rr.afi, rr.safi)
        if rr.subtype == RefreshSubtype.BORR:
            # RFC 7313 §4: the peer re-sends its whole table; what it does not re-send by EoRR
            # is gone. Its routes stay in use (stale) meanwhile.
            self.speaker.rib.mark_stale(self.source, (fam,))
            return
        if rr.subtype == RefreshSubtype.EORR:
            self._sweep_stale(fam)
            return
        g = self.group
        neg = self.negotiated
        if g is None or neg is None:
            return
        g.flush()
        if self.key in g.paused:
            # Not reading what we already sent: queueing the family's table again would grow
            # our memory with every request. Its resync on resume re-sends the whole family.
            table = g.adj_out.get(fam, {})
            dirty = g.dirty.setdefault(self.key, {}).setdefault(fam, set())
            dirty.update(p for p, path in table.items() if path.source is not self.source)
            return
        msgs = g.family_table(self, fam)
        if neg.enhanced_route_refresh:
            msgs = [
                RouteRefresh(rr.afi, rr.safi, RefreshSubtype.BORR).encode(),
                *msgs,
                RouteRefresh(rr.afi, rr.safi, RefreshSubtype.EORR).encode(),
            ]
        else:
            msgs.append(end_of_rib(fam))
        self.write_messages(msgs)

    def _on_down(self, conn: Connection, ev: SessionDown) -> None:
        lvl = log.warning if ev.was_established and not self.stopped else log.info
        lvl("session down", peer=self.key, reason=ev.reason, was_established=ev.was_established)
        if (ev.notification is not None and (ev.sent_by_us or not ev.was_established)) or ev.reason:
            self.last_error = ev.reason
        if conn is not self.established:
            return
        self.established = None
        self.established_at = None
        self.flaps += 1
        self.speaker.sessions_changed()
        if self.speaker.recovery is not None:
            self.speaker.recovery.peer_down(self)
        if self.group_key is not None:
            self.speaker.outbound.leave(self.group_key, self)
        self.group = None
        self.group_key = None
        neg = self.negotiated
        peer_gr = neg.peer_gr if neg is not None else None
        if ev.graceful and peer_gr is not None and peer_gr.restart_time > 0 and not self.stopped:
            # RFC 4724 §4.2: helper mode: keep the routes, stale, until the peer returns with
            # End-of-RIB or its restart time runs out.
            n = self.speaker.rib.mark_stale(self.source)
            self._stale_add_path = neg.add_path_rx if neg is not None else frozenset()
            for fam in list(self.source.stale):
                if not peer_gr.covers(fam):
                    self._sweep_stale(fam)
            log.info(
                "graceful restart: keeping routes as stale",
                peer=self.key,
                routes=n,
                restart_time=peer_gr.restart_time,
            )
            if self._gr_timer is not None:
                self._gr_timer.cancel()
            self._gr_timer = self.speaker.loop.call_later(
                peer_gr.restart_time, self._sweep_all_stale, "restart time expired"
            )
        else:
            changes = self.speaker.rib.drop_source(
                self.source, neg.add_path_rx if neg else frozenset()
            )
            self.speaker.outbound.changes(changes)
        self.negotiated = None

    # -- outbound (update group member) -------------------------------------------------------

    def write_messages(self, messages: Sequence[bytes | memoryview]) -> None:
        conn = self.established
        if conn is not None and messages:
            conn.write_messages(messages)

    @property
    def role(self) -> Role:
        return role_of(self.source)

    def prefixes_received(self) -> int:
        return self.source.route_count()

    def prefixes_sent(self) -> int:
        g = self.group
        if g is None:
            return 0
        # The group's Adj-RIB-Out minus this peer's own routes (never sent back to it). Counted
        # from the peer's own routes, not by walking the whole table: status and metrics must
        # not cost peers x routes.
        src = self.source
        total = sum(len(t) for t in g.adj_out.values())
        own = 0
        for family, table in g.adj_out.items():
            for mine in (src.adj_in.get(family), src.stale.get(family)):
                if mine:
                    own += sum(
                        1 for key in mine if (p := table.get(key)) is not None and p.source is src
                    )
        return total - own


# BACKOFF_* live with the dialing (pyrr.peer_dial) and stay importable from here.
__all__ = ["BACKOFF_MAX", "BACKOFF_START", "MAX_PENDING_INBOUND", "STALL_LIMIT", "Peer"]
