"""Calico's v3 data model as pyrr reads it from etcd: keys, values, identity and result.

The keys pyrr reads (PREFIXES): `/calico/resources/v3/projectcalico.org/{nodes,bgppeers,
bgpconfigurations,ippools,bgpfilters}/<name>` (RESOURCE_PREFIX, KINDS) and the RR registrations
`/calico/bgp/v1/rr_v4|rr_v6/<ip>` (RR_V4_PREFIX, RR_V6_PREFIX). `resource_key()` builds a key
from (plural, name); `registration_key()` / `registration_value()` are the only definition of
the registration scheme: each pyrr instance of an RR cluster (PYRR_RR_CLUSTER) registers
`/calico/bgp/v1/rr_v4/<IP>` = `{"ip": IP, "cluster_id": CLUSTER_ID}` (and rr_v6 for IP6), the
calico/routereflector v0.6 format (calico issue #1887).

The types: Resource (one decoded value) and Problem (a key and what is wrong with it), as
pyrr.store.calico.resources.parse_resource() returns them; CalicoModel (the datastore, per
plural, name -> parsed JSON); Identity (who pyrr is); Desired (what pyrr.store.calico.desired's
`desired()` computes from the two, and `apply()` to turn it into a Config).

This module imports none of the other pyrr.store.calico modules: they import it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address
from typing import Final, NamedTuple

from ...bgp.constants import BGP_PORT
from ...config import Config, IPAddress, IPNetwork, PeerConfig
from ..file.environment import CALICO_DEFAULT_AS, EnvSettings

__all__ = [
    "API_VERSION",
    "KINDS",
    "PREFIXES",
    "RESOURCE_PREFIX",
    "RR_V4_PREFIX",
    "RR_V6_PREFIX",
    "CalicoModel",
    "Desired",
    "FieldNote",
    "IPVersion",
    "Identity",
    "Problem",
    "Resource",
    "SecretLookup",
    "SecretRead",
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
    "bgpfilters": "BGPFilter",
}
# What the etcd layer watches.
PREFIXES: Final = (
    *(f"{RESOURCE_PREFIX}{plural}/" for plural in KINDS),
    RR_V4_PREFIX,
    RR_V6_PREFIX,
)


class IPVersion(IntEnum):
    """An address family as Calico's fields name it: ipv4Address / ipv6Address, rr_v4 / rr_v6."""

    V4 = 4
    V6 = 6


class Problem(NamedTuple):
    """Something wrong (or skipped) in the datastore: the etcd key, and what and why."""

    key: str
    message: str


class FieldNote(NamedTuple):
    """A field pyrr read but does not apply: unknown (a newer Calico's) or ignored, and why.
    CalicoSource logs each (kind, path) once; `key` is the first resource seen with it."""

    kind: str
    path: str
    why: str
    key: str


class SecretRead(NamedTuple):
    """What reading one secret key gave: the key (None: unreadable), the path read or why it
    could not be, and whether the secrets directory exists at all."""

    value: str | None
    where: str
    mounted: bool = True


# Reads the key of a BGPPeer's password.secretKeyRef: (secret name, key) -> SecretRead.
SecretLookup = Callable[[str, str], SecretRead]


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


# --- the model and the result -----------------------------------------------------------------


def _empty() -> dict[str, object]:
    return {}


@dataclass(frozen=True, slots=True)
class CalicoModel:
    """The datastore as pyrr reads it: per plural, name -> parsed JSON value (any shape)."""

    nodes: Mapping[str, object] = field(default_factory=_empty)
    bgppeers: Mapping[str, object] = field(default_factory=_empty)
    bgpconfigurations: Mapping[str, object] = field(default_factory=_empty)
    ippools: Mapping[str, object] = field(default_factory=_empty)
    bgpfilters: Mapping[str, object] = field(default_factory=_empty)
    rr_v4: Mapping[str, object] = field(default_factory=_empty)
    rr_v6: Mapping[str, object] = field(default_factory=_empty)

    @classmethod
    def from_resources(cls, resources: Iterable[Resource]) -> CalicoModel:
        groups: dict[str, dict[str, object]] = {
            "nodes": {},
            "bgppeers": {},
            "bgpconfigurations": {},
            "ippools": {},
            "bgpfilters": {},
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
    # None: pyrr takes no part in selector peerings (see pyrr.store.calico.desired).
    labels: Mapping[str, str] | None = field(default=None, hash=False)
    rr_cluster: bool = False
    # The RFC 2385 key of every generated session whose BGPPeer names no secret, or whose
    # secret cannot be read (PYRR_BGP_PASSWORD[_FILE]); None: no key.
    password: str | None = field(default=None, repr=False)
    # NODENAME: pyrr is this Node, and its peers are the ones calico-node would give that
    # Node (pyrr.store.calico.node_peers); None: the calico/routereflector v0.6 rules.
    node_name: str | None = None
    node_as: int | None = None  # the Node's own spec.bgp.asNumber
    port: int = BGP_PORT  # the BGP port pyrr listens on
    # BGPPeer password.secretKeyRef reader (pyrr.store.calico.secrets); None: no secrets.
    secrets: SecretLookup | None = field(default=None, compare=False, repr=False)

    @property
    def effective_cluster_id(self) -> IPv4Address:
        return self.cluster_id or self.router_id or self.ip

    @classmethod
    def from_settings(cls, config: Config, env: EnvSettings) -> Identity:
        """From merged configuration (pyrr.store.file.merge.merge) and the environment."""
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
    # IPPool disableBGPExport CIDRs: prefixes inside them never leave pyrr.
    no_export: tuple[IPNetwork, ...] = ()
    notes: tuple[FieldNote, ...] = ()  # fields read but not applied
    # (secret name, key, digest of the key or "" when unreadable) of every secret read.
    secrets: tuple[tuple[str, str, str], ...] = ()
    mesh: bool = False  # node mode: nodeToNodeMeshEnabled is in effect

    def apply(self, base: Config, *, keep_log_level: bool = False) -> Config:
        """`base` with this AS, these peers and no-export prefixes; the log level too unless
        `keep_log_level` (set it when the command line or BGP_LOGSEVERITYSCREEN chose one)."""
        level = base.log_level if keep_log_level or self.log_level is None else self.log_level
        bgp = replace(base.bgp, asn=self.local_as, no_export=self.no_export)
        return replace(base, bgp=bgp, peers=self.peers, log_level=level)
