"""Decoding and validating Calico's v3 resources and the RR registrations, one value at a time.

`parse_resource(key, raw)` is what the etcd layer (pyrr.store.calico.source) feeds every value
through: the key must be one pyrr reads, the value UTF-8 JSON of an object, with the `kind`,
`apiVersion` and `metadata.name` its key implies (a registration is checked in full). It returns
a Resource (pyrr.store.calico.model) or a Problem, never raises.

`read_node()`, `read_bgppeer()` and `read_registration()` read one value into the typed form
that pyrr.store.calico.desired and .node_peers compute with (Node, BGPPeer, Registration),
raising values.Bad for the first thing wrong; the caller turns that into a Problem for that one
resource. The field types are pyrr.store.calico.values'; BGPFilters are read by
pyrr.store.calico.filters.

Malformed data: a resource that is not an object, a missing required field, a wrong type or an
unparsable address makes that one resource skipped and reported in Desired.problems. The
exceptions: `bgpconfigurations`, where a bad field is ignored on its own (a bad log level must
not cost the AS number; pyrr.store.calico.desired reads it field by field into BGPConfig); a
BGPPeer enum value a newer Calico may write (`nextHopMode`, `sourceAddress`, `reversePeering`),
which is read as confd reads an unknown value and noted (BGPPeer.notes); and fields pyrr does
not know, which are never a reason to skip anything (pyrr.store.calico.fields).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Final

from ...bgp.constants import BGP_PORT
from ...config import IPAddress
from ..limits import (
    KEEPALIVE_RANGE,
    MAX_PORT,
    MAX_RESTART_TIME,
    MAX_TTL_SECURITY,
    NEXT_HOP_MODES,
    is_port,
    valid_keepalive,
)
from .model import (
    API_VERSION,
    KINDS,
    PREFIXES,
    RESOURCE_PREFIX,
    RR_V4_PREFIX,
    RR_V6_PREFIX,
    IPVersion,
    Problem,
    Resource,
    resource_key,
)
from .selector import Selector
from .values import (
    Bad,
    as_object,
    asn,
    dotted_quad,
    duration,
    kind_of,
    labels_of,
    node_address,
    optional_bool,
    optional_int,
    optional_object,
    optional_str,
    peer_ip,
    selector,
    show,
    spec_of,
    string_list,
)

__all__ = [
    "BGPConfig",
    "BGPPeer",
    "Node",
    "Registration",
    "ReversePeering",
    "SessionFields",
    "parse_resource",
    "read_bgppeer",
    "read_node",
    "read_registration",
]

MAX_UINT8: Final = 255  # BGPPeer ttlSecurity is a *uint8
MAX_INT32: Final = 2**31 - 1  # BGPPeer numAllowedLocalASNumbers is a *int32


# --- decoding etcd values ---------------------------------------------------------------------


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def parse_resource(key: str, raw: bytes) -> Resource | Problem:
    """Decode one etcd value; a Problem (never an exception) when it is not usable."""
    plural, name = _split_key(key)
    if plural is None:
        return Problem(key, name)
    if not isinstance(raw, bytes | bytearray | memoryview):
        return Problem(key, f"value is {type(raw).__name__}, expected bytes")
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as err:
        return Problem(key, f"value is not UTF-8 (bad byte at offset {err.start})")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        return Problem(key, "value is not usable JSON: nested too deeply")
    except ValueError as err:  # JSONDecodeError, and int() past the digit limit
        return Problem(key, f"value is not valid JSON: {err}")
    if not isinstance(value, dict):
        return Problem(key, f"value is {kind_of(value)}, expected a JSON object")
    if plural in ("rr_v4", "rr_v6"):
        problem = _check_registration(plural, name, value)
    else:
        problem = _check_resource(plural, name, value)
    if problem is not None:
        return Problem(key, problem)
    return Resource(plural, name, value)


def _split_key(key: str) -> tuple[str | None, str]:
    """(plural, name), or (None, why the key is not one pyrr reads)."""
    for plural, prefix in (("rr_v4", RR_V4_PREFIX), ("rr_v6", RR_V6_PREFIX)):
        if key.startswith(prefix):
            name = key[len(prefix) :]
            if not name or "/" in name:
                return None, "expected one address after " + prefix
            return plural, name
    if key.startswith(RESOURCE_PREFIX):
        plural, _, name = key[len(RESOURCE_PREFIX) :].partition("/")
        if plural not in KINDS:
            return None, f"{plural!r} is not a resource pyrr reads ({', '.join(KINDS)})"
        if not name or "/" in name:
            return None, f"expected {RESOURCE_PREFIX}{plural}/<name>"
        return plural, name
    return None, f"not a key pyrr reads (expected one under {', '.join(PREFIXES)})"


def _check_resource(plural: str, name: str, value: Mapping[str, object]) -> str | None:
    kind = value.get("kind")
    if kind != KINDS[plural]:
        return f"kind is {show(kind)}, expected {KINDS[plural]!r} for a key under {plural}/"
    api = value.get("apiVersion")
    if api != API_VERSION:
        return f"apiVersion is {show(api)}, expected {API_VERSION!r}"
    metadata = value.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            return f"metadata is {kind_of(metadata)}, expected an object"
        meta_name = metadata.get("name")
        if meta_name is not None and meta_name != name:
            return f"metadata.name is {show(meta_name)} but the key names {name!r}"
    return None


def _check_registration(plural: str, name: str, value: Mapping[str, object]) -> str | None:
    try:
        read_registration(plural, name, value)
    except Bad as bad:
        return str(bad)
    return None


# --- reading resources ------------------------------------------------------------------------


class ReversePeering(StrEnum):
    """BGPPeer reversePeering (3.31): whether the nodes its peerSelector/peerIP picks peer back."""

    AUTO = "Auto"
    MANUAL = "Manual"


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    key: str
    has_bgp: bool
    ipv4: IPv4Address | None
    ipv6: IPv6Address | None
    asn: int | None
    cluster_id: IPv4Address | None
    labels: Mapping[str, str]

    def address(self, family: IPVersion) -> IPAddress | None:
        return self.ipv4 if family == IPVersion.V4 else self.ipv6


@dataclass(frozen=True, slots=True)
class SessionFields:
    """A BGPPeer's per-session settings (Calico 3.16+), before they become PeerConfig fields."""

    local_asn: int | None = None  # localASNumber
    ttl_security: int | None = None  # ttlSecurity (hops)
    restart_time: int | None = None  # maxRestartTime, seconds
    keepalive_time: int | None = None  # keepaliveTime, seconds
    use_node_ip: bool = True  # sourceAddress: UseNodeIP (default) or None
    next_hop_mode: str | None = None  # nextHopMode as written (Auto, Self, Keep)
    keep_original_next_hop: bool = False  # the deprecated keepOriginalNextHop
    secret: tuple[str, str] | None = None  # password.secretKeyRef (name, key)
    filters: tuple[str, ...] = ()  # BGPFilter names, in order
    allow_local_as: int = 0  # numAllowedLocalASNumbers


@dataclass(frozen=True, slots=True)
class BGPPeer:
    name: str
    key: str
    node: str | None
    peer_ip: IPAddress | None
    asn: int | None
    node_selector: Selector | None
    peer_selector: Selector | None
    peer_port: int | None = None  # the port written in peerIP ("a.b.c.d:port")
    session: SessionFields = SessionFields()
    reverse: ReversePeering = ReversePeering.AUTO
    local_workload: bool = False  # localWorkloadSelector set: a peering with workloads
    # Values a newer Calico may write that pyrr read as the default, and said so.
    notes: tuple[str, ...] = ()

    @property
    def is_global(self) -> bool:
        return self.node is None and self.node_selector is None


@dataclass(frozen=True, slots=True)
class Registration:
    key: str
    ip: IPAddress
    cluster_id: IPv4Address | None
    port: int


@dataclass(slots=True)
class BGPConfig:
    asn: int | None = None
    log_level: str | None = None
    listen_port: int | None = None
    node_ports: dict[str, int] = field(default_factory=dict)
    mesh: bool = True  # nodeToNodeMeshEnabled; Calico's default is on


def read_node(name: str, key: str, value: object) -> Node:
    metadata, spec = spec_of(value, required=False)
    labels = labels_of(metadata)
    bgp_raw = spec.get("bgp")
    if bgp_raw is None:
        return Node(name, key, False, None, None, None, None, labels)
    bgp = as_object(bgp_raw, "spec.bgp")
    v4 = optional_str(bgp, "ipv4Address", "spec.bgp.ipv4Address")
    v6 = optional_str(bgp, "ipv6Address", "spec.bgp.ipv6Address")
    cid = optional_str(bgp, "routeReflectorClusterID", "spec.bgp.routeReflectorClusterID")
    cluster_id = dotted_quad(cid, "spec.bgp.routeReflectorClusterID", " like 224.0.0.1")
    ipv4 = node_address(v4, "spec.bgp.ipv4Address", IPVersion.V4) if v4 is not None else None
    ipv6 = node_address(v6, "spec.bgp.ipv6Address", IPVersion.V6) if v6 is not None else None
    return Node(
        name=name,
        key=key,
        has_bgp=True,
        ipv4=ipv4 if isinstance(ipv4, IPv4Address) else None,
        ipv6=ipv6 if isinstance(ipv6, IPv6Address) else None,
        asn=asn(bgp.get("asNumber"), "spec.bgp.asNumber"),
        cluster_id=cluster_id,
        labels=labels,
    )


def read_bgppeer(name: str, key: str, value: object) -> BGPPeer:
    _, spec = spec_of(value, required=True)
    peer_ip_text = optional_str(spec, "peerIP", "spec.peerIP")
    peer_selector = selector(
        optional_str(spec, "peerSelector", "spec.peerSelector"), "spec.peerSelector"
    )
    local_workload = optional_str(spec, "localWorkloadSelector", "spec.localWorkloadSelector")
    if peer_ip_text is None and peer_selector is None and local_workload is None:
        raise Bad("has neither spec.peerIP nor spec.peerSelector")
    notes: list[str] = []
    address: IPAddress | None = None
    port: int | None = None
    # With a peerSelector, confd ignores peerIP; so does pyrr (and does not parse it).
    if peer_ip_text is not None and peer_selector is None and local_workload is None:
        address, port = peer_ip(peer_ip_text, "spec.peerIP")
    return BGPPeer(
        name=name,
        key=key,
        node=optional_str(spec, "node", "spec.node"),
        peer_ip=address,
        asn=asn(spec.get("asNumber"), "spec.asNumber"),
        node_selector=selector(
            optional_str(spec, "nodeSelector", "spec.nodeSelector"), "spec.nodeSelector"
        ),
        peer_selector=peer_selector,
        peer_port=port,
        session=_session_fields(spec, notes),
        reverse=_reverse_peering(spec, notes),
        local_workload=local_workload is not None,
        notes=tuple(notes),
    )


def _session_fields(spec: Mapping[str, object], notes: list[str]) -> SessionFields:
    local_asn = spec.get("localASNumber")
    ttl = optional_int(spec, "ttlSecurity", "spec.ttlSecurity", 0, MAX_UINT8)
    if ttl is not None and ttl > MAX_TTL_SECURITY:
        notes.append(
            f"spec.ttlSecurity {ttl} is more hops than GTSM can check; using {MAX_TTL_SECURITY}"
        )
        ttl = MAX_TTL_SECURITY
    restart = duration(spec, "maxRestartTime", "spec.maxRestartTime")
    if restart is not None and restart > MAX_RESTART_TIME:
        notes.append(
            f"spec.maxRestartTime is {restart}s; the graceful-restart capability holds at most"
            f" {MAX_RESTART_TIME}s (RFC 4724 §3): using {MAX_RESTART_TIME}"
        )
        restart = MAX_RESTART_TIME
    keepalive = duration(spec, "keepaliveTime", "spec.keepaliveTime")
    if keepalive is not None and not valid_keepalive(keepalive):
        notes.append(
            f"spec.keepaliveTime is {keepalive}s, expected {KEEPALIVE_RANGE}: using the default"
        )
        keepalive = None
    source = optional_str(spec, "sourceAddress", "spec.sourceAddress")
    if source not in (None, "UseNodeIP", "None"):
        notes.append(
            f"spec.sourceAddress {show(source)} is neither UseNodeIP nor None: read as None"
        )
    mode = optional_str(spec, "nextHopMode", "spec.nextHopMode")
    if mode not in (None, *NEXT_HOP_MODES):
        notes.append(f"spec.nextHopMode {show(mode)} is not Auto, Self or Keep: read as Auto")
        mode = None
    return SessionFields(
        local_asn=asn(local_asn, "spec.localASNumber"),
        ttl_security=ttl,
        restart_time=restart,
        keepalive_time=keepalive,
        use_node_ip=source in (None, "UseNodeIP"),
        next_hop_mode=mode,
        keep_original_next_hop=bool(
            optional_bool(spec, "keepOriginalNextHop", "spec.keepOriginalNextHop")
        ),
        secret=_secret_ref(spec),
        filters=string_list(spec, "filters", "spec.filters"),
        allow_local_as=optional_int(
            spec, "numAllowedLocalASNumbers", "spec.numAllowedLocalASNumbers", 0, MAX_INT32
        )
        or 0,
    )


def _secret_ref(spec: Mapping[str, object]) -> tuple[str, str] | None:
    password = optional_object(spec, "password", "spec.password")
    ref = optional_object(password, "secretKeyRef", "spec.password.secretKeyRef")
    if not ref:
        return None
    name = optional_str(ref, "name", "spec.password.secretKeyRef.name")
    key = optional_str(ref, "key", "spec.password.secretKeyRef.key")
    if name is None or key is None:
        raise Bad("spec.password.secretKeyRef needs both name and key")
    return name, key


def _reverse_peering(spec: Mapping[str, object], notes: list[str]) -> ReversePeering:
    text = optional_str(spec, "reversePeering", "spec.reversePeering")
    if text is None:
        return ReversePeering.AUTO
    try:
        return ReversePeering(text)
    except ValueError:
        notes.append(f"spec.reversePeering {show(text)} is neither Auto nor Manual: read as Auto")
        return ReversePeering.AUTO


def read_registration(plural: str, name: str, value: object) -> Registration:
    family = IPVersion.V4 if plural == "rr_v4" else IPVersion.V6
    data = as_object(value, "the registration")
    ip_text = optional_str(data, "ip", "ip")
    if ip_text is None:
        raise Bad('has no "ip"')
    ip = node_address(ip_text, "ip", family)
    try:
        named = ip_address(name)
    except ValueError:
        raise Bad(f"the key names {name!r}, which is not an IPv{family} address") from None
    if named != ip:
        raise Bad(f'"ip" is {ip} but the key names {name}')
    cluster_id = dotted_quad(optional_str(data, "cluster_id", "cluster_id"), "cluster_id")
    port = data.get("port", BGP_PORT)
    if not is_port(port):
        raise Bad(f"port is {show(port)}, expected 1 to {MAX_PORT}")
    return Registration(resource_key(plural, name), ip, cluster_id, port)
