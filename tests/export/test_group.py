"""Update groups: one encoding per change, shared bytes, the source's own routes kept from it,
coalescing until flush, initial table + End-of-RIB on join, RFC 4456 export by group role."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pyrr.bgp.constants import MAX_MESSAGE_LEN, AttrCode
from pyrr.bgp.encode import end_of_rib, pack_announce
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family
from pyrr.export.group import UpdateGroup
from pyrr.export.policy import Role, may_export
from pyrr.export.rewrite import ibgp_attrs

from ..rib.factories import (
    LOCAL_AS,
    SEQ,
    FakeMember,
    attrs,
    decode_messages,
    ip_int,
    nh,
    pfx,
    source,
    update,
)
from .helpers import CLUSTER_ID, FAMS, World, key

EORS = [end_of_rib(f) for f in FAMS]


def test_join_of_an_empty_table_sends_end_of_rib_per_family() -> None:
    w = World()
    m = w.member("10.0.0.1")
    g = w.join(key(), m)
    assert m.batches == [EORS]
    assert w.out.groups == {key(): g}
    assert decode_messages(m.messages).end_of_rib == list(FAMS)


def test_a_change_is_encoded_once_and_shared() -> None:
    w = World()
    members = [w.member(f"10.0.0.{i}") for i in (1, 2, 3)]
    origin = w.member("10.0.0.9", router_id="9.9.9.9")
    for m in [*members, origin]:
        w.join(key(), m)
        m.take()
    g = w.out.groups[key()]
    w.apply(
        origin.source,
        update(["10.1.0.0/24", "10.2.0.0/24", "2001:db8::/48"], attrs(med=7), next_hop="10.0.0.99"),
    )
    # Not sent before the flush; exactly one flush scheduled for any number of changes.
    assert all(not m.batches for m in members)
    w.apply(origin.source, update(["10.3.0.0/24"], attrs(med=7), next_hop="10.0.0.99"))
    assert w.run() == 1
    # One write per member, and it is the very same bytes object for all of them.
    written = [m.chunks[-1] for m in members]
    assert all(len(c) == 1 for c in written)
    assert all(c[0] is written[0][0] for c in written)
    sent = [m.take() for m in members]
    first = sent[0]
    for other in sent[1:]:
        assert other == first
    assert g.updates_sent == len(first)
    # The source gets nothing: every change was its own route.
    assert origin.batches == []
    d = decode_messages(first)
    assert d.ann(IPV4_UNICAST) == {"10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24"}
    assert d.ann(IPV6_UNICAST) == {"2001:db8::/48"}
    # One message per family (all four prefixes share one path per family).
    assert len(first) == 2
    # Reflected: next hop unchanged, ORIGINATOR_ID = source's router id, our CLUSTER_LIST.
    assert nh("10.0.0.99") in d.next_hops
    for a in d.attrs:
        assert a.originator_id == ip_int("9.9.9.9")
        assert a.cluster_list == (CLUSTER_ID,)
        assert a.med == 7 and a.local_pref == 100
    assert d.attrs[0] == ibgp_attrs(w.best("10.1.0.0/24"), CLUSTER_ID)


def test_a_withdrawal_is_shared_too() -> None:
    w = World()
    a, b, c = (w.member(f"10.0.0.{i}") for i in (1, 2, 3))
    for m in (a, b, c):
        w.join(key(), m)
    w.apply(a.source, update(["10.1.0.0/24"]))
    w.run()
    for m in (a, b, c):
        m.take()
    w.apply(a.source, update(withdraw=["10.1.0.0/24"]))
    w.run()
    mb, mc = b.take(), c.take()
    assert len(mb) == 1 and mb[0] is mc[0]
    assert decode_messages(mb).wd() == {"10.1.0.0/24"}


def test_a_withdrawn_run_is_queued_whole_sent_once_and_counted() -> None:
    """Withdrawals that reach a group as runs (the speaker's path for a withdrawn table) are
    kept as the run's list until the flush, withdrawn in shared messages, and uncounted."""
    w = World()
    a, b, c = (w.member(f"10.0.0.{i}") for i in (1, 2, 3))
    for m in (a, b, c):
        w.join(key(), m)
    table = [f"10.{i}.{j}.0/24" for i in range(1, 3) for j in range(200)]
    w.apply(a.source, update(table[:200]))
    w.apply(a.source, update(table[200:], attrs(med=3)))
    w.run()
    for m in (a, b, c):
        m.take()
    g = w.out.groups[key()]
    assert g.sent_total[IPV4_UNICAST] == 400 and g.sent_by_source[IPV4_UNICAST][a.key] == 400
    w.apply(a.source, update(withdraw=table[100:300]))
    assert [len(run) for _path, run in g.gone[IPV4_UNICAST]] == [100, 100]
    assert not g.pending[IPV4_UNICAST]
    w.run()
    assert g.gone == {}
    mb, mc = b.take(), c.take()
    assert mb and all(x is y for x, y in zip(mb, mc, strict=True))
    assert decode_messages(mb).wd() == set(table[100:300]) and decode_messages(mb).ann() == set()
    assert g.sent_total[IPV4_UNICAST] == 200 and g.sent_by_source[IPV4_UNICAST][a.key] == 200


def test_changes_after_a_run_in_one_turn_are_coalesced_with_it() -> None:
    """A prefix withdrawn in a run and announced again before the flush is sent once, in its
    final state; the rest of the run is still withdrawn."""
    w = World()
    a, b = w.member("10.0.0.1"), w.member("10.0.0.2")
    for m in (a, b):
        w.join(key(), m)
    w.apply(a.source, update(["10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24"]))
    w.run()
    b.take()
    g = w.out.groups[key()]
    w.apply(a.source, update(withdraw=["10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24"]))
    assert g.gone
    w.apply(a.source, update(["10.2.0.0/24"], attrs(med=9)))
    assert g.gone == {}  # the run became queued changes, coalesced with the new one
    w.run()
    d = decode_messages(b.take())
    assert d.wd() == {"10.1.0.0/24", "10.3.0.0/24"} and d.ann() == {"10.2.0.0/24"}
    assert [x.med for x in d.attrs] == [9]
    assert g.sent_total[IPV4_UNICAST] == 1


def test_a_run_for_a_paused_member_is_resynced() -> None:
    w = World()
    slow, fast, origin = w.member("10.0.0.1"), w.member("10.0.0.2"), w.member("10.0.0.9")
    for m in (slow, fast, origin):
        w.join(key(), m)
    w.apply(origin.source, update(["10.1.0.0/24", "10.2.0.0/24"]))
    w.run()
    slow.take()
    fast.take()
    g = w.out.groups[key()]
    g.pause(slow)
    w.apply(origin.source, update(withdraw=["10.1.0.0/24", "10.2.0.0/24"]))
    w.run()
    assert slow.take() == [] and decode_messages(fast.take()).wd() == {"10.1.0.0/24", "10.2.0.0/24"}
    assert g.paused[slow.key][IPV4_UNICAST] == {pfx("10.1.0.0/24"), pfx("10.2.0.0/24")}
    g.resume(slow)
    assert decode_messages(slow.take()).wd() == {"10.1.0.0/24", "10.2.0.0/24"}


def test_a_run_of_no_export_prefixes_withdraws_only_what_was_sent() -> None:
    """Calico's disableBGPExport: a withdrawn run with prefixes never sent withdraws the
    others only."""
    w = World(no_export=("10.9.0.0/16",))
    a, b = w.member("10.0.0.1"), w.member("10.0.0.2")
    for m in (a, b):
        w.join(key(), m)
    w.apply(a.source, update(["10.1.0.0/24", "10.9.1.0/24", "10.2.0.0/24"]))
    w.run()
    assert decode_messages(b.take()).ann() == {"10.1.0.0/24", "10.2.0.0/24"}
    w.apply(a.source, update(withdraw=["10.1.0.0/24", "10.9.1.0/24", "10.2.0.0/24"]))
    w.run()
    assert decode_messages(b.take()).wd() == {"10.1.0.0/24", "10.2.0.0/24"}
    assert w.out.groups[key()].sent_total[IPV4_UNICAST] == 0


def test_the_source_never_gets_its_own_route() -> None:
    w = World()
    a, b = w.member("10.0.0.1"), w.member("10.0.0.2")
    w.join(key(), a)
    w.join(key(), b)
    a.take()
    b.take()
    w.apply(a.source, update(["10.1.0.0/24"]))
    w.apply(b.source, update(["10.2.0.0/24"]))
    w.run()
    assert decode_messages(a.take()).ann() == {"10.2.0.0/24"}
    assert decode_messages(b.take()).ann() == {"10.1.0.0/24"}
    # Nor on a (re-)join.
    w.out.leave(a)
    w.join(key(), a)
    d = decode_messages(a.take())
    assert d.ann() == {"10.2.0.0/24"} and d.end_of_rib == list(FAMS)


def test_best_path_moving_between_sources() -> None:
    w = World()
    a, b, c = w.member("10.0.0.1"), w.member("10.0.0.2"), w.member("10.0.0.3")
    for m in (a, b, c):
        w.join(key(), m)
        m.take()
    x = "10.1.0.0/24"
    w.apply(a.source, update([x], attrs(local_pref=100)))
    w.run()
    assert decode_messages(b.take()).ann() == {x}
    assert decode_messages(c.take()).ann() == {x}
    assert a.take() == []
    # B's better path: B had A's route, so B gets a withdrawal; A and C get B's route.
    w.apply(b.source, update([x], attrs(local_pref=200), next_hop="10.0.0.2"))
    w.run()
    to_a, to_b, to_c = a.take(), b.take(), c.take()
    db = decode_messages(to_b)
    assert db.wd() == {x} and db.ann() == set()
    da = decode_messages(to_a)
    assert da.ann() == {x} and da.wd() == set()
    assert da.attrs[0].local_pref == 200 and da.attrs[0].originator_id == ip_int("10.0.0.2")
    assert da.next_hops == {nh("10.0.0.2")}
    assert len(to_a) == len(to_c) == 1 and to_a[0] is to_c[0]
    # And back to A (B withdraws): B gets A's route, A gets a withdrawal.
    w.apply(b.source, update(withdraw=[x]))
    w.run()
    assert decode_messages(b.take()).ann() == {x}
    assert decode_messages(a.take()).wd() == {x}
    dc = decode_messages(c.take())
    assert dc.ann() == {x} and dc.attrs[0].originator_id == ip_int("10.0.0.1")


def test_a_prefix_changed_twice_before_flush_is_sent_once_in_its_final_state() -> None:
    w = World()
    a, b = w.member("10.0.0.1"), w.member("10.0.0.2")
    w.join(key(), a)
    w.join(key(), b)
    b.take()
    x, y = "10.1.0.0/24", "10.2.0.0/24"
    w.apply(a.source, update([x], attrs(med=1)))
    w.apply(a.source, update([x], attrs(med=2)))
    w.apply(a.source, update([x], attrs(med=3)))
    # Announced and withdrawn within one turn: nothing at all.
    w.apply(a.source, update([y]))
    w.apply(a.source, update(withdraw=[y]))
    assert w.run() == 1
    sent = b.take()
    assert len(sent) == 1
    d = decode_messages(sent)
    assert d.ann() == {x} and d.wd() == set()
    assert [at.med for at in d.attrs] == [3]
    # Withdrawn and re-announced within one turn: no withdrawal goes out, only the final
    # state (the Path was re-interned as a new object, so the group re-sends it once).
    w.apply(a.source, update(withdraw=[x]))
    w.apply(a.source, update([x], attrs(med=4)))
    w.run()
    d = decode_messages(b.take())
    assert d.wd() == set() and d.ann() == {x} and [at.med for at in d.attrs] == [4]


def test_join_sends_the_whole_table_minus_own_routes_then_end_of_rib() -> None:
    w = World()
    a, b = w.member("10.0.0.1"), w.member("10.0.0.2")
    w.join(key(), a)
    table = {f"10.{1 + i // 256}.{i % 256}.0/24" for i in range(300)}
    w.apply(a.source, update([*sorted(table), "2001:db8:a::/48"]))
    w.run()
    newcomer = w.member("10.0.0.3")
    w.apply(newcomer.source, update(["10.3.0.0/24", "2001:db8:3::/48"], attrs(med=1)))
    # Pending work is flushed to existing members before the newcomer gets its table.
    w.join(key(), b)
    w.join(key(), newcomer)
    got = newcomer.take()
    d = decode_messages(got)
    assert d.ann(IPV4_UNICAST) == table
    assert d.ann(IPV6_UNICAST) == {"2001:db8:a::/48"}
    assert got[-2:] == EORS
    assert d.end_of_rib == list(FAMS)
    db = decode_messages(b.take())
    assert db.ann(IPV4_UNICAST) == table | {"10.3.0.0/24"}
    assert decode_messages(a.take()).ann(IPV6_UNICAST) == {"2001:db8:3::/48"}
    w.run()
    assert b.take() == [] and newcomer.take() == []


def test_joining_members_share_one_packed_table_until_it_changes() -> None:
    """An RR restart brings every client back at once: the table is packed once and shared
    (the same bytes object; slices of it around a member's own routes), and a change makes
    the next joiner get a table with the change."""
    w = World()
    a = w.member("10.0.0.1")
    w.join(key(), a)
    w.apply(a.source, update([f"10.1.{i}.0/24" for i in range(50)]))
    w.run()
    others = [w.member(f"10.0.0.{i}") for i in (2, 3)]
    for m in others:
        w.join(key(), m)
    first, second = (m.chunks[-1] for m in others)
    assert first[0] is second[0]  # one object for both: packed once
    table = first[0]
    assert decode_messages(others[0].take()).ann() == {f"10.1.{i}.0/24" for i in range(50)}
    # The source rejoins (a session reset without loss): slices of the same object, all of it
    # except its own routes, which here is everything: only End-of-RIB.
    w.out.leave(a)
    a.take()
    w.join(key(), a)
    assert a.take() == EORS
    # Another source's route: the member with routes gets the shared table around its own.
    c = w.member("10.0.0.4")
    w.apply(c.source, update(["10.4.0.0/24"]))
    w.run()
    for m in (*others, a):
        m.take()
    w.join(key(), c)
    *slices, eor4, eor6 = c.chunks[-1]
    assert [eor4, eor6] == EORS and slices
    assert all(isinstance(x, memoryview) for x in slices)
    assert len({id(x.obj) for x in slices if isinstance(x, memoryview)}) == 1
    assert decode_messages(c.take()).ann() == {f"10.1.{i}.0/24" for i in range(50)}
    d = w.member("10.0.0.5")
    w.join(key(), d)
    assert d.chunks[-1][0] is not table  # repacked after the change
    assert decode_messages(d.take()).ann() == {f"10.1.{i}.0/24" for i in range(50)} | {
        "10.4.0.0/24"
    }


def test_new_group_starts_from_the_loc_rib() -> None:
    w = World()
    a = w.member("10.0.0.1")
    # Routes learned while no group exists: no work queued, nothing scheduled.
    w.apply(a.source, update(["10.1.0.0/24"]))
    assert w.scheduled == []
    b = w.member("10.0.0.2")
    w.join(key(), b)
    d = decode_messages(b.take())
    assert d.ann() == {"10.1.0.0/24"} and d.end_of_rib == list(FAMS)


def test_leave_of_the_last_member_removes_the_group() -> None:
    w = World()
    a, b = w.member("10.0.0.1"), w.member("10.0.0.2")
    w.join(key(), a)
    w.join(key(), b)
    w.out.leave(a)
    assert key() in w.out.groups
    assert set(w.out.groups[key()].members) == {"10.0.0.2"}
    w.out.leave(b)
    assert w.out.groups == {}
    w.out.leave(b)  # harmless
    # Changes with no group: nothing scheduled, nothing written.
    w.apply(a.source, update(["10.1.0.0/24"]))
    assert w.scheduled == []
    assert b.take() == [EORS[0], EORS[1]]


def test_a_departed_member_gets_nothing_more() -> None:
    w = World()
    a, b = w.member("10.0.0.1"), w.member("10.0.0.2")
    w.join(key(), a)
    w.join(key(), b)
    b.take()
    w.out.leave(b)
    w.apply(a.source, update(["10.1.0.0/24"]))
    w.run()
    assert b.take() == []


def test_non_client_group_gets_no_non_client_routes() -> None:
    # RFC 4456 §8: a route from a non-client is reflected to clients only.
    w = World()
    nc1 = w.member("10.0.1.1", client=False)
    nc2 = w.member("10.0.1.2", client=False)
    cl = w.member("10.0.0.1")
    ext = source("192.0.2.1", asn=65001)
    w.join(key(Role.NON_CLIENT), nc1)
    w.join(key(Role.NON_CLIENT), nc2)
    w.join(key(Role.CLIENT), cl)
    for m in (nc1, nc2, cl):
        m.take()
    w.apply(nc1.source, update(["10.1.0.0/24"]))
    w.apply(cl.source, update(["10.2.0.0/24"]))
    w.apply(ext, update(["10.3.0.0/24"], attrs(local_pref=None, as_path=[65001])))
    w.run()
    assert decode_messages(nc2.take()).ann() == {"10.2.0.0/24", "10.3.0.0/24"}
    assert decode_messages(nc1.take()).ann() == {"10.2.0.0/24", "10.3.0.0/24"}
    assert decode_messages(cl.take()).ann() == {"10.1.0.0/24", "10.3.0.0/24"}
    # The best path for a prefix moving from a client to a non-client: the non-client group
    # must withdraw it (it may not have the new best), clients get the new one.
    w.apply(nc1.source, update(["10.2.0.0/24"], attrs(local_pref=500)))
    w.run()
    assert decode_messages(nc2.take()).wd() == {"10.2.0.0/24"}
    dc = decode_messages(cl.take())
    assert dc.ann() == {"10.2.0.0/24"} and dc.attrs[0].local_pref == 500
    # A joining non-client does not see non-client routes in its initial table either.
    nc3 = w.member("10.0.1.3", client=False)
    w.join(key(Role.NON_CLIENT), nc3)
    assert decode_messages(nc3.take()).ann() == {"10.3.0.0/24"}


def test_ebgp_group_encoding() -> None:
    w = World()
    cl = w.member("10.0.0.1")
    ext = FakeMember(source("192.0.2.1", asn=65001))
    self_nh = nh("192.0.2.254")
    k = key(
        Role.EBGP,
        ebgp_peer="192.0.2.1",
        local_as=LOCAL_AS,
        next_hop_self=((IPV4_UNICAST, self_nh),),
    )
    w.join(k, ext)
    ext.take()
    w.apply(
        cl.source,
        update(["10.1.0.0/24"], attrs(local_pref=300, med=4, as_path=[65010]), next_hop="10.0.0.1"),
    )
    w.run()
    d = decode_messages(ext.take())
    assert d.ann() == {"10.1.0.0/24"}
    assert d.next_hops == {self_nh}
    (a,) = d.attrs
    assert a.as_path == ((SEQ, (LOCAL_AS, 65010)),)
    assert a.local_pref is None and a.med is None
    assert a.originator_id is None and a.cluster_list == ()


def test_add_path_tx_group_sends_path_id_one() -> None:
    w = World()
    a = w.member("10.0.0.1")
    b = w.member("10.0.0.2")
    k = key(add_path_tx=frozenset({IPV4_UNICAST}))
    w.join(k, b)
    b.take()
    w.apply(a.source, update(["10.1.0.0/24", "2001:db8::/48"]))
    w.run()
    d = decode_messages(b.take(), add_path_rx=frozenset({IPV4_UNICAST}))
    assert d.announced_keys[IPV4_UNICAST] == [b"\0\0\0\1" + pfx("10.1.0.0/24")]
    assert d.announced_keys[IPV6_UNICAST] == [pfx("2001:db8::/48")]


def test_group_packing_is_dense() -> None:
    w = World()
    a, b = w.member("10.0.0.1"), w.member("10.0.0.2")
    w.join(key(), b)
    b.take()
    prefixes = [f"10.{i // 256}.{i % 256}.0/24" for i in range(5000)]
    w.apply(a.source, update(prefixes))
    w.run()
    sent = b.take()
    p = w.best(prefixes[0])
    expect = pack_announce(
        IPV4_UNICAST,
        ibgp_attrs(p, CLUSTER_ID).wire,
        p.next_hop,
        [pfx(x) for x in prefixes],
        MAX_MESSAGE_LEN,
    )
    assert sent == expect
    assert all(len(m) <= MAX_MESSAGE_LEN for m in sent)
    w.apply(a.source, update(withdraw=prefixes))
    w.run()
    wd = b.take()
    assert decode_messages(wd).wd() == set(prefixes)
    assert len(wd) == -(-5000 * 4 // (MAX_MESSAGE_LEN - 23))


def test_member_specific_filtering_keeps_other_sources_messages() -> None:
    # One flush carrying several sources' routes: each source is cut out of its own only.
    w = World()
    ms = [w.member(f"10.0.0.{i}") for i in range(1, 5)]
    for m in ms:
        w.join(key(), m)
        m.take()
    for i, m in enumerate(ms, start=1):
        w.apply(m.source, update([f"10.{i}.0.0/16"]))
    w.run()
    every = {f"10.{i}.0.0/16" for i in range(1, 5)}
    for i, m in enumerate(ms, start=1):
        d = decode_messages(m.take())
        assert d.ann() == every - {f"10.{i}.0.0/16"}
        assert not any(
            a.get(AttrCode.ORIGINATOR_ID) == m.source.router_id.to_bytes(4, "big") for a in d.attrs
        )


def test_updategroup_queue_ignores_families_outside_the_key() -> None:
    w = World()
    a = w.member("10.0.0.1")
    b = w.member("10.0.0.2")
    k = key(families=(IPV4_UNICAST,))
    g: UpdateGroup = w.join(k, b)
    assert b.take() == [EORS[0]]
    w.apply(a.source, update(["10.1.0.0/24", "2001:db8::/48"]))
    w.run()
    assert decode_messages(b.take()).announced == {IPV4_UNICAST: ["10.1.0.0/24"]}
    assert set(g.pending) == set(g.sent_total) == {IPV4_UNICAST}


# -- model check: what every member ends up holding ------------------------------------------

_PFX = ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "2001:db8::/48", "2001:db8:1::/48"]
_LP = [None, 50, 100, 200]


def member_view(messages: list[bytes]) -> dict[tuple[Family, bytes], tuple[bytes, bytes]]:
    """Apply a member's received UPDATEs in order: prefix -> (next hop, attribute wire)."""
    view: dict[tuple[Family, bytes], tuple[bytes, bytes]] = {}
    for upd in decode_messages(messages).updates:
        for fam, keys in upd.withdrawn:
            for k in keys:
                view.pop((fam, k), None)
        for fam, hop, keys in upd.announced:
            assert upd.attrs is not None
            for k in keys:
                view[(fam, k)] = (hop, upd.attrs.wire)
    return view


def expected_view(
    w: World, m: FakeMember, role: Role
) -> dict[tuple[Family, bytes], tuple[bytes, bytes]]:
    out = {}
    for fam in FAMS:
        for prefix, best in w.rib.best_routes(fam):
            if best.source is m.source or not may_export(best, role):
                continue
            out[(fam, prefix)] = (best.next_hop, ibgp_attrs(best, CLUSTER_ID).wire)
    return out


_gop = st.one_of(
    st.tuples(
        st.just("ann"),
        st.integers(0, 3),
        st.sets(st.sampled_from(_PFX), min_size=1),
        st.sampled_from(_LP),
    ),
    st.tuples(
        st.just("wd"), st.integers(0, 3), st.sets(st.sampled_from(_PFX), min_size=1), st.just(None)
    ),
    st.tuples(st.just("flush"), st.just(0), st.just(frozenset[str]()), st.just(None)),
    st.tuples(st.just("rejoin"), st.integers(0, 2), st.just(frozenset[str]()), st.just(None)),
)


_RUN_THEN_CHANGES = [
    ("ann", 0, frozenset(_PFX[:3]), 100),
    ("flush", 0, frozenset[str](), None),
    ("wd", 0, frozenset(_PFX[:3]), None),
    ("ann", 1, frozenset(_PFX[1:2]), 50),
    ("wd", 1, frozenset(_PFX[1:2]), None),
]


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(_gop, max_size=30), runs=st.booleans())
@example(ops=_RUN_THEN_CHANGES, runs=True)
@example(ops=[*_RUN_THEN_CHANGES[:3], ("flush", 0, frozenset(), None)], runs=True)
def test_members_converge_to_the_exported_best_paths(
    ops: list[tuple[str, int, frozenset[str], int | None]], runs: bool
) -> None:
    """Whatever the sequence, and whether withdrawals reach the groups as runs or as changes
    (`runs`), every member ends up holding the exported best paths, and the group's counts
    say how many it holds."""
    w = World()
    members = [
        w.member("10.0.0.1"),
        w.member("10.0.0.2"),
        w.member("10.0.1.1", client=False),
        w.member("10.0.1.2", client=False),
    ]
    roles = [Role.CLIENT, Role.CLIENT, Role.NON_CLIENT, Role.NON_CLIENT]
    ext = source("192.0.2.1", asn=65001)
    srcs = [members[0].source, members[2].source, ext, members[1].source]
    received: list[list[bytes]] = [[] for _ in members]

    def collect() -> None:
        for i, m in enumerate(members):
            received[i] += m.take()

    for i, m in enumerate(members):
        w.join(key(roles[i]), m)
    for op, si, prefixes, lp in ops:
        s = srcs[si]
        if op == "ann":
            a = attrs(local_pref=None, as_path=[65001]) if s is ext else attrs(local_pref=lp)
            w.apply(s, update(sorted(prefixes), a), runs=runs)
        elif op == "wd":
            w.apply(s, update(withdraw=sorted(prefixes)), runs=runs)
        elif op == "flush":
            w.run()
        else:
            # A session reset without routes lost: leave, then join again with a fresh table.
            collect()
            w.out.leave(members[si])
            members[si].take()
            received[si] = []
            w.join(key(roles[si]), members[si])
        collect()
    w.run()
    collect()
    for i, m in enumerate(members):
        want = expected_view(w, m, roles[i])
        assert member_view(received[i]) == want, m
        g = w.out.groups[key(roles[i])]
        # A member is counted the group's routes less its own source's.
        held = sum(g.sent_total.values()) - sum(c[m.source.key] for c in g.sent_by_source.values())
        assert held == len(want), m


def test_a_paused_member_leaves_the_stream_and_is_resynced_exactly() -> None:
    """A slow member gets nothing while paused (the others are not held back), and on resume
    exactly what changed meanwhile: new and changed routes announced, removed ones withdrawn."""
    w = World()
    slow, fast, origin = w.member("10.0.0.1"), w.member("10.0.0.2"), w.member("10.0.0.9")
    for m in (slow, fast, origin):
        w.join(key(), m)
        m.take()
    w.apply(origin.source, update(["10.1.0.0/24", "10.2.0.0/24"], attrs(), next_hop="10.0.0.99"))
    w.run()
    slow.take()
    fast.take()
    g = w.out.groups[key()]
    g.pause(slow)
    w.apply(origin.source, update(["10.3.0.0/24"], attrs(), next_hop="10.0.0.99"))
    w.apply(origin.source, update([], withdraw=["10.1.0.0/24"]))
    w.apply(origin.source, update(["10.2.0.0/24"], attrs(med=5), next_hop="10.0.0.99"))
    w.run()
    assert slow.take() == []
    d_fast = decode_messages(fast.take())
    assert d_fast.ann(IPV4_UNICAST) == {"10.2.0.0/24", "10.3.0.0/24"}
    assert g.paused[slow.source.key][IPV4_UNICAST] == {
        pfx(p) for p in ("10.1.0.0/24", "10.2.0.0/24", "10.3.0.0/24")
    }
    g.resume(slow)
    d = decode_messages(slow.take())
    assert d.ann(IPV4_UNICAST) == {"10.2.0.0/24", "10.3.0.0/24"}
    assert d.wd(IPV4_UNICAST) == {"10.1.0.0/24"}
    assert all(a.med == 5 for a in d.attrs if a.get(AttrCode.MULTI_EXIT_DISC) is not None)
    assert slow.source.key not in g.paused
    # Back in the shared stream.
    w.apply(origin.source, update(["10.4.0.0/24"], attrs(), next_hop="10.0.0.99"))
    w.run()
    assert decode_messages(slow.take()).ann(IPV4_UNICAST) == {"10.4.0.0/24"}
