"""RFC 4724 graceful restart, helper side: real neighbours and real sessions on a clock the test
moves (tests/session/harness.py); nothing sleeps."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pyrr.bgp.capabilities import GracefulRestart
from pyrr.bgp.constants import AddPathMode, GRFlags
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family
from pyrr.bgp.update import Update
from pyrr.session.neighbor import Neighbor

from ..rib.factories import attrs, decode_messages, pfx, update, update_keys, with_path_id
from .harness import CLUSTER, FAMS, RR_ID, Remote, World

BOTH_F = ((IPV4_UNICAST, True), (IPV6_UNICAST, True))
A4 = ["10.1.0.0/24", "10.2.0.0/24"]
A6 = ["2001:db8:1::/48"]


def gr_cap(
    *,
    restart_time: int = 120,
    flags: GRFlags = GRFlags.NONE,
    families: tuple[tuple[Family, bool], ...] = BOTH_F,
) -> GracefulRestart:
    return GracefulRestart(flags=flags, restart_time=restart_time, families=families)


def setup_two(
    restart_time: int = 120, gr: bool = True, families: tuple[tuple[Family, bool], ...] = BOTH_F
) -> tuple[World, Neighbor, Remote, Remote]:
    """Peer A with routes (v4 + v6), peer B watching (a client: it is sent A's routes)."""
    w = World()
    a, b = w.peer("10.0.0.1"), w.peer("10.0.0.2")
    cap = gr_cap(restart_time=restart_time, families=families) if gr else None
    ra = w.up(a, cap)
    rb = w.up(b, gr_cap())
    rb.take()
    w.send(ra, update(A4 + A6))
    d = decode_messages(rb.take())
    assert d.ann(IPV4_UNICAST) == set(A4) and d.ann(IPV6_UNICAST) == set(A6)
    return w, a, ra, rb


# -- restart timer -------------------------------------------------------------------------


def test_routes_kept_until_restart_time_then_withdrawn() -> None:
    w, a, ra, rb = setup_two()
    t0 = w.now
    w.drop(ra)
    assert a.established is None and a.negotiated is None
    assert all(w.has(x) for x in A4 + A6)
    assert a.source.fresh_count(IPV4_UNICAST) == a.source.fresh_count(IPV6_UNICAST) == 0
    assert a.source.route_count() == 3 and sum(a.source.stale_counts.values()) == 3
    assert a.next_timer() == t0 + 120  # the restart timer, and nothing else
    w.advance(119.9)
    assert all(w.has(x) for x in A4 + A6)
    assert rb.take() == []
    w.advance(0.1)
    assert w.now == t0 + 120
    assert not any(w.has(x) for x in A4 + A6)
    assert len(w.speaker.rib) == 0 and not a.source.stale_families and a.source.interned == {}
    d = decode_messages(rb.take())
    assert d.wd(IPV4_UNICAST) == set(A4) and d.wd(IPV6_UNICAST) == set(A6)
    assert a.next_timer() is None


def test_non_graceful_down_removes_routes_at_once() -> None:
    w, a, ra, rb = setup_two()
    w.cease(ra)
    assert len(w.speaker.rib) == 0
    d = decode_messages(rb.take())
    assert d.wd(IPV4_UNICAST) == set(A4) and d.wd(IPV6_UNICAST) == set(A6)
    assert a.next_timer() is None


def test_restart_time_zero_removes_routes_at_once() -> None:
    w, a, ra, rb = setup_two(restart_time=0)
    w.drop(ra)
    assert len(w.speaker.rib) == 0
    assert decode_messages(rb.take()).wd(IPV4_UNICAST) == set(A4)
    assert a.next_timer() is None


def test_peer_without_gr_capability_is_not_helped() -> None:
    w, _a, ra, rb = setup_two(gr=False)
    w.drop(ra)
    assert len(w.speaker.rib) == 0
    assert decode_messages(rb.take()).wd(IPV6_UNICAST) == set(A6)


def test_families_outside_the_gr_capability_are_dropped_at_once() -> None:
    w, _a, ra, rb = setup_two(families=((IPV4_UNICAST, True),))
    w.drop(ra)
    assert all(w.has(x) for x in A4)
    assert not any(w.has(x) for x in A6)
    d = decode_messages(rb.take())
    assert d.wd(IPV6_UNICAST) == set(A6) and d.wd(IPV4_UNICAST) == set()
    w.advance(120)
    assert not any(w.has(x) for x in A4)


# -- the peer comes back -------------------------------------------------------------------


def test_end_of_rib_sweeps_only_what_was_not_reannounced() -> None:
    w, a, ra, rb = setup_two()
    w.drop(ra)
    w.advance(30)
    ra2 = w.up(a, gr_cap(flags=GRFlags.RESTART))
    # The restarted peer gets our table (B has nothing) and End-of-RIB per family.
    assert decode_messages(ra2.take()).end_of_rib == list(FAMS)
    assert all(w.has(x) for x in A4 + A6)  # R bit, F bit: everything kept for now
    w.send(ra2, update(["10.1.0.0/24", "10.3.0.0/24"]))
    d = decode_messages(rb.take())
    assert d.ann(IPV4_UNICAST) == {"10.3.0.0/24"}  # 10.1 re-announced identically: no change
    w.send(ra2, Update(end_of_rib=IPV4_UNICAST))
    assert w.has("10.1.0.0/24") and w.has("10.3.0.0/24")
    assert not w.has("10.2.0.0/24")
    assert decode_messages(rb.take()).wd(IPV4_UNICAST) == {"10.2.0.0/24"}
    assert IPV4_UNICAST in a.eor_received
    # IPv6 is still stale until its own End-of-RIB.
    assert w.has(A6[0]) and a.source.stale_families == [IPV6_UNICAST]
    w.send(ra2, Update(end_of_rib=IPV6_UNICAST))
    assert not w.has(A6[0])
    assert not a.source.stale_families
    # Nothing stale is left: the restart timer is gone, and fresh routes survive its time.
    assert a.helper.restart_at is None
    w.advance(500)
    assert w.has("10.1.0.0/24") and w.has("10.3.0.0/24")


def test_return_without_restart_bit_drops_stale_at_once() -> None:
    # BIRD reconnecting after a plain session loss advertises R=0, F=0.
    w, a, ra, rb = setup_two()
    w.drop(ra)
    w.advance(10)
    w.up(a, gr_cap(flags=GRFlags.NONE, families=((IPV4_UNICAST, False), (IPV6_UNICAST, False))))
    assert len(w.speaker.rib) == 0 and not a.source.stale_families
    d = decode_messages(rb.take())
    assert d.wd(IPV4_UNICAST) == set(A4) and d.wd(IPV6_UNICAST) == set(A6)


def test_return_with_restart_bit_but_no_forwarding_state_for_a_family() -> None:
    # RFC 4724 §4.2: F=0 for a family: its stale routes go at once; others wait for EoR.
    w, a, ra, rb = setup_two()
    w.drop(ra)
    w.up(a, gr_cap(flags=GRFlags.RESTART, families=((IPV4_UNICAST, True), (IPV6_UNICAST, False))))
    assert all(w.has(x) for x in A4) and not w.has(A6[0])
    assert decode_messages(rb.take()).wd(IPV6_UNICAST) == set(A6)


def test_return_with_restart_bit_but_family_missing_from_capability() -> None:
    w, a, ra, _rb = setup_two()
    w.drop(ra)
    w.up(a, gr_cap(flags=GRFlags.RESTART, families=((IPV6_UNICAST, True),)))
    assert not any(w.has(x) for x in A4) and w.has(A6[0])


def test_restart_timer_of_an_earlier_restart_does_not_cut_a_later_one_short() -> None:
    w, a, ra, _rb = setup_two()
    t0 = w.now
    w.drop(ra)  # restart timer due at t0 + 120
    w.advance(10)
    # Back without the R bit: stale routes dropped at once; the t0 + 120 timer is moot.
    ra2 = w.up(a, gr_cap(flags=GRFlags.NONE))
    w.send(ra2, update(["10.7.0.0/24"]))
    w.advance(90)
    w.drop(ra2)  # at t0 + 100: a new restart, due at t0 + 220
    w.advance(20.5)  # t0 + 120.5: the first timer must not sweep the new stale routes
    assert w.now == t0 + 120.5
    assert w.has("10.7.0.0/24")
    w.advance(99.4)
    assert w.has("10.7.0.0/24")
    w.advance(0.1)
    assert not w.has("10.7.0.0/24")


def test_second_graceful_down_restarts_the_timer() -> None:
    w, a, ra, _rb = setup_two()
    t0 = w.now
    w.drop(ra)
    w.advance(60)
    ra2 = w.up(a, gr_cap(flags=GRFlags.RESTART))
    w.drop(ra2)  # before End-of-RIB: a fresh restart time from now
    w.advance(119.9)
    assert w.now == pytest.approx(t0 + 179.9)
    assert all(w.has(x) for x in A4 + A6)
    w.advance(0.1)
    assert len(w.speaker.rib) == 0


def test_stop_during_restart_drops_stale_and_cancels_the_timer() -> None:
    w, a, ra, rb = setup_two()
    w.drop(ra)
    a.stop(w.now)
    w.pump()
    assert len(w.speaker.rib) == 0
    assert decode_messages(rb.take()).wd(IPV4_UNICAST) == set(A4)
    assert a.next_timer() is None


# -- ADD-PATH routes under graceful restart ------------------------------------------------


AP4 = ((IPV4_UNICAST, AddPathMode.SEND),)


def ap_world() -> World:
    """A speaker that offers ADD-PATH receive for IPv4 (RFC 7911), so a peer that sends paths
    negotiates it: its Adj-RIB-In keys carry path identifiers."""
    w = World()
    base = w.speaker.local.capabilities()
    offered = replace(base, add_path=((IPV4_UNICAST, AddPathMode.RECEIVE),))
    w.speaker.local.capabilities = lambda *_a, **_k: offered  # type: ignore[method-assign]
    return w


def _add_path_routes(w: World, ra: Remote) -> None:
    k = pfx("10.5.0.0/24")
    w.send(ra, update_keys(IPV4_UNICAST, [with_path_id(1, k), with_path_id(2, k)], attrs()))
    assert w.has("10.5.0.0/24")


def test_add_path_stale_routes_expire_with_the_restart_timer() -> None:
    w = ap_world()
    a = w.peer("10.0.0.1")
    ra = w.up(a, gr_cap(), add_path=AP4)
    assert a.negotiated is not None and a.negotiated.add_path_rx == {IPV4_UNICAST}
    _add_path_routes(w, ra)
    w.drop(ra)
    w.advance(120)
    assert not w.has("10.5.0.0/24")
    assert len(w.speaker.rib) == 0


def test_add_path_stale_routes_swept_by_end_of_rib() -> None:
    w = ap_world()
    a = w.peer("10.0.0.1")
    ra = w.up(a, gr_cap(), add_path=AP4)
    _add_path_routes(w, ra)
    w.drop(ra)
    ra2 = w.up(a, gr_cap(flags=GRFlags.RESTART), add_path=AP4)
    k = pfx("10.5.0.0/24")
    w.send(ra2, update_keys(IPV4_UNICAST, [with_path_id(2, k)], attrs()))
    w.send(ra2, Update(end_of_rib=IPV4_UNICAST))
    d = w.speaker.rib.lookup(IPV4_UNICAST, k)
    assert d is not None and [p.path_id for p in d.paths] == [2]


def test_add_path_routes_dropped_on_stop() -> None:
    w = ap_world()
    a = w.peer("10.0.0.1")
    ra = w.up(a, gr_cap(), add_path=AP4)
    _add_path_routes(w, ra)
    a.stop(w.now)
    assert len(w.speaker.rib) == 0


# -- RFC 4456 §8 ingress loop check --------------------------------------------------------


def test_route_with_our_originator_id_or_cluster_id_is_not_installed() -> None:
    w = World()
    a, b = w.peer("10.0.0.1"), w.peer("10.0.0.2")
    ra = w.up(a)
    rb = w.up(b)
    rb.take()
    w.send(ra, update(["10.1.0.0/24"], attrs(originator_id=RR_ID)))
    w.send(
        ra,
        update(["10.2.0.0/24"], attrs(originator_id="10.0.0.1", cluster_list=["1.1.1.1", CLUSTER])),
    )
    w.send(ra, update(["10.3.0.0/24"], attrs(originator_id="10.0.0.1", cluster_list=["1.1.1.1"])))
    assert not w.has("10.1.0.0/24") and not w.has("10.2.0.0/24")
    assert w.has("10.3.0.0/24")
    assert decode_messages(rb.take()).ann() == {"10.3.0.0/24"}
    # A looped re-announcement of a known route withdraws it (implicit withdraw).
    w.send(ra, update(["10.3.0.0/24"], attrs(cluster_list=[CLUSTER])))
    assert not w.has("10.3.0.0/24")
    assert decode_messages(rb.take()).wd() == {"10.3.0.0/24"}
