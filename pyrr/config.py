"""pyrr's configuration as frozen values; every store (TOML file, Calico etcd) produces these."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address

from .bgp.constants import BGP_PORT, DEFAULT_HOLD_TIME

IPAddress = IPv4Address | IPv6Address


class ConfigError(Exception):
    """A configuration problem, worded for the operator: names the field and what is expected."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        self.message = message
        super().__init__(f"{field_name}: {message}")


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """One BGP neighbour.

    `kind` is only a label for status output ("client", "non-client", "global", "node",
    "mesh"); `client` decides RFC 4456 reflection.
    """

    address: IPAddress
    asn: int
    client: bool = True
    passive: bool = False
    hold_time: int = DEFAULT_HOLD_TIME
    port: int = BGP_PORT
    local_address: IPAddress | None = None
    description: str = ""
    kind: str = "client"
    password: str | None = field(default=None, repr=False)  # RFC 2385; never in a repr or log
    ttl_security: int = 0  # RFC 5082 hops; 0 = off
    max_prefixes: int = 0  # 0 = unlimited
    # RFC 4486 §4: "cease" ends the session with Maximum Number of Prefixes Reached; "warn"
    # only logs (and drops nothing).
    max_prefixes_action: str = "cease"

    @property
    def key(self) -> str:
        """Peers are identified by address (one session per neighbour address)."""
        return str(self.address)


@dataclass(frozen=True, slots=True)
class GlobalConfig:
    asn: int
    router_id: IPv4Address
    cluster_id: IPv4Address
    listen: tuple[IPAddress, ...] = ()  # empty: all addresses (0.0.0.0 and ::)
    port: int = BGP_PORT
    # RFC 4724 §3: the restart time we advertise.
    restart_time: int = 120
    connect_retry: int = 5


@dataclass(frozen=True, slots=True)
class ControlConfig:
    """How pyrr is operated: the control socket and the opt-in Prometheus endpoint."""

    socket: str = ""  # control socket path; "" = the default (see control.server)
    metrics: str = ""  # "ADDRESS:PORT" of the Prometheus /metrics endpoint; "" = off


@dataclass(frozen=True, slots=True)
class Config:
    bgp: GlobalConfig
    peers: tuple[PeerConfig, ...] = field(default=())
    log_level: str = "info"
    control: ControlConfig = field(default=ControlConfig())

    def peer(self, address: str | IPAddress) -> PeerConfig | None:
        addr = ip_address(address) if isinstance(address, str) else address
        for p in self.peers:
            if p.address == addr:
                return p
        return None
