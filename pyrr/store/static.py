"""The static store: pyrr's configuration read from a TOML file.

Every problem with the input, whatever it is, comes out as one `ConfigError` naming the dotted
path the operator wrote (`bgp.asn`, `peer[2].hold_time`) and saying what is expected. Nothing else
escapes, so the CLI can print the error and exit without a traceback.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time
from ipaddress import IPv4Address, ip_address
from pathlib import Path
from socket import AF_INET
from typing import Final, NoReturn, Protocol

from ..bgp.constants import MIN_HOLD_TIME
from ..config import (
    Config,
    ConfigError,
    ControlConfig,
    GlobalConfig,
    IPAddress,
    PeerConfig,
    parse_host_port,
)

__all__ = [
    "BGP_KEYS",
    "CONTROL_KEYS",
    "LOG_LEVELS",
    "MAX_PREFIXES_ACTIONS",
    "PEER_KEYS",
    "TOP_KEYS",
    "detect_router_id",
    "load_file",
    "load_text",
]

MAX_ASN: Final = 2**32 - 1  # RFC 6793: four-octet AS numbers
MAX_PORT: Final = 65535
MAX_HOLD_TIME: Final = 65535  # RFC 4271 §4.2: a 2-octet field
MAX_RESTART_TIME: Final = 4095  # RFC 4724 §3: a 12-bit field
# Not a protocol limit: a bound keeps timer arithmetic sane (a retry of 1e400 s overflows a float).
MAX_CONNECT_RETRY: Final = 65535
MAX_PASSWORD_BYTES: Final = 80  # Linux TCP_MD5SIG_MAXKEYLEN for RFC 2385 keys
MAX_TTL_SECURITY: Final = 254  # RFC 5082: hops; the minimum accepted TTL is 255 - hops
MAX_CLUSTER_ID: Final = 2**32 - 1  # RFC 4456: 4 octets
MAX_SOCKET_PATH_BYTES: Final = 107  # unix(7): sun_path is 108 bytes with the final NUL

# The wording shared by several keys, used for both wrong types and out-of-range values.
_ASN_EXPECT: Final = f"an AS number between 1 and {MAX_ASN}"
_PORT_EXPECT: Final = f"a TCP port between 1 and {MAX_PORT}"
_HOLD_TIME_EXPECT: Final = (
    f"0 or between {MIN_HOLD_TIME} and {MAX_HOLD_TIME} seconds (RFC 4271 §4.2)"
)
_SOCKET_EXPECT: Final = 'an absolute path like "/run/pyrr/pyrr.sock" ("" = the default)'
_METRICS_EXPECT: Final = 'an address and port like "127.0.0.1:9179" or "[::1]:9179" ("" = off)'

# The defaults live in pyrr.config; reading them off throwaway instances keeps the two in step.
_GLOBAL_DEFAULTS: Final = GlobalConfig(asn=1, router_id=IPv4Address(1), cluster_id=IPv4Address(1))
_PEER_DEFAULTS: Final = PeerConfig(address=IPv4Address(1), asn=1)
_CONTROL_DEFAULTS: Final = ControlConfig()

# RFC 4486 §4: what to do when a peer sends more than max_prefixes.
MAX_PREFIXES_ACTIONS: Final = ("cease", "warn")

# "warn" is what Python's logging and many operators write; it means "warning".
LOG_LEVELS: Final = {
    "debug": "debug",
    "info": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
}

TOP_KEYS: Final = ("log_level", "bgp", "peer", "control")
BGP_KEYS: Final = (
    "asn",
    "router_id",
    "cluster_id",
    "listen",
    "port",
    "restart_time",
    "connect_retry",
)
PEER_KEYS: Final = (
    "address",
    "asn",
    "client",
    "passive",
    "hold_time",
    "port",
    "local_address",
    "description",
    "password",
    "ttl_security",
    "max_prefixes",
    "max_prefixes_action",
)
CONTROL_KEYS: Final = ("socket", "metrics")

# Names operators bring from other BGP daemons' configs, which spelling similarity cannot guess.
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

# rtnetlink(7): RT_SCOPE_UNIVERSE marks an address usable beyond this host.
_RT_SCOPE_UNIVERSE: Final = 0
# Calico's first-found autodetection skips these interfaces (calico/node autodetection
# DEFAULT_INTERFACES_TO_EXCLUDE). kube-ipvs0 in particular carries every Service IP with global
# scope, so picking from it would hand identical router IDs to every node.
_EXCLUDED_INTERFACES: Final = re.compile(
    "|".join(
        (
            r"^docker.*",
            r"^cbr.*",
            r"^dummy.*",
            r"^virbr.*",
            r"^lxcbr.*",
            r"^veth.*",
            r"^lo",
            r"^cali.*",
            r"^tunl.*",
            r"^flannel.*",
            r"^kube-ipvs.*",
            r"^cni.*",
            r"^vxlan\.calico.*",
            r"^vxlan-v6\.calico.*",
            r"^wireguard\.cali.*",
            r"^wg-v6\.cali.*",
            r"^nodelocaldns.*",
        )
    )
)

_ROUTER_ID_MISSING: Final = (
    'not set and no IP environment variable or IPv4 address found; set bgp.router_id = "a.b.c.d"'
)

_MISSING: Final = object()
_IPV4_BROADCAST: Final = IPv4Address("255.255.255.255")


# --- public API -----------------------------------------------------------------------------


def load_file(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a TOML configuration file; any problem is a ConfigError."""
    name = os.fsdecode(path)
    try:
        data = Path(path).read_bytes()
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ConfigError(name, f"cannot read the configuration file: {reason}") from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            name, f"is not UTF-8 text (TOML files must be UTF-8): bad byte at offset {err.start}"
        ) from err
    return load_text(text, source=name, env=env)


def load_text(
    text: str, *, source: str = "<config>", env: Mapping[str, str] | None = None
) -> Config:
    """Parse and validate a TOML document; `source` names it in parse errors.

    `env` stands in for the process environment (only `IP` is read, and only when
    bgp.router_id is not set); None means os.environ.
    """
    document = _parse(text, source)
    return _build(document, os.environ if env is None else env)


def detect_router_id(env: Mapping[str, str] | None = None) -> IPv4Address | None:
    """The router ID to use when the config gives none, as calico/node would choose it.

    The `IP` environment variable wins (an IPv4 address; unset, empty or "autodetect" means look
    one up, "none" means this node has no IPv4 address). The lookup takes the first
    global-scope, non-loopback IPv4 address on an interface Calico would not skip.
    """
    value = (os.environ if env is None else env).get("IP", "").strip()
    if value.lower() in ("", "autodetect"):
        return _first_usable_ipv4(_host_ipv4_addresses())
    if value.lower() == "none":
        return None
    try:
        router_id = IPv4Address(value)
    except ValueError:
        router_id = IPv4Address(0)
    if router_id == IPv4Address(0):
        raise ConfigError(
            "bgp.router_id",
            "not set, so it comes from the IP environment variable, which must be a non-zero"
            f' IPv4 address like "198.18.0.104" or "autodetect", got {_clip(value)}',
        )
    return router_id


# --- parsing --------------------------------------------------------------------------------


def _parse(text: str, source: str) -> dict[str, object]:
    # A byte-order mark is what some Windows editors put first; TOML itself rejects it.
    text = text.removeprefix("\ufeff")
    try:
        # Lone surrogates can only come from a Python caller, and nothing downstream can encode
        # them (a password, a description in a status reply): refuse them up front.
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ConfigError(
            source, f"is not valid text: {err.reason} at character {err.start}"
        ) from err
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:  # its message carries "(at line L, column C)"
        raise ConfigError(source, f"invalid TOML: {err}") from err
    except RecursionError as err:  # tomllib recurses once per nested array or inline table
        raise ConfigError(source, "invalid TOML: arrays or tables nested too deeply") from err
    except ValueError as err:  # an integer literal past Python's int-from-string digit limit
        raise ConfigError(source, f"invalid TOML: {err}") from err


def _build(document: Mapping[str, object], env: Mapping[str, str]) -> Config:
    top = _Table(document, "", TOP_KEYS)
    log_level = _log_level(top)
    bgp = _global(_bgp_table(document), env)
    peers = _peers(document, bgp.asn)
    return Config(bgp=bgp, peers=peers, log_level=log_level, control=_control(document))


def _log_level(top: _Table) -> str:
    raw = top.raw("log_level")
    if raw is _MISSING:
        return "info"
    if isinstance(raw, str) and raw.strip().lower() in LOG_LEVELS:
        return LOG_LEVELS[raw.strip().lower()]
    _fail("log_level", 'one of "debug", "info", "warning" (or "warn"), "error"', raw)


def _bgp_table(document: Mapping[str, object]) -> _Table:
    raw = document.get("bgp", _MISSING)
    if raw is _MISSING:
        raise ConfigError("bgp", "missing: add a [bgp] table with at least asn = <local AS number>")
    if not isinstance(raw, dict):
        hint = " (written [[bgp]]? there is only one)" if isinstance(raw, list) else ""
        raise ConfigError("bgp", f"must be a table written [bgp], got {_show(raw)}{hint}")
    return _Table(raw, "bgp", BGP_KEYS)


def _global(t: _Table, env: Mapping[str, str]) -> GlobalConfig:
    asn = t.require_int("asn", _ASN_EXPECT, _between(1, MAX_ASN), example="asn = 64512")
    router_id = _router_id(t, env)
    d = _GLOBAL_DEFAULTS
    return GlobalConfig(
        asn=asn,
        router_id=router_id,
        cluster_id=_cluster_id(t, router_id),
        listen=_listen(t),
        port=t.get_int("port", d.port, _PORT_EXPECT, _between(1, MAX_PORT)),
        restart_time=t.get_int(
            "restart_time",
            d.restart_time,
            f"between 0 and {MAX_RESTART_TIME} seconds (RFC 4724 §3)",
            _between(0, MAX_RESTART_TIME),
        ),
        connect_retry=t.get_int(
            "connect_retry",
            d.connect_retry,
            f"between 1 and {MAX_CONNECT_RETRY} seconds",
            _between(1, MAX_CONNECT_RETRY),
        ),
    )


def _router_id(t: _Table, env: Mapping[str, str]) -> IPv4Address:
    if "router_id" not in t:
        detected = detect_router_id(env)
        if detected is None:
            raise ConfigError("bgp.router_id", _ROUTER_ID_MISSING)
        return detected
    raw = t.raw("router_id")
    expect = 'a non-zero IPv4 address like "198.18.0.104" (a BGP identifier, RFC 6286 §2.1)'
    router_id = _ipv4(raw, "bgp.router_id", expect)
    if router_id == IPv4Address(0):
        _fail("bgp.router_id", expect, raw)
    return router_id


def _cluster_id(t: _Table, router_id: IPv4Address) -> IPv4Address:
    raw = t.raw("cluster_id")
    if raw is _MISSING:
        return router_id
    # RFC 4456: a CLUSTER_ID is 4 octets (a CLUSTER_LIST entry, §8); operators write either form.
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= MAX_CLUSTER_ID:
        return IPv4Address(raw)
    expect = f'an IPv4 address like "198.18.0.104" or an integer between 0 and {MAX_CLUSTER_ID}'
    return _ipv4(raw, "bgp.cluster_id", expect)


def _listen(t: _Table) -> tuple[IPAddress, ...]:
    raw = t.raw("listen")
    if raw is _MISSING:
        return _GLOBAL_DEFAULTS.listen
    field = t.field("listen")
    if not isinstance(raw, list):
        _fail(field, 'an array of IP addresses like ["198.18.0.104"] ([] means all)', raw)
    addresses: list[IPAddress] = []
    for index, item in enumerate(raw):
        item_field = f"{field}[{index}]"
        address = _ip(item, item_field, 'an IPv4 or IPv6 address like "198.18.0.104"')
        if address.is_multicast:
            _fail(item_field, "a local unicast address (or 0.0.0.0 / ::)", item)
        if address in addresses:
            raise ConfigError(
                item_field,
                f"duplicate of {field}[{addresses.index(address)}] ({address}); list each once",
            )
        addresses.append(address)
    return tuple(addresses)


def _control(document: Mapping[str, object]) -> ControlConfig:
    raw = document.get("control", _MISSING)
    if raw is _MISSING:
        return _CONTROL_DEFAULTS
    if not isinstance(raw, dict):
        hint = " (written [[control]]? there is only one)" if isinstance(raw, list) else ""
        raise ConfigError("control", f"must be a table written [control], got {_show(raw)}{hint}")
    t = _Table(raw, "control", CONTROL_KEYS)
    socket = t.raw("socket")
    if socket is _MISSING:
        socket = _CONTROL_DEFAULTS.socket
    elif not isinstance(socket, str) or "\0" in socket or socket[:1] not in ("", "/"):
        _fail(t.field("socket"), _SOCKET_EXPECT, socket)
    elif len(socket.encode("utf-8")) > MAX_SOCKET_PATH_BYTES:
        raise ConfigError(
            t.field("socket"),
            f"must be at most {MAX_SOCKET_PATH_BYTES} bytes long (the unix(7) limit for a"
            f" socket path), got {len(socket.encode('utf-8'))} bytes",
        )
    metrics = t.raw("metrics")
    if metrics is _MISSING:
        metrics = _CONTROL_DEFAULTS.metrics
    elif not isinstance(metrics, str):
        _fail(t.field("metrics"), _METRICS_EXPECT, metrics)
    elif metrics:
        try:
            parse_host_port(metrics)
        except ValueError as err:
            # Not _fail: its "write numbers without quotes" hint is wrong advice for "9179".
            raise ConfigError(
                t.field("metrics"), f"must be {_METRICS_EXPECT}, got {_show(metrics)}"
            ) from err
    return ControlConfig(socket=socket, metrics=metrics)


def _peers(document: Mapping[str, object], local_asn: int) -> tuple[PeerConfig, ...]:
    raw = document.get("peer", _MISSING)
    if raw is _MISSING:
        return ()  # a passive RR waiting for configuration is valid
    if not isinstance(raw, list):
        hint = " (written [peer]? each peer is a [[peer]] block)" if isinstance(raw, dict) else ""
        raise ConfigError(
            "peer", f"must be an array of tables written [[peer]], got {_show(raw)}{hint}"
        )
    peers: list[PeerConfig] = []
    first_index: dict[IPAddress, int] = {}
    for index, item in enumerate(raw):
        path = f"peer[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(path, f"must be a table written [[peer]], got {_show(item)}")
        peer = _peer(_Table(item, path, PEER_KEYS), local_asn)
        first = first_index.setdefault(peer.address, index)
        if first != index:
            raise ConfigError(
                f"{path}.address",
                f"duplicate of peer[{first}].address ({peer.address}); each peer needs its own"
                " address",
            )
        peers.append(peer)
    return tuple(peers)


def _peer(t: _Table, local_asn: int) -> PeerConfig:
    d = _PEER_DEFAULTS
    address = _peer_address(t)
    client = t.get_bool("client", d.client)
    return PeerConfig(
        address=address,
        # A different AS makes the session eBGP, which is allowed.
        asn=t.get_int("asn", local_asn, _ASN_EXPECT, _between(1, MAX_ASN)),
        client=client,
        passive=t.get_bool("passive", d.passive),
        hold_time=t.get_int("hold_time", d.hold_time, _HOLD_TIME_EXPECT, _valid_hold_time),
        port=t.get_int("port", d.port, _PORT_EXPECT, _between(1, MAX_PORT)),
        local_address=_local_address(t, address),
        description=t.get_str("description", d.description),
        kind="client" if client else "non-client",
        password=_password(t),
        ttl_security=t.get_int(
            "ttl_security",
            d.ttl_security,
            f"a hop count between 0 and {MAX_TTL_SECURITY} (RFC 5082 GTSM; 0 = off)",
            _between(0, MAX_TTL_SECURITY),
        ),
        max_prefixes=t.get_int(
            "max_prefixes", d.max_prefixes, "an integer >= 0 (0 = unlimited)", _at_least(0)
        ),
        max_prefixes_action=_max_prefixes_action(t),
    )


def _max_prefixes_action(t: _Table) -> str:
    raw = t.raw("max_prefixes_action")
    if raw is _MISSING:
        return _PEER_DEFAULTS.max_prefixes_action
    if isinstance(raw, str) and raw.strip().lower() in MAX_PREFIXES_ACTIONS:
        return raw.strip().lower()
    _fail(
        t.field("max_prefixes_action"),
        '"cease" (end the session, RFC 4486) or "warn" (log only)',
        raw,
    )


def _peer_address(t: _Table) -> IPAddress:
    raw = t.require("address", "a unicast IPv4 or IPv6 address", example='address = "198.18.0.101"')
    expect = 'a unicast IPv4 or IPv6 address like "198.18.0.101"'
    address = _ip(raw, t.field("address"), expect)
    if not _is_unicast(address):
        _fail(t.field("address"), expect, raw)
    return address


def _local_address(t: _Table, peer_address: IPAddress) -> IPAddress | None:
    raw = t.raw("local_address")
    if raw is _MISSING:
        return _PEER_DEFAULTS.local_address
    family = "IPv4" if isinstance(peer_address, IPv4Address) else "IPv6"
    # A TCP connection has one family at both ends, so the source must match the peer.
    expect = f"a unicast {family} address to match address ({peer_address})"
    address = _ip(raw, t.field("local_address"), expect)
    if type(address) is not type(peer_address) or not _is_unicast(address):
        _fail(t.field("local_address"), expect, raw)
    return address


def _password(t: _Table) -> str | None:
    raw = t.raw("password")
    if raw is _MISSING:
        return _PEER_DEFAULTS.password
    # The key itself never goes into the message: errors end up in logs.
    if isinstance(raw, str):
        size = len(raw.encode("utf-8"))
        if 1 <= size <= MAX_PASSWORD_BYTES:
            return raw
        got = f"{size} bytes" if size else "an empty string"
    else:
        got = _kind(raw)
    raise ConfigError(
        t.field("password"),
        f"must be a TCP MD5 key (RFC 2385) of 1 to {MAX_PASSWORD_BYTES} bytes, got {got}",
    )


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


def _valid_hold_time(value: int) -> bool:
    # RFC 4271 §4.2: zero (no keepalives) or at least three seconds; the field is 2 octets.
    return value == 0 or MIN_HOLD_TIME <= value <= MAX_HOLD_TIME


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


def _is_unicast(address: IPAddress) -> bool:
    if address.is_unspecified or address.is_multicast:
        return False
    return address != _IPV4_BROADCAST


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
        return f"unknown key {_clip(key)}; did you mean {guess!r}?"
    return f"unknown key {_clip(key)}; expected one of: {', '.join(allowed)}"


def _show(value: object) -> str:
    """A value as the operator wrote it, with its TOML type, for `got ...`."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int):
        # str() of a huge int is slow and, past 4300 digits, an error; nobody needs the digits.
        return str(value) if abs(value) < 10**20 else "a very large integer"
    if isinstance(value, str):
        return f"{_clip(value)} (a string)"
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
    if re.fullmatch(r"\s*[+-]?\d+\s*", value) and len(value) < 40:
        return "; write numbers without quotes"
    return ""


def _clip(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


# --- router ID autodetection ----------------------------------------------------------------

_HostAddress = tuple[str, str, int]  # (interface label, address, rtnetlink scope)


def _host_ipv4_addresses() -> list[_HostAddress]:
    try:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            return [_host_address(message) for message in ipr.get_addr(family=AF_INET)]
    except Exception:
        # No netlink (not Linux, a locked-down sandbox) or a pyroute2 failure: autodetection
        # finds nothing, and the caller asks the operator to set bgp.router_id instead.
        return []


class _AddrMessage(Protocol):
    """The part of pyroute2's ifaddrmsg read here."""

    def get(self, key: str) -> object: ...

    def get_attr(self, name: str) -> object: ...


def _host_address(message: _AddrMessage) -> _HostAddress:
    scope = message.get("scope")
    # IFA_LOCAL is this host's end; on point-to-point links IFA_ADDRESS is the far end.
    address = message.get_attr("IFA_LOCAL") or message.get_attr("IFA_ADDRESS") or ""
    label = message.get_attr("IFA_LABEL") or ""
    return (str(label), str(address), scope if isinstance(scope, int) else -1)


def _first_usable_ipv4(addresses: Iterable[_HostAddress]) -> IPv4Address | None:
    for label, text, scope in addresses:
        if scope != _RT_SCOPE_UNIVERSE or _EXCLUDED_INTERFACES.match(label):
            continue
        try:
            address = IPv4Address(text)
        except ValueError:
            continue
        if address.is_loopback or address.is_link_local or not _is_unicast(address):
            continue
        return address
    return None
