"""The speaker's `Monitor` (pyrr.session.ports), sans-IO: what happens becomes BMP messages for
the connected stations and BGP4MP records for the update log, each encoded once whatever the
number of stations.

The asyncio side (pyrr.transport.bmp_station, pyrr.transport.mrt_files) owns the connections
and the files; it tells the hub when a station is connected (`station_up`, which sends the
station the Initiation and the tables, RFC 7854 §5), when it is gone (`station_down`), when its
statistics are due (`statistics`), and hands it the update log (`update_log`). Time comes from
`clock`, a function giving Unix time: BMP and MRT timestamps are wall-clock times, which the
sans-IO core, on the loop's monotonic clock, never has.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Protocol

from .. import __version__
from ..bgp.capabilities import Capabilities
from ..bgp.constants import MsgType, State
from ..bgp.events import SessionDown
from ..bgp.messages import Open, frame
from ..config import BmpStation
from ..rib.loc_rib import Change
from ..session.link import Link
from ..session.ports import MonitoredPeer
from ..speaker import Speaker
from . import bmp, mrt
from .tables import FAMILIES, adj_rib_in_updates, change_updates, loc_rib_updates

IPAddress = IPv4Address | IPv6Address
# A connection's (our address, our port, the peer's port), as the transport knows them.
Endpoints = tuple[IPAddress | None, int, int]


class Station(Protocol):
    """A connected BMP station (pyrr.transport.bmp_station.StationConnection)."""

    @property
    def config(self) -> BmpStation: ...

    def send(self, data: bytes) -> None:
        """Queue one or more whole BMP messages; never blocks (a station that falls too far
        behind is dropped by the transport, and resynchronised when it reconnects)."""


class UpdateLog(Protocol):
    """Where BGP4MP records go (pyrr.transport.mrt_files.UpdateFiles)."""

    def write(self, record: bytes) -> None: ...


def no_endpoints(link: Link) -> Endpoints:
    """Endpoints when the transport cannot say (memory sinks in tests): our address only."""
    local = link.sink.local_address()
    return (ip_address(local) if local else None), 0, 0


def down_reason(event: SessionDown) -> tuple[bmp.PeerDownReason, bytes]:
    """RFC 7854 §4.9: who closed the session, with the NOTIFICATION when there was one."""
    n = event.notification
    if n is not None:
        reason = (
            bmp.PeerDownReason.LOCAL_NOTIFICATION
            if event.sent_by_us
            else bmp.PeerDownReason.REMOTE_NOTIFICATION
        )
        return reason, n.encode()
    # A session ends without a NOTIFICATION only when the connection is lost (or the peer
    # restarts, RFC 4724 §4.2): the remote side closed, as far as we can tell.
    return bmp.PeerDownReason.REMOTE_NO_NOTIFICATION, b""


class Hub:
    def __init__(
        self,
        speaker: Speaker,
        clock: Callable[[], float],
        sys_name: str,
        endpoints: Callable[[Link], Endpoints] = no_endpoints,
    ) -> None:
        self.speaker = speaker
        self.clock = clock
        self.sys_name = sys_name
        self.endpoints = endpoints
        self.update_log: UpdateLog | None = None
        # Connected stations that get each peer's messages, and those that get the Loc-RIB's.
        self.adj_stations: list[Station] = []
        self.loc_stations: list[Station] = []
        self._heads: dict[str, bmp.PeerHeader] = {}  # per-peer headers of the sessions up
        self._mrt_heads: dict[str, tuple[bytes, bytes, bool]] = {}  # BGP4MP fields per peer

    @property
    def active(self) -> bool:
        """Whether anything listens (the speaker need not call a hub that would do nothing)."""
        return bool(self.adj_stations or self.loc_stations or self.update_log is not None)

    # -- stations ----------------------------------------------------------------------------

    def station_up(self, station: Station) -> None:
        """A new connection: Initiation, then each peer that is up (Peer Up, its Adj-RIB-In,
        End-of-RIB; RFC 7854 §5) and the Loc-RIB instance (RFC 9069 §5.2, §5.4), then the
        live stream. The whole synchronisation is one write."""
        if not self.active:
            # Detached until now, the hub saw no session come or go: what it kept of them
            # (per-peer headers, BGP4MP fields) may be of sessions that have ended since.
            self._heads.clear()
            self._mrt_heads.clear()
        msgs = [bmp.initiation(self.sys_descr(), self.sys_name)]
        now = self.clock()
        cfg = station.config
        if cfg.adj_rib_in:
            for n in self.speaker.peers.values():
                link, neg = n.established, n.negotiated
                if link is None or neg is None:
                    continue
                head = self._peer_header(n)
                msgs.append(self._peer_up(n, link, head, now))
                # The table goes out as pyrr keeps it: AS numbers in 4 octets (RFC 7854 §4.2
                # allows either form, per message), whatever the session uses.
                table_head = head.with_flags(head.fixed[1] & ~bmp.PeerFlag.AS2).at(now)
                for update in adj_rib_in_updates(
                    self.speaker.rib, n.source, neg.families, neg.add_path_rx, neg.extended_message
                ):
                    msgs.append(bmp.route_monitoring(table_head, update))
            self.adj_stations.append(station)
        if cfg.loc_rib:
            msgs.append(self._loc_rib_up(now))
            loc_head = self._loc_rib_header().at(now)
            for update in loc_rib_updates(self.speaker.rib):
                msgs.append(bmp.route_monitoring(loc_head, update))
            self.loc_stations.append(station)
        station.send(b"".join(msgs))

    def station_down(self, station: Station) -> None:
        # New lists, not removal in place: a station is dropped from inside its own `send`
        # (its queue overflowed) while a loop below walks these lists, and a removal in place
        # would make that loop skip the station after it.
        if station in self.adj_stations:
            self.adj_stations = [s for s in self.adj_stations if s is not station]
        if station in self.loc_stations:
            self.loc_stations = [s for s in self.loc_stations if s is not station]

    def terminate(self, station: Station, reason: bmp.TermReason, note: str = "") -> None:
        """RFC 7854 §4.5: the last message to a station we close on purpose."""
        self.station_down(station)
        station.send(bmp.termination(reason, note))

    def statistics(self, station: Station) -> None:
        """RFC 7854 §4.8: one Statistics Report per peer that is up, and one for the Loc-RIB."""
        now = self.clock()
        msgs = []
        if station in self.adj_stations:
            for n in self.speaker.peers.values():
                if n.established is None:
                    continue
                src = n.source
                stats = [
                    bmp.counter32(bmp.StatType.UPDATES_TREATED_AS_WITHDRAW, n.treat_as_withdraw),
                    bmp.gauge64(bmp.StatType.ADJ_RIB_IN_ROUTES, src.route_count()),
                ]
                for afi, safi in sorted(src.counts):
                    count = src.counts[afi, safi]
                    kind = bmp.StatType.ADJ_RIB_IN_ROUTES_AFI_SAFI
                    stats.append(bmp.afi_safi_gauge64(kind, afi, safi, count))
                msgs.append(bmp.statistics_report(self._peer_header(n).at(now), stats))
        if station in self.loc_stations:
            rib = self.speaker.rib
            stats = [bmp.gauge64(bmp.StatType.LOC_RIB_ROUTES, len(rib))]
            for afi, safi in FAMILIES:
                count = len(rib.tables.get((afi, safi), ()))
                kind = bmp.StatType.LOC_RIB_ROUTES_AFI_SAFI
                stats.append(bmp.afi_safi_gauge64(kind, afi, safi, count))
            msgs.append(bmp.statistics_report(self._loc_rib_header().at(now), stats))
        if msgs:
            station.send(b"".join(msgs))

    def sys_descr(self) -> str:
        g = self.speaker.config.bgp
        return f"pyrr {__version__}, BGP route reflector, AS {g.asn}, router id {g.router_id}"

    # -- Monitor (pyrr.session.ports) --------------------------------------------------------

    def peer_up(self, peer: MonitoredPeer, link: Link) -> None:
        head = self._heads[peer.key] = self._new_header(peer)
        if self.adj_stations:
            msg = self._peer_up(peer, link, head, self.clock())
            for st in self.adj_stations:
                st.send(msg)

    def peer_down(self, peer: MonitoredPeer, link: Link, event: SessionDown) -> None:
        head = self._heads.pop(peer.key, None) or self._new_header(peer)
        self._mrt_heads.pop(peer.key, None)
        if self.adj_stations:
            reason, data = down_reason(event)
            msg = bmp.peer_down(head.at(self.clock()), reason, data)
            for st in self.adj_stations:
                st.send(msg)

    def update_received(self, peer: MonitoredPeer, link: Link, body: bytes) -> None:
        stations = self.adj_stations
        if stations:
            msg = bmp.route_monitoring_body(self._peer_header(peer).at(self.clock()), body)
            for st in stations:
                st.send(msg)
        log = self.update_log
        if log is not None:
            head, _state_head, as4 = self._mrt_head(peer, link)
            log.write(mrt.update_message_record(int(self.clock()), head, body, as4))

    def state_changed(self, peer: MonitoredPeer, link: Link | None, old: State, new: State) -> None:
        log = self.update_log
        if log is not None and old != new:
            _head, state_head, _as4 = self._mrt_head(peer, link)
            log.write(mrt.state_change_record(int(self.clock()), state_head, old, new))

    def loc_rib_changes(self, changes: list[Change]) -> None:
        stations = self.loc_stations
        if not stations:
            return
        updates = change_updates(changes)
        if not updates:
            return
        head = self._loc_rib_header().at(self.clock())
        data = b"".join([bmp.route_monitoring(head, u) for u in updates])
        for st in stations:
            st.send(data)

    # -- headers -----------------------------------------------------------------------------

    def _new_header(self, peer: MonitoredPeer) -> bmp.PeerHeader:
        """RFC 7854 §4.2: a global-instance peer, pre-policy (L=0); A when the session has no
        4-octet AS numbers (its UPDATEs pass through as received)."""
        neg = peer.negotiated
        address = peer.config.address
        flags = bmp.PeerFlag.IPV6 if isinstance(address, IPv6Address) else bmp.PeerFlag.NONE
        if neg is not None and not neg.four_octet_as:
            flags |= bmp.PeerFlag.AS2
        asn = neg.peer_as if neg is not None else peer.config.asn
        bgp_id = neg.peer_id if neg is not None else peer.source.router_id
        return bmp.PeerHeader(bmp.PeerType.GLOBAL_INSTANCE, flags, address, asn, bgp_id)

    def _peer_header(self, peer: MonitoredPeer) -> bmp.PeerHeader:
        head = self._heads.get(peer.key)
        if head is None:
            head = self._heads[peer.key] = self._new_header(peer)
        return head

    def _peer_up(self, peer: MonitoredPeer, link: Link, head: bmp.PeerHeader, now: float) -> bytes:
        local, local_port, remote_port = self.endpoints(link)
        s = link.session
        received = frame(MsgType.OPEN, s.received_open)
        return bmp.peer_up(head.at(now), local, local_port, remote_port, s.sent_open, received)

    def _loc_rib_header(self) -> bmp.PeerHeader:
        """RFC 9069 §5.1: peer type 3, no address, our AS and router id; F=0 (every best path
        is monitored)."""
        g = self.speaker.config.bgp
        return bmp.PeerHeader(
            bmp.PeerType.LOC_RIB_INSTANCE, bmp.PeerFlag.NONE, None, g.asn, int(g.router_id)
        )

    def _loc_rib_up(self, now: float) -> bytes:
        """RFC 9069 §5.2: no addresses or ports; a fabricated OPEN (4-octet AS and what the
        Route Monitoring messages need: the families, extended messages) sent and "received";
        the VRF/Table Name TLV "global" (§5.2.1)."""
        g = self.speaker.config.bgp
        caps = Capabilities(families=FAMILIES, four_octet_as=g.asn, extended_message=True)
        fabricated = Open(asn=g.asn, hold_time=0, router_id=int(g.router_id), capabilities=caps)
        data = fabricated.encode()
        name = bmp.tlv(bmp.PeerUpTlv.VRF_TABLE_NAME, bmp.GLOBAL_TABLE_NAME.encode())
        return bmp.peer_up(self._loc_rib_header().at(now), None, 0, 0, data, data, name)

    def _mrt_head(self, peer: MonitoredPeer, link: Link | None) -> tuple[bytes, bytes, bool]:
        """The BGP4MP fields of the peer's session: for its UPDATEs (2-octet ASes without the
        4-octet AS capability) and for its state changes (always BGP4MP_STATE_CHANGE_AS4)."""
        heads = self._mrt_heads.get(peer.key) if link is not None else None
        if heads is not None:
            return heads
        neg = peer.negotiated
        cfg = peer.config
        local_as = self.speaker.local.local_as(cfg)
        local: IPAddress | None = cfg.local_address
        if link is not None:
            text = link.sink.local_address()
            local = ip_address(text.partition("%")[0]) if text else local
        as4 = neg.four_octet_as if neg is not None else True
        update_head = mrt.bgp4mp_head(cfg.asn, local_as, cfg.address, local, as4)
        state_head = mrt.bgp4mp_head(cfg.asn, local_as, cfg.address, local, True)
        heads = (update_head, state_head, as4)
        if link is not None and link is peer.established:
            self._mrt_heads[peer.key] = heads
        return heads
