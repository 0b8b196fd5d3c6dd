"""Calico v3 resources as calicoctl stores them in etcd (see ../shared/calico-model.md)."""

from __future__ import annotations

import json
from ipaddress import ip_interface

from pyrr.store.calico.model import RESOURCE_PREFIX

SEED_AS = 61234  # the field report's AS


def node_key(name: str) -> str:
    return f"{RESOURCE_PREFIX}nodes/{name}"


def bgppeer_key(name: str) -> str:
    return f"{RESOURCE_PREFIX}bgppeers/{name}"


def bgpconfig_key(name: str = "default") -> str:
    return f"{RESOURCE_PREFIX}bgpconfigurations/{name}"


def _dump(doc: dict[str, object]) -> str:
    return json.dumps(doc, separators=(",", ":"))


def node(
    name: str,
    ipv4: str | None,
    ipv6: str | None = None,
    asn: int | None = None,
    *,
    labels: dict[str, str] | None = None,
    cluster_id: str | None = None,
) -> str:
    """A Node as calico-node writes it: addresses in CIDR form, an orchRef; 3.3+ reflectors
    also have labels and a routeReflectorClusterID."""
    bgp: dict[str, object] = {}
    if cluster_id is not None:
        bgp["routeReflectorClusterID"] = cluster_id
    if ipv4 is not None:
        bgp["ipv4Address"] = str(ip_interface(ipv4 if "/" in ipv4 else f"{ipv4}/24"))
    if ipv6 is not None:
        bgp["ipv6Address"] = str(ip_interface(ipv6 if "/" in ipv6 else f"{ipv6}/64"))
    if asn is not None:
        bgp["asNumber"] = asn
    return _dump(
        {
            "kind": "Node",
            "apiVersion": "projectcalico.org/v3",
            "metadata": {
                "name": name,
                "uid": f"uid-{name}",
                "creationTimestamp": "2018-05-20T10:00:00Z",
                "labels": {"kubernetes.io/hostname": name, **(labels or {})},
            },
            "spec": {"bgp": bgp, "orchRefs": [{"nodeName": name, "orchestrator": "k8s"}]},
        }
    )


def bgpconfig(
    asn: int = SEED_AS, log: str | None = "Info", mesh: bool = False, **extra: object
) -> str:
    """The field report's `default` BGPConfiguration (plus any other spec fields)."""
    spec: dict[str, object] = {"nodeToNodeMeshEnabled": mesh, "asNumber": asn, **extra}
    if log is not None:
        spec["logSeverityScreen"] = log
    return _dump(
        {
            "kind": "BGPConfiguration",
            "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": "default"},
            "spec": spec,
        }
    )


def bgppeer(name: str, peer_ip: str, asn: int = SEED_AS, node_name: str | None = None) -> str:
    """A BGPPeer: global (every node peers with peer_ip) unless `node_name`."""
    spec: dict[str, object] = {"peerIP": peer_ip, "asNumber": asn}
    if node_name is not None:
        spec["node"] = node_name
    return _dump(
        {
            "kind": "BGPPeer",
            "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def bgpfilter_key(name: str) -> str:
    return f"{RESOURCE_PREFIX}bgpfilters/{name}"


def selector_bgppeer(name: str, node_selector: str, peer_selector: str, **spec: object) -> str:
    """The BGPPeer of Calico's route-reflector guide (nodeSelector/peerSelector), plus `spec`."""
    return _dump(
        {
            "kind": "BGPPeer",
            "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": name},
            "spec": {"nodeSelector": node_selector, "peerSelector": peer_selector, **spec},
        }
    )


def ippool_key(name: str) -> str:
    return f"{RESOURCE_PREFIX}ippools/{name}"


def ippool(name: str, cidr: str, block_size: int | None = None) -> str:
    """An IPPool as calicoctl stores it (no encapsulation: BGP carries the pod routes)."""
    v6 = ":" in cidr
    return _dump(
        {
            "kind": "IPPool",
            "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": name, "uid": f"uid-{name}"},
            "spec": {
                "cidr": cidr,
                "ipipMode": "Never",
                "vxlanMode": "Never",
                "natOutgoing": not v6,
                "blockSize": block_size or (122 if v6 else 26),
                "nodeSelector": "all()",
            },
        }
    )


def bgpfilter(name: str, spec: dict[str, object]) -> str:
    """A BGPFilter (Calico 3.26+) with the given spec (exportV4, importV4, ...)."""
    return _dump(
        {
            "kind": "BGPFilter",
            "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def bgppeer_spec(name: str, **spec: object) -> str:
    """A BGPPeer with any spec (e.g. nodeSelector + peerIP + asNumber: an outside peer of the
    nodes selected)."""
    return _dump(
        {
            "kind": "BGPPeer",
            "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": name},
            "spec": spec,
        }
    )
