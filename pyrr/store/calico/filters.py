"""Calico's BGPFilter resource (3.26+) read into pyrr.config.RouteFilter values.

`read_bgpfilter(name, key, value)` checks every rule as calicoctl's validation and confd's
renderer (confd/pkg/resource/template/template_funcs.go) would, and raises values.Bad for the
first thing wrong, naming the rule (`spec.exportV4[2].cidr`). What each field means for a
route is the export layer's business; what is decided here:

- `cidr` and `matchOperator` come together (Calico's CEL rule); `prefixLength` needs `cidr`.
  Without `prefixLength` the rule compares the prefix with the CIDR alone (`net ~ cidr`); with
  it, confd renders `cidr{lo,hi}` with lo = max(CIDR length, min) and hi = min(32 or 128, max),
  and FilterRule.prefix_length holds that (lo, hi) pair.
- `communities.values` holds exactly one community: "aa:nn" (16-bit halves) or "a:b:c" (32-bit
  parts, RFC 8092); `addCommunity.value` the same.
- `operations` only with action Accept; each sets exactly one of addCommunity,
  prependASPath, setPriority.
- `priority` and `setPriority.value`: 1 to 2147483646, in Felix's route-priority units (confd
  turns them into LOCAL_PREF = 2147483647 - priority).
- `interface` follows calicoctl's pattern ([a-zA-Z0-9_.*-]{1,15}); routes learned over BGP
  have no interface, so such a rule never matches on a reflector.

Fields this version does not know are not an error (pyrr.store.calico.fields notes them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from ipaddress import ip_network
from typing import Final, TypeVar

from ...config import (
    FilterAction,
    FilterOperation,
    FilterRule,
    IPNetwork,
    MatchOperator,
    PeerType,
    RouteFilter,
)
from .values import Bad, as_object, asn, kind_of, optional_int, optional_object, show, spec_of

__all__ = ["MAX_PRIORITY", "read_bgpfilter"]

MAX_PRIORITY: Final = 2147483646  # Calico: priority and setPriority.value, 1 to this
MAX_OPERATIONS: Final = 10  # Calico's MaxItems for operations and prependASPath.prefix
_INTERFACE: Final = re.compile(r"[a-zA-Z0-9_.*-]{1,15}\Z", re.ASCII)
_COMMUNITY: Final = re.compile(r"([0-9]+):([0-9]+)(?::([0-9]+))?\Z", re.ASCII)
_STANDARD_MAX: Final = 0xFFFF
_LARGE_MAX: Final = 0xFFFFFFFF
_LISTS: Final = (("exportV4", 4), ("importV4", 4), ("exportV6", 6), ("importV6", 6))
_MAX_LENGTH: Final = {4: 32, 6: 128}  # prefix lengths per IP version

_E = TypeVar("_E", FilterAction, MatchOperator, PeerType)


def read_bgpfilter(name: str, key: str, value: object) -> RouteFilter:
    """The RouteFilter a BGPFilter resource describes; Bad names the first wrong field."""
    del key  # the caller reports problems under it
    _, spec = spec_of(value, required=False)
    lists: dict[str, tuple[FilterRule, ...]] = {}
    for field_name, version in _LISTS:
        raw = spec.get(field_name)
        if raw is None:
            lists[field_name] = ()
            continue
        if not isinstance(raw, list):
            raise Bad(f"spec.{field_name} is {kind_of(raw)}, expected an array of rules")
        lists[field_name] = tuple(
            _rule(item, f"spec.{field_name}[{i}]", version) for i, item in enumerate(raw)
        )
    return RouteFilter(
        name=name,
        export_v4=lists["exportV4"],
        import_v4=lists["importV4"],
        export_v6=lists["exportV6"],
        import_v6=lists["importV6"],
    )


def _rule(value: object, where: str, version: int) -> FilterRule:
    rule = as_object(value, where)
    action = _enum(rule, "action", where, FilterAction, required=True)
    assert action is not None
    cidr = _cidr(rule, where, version)
    operator = _enum(rule, "matchOperator", where, MatchOperator)
    if (cidr is None) != (operator is None):
        raise Bad(f"{where}: cidr and matchOperator must both be set or both be empty")
    source = _text(rule, "source", where)
    if source not in (None, "RemotePeers"):
        raise Bad(f"{where}.source is {show(source)}, expected RemotePeers")
    interface = _text(rule, "interface", where) or ""
    if interface and not _INTERFACE.match(interface):
        raise Bad(f"{where}.interface is {show(interface)}, expected 1-15 of a-z A-Z 0-9 _ . * -")
    operations = _operations(rule, where)
    if operations and action is not FilterAction.ACCEPT:
        raise Bad(f"{where}: operations may only be used with action Accept")
    return FilterRule(
        action=action,
        cidr=cidr,
        match_operator=operator,
        prefix_length=_prefix_length(rule, where, cidr, version),
        remote_peers_only=source is not None,
        interface=interface,
        peer_type=_enum(rule, "peerType", where, PeerType),
        communities=_communities(rule, where),
        as_path_prefix=_asns(rule.get("asPathPrefix"), f"{where}.asPathPrefix", empty_ok=True),
        priority=optional_int(rule, "priority", f"{where}.priority", 1, MAX_PRIORITY),
        operations=operations,
    )


def _text(rule: Mapping[str, object], name: str, where: str) -> str | None:
    value = rule.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Bad(f"{where}.{name} is {kind_of(value)}, expected a string")
    return value


def _enum(
    rule: Mapping[str, object], name: str, where: str, kind: type[_E], *, required: bool = False
) -> _E | None:
    text = _text(rule, name, where)
    if text is None:
        if required:
            raise Bad(f"{where}.{name} is missing: expected {_choices(kind)}")
        return None
    try:
        return kind(text)
    except ValueError:
        raise Bad(f"{where}.{name} is {show(text)}, expected {_choices(kind)}") from None


def _choices(kind: type[FilterAction | MatchOperator | PeerType]) -> str:
    return ", ".join(str(member.value) for member in kind)


def _cidr(rule: Mapping[str, object], where: str, version: int) -> IPNetwork | None:
    text = _text(rule, "cidr", where)
    if text is None:
        return None
    try:
        network = ip_network(text.strip(), strict=False)
    except ValueError:
        raise Bad(f"{where}.cidr is {show(text)}, expected an IPv{version} CIDR") from None
    if network.version != version:
        raise Bad(
            f"{where}.cidr is {show(text)}: an IPv{network.version} CIDR in an IPv{version} list"
        )
    return network


def _prefix_length(
    rule: Mapping[str, object], where: str, cidr: IPNetwork | None, version: int
) -> tuple[int, int] | None:
    if rule.get("prefixLength") is None:
        return None
    if cidr is None:
        raise Bad(f"{where}: cidr is required when prefixLength is set")
    lengths = optional_object(rule, "prefixLength", f"{where}.prefixLength")
    top = _MAX_LENGTH[version]
    low = optional_int(lengths, "min", f"{where}.prefixLength.min", 0, top)
    high = optional_int(lengths, "max", f"{where}.prefixLength.max", 0, top)
    # confd: [ cidr{max(len, min), min(top, max)} ]
    lo = cidr.prefixlen if low is None else max(cidr.prefixlen, low)
    hi = top if high is None else min(top, high)
    return lo, hi


def _community(value: object, where: str) -> tuple[int, ...]:
    m = _COMMUNITY.match(value) if isinstance(value, str) else None
    if m is None:
        raise Bad(f'{where} is {show(value)}, expected a community like "65001:100" or "1:2:3"')
    large = m.group(3) is not None
    parts = tuple(int(p) for p in m.groups() if p is not None)
    limit = _LARGE_MAX if large else _STANDARD_MAX
    if any(p > limit for p in parts):
        bits = 32 if large else 16
        raise Bad(f"{where} is {show(value)}: each part must be a {bits}-bit number")
    return parts


def _communities(rule: Mapping[str, object], where: str) -> tuple[tuple[int, ...], ...]:
    match = optional_object(rule, "communities", f"{where}.communities")
    if not match:
        return ()
    values = match.get("values")
    if not isinstance(values, list) or len(values) != 1:
        raise Bad(f"{where}.communities.values must hold exactly one community")
    return (_community(values[0], f"{where}.communities.values[0]"),)


def _asns(value: object, where: str, *, empty_ok: bool) -> tuple[int, ...]:
    if value is None and empty_ok:
        return ()
    if not isinstance(value, list) or (not value and not empty_ok):
        raise Bad(f"{where} is {kind_of(value)}, expected an array of AS numbers")
    if len(value) > MAX_OPERATIONS:
        raise Bad(f"{where} has {len(value)} AS numbers, at most {MAX_OPERATIONS}")
    numbers: list[int] = []
    for index, item in enumerate(value):
        number = asn(item, f"{where}[{index}]")
        if number is None:
            raise Bad(f"{where}[{index}] is {show(item)}, expected an AS number")
        numbers.append(number)
    return tuple(numbers)


def _operations(rule: Mapping[str, object], where: str) -> tuple[FilterOperation, ...]:
    raw = rule.get("operations")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise Bad(f"{where}.operations is {kind_of(raw)}, expected an array")
    if len(raw) > MAX_OPERATIONS:
        raise Bad(f"{where}.operations has {len(raw)} entries, at most {MAX_OPERATIONS}")
    return tuple(_operation(item, f"{where}.operations[{i}]") for i, item in enumerate(raw))


def _operation(value: object, where: str) -> FilterOperation:
    op = as_object(value, where)
    known = [n for n in ("addCommunity", "prependASPath", "setPriority") if op.get(n) is not None]
    if len(known) != 1:
        raise Bad(f"{where} must set exactly one of addCommunity, prependASPath, setPriority")
    name = known[0]
    body = as_object(op[name], f"{where}.{name}")
    if name == "addCommunity":
        return FilterOperation(add_community=_community(body.get("value"), f"{where}.{name}.value"))
    if name == "prependASPath":
        prefix = _asns(body.get("prefix"), f"{where}.{name}.prefix", empty_ok=False)
        return FilterOperation(prepend_as_path=prefix)
    priority = optional_int(body, "value", f"{where}.{name}.value", 1, MAX_PRIORITY)
    if priority is None:
        raise Bad(f"{where}.{name}.value is missing: expected 1 to {MAX_PRIORITY}")
    return FilterOperation(set_priority=priority)
