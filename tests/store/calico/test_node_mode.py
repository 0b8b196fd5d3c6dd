"""pyrr as a Calico Node (NODENAME): the peers calico-node's confd would give that Node.

Reference: confd/pkg/backends/calico/client.go (updatePeersV1: forward and reverse peerings,
nodeAsBGPPeers) and bgp_processor.go (buildPeerFromData: skip ourselves, `rr client` when the
far end's cluster id is empty or another, next-hop modes, localASNumber).
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from pyrr.config import NextHopMode, PeerConfig
from pyrr.store.calico.desired import desired
from pyrr.store.calico.model import CalicoModel, Desired, Identity
from tests.store.calico.test_desired import bgpconfig, bgppeer, node

RR_IP = IPv4Address("198.18.0.10")
RR2_IP = "198.18.0.11"
CLUSTER = IPv4Address("224.0.0.1")
RR_LABELS = {"route-reflector": "true"}
ME = Identity(
    ip=RR_IP,
    router_id=RR_IP,
    cluster_id=CLUSTER,
    labels=RR_LABELS,
    node_name="rr1",
)
NODES = {f"n{i}": f"198.18.1.{i}" for i in range(1, 4)}
STANDARD = bgppeer("peer-with-rrs", nodeSelector="all()", peerSelector="route-reflector == 'true'")


def model(*, peers: dict[str, Any] | None = None, **nodes: Any) -> CalicoModel:
    all_nodes: dict[str, Any] = {
        "rr1": node("rr1", f"{RR_IP}/24", cluster_id=str(CLUSTER), labels=RR_LABELS),
        **{name: node(name, f"{ip}/24") for name, ip in NODES.items()},
        **nodes,
    }
    return CalicoModel(
        nodes=all_nodes,
        bgppeers={"peer-with-rrs": STANDARD} if peers is None else peers,
        bgpconfigurations={"default": bgpconfig(asNumber=64512, nodeToNodeMeshEnabled=False)},
    )


def by_address(d: Desired) -> dict[str, PeerConfig]:
    return {str(p.address): p for p in d.peers}


def problems(d: Desired) -> str:
    return "\n".join(f"{p.key}: {p.message}" for p in d.problems)


def test_standard_bgppeer_gives_every_other_node() -> None:
    # The BGPPeer of Calico's route-reflector guide: pyrr is selected by peerSelector, so the
    # reverse peering gives it a session to every node its nodeSelector (all()) picks.
    d = desired(model(), ME)
    peers = by_address(d)
    assert set(peers) == set(NODES.values())
    for name, ip in NODES.items():
        p = peers[ip]
        assert (p.client, p.kind, p.asn, p.description) == (True, "node", 64512, name)
        assert p.local_address == RR_IP and not p.passive and p.next_hop is NextHopMode.AUTO
    assert d.local_as == 64512
    assert d.problems == () and not d.mesh


def test_nodes_added_join_the_peer_set() -> None:
    extra = node("n9", "198.18.1.9/24")
    assert "198.18.1.9" in by_address(desired(model(n9=extra), ME))


def test_own_node_is_never_a_peer_even_under_another_address() -> None:
    # IP overrides the Node's address; the Node still is pyrr, not a peer.
    me = replace(ME, ip=IPv4Address("198.18.0.99"))
    assert set(by_address(desired(model(), me))) == set(NODES.values())


def test_two_reflectors_same_cluster_are_non_clients() -> None:
    rr2 = node("rr2", f"{RR2_IP}/24", cluster_id=str(CLUSTER), labels=RR_LABELS)
    peers = by_address(desired(model(rr2=rr2), ME))
    assert (peers[RR2_IP].kind, peers[RR2_IP].client) == ("rr", False)
    assert all(peers[ip].client for ip in NODES.values())


def test_two_reflectors_other_cluster_are_clients_as_in_confd() -> None:
    # confd's template: `rr client` when the peer's cluster id differs from ours.
    rr2 = node("rr2", f"{RR2_IP}/24", cluster_id="224.0.0.2", labels=RR_LABELS)
    peers = by_address(desired(model(rr2=rr2), ME))
    assert (peers[RR2_IP].kind, peers[RR2_IP].client) == ("rr", True)


def test_reverse_peering_manual_gives_only_forward_sessions() -> None:
    manual = {**STANDARD, "spec": {**STANDARD["spec"], "reversePeering": "Manual"}}
    rr2 = node("rr2", f"{RR2_IP}/24", cluster_id=str(CLUSTER), labels=RR_LABELS)
    d = desired(model(rr2=rr2, peers={"p": manual}), ME)
    # Forward: pyrr matches all() and peers with the selected reflectors; no reverse ones.
    assert set(by_address(d)) == {RR2_IP}


def test_no_labels_match_no_sessions() -> None:
    me = replace(ME, labels={"role": "other"})
    # all() still selects pyrr as a local node, but its peerSelector picks only rr1 (itself).
    assert desired(model(), me).peers == ()


def test_node_selector_limits_the_clients() -> None:
    peer = bgppeer("p", nodeSelector="rack == 'a'", peerSelector="route-reflector == 'true'")
    racked = node("n7", "198.18.1.7/24", labels={"rack": "a"})
    d = desired(model(n7=racked, peers={"p": peer}), ME)
    assert set(by_address(d)) == {"198.18.1.7"}


def test_global_peer_ip_bgppeer_still_works_in_node_mode() -> None:
    # The calico/routereflector way (peerIP = the RR's IP), read as confd's reverse peering.
    peers = {"g": bgppeer("g", peerIP=str(RR_IP), asNumber=64512)}
    assert set(by_address(desired(model(peers=peers), ME))) == set(NODES.values())
    wrong = {"g": bgppeer("g", peerIP=str(RR_IP), asNumber=65000)}
    d = desired(model(peers=wrong), ME)
    assert d.peers == () and "is not pyrr's AS 64512" in problems(d)


def test_outside_ebgp_peer() -> None:
    tor = bgppeer(
        "tor",
        nodeSelector="route-reflector == 'true'",
        peerIP="198.18.2.1",
        asNumber=65001,
        keepOriginalNextHop=True,
    )
    d = desired(model(peers={"tor": tor, "peer-with-rrs": STANDARD}), ME)
    p = by_address(d)["198.18.2.1"]
    assert (p.asn, p.client, p.kind, p.description) == (65001, False, "external", "tor")
    # keepOriginalNextHop applies to eBGP peers (confd: KeepNextHop && AS differs).
    assert p.next_hop is NextHopMode.KEEP and p.port == 179 and p.local_asn is None


def test_outside_ibgp_peer_is_a_client_and_keep_original_is_ignored() -> None:
    tor = bgppeer("tor", node="rr1", peerIP="198.18.2.1:1179", keepOriginalNextHop=True)
    p = by_address(desired(model(peers={"tor": tor}), ME))["198.18.2.1"]
    # No asNumber: pyrr's own AS, iBGP; confd gives a peerIP peering no cluster id: a client.
    assert (p.asn, p.client, p.port, p.next_hop) == (64512, True, 1179, NextHopMode.AUTO)


def test_local_as_number_applies_to_peer_ip_peerings_only() -> None:
    tor = bgppeer("tor", node="rr1", peerIP="198.18.2.1", asNumber=65001, localASNumber=65100)
    sel = {**STANDARD, "spec": {**STANDARD["spec"], "localASNumber": 65100}}
    d = desired(model(peers={"tor": tor, "peer-with-rrs": sel}), ME)
    peers = by_address(d)
    assert peers["198.18.2.1"].local_asn == 65100
    assert all(peers[ip].local_asn is None for ip in NODES.values())


def test_allowed_local_as_numbers_apply_to_peer_ip_peerings_only() -> None:
    # confd copies numAllowedLocalASNumbers into peerIP peerings (BIRD's allow local as).
    tor = bgppeer(
        "tor", node="rr1", peerIP="198.18.2.1", asNumber=65001, numAllowedLocalASNumbers=2
    )
    sel = {**STANDARD, "spec": {**STANDARD["spec"], "numAllowedLocalASNumbers": 3}}
    d = desired(model(peers={"tor": tor, "peer-with-rrs": sel}), ME)
    peers = by_address(d)
    assert peers["198.18.2.1"].allow_local_as == 2
    assert all(peers[ip].allow_local_as == 0 for ip in NODES.values())
    bad = bgppeer("tor", node="rr1", peerIP="198.18.2.1", numAllowedLocalASNumbers=-1)
    d = desired(model(peers={"tor": bad}), ME)
    assert d.peers == () and "spec.numAllowedLocalASNumbers" in d.problems[0].message


def test_node_specific_and_other_nodes_bgppeers() -> None:
    # A BGPPeer for another node only (node: n1) is not pyrr's business.
    other = bgppeer("o", node="n1", peerIP="198.18.2.1", asNumber=65001)
    d = desired(model(peers={"o": other}), ME)
    assert d.peers == ()


def test_local_workload_bgppeer_is_not_rejected() -> None:
    lw = bgppeer("lw", localWorkloadSelector="app == 'bgp'", asNumber=65010)
    d = desired(model(peers={"lw": lw, "peer-with-rrs": STANDARD}), ME)
    assert set(by_address(d)) == set(NODES.values())
    assert d.problems == ()
    assert [(n.kind, n.path) for n in d.notes] == [("BGPPeer", "spec.localWorkloadSelector")]


def test_ipv6_sessions_where_both_ends_have_an_address() -> None:
    me = replace(ME, ip6=IPv6Address("2001:db8::10"))
    nodes = {
        "n1": node("n1", "198.18.1.1/24", ipv6="2001:db8::1/64"),
        "n2": node("n2", "198.18.1.2/24"),
    }
    d = desired(replace(model(), nodes={**model().nodes, **nodes}), me)
    peers = by_address(d)
    assert "2001:db8::1" in peers and peers["2001:db8::1"].local_address == me.ip6
    assert "198.18.1.2" in peers and not any(s.key.endswith("/n2") for s in d.problems)


def test_node_listen_port_is_where_we_dial() -> None:
    configs = {
        "default": bgpconfig(asNumber=64512, nodeToNodeMeshEnabled=False, listenPort=1179),
        "node.n1": bgpconfig("node.n1", listenPort=2179),
    }
    d = desired(replace(model(), bgpconfigurations=configs), ME)
    peers = by_address(d)
    assert peers["198.18.1.1"].port == 2179 and peers["198.18.1.2"].port == 1179


def test_local_as_from_the_node_then_the_configuration() -> None:
    assert desired(model(), replace(ME, node_as=65500)).local_as == 65500
    no_config = replace(model(), bgpconfigurations={})
    assert desired(no_config, ME).local_as == ME.fallback_as == 64512
    assert desired(no_config, replace(ME, fallback_as=65000)).local_as == 65000


def test_mesh_on_is_flagged_in_node_mode_only() -> None:
    meshed = replace(model(), bgpconfigurations={"default": bgpconfig(asNumber=64512)})
    assert desired(meshed, ME).mesh  # unset: Calico's default, on
    assert not desired(meshed, replace(ME, node_name=None)).mesh
