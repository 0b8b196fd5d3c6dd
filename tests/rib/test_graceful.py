"""RFC 4724 graceful restart, helper side, driven through `Peer` on a fake clock.

The Speaker is built on `FakeLoop` and never started: no sockets, no real time. Peers are made
"established" through `Peer._on_established` with a `FakeConn` that records what it is sent.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace
from ipaddress import IPv4Address, ip_address
from typing import Any, cast

import pytest

from pyrr.bgp.capabilities import Capabilities, GracefulRestart, Negotiated, negotiate
from pyrr.bgp.constants import AddPathMode, GRFlags
from pyrr.bgp.events import SessionDown, UpdateReceived
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family
from pyrr.bgp.update import Update
from pyrr.config import Config, GlobalConfig, PeerConfig
from pyrr.peer import Peer
from pyrr.speaker import Speaker
from pyrr.transport.protocol import Connection

from .factories import (
    LOCAL_AS,
    attrs,
    decode_messages,
    pfx,
    split_messages,
    update,
    update_keys,
    with_path_id,
)

RR_ID = "10.255.0.1"
CLUSTER = "198.18.0.250"
FAMS: tuple[Family, ...] = (IPV4_UNICAST, IPV6_UNICAST)
BOTH_F = ((IPV4_UNICAST, True), (IPV6_UNICAST, True))


# -- a clock we control --------------------------------------------------------------------


class FakeHandle:
    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]):
        self._when = when
        self._callback = callback
        self._args = args
        self.cancelled = False
        self.ran = False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self.cancelled = True

    def run(self) -> None:
        self.ran = True
        self._callback(*self._args)


class FakeLoop:
    """time(), call_later(), call_at(), call_soon() and advance(): callbacks run in time order
    (then in the order they were scheduled), only when `advance` reaches them."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._queue: list[tuple[float, int, FakeHandle]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> FakeHandle:
        h = FakeHandle(when, callback, args)
        heapq.heappush(self._queue, (when, next(self._seq), h))
        return h

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> FakeHandle:
        return self.call_at(self.now + delay, callback, *args)

    def call_soon(self, callback: Callable[..., object], *args: Any) -> FakeHandle:
        return self.call_at(self.now, callback, *args)

    def advance(self, seconds: float = 0.0) -> None:
        """Move the clock forward, running every callback that falls due on the way."""
        target = self.now + seconds
        while self._queue and self._queue[0][0] <= target:
            when, _seq, h = heapq.heappop(self._queue)
            if h.cancelled:
                continue
            self.now = max(self.now, when)
            h.run()
        self.now = target

    def pending(self) -> list[FakeHandle]:
        return [h for _w, _s, h in sorted(self._queue) if not h.cancelled]


def test_fake_loop_runs_callbacks_in_order_and_honours_cancel() -> None:
    loop = FakeLoop(0.0)
    seen: list[tuple[str, float]] = []
    loop.call_later(2.0, lambda: seen.append(("b", loop.time())))
    loop.call_at(1.0, lambda: seen.append(("a", loop.time())))
    loop.call_later(2.0, lambda: seen.append(("c", loop.time())))
    loop.call_later(1.5, lambda: seen.append(("x", loop.time()))).cancel()
    loop.call_soon(lambda: seen.append(("soon", loop.time())))
    loop.advance(1.9)
    assert seen == [("soon", 0.0), ("a", 1.0)]
    assert loop.time() == 1.9
    loop.advance(0.1)
    assert seen[2:] == [("b", 2.0), ("c", 2.0)]
    # A callback scheduling another that is already due runs it in the same advance.
    loop.call_soon(lambda: loop.call_soon(lambda: seen.append(("nested", loop.time()))))
    loop.advance()
    assert seen[-1] == ("nested", 2.0)


# -- the harness -----------------------------------------------------------------------------


class FakeConn:
    """Stands in for a Connection: identity, a local address, and a record of what it got."""

    local: tuple[str, int] | None = None

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[bytes] = []

    def write_messages(self, messages: Sequence[bytes | memoryview]) -> None:
        self.sent.extend(split_messages(messages))

    def take(self) -> list[bytes]:
        out, self.sent = self.sent, []
        return out

    def __repr__(self) -> str:
        return f"FakeConn({self.name})"


class Lab:
    def __init__(self, restart_time: int = 120) -> None:
        self.loop = FakeLoop()
        cfg = Config(
            bgp=GlobalConfig(
                asn=LOCAL_AS,
                router_id=IPv4Address(RR_ID),
                cluster_id=IPv4Address(CLUSTER),
                restart_time=restart_time,
            )
        )
        self.speaker = Speaker(cfg, loop=cast(asyncio.AbstractEventLoop, self.loop))

    def peer(self, address: str, client: bool = True) -> Peer:
        pc = PeerConfig(address=ip_address(address), asn=LOCAL_AS, client=client, passive=True)
        p = Peer(self.speaker, pc)
        self.speaker.peers[pc.key] = p
        return p

    def negotiated(
        self,
        p: Peer,
        *,
        gr: GracefulRestart | None,
        add_path: tuple[tuple[Family, AddPathMode], ...] = (),
    ) -> Negotiated:
        local = self.speaker.capabilities_for(p.config)
        if add_path:
            local = replace(local, add_path=tuple((f, AddPathMode.RECEIVE) for f, _m in add_path))
        theirs = Capabilities(
            families=FAMS,
            route_refresh=True,
            four_octet_as=LOCAL_AS,
            graceful_restart=gr,
            add_path=add_path,
        )
        return negotiate(local, theirs, 90, 90, LOCAL_AS, int(IPv4Address(p.config.address)))

    def up(
        self,
        p: Peer,
        *,
        restart_time: int = 120,
        flags: GRFlags = GRFlags.NONE,
        families: tuple[tuple[Family, bool], ...] = BOTH_F,
        gr: bool = True,
        add_path: tuple[tuple[Family, AddPathMode], ...] = (),
    ) -> FakeConn:
        cap = GracefulRestart(flags=flags, restart_time=restart_time, families=families)
        neg = self.negotiated(p, gr=cap if gr else None, add_path=add_path)
        assert (neg.peer_gr is not None) == gr
        conn = FakeConn(p.key)
        p._on_established(cast(Connection, conn), neg)
        assert p.established is cast(Connection, conn)
        self.loop.advance()
        return conn

    def feed(self, p: Peer, upd: Update) -> None:
        assert p.established is not None
        p._on_update(p.established, UpdateReceived(upd))
        self.loop.advance()  # the outbound flush runs at the end of the "turn"

    def down(self, p: Peer, *, graceful: bool) -> None:
        assert p.established is not None
        p._on_down(
            p.established,
            SessionDown("connection lost", was_established=True, graceful=graceful),
        )
        self.loop.advance()

    def has(self, text: str) -> bool:
        fam = IPV6_UNICAST if ":" in text else IPV4_UNICAST
        return self.speaker.rib.lookup(fam, pfx(text)) is not None


A4 = ["10.1.0.0/24", "10.2.0.0/24"]
A6 = ["2001:db8:1::/48"]


def setup_two(restart_time: int = 120, **up_kw: Any) -> tuple[Lab, Peer, Peer, FakeConn]:
    """Peer A with routes (v4 + v6), peer B watching (a client: it is sent A's routes)."""
    lab = Lab()
    a, b = lab.peer("10.0.0.1"), lab.peer("10.0.0.2")
    lab.up(a, restart_time=restart_time, **up_kw)
    conn_b = lab.up(b)
    conn_b.take()
    lab.feed(a, update(A4 + A6))
    d = decode_messages(conn_b.take())
    assert d.ann(IPV4_UNICAST) == set(A4) and d.ann(IPV6_UNICAST) == set(A6)
    return lab, a, b, conn_b


# -- restart timer -------------------------------------------------------------------------


def test_routes_kept_until_restart_time_then_withdrawn() -> None:
    lab, a, _b, conn_b = setup_two()
    t0 = lab.loop.time()
    lab.down(a, graceful=True)
    assert a.established is None and a.negotiated is None
    assert all(lab.has(x) for x in A4 + A6)
    assert a.source.adj_in == {} and a.source.route_count() == 3
    lab.loop.advance(119.9)
    assert all(lab.has(x) for x in A4 + A6)
    assert conn_b.take() == []
    lab.loop.advance(0.1)
    assert lab.loop.time() == t0 + 120
    assert not any(lab.has(x) for x in A4 + A6)
    assert len(lab.speaker.rib) == 0 and a.source.stale == {} and a.source.interned == {}
    d = decode_messages(conn_b.take())
    assert d.wd(IPV4_UNICAST) == set(A4) and d.wd(IPV6_UNICAST) == set(A6)
    assert lab.loop.pending() == []


def test_non_graceful_down_removes_routes_at_once() -> None:
    lab, a, _b, conn_b = setup_two()
    lab.down(a, graceful=False)
    assert len(lab.speaker.rib) == 0
    d = decode_messages(conn_b.take())
    assert d.wd(IPV4_UNICAST) == set(A4) and d.wd(IPV6_UNICAST) == set(A6)
    assert lab.loop.pending() == []


def test_restart_time_zero_removes_routes_at_once() -> None:
    lab, a, _b, conn_b = setup_two(restart_time=0)
    lab.down(a, graceful=True)
    assert len(lab.speaker.rib) == 0
    assert decode_messages(conn_b.take()).wd(IPV4_UNICAST) == set(A4)
    assert lab.loop.pending() == []


def test_peer_without_gr_capability_is_not_helped() -> None:
    lab, a, _b, conn_b = setup_two(gr=False)
    lab.down(a, graceful=True)
    assert len(lab.speaker.rib) == 0
    assert decode_messages(conn_b.take()).wd(IPV6_UNICAST) == set(A6)


def test_families_outside_the_gr_capability_are_dropped_at_once() -> None:
    lab, a, _b, conn_b = setup_two(families=((IPV4_UNICAST, True),))
    lab.down(a, graceful=True)
    assert all(lab.has(x) for x in A4)
    assert not any(lab.has(x) for x in A6)
    d = decode_messages(conn_b.take())
    assert d.wd(IPV6_UNICAST) == set(A6) and d.wd(IPV4_UNICAST) == set()
    lab.loop.advance(120)
    assert not any(lab.has(x) for x in A4)


# -- the peer comes back -------------------------------------------------------------------


def test_end_of_rib_sweeps_only_what_was_not_reannounced() -> None:
    lab, a, _b, conn_b = setup_two()
    lab.down(a, graceful=True)
    lab.loop.advance(30)
    conn_a = lab.up(a, flags=GRFlags.RESTART)
    # The restarted peer gets our table (B has nothing) and End-of-RIB per family.
    assert decode_messages(conn_a.take()).end_of_rib == list(FAMS)
    assert all(lab.has(x) for x in A4 + A6)  # R bit, F bit: everything kept for now
    lab.feed(a, update(["10.1.0.0/24", "10.3.0.0/24"]))
    d = decode_messages(conn_b.take())
    assert d.ann(IPV4_UNICAST) == {"10.3.0.0/24"}  # 10.1 re-announced identically: no change
    lab.feed(a, Update(end_of_rib=IPV4_UNICAST))
    assert lab.has("10.1.0.0/24") and lab.has("10.3.0.0/24")
    assert not lab.has("10.2.0.0/24")
    assert decode_messages(conn_b.take()).wd(IPV4_UNICAST) == {"10.2.0.0/24"}
    assert IPV4_UNICAST in a.eor_received
    # IPv6 is still stale until its own End-of-RIB.
    assert lab.has(A6[0]) and set(a.source.stale) == {IPV6_UNICAST}
    lab.feed(a, Update(end_of_rib=IPV6_UNICAST))
    assert not lab.has(A6[0])
    assert a.source.stale == {}
    # Nothing stale is left: the restart timer is gone, and fresh routes survive its time.
    assert lab.loop.pending() == []
    lab.loop.advance(500)
    assert lab.has("10.1.0.0/24") and lab.has("10.3.0.0/24")


def test_return_without_restart_bit_drops_stale_at_once() -> None:
    # BIRD reconnecting after a plain session loss advertises R=0, F=0.
    lab, a, _b, conn_b = setup_two()
    lab.down(a, graceful=True)
    lab.loop.advance(10)
    lab.up(a, flags=GRFlags.NONE, families=((IPV4_UNICAST, False), (IPV6_UNICAST, False)))
    assert len(lab.speaker.rib) == 0 and a.source.stale == {}
    d = decode_messages(conn_b.take())
    assert d.wd(IPV4_UNICAST) == set(A4) and d.wd(IPV6_UNICAST) == set(A6)


def test_return_with_restart_bit_but_no_forwarding_state_for_a_family() -> None:
    # RFC 4724 §4.2: F=0 for a family: its stale routes go at once; others wait for EoR.
    lab, a, _b, conn_b = setup_two()
    lab.down(a, graceful=True)
    lab.up(a, flags=GRFlags.RESTART, families=((IPV4_UNICAST, True), (IPV6_UNICAST, False)))
    assert all(lab.has(x) for x in A4) and not lab.has(A6[0])
    assert decode_messages(conn_b.take()).wd(IPV6_UNICAST) == set(A6)


def test_return_with_restart_bit_but_family_missing_from_capability() -> None:
    lab, a, _b, _conn_b = setup_two()
    lab.down(a, graceful=True)
    lab.up(a, flags=GRFlags.RESTART, families=((IPV6_UNICAST, True),))
    assert not any(lab.has(x) for x in A4) and lab.has(A6[0])


def test_restart_timer_of_an_earlier_restart_does_not_cut_a_later_one_short() -> None:
    lab, a, _b, _conn_b = setup_two()
    t0 = lab.loop.time()
    lab.down(a, graceful=True)  # restart timer due at t0 + 120
    lab.loop.advance(10)
    # Back without the R bit: stale routes dropped at once; the t0 + 120 timer is moot.
    lab.up(a, flags=GRFlags.NONE)
    lab.feed(a, update(["10.7.0.0/24"]))
    lab.loop.advance(90)
    lab.down(a, graceful=True)  # at t0 + 100: a new restart, due at t0 + 220
    lab.loop.advance(20.5)  # t0 + 120.5: the first timer must not sweep the new stale routes
    assert lab.loop.time() == t0 + 120.5
    assert lab.has("10.7.0.0/24")
    lab.loop.advance(99.4)
    assert lab.has("10.7.0.0/24")
    lab.loop.advance(0.1)
    assert not lab.has("10.7.0.0/24")


def test_second_graceful_down_restarts_the_timer() -> None:
    lab, a, _b, _conn_b = setup_two()
    t0 = lab.loop.time()
    lab.down(a, graceful=True)
    lab.loop.advance(60)
    lab.up(a, flags=GRFlags.RESTART)
    lab.down(a, graceful=True)  # before End-of-RIB: a fresh restart time from now
    lab.loop.advance(119.9)
    assert lab.loop.time() == pytest.approx(t0 + 179.9)
    assert all(lab.has(x) for x in A4 + A6)
    lab.loop.advance(0.1)
    assert len(lab.speaker.rib) == 0


def test_stop_during_restart_drops_stale_and_cancels_the_timer() -> None:
    lab, a, _b, conn_b = setup_two()
    lab.down(a, graceful=True)
    a.stop()
    lab.loop.advance()
    assert len(lab.speaker.rib) == 0
    assert decode_messages(conn_b.take()).wd(IPV4_UNICAST) == set(A4)
    assert lab.loop.pending() == []


# -- ADD-PATH routes under graceful restart ------------------------------------------------


AP4 = ((IPV4_UNICAST, AddPathMode.SEND),)


def _add_path_routes(lab: Lab, a: Peer) -> None:
    k = pfx("10.5.0.0/24")
    lab.feed(a, update_keys(IPV4_UNICAST, [with_path_id(1, k), with_path_id(2, k)], attrs()))
    assert lab.has("10.5.0.0/24")


def test_add_path_stale_routes_expire_with_the_restart_timer() -> None:
    lab = Lab()
    a = lab.peer("10.0.0.1")
    lab.up(a, add_path=AP4)
    assert a.negotiated is not None and a.negotiated.add_path_rx == {IPV4_UNICAST}
    _add_path_routes(lab, a)
    lab.down(a, graceful=True)
    lab.loop.advance(120)
    assert not lab.has("10.5.0.0/24")
    assert len(lab.speaker.rib) == 0


def test_add_path_stale_routes_swept_by_end_of_rib() -> None:
    lab = Lab()
    a = lab.peer("10.0.0.1")
    lab.up(a, add_path=AP4)
    _add_path_routes(lab, a)
    lab.down(a, graceful=True)
    lab.up(a, flags=GRFlags.RESTART, add_path=AP4)
    k = pfx("10.5.0.0/24")
    lab.feed(a, update_keys(IPV4_UNICAST, [with_path_id(2, k)], attrs()))
    lab.feed(a, Update(end_of_rib=IPV4_UNICAST))
    d = lab.speaker.rib.lookup(IPV4_UNICAST, k)
    assert d is not None and [p.path_id for p in d.paths] == [2]


def test_add_path_routes_dropped_on_stop() -> None:
    lab = Lab()
    a = lab.peer("10.0.0.1")
    lab.up(a, add_path=AP4)
    _add_path_routes(lab, a)
    a.stop()
    assert len(lab.speaker.rib) == 0


# -- RFC 4456 §8 ingress loop check (Peer._on_update) --------------------------------------


def test_route_with_our_originator_id_or_cluster_id_is_not_installed() -> None:
    lab = Lab()
    a, b = lab.peer("10.0.0.1"), lab.peer("10.0.0.2")
    lab.up(a)
    conn_b = lab.up(b)
    conn_b.take()
    lab.feed(a, update(["10.1.0.0/24"], attrs(originator_id=RR_ID)))
    lab.feed(
        a,
        update(["10.2.0.0/24"], attrs(originator_id="10.0.0.1", cluster_list=["1.1.1.1", CLUSTER])),
    )
    lab.feed(a, update(["10.3.0.0/24"], attrs(originator_id="10.0.0.1", cluster_list=["1.1.1.1"])))
    assert not lab.has("10.1.0.0/24") and not lab.has("10.2.0.0/24")
    assert lab.has("10.3.0.0/24")
    assert decode_messages(conn_b.take()).ann() == {"10.3.0.0/24"}
    # A looped re-announcement of a known route withdraws it (implicit withdraw).
    lab.feed(a, update(["10.3.0.0/24"], attrs(cluster_list=[CLUSTER])))
    assert not lab.has("10.3.0.0/24")
    assert decode_messages(conn_b.take()).wd() == {"10.3.0.0/24"}
