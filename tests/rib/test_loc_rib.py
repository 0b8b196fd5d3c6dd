"""Adj-RIB-In per Source and the Loc-RIB: changes, interning, ADD-PATH keys, stale routes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family
from pyrr.rib import loc_rib
from pyrr.rib.bestpath import select
from pyrr.rib.loc_rib import Rib
from pyrr.rib.path import Path, Source
from pyrr.rib.reason import Reason

from .factories import attrs, default_next_hop, pfx, source, update, update_keys, with_path_id

NO_AP: frozenset[tuple[int, int]] = frozenset()
AP4 = frozenset({IPV4_UNICAST})


def best_of(rib: Rib, text: str) -> Path | None:
    fam = IPV6_UNICAST if ":" in text else IPV4_UNICAST
    d = rib.lookup(fam, pfx(text))
    return None if d is None else d.best


def routes(rib: Rib, src: Source, stale: bool) -> dict[Family, dict[bytes, Path]]:
    """A source's Adj-RIB-In as the Loc-RIB holds it (fresh or stale routes), keyed like its
    NLRI (the path identifier in front when it has one)."""
    out: dict[Family, dict[bytes, Path]] = {}
    for fam in list(src.prefixes):
        for prefix, p in rib.routes_of(src, fam):
            if p.stale == stale:
                key = with_path_id(p.path_id, prefix) if p.path_id else prefix
                out.setdefault(fam, {})[key] = p
    return out


def fresh(rib: Rib, src: Source) -> dict[Family, dict[bytes, Path]]:
    return routes(rib, src, stale=False)


def stale(rib: Rib, src: Source) -> dict[Family, dict[bytes, Path]]:
    return routes(rib, src, stale=True)


def adj(rib: Rib, src: Source, text: str) -> Path | None:
    fam = IPV6_UNICAST if ":" in text else IPV4_UNICAST
    return fresh(rib, src).get(fam, {}).get(pfx(text))


def test_first_announcement_is_a_change() -> None:
    rib, a = Rib(), source("10.0.0.1")
    ch = rib.apply_update(a, update(["10.1.0.0/24", "2001:db8:1::/64"]), NO_AP)
    p4 = adj(rib, a, "10.1.0.0/24")
    p6 = adj(rib, a, "2001:db8:1::/64")
    assert p4 is not None and p6 is not None
    assert ch == [
        (IPV4_UNICAST, pfx("10.1.0.0/24"), None, p4),
        (IPV6_UNICAST, pfx("2001:db8:1::/64"), None, p6),
    ]
    assert p4.next_hop == default_next_hop(IPV4_UNICAST)
    assert p6.next_hop == default_next_hop(IPV6_UNICAST)
    d = rib.lookup(IPV4_UNICAST, pfx("10.1.0.0/24"))
    assert d is not None and d.best is p4 and d.reason is Reason.ONLY_PATH
    assert len(rib) == 2
    assert list(rib.best_routes(IPV6_UNICAST)) == [(pfx("2001:db8:1::/64"), p6)]


def test_implicit_withdraw_replaces_the_previous_route() -> None:
    # RFC 4271 §3.1: a new announcement of a prefix replaces the peer's earlier one.
    rib, a = Rib(), source("10.0.0.1")
    rib.apply_update(a, update(["10.1.0.0/24"], attrs(local_pref=100)), NO_AP)
    old = adj(rib, a, "10.1.0.0/24")
    assert old is not None
    ch = rib.apply_update(a, update(["10.1.0.0/24"], attrs(local_pref=300)), NO_AP)
    new = adj(rib, a, "10.1.0.0/24")
    assert new is not None and new is not old
    assert ch == [(IPV4_UNICAST, pfx("10.1.0.0/24"), old, new)]
    d = rib.lookup(IPV4_UNICAST, pfx("10.1.0.0/24"))
    assert d is not None and d.paths == [new] and d.best is new
    assert old.refs == 0 and new.refs == 1
    assert list(a.interned.values()) == [new]
    assert a.route_count() == 1


def test_identical_reannouncement_changes_nothing() -> None:
    rib, a = Rib(), source("10.0.0.1")
    rib.apply_update(a, update(["10.1.0.0/24"]), NO_AP)
    p = adj(rib, a, "10.1.0.0/24")
    assert p is not None
    assert rib.apply_update(a, update(["10.1.0.0/24"]), NO_AP) == []
    assert adj(rib, a, "10.1.0.0/24") is p and p.refs == 1


def test_one_attribute_set_is_one_path_object() -> None:
    rib, a = Rib(), source("10.0.0.1")
    prefixes = [f"10.{i // 256}.{i % 256}.0/24" for i in range(1000)]
    ch = rib.apply_update(a, update(prefixes, attrs(as_path=[65001], med=5)), NO_AP)
    assert len(ch) == 1000
    paths = {id(p) for p in fresh(rib, a)[IPV4_UNICAST].values()}
    assert len(paths) == 1
    (p,) = a.interned.values()
    assert p.refs == 1000
    assert all(new is p for _f, _k, _o, new in ch)
    # A second update with an equal (not identical) PathAttrs joins the same Path.
    more = [f"10.200.{i}.0/24" for i in range(10)]
    rib.apply_update(a, update(more, attrs(as_path=[65001], med=5)), NO_AP)
    assert p.refs == 1010 and len(a.interned) == 1
    # Withdrawing all but one keeps it; the last one drops it from the intern table.
    rib.apply_update(a, update(withdraw=prefixes[1:] + more), NO_AP)
    assert p.refs == 1 and a.interned
    ch = rib.apply_update(a, update(withdraw=prefixes[:1]), NO_AP)
    assert ch == [(IPV4_UNICAST, pfx(prefixes[0]), p, None)]
    assert p.refs == 0
    assert a.interned == {}
    assert len(rib) == 0
    assert a.route_count() == 0


def test_moving_prefixes_between_attribute_sets_keeps_refcounts_exact() -> None:
    rib, a = Rib(), source("10.0.0.1")
    ps = [f"10.9.{i}.0/24" for i in range(10)]
    rib.apply_update(a, update(ps, attrs(med=1)), NO_AP)
    rib.apply_update(a, update(ps[:4], attrs(med=2)), NO_AP)
    by_med = {p.attrs.med: p for p in a.interned.values()}
    assert by_med[1].refs == 6 and by_med[2].refs == 4
    rib.apply_update(a, update(ps[4:], attrs(med=2)), NO_AP)
    assert list(a.interned) == [(IPV4_UNICAST, by_med[2].next_hop, attrs(med=2).wire, 0)]
    assert by_med[2].refs == 10 and by_med[1].refs == 0


def test_changes_only_when_the_best_path_changes() -> None:
    rib = Rib()
    a, b = source("10.0.0.1"), source("10.0.0.2")
    x = "10.1.0.0/24"
    ch = rib.apply_update(a, update([x], attrs(local_pref=200)), NO_AP)
    pa = adj(rib, a, x)
    assert ch == [(IPV4_UNICAST, pfx(x), None, pa)]
    # A worse path from B: a candidate, not a change.
    assert rib.apply_update(b, update([x], attrs(local_pref=100)), NO_AP) == []
    pb = adj(rib, b, x)
    d = rib.lookup(IPV4_UNICAST, pfx(x))
    assert d is not None and d.paths == [pa, pb] and d.best is pa
    assert d.reason is Reason.LOCAL_PREF
    # B changes its (losing) path: still no change.
    assert rib.apply_update(b, update([x], attrs(local_pref=150)), NO_AP) == []
    pb2 = adj(rib, b, x)
    # A lowers its LOCAL_PREF below B's: best moves.
    ch = rib.apply_update(a, update([x], attrs(local_pref=10)), NO_AP)
    pa2 = adj(rib, a, x)
    assert ch == [(IPV4_UNICAST, pfx(x), pa, pb2)]
    assert d.best is pb2 and d.reason is Reason.LOCAL_PREF
    # A withdraws its (losing) path: no change.
    assert rib.apply_update(a, update(withdraw=[x]), NO_AP) == []
    d = rib.lookup(IPV4_UNICAST, pfx(x))
    assert d is not None and d.paths == [pb2] and d.reason is Reason.ONLY_PATH
    assert pa2 is not None and pa2.refs == 0
    # B withdraws: the prefix is gone.
    assert rib.apply_update(b, update(withdraw=[x]), NO_AP) == [(IPV4_UNICAST, pfx(x), pb2, None)]
    assert rib.lookup(IPV4_UNICAST, pfx(x)) is None


def test_withdraw_of_unknown_prefix_is_a_noop() -> None:
    rib = Rib()
    a, b = source("10.0.0.1"), source("10.0.0.2")
    assert rib.apply_update(a, update(withdraw=["10.1.0.0/24", "2001:db8::/32"]), NO_AP) == []
    assert len(rib) == 0
    rib.apply_update(b, update(["10.1.0.0/24"]), NO_AP)
    pb = adj(rib, b, "10.1.0.0/24")
    # A withdrawing B's prefix does not touch B's route.
    assert rib.apply_update(a, update(withdraw=["10.1.0.0/24"]), NO_AP) == []
    assert best_of(rib, "10.1.0.0/24") is pb and pb is not None and pb.refs == 1
    assert fresh(rib, a).get(IPV4_UNICAST, {}) == {}
    # Twice the same withdrawal: the second is a no-op too.
    assert rib.apply_update(b, update(withdraw=["10.1.0.0/24"]), NO_AP) != []
    assert rib.apply_update(b, update(withdraw=["10.1.0.0/24"]), NO_AP) == []


def test_withdraw_and_announce_in_one_update() -> None:
    rib, a = Rib(), source("10.0.0.1")
    rib.apply_update(a, update(["10.1.0.0/24", "10.2.0.0/24"]), NO_AP)
    p_old = adj(rib, a, "10.1.0.0/24")
    ch = rib.apply_update(a, update(["10.3.0.0/24"], attrs(med=9), withdraw=["10.1.0.0/24"]), NO_AP)
    p_new = adj(rib, a, "10.3.0.0/24")
    assert ch == [
        (IPV4_UNICAST, pfx("10.1.0.0/24"), p_old, None),
        (IPV4_UNICAST, pfx("10.3.0.0/24"), None, p_new),
    ]


def test_withdrawals_held_by_one_path_alone_come_as_runs() -> None:
    """Given a runs list, the withdrawals of prefixes the source's path held alone come as
    runs, one per path in a row; a prefix another source also holds comes as a change (its
    best path is selected again), an unknown one as nothing; the refcounts are exact."""
    rib = Rib()
    a, b = source("10.0.0.1"), source("10.0.0.2")
    rib.apply_update(a, update(["10.1.0.0/24", "10.2.0.0/24"]), NO_AP)
    rib.apply_update(a, update(["10.3.0.0/24", "10.4.0.0/24"], attrs(med=7)), NO_AP)
    rib.apply_update(b, update(["10.2.0.0/24"], attrs(local_pref=50)), NO_AP)
    p1, p3 = adj(rib, a, "10.1.0.0/24"), adj(rib, a, "10.3.0.0/24")
    p2, pb = adj(rib, a, "10.2.0.0/24"), adj(rib, b, "10.2.0.0/24")
    assert p1 is not None and p3 is not None and p1.refs == 2 and p3.refs == 2
    runs: list[loc_rib.Run] = []
    wd = ["10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24", "10.4.0.0/24", "10.9.0.0/24"]
    ch = rib.apply_update(a, update(withdraw=wd), NO_AP, runs)
    assert runs == [
        (IPV4_UNICAST, p1, [pfx("10.1.0.0/24")]),
        (IPV4_UNICAST, p3, [pfx("10.3.0.0/24"), pfx("10.4.0.0/24")]),
    ]
    assert ch == [(IPV4_UNICAST, pfx("10.2.0.0/24"), p2, pb)]
    assert len(rib) == 1 and best_of(rib, "10.2.0.0/24") is pb
    assert fresh(rib, a) == {} and a.counts[IPV4_UNICAST] == 0
    # Released: out of the intern table, so the same attributes make a new path.
    assert p1.refs == 0 and p3.refs == 0 and a.interned == {}
    # Without a runs list, the same withdrawals are the runs' changes.
    rib2 = Rib()
    rib2.apply_update(a, update(["10.1.0.0/24", "10.3.0.0/24"]), NO_AP)
    q = adj(rib2, a, "10.1.0.0/24")
    assert q is not None
    ch2 = rib2.apply_update(a, update(withdraw=["10.3.0.0/24", "10.1.0.0/24"]), NO_AP)
    assert ch2 == loc_rib.run_changes([(IPV4_UNICAST, q, [pfx("10.3.0.0/24"), pfx("10.1.0.0/24")])])


def test_a_withdrawal_of_one_paths_prefixes_is_one_run_and_a_repeated_key_counts_once() -> None:
    rib, a = Rib(), source("10.0.0.1")
    table = ["10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24"]
    rib.apply_update(a, update(table), NO_AP)
    p = adj(rib, a, "10.1.0.0/24")
    runs: list[loc_rib.Run] = []
    assert rib.apply_update(a, update(withdraw=table[:2]), NO_AP, runs) == []
    assert runs == [(IPV4_UNICAST, p, [pfx(t) for t in table[:2]])]
    # The same prefix twice in one UPDATE: withdrawn once, counted once.
    runs.clear()
    assert rib.apply_update(a, update(withdraw=[table[2], table[2]]), NO_AP, runs) == []
    assert runs == [(IPV4_UNICAST, p, [pfx(table[2])])]
    assert len(rib) == 0 and a.counts[IPV4_UNICAST] == 0 and p is not None and p.refs == 0


def test_drop_source_removes_only_that_source() -> None:
    rib = Rib()
    a, b = source("10.0.0.1"), source("10.0.0.2")
    rib.apply_update(a, update(["10.1.0.0/24", "10.2.0.0/24", "2001:db8:1::/64"]), NO_AP)
    rib.apply_update(b, update(["10.2.0.0/24", "10.3.0.0/24"], attrs(local_pref=50)), NO_AP)
    pa = adj(rib, a, "10.1.0.0/24")
    pa6 = adj(rib, a, "2001:db8:1::/64")
    pb = adj(rib, b, "10.2.0.0/24")
    assert best_of(rib, "10.2.0.0/24") is pa
    ch = rib.drop_source(a)
    assert sorted(ch, key=repr) == sorted(
        [
            (IPV4_UNICAST, pfx("10.1.0.0/24"), pa, None),
            (IPV4_UNICAST, pfx("10.2.0.0/24"), pa, pb),
            (IPV6_UNICAST, pfx("2001:db8:1::/64"), pa6, None),
        ],
        key=repr,
    )
    assert fresh(rib, a) == {} and stale(rib, a) == {} and a.interned == {}
    assert a.route_count() == 0
    assert best_of(rib, "10.2.0.0/24") is pb
    assert best_of(rib, "10.3.0.0/24") is adj(rib, b, "10.3.0.0/24")
    assert len(rib) == 2
    assert rib.drop_source(a) == []


def test_add_path_keys() -> None:
    # RFC 7911 §3: with ADD-PATH the key carries a path id; the Loc-RIB is keyed by prefix.
    rib, a = Rib(), source("10.0.0.1")
    k = pfx("10.1.0.0/24")
    k1, k2 = with_path_id(1, k), with_path_id(2, k)
    ch = rib.apply_update(a, update_keys(IPV4_UNICAST, [k2], attrs()), AP4)
    p2 = fresh(rib, a)[IPV4_UNICAST][k2]
    assert p2.path_id == 2
    assert ch == [(IPV4_UNICAST, k, None, p2)]
    assert rib.lookup(IPV4_UNICAST, k2) is None
    ch = rib.apply_update(a, update_keys(IPV4_UNICAST, [k1], attrs()), AP4)
    p1 = fresh(rib, a)[IPV4_UNICAST][k1]
    assert p1 is not p2 and p1.path_id == 1
    assert ch == [(IPV4_UNICAST, k, p2, p1)]
    d = rib.lookup(IPV4_UNICAST, k)
    assert d is not None and d.paths == [p2, p1] and d.reason is Reason.PATH_ID
    assert len(a.interned) == 2
    # Withdraw path 1: path 2 is best again.
    ch = rib.apply_update(a, update_keys(IPV4_UNICAST, withdraw=[k1]), AP4)
    assert ch == [(IPV4_UNICAST, k, p1, p2)]
    assert p1.refs == 0 and len(a.interned) == 1
    # Another path id, then drop the source: all gone from the Loc-RIB.
    rib.apply_update(a, update_keys(IPV4_UNICAST, [with_path_id(7, k)], attrs(med=1)), AP4)
    ch = rib.drop_source(a)
    # Paths go one at a time: the changes end with the prefix gone.
    assert {c[:2] for c in ch} == {(IPV4_UNICAST, k)}
    assert ch[-1][3] is None
    assert rib.lookup(IPV4_UNICAST, k) is None and len(rib) == 0
    assert a.interned == {}


def test_add_path_family_and_plain_family_side_by_side() -> None:
    rib, a = Rib(), source("10.0.0.1")
    k4 = pfx("10.1.0.0/24")
    k6 = pfx("2001:db8::/48")
    rib.apply_update(a, update_keys(IPV4_UNICAST, [with_path_id(5, k4)]), AP4)
    rib.apply_update(a, update_keys(IPV6_UNICAST, [k6]), AP4)
    d4, d6 = rib.lookup(IPV4_UNICAST, k4), rib.lookup(IPV6_UNICAST, k6)
    assert d4 is not None and d6 is not None
    assert d4.best is not None and d4.best.path_id == 5
    assert d6.best is not None and d6.best.path_id == 0
    rib.drop_source(a)
    assert len(rib) == 0


# -- graceful restart: stale marking and sweeping (RFC 4724 §4.2) ----------------------------


def test_mark_stale_keeps_routes_in_use() -> None:
    rib, a = Rib(), source("10.0.0.1")
    rib.apply_update(a, update(["10.1.0.0/24", "10.2.0.0/24", "2001:db8::/48"]), NO_AP)
    pa = adj(rib, a, "10.1.0.0/24")
    assert rib.mark_stale(a) == 3
    assert fresh(rib, a) == {}
    assert set(stale(rib, a)) == {IPV4_UNICAST, IPV6_UNICAST}
    assert best_of(rib, "10.1.0.0/24") is pa
    assert a.route_count() == 3


def test_reannounce_makes_fresh_and_sweep_removes_only_the_rest() -> None:
    rib, a, b = Rib(), source("10.0.0.1"), source("10.0.0.2")
    same, changed, gone = "10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24"
    rib.apply_update(a, update([same, changed, gone]), NO_AP)
    rib.apply_update(b, update([gone], attrs(local_pref=10)), NO_AP)
    p = adj(rib, a, same)
    assert p is not None and p.refs == 3
    rib.mark_stale(a)
    assert p.stale and a.interned == {}
    # Identical re-announcement: fresh again (a new path, the same route), and no Loc-RIB
    # change: nobody is sent it again.
    assert rib.apply_update(a, update([same]), NO_AP) == []
    q = adj(rib, a, same)
    assert q is not None and q is not p and q.same_route(p) and not q.stale
    assert q.refs == 1 and p.refs == 2
    assert best_of(rib, same) is q
    assert pfx(same) not in stale(rib, a)[IPV4_UNICAST]
    # Re-announced with other attributes: an ordinary replacement.
    ch = rib.apply_update(a, update([changed], attrs(med=3)), NO_AP)
    pc = adj(rib, a, changed)
    assert ch == [(IPV4_UNICAST, pfx(changed), p, pc)]
    assert p.refs == 1
    d = rib.lookup(IPV4_UNICAST, pfx(changed))
    assert d is not None and d.paths == [pc]
    # End-of-RIB: only the route that was not re-announced goes; B's path takes over.
    ch = rib.sweep_stale(a, IPV4_UNICAST)
    assert ch == [(IPV4_UNICAST, pfx(gone), p, adj(rib, b, gone))]
    assert p.refs == 0
    assert IPV4_UNICAST not in stale(rib, a)
    assert best_of(rib, same) is q
    assert best_of(rib, changed) is pc
    assert rib.sweep_stale(a, IPV4_UNICAST) == []


def test_sweep_is_per_family() -> None:
    rib, a = Rib(), source("10.0.0.1")
    rib.apply_update(a, update(["10.1.0.0/24", "2001:db8::/48"]), NO_AP)
    rib.mark_stale(a)
    ch = rib.sweep_stale(a, IPV6_UNICAST)
    assert [c[:2] for c in ch] == [(IPV6_UNICAST, pfx("2001:db8::/48"))]
    assert best_of(rib, "10.1.0.0/24") is not None
    assert set(stale(rib, a)) == {IPV4_UNICAST}


def test_withdraw_of_a_stale_route() -> None:
    rib, a = Rib(), source("10.0.0.1")
    rib.apply_update(a, update(["10.1.0.0/24", "10.2.0.0/24"]), NO_AP)
    p = adj(rib, a, "10.1.0.0/24")
    rib.mark_stale(a)
    ch = rib.apply_update(a, update(withdraw=["10.1.0.0/24"]), NO_AP)
    assert ch == [(IPV4_UNICAST, pfx("10.1.0.0/24"), p, None)]
    assert a.route_count() == 1


def test_stale_twice_then_drop_source() -> None:
    # A second graceful restart before End-of-RIB: the old stale set and the new one merge.
    rib, a = Rib(), source("10.0.0.1")
    rib.apply_update(a, update(["10.1.0.0/24", "10.2.0.0/24"]), NO_AP)
    rib.mark_stale(a)
    rib.apply_update(a, update(["10.1.0.0/24", "10.4.0.0/24"]), NO_AP)
    assert rib.mark_stale(a) == 2
    assert len(stale(rib, a)[IPV4_UNICAST]) == 3 and fresh(rib, a) == {}
    ch = rib.drop_source(a)
    assert len(ch) == 3 and len(rib) == 0 and a.interned == {}


def test_stale_add_path_routes_sweep_with_add_path() -> None:
    rib, a = Rib(), source("10.0.0.1")
    k = pfx("10.1.0.0/24")
    rib.apply_update(a, update_keys(IPV4_UNICAST, [with_path_id(1, k), with_path_id(2, k)]), AP4)
    rib.mark_stale(a)
    rib.apply_update(a, update_keys(IPV4_UNICAST, [with_path_id(2, k)]), AP4)
    ch = rib.sweep_stale(a, IPV4_UNICAST)
    d = rib.lookup(IPV4_UNICAST, k)
    assert d is not None and d.best is not None and d.best.path_id == 2
    assert len(d.paths) == 1
    assert [c[:2] for c in ch] == [(IPV4_UNICAST, k)]


# -- model check ----------------------------------------------------------------------------

_PREFIXES = [
    "10.0.0.0/24",
    "10.0.1.0/24",
    "10.0.2.0/24",
    "10.0.3.0/24",
    "2001:db8::/48",
    "2001:db8:1::/48",
]
_ATTRS = [attrs(), attrs(local_pref=200), attrs(med=5, as_path=[65001]), attrs(local_pref=None)]

_op = st.one_of(
    st.tuples(
        st.just("ann"),
        st.integers(0, 2),
        st.sets(st.sampled_from(_PREFIXES), min_size=1),
        st.integers(0, len(_ATTRS) - 1),
    ),
    st.tuples(
        st.just("wd"),
        st.integers(0, 2),
        st.sets(st.sampled_from(_PREFIXES), min_size=1),
        st.just(0),
    ),
    st.tuples(st.just("stale"), st.integers(0, 2), st.just(frozenset[str]()), st.just(0)),
    st.tuples(st.just("sweep4"), st.integers(0, 2), st.just(frozenset[str]()), st.just(0)),
    st.tuples(st.just("sweep6"), st.integers(0, 2), st.just(frozenset[str]()), st.just(0)),
    st.tuples(st.just("drop"), st.integers(0, 2), st.just(frozenset[str]()), st.just(0)),
)


Held = dict[tuple[Family, bytes], bool]  # what a source holds -> whether it is stale


def _check_invariants(
    rib: Rib,
    sources: list[Source],
    mirror: dict[tuple[Family, bytes], Path],
    held: list[Held],
) -> None:
    # The change stream, replayed, gives exactly the Loc-RIB's best routes (a stale path
    # announced again is a new Path of the same route, and no change: RFC 4724 §4.2).
    table = {(f, p): d.best for f, t in rib.tables.items() for p, d in t.items()}
    assert mirror.keys() == table.keys()
    for k, best in table.items():
        assert best is not None and (mirror[k] is best or mirror[k].same_route(best))
    # Each source holds exactly what the model says it holds, stale or not, and counts it.
    for s, want in zip(sources, held, strict=True):
        got = {
            (fam, prefix): path.stale
            for fam in list(s.prefixes)
            for prefix, path in rib.routes_of(s, fam)
        }
        assert got == want
        for fam in {f for f, _p in want} | set(s.counts):
            assert s.counts.get(fam, 0) == sum(1 for f, _p in want if f == fam)
            assert s.stale_counts.get(fam, 0) == sum(
                1 for (f, _p), st in want.items() if f == fam and st
            )
    # Each entry holds one path per source that holds the prefix, and the best of them.
    for fam, dests in rib.tables.items():
        for prefix, d in dests.items():
            holders = [s for s, h in zip(sources, held, strict=True) if (fam, prefix) in h]
            assert sorted(id(p.source) for p in d.paths) == sorted(id(s) for s in holders)
            assert d.paths and d.best is select(d.paths)[0]
    # Reference counts are exact; the intern tables hold fresh paths in use only.
    uses: dict[int, int] = {}
    objs: dict[int, Path] = {}
    for dests in rib.tables.values():
        for d in dests.values():
            for p in d.paths:
                uses[id(p)] = uses.get(id(p), 0) + 1
                objs[id(p)] = p
    assert {k: objs[k].refs for k in uses} == uses
    for s in sources:
        for p in s.interned.values():
            assert p.refs > 0 and not p.stale and uses.get(id(p)) == p.refs


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(_op, max_size=25))
def test_rib_model(ops: list[tuple[str, int, frozenset[str], int]]) -> None:
    rib = Rib()
    sources = [source("10.0.0.1"), source("10.0.0.2", client=False), source("192.0.2.1", asn=65001)]
    mirror: dict[tuple[Family, bytes], Path] = {}
    held: list[Held] = [{}, {}, {}]
    for op, si, prefixes, ai in ops:
        s = sources[si]
        h = held[si]
        keys = [(IPV6_UNICAST if ":" in t else IPV4_UNICAST, pfx(t)) for t in sorted(prefixes)]
        if op == "ann":
            a = _ATTRS[ai]
            if not s.ibgp:
                a = attrs(local_pref=None, as_path=[65001])
            ch = rib.apply_update(s, update(sorted(prefixes), a), NO_AP)
            h.update(dict.fromkeys(keys, False))
        elif op == "wd":
            # As the speaker applies it: the withdrawn runs first, then the changes.
            runs: list[loc_rib.Run] = []
            ch = rib.apply_update(s, update(withdraw=sorted(prefixes)), NO_AP, runs)
            ch = loc_rib.run_changes(runs) + ch
            for k in keys:
                h.pop(k, None)
        elif op == "stale":
            rib.mark_stale(s)
            ch = []
            h.update(dict.fromkeys(h, True))
        elif op in ("sweep4", "sweep6"):
            fam = IPV4_UNICAST if op == "sweep4" else IPV6_UNICAST
            ch = rib.sweep_stale(s, fam)
            for k in [k for k, st in h.items() if st and k[0] == fam]:
                del h[k]
        else:
            ch = rib.drop_source(s)
            h.clear()
        for fam, p, old, new in ch:
            assert old is not new
            was = mirror.get((fam, p))
            assert was is old or (was is not None and old is not None and was.same_route(old))
            if new is None:
                del mirror[(fam, p)]
            else:
                mirror[(fam, p)] = new
        _check_invariants(rib, sources, mirror, held)


def test_a_table_that_lost_most_of_its_routes_gives_its_memory_back() -> None:
    """CPython's dict never shrinks on deletion: after a mass withdrawal the Loc-RIB table is
    copied (by `tidy`, the housekeeping run after the burst), so a withdrawn full table does not
    keep its memory."""
    import sys

    rib, a = Rib(), source("10.0.0.1")
    prefixes = [f"10.{i // 256}.{i % 256}.0/24" for i in range(20000)]
    rib.apply_update(a, update(prefixes), NO_AP)
    before = sys.getsizeof(rib.tables[IPV4_UNICAST])
    assert not rib.untidy
    rib.apply_update(a, update(withdraw=prefixes[:18000]), NO_AP)
    assert rib.untidy and sys.getsizeof(rib.tables[IPV4_UNICAST]) == before  # not yet
    rib.tidy()
    assert not rib.untidy
    after = rib.tables[IPV4_UNICAST]
    assert len(after) == 2000 and a.counts[IPV4_UNICAST] == 2000
    assert sys.getsizeof(after) < before / 4
    assert {p for p, _b in rib.best_routes(IPV4_UNICAST)} == {pfx(t) for t in prefixes[18000:]}


def test_a_churning_peer_keeps_its_prefix_list_bounded() -> None:
    """A peer's prefixes are listed once per announcement; withdrawn ones leave the list at
    the next compaction, so announcing and withdrawing forever costs no memory."""
    rib, a = Rib(), source("10.0.0.1")
    rib.apply_update(a, update(["10.9.0.0/24"]), NO_AP)
    for _ in range(1000):
        rib.apply_update(a, update(["10.1.0.0/24"]), NO_AP)
        rib.apply_update(a, update(withdraw=["10.1.0.0/24"]), NO_AP)
    assert a.counts[IPV4_UNICAST] == 1
    # Without housekeeping, the list is compacted inline once it is two thirds withdrawn ...
    assert len(a.prefixes[IPV4_UNICAST]) <= 3 * 1 + 64 + 1
    rib.tidy()  # ... and by the housekeeping once it is a third
    assert len(a.prefixes[IPV4_UNICAST]) <= 1 + 64
    assert [p for p, _path in rib.routes_of(a, IPV4_UNICAST)] == [pfx("10.9.0.0/24")]


def test_compaction_in_slices_keeps_every_live_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    """The prefix list is compacted a slice at a time (no copy of a full table's list): with
    slices far smaller than the list, every live prefix stays listed, in order, and only they."""
    monkeypatch.setattr(loc_rib, "_COMPACT_SLICE", 7)
    rib, a = Rib(), source("10.0.0.1")
    prefixes = [f"10.{i // 256}.{i % 256}.0/24" for i in range(3000)]
    rib.apply_update(a, update(prefixes), NO_AP)
    gone = [p for i, p in enumerate(prefixes) if i % 3]
    rib.apply_update(a, update(withdraw=gone), NO_AP)
    rib.tidy()
    kept = [pfx(p) for i, p in enumerate(prefixes) if i % 3 == 0]
    assert a.prefixes[IPV4_UNICAST] == kept
    assert [p for p, _path in rib.routes_of(a, IPV4_UNICAST)] == kept
    rib.apply_update(a, update(withdraw=prefixes), NO_AP)  # all of them: the list is emptied
    assert a.prefixes[IPV4_UNICAST] == [] and a.counts[IPV4_UNICAST] == 0
