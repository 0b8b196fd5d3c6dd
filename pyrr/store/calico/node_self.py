"""Who pyrr is when it is a Calico Node (NODENAME): its Identity, read from its own Node.

calico-node's rules for its own Node (node/pkg/lifecycle/startup/startup.go), as pyrr applies
them without ever writing the Node (`pyrr init-node` creates it):

- `IP` (and `IP6`), when set, win; unset, the Node's `spec.bgp.ipv4Address` (`ipv6Address`)
  is the address: router id, source address of every session, listen address. Without an
  IPv4 address from either, pyrr cannot start (BGP needs a 4-octet router id): it waits and
  says why. calico-node writes IP into its Node; pyrr does not, so an IP that differs from
  the Node's address is reported (the nodes dial the Node's).
- labels: the Node's `metadata.labels` (what BGPPeer selectors match); PYRR_LABELS is not used.
- cluster id: the Node's `spec.bgp.routeReflectorClusterID`; without one, CLUSTER_ID, else the
  router id, and a problem is reported, because calico-node then does not see pyrr's Node as a
  route reflector (its mesh includes it; RR-to-RR peerings treat it as a client).
- AS: the Node's `spec.bgp.asNumber`, else the default BGPConfiguration's, else PYRR_AS (64512).
- port: PYRR_PORT, else the BGPConfiguration listenPort for this node (`node.<name>`, then
  `default`), which is where calico-node dials pyrr's Node, else the configuration's (179).

What a running speaker cannot change (router id, addresses, cluster id, port) is fixed when it
starts (`Started`): later computations use the started values, so pyrr's view of which peers
are clients stays the cluster id the speaker stamps into CLUSTER_LIST, and `resolve()` reports
the difference for a restart to apply (pyrr.store.calico.source logs it). Labels and the AS
follow the Node live: labels change the peer set, the AS resets every session.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv6Address

from ...bgp.constants import BGP_PORT
from ..limits import is_port
from .model import CalicoModel, Identity, Problem, resource_key
from .resources import Node, read_node
from .values import Bad, as_object

__all__ = ["NodeSettings", "Resolved", "Started", "resolve"]


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """What the environment says about pyrr-as-a-Node; `template` holds the rest of the
    Identity (fallback AS, password, secrets, registration)."""

    name: str
    template: Identity
    ip: IPv4Address | None = None  # IP
    ip6: IPv6Address | None = None  # IP6
    cluster_id: IPv4Address | None = None  # CLUSTER_ID
    port: int | None = None  # PYRR_PORT
    default_port: int = BGP_PORT  # the configuration's port when nothing else names one


@dataclass(frozen=True, slots=True)
class Started:
    """The values a running speaker keeps until it is restarted."""

    router_id: IPv4Address
    ip: IPv4Address
    ip6: IPv6Address | None
    cluster_id: IPv4Address
    port: int

    def differences(self, other: Started) -> list[str]:
        """ "field: running -> wanted" for each field that differs."""
        out: list[str] = []
        for name in ("router_id", "ip", "ip6", "cluster_id", "port"):
            now, then = getattr(self, name), getattr(other, name)
            if now != then:
                out.append(f"{name}: {now} -> {then}")
        return out


@dataclass(frozen=True, slots=True)
class Resolved:
    identity: Identity | None  # None: pyrr cannot run yet (`waiting` says why)
    wanted: Started | None  # what the Node asks for now
    waiting: str = ""
    problems: tuple[Problem, ...] = field(default=())


def _listen_port(model: CalicoModel, name: str) -> int | None:
    for config in (f"node.{name}", "default"):
        try:
            spec = as_object(as_object(model.bgpconfigurations.get(config), "").get("spec"), "")
        except Bad:
            continue
        port = spec.get("listenPort")
        if is_port(port):
            return port
    return None


def _own_node(model: CalicoModel, name: str, problems: list[Problem]) -> Node | None:
    key = resource_key("nodes", name)
    value = model.nodes.get(name)
    if value is None:
        problems.append(
            Problem(
                key,
                f"pyrr's Node {name!r} (NODENAME) does not exist: no BGPPeer selector matches"
                " pyrr and no calico-node peers with it; create it with `pyrr init-node`",
            )
        )
        return None
    try:
        return read_node(name, key, value)
    except Bad as bad:
        problems.append(Problem(key, f"pyrr's Node is not usable: {bad}"))
        return None


def resolve(model: CalicoModel, settings: NodeSettings, started: Started | None) -> Resolved:
    """pyrr's Identity from its Node and the environment; `started`: the running values."""
    problems: list[Problem] = []
    name = settings.name
    key = resource_key("nodes", name)
    node = _own_node(model, name, problems)
    ip = settings.ip or (node.ipv4 if node is not None else None)
    if ip is None and started is not None:
        ip = started.ip  # the Node went away under a running pyrr: keep what it runs with
    if ip is None:
        why = (
            f"pyrr's Node {name!r} has no spec.bgp.ipv4Address"
            if node is not None
            else f"pyrr's Node {name!r} is not in the datastore"
        )
        waiting = f"{why} and IP is not set: pyrr needs an IPv4 router id to start"
        return Resolved(None, None, waiting, tuple(problems))
    for variable, mine, written in (
        ("IP", settings.ip, node.ipv4 if node is not None else None),
        ("IP6", settings.ip6, node.ipv6 if node is not None else None),
    ):
        if mine is not None and written is not None and mine != written:
            problems.append(
                Problem(
                    key,
                    f"{variable} is {mine} but the Node says {written}: calico-node dials the"
                    f" Node's address; make them agree (pyrr init-node --force --ip ...)",
                )
            )
    node_cluster = node.cluster_id if node is not None else None
    if node is not None and node_cluster is None:
        problems.append(
            Problem(
                key,
                "pyrr's Node has no spec.bgp.routeReflectorClusterID: calico-node does not take"
                " it for a route reflector (it meshes with it, and reflectors make it their"
                " client); set one (pyrr init-node --cluster-id, or calicoctl patch node)",
            )
        )
    if node_cluster is not None and settings.cluster_id not in (None, node_cluster):
        problems.append(
            Problem(
                key, f"CLUSTER_ID {settings.cluster_id} is ignored: the Node's is {node_cluster}"
            )
        )
    wanted = Started(
        router_id=ip,
        ip=ip,
        ip6=settings.ip6 or (node.ipv6 if node is not None else None),
        cluster_id=node_cluster or settings.cluster_id or ip,
        port=settings.port or _listen_port(model, name) or settings.default_port,
    )
    run = started or wanted
    identity = replace(
        settings.template,
        ip=run.ip,
        ip6=run.ip6,
        router_id=run.router_id,
        cluster_id=run.cluster_id,
        labels=dict(node.labels) if node is not None else {},
        node_name=name,
        node_as=node.asn if node is not None else None,
        port=run.port,
    )
    return Resolved(identity, wanted, "", tuple(problems))
