"""pyrr's own Node (NODENAME): resolve() and what is fixed once the speaker runs."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from pyrr.store.calico.model import CalicoModel, Identity
from pyrr.store.calico.node_self import NodeSettings, Started, resolve
from tests.store.calico.test_desired import bgpconfig, node

TEMPLATE = Identity(ip=IPv4Address(0), fallback_as=64512, password="pw")
SETTINGS = NodeSettings(name="rr1", template=TEMPLATE)
RR = node(
    "rr1",
    "198.18.0.10/24",
    ipv6="2001:db8::10/64",
    cluster_id="224.0.0.1",
    asn=65010,
    labels={"route-reflector": "true"},
)


def test_the_node_gives_addresses_labels_cluster_and_as() -> None:
    r = resolve(CalicoModel(nodes={"rr1": RR}), SETTINGS, None)
    me = r.identity
    assert me is not None and r.problems == ()
    assert (me.ip, me.ip6, me.router_id) == (
        IPv4Address("198.18.0.10"),
        IPv6Address("2001:db8::10"),
        IPv4Address("198.18.0.10"),
    )
    assert me.cluster_id == IPv4Address("224.0.0.1") and me.node_as == 65010
    assert me.labels == {"route-reflector": "true"} and me.node_name == "rr1"
    assert me.password == "pw" and me.port == 179
    assert r.wanted == Started(me.ip, me.ip, me.ip6, IPv4Address("224.0.0.1"), 179)


def test_environment_overrides_the_addresses() -> None:
    settings = NodeSettings(
        name="rr1", template=TEMPLATE, ip=IPv4Address("198.18.0.99"), ip6=None, port=1179
    )
    r = resolve(CalicoModel(nodes={"rr1": RR}), settings, None)
    me = r.identity
    assert me is not None and me.ip == IPv4Address("198.18.0.99") and me.port == 1179
    assert me.ip6 == IPv6Address("2001:db8::10")  # IP6 unset: the Node's
    # pyrr never writes its Node: an IP the nodes do not dial is reported.
    assert [p.message for p in r.problems] == [
        "IP is 198.18.0.99 but the Node says 198.18.0.10: calico-node dials the Node's"
        " address; make them agree (pyrr init-node --force --ip ...)"
    ]


def test_no_address_waits() -> None:
    r = resolve(CalicoModel(), SETTINGS, None)
    assert r.identity is None and "is not in the datastore" in r.waiting
    assert "create it with `pyrr init-node`" in r.problems[0].message
    bare = node("rr1", None)
    r = resolve(CalicoModel(nodes={"rr1": bare}), SETTINGS, None)
    assert r.identity is None and "has no spec.bgp.ipv4Address" in r.waiting


def test_missing_node_with_ip_runs_without_labels() -> None:
    settings = NodeSettings(name="rr1", template=TEMPLATE, ip=IPv4Address("198.18.0.10"))
    r = resolve(CalicoModel(), settings, None)
    assert r.identity is not None and r.identity.labels == {}
    assert r.identity.cluster_id == IPv4Address("198.18.0.10")


def test_cluster_id_fallbacks_are_reported() -> None:
    plain = node("rr1", "198.18.0.10/24")
    settings = NodeSettings(name="rr1", template=TEMPLATE, cluster_id=IPv4Address("1.0.0.1"))
    r = resolve(CalicoModel(nodes={"rr1": plain}), settings, None)
    assert r.identity is not None and r.identity.cluster_id == IPv4Address("1.0.0.1")
    assert "no spec.bgp.routeReflectorClusterID" in r.problems[0].message
    r = resolve(CalicoModel(nodes={"rr1": RR}), settings, None)
    assert r.identity is not None and r.identity.cluster_id == IPv4Address("224.0.0.1")
    assert "CLUSTER_ID 1.0.0.1 is ignored" in r.problems[0].message


def test_listen_port_from_the_bgp_configuration() -> None:
    configs = {
        "default": bgpconfig(listenPort=1179),
        "node.rr1": bgpconfig("node.rr1", listenPort=2179),
    }
    me = resolve(CalicoModel(nodes={"rr1": RR}, bgpconfigurations=configs), SETTINGS, None).identity
    assert me is not None and me.port == 2179


def test_started_values_stay_until_a_restart() -> None:
    first = resolve(CalicoModel(nodes={"rr1": RR}), SETTINGS, None)
    assert first.wanted is not None
    moved = node("rr1", "198.18.0.20/24", cluster_id="224.0.0.9", labels={"route-reflector": "no"})
    r = resolve(CalicoModel(nodes={"rr1": moved}), SETTINGS, first.wanted)
    me = r.identity
    assert me is not None and r.wanted is not None
    # Running values kept; labels and the AS follow the Node.
    assert me.ip == IPv4Address("198.18.0.10") and me.cluster_id == IPv4Address("224.0.0.1")
    assert me.labels == {"route-reflector": "no"} and me.node_as is None
    assert first.wanted.differences(r.wanted) == [
        "router_id: 198.18.0.10 -> 198.18.0.20",
        "ip: 198.18.0.10 -> 198.18.0.20",
        "ip6: 2001:db8::10 -> None",
        "cluster_id: 224.0.0.1 -> 224.0.0.9",
    ]
