"""Two pyrr instances as one RR cluster over a three-member etcd cluster (calico issue #1887).

    rr      198.18.0.104 / 2001:db8::104   rr1: pyrr, CLUSTER_ID=1.0.0.1, PYRR_RR_CLUSTER=true
            198.18.0.105 / 2001:db8::105   rr2: the same, its own addresses
            127.0.0.1 (the namespace's)    etcd0..etcd2, one cluster, TLS client certificates
    master, node1, node2 (and node3)       calico-node, a global BGPPeer for each RR address

Tests, in order, on one lab:

1. the instances find each other through their registrations and peer as non-clients; every
   node converges through both;
2. the etcd member rr1 talks to is stopped: rr1 fails over without re-listing, no session
   moves, and a node added afterwards comes up on both reflectors;
3. the member rr1 talks to hangs (SIGSTOP) while a change is made and the revision rr1 would
   resume from is compacted: rr1 re-lists and applies the change;
4. rr1 is killed (SIGKILL): every node keeps every route through rr2, and rr1's lease runs
   out, so rr2 drops it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pyrr.store.calico.model import RR_V4_PREFIX, RR_V6_PREFIX
from pyrr.store.calico.source import REGISTRATION_TTL
from tests.etcd.server import TlsFiles

from .conftest import require_lab
from .lab import (
    FAMILIES,
    RR2_4,
    RR2_6,
    RR4,
    RR6,
    CalicoLab,
    NetnsEtcd,
    Node,
    Pyrr,
    Watch,
    calico_env,
    calico_lab,
)
from .resources import node_key

pytestmark = [pytest.mark.lab, pytest.mark.timeout(240)]

CLUSTER_ID = "1.0.0.1"
RRS = (RR4, RR6, RR2_4, RR2_6)


class Cluster:
    def __init__(self, cl: CalicoLab, rr1: Pyrr, rr2: Pyrr, nodes: list[Node]) -> None:
        self.cl = cl
        self.rr1 = rr1
        self.rr2 = rr2
        self.active = nodes

    def member(self, url: str) -> NetnsEtcd:
        return next(m for m in self.cl.etcd if m.url == url)


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tls_files: TlsFiles) -> Iterator[Cluster]:
    require_lab()
    with calico_lab(request, tls_files, rr_peers=RRS) as cl:
        cl.add_rr_address(RR2_4, RR2_6)
        members = cl.start_etcd(3)
        urls = [m.url for m in members]
        cl.write_seed(rr_addresses=RRS)
        nodes = [
            cl.add_node(host, n, i)
            for host, n, i in (("master", 101, 1), ("node1", 102, 2), ("node2", 103, 3))
        ]
        for nd in nodes:
            cl.register_node(nd)
        extra = {"CLUSTER_ID": CLUSTER_ID, "PYRR_RR_CLUSTER": "true"}
        rr1 = cl.start_pyrr("rr1", calico_env(RR4, RR6, urls, tls_files, **extra))
        rr2 = cl.start_pyrr("rr2", calico_env(RR2_4, RR2_6, urls, tls_files, **extra))
        yield Cluster(cl, rr1, rr2, nodes)


def test_instances_find_each_other_and_peer_as_non_clients(cluster: Cluster) -> None:
    cl, rr1, rr2 = cluster.cl, cluster.rr1, cluster.rr2
    cl.wait_converged(cluster.active, timeout=45)
    for me, other in ((rr1, (RR2_4, RR2_6)), (rr2, (RR4, RR6))):

        def other_up(me: Pyrr = me, other: tuple[str, str] = other) -> bool:
            return all(me.peers().get(a, {}).get("up") for a in other)

        me.wait("the other instance up", other_up)
        peers = me.peers()
        assert {a: peers[a]["type"] for a in other} == dict.fromkeys(other, "rr")
        nodes = {a for nd in cluster.active for a in (nd.ip4, nd.ip6)}
        assert {a for a, p in peers.items() if p["type"] == "global"} == nodes
        assert me.status()["cluster_id"] == CLUSTER_ID
    # Each node has every other node's blocks from both reflectors, reflected once.
    for nd in cluster.active:
        for fam in FAMILIES:
            for route in nd.bird.routes(fam):
                if route.is_bgp:
                    assert route.cluster_list == [CLUSTER_ID], route
                    assert route.from_addr in RRS, route
    keys = cl.any_etcd().ctl("get", "/calico/bgp/v1/", "--prefix", "--keys-only").split()
    assert sorted(keys) == sorted(
        [RR_V4_PREFIX + RR4, RR_V4_PREFIX + RR2_4, RR_V6_PREFIX + RR6, RR_V6_PREFIX + RR2_6]
    )
    assert "none" not in cl.snapshot(cluster.active).values()


def test_etcd_member_lost_fails_over_without_relisting(cluster: Cluster) -> None:
    cl, rr1, rr2 = cluster.cl, cluster.rr1, cluster.rr2
    talked_to = cluster.member(rr1.etcd_endpoint())
    snapshots = len(rr1.events("datastore snapshot"))
    failovers = len(rr1.events("etcd failed over; watches resumed"))
    before = cl.snapshot(cluster.active)
    watch = Watch(cl, cluster.active)
    talked_to.stop()
    rr1.wait(
        "the failover",
        lambda: len(rr1.events("etcd failed over; watches resumed")) > failovers,
        timeout=15,
    )
    assert rr1.etcd_endpoint() != talked_to.url
    # A later change is applied, by both reflectors.
    n3 = cl.add_node("node3", 106, 4)
    t0 = time.monotonic()
    cl.any_etcd(exclude=[talked_to.url]).put(node_key(n3.name), n3.resource())
    for rr in (rr1, rr2):

        def known(rr: Pyrr = rr) -> bool:
            return {n3.ip4, n3.ip6} <= set(rr.peers())

        rr.wait(f"node3 on {rr.name}", known)
    assert time.monotonic() - t0 < 2.0
    cluster.active = [*cluster.active, n3]
    watch.until("node3 to converge", lambda: not cl.converged(cluster.active))
    assert len(rr1.events("datastore snapshot")) == snapshots, "a failover must not re-list"
    assert not watch.lost and not watch.withdrawn()
    assert cl.snapshot(cluster.active[:-1]) == before
    assert not rr1.events("etcd status") or all(
        not e["status"].startswith("disconnected") for e in rr1.events("etcd status")
    ), "losing one member of three is not an outage"
    talked_to.start()  # back to three members for the next test


def test_compacted_revision_is_relisted(cluster: Cluster) -> None:
    cl, rr1, rr2 = cluster.cl, cluster.rr1, cluster.rr2
    n3 = cl.nodes["k8s-node3"]
    hung = cluster.member(rr1.etcd_endpoint())
    writer = cl.any_etcd(exclude=[hung.url])
    snapshots = len(rr1.events("datastore snapshot"))
    stay = [nd for nd in cluster.active if nd is not n3]
    before = cl.snapshot(stay)
    watch = Watch(cl, stay)
    hung.pause()
    try:
        # The change rr1 cannot see from the hung member, then history compacted past it.
        writer.delete(node_key(n3.name))
        writer.compact(writer.put("/pyrr-test/after", "x"))
        rr1.wait(
            "a re-list after the compaction",
            lambda: (
                rr1.events("etcd watch revision compacted; listing again")
                and len(rr1.events("datastore snapshot")) > snapshots
            ),
            timeout=20,
        )
        for rr in (rr1, rr2):

            def gone(rr: Pyrr = rr) -> bool:
                return n3.ip4 not in rr.peers()

            rr.wait(f"node3 gone from {rr.name}", gone)
    finally:
        hung.resume()
    cluster.active = stay
    watch.until(
        "node3's routes withdrawn",
        lambda: not cl.converged(stay),
    )
    assert not watch.lost
    # node3's block withdrawn once per reflector on each session of each family.
    assert watch.withdrawn() == {f"{nd.name}/{fam}": 2 for nd in stay for fam in FAMILIES}
    assert cl.snapshot(stay) == before
    n3.bird.stop()


def test_killed_instance_clients_keep_every_route(cluster: Cluster) -> None:
    cl, rr1, rr2 = cluster.cl, cluster.rr1, cluster.rr2
    before = {k: v for k, v in cl.snapshot(cluster.active).items() if k.endswith((RR2_4, RR2_6))}
    watch = Watch(cl, cluster.active)
    rr1.expect_alive = False
    t0 = time.monotonic()
    assert rr1.proc is not None
    rr1.proc.kill()  # SIGKILL: no NOTIFICATION, no lease revoked
    # rr2 keeps the session's peer until rr1's registration lease runs out.
    watch.until(
        "rr1's lease to run out on rr2",
        lambda: {RR4, RR6}.isdisjoint(rr2.peers()),
        timeout=REGISTRATION_TTL + 10,
    )
    assert time.monotonic() - t0 > 2, "rr1 must not vanish before its lease runs out"
    watch.during(1)
    assert not watch.lost, f"routes lost: {sorted(watch.lost)}"
    after = {k: v for k, v in cl.snapshot(cluster.active).items() if k.endswith((RR2_4, RR2_6))}
    assert after == before, "a session to the surviving reflector moved"
    removed = {e["peer"] for e in rr2.events("peer removed")}
    assert {RR4, RR6} <= removed
