"""Decoding and validating Calico's v3 resources and the RR registrations, one value at a time.

`parse_resource(key, raw)` is what the etcd layer (pyrr.store.calico.source) feeds every value
through: the key must be one pyrr reads, the value UTF-8 JSON of an object, with the `kind`,
`apiVersion` and `metadata.name` its key implies (a registration is checked in full). It returns
a Resource (pyrr.store.calico.model) or a Problem, never raises.

`_node()`, `_bgppeer()` and `_registration()` read one value into the typed form that
pyrr.store.calico.desired computes with (_Node, _BGPPeer, _Registration), raising _Bad for the
first thing wrong; the caller turns that into a Problem for that one resource. The value helpers
follow Calico's own types: `_asn()` is numorstring.ASNumber (asplain or asdot, 0 = not set),
`_address()` a node's `ipv4Address`/`ipv6Address` (prefix length dropped), `_peer_ip()` a
BGPPeer `peerIP` (with or without a port), `_selector()` a selector field (empty = not set, as
confd tests `!= ""`).

Malformed data: a resource that is not an object, a missing required field, a wrong type or an
unparsable address makes that one resource skipped and reported in Desired.problems. The
exception is `bgpconfigurations`, where a bad field is ignored on its own (a bad log level must
not cost the AS number; pyrr.store.calico.desired reads it field by field into _BGPConfig).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface
from typing import Final

from ...bgp.constants import BGP_PORT
from ...config import IPAddress
from ..limits import ASN_RANGE, MAX_PORT, asdot, clip, is_port, is_unicast, valid_asn
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
from .selector import Selector, SelectorError
from .selector import parse as parse_selector

__all__ = ["parse_resource"]

# numorstring.ASNumber's asplain string (asdot is pyrr.store.limits.asdot).
_ASPLAIN: Final = re.compile(r"[0-9]{1,10}", re.ASCII)
# "[v6]:port", "[v6]" or "a.b.c.d:port"
_HOST_PORT: Final = re.compile(r"\[([^\]]+)\](?::[0-9]{1,5})?|([0-9.]+):[0-9]{1,5}", re.ASCII)


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

    def address(self, family: IPVersion) -> IPAddress | None:
        return self.ipv4 if family == IPVersion.V4 else self.ipv6


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
        return clip(value)
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
        number = int(text) if _ASPLAIN.fullmatch(text) else asdot(text)
    # 0 is Calico's "not set".
    if number is None or not (number == 0 or valid_asn(number)):
        raise _Bad(
            f"{where} is {_show(value)}, expected {ASN_RANGE}"
            ' (a number, or a string like "64512" or "1.10")'
        )
    return number or None


def _address(text: str, where: str, family: IPVersion) -> IPAddress:
    """A node address: "a.b.c.d/len" (the prefix length is dropped) or a bare address."""
    try:
        address = ip_interface(text.strip()).ip
    except ValueError:
        raise _Bad(f"{where} is {_show(text)}, expected an IPv{family} address") from None
    if address.version != family:
        raise _Bad(
            f"{where} is {_show(text)}: an IPv{address.version} address, expected IPv{family}"
        )
    if not is_unicast(address):
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


def _dotted_quad(text: str | None, where: str, example: str = "") -> IPv4Address | None:
    """A cluster id: Calico writes them as dotted quads only."""
    if text is None:
        return None
    try:
        return IPv4Address(text.strip())
    except ValueError:
        raise _Bad(f"{where} is {_show(text)}, expected a dotted quad{example}") from None


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
    cluster_id = _dotted_quad(cid, "spec.bgp.routeReflectorClusterID", " like 224.0.0.1")
    ipv4 = _address(v4, "spec.bgp.ipv4Address", IPVersion.V4) if v4 is not None else None
    ipv6 = _address(v6, "spec.bgp.ipv6Address", IPVersion.V6) if v6 is not None else None
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
    family = IPVersion.V4 if plural == "rr_v4" else IPVersion.V6
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
    cluster_id = _dotted_quad(_optional_str(data, "cluster_id", "cluster_id"), "cluster_id")
    port = data.get("port", BGP_PORT)
    if not is_port(port):
        raise _Bad(f"port is {_show(port)}, expected 1 to {MAX_PORT}")
    return _Registration(resource_key(plural, name), ip, cluster_id, port)
