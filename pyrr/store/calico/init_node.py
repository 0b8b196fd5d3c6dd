"""`pyrr init-node`: the Calico Node a new reflector needs, as a value to write to etcd.

calico-node creates its own Node when it starts; pyrr does not run calico-node, so
`pyrr init-node` creates pyrr's: `spec.bgp.ipv4Address` (and `ipv6Address`), the
`routeReflectorClusterID` and the labels BGPPeer selectors match (by default
`route-reflector=true`, what Calico's route-reflector guide selects on), optionally
`asNumber`. It never writes `orchRefs`: kube-controllers' node controller (etcd mode) deletes
Calico Nodes whose Kubernetes node is gone, and pyrr's has none.

`plan(existing, request)` decides, without I/O:

- no Node: create it, with the annotation CREATED_BY, a fresh uid and creation time (as
  libcalico-go stores them);
- a Node with the annotation (an earlier init-node): update the fields asked for, add the
  labels asked for, keep everything else; nothing to change: "unchanged" (run it again
  freely);
- a Node without the annotation (calico-node's, or someone else's): refused, unless `force`:
  then the same update, and the annotation is added (pyrr manages it from then on).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Interface, IPv6Interface
from typing import Final

from .model import API_VERSION, resource_key

__all__ = ["CREATED_BY", "InitNodeError", "NodeRequest", "Plan", "node_key", "plan"]

# The annotation that marks a Node as written by `pyrr init-node`.
CREATED_BY: Final = "pyrr/created-by"
_CREATED_BY_VALUE: Final = "pyrr init-node"


class InitNodeError(Exception):
    """The Node cannot be written as asked (the message says why and what to do)."""


@dataclass(frozen=True, slots=True)
class NodeRequest:
    name: str
    ipv4: IPv4Interface
    cluster_id: IPv4Address
    labels: Mapping[str, str] = field(default_factory=dict)
    ipv6: IPv6Interface | None = None
    asn: int | None = None
    force: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    action: str  # "create", "update" or "unchanged"
    key: str
    value: dict[str, object]

    def encode(self) -> bytes:
        return json.dumps(self.value, separators=(",", ":")).encode()


def node_key(name: str) -> str:
    return resource_key("nodes", name)


def _new_node(name: str, now: datetime) -> dict[str, object]:
    return {
        "kind": "Node",
        "apiVersion": API_VERSION,
        "metadata": {
            "name": name,
            "uid": str(uuid.uuid4()),
            "creationTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "spec": {},
    }


def _table(parent: dict[str, object], key: str) -> dict[str, object]:
    child = parent.get(key)
    if not isinstance(child, dict):
        child = {}
        parent[key] = child
    return child


def plan(existing: bytes | None, request: NodeRequest, now: datetime | None = None) -> Plan:
    """What to write for `request`, given the Node's current value (None: there is none)."""
    key = node_key(request.name)
    if existing is None:
        node = _new_node(request.name, now or datetime.now(UTC))
        before: dict[str, object] = {}
    else:
        try:
            found: object = json.loads(existing)
        except ValueError:
            found = None
        if isinstance(found, dict):
            node = found
        elif request.force:
            node = _new_node(request.name, now or datetime.now(UTC))
        else:
            raise InitNodeError(
                f"{key} holds a value that is not a JSON object; --force replaces it"
            )
        before = copy.deepcopy(node)
        meta = node.get("metadata")
        annotations = meta.get("annotations") if isinstance(meta, dict) else None
        ours = isinstance(annotations, dict) and CREATED_BY in annotations
        if not ours and not request.force:
            raise InitNodeError(
                f"Node {request.name!r} exists and was not created by pyrr init-node (it has no"
                f" {CREATED_BY} annotation; calico-node's own Node?); --force updates its BGP"
                " spec and labels and marks it pyrr's"
            )
    metadata = _table(node, "metadata")
    _table(metadata, "annotations")[CREATED_BY] = _CREATED_BY_VALUE
    labels = _table(metadata, "labels")
    labels.update(request.labels)
    bgp = _table(_table(node, "spec"), "bgp")
    bgp["ipv4Address"] = str(request.ipv4)
    if request.ipv6 is not None:
        bgp["ipv6Address"] = str(request.ipv6)
    bgp["routeReflectorClusterID"] = str(request.cluster_id)
    if request.asn is not None:
        bgp["asNumber"] = request.asn
    if existing is None:
        return Plan("create", key, node)
    return Plan("unchanged" if node == before else "update", key, node)
