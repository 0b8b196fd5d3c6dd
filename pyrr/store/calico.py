"""Calico's v3 data model (as stored in etcd) turned into the peers pyrr should have.

Input: the parsed JSON of `/calico/resources/v3/projectcalico.org/{nodes,bgppeers,
bgpconfigurations}/<name>` and of the RR registrations `/calico/bgp/v1/rr_v4|rr_v6/<ip>`
(CalicoModel), plus who pyrr is (Identity). Output: `desired()` -> Desired, the local AS, the
datastore's log level and a tuple of PeerConfig, with every problem in the data reported as
(key, message) instead of raised. The etcd layer feeds values through `parse_resource()` first.

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

Malformed data: a resource that is not an object, a missing required field, a wrong type or an
unparsable address makes that one resource skipped and reported in Desired.problems. The
exception is `bgpconfigurations`, where a bad field is ignored on its own (a bad log level must
not cost the AS number). `desired()` never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface
from typing import Final, NamedTuple

from ..config import Config, IPAddress, PeerConfig
from .env import CALICO_DEFAULT_AS, LOG_LEVELS, EnvSettings
from .selector import Selector, SelectorError
from .selector import parse as parse_selector

__all__ = [
    "API_VERSION",
    "KINDS",
    "PREFIXES",
    "RESOURCE_PREFIX",
    "RR_V4_PREFIX",
    "RR_V6_PREFIX",
    "CalicoModel",
    "Desired",
    "Identity",
    "Problem",
    "Resource",
    "desired",
    "parse_resource",
    "registration_key",
    "registration_value",
    "resource_key",
]

RESOURCE_PREFIX: Final = "/calico/resources/v3/projectcalico.org/"
RR_V4_PREFIX: Final = "/calico/bgp/v1/rr_v4/"
RR_V6_PREFIX: Final = "/calico/bgp/v1/rr_v6/"
API_VERSION: Final = "projectcalico.org/v3"
# etcd plural -> the resource's "kind".
KINDS: Final = {
    "nodes": "Node",
    "bgppeers": "BGPPeer",
    "bgpconfigurations": "BGPConfiguration",
    "ippools": "IPPool",
}
# What the etcd layer watches.
PREFIXES: Final = (
    *(f"{RESOURCE_PREFIX}{plural}/" for plural in KINDS),
    RR_V4_PREFIX,
    RR_V6_PREFIX,
)

MAX_ASN: Final = 2**32 - 1
MAX_PORT: Final = 65535
BGP_PORT: Final = 179
_LIST_LIMIT: Final = 5  # node names quoted in one problem message
_BROADCAST: Final = IPv4Address("255.255.255.255")
# "[v6]:port", "[v6]" or "a.b.c.d:port"
_HOST_PORT: Final = re.compile(r"\[([^\]]+)\](?::[0-9]{1,5})?|([0-9.]+):[0-9]{1,5}", re.ASCII)


class Problem(NamedTuple):
    """Something wrong (or skipped) in the datastore: the etcd key, and what and why."""

    key: str
    message: str


class Resource(NamedTuple):
    """A decoded datastore value: plural ("nodes", "bgppeers", "rr_v4", ...), name, JSON object."""

    plural: str
    name: str
    value: dict[str, object]


def resource_key(plural: str, name: str) -> str:
    if plural == "rr_v4":
        return RR_V4_PREFIX + name
    if plural == "rr_v6":
        return RR_V6_PREFIX + name
    return f"{RESOURCE_PREFIX}{plural}/{name}"


def registration_key(address: IPAddress) -> str:
    """The key a pyrr instance registers itself under (calico/routereflector v0.6 layout)."""
    prefix = RR_V4_PREFIX if isinstance(address, IPv4Address) else RR_V6_PREFIX
    return prefix + str(address)


def registration_value(address: IPAddress, cluster_id: IPv4Address, port: int = BGP_PORT) -> bytes:
    """`{"ip": ..., "cluster_id": ...}` as v0.6 wrote it; "port" only when it is not 179."""
    value: dict[str, object] = {"ip": str(address), "cluster_id": str(cluster_id)}
    if port != BGP_PORT:
        value["port"] = port
    return json.dumps(value, separators=(",", ":")).encode()


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
        return Problem(key, f"value is {_kind(value)}, expected a JSON object")
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
        return f"kind is {_show(kind)}, expected {KINDS[plural]!r} for a key under {plural}/"
    api = value.get("apiVersion")
    if api != API_VERSION:
        return f"apiVersion is {_show(api)}, expected {API_VERSION!r}"
    metadata = value.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            return f"metadata is {_kind(metadata)}, expected an object"
        meta_name = metadata.get("name")
        if meta_name is not None and meta_name != name:
            return f"metadata.name is {_show(meta_name)} but the key names {name!r}"
    return None


def _check_registration(plural: str, name: str, value: Mapping[str, object]) -> str | None:
    try:
        _registration(plural, name, value)
    except _Bad as bad:
        return str(bad)
    return None


# --- the model and the result -----------------------------------------------------------------


def _empty() -> dict[str, object]:
    return {}


@dataclass(frozen=True, slots=True)
class CalicoModel:
    """The datastore as pyrr reads it: per plural, name -> parsed JSON value (any shape)."""

    nodes: Mapping[str, object] = field(default_factory=_empty)
    bgppeers: Mapping[str, object] = field(default_factory=_empty)
    bgpconfigurations: Mapping[str, object] = field(default_factory=_empty)
    ippools: Mapping[str, object] = field(default_factory=_empty)  # not used by desired()
    rr_v4: Mapping[str, object] = field(default_factory=_empty)
    rr_v6: Mapping[str, object] = field(default_factory=_empty)

    @classmethod
    def from_resources(cls, resources: Iterable[Resource]) -> CalicoModel:
        groups: dict[str, dict[str, object]] = {
            "nodes": {},
            "bgppeers": {},
            "bgpconfigurations": {},
            "ippools": {},
            "rr_v4": {},
            "rr_v6": {},
        }
        for resource in resources:
            if resource.plural in groups:
                groups[resource.plural][resource.name] = resource.value
        return cls(**groups)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who pyrr is, for matching BGPPeers: its addresses, ids, labels and fallback AS."""

    ip: IPv4Address
    ip6: IPv6Address | None = None
    router_id: IPv4Address | None = None  # None: ip
    cluster_id: IPv4Address | None = None  # None: the router id
    fallback_as: int = CALICO_DEFAULT_AS
    # None: pyrr takes no part in selector peerings (see the module docstring).
    labels: Mapping[str, str] | None = field(default=None, hash=False)
    rr_cluster: bool = False
    # The RFC 2385 key of every generated session (PYRR_BGP_PASSWORD[_FILE]); None: no key.
    password: str | None = field(default=None, repr=False)

    @property
    def effective_cluster_id(self) -> IPv4Address:
        return self.cluster_id or self.router_id or self.ip

    @classmethod
    def from_settings(cls, config: Config, env: EnvSettings) -> Identity:
        """From merged configuration (pyrr.store.env.merge) and the environment."""
        return cls(
            ip=env.ip or config.bgp.router_id,
            ip6=env.ip6,
            router_id=config.bgp.router_id,
            cluster_id=config.bgp.cluster_id,
            fallback_as=env.fallback_as,
            labels=env.labels,
            rr_cluster=env.rr_cluster,
            password=env.bgp_password,
        )


@dataclass(frozen=True, slots=True)
class Desired:
    """What the datastore asks of pyrr."""

    local_as: int
    log_level: str | None  # logSeverityScreen, normalised; None: not set
    peers: tuple[PeerConfig, ...]
    problems: tuple[Problem, ...] = ()  # malformed data, and settings that cannot work
    skipped: tuple[Problem, ...] = ()  # well-formed nodes that get no session, and why

    def apply(self, base: Config, *, keep_log_level: bool = False) -> Config:
        """`base` with this AS and these peers; the log level too unless `keep_log_level`
        (set it when the command line or BGP_LOGSEVERITYSCREEN chose one)."""
        level = base.log_level if keep_log_level or self.log_level is None else self.log_level
        return replace(
            base, bgp=replace(base.bgp, asn=self.local_as), peers=self.peers, log_level=level
        )


# --- reading resources ------------------------------------------------------------------------


class _Bad(Exception):
    """One resource's problem; caught per resource and turned into a Problem."""


@dataclass(frozen=True, slots=True)
class _Node:
    name: str
    key: str
    has_bgp: bool
    ipv4: IPv4Address | None
    ipv6: IPv6Address | None
    asn: int | None
    cluster_id: IPv4Address | None
    labels: Mapping[str, str]

    def address(self, family: int) -> IPAddress | None:
        return self.ipv4 if family == 4 else self.ipv6


@dataclass(frozen=True, slots=True)
class _BGPPeer:
    name: str
    key: str
    node: str | None
    peer_ip: IPAddress | None
    asn: int | None
    node_selector: Selector | None
    peer_selector: Selector | None
    has_password: bool

    @property
    def is_global(self) -> bool:
        return self.node is None and self.node_selector is None


@dataclass(frozen=True, slots=True)
class _Registration:
    key: str
    ip: IPAddress
    cluster_id: IPv4Address | None
    port: int


@dataclass(slots=True)
class _BGPConfig:
    asn: int | None = None
    log_level: str | None = None
    listen_port: int | None = None
    node_ports: dict[str, int] = field(default_factory=dict)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: object) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:60] + "...")
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int) and abs(value) < 10**20:
        return str(value)
    return _kind(value)


def _object(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise _Bad(f"{where} is {_kind(value)}, expected an object")
    return value


def _optional_object(parent: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
    value = parent.get(key)
    return {} if value is None else _object(value, where)


def _optional_str(parent: Mapping[str, object], key: str, where: str) -> str | None:
    """A string field; absent, null and "" all mean "not set"."""
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Bad(f"{where} is {_kind(value)}, expected a string")
    return value or None


def _asn(value: object, where: str) -> int | None:
    """Calico's numorstring.ASNumber: a number or a string, asplain or asdot; 0 = not set."""
    if value is None:
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if re.fullmatch(r"[0-9]{1,10}", text, re.ASCII):
            number = int(text)
        elif m := re.fullmatch(r"([0-9]{1,5})\.([0-9]{1,5})", text, re.ASCII):
            high, low = int(m.group(1)), int(m.group(2))
            if high <= 0xFFFF and low <= 0xFFFF:
                number = (high << 16) | low
    if number is None or not 0 <= number <= MAX_ASN:
        raise _Bad(
            f"{where} is {_show(value)}, expected an AS number between 1 and {MAX_ASN}"
            ' (a number, or a string like "64512" or "1.10")'
        )
    return number or None


def _address(text: str, where: str, family: int) -> IPAddress:
    """A node address: "a.b.c.d/len" (the prefix length is dropped) or a bare address."""
    try:
        address = ip_interface(text.strip()).ip
    except ValueError:
        raise _Bad(f"{where} is {_show(text)}, expected an IPv{family} address") from None
    if address.version != family:
        raise _Bad(
            f"{where} is {_show(text)}: an IPv{address.version} address, expected IPv{family}"
        )
    if address.is_unspecified or address.is_multicast or address == _BROADCAST:
        raise _Bad(f"{where} is {_show(text)}, expected a unicast address")
    return address


def _peer_ip(text: str, where: str) -> IPAddress:
    """BGPPeer peerIP: an address, "a.b.c.d:port" or "[v6]:port" (the port is not compared)."""
    text = text.strip()
    host = text
    if m := _HOST_PORT.fullmatch(text):
        host = m.group(1) or m.group(2)
    try:
        address = ip_address(host)
    except ValueError:
        raise _Bad(f"{where} is {_show(text)}, expected an IP address") from None
    if address.is_unspecified or address.is_multicast:
        raise _Bad(f"{where} is {_show(text)}, expected a unicast address")
    return address


def _selector(text: str | None, where: str) -> Selector | None:
    if text is None:
        return None  # "" too: an empty selector field is "not set"
    try:
        return parse_selector(text)
    except SelectorError as err:
        raise _Bad(f"{where} is not a valid selector: {err}") from None


def _labels(metadata: Mapping[str, object]) -> dict[str, str]:
    raw = metadata.get("labels")
    if raw is None:
        return {}
    labels = _object(raw, "metadata.labels")
    for key, value in labels.items():
        if not isinstance(value, str):
            raise _Bad(f"metadata.labels[{key!r}] is {_kind(value)}, expected a string")
    return {str(k): v for k, v in labels.items() if isinstance(v, str)}


def _spec(value: object, *, required: bool) -> tuple[Mapping[str, object], Mapping[str, object]]:
    resource = _object(value, "the resource")
    metadata = _optional_object(resource, "metadata", "metadata")
    if required and resource.get("spec") is None:
        raise _Bad("has no spec")
    return metadata, _optional_object(resource, "spec", "spec")


def _node(name: str, key: str, value: object) -> _Node:
    metadata, spec = _spec(value, required=False)
    labels = _labels(metadata)
    bgp_raw = spec.get("bgp")
    if bgp_raw is None:
        return _Node(name, key, False, None, None, None, None, labels)
    bgp = _object(bgp_raw, "spec.bgp")
    v4 = _optional_str(bgp, "ipv4Address", "spec.bgp.ipv4Address")
    v6 = _optional_str(bgp, "ipv6Address", "spec.bgp.ipv6Address")
    cid = _optional_str(bgp, "routeReflectorClusterID", "spec.bgp.routeReflectorClusterID")
    cluster_id = None
    if cid is not None:
        try:
            cluster_id = IPv4Address(cid.strip())
        except ValueError:
            raise _Bad(
                f"spec.bgp.routeReflectorClusterID is {_show(cid)}, expected a dotted quad"
                " like 224.0.0.1"
            ) from None
    ipv4 = _address(v4, "spec.bgp.ipv4Address", 4) if v4 is not None else None
    ipv6 = _address(v6, "spec.bgp.ipv6Address", 6) if v6 is not None else None
    return _Node(
        name=name,
        key=key,
        has_bgp=True,
        ipv4=ipv4 if isinstance(ipv4, IPv4Address) else None,
        ipv6=ipv6 if isinstance(ipv6, IPv6Address) else None,
        asn=_asn(bgp.get("asNumber"), "spec.bgp.asNumber"),
        cluster_id=cluster_id,
        labels=labels,
    )


def _bgppeer(name: str, key: str, value: object) -> _BGPPeer:
    _, spec = _spec(value, required=True)
    peer_ip_text = _optional_str(spec, "peerIP", "spec.peerIP")
    peer_selector = _selector(
        _optional_str(spec, "peerSelector", "spec.peerSelector"), "spec.peerSelector"
    )
    if peer_ip_text is None and peer_selector is None:
        raise _Bad("has neither spec.peerIP nor spec.peerSelector")
    password = spec.get("password")
    return _BGPPeer(
        name=name,
        key=key,
        node=_optional_str(spec, "node", "spec.node"),
        # With a peerSelector, confd ignores peerIP; so does pyrr (and does not parse it).
        peer_ip=(
            _peer_ip(peer_ip_text, "spec.peerIP")
            if peer_ip_text is not None and peer_selector is None
            else None
        ),
        asn=_asn(spec.get("asNumber"), "spec.asNumber"),
        node_selector=_selector(
            _optional_str(spec, "nodeSelector", "spec.nodeSelector"), "spec.nodeSelector"
        ),
        peer_selector=peer_selector,
        has_password=password is not None and password != {},
    )


def _registration(plural: str, name: str, value: object) -> _Registration:
    family = 4 if plural == "rr_v4" else 6
    data = _object(value, "the registration")
    ip_text = _optional_str(data, "ip", "ip")
    if ip_text is None:
        raise _Bad('has no "ip"')
    ip = _address(ip_text, "ip", family)
    try:
        named = ip_address(name)
    except ValueError:
        raise _Bad(f"the key names {name!r}, which is not an IPv{family} address") from None
    if named != ip:
        raise _Bad(f'"ip" is {ip} but the key names {name}')
    cid = _optional_str(data, "cluster_id", "cluster_id")
    cluster_id = None
    if cid is not None:
        try:
            cluster_id = IPv4Address(cid.strip())
        except ValueError:
            raise _Bad(f"cluster_id is {_show(cid)}, expected a dotted quad") from None
    port = data.get("port", BGP_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= MAX_PORT:
        raise _Bad(f"port is {_show(port)}, expected 1 to {MAX_PORT}")
    return _Registration(resource_key(plural, name), ip, cluster_id, port)


# --- computing the peers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Want:
    """One wanted session before it becomes a PeerConfig."""

    address: IPAddress
    asn: int
    family: int
    kind: str
    description: str
    port: int
    cluster_id: IPv4Address | None  # the far end's, when it is a route reflector
    source: str  # the key of the BGPPeer or registration asking for it
    always_non_client: bool = False
    has_password: bool = False


class _Run:
    """One desired() computation: collects problems and skipped nodes as it goes."""

    def __init__(self, model: CalicoModel, me: Identity) -> None:
        self.model = model
        self.me = me
        self.problems: dict[tuple[str, str], None] = {}
        self.skipped: dict[tuple[str, str], None] = {}

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
            port = spec.get("listenPort")
            if port is not None:
                if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= MAX_PORT:
                    self.problem(key, f"spec.listenPort is {_show(port)}, expected 1 to {MAX_PORT}")
                elif name == "default":
                    out.listen_port = port
                else:
                    out.node_ports[name.removeprefix("node.")] = port
            if name != "default":
                continue
            try:
                out.asn = _asn(spec.get("asNumber"), "spec.asNumber")
            except _Bad as bad:
                self.problem(key, f"{bad}; using the fallback AS")
            level = spec.get("logSeverityScreen")
            if level is not None:
                normal = LOG_LEVELS.get(level.strip().lower()) if isinstance(level, str) else None
                if normal is None:
                    self.problem(
                        key,
                        f"spec.logSeverityScreen is {_show(level)}, expected Debug, Info,"
                        " Warning, Error, Fatal or None; ignored",
                    )
                out.log_level = normal
        return out

    def nodes(self) -> list[_Node]:
        nodes: list[_Node] = []
        for name, key, value in self.items("nodes", self.model.nodes):
            try:
                nodes.append(_node(name, key, value))
            except _Bad as bad:
                self.problem(key, f"skipped: {bad}")
        return nodes

    def bgppeers(self) -> list[_BGPPeer]:
        peers: list[_BGPPeer] = []
        for name, key, value in self.items("bgppeers", self.model.bgppeers):
            try:
                peers.append(_bgppeer(name, key, value))
            except _Bad as bad:
                self.problem(key, f"skipped: {bad}")
        return peers

    def registrations(self, plural: str, mapping: Mapping[str, object]) -> list[_Registration]:
        found: list[_Registration] = []
        for name, key, value in self.items(plural, mapping):
            try:
                found.append(_registration(plural, name, value))
            except _Bad as bad:
                self.problem(key, f"skipped: {bad}")
        return found

    # -- computing --

    def run(self) -> Desired:
        me = self.me
        config = self.bgp_config()
        nodes = self.nodes()
        bgppeers = self.bgppeers()
        calico_as = config.asn or CALICO_DEFAULT_AS
        by_name = {node.name: node for node in nodes}
        families = (4, 6) if me.ip6 is not None else (4,)

        def node_as(node: _Node) -> int:
            return node.asn or calico_as

        def port_of(node: _Node) -> int:
            return config.node_ports.get(node.name) or config.listen_port or BGP_PORT

        def local_nodes(peer: _BGPPeer) -> list[_Node]:
            """The nodes a BGPPeer configures (its nodeSelector, node, or all)."""
            if peer.node_selector is not None:
                sel = peer.node_selector
                return [n for n in nodes if sel.matches(n.labels)]
            if peer.node is not None:
                if peer.node not in by_name:
                    self.skip(peer.key, f"spec.node names {peer.node!r}, which is not a node")
                    return []
                return [by_name[peer.node]]
            return list(nodes)

        def we_are_local(peer: _BGPPeer) -> bool:
            if me.labels is None:
                return False
            if peer.node_selector is not None:
                return peer.node_selector.matches(me.labels)
            return peer.node is None  # global: every node, pyrr included

        def pointing_families(peer: _BGPPeer) -> tuple[int, ...]:
            if peer.peer_selector is not None:
                if me.labels is not None and peer.peer_selector.matches(me.labels):
                    return families
                return ()
            if peer.peer_ip == me.ip:
                return (4,)
            if me.ip6 is not None and peer.peer_ip == me.ip6:
                return (6,)
            return ()

        # Local AS.
        pointing = [(p, pointing_families(p)) for p in bgppeers]
        pointing = [(p, fams) for p, fams in pointing if fams]
        if config.asn is not None:
            local_as = config.asn
        else:
            named = {p.asn for p, _ in pointing if p.peer_selector is None and p.asn is not None}
            local_as = named.pop() if len(named) == 1 else me.fallback_as

        wants: list[_Want] = []
        ordered = [p for p, _ in pointing if p.is_global] + [
            p for p, _ in pointing if not p.is_global
        ]
        fams_of = {p.key: fams for p, fams in pointing}

        for peer in ordered:
            kind = "global" if peer.is_global else "node"
            mismatched: list[str] = []
            for node in local_nodes(peer):
                for family in fams_of[peer.key]:
                    if peer.peer_selector is None:
                        asn = peer.asn or node_as(node)
                        if asn != node_as(node):
                            mismatched.append(node.name)
                    else:
                        asn = node_as(node)
                    want = self.want(
                        node, family, asn=asn, kind=kind, port=port_of(node), peer=peer
                    )
                    if want is not None:
                        wants.append(want)
            if mismatched:
                self.as_mismatch(peer, mismatched, node_as(by_name[mismatched[0]]))
            if peer.peer_selector is None and peer.asn is not None and peer.asn != local_as:
                self.problem(
                    peer.key,
                    f"spec.asNumber {peer.asn} is not the local AS {local_as} (set"
                    " bgpconfigurations/default spec.asNumber): these sessions are eBGP, not"
                    " route-reflector client sessions",
                )

        # pyrr as a node the BGPPeer configures, towards the nodes its peerSelector picks.
        for peer in bgppeers:
            if peer.peer_selector is None or not we_are_local(peer):
                continue
            kind = "global" if peer.is_global else "node"
            sel = peer.peer_selector
            for node in nodes:
                if not sel.matches(node.labels):
                    continue
                for family in families:
                    want = self.want(
                        node, family, asn=node_as(node), kind=kind, port=port_of(node), peer=peer
                    )
                    if want is not None:
                        wants.append(want)

        if me.rr_cluster:
            for family, plural, mapping in (
                (4, "rr_v4", self.model.rr_v4),
                (6, "rr_v6", self.model.rr_v6),
            ):
                if family not in families:
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

        peers = self.peer_configs(wants, local_as)
        return Desired(
            local_as=local_as,
            log_level=config.log_level,
            peers=peers,
            problems=tuple(Problem(k, m) for k, m in self.problems),
            skipped=tuple(Problem(k, m) for k, m in self.skipped),
        )

    def want(
        self, node: _Node, family: int, *, asn: int, kind: str, port: int, peer: _BGPPeer
    ) -> _Want | None:
        me = self.me
        if not node.has_bgp:
            self.skip(node.key, f"no spec.bgp (not a BGP node): no session ({peer.key})")
            return None
        address = node.address(family)
        if address is None:
            field_name = "ipv4Address" if family == 4 else "ipv6Address"
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
            port=port,
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
                    local_address=me.ip if want.family == 4 else me.ip6,
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
