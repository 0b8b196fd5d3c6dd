"""The static store: pyrr's configuration read from a TOML file.

Every problem with the input, whatever it is, comes out as one `ConfigError` naming the dotted
path the operator wrote (`bgp.asn`, `peer[2].hold_time`) and saying what is expected. Nothing else
escapes, so the CLI can print the error and exit without a traceback.

This module is the schema: the keys of each table, their limits and defaults, and building the
`Config` from them. The typed table reader, the value checks and the wording of the messages are
in pyrr.store.file.toml_table, the limits in pyrr.store.limits. When bgp.router_id is not set,
the router ID comes from the IP environment variable as calico/node reads it: an address, or
(unset, empty or "autodetect") the address calico-node would autodetect here
(pyrr.store.file.host_address).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from ipaddress import IPv4Address
from pathlib import Path
from typing import Final

from ...config import (
    CalicoConfig,
    Config,
    ConfigError,
    ControlConfig,
    GlobalConfig,
    IPAddress,
    NextHopMode,
    PeerConfig,
    RouteFilter,
)
from ..limits import (
    ADD_PATH_SEND_RANGE,
    ASN_RANGE,
    FILE_LOG_LEVELS,
    HOLD_TIME_RANGE,
    KEEPALIVE_RANGE,
    MAX_CLUSTER_ID,
    MAX_CONNECT_RETRY,
    MAX_PASSWORD_BYTES,
    MAX_PREFIXES_ACTIONS,
    MAX_SOCKET_PATH_BYTES,
    MAX_TTL_SECURITY,
    PORT_RANGE,
    RESTART_TIME_RANGE,
    clip,
    cluster_id_number,
    is_unicast,
    next_hop_mode,
    normal_log_level,
    parse_host_port,
    valid_add_path_send,
    valid_asn,
    valid_hold_time,
    valid_keepalive,
    valid_listen_address,
    valid_password_size,
    valid_port,
    valid_restart_time,
    valid_router_id,
)
from .host_address import autodetect_ipv4
from .toml_filters import filters_of, peer_filters
from .toml_monitor import bmp_of, mrt_of
from .toml_table import (
    _MISSING,
    _at_least,
    _between,
    _fail,
    _ip,
    _ipv4,
    _kind,
    _show,
    _Table,
)

__all__ = [
    "BGP_KEYS",
    "CALICO_KEYS",
    "CONTROL_KEYS",
    "PEER_KEYS",
    "TOP_KEYS",
    "load_file",
    "load_text",
]

# What a key expects, worded for both wrong types and bad values (as the ranges in
# pyrr.store.limits are).
_SOCKET_EXPECT: Final = 'an absolute path like "/run/pyrr/pyrr.sock" ("" = the default)'
_METRICS_EXPECT: Final = 'an address and port like "127.0.0.1:9179" or "[::1]:9179" ("" = off)'

# The defaults live in pyrr.config; reading them off throwaway instances keeps the two in step.
_GLOBAL_DEFAULTS: Final = GlobalConfig(asn=1, router_id=IPv4Address(1), cluster_id=IPv4Address(1))
_PEER_DEFAULTS: Final = PeerConfig(address=IPv4Address(1), asn=1)
_CONTROL_DEFAULTS: Final = ControlConfig()

TOP_KEYS: Final = ("log_level", "bgp", "peer", "control", "filter", "calico", "bmp", "mrt")
BGP_KEYS: Final = (
    "asn",
    "router_id",
    "cluster_id",
    "listen",
    "port",
    "restart_time",
    "connect_retry",
    "add_path_send",
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
    "local_asn",
    "keepalive_time",
    "restart_time",
    "next_hop",
    "filters",
)
CONTROL_KEYS: Final = ("socket", "metrics")
CALICO_KEYS: Final = ("secrets_dir",)
_SECRETS_EXPECT: Final = 'an absolute directory path like "/etc/pyrr/secrets" ("" = the default)'
_NEXT_HOP_EXPECT: Final = '"auto" (keep towards iBGP, self towards eBGP), "self" or "keep"'

_ROUTER_ID_MISSING: Final = (
    'not set and no IP environment variable or IPv4 address found; set bgp.router_id = "a.b.c.d"'
)


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

    `env` stands in for the process environment (only `IP` and IP_AUTODETECTION_METHOD are
    read, and only when bgp.router_id is not set); None means os.environ.
    """
    document = _parse(text, source)
    return _build(document, os.environ if env is None else env)


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
    filters = filters_of(document)
    peers = _peers(document, bgp.asn, filters)
    return Config(
        bgp=bgp,
        peers=peers,
        log_level=log_level,
        control=_control(document),
        calico=_calico(document),
        bmp=bmp_of(document),
        mrt=mrt_of(document),
    )


def _log_level(top: _Table) -> str:
    raw = top.raw("log_level")
    if raw is _MISSING:
        return "info"
    level = normal_log_level(raw, FILE_LOG_LEVELS) if isinstance(raw, str) else None
    if level is not None:
        return level
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
    asn = t.require_int("asn", ASN_RANGE, valid_asn, example="asn = 64512")
    router_id = _router_id(t, env)
    d = _GLOBAL_DEFAULTS
    return GlobalConfig(
        asn=asn,
        router_id=router_id,
        cluster_id=_cluster_id(t, router_id),
        listen=_listen(t),
        port=t.get_int("port", d.port, PORT_RANGE, valid_port),
        restart_time=t.get_int(
            "restart_time", d.restart_time, RESTART_TIME_RANGE, valid_restart_time
        ),
        connect_retry=t.get_int(
            "connect_retry",
            d.connect_retry,
            f"between 1 and {MAX_CONNECT_RETRY} seconds",
            _between(1, MAX_CONNECT_RETRY),
        ),
        add_path_send=t.get_int(
            "add_path_send", d.add_path_send, ADD_PATH_SEND_RANGE, valid_add_path_send
        ),
    )


def _router_id(t: _Table, env: Mapping[str, str]) -> IPv4Address:
    if "router_id" not in t:
        detected = _router_id_from_ip(env)
        if detected is None:
            raise ConfigError("bgp.router_id", _ROUTER_ID_MISSING)
        return detected
    raw = t.raw("router_id")
    expect = 'a non-zero IPv4 address like "198.18.0.104" (a BGP identifier, RFC 6286 §2.1)'
    router_id = _ipv4(raw, "bgp.router_id", expect)
    if not valid_router_id(router_id):
        _fail("bgp.router_id", expect, raw)
    return router_id


def _router_id_from_ip(env: Mapping[str, str]) -> IPv4Address | None:
    """The IP variable as calico/node reads it: an IPv4 address; unset, empty or "autodetect"
    to look one up; "none" for a node without an IPv4 address."""
    value = env.get("IP", "").strip()
    if value.lower() in ("", "autodetect"):
        return autodetect_ipv4(env)
    if value.lower() == "none":
        return None
    try:
        router_id = IPv4Address(value)
    except ValueError:
        router_id = None
    if router_id is None or not valid_router_id(router_id):
        raise ConfigError(
            "bgp.router_id",
            "not set, so it comes from the IP environment variable, which must be a non-zero"
            f' IPv4 address like "198.18.0.104" or "autodetect", got {clip(value)}',
        )
    return router_id


def _cluster_id(t: _Table, router_id: IPv4Address) -> IPv4Address:
    raw = t.raw("cluster_id")
    if raw is _MISSING:
        return router_id
    # RFC 4456: a CLUSTER_ID is 4 octets (a CLUSTER_LIST entry, §8); operators write either form.
    number = cluster_id_number(raw)
    if number is not None:
        return number
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
        if not valid_listen_address(address):
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


def _calico(document: Mapping[str, object]) -> CalicoConfig:
    raw = document.get("calico", _MISSING)
    if raw is _MISSING:
        return CalicoConfig()
    if not isinstance(raw, dict):
        hint = " (written [[calico]]? there is only one)" if isinstance(raw, list) else ""
        raise ConfigError("calico", f"must be a table written [calico], got {_show(raw)}{hint}")
    t = _Table(raw, "calico", CALICO_KEYS)
    secrets_dir = t.get_str("secrets_dir", "")
    if secrets_dir and ("\0" in secrets_dir or not secrets_dir.startswith("/")):
        _fail(t.field("secrets_dir"), _SECRETS_EXPECT, secrets_dir)
    return CalicoConfig(secrets_dir=secrets_dir)


def _peers(
    document: Mapping[str, object], local_asn: int, filters: Mapping[str, RouteFilter]
) -> tuple[PeerConfig, ...]:
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
        peer = _peer(_Table(item, path, PEER_KEYS), local_asn, filters)
        first = first_index.setdefault(peer.address, index)
        if first != index:
            raise ConfigError(
                f"{path}.address",
                f"duplicate of peer[{first}].address ({peer.address}); each peer needs its own"
                " address",
            )
        peers.append(peer)
    return tuple(peers)


def _peer(t: _Table, local_asn: int, filters: Mapping[str, RouteFilter]) -> PeerConfig:
    d = _PEER_DEFAULTS
    address = _peer_address(t)
    client = t.get_bool("client", d.client)
    hold_time = t.get_int("hold_time", d.hold_time, HOLD_TIME_RANGE, valid_hold_time)
    own_asn = t.get_int("local_asn", local_asn, ASN_RANGE, valid_asn)
    return PeerConfig(
        address=address,
        # A different AS makes the session eBGP, which is allowed.
        asn=t.get_int("asn", local_asn, ASN_RANGE, valid_asn),
        client=client,
        passive=t.get_bool("passive", d.passive),
        hold_time=hold_time,
        port=t.get_int("port", d.port, PORT_RANGE, valid_port),
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
        local_asn=None if own_asn == local_asn else own_asn,
        keepalive_time=_keepalive(t, hold_time),
        restart_time=_optional_int(t, "restart_time", RESTART_TIME_RANGE, valid_restart_time),
        next_hop=_next_hop(t),
        filters=peer_filters(t.raw("filters"), t.field("filters"), filters),
    )


def _optional_int(t: _Table, key: str, expect: str, ok: Callable[[int], bool]) -> int | None:
    return None if key not in t else t.get_int(key, 0, expect, ok)


def _keepalive(t: _Table, hold_time: int) -> int | None:
    seconds = _optional_int(t, "keepalive_time", KEEPALIVE_RANGE, valid_keepalive)
    if seconds is None:
        return None
    if hold_time == 0:
        raise ConfigError(
            t.field("keepalive_time"),
            "has no use with hold_time = 0 (no keepalives, RFC 4271 §4.2): remove it, or set"
            " hold_time",
        )
    if seconds >= hold_time:
        raise ConfigError(
            t.field("keepalive_time"),
            f"must be less than hold_time ({hold_time}), e.g. a third of it"
            f" ({max(1, hold_time // 3)}), got {seconds}",
        )
    return seconds


def _next_hop(t: _Table) -> NextHopMode:
    raw = t.raw("next_hop")
    if raw is _MISSING:
        return _PEER_DEFAULTS.next_hop
    mode = next_hop_mode(raw) if isinstance(raw, str) else None
    if mode is None:
        _fail(t.field("next_hop"), _NEXT_HOP_EXPECT, raw)
    return mode


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
    if not is_unicast(address):
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
    if type(address) is not type(peer_address) or not is_unicast(address):
        _fail(t.field("local_address"), expect, raw)
    return address


def _password(t: _Table) -> str | None:
    raw = t.raw("password")
    if raw is _MISSING:
        return _PEER_DEFAULTS.password
    # The key itself never goes into the message: errors end up in logs.
    if isinstance(raw, str):
        size = len(raw.encode("utf-8"))
        if valid_password_size(size):
            return raw
        got = f"{size} bytes" if size else "an empty string"
    else:
        got = _kind(raw)
    raise ConfigError(
        t.field("password"),
        f"must be a TCP MD5 key (RFC 2385) of 1 to {MAX_PASSWORD_BYTES} bytes, got {got}",
    )
