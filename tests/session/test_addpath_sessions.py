"""ADD-PATH send (RFC 7911) over real sessions on a fake clock: the OPEN offers Send, a Calico
node that can receive is sent the N best paths of a service address that several nodes
announce (ECMP), each under its own path id, and withdrawals name the id; a node that cannot
receive ADD-PATH gets the best path as before."""

from __future__ import annotations

import random
from dataclasses import replace

from pyrr.bgp.constants import AddPathMode
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, split_path_id
from pyrr.speaker import Speaker

from ..rib.factories import attrs, pfx, update
from .harness import FAMS, Remote, World, updates_received

SVC = "10.96.0.10/32"
RX = tuple((f, AddPathMode.RECEIVE) for f in FAMS)


def world(**bgp: object) -> World:
    """The harness's world with other global settings (a speaker of its own)."""
    w = World()
    cfg = w.speaker.config
    w.speaker = Speaker(
        replace(cfg, bgp=replace(cfg.bgp, **bgp)),  # type: ignore[arg-type]
        w.now,
        w.flushes.append,
        random.Random(1),
    )
    return w


def service_paths(r: Remote) -> list[tuple[int, bytes]]:
    """(path id, next hop) of every announcement of SVC the remote decoded, in order."""
    out = []
    for upd in updates_received(r):
        for fam, hop, keys in upd.announced:
            for k in keys:
                if fam == IPV4_UNICAST and k[4:] == pfx(SVC):
                    out.append((split_path_id(k)[0], hop))
    return out


def service_withdrawals(r: Remote) -> list[int]:
    return [
        split_path_id(k)[0]
        for upd in updates_received(r)
        for fam, keys in upd.withdrawn
        for k in keys
        if fam == IPV4_UNICAST and k[4:] == pfx(SVC)
    ]


def test_ecmp_for_a_service_address_announced_by_several_nodes() -> None:
    w = world(add_path_send=2)
    nodes = [w.peer(f"10.0.0.{i}") for i in (1, 2, 3)]
    remotes = [w.up(n) for n in nodes]
    for r, lp in zip(remotes, (300, 200, 100), strict=True):
        w.send(r, update([SVC], attrs(local_pref=lp), next_hop=r.neighbor.key))
    ecmp = w.peer("10.0.0.5")
    plain = w.peer("10.0.0.6")
    r_ecmp = w.up(ecmp, add_path=RX)
    r_plain = w.up(plain)
    # The node that can receive ADD-PATH negotiated it from our OPEN (we send, it receives).
    assert r_ecmp.session.negotiated is not None
    assert r_ecmp.session.negotiated.add_path_rx == frozenset(FAMS)
    assert ecmp.negotiated is not None and ecmp.negotiated.add_path_tx == frozenset(FAMS)
    got = service_paths(r_ecmp)
    hops = [hop for _pid, hop in got]
    assert hops == [bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])]
    ids = {hop: pid for pid, hop in got}
    assert len(set(ids.values())) == 2
    # The other node: one path, no identifiers (its session has none).
    plain_updates = [u for u in updates_received(r_plain) if u.announced]
    assert [k for u in plain_updates for _f, _h, ks in u.announced for k in ks] == [pfx(SVC)]
    # Node 2 withdraws: withdrawn by its id, node 3's path takes its place under its own.
    r_ecmp.events.clear()
    w.send(remotes[1], update(withdraw=[SVC]))
    assert service_withdrawals(r_ecmp) == [ids[bytes([10, 0, 0, 2])]]
    after = service_paths(r_ecmp)
    assert [hop for _pid, hop in after] == [bytes([10, 0, 0, 3])]
    assert after[0][0] not in ids.values()
    # Node 1's attributes change: re-announced under the same id.
    r_ecmp.events.clear()
    w.send(remotes[0], update([SVC], attrs(local_pref=300, med=7), next_hop="10.0.0.1"))
    assert service_paths(r_ecmp) == [(ids[bytes([10, 0, 0, 1])], bytes([10, 0, 0, 1]))]
    assert service_withdrawals(r_ecmp) == []


def test_best_path_only_is_the_open_and_the_updates_of_before() -> None:
    w = world()
    a = w.up(w.peer("10.0.0.1"))
    b = w.up(w.peer("10.0.0.2"), add_path=RX)
    assert b.session.negotiated is not None and b.session.negotiated.add_path_rx == frozenset()
    w.send(a, update([SVC, "2001:db8::/64"]))
    got = [u for u in updates_received(b) if u.announced]
    fams = {f for u in got for f, _h, _k in u.announced}
    assert fams == {IPV4_UNICAST, IPV6_UNICAST}
    assert not w.speaker.rib.report_candidates
