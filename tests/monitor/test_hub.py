"""The monitoring hub on the sans-IO speaker (tests/session/harness.py): what BMP stations are
sent (RFC 7854, RFC 9069) and what the update log gets (RFC 6396 BGP4MP), read back with the
tests' own BMP reader and pyrr's UPDATE decoder. No sockets, no sleeping."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, ip_address

from pyrr.bgp.constants import HEADER_LEN, MARKER, CeaseSub, ErrCode, MsgType, State
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, prefix_to_str
from pyrr.config import BmpStation
from pyrr.monitor import bmp
from pyrr.monitor.bmp import BmpMsgType, PeerDownReason, PeerFlag, PeerType, StatType
from pyrr.monitor.hub import Hub
from pyrr.monitor.mrt import Bgp4mp, MrtType
from pyrr.monitor.tables import change_updates

from ..rib.factories import LOCAL_AS, attrs, update
from ..session.harness import RR_ID, World, caps, encode
from .wire import Message, split

WALL = 1_800_000_000.25


class MemoryStation:
    """A connected station that keeps what it is sent."""

    def __init__(self, **kw: object) -> None:
        self.config = BmpStation(address=ip_address("198.18.0.50"), **kw)  # type: ignore[arg-type]
        self.data = bytearray()

    def send(self, data: bytes) -> None:
        self.data += data

    def take(self) -> list[Message]:
        msgs = split(bytes(self.data))
        self.data.clear()
        return msgs


class MemoryLog:
    def __init__(self) -> None:
        self.records: list[bytes] = []

    def write(self, record: bytes) -> None:
        self.records.append(record)


def world_with_hub() -> tuple[World, Hub]:
    w = World()
    hub = Hub(w.speaker, lambda: WALL, "rr1.example")
    return w, hub


def test_a_station_that_connects_mid_life_gets_initiation_then_every_table() -> None:
    w, hub = world_with_hub()
    a, b = w.peer("10.0.0.1"), w.peer("10.0.0.2")
    ra, rb = w.up(a), w.up(b)
    w.send(ra, update(["10.10.1.0/26", "2001:db8:1::/64"], next_hop="10.0.0.1"))
    w.send(rb, update(["10.10.2.0/26", "10.10.1.0/26"], attrs(local_pref=50)))
    st = MemoryStation()
    hub.station_up(st)
    msgs = st.take()

    # RFC 7854 §4.3: Initiation first, with sysDescr and sysName.
    init = msgs.pop(0)
    assert init.kind == BmpMsgType.INITIATION
    tlvs = init.tlvs()
    assert tlvs[bmp.InitTlv.SYS_NAME] == b"rr1.example"
    assert tlvs[bmp.InitTlv.SYS_DESCR].startswith(b"pyrr ")

    # RFC 7854 §5: each peer that is up: Peer Up, its Adj-RIB-In, End-of-RIB per family.
    seen: dict[str, set[str]] = {}
    for peer in ("10.0.0.1", "10.0.0.2"):
        up = msgs.pop(0)
        assert up.kind == BmpMsgType.PEER_UP and up.peer_type == PeerType.GLOBAL_INSTANCE
        assert str(up.address) == peer and up.asn == LOCAL_AS
        assert up.bgp_id == int(IPv4Address(peer)) and up.when == WALL
        # §4.10: local address, ports, then the OPEN we sent and the OPEN we received.
        sent = up.body[20:]
        assert sent[:16] == MARKER and sent[18] == MsgType.OPEN
        (sent_len,) = struct.unpack_from("!H", sent, 16)
        received = sent[sent_len:]
        assert received[:16] == MARKER and received[18] == MsgType.OPEN
        link = w.speaker.peers[peer].established
        assert link is not None
        assert received[HEADER_LEN:] == link.session.received_open
        routes: set[str] = set()
        peer_eors = 0
        while msgs[0].kind == BmpMsgType.ROUTE_MONITORING and not msgs[0].loc_rib:
            m = msgs.pop(0)
            assert str(m.address) == peer and not m.flags & PeerFlag.POST_POLICY
            u = m.update()
            peer_eors += u.end_of_rib is not None
            routes |= m.routes()[0]
        assert peer_eors == 2  # IPv4 and IPv6 unicast
        seen[peer] = routes
    assert seen == {
        "10.0.0.1": {"10.10.1.0/26", "2001:db8:1::/64"},
        "10.0.0.2": {"10.10.2.0/26", "10.10.1.0/26"},
    }

    # RFC 9069 §5.2: the Loc-RIB instance: no address, our AS and id, "global", a fabricated
    # OPEN sent and "received"; then its best paths (§5.4) and End-of-RIB.
    up = msgs.pop(0)
    assert up.kind == BmpMsgType.PEER_UP and up.loc_rib
    assert (
        up.address == IPv4Address(0) and up.asn == LOCAL_AS and up.bgp_id == int(IPv4Address(RR_ID))
    )
    assert up.body[:20] == bytes(20)
    (open_len,) = struct.unpack_from("!H", up.body, 20 + 16)
    assert up.body[20 : 20 + open_len] == up.body[20 + open_len : 20 + 2 * open_len]
    assert up.tlvs(20 + 2 * open_len) == {bmp.PeerUpTlv.VRF_TABLE_NAME: b"global"}
    best: dict[str, str] = {}
    eors: list[tuple[int, int]] = []
    for m in msgs:
        assert m.kind == BmpMsgType.ROUTE_MONITORING and m.loc_rib
        u = m.update()
        if u.end_of_rib is not None:
            eors.append(u.end_of_rib)
        for fam, hop, prefixes in u.announced:
            for p in prefixes:
                best[prefix_to_str(p, fam)] = hop.hex()
    assert set(best) == {"10.10.1.0/26", "10.10.2.0/26", "2001:db8:1::/64"}
    # 10.10.1.0/26: the higher LOCAL_PREF (100, from 10.0.0.1) wins.
    assert best["10.10.1.0/26"] == IPv4Address("10.0.0.1").packed.hex()
    assert eors == [IPV4_UNICAST, IPV6_UNICAST]
    assert msgs[-1].update().end_of_rib == IPV6_UNICAST


def test_the_live_stream_forwards_updates_as_received_and_best_path_changes() -> None:
    w, hub = world_with_hub()
    a, b = w.peer("10.0.0.1"), w.peer("10.0.0.2")
    ra = w.up(a)
    st = MemoryStation()
    hub.station_up(st)
    w.speaker.attach_monitor(hub)
    st.take()

    rb = w.up(b)  # RFC 7854 §4.10: Peer Up when the session comes up
    [up] = st.take()
    assert up.kind == BmpMsgType.PEER_UP and str(up.address) == "10.0.0.2"

    upd = update(["10.10.1.0/26"], next_hop="10.0.0.1")
    w.send(ra, upd)
    adj, loc = st.take()
    # §4.6: the UPDATE exactly as the peer sent it, under its per-peer header.
    assert adj.kind == BmpMsgType.ROUTE_MONITORING and str(adj.address) == "10.0.0.1"
    assert adj.body == encode(upd)[0]
    # RFC 9069 §5.4: the best-path change, under the Loc-RIB instance.
    assert loc.loc_rib and loc.routes() == ({"10.10.1.0/26"}, set())

    # A worse path from another peer changes no best path: nothing for the Loc-RIB.
    w.send(rb, update(["10.10.1.0/26"], attrs(local_pref=50)))
    [adj] = st.take()
    assert str(adj.address) == "10.0.0.2"

    # The best path is withdrawn: the other one becomes best.
    w.send(ra, update(withdraw=["10.10.1.0/26"]))
    adj, loc = st.take()
    assert adj.routes() == (set(), {"10.10.1.0/26"})
    assert loc.routes() == ({"10.10.1.0/26"}, set())
    assert loc.update().announced[0][1] == IPv4Address("192.0.2.1").packed

    # RFC 7854 §4.9: the peer ends the session with a NOTIFICATION: reason 3 and the PDU;
    # then its routes leave the Loc-RIB.
    w.cease(rb)
    down, loc = st.take()
    assert down.kind == BmpMsgType.PEER_DOWN and str(down.address) == "10.0.0.2"
    assert down.body[0] == PeerDownReason.REMOTE_NOTIFICATION
    notification = down.body[1:]
    assert notification[18] == MsgType.NOTIFICATION
    assert notification[19:21] == bytes((ErrCode.CEASE, CeaseSub.ADMINISTRATIVE_SHUTDOWN))
    assert loc.routes() == (set(), {"10.10.1.0/26"})

    # We end a session (de-configured): reason 1 with our NOTIFICATION.
    w.speaker.reconfigure(w.speaker.config.__class__(bgp=w.speaker.config.bgp), w.now)
    w.pump()
    [down] = st.take()
    assert down.body[0] == PeerDownReason.LOCAL_NOTIFICATION
    assert down.body[1 + 19 : 1 + 21] == bytes((ErrCode.CEASE, CeaseSub.PEER_DECONFIGURED))


def test_a_lost_connection_is_a_peer_down_without_notification() -> None:
    w, hub = world_with_hub()
    ra = w.up(w.peer("10.0.0.1"))
    st = MemoryStation()
    hub.station_up(st)
    w.speaker.attach_monitor(hub)
    st.take()
    w.drop(ra)
    [down] = st.take()
    assert down.body == bytes((PeerDownReason.REMOTE_NO_NOTIFICATION,))


def test_stations_get_only_what_they_asked_for() -> None:
    w, hub = world_with_hub()
    ra = w.up(w.peer("10.0.0.1"))
    adj_only, loc_only = MemoryStation(loc_rib=False), MemoryStation(adj_rib_in=False)
    hub.station_up(adj_only)
    hub.station_up(loc_only)
    w.speaker.attach_monitor(hub)
    adj_dump, loc_dump = adj_only.take(), loc_only.take()
    assert adj_dump and not any(m.loc_rib for m in adj_dump)
    assert loc_dump[0].kind == BmpMsgType.INITIATION
    assert loc_dump[1:] and all(m.loc_rib for m in loc_dump[1:])
    w.send(ra, update(["10.10.1.0/26"]))
    assert [m.loc_rib for m in adj_only.take()] == [False]
    assert [m.loc_rib for m in loc_only.take()] == [True]
    hub.station_down(adj_only)
    hub.station_down(loc_only)
    assert not hub.active


def test_statistics_reports_use_the_registry_types() -> None:
    w, hub = world_with_hub()
    ra = w.up(w.peer("10.0.0.1"))
    w.send(ra, update(["10.10.1.0/26", "10.10.2.0/26", "2001:db8:1::/64"]))
    st = MemoryStation()
    hub.station_up(st)
    st.take()
    hub.statistics(st)
    peer, loc = st.take()
    assert peer.kind == loc.kind == BmpMsgType.STATISTICS_REPORT
    assert str(peer.address) == "10.0.0.1" and loc.loc_rib

    def stats(m: Message) -> list[tuple[int, bytes]]:
        (count,) = struct.unpack_from("!I", m.body)
        out, pos = [], 4
        for _ in range(count):
            kind, n = struct.unpack_from("!HH", m.body, pos)
            out.append((kind, m.body[pos + 4 : pos + 4 + n]))
            pos += 4 + n
        assert pos == len(m.body)
        return out

    # RFC 7854 §4.8: type 7 (Adj-RIB-In routes) and 9 (per AFI/SAFI) are 64-bit gauges, type
    # 11 (updates treated as withdraw, RFC 7606) a 32-bit counter.
    assert stats(peer) == [
        (StatType.UPDATES_TREATED_AS_WITHDRAW, struct.pack("!I", 0)),
        (StatType.ADJ_RIB_IN_ROUTES, struct.pack("!Q", 3)),
        (StatType.ADJ_RIB_IN_ROUTES_AFI_SAFI, struct.pack("!HBQ", 1, 1, 2)),
        (StatType.ADJ_RIB_IN_ROUTES_AFI_SAFI, struct.pack("!HBQ", 2, 1, 1)),
    ]
    assert stats(loc) == [
        (StatType.LOC_RIB_ROUTES, struct.pack("!Q", 3)),
        (StatType.LOC_RIB_ROUTES_AFI_SAFI, struct.pack("!HBQ", 1, 1, 2)),
        (StatType.LOC_RIB_ROUTES_AFI_SAFI, struct.pack("!HBQ", 2, 1, 1)),
    ]


def test_a_session_without_four_octet_as_is_flagged_and_its_table_is_converted() -> None:
    w, hub = world_with_hub()
    n = w.peer("10.0.0.1")
    two_octet = caps()
    two_octet = two_octet.__class__(
        families=two_octet.families, route_refresh=True, four_octet_as=None
    )
    r = w.up(n, capabilities=two_octet)
    assert n.negotiated is not None and not n.negotiated.four_octet_as
    st = MemoryStation()
    hub.station_up(st)
    w.speaker.attach_monitor(hub)
    dump = [m for m in st.take() if m.kind == BmpMsgType.ROUTE_MONITORING and not m.loc_rib]
    assert dump and all(not m.flags & PeerFlag.AS2 for m in dump)  # pyrr's tables: 4-octet ASes
    r.session.send_message(bytes.fromhex("ff" * 16) + struct.pack("!HBHH", 23, 2, 0, 0))
    w.pump()
    [live] = st.take()
    assert live.flags & PeerFlag.AS2  # §4.2 A: as received, 2-octet AS_PATH


def test_the_update_log_gets_bgp4mp_records() -> None:
    w, hub = world_with_hub()
    log = MemoryLog()
    hub.update_log = log
    w.speaker.attach_monitor(hub)
    n = w.peer("10.0.0.1")
    r = w.up(n)
    upd = update(["10.10.1.0/26"])
    w.send(r, upd)

    def parsed(rec: bytes) -> tuple[int, int, int, bytes]:
        when, kind, subtype, length = struct.unpack_from("!IHHI", rec)
        assert length == len(rec) - 12
        return when, kind, subtype, rec[12:]

    records = [parsed(rec) for rec in log.records]
    states = [
        struct.unpack_from("!HH", body, len(body) - 4)
        for _w, _k, sub, body in records
        if sub == Bgp4mp.STATE_CHANGE_AS4
    ]
    assert states == [
        (State.IDLE, State.OPENSENT),
        (State.OPENSENT, State.OPENCONFIRM),
        (State.OPENCONFIRM, State.ESTABLISHED),
    ]
    [(when, kind, _subtype, body)] = [r for r in records if r[2] == Bgp4mp.MESSAGE_AS4]
    assert when == int(WALL) and kind == MrtType.BGP4MP
    peer_as, local_as, ifindex, afi = struct.unpack_from("!IIHH", body)
    assert (peer_as, local_as, ifindex, afi) == (LOCAL_AS, LOCAL_AS, 0, 1)
    assert body[12:16] == IPv4Address("10.0.0.1").packed
    assert body[16:20] == IPv4Address(RR_ID).packed  # the sink's local address
    assert body[20:] == encode(upd)[0]


def test_a_change_of_candidates_alone_is_no_loc_rib_update() -> None:
    w, _hub = world_with_hub()
    ra = w.up(w.peer("10.0.0.1"))
    w.send(ra, update(["10.10.1.0/26"]))
    entry = w.speaker.rib.lookup(IPV4_UNICAST, bytes((26, 10, 10, 1, 0)))
    assert entry is not None and entry.best is not None
    assert change_updates([(IPV4_UNICAST, bytes((26, 10, 10, 1, 0)), entry.best, entry.best)]) == []


def test_nothing_is_attached_unless_monitoring_listens() -> None:
    w, hub = world_with_hub()
    n = w.peer("10.0.0.1")
    assert w.speaker.monitor is None and n.routes.monitor is None
    assert not hub.active
    w.speaker.attach_monitor(hub)
    assert n.routes.monitor is hub
    w.speaker.attach_monitor(None)
    assert n.routes.monitor is None


def test_a_session_that_changed_while_nobody_listened_gets_fresh_headers() -> None:
    w, hub = world_with_hub()
    n = w.peer("10.0.0.1")
    r = w.up(n, router_id="10.9.9.1")
    st = MemoryStation()
    hub.station_up(st)
    w.speaker.attach_monitor(hub)
    hub.station_down(st)
    w.speaker.attach_monitor(None)  # what transport.monitoring does when the last one goes
    w.drop(r)
    w.up(n, router_id="10.9.9.2")  # the peer came back with another BGP identifier
    st2 = MemoryStation()
    hub.station_up(st2)
    w.speaker.attach_monitor(hub)
    ups = [m for m in st2.take() if m.kind == BmpMsgType.PEER_UP and not m.loc_rib]
    assert [m.bgp_id for m in ups] == [int(IPv4Address("10.9.9.2"))]
    w.send(w.remotes[-1], update(["10.10.1.0/26"]))
    adj = next(m for m in st2.take() if not m.loc_rib)
    assert adj.bgp_id == int(IPv4Address("10.9.9.2"))


class DroppingStation(MemoryStation):
    """A station whose first live message overflows its queue: the transport drops it from
    inside `send` (pyrr.transport.bmp_station.StationClient.overflow)."""

    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self.hub = hub
        self.synchronised = False

    def send(self, data: bytes) -> None:
        if self.synchronised:
            self.hub.station_down(self)
            return
        self.synchronised = True
        super().send(data)


def test_a_station_dropped_mid_send_does_not_make_the_next_one_miss_the_message() -> None:
    w, hub = world_with_hub()
    ra = w.up(w.peer("10.0.0.1"))
    slow = DroppingStation(hub)
    hub.station_up(slow)
    st = MemoryStation()
    hub.station_up(st)
    w.speaker.attach_monitor(hub)
    st.take()
    w.send(ra, update(["10.10.1.0/26"]))
    # The slow station went while the UPDATE and the best-path change were being sent: the
    # other station still gets both.
    adj, loc = st.take()
    assert not adj.loc_rib and loc.loc_rib
    assert hub.adj_stations == [st] and hub.loc_stations == [st]
