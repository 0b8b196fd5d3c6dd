"""Reading TOML values for the static store: a typed table reader, value checks, messages.

`_Table` wraps one TOML table with the dotted path that names it (`bgp`, `peer[2]`), refuses
unknown keys with a guess at the key meant, and reads typed values from it; the checkers (`_int`,
`_ip`, `_ipv4`, `_between`, ...) and `_fail` turn a wrong type or an out-of-range value into one
`ConfigError(<dotted path>, "must be <expected>, got <value as written>")`. The schema that uses
them (which keys, which defaults) is pyrr.store.file.toml_config; the limits it applies are
pyrr.store.limits'.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time
from ipaddress import IPv4Address, ip_address
from typing import Final, NoReturn

from ...config import ConfigError, IPAddress
from ..limits import clip

# Names operators bring from other BGP daemons' configs, which spelling similarity cannot guess.
# They name pyrr.store.file.toml_config's keys; _unknown_key_message suggests one when it is
# allowed.
_ALIASES: Final = {
    "neighbor": "peer",
    "neighbors": "peer",
    "neighbour": "peer",
    "neighbours": "peer",
    "as": "asn",
    "local_as": "asn",
    "remote_as": "asn",
    "peer_as": "asn",
    "ip": "address",
    "peer_ip": "address",
    "neighbor_address": "address",
    "md5": "password",
    "md5_password": "password",
    "rr_client": "client",
    "route_reflector_client": "client",
    "update_source": "local_address",
    "source_address": "local_address",
    "listen_address": "listen",
    "listen_addresses": "listen",
    "listen_port": "port",
    "gtsm": "ttl_security",
    "maximum_prefix": "max_prefixes",
    "max_prefix": "max_prefixes",
    "prefix_limit": "max_prefixes",
}

# A quoted string of digits shorter than this is taken for a number written in quotes.
_QUOTED_NUMBER_HINT_LEN: Final = 40

# What _Table.raw returns for a key the table does not have.
_MISSING: Final = object()


# --- field readers --------------------------------------------------------------------------


class _Table:
    """One TOML table and the dotted path that names it, so each error names the key written."""

    def __init__(self, data: Mapping[str, object], path: str, allowed: Sequence[str]) -> None:
        self._data = data
        self._path = path
        for key in data:
            if key not in allowed:
                raise ConfigError(self.field(key), _unknown_key_message(key, allowed))

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def field(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def raw(self, key: str) -> object:
        return self._data.get(key, _MISSING)

    def require(self, key: str, expect: str, *, example: str) -> object:
        value = self.raw(key)
        if value is _MISSING:
            raise ConfigError(self.field(key), f"missing: must be {expect}, e.g. {example}")
        return value

    def require_int(self, key: str, expect: str, ok: Callable[[int], bool], *, example: str) -> int:
        return _int(self.require(key, expect, example=example), self.field(key), expect, ok)

    def get_int(self, key: str, default: int, expect: str, ok: Callable[[int], bool]) -> int:
        value = self.raw(key)
        return default if value is _MISSING else _int(value, self.field(key), expect, ok)

    def get_bool(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            _fail(self.field(key), "true or false", value)
        return value

    def get_str(self, key: str, default: str) -> str:
        value = self.raw(key)
        if value is _MISSING:
            return default
        if not isinstance(value, str):
            _fail(self.field(key), 'a string like "node1"', value)
        return value


def _int(value: object, field: str, expect: str, ok: Callable[[int], bool]) -> int:
    # bool is an int subclass in Python, but `asn = true` is a mistake, not AS 1.
    if isinstance(value, bool) or not isinstance(value, int) or not ok(value):
        _fail(field, expect, value)
    return value


def _between(low: int, high: int) -> Callable[[int], bool]:
    return lambda value: low <= value <= high


def _at_least(low: int) -> Callable[[int], bool]:
    return lambda value: value >= low


def _ip(value: object, field: str, expect: str) -> IPAddress:
    # Only strings: ip_address() would also take an int, and `address = 1` is surely a typo.
    if isinstance(value, str):
        try:
            return ip_address(value)
        except ValueError:
            pass
    _fail(field, expect, value)


def _ipv4(value: object, field: str, expect: str) -> IPv4Address:
    address = _ip(value, field, expect)
    if not isinstance(address, IPv4Address):
        _fail(field, expect, value)
    return address


# --- messages -------------------------------------------------------------------------------


def _fail(field: str, expect: str, value: object) -> NoReturn:
    raise ConfigError(field, f"must be {expect}, got {_show(value)}{_quote_hint(value)}")


def _unknown_key_message(key: str, allowed: Sequence[str]) -> str:
    # Case and dashes are the usual slips (ASN, hold-time), so compare on a normalised form.
    normal = key.strip().lower().replace("-", "_")
    alias = _ALIASES.get(normal)
    if normal in allowed:
        guess: str | None = normal
    elif alias is not None and alias in allowed:
        guess = alias
    else:
        close = difflib.get_close_matches(normal, allowed, n=1)
        guess = close[0] if close else None
    if guess is not None:
        return f"unknown key {clip(key)}; did you mean {guess!r}?"
    return f"unknown key {clip(key)}; expected one of: {', '.join(allowed)}"


def _show(value: object) -> str:
    """A value as the operator wrote it, with its TOML type, for `got ...`."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int):
        # str() of a huge int is slow and, past 4300 digits, an error; nobody needs the digits.
        return str(value) if abs(value) < 10**20 else "a very large integer"
    if isinstance(value, str):
        return f"{clip(value)} (a string)"
    return _kind(value) if not isinstance(value, float) else f"{value!r} (a float)"


def _kind(value: object) -> str:
    kinds: Iterable[tuple[type | tuple[type, ...], str]] = (
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a float"),
        (str, "a string"),
        (list, "an array"),
        (dict, "a table"),
        ((datetime, date, time), "a date/time"),
    )
    for kind, name in kinds:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _quote_hint(value: object) -> str:
    # `asn = "64512"` and `client = "true"` are the commonest type slips; say how to fix them.
    if not isinstance(value, str):
        return ""
    if value.strip().lower() in ("true", "false"):
        return "; write true/false without quotes"
    if re.fullmatch(r"\s*[+-]?\d+\s*", value) and len(value) < _QUOTED_NUMBER_HINT_LEN:
        return "; write numbers without quotes"
    return ""
