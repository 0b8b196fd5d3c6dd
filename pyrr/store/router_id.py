"""The router ID when the configuration gives none, chosen as calico/node would choose it.

`detect_router_id` reads the `IP` environment variable, or else takes calico/node's first-found
address: the first global-scope, non-loopback IPv4 address on an interface Calico would not skip,
read over rtnetlink with pyroute2. pyrr.store.file.toml_config uses it when bgp.router_id is not
set, and pyrr.store.file.environment.from_environment for IP=autodetect unless its caller passes
another lookup (the CLI's Calico mode passes calico-node's IP_AUTODETECTION_METHOD methods,
pyrr.ops.autodetect).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address
from socket import AF_INET
from typing import Final, Protocol

from ..config import ConfigError
from .limits import clip, is_unicast

__all__ = ["detect_router_id"]

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
            f' IPv4 address like "198.18.0.104" or "autodetect", got {clip(value)}',
        )
    return router_id


# --- this host's addresses, over rtnetlink --------------------------------------------------

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
        if address.is_loopback or address.is_link_local or not is_unicast(address):
            continue
        return address
    return None
