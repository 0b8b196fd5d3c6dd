"""One read of the datastore for a desired() computation: typed resources and what was wrong.

`Reading(model, me)` reads every resource once (pyrr.store.calico.resources, .filters) and
collects, per computation, the problems (malformed data, settings that cannot work), the
skipped nodes (well-formed, but no session, and why) and the field notes (fields pyrr does not
apply, pyrr.store.calico.fields). Both peer computations (pyrr.store.calico.desired for the
calico/routereflector rules, pyrr.store.calico.node_peers for calico-node's) work from it, and
`want()`, which turns a node into a session to want, is theirs to share.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from ipaddress import ip_network
from typing import TypeVar

from ...bgp.constants import BGP_PORT
from ...config import IPNetwork, RouteFilter
from ..file.environment import CALICO_DEFAULT_AS
from ..limits import MAX_PORT, is_port, normal_log_level
from .fields import field_notes
from .filters import read_bgpfilter
from .model import KINDS, CalicoModel, FieldNote, Identity, IPVersion, resource_key
from .resources import (
    BGPConfig,
    BGPPeer,
    Node,
    Registration,
    read_bgppeer,
    read_node,
    read_registration,
)
from .sessions import Want
from .values import Bad, asn, optional_bool, show, spec_of

__all__ = ["Reading"]

_T = TypeVar("_T")


class Reading:
    """The datastore as typed resources, with the problems met reading it."""

    def __init__(self, model: CalicoModel, me: Identity) -> None:
        self.model = model
        self.me = me
        self.problems: dict[tuple[str, str], None] = {}
        self.skipped: dict[tuple[str, str], None] = {}
        self.notes: dict[tuple[str, str], FieldNote] = {}
        self.families = (IPVersion.V4, IPVersion.V6) if me.ip6 is not None else (IPVersion.V4,)
        self.config = self.bgp_config()
        self.nodes = self.read_each("nodes", model.nodes, read_node)
        self.by_name = {node.name: node for node in self.nodes}
        self.bgppeers = self.read_each("bgppeers", model.bgppeers, read_bgppeer)
        for peer in self.bgppeers:
            for note in peer.notes:
                self.problem(peer.key, note)
        filters = self.read_each("bgpfilters", model.bgpfilters, read_bgpfilter)
        self.filters: Mapping[str, RouteFilter] = {f.name: f for f in filters}
        self.no_export = self.pools()

    def problem(self, key: str, message: str) -> None:
        self.problems[(key, message)] = None

    def skip(self, key: str, message: str) -> None:
        self.skipped[(key, message)] = None

    def note(self, kind: str, key: str, value: object) -> None:
        if not isinstance(value, dict):
            return
        for path, why in field_notes(kind, value):
            self.notes.setdefault((kind, path), FieldNote(kind, path, why, key))

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
            self.note(KINDS.get(plural, ""), key, value)
            try:
                found.append(read(name, key, value))
            except Bad as bad:
                self.problem(key, f"skipped: {bad}")
        return found

    def bgp_config(self) -> BGPConfig:
        out = BGPConfig()
        for name, key, value in self.items("bgpconfigurations", self.model.bgpconfigurations):
            if name != "default" and not name.startswith("node."):
                continue
            self.note("BGPConfiguration", key, value)
            try:
                _, spec = spec_of(value, required=False)
            except Bad as bad:
                self.problem(key, f"skipped: {bad}")
                continue
            # Field by field: a bad log level must not cost the AS number.
            self.listen_port(out, name, key, spec.get("listenPort"))
            if name == "default":
                self.default_config(out, key, spec)
        return out

    def listen_port(self, out: BGPConfig, name: str, key: str, port: object) -> None:
        if port is None:
            return
        if not is_port(port):
            self.problem(key, f"spec.listenPort is {show(port)}, expected 1 to {MAX_PORT}")
        elif name == "default":
            out.listen_port = port
        else:
            out.node_ports[name.removeprefix("node.")] = port

    def default_config(self, out: BGPConfig, key: str, spec: Mapping[str, object]) -> None:
        try:
            out.asn = asn(spec.get("asNumber"), "spec.asNumber")
        except Bad as bad:
            self.problem(key, f"{bad}; using the fallback AS")
        try:
            mesh = optional_bool(spec, "nodeToNodeMeshEnabled", "spec.nodeToNodeMeshEnabled")
        except Bad as bad:
            self.problem(key, f"{bad}; taken as true, Calico's default")
            mesh = None
        out.mesh = True if mesh is None else mesh
        level = spec.get("logSeverityScreen")
        if level is None:
            return
        normal = normal_log_level(level) if isinstance(level, str) else None
        if normal is None:
            self.problem(
                key,
                f"spec.logSeverityScreen is {show(level)}, expected Debug, Info,"
                " Warning, Error, Fatal or None; ignored",
            )
        out.log_level = normal

    def registrations(self, plural: str, mapping: Mapping[str, object]) -> list[Registration]:
        return self.read_each(
            plural, mapping, lambda name, key, value: read_registration(plural, name, value)
        )

    def pools(self) -> tuple[IPNetwork, ...]:
        """The CIDRs of the IPPools with disableBGPExport (Calico 3.22+)."""
        found: list[IPNetwork] = []
        for _, key, value in self.items("ippools", self.model.ippools):
            self.note("IPPool", key, value)
            try:
                _, spec = spec_of(value, required=True)
                if not optional_bool(spec, "disableBGPExport", "spec.disableBGPExport"):
                    continue
                cidr = spec.get("cidr")
                if not isinstance(cidr, str):
                    raise Bad(f"spec.cidr is {show(cidr)}, expected a CIDR")
                network = ip_network(cidr.strip(), strict=False)
            except Bad as bad:
                self.problem(key, f"skipped: {bad}")
                continue
            except ValueError:
                self.problem(key, f"skipped: spec.cidr is {show(cidr)}, expected a CIDR")
                continue
            if network not in found:
                found.append(network)
        return tuple(found)

    # -- what a node wants --

    def node_as(self, node: Node) -> int:
        return node.asn or self.config.asn or CALICO_DEFAULT_AS

    def port_of(self, node: Node) -> int:
        return self.config.node_ports.get(node.name) or self.config.listen_port or BGP_PORT

    def want(
        self,
        node: Node,
        family: IPVersion,
        *,
        asn: int,
        kind: str,
        peer: BGPPeer,
        reverse: bool = True,
    ) -> Want | None:
        """A session to `node` over `family`, or None (the reason recorded as skipped)."""
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
        return Want(
            address=address,
            asn=asn,
            family=family,
            kind="rr" if is_rr else kind,
            description=node.name,
            port=self.port_of(node),
            cluster_id=node.cluster_id,
            source=peer.key,
            peer=peer,
            reverse=reverse,
        )
