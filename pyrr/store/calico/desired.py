"""Calico's v3 data model (CalicoModel) turned into the peers pyrr should have: `desired()`.

Input: the parsed JSON of the resources and registrations (pyrr.store.calico.model.CalicoModel),
plus who pyrr is (Identity). Output: `desired()` -> Desired, the local AS, the datastore's log
level and a tuple of PeerConfig, with every problem in the data reported as (key, message)
instead of raised. Each resource is read once by pyrr.store.calico.reading; one that is
malformed is skipped and reported (see pyrr.store.calico.resources), `bgpconfigurations` field
by field. `desired()` never raises.

With Identity.node_name (NODENAME) pyrr is a Node, and its peers are the ones calico-node would
give that Node: pyrr.store.calico.node_peers. Without it, the rules below apply. Either way
the sessions get their BGPPeer's settings (pyrr.store.calico.sessions), the IPPools with
`disableBGPExport` give Desired.no_export, and fields pyrr does not apply give Desired.notes.

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
- TCP MD5 (RFC 2385): a BGPPeer's `spec.password` names a Kubernetes secret, read from the
  mounted secrets directory (pyrr.store.calico.secrets); sessions whose BGPPeer names none get
  Identity.password (PYRR_BGP_PASSWORD or PYRR_BGP_PASSWORD_FILE, see docs/security.md).

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

from collections.abc import Iterable, Sequence
from typing import Final

from .model import CalicoModel, Desired, Identity, IPVersion, Problem
from .node_peers import node_wants
from .reading import Reading
from .resources import BGPPeer, Node
from .sessions import Want, peer_configs

__all__ = ["desired"]

_LIST_LIMIT: Final = 5  # node names quoted in one problem message


class _Run:
    """The calico/routereflector v0.6 rules (no NODENAME), over one Reading.

    wants() wants the sessions of the BGPPeers that point at pyrr (pointing_wants), of those
    that configure pyrr towards selected nodes (selector_wants) and of the registered pyrr
    instances (registration_wants), in that order, which is the order the first of two
    sessions to one address wins in.
    """

    def __init__(self, reading: Reading) -> None:
        self.r = reading
        self.me = reading.me

    # -- what the BGPPeers say --

    def local_nodes(self, peer: BGPPeer) -> list[Node]:
        """The nodes a BGPPeer configures (its nodeSelector, node, or all)."""
        r = self.r
        if peer.node_selector is not None:
            sel = peer.node_selector
            return [n for n in r.nodes if sel.matches(n.labels)]
        if peer.node is not None:
            if peer.node not in r.by_name:
                r.skip(peer.key, f"spec.node names {peer.node!r}, which is not a node")
                return []
            return [r.by_name[peer.node]]
        return list(r.nodes)

    def we_are_local(self, peer: BGPPeer) -> bool:
        if self.me.labels is None:
            return False
        if peer.node_selector is not None:
            return peer.node_selector.matches(self.me.labels)
        return peer.node is None  # global: every node, pyrr included

    def pointing_families(self, peer: BGPPeer) -> tuple[IPVersion, ...]:
        me = self.me
        if peer.local_workload:
            return ()
        if peer.peer_selector is not None:
            if me.labels is not None and peer.peer_selector.matches(me.labels):
                return self.r.families
            return ()
        if peer.peer_ip == me.ip:
            return (IPVersion.V4,)
        if me.ip6 is not None and peer.peer_ip == me.ip6:
            return (IPVersion.V6,)
        return ()

    def local_as(self, pointing: Sequence[tuple[BGPPeer, tuple[IPVersion, ...]]]) -> int:
        if self.r.config.asn is not None:
            return self.r.config.asn
        named = {p.asn for p, _ in pointing if p.peer_selector is None and p.asn is not None}
        return named.pop() if len(named) == 1 else self.me.fallback_as

    # -- computing --

    def wants(self) -> tuple[int, list[Want]]:
        bgppeers = self.r.bgppeers
        pointing = [(p, fams) for p in bgppeers if (fams := self.pointing_families(p))]
        local_as = self.local_as(pointing)
        wants = self.pointing_wants(pointing, local_as) + self.selector_wants(bgppeers)
        if self.me.rr_cluster:
            wants += registration_wants(self.r, local_as)
        return local_as, wants

    def pointing_wants(
        self, pointing: Sequence[tuple[BGPPeer, tuple[IPVersion, ...]]], local_as: int
    ) -> list[Want]:
        """The sessions of the BGPPeers pointing at pyrr, the global ones first."""
        ordered = [(p, f) for p, f in pointing if p.is_global]
        ordered += [(p, f) for p, f in pointing if not p.is_global]
        wants: list[Want] = []
        for peer, families in ordered:
            wants += self.peer_wants(peer, families)
            if peer.peer_selector is None and peer.asn is not None and peer.asn != local_as:
                self.r.problem(
                    peer.key,
                    f"spec.asNumber {peer.asn} is not the local AS {local_as} (set"
                    " bgpconfigurations/default spec.asNumber): these sessions are eBGP, not"
                    " route-reflector client sessions",
                )
        return wants

    def peer_wants(self, peer: BGPPeer, families: Sequence[IPVersion]) -> list[Want]:
        r = self.r
        kind = "global" if peer.is_global else "node"
        wants: list[Want] = []
        mismatched: list[str] = []
        for node in self.local_nodes(peer):
            # A peerIP BGPPeer's own asNumber first; with a peerSelector, the node's own AS.
            asn = r.node_as(node)
            if peer.peer_selector is None:
                asn = peer.asn or asn
            for family in families:
                if asn != r.node_as(node):
                    mismatched.append(node.name)
                want = r.want(node, family, asn=asn, kind=kind, peer=peer)
                if want is not None:
                    wants.append(want)
        if mismatched:
            self.as_mismatch(peer, mismatched, r.node_as(r.by_name[mismatched[0]]))
        return wants

    def selector_wants(self, bgppeers: Iterable[BGPPeer]) -> list[Want]:
        """pyrr as a node a BGPPeer configures, towards the nodes its peerSelector picks."""
        r = self.r
        wants: list[Want] = []
        for peer in bgppeers:
            if peer.peer_selector is None or not self.we_are_local(peer):
                continue
            kind = "global" if peer.is_global else "node"
            sel = peer.peer_selector
            for node in r.nodes:
                if not sel.matches(node.labels):
                    continue
                for family in r.families:
                    asn = r.node_as(node)
                    want = r.want(node, family, asn=asn, kind=kind, peer=peer, reverse=False)
                    if want is not None:
                        wants.append(want)
        return wants

    def as_mismatch(self, peer: BGPPeer, names: Sequence[str], example_as: int) -> None:
        shown = ", ".join(names[:_LIST_LIMIT])
        if len(names) > _LIST_LIMIT:
            shown += f" and {len(names) - _LIST_LIMIT} more"
        self.r.problem(
            peer.key,
            f"spec.asNumber {peer.asn} is not the AS of node(s) {shown} (e.g. {example_as}):"
            " a node opens with its own AS, so these sessions will fail; make the AS numbers"
            " agree",
        )


def registration_wants(r: Reading, local_as: int) -> list[Want]:
    """The other registered pyrr instances (PYRR_RR_CLUSTER): an iBGP mesh of non-clients."""
    me = r.me
    wants: list[Want] = []
    for family, plural, mapping in (
        (IPVersion.V4, "rr_v4", r.model.rr_v4),
        (IPVersion.V6, "rr_v6", r.model.rr_v6),
    ):
        if family not in r.families:
            continue
        for reg in r.registrations(plural, mapping):
            if reg.ip in (me.ip, me.ip6):
                continue  # ourselves
            wants.append(
                Want(
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


def desired(model: CalicoModel, me: Identity) -> Desired:
    """The peers, local AS and log level the datastore asks for; see the module docstring.

    Never raises on bad data: every malformed resource is skipped and listed in `problems`.
    """
    r = Reading(model, me)
    if me.node_name is not None:
        local_as, wants = node_wants(r)
        if me.rr_cluster:
            wants += registration_wants(r, local_as)
    else:
        local_as, wants = _Run(r).wants()
    peers, secrets = peer_configs(wants, me, local_as, r.filters, r.problem)
    return Desired(
        local_as=local_as,
        log_level=r.config.log_level,
        peers=peers,
        problems=tuple(Problem(k, m) for k, m in r.problems),
        skipped=tuple(Problem(k, m) for k, m in r.skipped),
        no_export=r.no_export,
        notes=tuple(r.notes.values()),
        secrets=secrets,
        mesh=me.node_name is not None and r.config.mesh,
    )
