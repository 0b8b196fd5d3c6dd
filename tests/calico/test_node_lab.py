"""Calico 3.3+ in the lab: pyrr is a Calico Node chosen by labels, set up with `pyrr init-node`
and run with NODENAME alone (no IP), and three calico-node BIRD 1.6 nodes converge through it.

The datastore holds only what Calico's route-reflector guide writes: a BGPConfiguration with
the mesh off and the BGPPeer `nodeSelector: all()`, `peerSelector: route-reflector == 'true'`.
The nodes' BIRD peers with the reflector's addresses as calico-node 3.2x renders that BGPPeer
once the reflector is a Node (`Node_` protocols, tests/lab/confd.py). One lab for the module;
the tests run in order. The conformance lab's Calico 3.3+ scenario
(tests/conformance/calico33.py) builds on this with two reflectors and every per-session
setting.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.etcd.server import TlsFiles
from tests.lab.confd import CalicoPeer

from .conftest import require_lab
from .lab import FAMILIES, RR4, RR6, CalicoLab, Node, Pyrr, calico_lab, etcd_variables, init_node
from .resources import SEED_AS, bgpconfig, bgpconfig_key, bgppeer_key, selector_bgppeer

pytestmark = [pytest.mark.lab, pytest.mark.timeout(240)]

CLUSTER = "224.0.0.1"


class NodeLab:
    def __init__(self, cl: CalicoLab, pyrr: Pyrr, nodes: list[Node]) -> None:
        self.cl = cl
        self.pyrr = pyrr
        self.active = nodes


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest, tls_files: TlsFiles) -> Iterator[NodeLab]:
    require_lab()
    with calico_lab(request, tls_files) as cl:
        cl.start_etcd(1)
        cl.write(bgpconfig_key(), bgpconfig(asn=SEED_AS, log="Info", mesh=False))
        name = "peer-with-route-reflectors"
        cl.write(bgppeer_key(name), selector_bgppeer(name, "all()", "route-reflector == 'true'"))
        nodes = [
            add_node(cl, host, n, i)
            for host, n, i in (("master", 101, 1), ("node1", 102, 2), ("node2", 103, 3))
        ]
        for nd in nodes:
            cl.register_node(nd)
        variables = etcd_variables(cl.etcd[0], tls_files)
        problem = init_node(cl.rr, variables, "rr", f"{RR4}/24", f"{RR6}/64", CLUSTER)
        assert not problem, problem
        pyrr = cl.start_pyrr("pyrr", {"NODENAME": "rr", **variables})
        yield NodeLab(cl, pyrr, nodes)


def add_node(cl: CalicoLab, host: str, n: int, index: int) -> Node:
    """A calico-node 3.2x: `Node_` peerings with the reflector Node's addresses."""
    peers = [CalicoPeer(a, rr_cluster_id=CLUSTER) for a in (RR4, RR6)]
    return cl.add_node(host, n, index, peers=peers, confd="3.29")


def test_nodes_converge_through_pyrr_as_a_node(world: NodeLab) -> None:
    cl, pyrr = world.cl, world.pyrr
    cl.wait_converged(world.active, timeout=45)
    for nd in world.active:
        for fam in FAMILIES:
            learned = nd.learned(fam)
            for other in world.active:
                if other is nd:
                    continue
                for block in other.blocks[fam]:
                    r = learned[block]
                    assert r.next_hop == (other.ip4 if fam == "ipv4" else other.ip6), r
                    assert r.originator_id == other.ip4, r
                    # The Node's routeReflectorClusterID is the cluster id.
                    assert r.cluster_list == [CLUSTER], r
    status = pyrr.status()
    assert (status["asn"], status["router_id"], status["cluster_id"]) == (SEED_AS, RR4, CLUSTER)
    peers = pyrr.peers()
    assert set(peers) == {a for nd in world.active for a in (nd.ip4, nd.ip6)}
    assert all(p["up"] and p["type"] == "node" and p["asn"] == SEED_AS for p in peers.values())


def test_a_node_added_joins_through_the_reverse_peering(world: NodeLab) -> None:
    cl = world.cl
    nd = add_node(cl, "node3", 106, 4)
    cl.register_node(nd)
    world.active.append(nd)
    cl.wait_converged(world.active, timeout=45)
    assert {nd.ip4, nd.ip6} <= set(world.pyrr.peers())
