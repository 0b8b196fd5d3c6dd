"""The global configuration from three sources: command line > environment > file.

`merge` takes the static file's `Config` (pyrr.store.file.toml_config), the `EnvSettings` read
from the environment (pyrr.store.file.environment) and the command-line overrides, and gives each
global setting from the first source that sets it (its docstring lists the order per setting).
The overrides are checked here, with the same parsers and limits as their environment twins
(pyrr.store.file.text_values); a bad one is a `ConfigError` naming the option (`--port`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Final

from ...bgp.constants import BGP_PORT
from ...config import Config, ConfigError, GlobalConfig, IPAddress
from ..limits import (
    PORT_RANGE,
    clip,
    cluster_id_number,
    normal_log_level,
    valid_listen_address,
    valid_port,
    valid_router_id,
)
from .environment import EnvSettings
from .text_values import DECIMAL, LOG_EXPECT, fail, parse_cluster_id, parse_control_socket

__all__ = ["merge"]

_CLI_KEYS: Final = ("router_id", "listen", "port", "log_level", "cluster_id", "control_socket")
# The router id of a Config whose real one comes from pyrr's Calico Node (NODENAME).
_FROM_THE_NODE: Final = IPv4Address(0)


def merge(file_cfg: Config | None, env: EnvSettings, cli_overrides: Mapping[str, object]) -> Config:
    """The global configuration from three sources: command line > environment > file.

    `cli_overrides` may hold router_id, listen, port, log_level, cluster_id and control_socket
    (a value of None means "not given", so argparse defaults can be passed through); anything
    else is an error. `pyrr run` has --log-level and --control-socket only; the other
    overrides (named below as the options they would be) are for a program that embeds pyrr.
    Each global setting is taken from the first source that sets it:

    - router id: --router-id, IP, the file's bgp.router_id. None of them: ConfigError("IP"),
      unless NODENAME is set: then 0.0.0.0 stands in until pyrr.store.calico.source reads the
      Node (which gives the router id, addresses, cluster id and port in that mode).
    - listen addresses: --listen; in etcd mode IP (and IP6 when set), as the original container
      used them as its source addresses; the file's bgp.listen; else all addresses. Outside etcd
      mode IP gives the router id only and does not narrow the listen addresses.
    - port: --port, PYRR_PORT, the file's bgp.port, 179.
    - log level: --log-level, BGP_LOGSEVERITYSCREEN, the file's log_level, "info". (The
      datastore's logSeverityScreen ranks below all three; see calico.Desired.apply.)
    - cluster id: --cluster-id, CLUSTER_ID, the file's bgp.cluster_id, the router id. A file
      cluster id equal to the file's router id is taken as the file's default (the loader fills
      it in when bgp.cluster_id is absent), so it follows a router id overridden from outside.

    - control socket: --control-socket, PYRR_CONTROL_SOCKET, the file's control.socket (the
      rest of the file's [control] table is kept as it is).

    The local AS and the peers come from the file when there is one (in etcd mode the datastore
    replaces both later); without a file the AS is PYRR_AS (default 64512) and there are no
    peers yet. restart_time and connect_retry come from the file or their defaults.
    - ADD-PATH send count: PYRR_ADD_PATH_SEND, the file's bgp.add_path_send, 1.
    - secrets directory (Calico mode): PYRR_SECRETS_DIR, the file's calico.secrets_dir, "".
    - BMP stations: PYRR_BMP_STATIONS, the file's [[bmp]] tables, none. ([mrt] comes from the
      file only.)
    """
    cli = _cli(cli_overrides)
    file_bgp = file_cfg.bgp if file_cfg is not None else None

    router_id = _first(cli.get("router_id"), env.ip, file_bgp.router_id if file_bgp else None)
    if router_id is None and env.node_name is not None:
        router_id = _FROM_THE_NODE
    if not isinstance(router_id, IPv4Address):
        raise ConfigError(
            "IP",
            "not set and no router id given: set IP=<this host's IPv4 address> (or"
            " IP=autodetect), or bgp.router_id in the configuration file",
        )

    file_cluster_id = None
    if file_bgp is not None and file_bgp.cluster_id != file_bgp.router_id:
        file_cluster_id = file_bgp.cluster_id
    cluster_id = _first(cli.get("cluster_id"), env.cluster_id, file_cluster_id, router_id)
    assert isinstance(cluster_id, IPv4Address)

    env_listen: tuple[IPAddress, ...] | None = None
    if env.etcd_mode and env.ip is not None:
        env_listen = (env.ip,) if env.ip6 is None else (env.ip, env.ip6)
    listen = _first(cli.get("listen"), env_listen, file_bgp.listen if file_bgp else None, ())
    assert isinstance(listen, tuple)

    port = _first(cli.get("port"), env.port, file_bgp.port if file_bgp else None, BGP_PORT)
    assert isinstance(port, int)

    log_level = _first(
        cli.get("log_level"),
        env.log_level,
        file_cfg.log_level if file_cfg is not None else None,
        "info",
    )
    assert isinstance(log_level, str)

    defaults = GlobalConfig(asn=1, router_id=router_id, cluster_id=cluster_id)
    add_path_send = _first(
        env.add_path_send, file_bgp.add_path_send if file_bgp else None, defaults.add_path_send
    )
    assert isinstance(add_path_send, int)
    bgp = GlobalConfig(
        asn=file_bgp.asn if file_bgp is not None else env.fallback_as,
        router_id=router_id,
        cluster_id=cluster_id,
        listen=listen,
        port=port,
        restart_time=file_bgp.restart_time if file_bgp else defaults.restart_time,
        connect_retry=file_bgp.connect_retry if file_bgp else defaults.connect_retry,
        add_path_send=add_path_send,
    )
    base = file_cfg if file_cfg is not None else Config(bgp=bgp)
    socket = _first(cli.get("control_socket"), env.control_socket, base.control.socket or None)
    control = replace(base.control, socket=socket if isinstance(socket, str) else "")
    calico = replace(base.calico, secrets_dir=env.secrets_dir or base.calico.secrets_dir)
    bmp = base.bmp if env.bmp_stations is None else env.bmp_stations
    return replace(base, bgp=bgp, log_level=log_level, control=control, calico=calico, bmp=bmp)


# --- command-line overrides -------------------------------------------------------------------


def _first(*values: object) -> object:
    for value in values:
        if value is not None:
            return value
    return None


def _cli(overrides: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in overrides.items():
        option = "--" + key.replace("_", "-")
        if key not in _CLI_KEYS:
            fail(option, f"is not an override merge() knows; expected one of {_CLI_KEYS}")
        if value is None:
            continue
        if key == "router_id":
            out[key] = _cli_router_id(option, value)
        elif key == "cluster_id":
            out[key] = _cli_cluster_id(option, value)
        elif key == "listen":
            out[key] = _cli_listen(option, value)
        elif key == "port":
            out[key] = _cli_port(option, value)
        elif key == "control_socket":
            try:
                out[key] = parse_control_socket(str(value))
            except ConfigError as err:
                raise ConfigError(option, err.message) from None
        else:
            out[key] = _cli_log_level(option, value)
    return out


def _cli_router_id(option: str, value: object) -> IPv4Address:
    expect = "a non-zero IPv4 address like 192.168.56.104"
    try:
        address = value if isinstance(value, IPv4Address) else IPv4Address(str(value).strip())
    except ValueError:
        fail(option, f"must be {expect}, got {clip(str(value))}")
    if not valid_router_id(address):
        fail(option, f"must be {expect}, got {address}")
    return address


def _cli_cluster_id(option: str, value: object) -> IPv4Address:
    if isinstance(value, IPv4Address):
        return value
    number = cluster_id_number(value)
    if number is not None:
        return number
    try:
        cluster_id = parse_cluster_id(str(value).strip())
    except ConfigError as err:
        raise ConfigError(option, err.message) from None
    if cluster_id is None:
        fail(option, "must not be empty")
    return cluster_id


def _cli_listen(option: str, value: object) -> tuple[IPAddress, ...]:
    items: Sequence[object]
    if isinstance(value, str):
        items = [part for part in (p.strip() for p in value.split(",")) if part]
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        fail(option, "must be a comma list of IP addresses")
    addresses: list[IPAddress] = []
    for item in items:
        try:
            address = item if isinstance(item, IPv4Address | IPv6Address) else ip_address(str(item))
        except ValueError:
            fail(option, f"must be a comma list of IP addresses, got {clip(str(item))}")
        if not valid_listen_address(address):
            fail(option, f"must be local unicast addresses, got {address}")
        if address not in addresses:
            addresses.append(address)
    return tuple(addresses)


def _cli_port(option: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and DECIMAL.match(value.strip()):
        number = int(value.strip())
    else:
        number = -1
    if not valid_port(number):
        fail(option, f"must be {PORT_RANGE}, got {value!r}")
    return number


def _cli_log_level(option: str, value: object) -> str:
    level = normal_log_level(str(value))
    if level is None:
        fail(option, f"must be {LOG_EXPECT}, got {clip(str(value))}")
    return level
