"""Calico's v3 resources -> pyrr's peers: the seed lab, v0.6 semantics, 3.3+ selectors, bad data."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrr.config import Config, GlobalConfig, PeerConfig
from pyrr.store.calico.desired import desired
from pyrr.store.calico.model import (
    PREFIXES,
    RR_V4_PREFIX,
    CalicoModel,
    Desired,
    Identity,
    Problem,
    Resource,
    registration_key,
    registration_value,
    resource_key,
)
from pyrr.store.calico.resources import parse_resource
from pyrr.store.etcd.endpoints import EtcdEndpoint
from pyrr.store.file.environment import EnvSettings
from pyrr.store.file.merge import merge

API = "projectcalico.org/v3"
RR_IP = IPv4Address("192.168.56.104")
RR_IP6 = IPv6Address("fd00:56::104")
ME = Identity(ip=RR_IP)
ME6 = Identity(ip=RR_IP, ip6=RR_IP6)
SEED_NODES = {
    "k8s-master": "192.168.56.101",
    "k8s-node1": "192.168.56.102",
    "k8s-node2": "192.168.56.103",
}


def node(
    name: str,
    ipv4: str | None = None,
    *,
    ipv6: str | None = None,
    asn: object = None,
    cluster_id: str | None = None,
    labels: Mapping[str, str] | None = None,
    bgp: bool = True,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"orchRefs": [{"nodeName": name, "orchestrator": "k8s"}]}
    if bgp:
        spec["bgp"] = {}
        if ipv4 is not None:
            spec["bgp"]["ipv4Address"] = ipv4
        if ipv6 is not None:
            spec["bgp"]["ipv6Address"] = ipv6
        if asn is not None:
            spec["bgp"]["asNumber"] = asn
        if cluster_id is not None:
            spec["bgp"]["routeReflectorClusterID"] = cluster_id
    return {
        "kind": "Node",
        "apiVersion": API,
        "metadata": {
            "name": name,
            "uid": "5f3c",
            "creationTimestamp": "2018-05-20T10:00:00Z",
            "labels": dict(labels or {}),
        },
        "spec": spec,
    }


def bgppeer(name: str, **spec: object) -> dict[str, Any]:
    return {"kind": "BGPPeer", "apiVersion": API, "metadata": {"name": name}, "spec": spec}


def bgpconfig(name: str = "default", **spec: object) -> dict[str, Any]:
    return {"kind": "BGPConfiguration", "apiVersion": API, "metadata": {"name": name}, "spec": spec}


def seed_nodes(prefix_len: str = "/24") -> dict[str, object]:
    return {name: node(name, ip + prefix_len) for name, ip in SEED_NODES.items()}


SEED_CONFIG = {
    "default": bgpconfig(logSeverityScreen="Info", nodeToNodeMeshEnabled=False, asNumber=61234)
}


def seed_model(peer_ip: str = "192.168.56.104", asn: object = 61234) -> CalicoModel:
    return CalicoModel(
        nodes=seed_nodes(),
        bgpconfigurations=SEED_CONFIG,
        bgppeers={"bgppeer-global": bgppeer("bgppeer-global", peerIP=peer_ip, asNumber=asn)},
    )


def addresses(d: Desired) -> list[str]:
    return [str(p.address) for p in d.peers]


def by_address(d: Desired) -> dict[str, PeerConfig]:
    return {str(p.address): p for p in d.peers}


def problem_text(d: Desired) -> str:
    return "\n".join(f"{p.key}: {p.message}" for p in d.problems)


# --- the seed lab -----------------------------------------------------------------------------


def test_seed_three_client_peers() -> None:
    d = desired(seed_model(), ME)
    assert d.local_as == 61234
    assert d.log_level == "info"
    assert d.problems == () and d.skipped == ()
    assert d.peers == tuple(
        PeerConfig(
            address=IPv4Address(ip),
            asn=61234,
            client=True,
            passive=False,
            local_address=RR_IP,
            description=name,
            kind="global",
            own_family_only=True,  # bird's session: IPv4 only
        )
        for name, ip in SEED_NODES.items()
    )


def test_seed_slip_peer_ip_103_gives_nothing_for_104() -> None:
    # The post's BGPPeer says .103 while the RR runs on .104: no BGPPeer points at us.
    d = desired(seed_model(peer_ip="192.168.56.103"), ME)
    assert d.peers == ()
    assert d.local_as == 61234
    assert d.problems == ()


def test_seed_slip_read_the_other_way_rr_on_103() -> None:
    # Had the RR run on k8s-node2 (.103), it would peer with the other two, not itself.
    d = desired(seed_model(peer_ip="192.168.56.103"), Identity(ip=IPv4Address("192.168.56.103")))
    assert addresses(d) == ["192.168.56.101", "192.168.56.102"]
    assert any("own address" in s.message for s in d.skipped)


def test_no_bgppeer_at_all() -> None:
    d = desired(CalicoModel(nodes=seed_nodes(), bgpconfigurations=SEED_CONFIG), ME)
    assert d.peers == () and d.problems == () and d.local_as == 61234


def test_empty_datastore() -> None:
    d = desired(CalicoModel(), ME)
    assert d == Desired(local_as=64512, log_level=None, peers=())


def test_bare_addresses_without_prefix_length() -> None:
    model = replace(seed_model(), nodes=seed_nodes(prefix_len=""))
    assert addresses(desired(model, ME)) == list(SEED_NODES.values())


# --- v0.6 semantics ---------------------------------------------------------------------------


def test_node_specific_bgppeer() -> None:
    model = CalicoModel(
        nodes=seed_nodes(),
        bgpconfigurations=SEED_CONFIG,
        bgppeers={
            "rr-node1": bgppeer("rr-node1", node="k8s-node1", peerIP=str(RR_IP), asNumber=61234)
        },
    )
    d = desired(model, ME)
    assert addresses(d) == ["192.168.56.102"]
    assert d.peers[0].kind == "node"
    assert d.peers[0].description == "k8s-node1"
    assert d.peers[0].client


def test_node_specific_for_a_missing_node() -> None:
    model = CalicoModel(
        nodes=seed_nodes(),
        bgppeers={"x": bgppeer("x", node="k8s-node9", peerIP=str(RR_IP), asNumber=64512)},
    )
    d = desired(model, ME)
    assert d.peers == ()
    assert any("k8s-node9" in s.message for s in d.skipped)


def test_global_wins_over_node_specific_for_the_same_node() -> None:
    model = replace(
        seed_model(),
        bgppeers={
            "a-node": bgppeer("a-node", node="k8s-node1", peerIP=str(RR_IP), asNumber=61234),
            "z-global": bgppeer("z-global", peerIP=str(RR_IP), asNumber=61234),
        },
    )
    d = desired(model, ME)
    assert addresses(d) == list(SEED_NODES.values())
    assert {p.kind for p in d.peers} == {"global"}
    assert d.problems == ()


def test_bgppeer_for_another_address_is_ignored() -> None:
    model = replace(
        seed_model(),
        bgppeers={"tor": bgppeer("tor", peerIP="10.0.0.1", asNumber=65000)},
    )
    assert desired(model, ME).peers == ()


@pytest.mark.parametrize(
    ("asn", "expected"),
    [(61234, 61234), ("61234", 61234), (" 61234 ", 61234), ("0.61234", 61234), ("1.10", 65546)],
)
def test_as_number_forms(asn: object, expected: int) -> None:
    model = CalicoModel(
        nodes={"n": node("n", "10.0.0.1/24", asn=expected)},
        bgppeers={"g": bgppeer("g", peerIP=str(RR_IP), asNumber=asn)},
        bgpconfigurations={"default": bgpconfig(asNumber=str(expected))},
    )
    d = desired(model, ME)
    assert d.local_as == expected
    assert d.peers[0].asn == expected
    assert d.problems == ()


def test_peer_as_falls_back_node_then_global_then_64512() -> None:
    nodes = {
        "a": node("a", "10.0.0.1/24", asn=65001),
        "b": node("b", "10.0.0.2/24"),
    }
    peers = {"g": bgppeer("g", peerIP=str(RR_IP))}  # no asNumber
    d = desired(CalicoModel(nodes=nodes, bgppeers=peers), ME)
    assert {p.description: p.asn for p in d.peers} == {"a": 65001, "b": 64512}
    assert d.local_as == 64512
    assert by_address(d)["10.0.0.1"].client is False  # another AS: eBGP, not a client
    assert by_address(d)["10.0.0.2"].client is True
    with_global = {"default": bgpconfig(asNumber=65010)}
    d = desired(CalicoModel(nodes=nodes, bgppeers=peers, bgpconfigurations=with_global), ME)
    assert {p.description: p.asn for p in d.peers} == {"a": 65001, "b": 65010}
    assert d.local_as == 65010


def test_as_zero_means_not_set() -> None:
    model = CalicoModel(
        nodes={"n": node("n", "10.0.0.1", asn=0)},
        bgppeers={"g": bgppeer("g", peerIP=str(RR_IP), asNumber=0)},
    )
    d = desired(model, ME)
    assert d.peers[0].asn == 64512 and d.problems == ()


def test_local_as_from_bgppeers_when_the_datastore_sets_none() -> None:
    # The original wrote `local as <BGPPeer asNumber>`: keep that when nothing else says.
    nodes = {"n": node("n", "10.0.0.1", asn=61234)}
    model = CalicoModel(
        nodes=nodes, bgppeers={"g": bgppeer("g", peerIP=str(RR_IP), asNumber=61234)}
    )
    d = desired(model, ME)
    assert d.local_as == 61234 and d.peers[0].client and d.problems == ()
    # Two BGPPeers that disagree: the fallback AS, and each mismatch reported.
    model = replace(
        model,
        nodes={"n": node("n", "10.0.0.1", asn=61234), "m": node("m", "10.0.0.2", asn=61235)},
        bgppeers={
            "g": bgppeer("g", node="n", peerIP=str(RR_IP), asNumber=61234),
            "h": bgppeer("h", node="m", peerIP=str(RR_IP), asNumber=61235),
        },
    )
    d = desired(model, replace(ME, fallback_as=65100))
    assert d.local_as == 65100
    assert "is not the local AS 65100" in problem_text(d)


def test_bgppeer_as_that_is_not_the_nodes_as_is_reported() -> None:
    model = replace(seed_model(asn=61235))
    d = desired(model, ME)
    assert [p.asn for p in d.peers] == [61235] * 3  # as the original rendered it
    text = problem_text(d)
    assert "spec.asNumber 61235 is not the AS of node(s) k8s-master, k8s-node1, k8s-node2" in text
    assert "is not the local AS 61234" in text


def test_mismatch_list_is_bounded() -> None:
    nodes = {f"n{i:02}": node(f"n{i:02}", f"10.0.0.{i + 1}") for i in range(12)}
    model = CalicoModel(
        nodes=nodes, bgppeers={"g": bgppeer("g", peerIP=str(RR_IP), asNumber=65000)}
    )
    text = problem_text(desired(model, ME))
    assert "n00, n01, n02, n03, n04 and 7 more" in text


def test_node_without_bgp_or_address_is_skipped_with_a_reason() -> None:
    nodes = {
        **seed_nodes(),
        "no-bgp": node("no-bgp", bgp=False),
        "no-v4": node("no-v4", ipv6="fd00::9/64"),
    }
    d = desired(replace(seed_model(), nodes=nodes), ME)
    assert addresses(d) == list(SEED_NODES.values())
    skipped = {s.key.rsplit("/", 1)[1]: s.message for s in d.skipped}
    assert "no spec.bgp" in skipped["no-bgp"]
    assert "no spec.bgp.ipv4Address" in skipped["no-v4"]
    assert d.problems == ()


def test_the_rrs_own_node_gets_no_session() -> None:
    nodes = {**seed_nodes(), "k8s-node3": node("k8s-node3", "192.168.56.104/24")}
    d = desired(replace(seed_model(), nodes=nodes), ME)
    assert addresses(d) == list(SEED_NODES.values())
    assert any("k8s-node3" in s.key and "own address" in s.message for s in d.skipped)


def test_two_nodes_with_one_address() -> None:
    nodes = {"a": node("a", "10.0.0.1/24"), "b": node("b", "10.0.0.1/16")}
    model = CalicoModel(
        nodes=nodes, bgppeers={"g": bgppeer("g", peerIP=str(RR_IP), asNumber=64512)}
    )
    d = desired(model, ME)
    assert [(str(p.address), p.description) for p in d.peers] == [("10.0.0.1", "a")]


def test_peer_ip_with_a_port() -> None:
    for text in ("192.168.56.104:179", "192.168.56.104:1790"):
        model = replace(seed_model(), bgppeers={"g": bgppeer("g", peerIP=text, asNumber=61234)})
        assert len(desired(model, ME).peers) == 3
    model = replace(
        seed_model(), bgppeers={"g": bgppeer("g", peerIP="[fd00:56::104]:179", asNumber=61234)}
    )
    nodes = {n: node(n, None, ipv6=f"fd00:56::{i}/64") for i, n in enumerate(SEED_NODES, 1)}
    d = desired(replace(model, nodes=nodes), ME6)
    assert addresses(d) == ["fd00:56::1", "fd00:56::2", "fd00:56::3"]


def test_listen_port_from_bgpconfiguration() -> None:
    model = replace(
        seed_model(),
        bgpconfigurations={
            **SEED_CONFIG,
            "default": bgpconfig(asNumber=61234, listenPort=1790),
            "node.k8s-node1": bgpconfig("node.k8s-node1", listenPort=1791),
        },
    )
    ports = {p.description: p.port for p in desired(model, ME).peers}
    assert ports == {"k8s-master": 1790, "k8s-node1": 1791, "k8s-node2": 1790}


def test_password_secret_is_reported() -> None:
    secret = {"secretKeyRef": {"name": "bgp-secrets", "key": "rr"}}
    model = replace(
        seed_model(),
        bgppeers={"g": bgppeer("g", peerIP=str(RR_IP), asNumber=61234, password=secret)},
    )
    d = desired(model, ME)
    assert len(d.peers) == 3
    assert "TCP MD5" in problem_text(d)
    assert "PYRR_BGP_PASSWORD" in problem_text(d)
    assert len(d.problems) == 1
    assert all(p.password is None for p in d.peers)


def test_password_from_the_environment_keys_every_session() -> None:
    # PYRR_BGP_PASSWORD[_FILE] stands in for the secret: every generated session is keyed,
    # whether or not its BGPPeer names a secret, and nothing is reported.
    secret = {"secretKeyRef": {"name": "bgp-secrets", "key": "rr"}}
    model = replace(
        seed_model(),
        bgppeers={"g": bgppeer("g", peerIP=str(RR_IP), asNumber=61234, password=secret)},
    )
    me = replace(ME, password="s3cret")
    d = desired(model, me)
    assert len(d.peers) == 3
    assert {p.password for p in d.peers} == {"s3cret"}
    assert not d.problems
    assert {p.password for p in desired(seed_model(), me).peers} == {"s3cret"}
    assert "s3cret" not in repr(me)


def test_identity_takes_the_password_from_the_environment() -> None:
    env = EnvSettings(ip=RR_IP, bgp_password="s3cret")
    base = Config(bgp=GlobalConfig(asn=61234, router_id=RR_IP, cluster_id=RR_IP))
    assert Identity.from_settings(base, env).password == "s3cret"


# --- IPv6 -------------------------------------------------------------------------------------


def v6_nodes() -> dict[str, object]:
    return {
        name: node(name, ip + "/24", ipv6=f"fd00:56::{ip.rsplit('.', 1)[1]}/64")
        for name, ip in SEED_NODES.items()
    }


def test_ipv6_sessions_when_ip6_is_set() -> None:
    model = CalicoModel(
        nodes=v6_nodes(),
        bgpconfigurations=SEED_CONFIG,
        bgppeers={
            "g4": bgppeer("g4", peerIP=str(RR_IP), asNumber=61234),
            "g6": bgppeer("g6", peerIP=str(RR_IP6), asNumber=61234),
        },
    )
    d = desired(model, ME6)
    assert addresses(d) == [*SEED_NODES.values(), "fd00:56::101", "fd00:56::102", "fd00:56::103"]
    for p in d.peers:
        assert p.local_address == (RR_IP if p.address.version == 4 else RR_IP6)
        assert p.client and p.asn == 61234
    # Without IP6, the IPv6 BGPPeer is not ours.
    assert addresses(desired(model, ME)) == list(SEED_NODES.values())


def test_ipv6_node_specific_compares_against_ip6() -> None:
    # The original's IPv6 node-specific branch compared peerIP with IP: a v4 BGPPeer made
    # IPv6 sessions. pyrr compares with IP6.
    model = CalicoModel(
        nodes=v6_nodes(),
        bgpconfigurations=SEED_CONFIG,
        bgppeers={"n": bgppeer("n", node="k8s-node1", peerIP=str(RR_IP), asNumber=61234)},
    )
    assert addresses(desired(model, ME6)) == ["192.168.56.102"]
    model = replace(
        model, bgppeers={"n": bgppeer("n", node="k8s-node1", peerIP=str(RR_IP6), asNumber=61234)}
    )
    assert addresses(desired(model, ME6)) == ["fd00:56::102"]


def test_ipv6_node_without_ipv6_address_is_skipped() -> None:
    model = CalicoModel(
        nodes=seed_nodes(),
        bgppeers={"g6": bgppeer("g6", peerIP=str(RR_IP6), asNumber=64512)},
    )
    d = desired(model, ME6)
    assert d.peers == ()
    assert all("ipv6Address" in s.message for s in d.skipped) and len(d.skipped) == 3


# --- Calico 3.3+: selectors and route reflector clusters --------------------------------------

RR_LABELS = {"route-reflector": "true"}
ME_RR = Identity(ip=RR_IP, cluster_id=IPv4Address("224.0.0.1"), labels=RR_LABELS)


def cluster_model(**extra_peers: object) -> CalicoModel:
    nodes = {
        **seed_nodes(),
        "rr-a": node("rr-a", "192.168.56.110/24", cluster_id="224.0.0.1", labels=RR_LABELS),
        "rr-b": node("rr-b", "192.168.56.111/24", cluster_id="224.0.0.2", labels=RR_LABELS),
    }
    peers = {
        "peer-with-rrs": bgppeer(
            "peer-with-rrs", nodeSelector="all()", peerSelector="route-reflector == 'true'"
        ),
        **extra_peers,
    }
    return CalicoModel(nodes=nodes, bgppeers=peers, bgpconfigurations=SEED_CONFIG)


def test_peer_selector_matching_us_makes_client_sessions() -> None:
    d = desired(cluster_model(), ME_RR)
    peers = by_address(d)
    assert set(peers) == {*SEED_NODES.values(), "192.168.56.110", "192.168.56.111"}
    for ip in SEED_NODES.values():
        assert peers[ip].client and peers[ip].kind == "node" and peers[ip].asn == 61234
    # Same cluster id: a non-client (RFC 4456). Another cluster id: a client, as calico-node.
    assert (peers["192.168.56.110"].kind, peers["192.168.56.110"].client) == ("rr", False)
    assert (peers["192.168.56.111"].kind, peers["192.168.56.111"].client) == ("rr", True)
    assert d.problems == ()


def test_without_labels_pyrr_takes_no_part_in_selectors() -> None:
    assert desired(cluster_model(), replace(ME_RR, labels=None)).peers == ()
    # Labels that the peerSelector does not match, and no nodeSelector matching us either.
    assert desired(cluster_model(), replace(ME_RR, labels={"role": "other"})).peers != ()


def test_labels_not_selected_anywhere() -> None:
    model = replace(
        cluster_model(),
        bgppeers={
            "p": bgppeer("p", nodeSelector="has(zone)", peerSelector="route-reflector == 'true'")
        },
    )
    assert desired(model, replace(ME_RR, labels={"role": "other"})).peers == ()


def test_node_selector_limits_the_clients() -> None:
    labelled = {
        name: node(name, ip + "/24", labels={"rack": "r1" if name != "k8s-master" else "r2"})
        for name, ip in SEED_NODES.items()
    }
    model = CalicoModel(
        nodes=labelled,
        bgppeers={
            "r1": bgppeer("r1", nodeSelector="rack == 'r1'", peerSelector="has(route-reflector)")
        },
    )
    d = desired(model, ME_RR)
    assert addresses(d) == ["192.168.56.102", "192.168.56.103"]
    assert {p.asn for p in d.peers} == {64512}  # the node's AS; asNumber is not used here


def test_peer_selector_ignores_peer_ip() -> None:
    model = CalicoModel(
        nodes=seed_nodes(),
        bgppeers={
            "p": bgppeer(
                "p", peerIP="10.9.9.9", asNumber=65000, peerSelector="has(route-reflector)"
            )
        },
    )
    d = desired(model, ME_RR)
    assert len(d.peers) == 3 and {p.asn for p in d.peers} == {64512}
    assert desired(model, replace(ME_RR, labels={"x": "y"})).peers == ()


def test_node_selector_matching_us_peers_with_the_peer_selection() -> None:
    # pyrr is one of the "local" nodes; the peerSelector picks calico-node RRs to peer with.
    model = CalicoModel(
        nodes={
            **seed_nodes(),
            "rr-b": node("rr-b", "192.168.56.111/24", cluster_id="224.0.0.2", labels={"rr": "b"}),
        },
        bgppeers={
            "rr-mesh": bgppeer(
                "rr-mesh", nodeSelector="route-reflector == 'true'", peerSelector="has(rr)"
            )
        },
    )
    d = desired(model, ME_RR)
    assert addresses(d) == ["192.168.56.111"]
    assert d.peers[0].kind == "rr"


def test_global_peer_ip_bgppeer_towards_a_router_is_not_ours() -> None:
    # Every node (pyrr included, when labelled) peers with a ToR: pyrr does not.
    model = CalicoModel(
        nodes=seed_nodes(), bgppeers={"tor": bgppeer("tor", peerIP="10.0.0.254", asNumber=65000)}
    )
    assert desired(model, ME_RR).peers == ()


def test_rr_node_reached_through_a_global_peer_ip_bgppeer() -> None:
    nodes = {
        **seed_nodes(),
        "rr-a": node("rr-a", "192.168.56.110/24", cluster_id="192.168.56.104"),
    }
    model = replace(seed_model(), nodes=nodes)
    peers = by_address(desired(model, ME))  # cluster id defaults to the router id = IP
    assert (peers["192.168.56.110"].kind, peers["192.168.56.110"].client) == ("rr", False)


def test_empty_selectors_mean_not_set() -> None:
    model = replace(
        seed_model(),
        bgppeers={
            "g": bgppeer("g", peerIP=str(RR_IP), asNumber=61234, nodeSelector="", peerSelector="")
        },
    )
    d = desired(model, ME)
    assert len(d.peers) == 3 and {p.kind for p in d.peers} == {"global"}


# --- registered pyrr instances ----------------------------------------------------------------


def registrations(*pairs: tuple[str, str]) -> dict[str, object]:
    return {ip: {"ip": ip, "cluster_id": cid} for ip, cid in pairs}


def test_registered_instances_mesh_as_non_clients() -> None:
    model = replace(
        seed_model(),
        rr_v4=registrations(
            ("192.168.56.104", "1.0.0.1"),  # ourselves
            ("192.168.56.105", "1.0.0.1"),
            ("192.168.56.106", "1.0.0.2"),
        ),
        rr_v6={"fd00:56::105": {"ip": "fd00:56::105", "cluster_id": "1.0.0.1", "port": 1790}},
    )
    me = replace(ME6, cluster_id=IPv4Address("1.0.0.1"), rr_cluster=True)
    d = desired(model, me)
    rrs = [p for p in d.peers if p.kind == "rr"]
    assert [(str(p.address), p.client, p.asn, p.port) for p in rrs] == [
        ("192.168.56.105", False, 61234, 179),
        ("192.168.56.106", False, 61234, 179),
        ("fd00:56::105", False, 61234, 1790),
    ]
    assert rrs[2].local_address == RR_IP6
    assert d.problems == ()
    assert [p for p in desired(model, ME).peers if p.kind == "rr"] == []  # not clustering


def test_registration_key_and_value_round_trip() -> None:
    key = registration_key(RR_IP)
    assert key == "/calico/bgp/v1/rr_v4/192.168.56.104"
    raw = registration_value(RR_IP, IPv4Address("1.0.0.1"))
    assert json.loads(raw) == {"ip": "192.168.56.104", "cluster_id": "1.0.0.1"}  # v0.6 format
    assert parse_resource(key, raw) == Resource("rr_v4", "192.168.56.104", json.loads(raw))
    raw6 = registration_value(RR_IP6, IPv4Address("1.0.0.1"), port=1790)
    parsed = parse_resource(registration_key(RR_IP6), raw6)
    assert isinstance(parsed, Resource) and parsed.plural == "rr_v6"
    assert parsed.value["port"] == 1790


# --- malformed data ---------------------------------------------------------------------------

NODE_KEY = "/calico/resources/v3/projectcalico.org/nodes/bad"
PEER_KEY = "/calico/resources/v3/projectcalico.org/bgppeers/bad"


def _with_spec(spec: object) -> dict[str, Any]:
    n = node("bad")
    n["spec"] = spec
    return n


def _with_bgp(**bgp: object) -> dict[str, Any]:
    n = node("bad")
    n["spec"]["bgp"] = bgp
    return n


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("not an object", "the resource is a string"),
        ([1, 2], "the resource is an array"),
        (None, "the resource is null"),
        ({**node("bad"), "metadata": "x"}, "metadata is a string"),
        (_with_spec([]), "spec is an array"),
        (_with_spec({"bgp": "yes"}), "spec.bgp is a string"),
        (_with_bgp(ipv4Address=3232250983), "spec.bgp.ipv4Address is a number"),
        (_with_bgp(ipv4Address="192.168.56.300/24"), "expected an IPv4 address"),
        (_with_bgp(ipv4Address="fd00::1/64"), "an IPv6 address, expected IPv4"),
        (_with_bgp(ipv4Address="192.168.56.9/33"), "expected an IPv4 address"),
        (_with_bgp(ipv4Address="0.0.0.0/0"), "expected a unicast address"),
        (_with_bgp(ipv4Address="10.0.0.1", ipv6Address="10.0.0.2"), "IPv4 address, expected IPv6"),
        (_with_bgp(ipv4Address="10.0.0.1", asNumber=True), "spec.bgp.asNumber is true"),
        (_with_bgp(ipv4Address="10.0.0.1", asNumber=1.5), "spec.bgp.asNumber is a number"),
        (_with_bgp(ipv4Address="10.0.0.1", asNumber=-1), "spec.bgp.asNumber is -1"),
        (_with_bgp(ipv4Address="10.0.0.1", asNumber=2**32), "spec.bgp.asNumber is 4294967296"),
        (_with_bgp(ipv4Address="10.0.0.1", asNumber="AS64512"), "spec.bgp.asNumber is 'AS64512'"),
        (_with_bgp(ipv4Address="10.0.0.1", asNumber=[1]), "spec.bgp.asNumber is an array"),
        (_with_bgp(ipv4Address="10.0.0.1", routeReflectorClusterID="rr-1"), "dotted quad"),
        (_with_bgp(ipv4Address="10.0.0.1", routeReflectorClusterID=7), "is a number"),
        (node("bad", "10.0.0.1", labels={"a": 1}), "metadata.labels['a'] is a number"),  # type: ignore[dict-item]
        ({**node("bad"), "metadata": {"labels": []}}, "metadata.labels is an array"),
    ],
)
def test_malformed_node_is_skipped_and_reported(value: object, words: str) -> None:
    model = replace(seed_model(), nodes={**seed_nodes(), "bad": value})
    d = desired(model, ME)
    assert addresses(d) == list(SEED_NODES.values())  # the others are unaffected
    assert len(d.problems) == 1, d.problems
    key, message = d.problems[0]
    assert key == NODE_KEY
    assert message.startswith("skipped: ")
    assert words in message


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (42, "the resource is a number"),
        ({"kind": "BGPPeer", "apiVersion": API, "metadata": {"name": "bad"}}, "has no spec"),
        (bgppeer("bad"), "neither spec.peerIP nor spec.peerSelector"),
        (bgppeer("bad", peerIP="192.168.56.999"), "spec.peerIP is '192.168.56.999'"),
        (bgppeer("bad", peerIP=3232250984), "spec.peerIP is a number"),
        (bgppeer("bad", peerIP="0.0.0.0"), "unicast"),
        (bgppeer("bad", peerIP=str(RR_IP), asNumber="lots"), "spec.asNumber is 'lots'"),
        (bgppeer("bad", peerIP=str(RR_IP), node=["k8s-node1"]), "spec.node is an array"),
        (bgppeer("bad", peerIP=str(RR_IP), nodeSelector="rack = 'r1'"), "spec.nodeSelector is not"),
        (bgppeer("bad", peerSelector="has(rr"), "spec.peerSelector is not a valid selector"),
        (bgppeer("bad", peerSelector=True), "spec.peerSelector is a boolean"),
    ],
)
def test_malformed_bgppeer_is_skipped_and_reported(value: object, words: str) -> None:
    model = replace(
        seed_model(),
        bgppeers={"bgppeer-global": seed_model().bgppeers["bgppeer-global"], "bad": value},
    )
    d = desired(model, ME_RR)
    assert len(d.peers) == 3
    assert len(d.problems) == 1, d.problems
    assert d.problems[0].key == PEER_KEY
    assert words in d.problems[0].message


def test_malformed_bgpconfiguration_fields_are_ignored_one_by_one() -> None:
    model = replace(
        seed_model(),
        bgpconfigurations={
            "default": bgpconfig(asNumber=61234, logSeverityScreen="Verbose", listenPort=0)
        },
    )
    d = desired(model, ME)
    assert d.local_as == 61234  # the bad log level did not cost the AS
    assert d.log_level is None
    assert [p.port for p in d.peers] == [179] * 3
    text = problem_text(d)
    assert "logSeverityScreen is 'Verbose'" in text and "listenPort is 0" in text
    model = replace(
        seed_model(),
        bgpconfigurations={"default": bgpconfig(asNumber="many", logSeverityScreen="Debug")},
    )
    d = desired(model, replace(ME, fallback_as=65100))
    assert d.log_level == "debug"
    assert "using the fallback AS" in problem_text(d)
    # The BGPPeers all say 61234, so that becomes the local AS (the v0.6 behaviour).
    assert d.local_as == 61234
    d = desired(replace(seed_model(), bgpconfigurations={"default": "junk"}), ME)
    assert d.problems[0].message.startswith("skipped: ")


def test_malformed_registration() -> None:
    model = replace(
        seed_model(),
        rr_v4={
            "192.168.56.105": {"ip": "192.168.56.106", "cluster_id": "1.0.0.1"},
            "192.168.56.107": {"cluster_id": "1.0.0.1"},
            "192.168.56.108": {"ip": "192.168.56.108", "cluster_id": "one"},
            "192.168.56.109": {"ip": "192.168.56.109", "port": "179"},
            "192.168.56.110": "x",
        },
    )
    d = desired(model, replace(ME, rr_cluster=True))
    assert [p.kind for p in d.peers] == ["global"] * 3
    assert len(d.problems) == 5


def test_a_model_that_is_not_mappings() -> None:
    model = CalicoModel(nodes=[1, 2, 3])  # type: ignore[arg-type]
    d = desired(model, ME)
    assert d.peers == () and len(d.problems) == 1


# --- parse_resource ---------------------------------------------------------------------------


def raw(value: object) -> bytes:
    return json.dumps(value).encode()


def test_parse_resource_ok() -> None:
    value = node("k8s-node1", "192.168.56.102/24")
    key = resource_key("nodes", "k8s-node1")
    assert parse_resource(key, raw(value)) == Resource("nodes", "k8s-node1", value)
    for plural, value in (
        ("bgppeers", bgppeer("g", peerIP="1.2.3.4")),
        ("bgpconfigurations", bgpconfig()),
    ):
        name = value["metadata"]["name"]
        assert parse_resource(resource_key(plural, name), raw(value)) == Resource(
            plural, name, value
        )


@pytest.mark.parametrize(
    ("key", "data", "words"),
    [
        (NODE_KEY, b"{not json", "not valid JSON"),
        (NODE_KEY, b"\xff\xfe", "not UTF-8"),
        (NODE_KEY, b"[1]", "is an array, expected a JSON object"),
        (NODE_KEY, b"null", "is null"),
        (NODE_KEY, b'{"a": NaN}', "not valid JSON"),
        (NODE_KEY, b"[" * 100_000, "nested too deeply"),
        (NODE_KEY, b"1" + b"0" * 5000, "not valid JSON"),
        (NODE_KEY, raw({**node("bad"), "kind": "BGPPeer"}), "expected 'Node'"),
        (NODE_KEY, raw({**node("bad"), "apiVersion": "v1"}), "apiVersion is 'v1'"),
        (NODE_KEY, raw({k: v for k, v in node("bad").items() if k != "kind"}), "kind is null"),
        (NODE_KEY, raw(node("other")), "metadata.name is 'other'"),
        (NODE_KEY, raw({**node("bad"), "metadata": [1]}), "metadata is an array"),
        ("/calico/resources/v3/projectcalico.org/profiles/x", raw({}), "not a resource pyrr reads"),
        ("/calico/resources/v3/projectcalico.org/nodes/", raw(node("x")), "expected"),
        ("/calico/resources/v3/projectcalico.org/nodes/a/b", raw(node("x")), "expected"),
        ("/calico/ipam/v2/host/x", raw({}), "not a key pyrr reads"),
        (RR_V4_PREFIX + "10.0.0.1", raw({"ip": "10.0.0.2"}), "but the key names 10.0.0.1"),
        (RR_V4_PREFIX + "rr1", raw({"ip": "10.0.0.2"}), "not an IPv4 address"),
        (RR_V4_PREFIX, raw({"ip": "10.0.0.2"}), "expected one address"),
    ],
)
def test_parse_resource_problems(key: str, data: bytes, words: str) -> None:
    result = parse_resource(key, data)
    assert isinstance(result, Problem), result
    assert result.key == key
    assert words in result.message


def test_prefixes_cover_what_pyrr_reads() -> None:
    assert "/calico/resources/v3/projectcalico.org/nodes/" in PREFIXES
    assert "/calico/resources/v3/projectcalico.org/bgppeers/" in PREFIXES
    assert "/calico/resources/v3/projectcalico.org/bgpconfigurations/" in PREFIXES
    assert RR_V4_PREFIX in PREFIXES


def test_model_from_resources() -> None:
    resources = [
        parse_resource(resource_key("nodes", n), raw(v)) for n, v in seed_nodes().items()
    ] + [
        parse_resource(resource_key("bgpconfigurations", "default"), raw(SEED_CONFIG["default"])),
        parse_resource(
            resource_key("bgppeers", "bgppeer-global"),
            raw(bgppeer("bgppeer-global", peerIP=str(RR_IP), asNumber=61234)),
        ),
    ]
    model = CalicoModel.from_resources(r for r in resources if isinstance(r, Resource))
    assert desired(model, ME) == desired(seed_model(), ME)


# --- into a Config ----------------------------------------------------------------------------


def test_apply_and_identity_from_settings() -> None:
    env = EnvSettings(
        ip=RR_IP,
        etcd_endpoints=(EtcdEndpoint("https", "192.168.56.101", 2379),),
        labels={"route-reflector": "true"},
    )
    base = merge(None, env, {})
    me = Identity.from_settings(base, env)
    assert me == Identity(
        ip=RR_IP, router_id=RR_IP, cluster_id=RR_IP, labels={"route-reflector": "true"}
    )
    d = desired(seed_model(), me)
    cfg = d.apply(base)
    assert cfg.bgp.asn == 61234
    assert cfg.peers == d.peers
    assert cfg.log_level == "info"
    assert d.apply(replace(base, log_level="debug"), keep_log_level=True).log_level == "debug"
    quiet = replace(d, log_level=None)
    assert quiet.apply(replace(base, log_level="error")).log_level == "error"
    assert isinstance(cfg, Config) and isinstance(cfg.bgp, GlobalConfig)


# --- robustness -------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_ADDR = st.sampled_from(
    ["192.168.56.104", "192.168.56.101/24", "fd00:56::104", "fd00::1/64", "", "x", "1.2.3.4:179"]
)
_SEL = st.sampled_from(["", "all()", "has(route-reflector)", "a == 'b'", "(((", "!has(x)"])
_AS = st.one_of(st.integers(-5, 2**33), st.sampled_from(["61234", "1.10", "", "x", None]), _JSON)
_LEAF_OR_JUNK = st.one_of(_JSON, _ADDR, _SEL, _AS)

_NODE = (
    st.fixed_dictionaries(
        {},
        optional={
            "kind": st.just("Node") | _JSON,
            "metadata": st.fixed_dictionaries(
                {},
                optional={
                    "labels": st.dictionaries(
                        st.sampled_from(["route-reflector", "a"]), st.text(max_size=3)
                    )
                    | _JSON
                },
            )
            | _JSON,
            "spec": st.fixed_dictionaries(
                {},
                optional={
                    "bgp": st.fixed_dictionaries(
                        {},
                        optional={
                            "ipv4Address": _ADDR | _JSON,
                            "ipv6Address": _ADDR | _JSON,
                            "asNumber": _AS,
                            "routeReflectorClusterID": st.sampled_from(["224.0.0.1", "", "x"])
                            | _JSON,
                        },
                    )
                    | _JSON
                },
            )
            | _JSON,
        },
    )
    | _JSON
)
_PEER = (
    st.fixed_dictionaries(
        {},
        optional={
            "spec": st.fixed_dictionaries(
                {},
                optional={
                    "peerIP": _ADDR | _JSON,
                    "asNumber": _AS,
                    "node": st.sampled_from(["n0", "n1", ""]) | _JSON,
                    "nodeSelector": _SEL | _JSON,
                    "peerSelector": _SEL | _JSON,
                    "password": _JSON,
                },
            )
            | _JSON
        },
    )
    | _JSON
)
_CONFIG = (
    st.fixed_dictionaries(
        {},
        optional={
            "spec": st.fixed_dictionaries(
                {},
                optional={
                    "asNumber": _AS,
                    "logSeverityScreen": st.sampled_from(["Info", "x"]) | _JSON,
                    "listenPort": st.integers(-1, 70000) | _JSON,
                },
            )
            | _JSON
        },
    )
    | _JSON
)
_NAMES = st.sampled_from(["n0", "n1", "n2", "default", "node.n0", "192.168.56.105", "fd00::5"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nodes=st.dictionaries(_NAMES, _NODE, max_size=4),
    peers=st.dictionaries(_NAMES, _PEER, max_size=3),
    configs=st.dictionaries(_NAMES, _CONFIG, max_size=2),
    rrs=st.dictionaries(
        _NAMES,
        _JSON | st.fixed_dictionaries({"ip": _ADDR, "cluster_id": _LEAF_OR_JUNK}),
        max_size=2,
    ),
    ip6=st.booleans(),
    labels=st.none() | st.just(RR_LABELS),
)
def test_random_resources_never_raise(
    *,
    nodes: dict[str, object],
    peers: dict[str, object],
    configs: dict[str, object],
    rrs: dict[str, object],
    ip6: bool,
    labels: dict[str, str] | None,
) -> None:
    model = CalicoModel(
        nodes=nodes, bgppeers=peers, bgpconfigurations=configs, rr_v4=rrs, rr_v6=rrs
    )
    me = Identity(ip=RR_IP, ip6=RR_IP6 if ip6 else None, labels=labels, rr_cluster=True)
    d = desired(model, me)
    assert 1 <= d.local_as <= 2**32 - 1
    seen = [p.address for p in d.peers]
    assert len(seen) == len(set(seen))
    assert RR_IP not in seen and RR_IP6 not in seen
    for p in d.peers:
        assert ip_address(p.address) == p.address
        assert p.local_address is not None and p.local_address.version == p.address.version
    for problem in (*d.problems, *d.skipped):
        assert isinstance(problem.key, str) and isinstance(problem.message, str)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(
        [
            "/calico/resources/v3/projectcalico.org/nodes/n",
            "/calico/resources/v3/projectcalico.org/bgppeers/p",
            "/calico/bgp/v1/rr_v4/10.0.0.1",
            "/calico/bgp/v1/rr_v6/fd00::1",
            "/other",
        ]
    ),
    st.one_of(st.binary(max_size=64), _JSON.map(lambda v: json.dumps(v).encode())),
)
def test_parse_resource_never_raises(key: str, data: bytes) -> None:
    result = parse_resource(key, data)
    assert isinstance(result, Resource | Problem)
