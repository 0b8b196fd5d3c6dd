"""This host's BGP address, chosen the way calico-node chooses it (`IP=autodetect`).

The methods are calico-node's (`IP_AUTODETECTION_METHOD` / `IP6_AUTODETECTION_METHOD`,
node/pkg/lifecycle/startup/autodetection):

- `first-found` (the default): the first usable address on an interface whose name does not
  match the default exclude list (docker*, cali*, kube-ipvs*, lo, ...).
- `interface=REGEX[,REGEX...]`: the first usable address on an interface whose name matches one
  of the regexes (searched, not anchored, as Go's MatchString does: write `^eth0$` for exactly
  eth0).
- `skip-interface=REGEX[,REGEX...]`: like first-found, also skipping these interfaces.
- `can-reach=DEST`: the source address the kernel would use toward DEST (an address or a host
  name), from a netlink route lookup: no packet is sent. It must be an address of this host.
- `cidr=CIDR[,CIDR...]`: the first usable address inside one of the CIDRs.

"Usable" is Go's IP.IsGlobalUnicast: not unspecified, loopback, multicast, link-local or the
IPv4 broadcast address (private ranges are fine; the address's scope is not looked at).
Like calico-node, interfaces are examined from the highest interface index down, by their link
names, and each interface's addresses in the kernel's order.

`autodetect` returns the address as a string, or None when nothing matches (or this host's
interfaces cannot be read: no netlink); a method that cannot be parsed (unknown name, bad
regex, bad CIDR) raises ValueError, since calico-node refuses to start on those too.

This is pyrr's only address autodetection: Calico mode's IP=autodetect and a configuration
file without bgp.router_id both come here (pyrr.store.file.host_address), so both pick the
address calico-node picks on the same host.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Final

import structlog

log = structlog.get_logger("pyrr.autodetect")

DEFAULT_METHOD: Final = "first-found"
# calico-node's DEFAULT_INTERFACES_TO_EXCLUDE.
DEFAULT_INTERFACES_TO_EXCLUDE: Final = (
    r"^docker.*",
    r"^cbr.*",
    r"^dummy.*",
    r"^virbr.*",
    r"^lxcbr.*",
    r"^veth.*",
    r"^lo$",
    r"^cali.*",
    r"^tunl.*",
    r"^flannel.*",
    r"^kube-ipvs.*",
    r"^cni.*",
    r"^vxlan\.calico.*",
    r"^vxlan-v6\.calico.*",
    r"^wireguard\.cali.*",
    r"^wg-v6\.cali.*",
)
IPV4: Final = 4
IPV6: Final = 6
# The environment variables calico-node reads, per IP version.
METHOD_VARIABLES: Final = {IPV4: "IP_AUTODETECTION_METHOD", IPV6: "IP6_AUTODETECTION_METHOD"}

_LIST_SEPARATOR: Final = re.compile(r"\s*,\s*")
_IPV4_BROADCAST: Final = IPv4Address("255.255.255.255")

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


@dataclass
class Interface:
    """One interface of this host and its addresses of one IP version, in kernel order."""

    index: int
    name: str
    addresses: list[IPAddress] = field(default_factory=list)


# What the methods read from the host; tests and callers without netlink may substitute these.
InterfaceSource = Callable[[int], list[Interface]]
RouteSource = Callable[[str, int], str | None]


def version_of(family: int) -> int:
    """4 or 6 from an IP version (4, 6) or a socket family (AF_INET, AF_INET6)."""
    if family in (IPV4, socket.AF_INET):
        return IPV4
    if family in (IPV6, socket.AF_INET6):
        return IPV6
    raise ValueError(f"family must be 4, 6, AF_INET or AF_INET6, got {family!r}")


def autodetect(
    method: str,
    family: int,
    *,
    interfaces: InterfaceSource | None = None,
    route_source: RouteSource | None = None,
) -> str | None:
    """This host's address of `family` (4/6 or AF_INET/AF_INET6) chosen by calico's `method`."""
    version = version_of(family)
    method = method.strip() or DEFAULT_METHOD
    list_ifaces = interfaces or netlink_interfaces
    name, sep, arg = method.partition("=")
    name = name.strip().lower()
    if name == "first-found" and not sep:
        return _first(list_ifaces(version), exclude=_regexes(DEFAULT_INTERFACES_TO_EXCLUDE))
    if name == "interface" and sep:
        return _first(list_ifaces(version), include=_regexes(_split(arg, method)))
    if name == "skip-interface" and sep:
        excl = _regexes((*DEFAULT_INTERFACES_TO_EXCLUDE, *_split(arg, method)))
        return _first(list_ifaces(version), exclude=excl)
    if name == "cidr" and sep:
        nets: list[IPNetwork] = []
        for text in _split(arg, method):
            try:
                nets.append(ip_network(text, strict=False))
            except ValueError as err:
                raise ValueError(
                    f"invalid CIDR {text!r} in autodetection method {method!r}"
                ) from err
        return _first(list_ifaces(version), cidrs=nets)
    if name == "can-reach" and sep:
        dest = arg.strip()
        if not dest:
            raise ValueError(f"autodetection method {method!r} needs a destination")
        src = (route_source or netlink_source_address)(dest, version)
        if src is None:
            log.warning("no route to the can-reach destination", destination=dest, ip=version)
            return None
        # calico-node insists the address is one of this host's (not, say, a NAT address).
        for iface in list_ifaces(version):
            if ip_address(src) in iface.addresses:
                return str(ip_address(src))
        log.warning("source address toward destination is not on an interface", source=src)
        return None
    if name == "kubernetes-internal-ip":
        log.warning("kubernetes-internal-ip needs a Kubernetes node; pyrr has none")
        return None
    raise ValueError(
        f"unknown IP autodetection method {method!r}; expected first-found, interface=REGEX,"
        " skip-interface=REGEX, can-reach=DEST or cidr=CIDR"
    )


def autodetect_from_env(env: Mapping[str, str], family: int) -> str | None:
    """`autodetect` with the method calico-node would read: IP_AUTODETECTION_METHOD for IPv4,
    IP6_AUTODETECTION_METHOD for IPv6, first-found when unset or empty."""
    version = version_of(family)
    return autodetect(env.get(METHOD_VARIABLES[version], "") or DEFAULT_METHOD, version)


# --- the selection rules ---------------------------------------------------------------------


def is_global_unicast(address: IPAddress) -> bool:
    """Go's net.IP.IsGlobalUnicast, which calico-node applies to every candidate."""
    return not (
        address.is_unspecified
        or address.is_loopback
        or address.is_multicast
        or address.is_link_local
        or address == _IPV4_BROADCAST
    )


def _split(arg: str, method: str) -> list[str]:
    items = [item for item in _LIST_SEPARATOR.split(arg.strip()) if item]
    if not items:
        raise ValueError(f"autodetection method {method!r} needs at least one value after '='")
    return items


def _regexes(patterns: Iterable[str]) -> re.Pattern[str]:
    # One alternation, as calico-node builds it: "(a)|(b)|...".
    joined = "|".join(f"({p})" for p in patterns)
    try:
        return re.compile(joined)
    except re.error as err:
        raise ValueError(f"invalid interface regex in {joined!r}: {err}") from err


def _first(
    ifaces: list[Interface],
    *,
    include: re.Pattern[str] | None = None,
    exclude: re.Pattern[str] | None = None,
    cidrs: Iterable[IPNetwork] = (),
) -> str | None:
    nets = list(cidrs)
    # calico-node walks the interface list backwards "to maintain behavior with older versions".
    for iface in sorted(ifaces, key=lambda i: i.index, reverse=True):
        if include is not None and not include.search(iface.name):
            continue
        if exclude is not None and exclude.search(iface.name):
            continue
        for address in iface.addresses:
            if is_global_unicast(address) and (not nets or any(address in n for n in nets)):
                log.info("autodetected address", address=str(address), interface=iface.name)
                return str(address)
    return None


# --- reading the host through netlink (pyroute2) ---------------------------------------------


def netlink_interfaces(version: int) -> list[Interface]:
    """Every interface, up or down, with its addresses of one IP version; none when netlink
    cannot be read (not Linux, a locked-down sandbox): then nothing is autodetected, and the
    caller asks the operator for the address."""
    try:
        return _netlink_interfaces(version)
    except Exception as err:  # pyroute2 raises OSError, NetlinkError and its own kinds
        log.warning("cannot list this host's interfaces", error=str(err) or type(err).__name__)
        return []


def _netlink_interfaces(version: int) -> list[Interface]:
    from pyroute2 import IPRoute

    fam = socket.AF_INET if version == IPV4 else socket.AF_INET6
    with IPRoute() as ipr:
        by_index = {
            int(link["index"]): Interface(int(link["index"]), str(link.get_attr("IFLA_IFNAME")))
            for link in ipr.get_links()
        }
        for msg in ipr.get_addr(family=fam):
            iface = by_index.get(int(msg["index"]))
            # IFA_LOCAL is this host's end; on point-to-point links IFA_ADDRESS is the far end.
            text = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if iface is None or not text:
                continue
            try:
                iface.addresses.append(ip_address(str(text).split("%")[0]))
            except ValueError:
                continue
    return list(by_index.values())


def netlink_source_address(dest: str, version: int) -> str | None:
    """The preferred source toward `dest` (`ip route get DEST`), or None without a route."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    fam = socket.AF_INET if version == IPV4 else socket.AF_INET6
    try:
        target = str(ip_address(dest))
    except ValueError:
        try:  # a host name, as calico-node's can-reach accepts
            infos = socket.getaddrinfo(dest, None, fam, socket.SOCK_DGRAM)
        except OSError:
            return None
        if not infos:
            return None
        target = str(infos[0][4][0])
    if ip_address(target).version != version:
        return None
    with IPRoute() as ipr:
        try:
            routes = ipr.route("get", dst=target, family=fam)
        except NetlinkError:
            return None  # e.g. ENETUNREACH
        for msg in routes:
            src = msg.get_attr("RTA_PREFSRC")
            if src:
                return str(src)
    return None
