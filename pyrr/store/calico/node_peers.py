"""pyrr as a Calico Node (NODENAME): the peers calico-node would configure on that Node.

calico-node computes a node's peerings in confd (confd/pkg/backends/calico/client.go,
updatePeersV1; bgp_processor.go, buildPeerFromData). For the one node that is pyrr (Identity:
its name, addresses, labels, AS and cluster id, resolved by pyrr.store.calico.node_self):

1. Forward peerings, global BGPPeers first, then the others: a BGPPeer whose local side
   selects pyrr's Node (no `node` and no `nodeSelector`: every node; `node` = its name;
   `nodeSelector` matching its labels) gives
   - with `peerSelector`: a session to every Node it selects, over IPv4 and IPv6 where both
     ends have an address; peer AS = that node's AS (its `asNumber`, else the default
     BGPConfiguration's, else 64512); the node's `routeReflectorClusterID` decides client or
     not (pyrr.store.calico.sessions);
   - with `peerIP`: a session to that address (a top-of-rack router, another reflector, an
     eBGP neighbour), AS = `asNumber` (not set: pyrr's own, iBGP), port = the one in `peerIP`,
     else the listen port of the Calico node with that address and AS; confd gives such a
     peer no cluster id, so an iBGP one is a client of pyrr, and `localASNumber` applies.
2. Reverse peerings (unless `reversePeering: Manual`): a BGPPeer whose far side selects pyrr
   (`peerSelector` matching its labels: IPv4 and IPv6; `peerIP` equal to its IPv4 or IPv6
   address with `asNumber` equal to its AS, and the port, if written, equal to its port: that
   family only) gives a session to every node its local side selects (`nodeSelector`,
   `node`, else every node). This is what makes the standard BGPPeer of Calico's docs
   (`nodeSelector: all()`, `peerSelector: route-reflector == 'true'`) give a reflector a
   session to every node.
3. The first session to an address wins (forward before reverse, as confd's emit does);
   pyrr's own Node and any address that is pyrr's own are never peers; BGPPeers with a
   `localWorkloadSelector` peer with workloads and are no reflector's business.

Two reflector Nodes therefore peer with each other through the same BGPPeer (each selects the
other): iBGP with the same cluster id gives a non-client session, a different one a client
session, exactly the `rr client` rule of confd's template, so both ends agree.
"""

from __future__ import annotations

from ...bgp.constants import BGP_PORT
from ..file.environment import CALICO_DEFAULT_AS
from .model import IPVersion, resource_key
from .reading import Reading
from .resources import BGPPeer, Node, ReversePeering
from .sessions import Want

__all__ = ["node_wants", "self_node"]


def self_node(r: Reading) -> Node:
    """pyrr's Node as the computation sees it: its name, and the identity's addresses, AS,
    cluster id and labels (the environment's IP/IP6 override the Node's addresses)."""
    me = r.me
    name = me.node_name or ""
    return Node(
        name=name,
        key=resource_key("nodes", name),
        has_bgp=True,
        ipv4=me.ip,
        ipv6=me.ip6,
        asn=me.node_as,
        cluster_id=me.cluster_id,
        labels=dict(me.labels or {}),
    )


class _NodeRun:
    def __init__(self, r: Reading) -> None:
        self.r = r
        self.me = self_node(r)
        # Selectors see pyrr's Node as the identity describes it, never a stale copy.
        self.nodes = [n for n in r.nodes if n.name != self.me.name]
        self.all_nodes = [*self.nodes, self.me]
        self.local_as = r.me.node_as or r.config.asn or r.me.fallback_as

    def global_as(self) -> int:
        return self.r.config.asn or CALICO_DEFAULT_AS

    def selects_me(self, peer: BGPPeer) -> bool:
        if peer.node_selector is not None:
            return peer.node_selector.matches(self.me.labels)
        if peer.node is not None:
            return peer.node == self.me.name
        return True

    def kind(self, peer: BGPPeer) -> str:
        return "global" if peer.is_global else "node"

    def forward(self, peer: BGPPeer) -> list[Want]:
        r = self.r
        wants: list[Want] = []
        if peer.peer_selector is not None:
            for node in self.nodes:
                if not peer.peer_selector.matches(node.labels):
                    continue
                for family in r.families:
                    want = r.want(
                        node,
                        family,
                        asn=r.node_as(node),
                        kind=self.kind(peer),
                        peer=peer,
                        reverse=False,
                    )
                    if want is not None:
                        wants.append(want)
            return wants
        want = self.outside(peer)
        return [want] if want is not None else []

    def outside(self, peer: BGPPeer) -> Want | None:
        """A `peerIP` peering on pyrr's side (a router, or a node named by address)."""
        r, me = self.r, self.r.me
        address = peer.peer_ip
        if address is None:
            return None
        family = IPVersion(address.version)
        if address in (me.ip, me.ip6):
            return None  # pointing at ourselves: the reverse pass reads it
        if family not in r.families:
            r.skip(peer.key, f"spec.peerIP {address}: pyrr has no IPv{family} address")
            return None
        asn = peer.asn or self.local_as
        node = self.calico_node(address, asn)
        port = peer.peer_port or (r.port_of(node) if node is not None else BGP_PORT)
        return Want(
            address=address,
            asn=asn,
            family=family,
            kind=self.kind(peer) if node is not None else "external",
            description=node.name if node is not None else peer.name,
            port=port,
            cluster_id=None,  # confd gives a peerIP peering no cluster id
            source=peer.key,
            peer=peer,
            reverse=False,
        )

    def calico_node(self, address: object, asn: int) -> Node | None:
        """The Calico node with this address and AS (confd's nodesWithIPPortAndAS)."""
        for node in self.nodes:
            if address in (node.ipv4, node.ipv6) and self.r.node_as(node) == asn:
                return node
        return None

    def reverse_families(self, peer: BGPPeer) -> tuple[IPVersion, ...]:
        """The families over which `peer`'s far side selects pyrr (confd's second pass)."""
        r, me = self.r, self.r.me
        if peer.reverse is ReversePeering.MANUAL or peer.local_workload:
            return ()
        if peer.peer_selector is not None:
            return r.families if peer.peer_selector.matches(self.me.labels) else ()
        if peer.peer_ip is None or peer.peer_ip not in (me.ip, me.ip6):
            return ()
        wanted_as = peer.asn or self.global_as()
        if wanted_as != self.local_as:
            r.problem(
                peer.key,
                f"spec.peerIP is pyrr's address {peer.peer_ip}, but spec.asNumber {wanted_as}"
                f" is not pyrr's AS {self.local_as}: calico-node makes no sessions of it, nor"
                " does pyrr",
            )
            return ()
        if peer.peer_port is not None and peer.peer_port != me.port:
            r.problem(
                peer.key,
                f"spec.peerIP names port {peer.peer_port}, but pyrr listens on {me.port}:"
                " no sessions",
            )
            return ()
        return (IPVersion(peer.peer_ip.version),)

    def reverse(self, peer: BGPPeer) -> list[Want]:
        r = self.r
        families = [f for f in self.reverse_families(peer) if f in r.families]
        if not families:
            return []
        if peer.node_selector is not None:
            sel = peer.node_selector
            nodes = [n for n in self.nodes if sel.matches(n.labels)]
        elif peer.node is not None:
            nodes = [n for n in self.nodes if n.name == peer.node]
        else:
            nodes = self.nodes
        wants: list[Want] = []
        for node in nodes:
            for family in families:
                want = r.want(node, family, asn=r.node_as(node), kind=self.kind(peer), peer=peer)
                if want is not None:
                    wants.append(want)
        return wants

    def wants(self) -> list[Want]:
        peers = [p for p in self.r.bgppeers if not p.local_workload]
        wants: list[Want] = []
        for global_pass in (True, False):
            for peer in peers:
                if peer.is_global == global_pass and self.selects_me(peer):
                    wants += self.forward(peer)
        for peer in peers:
            wants += self.reverse(peer)
        return wants


def node_wants(r: Reading) -> tuple[int, list[Want]]:
    """(local AS, the sessions pyrr's Node wants, in the order the first of two wins)."""
    run = _NodeRun(r)
    return run.local_as, run.wants()
