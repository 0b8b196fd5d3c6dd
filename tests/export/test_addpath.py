"""ADD-PATH send (RFC 7911): up to N paths per prefix to members that negotiated ADD-PATH
receive, best first, each under its source's stable path identifier; encoded once per group;
withdrawn by (path id, prefix); the source never gets its own path back."""

from __future__ import annotations

from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family, split_path_id
from pyrr.config import FilterAction, FilterRule, RouteFilter
from pyrr.export.addpath import AddPathGroup
from pyrr.export.filters import export_chain
from pyrr.export.group import UpdateGroup
from pyrr.export.policy import Role

from ..rib.factories import FakeMember, attrs, decode_messages, nh, pfx, update
from .helpers import World, key

AP: frozenset[Family] = frozenset({IPV4_UNICAST, IPV6_UNICAST})
SVC = "10.96.0.10/32"
K = key(add_path_tx=AP)


def paths(msgs: list[bytes], family: Family = IPV4_UNICAST) -> list[tuple[int, str, bytes]]:
    """(path id, prefix, next hop) of every announcement, in order."""
    d = decode_messages(msgs, add_path_rx=AP)
    out = []
    for upd in d.updates:
        for fam, hop, keys in upd.announced:
            if fam == family:
                for k in keys:
                    pid, p = split_path_id(k)
                    out.append((pid, str(p.hex()), hop))
    return out


def withdrawn(msgs: list[bytes], family: Family = IPV4_UNICAST) -> set[tuple[int, bytes]]:
    d = decode_messages(msgs, add_path_rx=AP)
    return {split_path_id(k) for k in d.withdrawn_keys.get(family, [])}


def nodes(w: World) -> tuple[FakeMember, FakeMember, FakeMember]:
    """Three Calico nodes announcing one service address, best first (LOCAL_PREF)."""
    a, b, c = (w.member(f"10.0.0.{i}") for i in (1, 2, 3))
    for m, lp in ((a, 300), (b, 200), (c, 100)):
        w.apply(m.source, update([SVC], attrs(local_pref=lp), next_hop=f"10.0.0.{m.key[-1]}"))
    return a, b, c


def test_two_best_paths_best_first_under_stable_distinct_ids() -> None:
    w = World(add_path_send=2)
    nodes(w)
    m = w.member("10.0.0.5")
    g = w.join(K, m)
    assert isinstance(g, AddPathGroup)
    got = paths(m.take())
    assert [hop for _pid, _p, hop in got] == [nh("10.0.0.1"), nh("10.0.0.2")]  # best first
    assert len({pid for pid, _p, _h in got}) == 2
    assert {p for _pid, p, _h in got} == {pfx(SVC).hex()}


def test_candidate_changes_reach_the_group_under_the_same_id() -> None:
    w = World(add_path_send=2)
    a, b, c = nodes(w)
    m = w.member("10.0.0.5")
    w.join(K, m)
    ids = {hop: pid for pid, _p, hop in paths(m.take())}
    # The second path's attributes change: re-announced under its id, the best is not resent.
    w.apply(b.source, update([SVC], attrs(local_pref=200, med=5), next_hop="10.0.0.2"))
    w.run()
    sent = m.take()
    assert [(pid, hop) for pid, _p, hop in paths(sent)] == [(ids[nh("10.0.0.2")], nh("10.0.0.2"))]
    assert withdrawn(sent) == set()
    # A change of the third path (not sent) sends nothing.
    w.apply(c.source, update([SVC], attrs(local_pref=100, med=9), next_hop="10.0.0.3"))
    w.run()
    assert m.take() == []
    # The second path goes: withdrawn by its id, the third takes its place under its own.
    w.apply(b.source, update(withdraw=[SVC]))
    w.run()
    sent = m.take()
    assert withdrawn(sent) == {(ids[nh("10.0.0.2")], pfx(SVC))}
    new = paths(sent)
    assert [hop for _pid, _p, hop in new] == [nh("10.0.0.3")]
    assert new[0][0] not in ids.values()
    # The best path goes: the group now sends the third (best) and nothing else.
    w.apply(a.source, update(withdraw=[SVC]))
    w.run()
    assert withdrawn(m.take()) == {(ids[nh("10.0.0.1")], pfx(SVC))}
    # Everything goes.
    w.apply(c.source, update(withdraw=[SVC]))
    w.run()
    assert withdrawn(m.take()) == {(new[0][0], pfx(SVC))}
    assert g_entries(w) == 0


def g_entries(w: World) -> int:
    g = w.out.groups[K]
    assert isinstance(g, AddPathGroup)
    return sum(len(t) for t in g.multi.values())


def test_encoded_once_and_the_source_never_gets_its_own_path() -> None:
    w = World(add_path_send=2)
    a, b, c = (w.member(f"10.0.0.{i}") for i in (1, 2, 3))
    m1, m2 = w.member("10.0.0.5"), w.member("10.0.0.6")
    for m in (a, b, c, m1, m2):
        w.join(K, m)
        m.take()
    for m, lp in ((a, 300), (b, 200), (c, 100)):
        w.apply(m.source, update([SVC], attrs(local_pref=lp), next_hop=f"10.0.0.{m.key[-1]}"))
    w.run()
    s1, s2 = m1.take(), m2.take()
    assert m1.chunks[-1][0] is m2.chunks[-1][0]  # the same bytes object
    assert [hop for _i, _p, hop in paths(s1)] == [nh("10.0.0.1"), nh("10.0.0.2")]
    assert s1 == s2
    # A's own path is one of the two: it is handed the other one (slices of the same blob).
    assert [hop for _i, _p, hop in paths(a.take())] == [nh("10.0.0.2")]
    assert all(isinstance(x, memoryview) for x in a.chunks[-1])
    assert [hop for _i, _p, hop in paths(b.take())] == [nh("10.0.0.1")]
    assert c.take() == s1
    # B withdraws: B is not told to withdraw its own id, the others are; C's path enters
    # the two best, and everybody but C hears of it (B too: it is not B's).
    w.apply(b.source, update(withdraw=[SVC]))
    w.run()
    assert withdrawn(m1.take()) and withdrawn(a.take())
    got_b = b.take()
    assert withdrawn(got_b) == set()
    assert [hop for _i, _p, hop in paths(got_b)] == [nh("10.0.0.3")]
    got_c = c.take()
    assert withdrawn(got_c) and paths(got_c) == []
    assert w.out.sent_count(m1) == 2 and w.out.sent_count(a) == 1 and w.out.sent_count(c) == 1


def test_a_new_member_gets_every_path_then_end_of_rib() -> None:
    w = World(add_path_send=3)
    a, _b, _c = nodes(w)
    m = w.member("10.0.0.5")
    w.join(K, m)
    m.take()
    w.out.leave(a)
    late = w.member("10.0.0.7")
    w.join(K, late)
    d = decode_messages(late.take(), add_path_rx=AP)
    assert d.end_of_rib == [IPV4_UNICAST, IPV6_UNICAST]
    assert len(d.announced_keys[IPV4_UNICAST]) == 3
    # The source rejoining gets the others only.
    w.join(K, a)
    assert [hop for _i, _p, hop in paths(a.take())] == [nh("10.0.0.2"), nh("10.0.0.3")]


def test_only_add_path_groups_make_the_rib_report_candidates() -> None:
    w = World(add_path_send=2)
    best_only = w.member("10.0.0.4")
    w.join(key(), best_only)
    assert not w.rib.report_candidates
    m = w.member("10.0.0.5")
    w.join(K, m)
    assert w.rib.report_candidates
    _a, b, _c = nodes(w)
    w.run()
    best_only.take(), m.take()
    # A candidate change: the add-path member hears of it, the best-path member does not.
    w.apply(b.source, update([SVC], attrs(local_pref=200, med=1), next_hop="10.0.0.2"))
    w.run()
    assert m.take() and best_only.take() == []
    w.out.leave(m)
    assert not w.rib.report_candidates


def test_count_one_is_the_best_path_group_of_before() -> None:
    w = World(add_path_send=1)
    m = w.member("10.0.0.5")
    g = w.join(K, m)
    assert type(g) is UpdateGroup
    nodes(w)
    w.run()
    got = paths(m.take())
    assert [(pid, hop) for pid, _p, hop in got] == [(1, nh("10.0.0.1"))]


def test_rfc4456_rules_apply_per_path() -> None:
    # A non-client's path is not reflected to a non-client; the next best path is sent instead.
    w = World(add_path_send=2)
    nc = w.member("10.0.0.1", client=False)
    b, c = w.member("10.0.0.2"), w.member("10.0.0.3")
    for m, lp in ((nc, 300), (b, 200), (c, 100)):
        w.apply(m.source, update([SVC], attrs(local_pref=lp), next_hop=f"10.0.0.{m.key[-1]}"))
    other_rr = w.member("10.0.0.8", client=False)
    w.join(key(Role.NON_CLIENT, add_path_tx=AP), other_rr)
    assert [hop for _i, _p, hop in paths(other_rr.take())] == [nh("10.0.0.2"), nh("10.0.0.3")]


def test_export_filters_apply_per_path() -> None:
    w = World(add_path_send=2)
    _a, b, _c = nodes(w)
    # Node B's path is tagged 65000:1, which the member's export filter rejects.
    tagged = attrs(local_pref=200, communities=[(65000, 1)])
    w.apply(b.source, update([SVC], tagged, next_hop="10.0.0.2"))
    rule = FilterRule(action=FilterAction.REJECT, communities=((65000, 1),))
    chain = export_chain((RouteFilter("f", export_v4=(rule,)),))
    m = w.member("10.0.0.5")
    w.join(key(add_path_tx=AP, export_filter=chain), m)
    assert [hop for _i, _p, hop in paths(m.take())] == [nh("10.0.0.1"), nh("10.0.0.3")]


def test_no_export_prefixes_in_add_path_groups() -> None:
    w = World(add_path_send=2, no_export=("10.96.0.0/16",))
    nodes(w)
    m = w.member("10.0.0.5")
    w.join(K, m)
    assert paths(m.take()) == []
    w.apply(w.member("10.0.0.4").source, update([SVC], attrs(local_pref=500)))
    w.run()
    assert m.take() == []


def test_a_paused_member_is_resynced_by_path_id() -> None:
    w = World(add_path_send=2)
    a, b, c = nodes(w)
    slow, fast = w.member("10.0.0.5"), w.member("10.0.0.6")
    w.join(K, slow)
    w.join(K, fast)
    ids = {hop: pid for pid, _p, hop in paths(slow.take())}
    fast.take()
    g = w.out.groups[K]
    g.pause(slow)
    w.apply(b.source, update(withdraw=[SVC]))
    w.run()
    assert slow.take() == [] and fast.take()
    g.resume(slow)
    sent = slow.take()
    assert withdrawn(sent) == {(ids[nh("10.0.0.2")], pfx(SVC))}
    assert {hop for _i, _p, hop in paths(sent)} == {nh("10.0.0.1"), nh("10.0.0.3")}
    # A refresh while paused marks the family; the resync then re-sends it.
    g.pause(slow)
    assert w.out.refresh(slow, IPV4_UNICAST, True) is None
    g.resume(slow)
    assert {hop for _i, _p, hop in paths(slow.take())} == {nh("10.0.0.1"), nh("10.0.0.3")}
    del a, c


def test_a_family_without_add_path_is_sent_the_best_path_without_ids() -> None:
    w = World(add_path_send=2)
    v4_only = key(add_path_tx=frozenset({IPV4_UNICAST}))
    a, b = w.member("10.0.0.1"), w.member("10.0.0.2")
    m = w.member("10.0.0.5")
    for x in (a, b, m):
        w.join(v4_only, x)
        x.take()
    w.apply(a.source, update([SVC, "2001:db8::/64"], attrs(local_pref=300)))
    w.apply(b.source, update([SVC, "2001:db8::/64"], attrs(local_pref=200)))
    w.run()
    d = decode_messages(m.take(), add_path_rx=frozenset({IPV4_UNICAST}))
    assert len(d.announced_keys[IPV4_UNICAST]) == 2
    assert d.ann(IPV6_UNICAST) == {"2001:db8::/64"}
    # B held A's IPv6 route before its own...: the best-path rules of before, source withdrawals
    # included, hold for IPv6.
    d_b = decode_messages(b.take(), add_path_rx=frozenset({IPV4_UNICAST}))
    assert d_b.ann(IPV6_UNICAST) == {"2001:db8::/64"}
