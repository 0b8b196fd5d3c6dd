"""Calico's v3 data model (CalicoModel) turned into the peers pyrr should have: `desired()`.

Input: the parsed JSON of the resources and registrations (pyrr.store.calico.model.CalicoModel),
plus who pyrr is (Identity). Output: `desired()` -> Desired, the local AS, the datastore's log
level and a tuple of PeerConfig, with every problem in the data reported as (key, message)
instead of raised. Each resource is read with pyrr.store.calico.resources (`_node()`,
`_bgppeer()`, `_registration()`); one that is malformed is skipped and reported (see that
module), `bgpconfigurations` field by field. `desired()` never raises.

What the original calico/routereflector v0.6.x rendered, and pyrr keeps:

- A BGPPeer "points at pyrr" when its `peerIP` is pyrr's IP (IPv4 sessions) or IP6 (IPv6
  sessions; the original's IPv6 node-specific branch compared against IP, a bug not copied).
- A global BGPPeer (no `node`, no `nodeSelector`) gives one session per Calico node; a
  node-specific one (`node: <name>`) a session to that node. The session goes to the node's
  `spec.bgp.ipv4Address` (or `ipv6Address`), prefix length stripped, and is an iBGP RR-client
  session. Nothing is generated when no BGPPeer points at pyrr.
- Peer AS: the BGPPeer's `asNumber`; absent (or 0), the node's `spec.bgp.asNumber`, else
  `bgpconfigurations/default` `asNumber`, else 64512 (Calico's default). A BGPPeer asNumber
  that is not the node's own AS is reported: the node opens with its own AS, so that session
  fails (it failed with the original too).

Where the original was broken or silent, pyrr decides:

- Local AS (one for all sessions; the original wrote `local as <BGPPeer asNumber>` per
  session): `bgpconfigurations/default` `asNumber`; else, when every peerIP BGPPeer pointing at
  pyrr names the same asNumber, that one (what the original used); else Identity.fallback_as.
- A node without `spec.bgp`, or without the address of the session's family, gets no session
  and is listed in Desired.skipped (the original rendered a broken BIRD config).
- The node whose address is pyrr's own gets no session (that is pyrr's host running
  calico-node too).
- Two sessions to one address: the first wins, in this order: BGPPeers pointing at pyrr that
  are global, then those that are not (node / nodeSelector), then BGPPeers that configure pyrr
  itself (below), then registered pyrr instances; within each, BGPPeers and nodes by name. A
  loser that asked for another AS is reported.
- Each session: active (passive=False; BIRD dialled too, collisions are resolved),
  hold time default, `local_address` = IP or IP6, `description` = node name, `kind` = "global",
  "node" or "rr", port = `bgpconfigurations` `listenPort` (node.<name> first, then default), 179.
- `client` = same AS as pyrr and not a route reflector of pyrr's own cluster id (below).
- TCP MD5 (RFC 2385): a BGPPeer's `spec.password` is a Kubernetes secret reference, which pyrr
  cannot read from etcd. Every session gets Identity.password (PYRR_BGP_PASSWORD or
  PYRR_BGP_PASSWORD_FILE, see docs/security.md), or no key; a BGPPeer with a password while
  pyrr has none is reported.

Calico 3.3+ (calico-node as RR, selectors):

- pyrr takes part in selector peerings only when it has labels (PYRR_LABELS, Identity.labels);
  with labels None no selector ever matches pyrr, which is the v0.6 behaviour. pyrr is not a
  Node resource: a Node with pyrr's address is not taken as pyrr's identity.
- A BGPPeer whose `peerSelector` matches pyrr's labels points at pyrr (its `peerIP` is then
  ignored, as confd ignores it): pyrr peers with the nodes its `nodeSelector` selects (or its
  `node`, or every node when global), both families. Peer AS = the node's own AS.
- A BGPPeer whose `nodeSelector` matches pyrr (or a global one) and has a `peerSelector`: pyrr
  peers with the nodes the `peerSelector` selects, as calico-node would. A peerIP BGPPeer that
  selects pyrr this way names an outside router, which pyrr does not peer with.
- An empty `nodeSelector`/`peerSelector` means "not set" (confd checks `!= ""`).
- Nodes with `spec.bgp.routeReflectorClusterID` are route reflectors, kind "rr": one with
  pyrr's cluster id is a non-client (RFC 4456: redundant RRs of one cluster are non-clients); one
  with another cluster id is a client, as calico-node's template makes it (`rr client` when the
  AS is the same and the peer's cluster id differs), so both ends of an inter-cluster session
  agree. Plain nodes are clients.

pyrr instances (PYRR_RR_CLUSTER, Identity.rr_cluster): each registers
`/calico/bgp/v1/rr_v4/<IP>` = `{"ip": IP, "cluster_id": CLUSTER_ID}` (and rr_v6 for IP6), the
v0.6 format, and all registered instances form an iBGP full mesh of non-client sessions,
whatever their cluster id, as the v0.6 template's "RR-to-RR full mesh" did: RFC 4456 needs the
reflectors of different clusters meshed too, or routes do not cross between clusters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Final, TypeVar

from ...bgp.constants import BGP_PORT
from ...config import IPAddress, PeerConfig
from ..file.environment import CALICO_DEFAULT_AS
from ..limits import MAX_PORT, is_port, normal_log_level
from .model import CalicoModel, Desired, Identity, IPVersion, Problem, resource_key
from .resources import (
    _asn,
    _Bad,
    _BGPConfig,
    _BGPPeer,
    _bgppeer,
    _Node,
    _node,
    _Registration,
    _registration,
    _show,
    _spec,
)

__all__ = ["desired"]

_LIST_LIMIT: Final = 5  # node names quoted in one problem message

_T = TypeVar("_T")


# --- computing the peers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Want:
    """One wanted session before it becomes a PeerConfig."""

    address: IPAddress
    asn: int
    family: IPVersion
    kind: str
    description: str
    port: int
    cluster_id: IPv4Address | None  # the far end's, when it is a route reflector
    source: str  # the key of the BGPPeer or registration asking for it
    always_non_client: bool = False
    has_password: bool = False


class _Run:
    """One desired() computation: collects problems and skipped nodes as it goes.

    run() reads the datastore (bgp_config, nodes, bgppeers), then wants the sessions of the
    BGPPeers that point at pyrr (pointing_wants), of those that configure pyrr towards
    selected nodes (selector_wants) and of the registered pyrr instances
    (registration_wants), in that order, which is the order the first of two sessions to one
    address wins in (peer_configs).
    """

    def __init__(self, model: CalicoModel, me: Identity) -> None:
        self.model = model
        self.me = me
        self.problems: dict[tuple[str, str], None] = {}
        self.skipped: dict[tuple[str, str], None] = {}
        self.families = (IPVersion.V4, IPVersion.V6) if me.ip6 is not None else (IPVersion.V4,)
        # What run() reads first.
        self.config = _BGPConfig()
        self.nodes: list[_Node] = []
        self.by_name: dict[str, _Node] = {}

    def problem(self, key: str, message: str) -> None:
        self.problems[(key, message)] = None

    def skip(self, key: str, message: str) -> None:
        self.skipped[(key, message)] = None

    # -- reading --

    def items(self, plural: str, mapping: Mapping[str, object]) -> list[tuple[str, str, object]]:
        try:
            pairs = sorted(mapping.items(), key=lambda kv: str(kv[0]))
        except Exception as err:  # not a mapping at all: nothing to read
            self.problem(resource_key(plural, "*"), f"cannot be read: {err}")
            return []
        return [(str(name), resource_key(plural, str(name)), value) for name, value in pairs]

    def read_each(
        self, plural: str, mapping: Mapping[str, object], read: Callable[[str, str, object], _T]
    ) -> list[_T]:
        """`read(name, key, value)` of each resource; one that is malformed is skipped."""
        found: list[_T] = []
        for name, key, value in self.items(plural, mapping):
            try:
                found.append(read(name, key, value))
            except _Bad as bad:
                self.problem(key, f"skipped: {bad}")
        return found

    def bgp_config(self) -> _BGPConfig:
        out = _BGPConfig()
        for name, key, value in self.items("bgpconfigurations", self.model.bgpconfigurations):
            if name != "default" and not name.startswith("node."):
                continue
            try:
                _, spec = _spec(value, required=False)
            except _Bad as bad:
                self.problem(key, f"skipped: {bad}")
                continue
            # Field by field: a bad log level must not cost the AS number.
            self.listen_port(out, name, key, spec.get("listenPort"))
            if name == "default":
                self.default_config(out, key, spec)
        return out

    def listen_port(self, out: _BGPConfig, name: str, key: str, port: object) -> None:
        if port is None:
            return
        if not is_port(port):
            self.problem(key, f"spec.listenPort is {_show(port)}, expected 1 to {MAX_PORT}")
        elif name == "default":
            out.listen_port = port
        else:
            out.node_ports[name.removeprefix("node.")] = port

    def default_config(self, out: _BGPConfig, key: str, spec: Mapping[str, object]) -> None:
        try:
            out.asn = _asn(spec.get("asNumber"), "spec.asNumber")
        except _Bad as bad:
            self.problem(key, f"{bad}; using the fallback AS")
        level = spec.get("logSeverityScreen")
        if level is None:
            return
        normal = normal_log_level(level) if isinstance(level, str) else None
        if normal is None:
            self.problem(
                key,
                f"spec.logSeverityScreen is {_show(level)}, expected Debug, Info,"
                " Warning, Error, Fatal or None; ignored",
            )
        out.log_level = normal

    def registrations(self, plural: str, mapping: Mapping[str, object]) -> list[_Registration]:
        return self.read_each(
            plural, mapping, lambda name, key, value: _registration(plural, name, value)
        )

    # -- what the BGPPeers say --

    def node_as(self, node: _Node) -> int:
        return node.asn or self.config.asn or CALICO_DEFAULT_AS

    def port_of(self, node: _Node) -> int:
        return self.config.node_ports.get(node.name) or self.config.listen_port or BGP_PORT

    def local_nodes(self, peer: _BGPPeer) -> list[_Node]:
        """The nodes a BGPPeer configures (its nodeSelector, node, or all)."""
        if peer.node_selector is not None:
            sel = peer.node_selector
            return [n for n in self.nodes if sel.matches(n.labels)]
        if peer.node is not None:
            if peer.node not in self.by_name:
                self.skip(peer.key, f"spec.node names {peer.node!r}, which is not a node")
                return []
            return [self.by_name[peer.node]]
        return list(self.nodes)

    def we_are_local(self, peer: _BGPPeer) -> bool:
        if self.me.labels is None:
            return False
        if peer.node_selector is not None:
            return peer.node_selector.matches(self.me.labels)
        return peer.node is None  # global: every node, pyrr included

    def pointing_families(self, peer: _BGPPeer) -> tuple[IPVersion, ...]:
        me = self.me
        if peer.peer_selector is not None:
            if me.labels is not None and peer.peer_selector.matches(me.labels):
                return self.families
            return ()
        if peer.peer_ip == me.ip:
            return (IPVersion.V4,)
        if me.ip6 is not None and peer.peer_ip == me.ip6:
            return (IPVersion.V6,)
        return ()

    def local_as(self, pointing: Sequence[tuple[_BGPPeer, tuple[IPVersion, ...]]]) -> int:
        if self.config.asn is not None:
            return self.config.asn
        named = {p.asn for p, _ in pointing if p.peer_selector is None and p.asn is not None}
        return named.pop() if len(named) == 1 else self.me.fallback_as

    # -- computing --

    def run(self) -> Desired:
        self.config = self.bgp_config()
        self.nodes = self.read_each("nodes", self.model.nodes, _node)
        self.by_name = {node.name: node for node in self.nodes}
        bgppeers = self.read_each("bgppeers", self.model.bgppeers, _bgppeer)
        pointing = [(p, fams) for p in bgppeers if (fams := self.pointing_families(p))]
        local_as = self.local_as(pointing)
        wants = self.pointing_wants(pointing, local_as) + self.selector_wants(bgppeers)
        if self.me.rr_cluster:
            wants += self.registration_wants(local_as)
        peers = self.peer_configs(wants, local_as)
        return Desired(
            local_as=local_as,
            log_level=self.config.log_level,
            peers=peers,
            problems=tuple(Problem(k, m) for k, m in self.problems),
            skipped=tuple(Problem(k, m) for k, m in self.skipped),
        )

    def pointing_wants(
        self, pointing: Sequence[tuple[_BGPPeer, tuple[IPVersion, ...]]], local_as: int
    ) -> list[_Want]:
        """The sessions of the BGPPeers pointing at pyrr, the global ones first."""
        ordered = [(p, f) for p, f in pointing if p.is_global]
        ordered += [(p, f) for p, f in pointing if not p.is_global]
        wants: list[_Want] = []
        for peer, families in ordered:
            wants += self.peer_wants(peer, families)
            if peer.peer_selector is None and peer.asn is not None and peer.asn != local_as:
                self.problem(
                    peer.key,
                    f"spec.asNumber {peer.asn} is not the local AS {local_as} (set"
                    " bgpconfigurations/default spec.asNumber): these sessions are eBGP, not"
                    " route-reflector client sessions",
                )
        return wants

    def peer_wants(self, peer: _BGPPeer, families: Sequence[IPVersion]) -> list[_Want]:
        kind = "global" if peer.is_global else "node"
        wants: list[_Want] = []
        mismatched: list[str] = []
        for node in self.local_nodes(peer):
            # A peerIP BGPPeer's own asNumber first; with a peerSelector, the node's own AS.
            asn = self.node_as(node)
            if peer.peer_selector is None:
                asn = peer.asn or asn
            for family in families:
                if asn != self.node_as(node):
                    mismatched.append(node.name)
                want = self.want(node, family, asn=asn, kind=kind, peer=peer)
                if want is not None:
                    wants.append(want)
        if mismatched:
            self.as_mismatch(peer, mismatched, self.node_as(self.by_name[mismatched[0]]))
        return wants

    def selector_wants(self, bgppeers: Iterable[_BGPPeer]) -> list[_Want]:
        """pyrr as a node a BGPPeer configures, towards the nodes its peerSelector picks."""
        wants: list[_Want] = []
        for peer in bgppeers:
            if peer.peer_selector is None or not self.we_are_local(peer):
                continue
            kind = "global" if peer.is_global else "node"
            sel = peer.peer_selector
            for node in self.nodes:
                if not sel.matches(node.labels):
                    continue
                for family in self.families:
                    want = self.want(node, family, asn=self.node_as(node), kind=kind, peer=peer)
                    if want is not None:
                        wants.append(want)
        return wants

    def registration_wants(self, local_as: int) -> list[_Want]:
        """The other registered pyrr instances: an iBGP mesh of non-clients."""
        me = self.me
        wants: list[_Want] = []
        for family, plural, mapping in (
            (IPVersion.V4, "rr_v4", self.model.rr_v4),
            (IPVersion.V6, "rr_v6", self.model.rr_v6),
        ):
            if family not in self.families:
                continue
            for reg in self.registrations(plural, mapping):
                if reg.ip in (me.ip, me.ip6):
                    continue  # ourselves
                wants.append(
                    _Want(
                        address=reg.ip,
                        asn=local_as,
                        family=family,
                        kind="rr",
                        description=f"pyrr {reg.ip}",
                        port=reg.port,
                        cluster_id=reg.cluster_id,
                        source=reg.key,
                        always_non_client=True,
                    )
                )
        return wants

    def want(
        self, node: _Node, family: IPVersion, *, asn: int, kind: str, peer: _BGPPeer
    ) -> _Want | None:
        me = self.me
        if not node.has_bgp:
            self.skip(node.key, f"no spec.bgp (not a BGP node): no session ({peer.key})")
            return None
        address = node.address(family)
        if address is None:
            field_name = "ipv4Address" if family == IPVersion.V4 else "ipv6Address"
            self.skip(node.key, f"no spec.bgp.{field_name}: no IPv{family} session ({peer.key})")
            return None
        if address in (me.ip, me.ip6):
            self.skip(node.key, f"{address} is pyrr's own address: no session to itself")
            return None
        is_rr = node.cluster_id is not None
        return _Want(
            address=address,
            asn=asn,
            family=family,
            kind="rr" if is_rr else kind,
            description=node.name,
            port=self.port_of(node),
            cluster_id=node.cluster_id,
            source=peer.key,
            has_password=peer.has_password,
        )

    def as_mismatch(self, peer: _BGPPeer, names: Sequence[str], example_as: int) -> None:
        shown = ", ".join(names[:_LIST_LIMIT])
        if len(names) > _LIST_LIMIT:
            shown += f" and {len(names) - _LIST_LIMIT} more"
        self.problem(
            peer.key,
            f"spec.asNumber {peer.asn} is not the AS of node(s) {shown} (e.g. {example_as}):"
            " a node opens with its own AS, so these sessions will fail; make the AS numbers"
            " agree",
        )

    def peer_configs(self, wants: Iterable[_Want], local_as: int) -> tuple[PeerConfig, ...]:
        me = self.me
        our_cluster = me.effective_cluster_id
        seen: dict[IPAddress, _Want] = {}
        peers: list[PeerConfig] = []
        for want in wants:
            first = seen.setdefault(want.address, want)
            if first is not want:
                if first.asn != want.asn:
                    self.problem(
                        want.source,
                        f"asks for a session to {want.address} with AS {want.asn}, but"
                        f" {first.source} already asked for AS {first.asn}; the first is kept",
                    )
                continue
            client = (
                not want.always_non_client
                and want.asn == local_as
                and want.cluster_id != our_cluster
            )
            if want.has_password and me.password is None:
                self.problem(
                    want.source,
                    "spec.password refers to a Kubernetes secret, which pyrr cannot read from"
                    " etcd: the session has no TCP MD5 key and fails if the node uses one;"
                    " give pyrr the key in PYRR_BGP_PASSWORD or PYRR_BGP_PASSWORD_FILE",
                )
            peers.append(
                PeerConfig(
                    address=want.address,
                    asn=want.asn,
                    client=client,
                    passive=False,
                    port=want.port,
                    local_address=me.ip if want.family == IPVersion.V4 else me.ip6,
                    description=want.description,
                    kind=want.kind,
                    password=me.password,
                )
            )
        return tuple(peers)


def desired(model: CalicoModel, me: Identity) -> Desired:
    """The peers, local AS and log level the datastore asks for; see the module docstring.

    Never raises on bad data: every malformed resource is skipped and listed in `problems`.
    """
    return _Run(model, me).run()
