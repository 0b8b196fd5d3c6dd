"""The field report's route reflector, end to end: `pyrr run` with calico/routereflector's
environment and no configuration file, reading Calico's etcd (TLS client certificates), and
three calico-node BIRD 1.6 nodes converging through it; then live changes and an etcd outage.

One lab and one etcd for the whole module (see lab.py); the tests run in order and each
leaves the cluster converged for the next:

1. the seed scenario converges (every node has every other node's blocks, both families);
2. a node is added: its sessions come up; nobody else's session or route moves;
3. a node's IPv4 address changes: only that one session is reset;
4. a node is removed: Cease/Peer De-configured, its routes withdrawn, nobody else moves;
5. malformed values: logged with their keys, nothing else happens;
6. etcd is stopped for 30 s: no session drops; a change written right after its restart is
   applied after pyrr reconnects, and the re-list touches no unchanged session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from ipaddress import IPv4Interface

import pytest

from tests.etcd.server import TlsFiles
from tests.lab.bird import Family

from .conftest import require_lab
from .lab import FAMILIES, RR4, RR6, CalicoLab, Node, Pyrr, Watch, calico_env, calico_lab
from .resources import SEED_AS, bgppeer_key, node_key

pytestmark = [pytest.mark.lab, pytest.mark.timeout(240)]


class Seed:
    def __init__(self, cl: CalicoLab, pyrr: Pyrr, nodes: list[Node]) -> None:
        self.cl = cl
        self.pyrr = pyrr
        self.active = nodes  # the nodes that are Calico nodes right now

    def node(self, name: str) -> Node:
        return self.cl.nodes[name]


@pytest.fixture(scope="module")
def seed(request: pytest.FixtureRequest, tls_files: TlsFiles) -> Iterator[Seed]:
    require_lab()
    with calico_lab(request, tls_files) as cl:
        (etcd,) = cl.start_etcd(1)
        cl.write_seed()
        nodes = [
            cl.add_node(host, n, i)
            for host, n, i in (("master", 101, 1), ("node1", 102, 2), ("node2", 103, 3))
        ]
        for nd in nodes:
            cl.register_node(nd)
        # The seed's `docker run -e ...` line, pyrr's image instead of calico/routereflector.
        pyrr = cl.start_pyrr("pyrr", calico_env(RR4, RR6, [etcd.url], tls_files))
        yield Seed(cl, pyrr, nodes)


def test_seed_scenario_converges(seed: Seed) -> None:
    cl, pyrr = seed.cl, seed.pyrr
    cl.wait_converged(seed.active, timeout=45)
    for nd in seed.active:
        for fam in FAMILIES:
            learned = nd.learned(fam)
            for other in seed.active:
                if other is nd:
                    continue
                for block in other.blocks[fam]:
                    r = learned[block]
                    assert r.next_hop == (other.ip4 if fam == "ipv4" else other.ip6), r
                    assert r.originator_id == other.ip4, r
                    assert r.cluster_list == [RR4], r
    status = pyrr.status()
    assert (status["asn"], status["router_id"], status["cluster_id"]) == (SEED_AS, RR4, RR4)
    peers = pyrr.peers()
    assert set(peers) == {a for nd in seed.active for a in (nd.ip4, nd.ip6)}
    assert all(p["up"] and p["type"] == "global" and p["asn"] == SEED_AS for p in peers.values())
    assert {p["description"] for p in peers.values()} == {"k8s-master", "k8s-node1", "k8s-node2"}
    assert "Traceback" not in pyrr.log_text()
    assert "none" not in cl.snapshot(seed.active).values()


def test_node_added_live(seed: Seed) -> None:
    cl, pyrr = seed.cl, seed.pyrr
    before = cl.snapshot(seed.active)
    watch = Watch(cl, seed.active)
    n3 = cl.add_node("node3", 106, 4)  # calico-node is up; pyrr does not know it yet
    cl.register_node(n3)
    t0 = time.monotonic()
    pyrr.wait("node3 configured", lambda: {n3.ip4, n3.ip6} <= set(pyrr.peers()), timeout=5)
    assert time.monotonic() - t0 < 1.0, "a change must be applied within a second"
    seed.active = [*seed.active, n3]
    watch.until("node3 to converge", lambda: not cl.converged(seed.active))
    assert not watch.lost, f"routes flapped: {sorted(watch.lost)}"
    assert not watch.withdrawn(), "a route was withdrawn"
    assert cl.snapshot(seed.active[:-1]) == before, "an unrelated session was reset"


def test_node_address_changed(seed: Seed) -> None:
    """k8s-node2 moves from 198.18.0.103 to 198.18.0.113 (calico-node restarts its bird with
    the new address): only that IPv4 session is reset; its IPv6 session stays."""
    cl, pyrr = seed.cl, seed.pyrr
    n2 = seed.node("k8s-node2")
    old4, new4 = n2.ip4, "198.18.0.113"
    before = cl.snapshot(seed.active)
    others = Watch(cl, seed.active, exclude=[n2])
    v6 = Watch(cl, seed.active, families=("ipv6",))  # node2's IPv6 side included
    n2.host.ip("addr", "add", f"{new4}/24", "dev", "eth0")
    n2.bird.bird4.stop()
    n2.host.ip4_iface = IPv4Interface(f"{new4}/24")
    cl.register_node(n2)
    pyrr.wait(
        "the new address configured",
        lambda: new4 in (p := pyrr.peers()) and old4 not in p,
        timeout=5,
    )
    n2.bird.bird4.start()
    others.until("node2 to converge again", lambda: not cl.converged(seed.active))
    v6.check()
    assert not others.lost, f"routes flapped: {sorted(others.lost)}"
    assert not v6.lost, f"IPv6 routes flapped: {sorted(v6.lost)}"
    # The others saw node2's IPv4 block withdrawn once (its bird restarted), nothing else.
    assert others.withdrawn() == {f"{nd.name}/ipv4": 1 for nd in others.nodes}
    assert not v6.withdrawn()
    after = cl.snapshot(seed.active)
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed == {f"k8s-node2->{RR4}"}, (before, after)
    for nd in seed.active:
        if nd is not n2:
            assert nd.learned("ipv4")[n2.blocks["ipv4"][0]].next_hop == new4
    assert pyrr.peers()[new4]["up"]


def test_node_removed(seed: Seed) -> None:
    cl, pyrr = seed.cl, seed.pyrr
    n3 = seed.node("k8s-node3")
    seed.active = [nd for nd in seed.active if nd is not n3]
    before = cl.snapshot(seed.active)
    watch = Watch(cl, seed.active)
    cl.remove(node_key(n3.name))
    # BIRD waits (error wait 5 s) before it tries again, and is then refused with Connection
    # Rejected: the Cease/Peer De-configured must be the last error in between.
    errors: dict[str, str] = {}

    def deconfigured() -> bool:
        pairs: tuple[tuple[Family, str], ...] = (("ipv4", RR4), ("ipv6", RR6))
        for fam, rr in pairs:
            errors[fam] = n3.last_error(fam, rr)
        return all("de-configured" in e.lower() for e in errors.values())

    watch.until("Cease/Peer De-configured on node3", deconfigured, timeout=5)

    def withdrawn() -> bool:
        return all(
            b not in nd.learned(fam)
            for nd in seed.active
            for fam in FAMILIES
            for b in n3.blocks[fam]
        )

    watch.until("node3's routes withdrawn", withdrawn)
    assert {n3.ip4, n3.ip6}.isdisjoint(pyrr.peers())
    assert not watch.lost, f"routes flapped: {sorted(watch.lost)}"
    assert watch.withdrawn() == {f"{nd.name}/{fam}": 1 for nd in seed.active for fam in FAMILIES}
    assert cl.snapshot(seed.active) == before
    n3.bird.stop()  # calico-node gone too (test_etcd_outage brings it back)


def test_malformed_values_are_skipped(seed: Seed) -> None:
    cl, pyrr = seed.cl, seed.pyrr
    before = cl.snapshot(seed.active)
    watch = Watch(cl, seed.active)
    peers = set(pyrr.peers())
    bad = {
        node_key("k8s-bogus"): '{"kind":"Node","apiVersion":"projectcalico.org/v3","spec":{',
        bgppeer_key("broken"): "peerIP: 198.18.0.104",  # YAML, not JSON
    }
    for key, value in bad.items():
        cl.write(key, value)
    pyrr.wait(
        "both keys logged",
        lambda: set(bad) <= {e["key"] for e in pyrr.events("datastore value skipped")},
        timeout=5,
    )
    watch.during(2)
    assert set(pyrr.peers()) == peers
    assert not watch.lost and not watch.withdrawn()
    assert cl.snapshot(seed.active) == before
    assert "Traceback" not in pyrr.log_text()


def test_etcd_outage(seed: Seed) -> None:
    cl, pyrr = seed.cl, seed.pyrr
    (etcd,) = cl.etcd
    n3 = seed.node("k8s-node3")
    before = cl.snapshot(seed.active)
    watch = Watch(cl, seed.active)
    snapshots = len(pyrr.events("datastore snapshot"))
    t0 = time.monotonic()
    etcd.stop()
    pyrr.wait(
        "the outage noticed",
        lambda: any(e["status"].startswith("disconnected") for e in pyrr.events("etcd status")),
        timeout=15,
    )
    watch.during(30 - (time.monotonic() - t0))
    assert cl.snapshot(seed.active) == before, "a session dropped while etcd was down"
    etcd.start()
    # Written at once, before pyrr's next retry (its backoff is at 10 s by now).
    cl.register_node(n3)
    pyrr.wait(
        "the change applied after reconnection",
        lambda: {n3.ip4, n3.ip6} <= set(pyrr.peers()),
        timeout=20,
    )
    assert len(pyrr.events("datastore snapshot")) == snapshots + 1  # a re-list, reconciled
    n3.bird.start()
    seed.active = [*seed.active, n3]
    watch.until("node3 to converge", lambda: not cl.converged(seed.active))
    assert not watch.lost, f"routes flapped: {sorted(watch.lost)}"
    assert not watch.withdrawn(), "a route was withdrawn"
    assert cl.snapshot(seed.active[:-1]) == before, "the re-list reset an unchanged session"
