"""Route filters in a configuration file: `[[filter]]` tables, named from a peer's `filters`.

A `[[filter]]` is a Calico BGPFilter's spec under a name, written with the same keys, so the
rules of a BGPFilter can be copied as they are:

    [[filter]]
    name = "no-default"
    exportV4 = [{ action = "Reject", cidr = "0.0.0.0/0", matchOperator = "Equal" }]

The rules mean what they mean in Calico (pyrr.store.calico.filters reads them, with the same
checks); an unknown key is an error here, as everywhere in the file, with a guess at the key
meant. `[[peer]] filters = ["no-default"]` applies them in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ...config import ConfigError, RouteFilter
from ..calico.filters import read_bgpfilter
from ..calico.values import Bad
from .toml_table import _MISSING, _fail, _show, _Table

__all__ = ["FILTER_KEYS", "RULE_KEYS", "filters_of", "peer_filters"]

FILTER_KEYS: Final = ("name", "exportV4", "importV4", "exportV6", "importV6")
RULE_KEYS: Final = (
    "action",
    "cidr",
    "matchOperator",
    "prefixLength",
    "source",
    "interface",
    "peerType",
    "communities",
    "asPathPrefix",
    "priority",
    "operations",
)
_NESTED: Final = {
    "prefixLength": ("min", "max"),
    "communities": ("values",),
}
_OPERATION_KEYS: Final = ("addCommunity", "prependASPath", "setPriority")
_OPERATION_BODY: Final = {
    "addCommunity": ("value",),
    "prependASPath": ("prefix",),
    "setPriority": ("value",),
}
_NAME_EXPECT: Final = 'a name like "no-default"'


def _check_keys(rule: Mapping[str, object], path: str) -> None:
    """Unknown keys in a rule (and its nested tables) are errors, with a guess."""
    _Table(rule, path, RULE_KEYS)
    for key, allowed in _NESTED.items():
        value = rule.get(key)
        if isinstance(value, dict):
            _Table(value, f"{path}.{key}", allowed)
    operations = rule.get("operations")
    if isinstance(operations, list):
        for index, op in enumerate(operations):
            if not isinstance(op, dict):
                continue
            where = f"{path}.operations[{index}]"
            _Table(op, where, _OPERATION_KEYS)
            for key, allowed in _OPERATION_BODY.items():
                body = op.get(key)
                if isinstance(body, dict):
                    _Table(body, f"{where}.{key}", allowed)


def _route_filter(item: object, path: str) -> RouteFilter:
    if not isinstance(item, dict):
        raise ConfigError(path, f"must be a table written [[filter]], got {_show(item)}")
    t = _Table(item, path, FILTER_KEYS)
    name = t.require("name", _NAME_EXPECT, example='name = "no-default"')
    if not isinstance(name, str) or not name.strip():
        _fail(t.field("name"), _NAME_EXPECT, name)
    spec: dict[str, object] = {}
    for key in FILTER_KEYS[1:]:
        rules = t.raw(key)
        if rules is _MISSING:
            continue
        if isinstance(rules, list):
            for index, rule in enumerate(rules):
                if isinstance(rule, dict):
                    _check_keys(rule, f"{path}.{key}[{index}]")
        spec[key] = rules
    try:
        return read_bgpfilter(name.strip(), path, {"spec": spec})
    except Bad as bad:
        raise ConfigError(path, str(bad).removeprefix("spec.")) from None


def filters_of(document: Mapping[str, object]) -> dict[str, RouteFilter]:
    """The file's `[[filter]]` tables by name."""
    raw = document.get("filter", _MISSING)
    if raw is _MISSING:
        return {}
    if not isinstance(raw, list):
        hint = (
            " (written [filter]? each filter is a [[filter]] block)"
            if isinstance(raw, dict)
            else ""
        )
        raise ConfigError(
            "filter", f"must be an array of tables written [[filter]], got {_show(raw)}{hint}"
        )
    found: dict[str, RouteFilter] = {}
    for index, item in enumerate(raw):
        path = f"filter[{index}]"
        route_filter = _route_filter(item, path)
        if route_filter.name in found:
            raise ConfigError(
                f"{path}.name", f"duplicate filter name {route_filter.name!r}; name each once"
            )
        found[route_filter.name] = route_filter
    return found


def peer_filters(
    raw: object, field: str, filters: Mapping[str, RouteFilter]
) -> tuple[RouteFilter, ...]:
    """A peer's `filters = ["name", ...]`: the named [[filter]]s, in order."""
    if raw is _MISSING:
        return ()
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        _fail(field, 'an array of [[filter]] names like ["no-default"]', raw)
    chosen: list[RouteFilter] = []
    for index, name in enumerate(raw):
        if name not in filters:
            known = ", ".join(repr(n) for n in filters) or "none: add a [[filter]] block"
            raise ConfigError(
                f"{field}[{index}]", f"names no [[filter]] {name!r}; the filters are {known}"
            )
        chosen.append(filters[name])
    return tuple(chosen)
