"""pyrr's configuration as frozen values; every store (TOML file, Calico etcd) produces these."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from .bgp.constants import BGP_PORT, DEFAULT_HOLD_TIME

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


class ConfigError(Exception):
    """A configuration problem, worded for the operator: names the field and what is expected."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        self.message = message
        super().__init__(f"{field_name}: {message}")


class NextHopMode(StrEnum):
    """What next hop a peer is sent (Calico's BGPPeer `nextHopMode`, and `keepOriginalNextHop`
    before it): AUTO keeps it towards iBGP peers and sets our own address towards eBGP peers
    (RFC 4271 §5.1.3), SELF always sets ours, KEEP never changes it."""

    AUTO = "auto"
    SELF = "self"
    KEEP = "keep"


class FilterAction(StrEnum):
    ACCEPT = "Accept"
    REJECT = "Reject"


class MatchOperator(StrEnum):
    """How a route's prefix is compared with a rule's CIDR (Calico's BGPFilter)."""

    EQUAL = "Equal"
    NOT_EQUAL = "NotEqual"
    IN = "In"
    NOT_IN = "NotIn"


class PeerType(StrEnum):
    EBGP = "eBGP"
    IBGP = "iBGP"


@dataclass(frozen=True, slots=True)
class FilterOperation:
    """One route modification of an accepting rule (exactly one field is set)."""

    add_community: tuple[int, ...] | None = None  # (asn, value) standard, 3 values large
    prepend_as_path: tuple[int, ...] = ()
    set_priority: int | None = None


@dataclass(frozen=True, slots=True)
class FilterRule:
    """One rule of a route filter: every set field must match; the first rule that matches
    decides (Calico's BGPFilterRuleV4/V6)."""

    action: FilterAction
    cidr: IPNetwork | None = None
    match_operator: MatchOperator | None = None
    prefix_length: tuple[int, int] | None = None  # (min, max), with `cidr` only
    remote_peers_only: bool = False  # source: RemotePeers
    interface: str = ""  # a kernel route's interface: routes learned over BGP have none
    peer_type: PeerType | None = None
    communities: tuple[tuple[int, ...], ...] = ()  # (asn, value) or (a, b, c) large
    as_path_prefix: tuple[int, ...] = ()
    priority: int | None = None  # a kernel route's metric: routes learned over BGP have none
    operations: tuple[FilterOperation, ...] = ()


@dataclass(frozen=True, slots=True)
class RouteFilter:
    """A named route filter (Calico's BGPFilter): ordered rules per direction and family."""

    name: str
    export_v4: tuple[FilterRule, ...] = ()
    import_v4: tuple[FilterRule, ...] = ()
    export_v6: tuple[FilterRule, ...] = ()
    import_v6: tuple[FilterRule, ...] = ()


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
    # Per-session settings (Calico 3.3+ BGPPeer fields); None = the global setting.
    local_asn: int | None = None  # our AS on this session (BGPPeer localASNumber)
    keepalive_time: int | None = None  # None = a third of the hold time (RFC 4271 §10)
    restart_time: int | None = None  # RFC 4724 §3 restart time we advertise to this peer
    next_hop: NextHopMode = NextHopMode.AUTO
    filters: tuple[RouteFilter, ...] = ()  # applied in order, import and export
    # RFC 4271 §9.1.2: times our AS may appear in a received AS_PATH before the route is a
    # loop (BIRD's `allow local as`, Calico's BGPPeer numAllowedLocalASNumbers).
    allow_local_as: int = 0
    # Offer only the address's own family (IPv4 unicast to an IPv4 address): a Calico node's
    # BIRD carries IPv4 on its IPv4 session and IPv6 on its IPv6 one (bird and bird6), and so
    # does every Calico-mode session, or two speakers with both would exchange each route twice.
    own_family_only: bool = False

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
    # RFC 7911: paths per prefix sent to a peer that negotiated ADD-PATH receive (1: the best
    # path only, as without ADD-PATH).
    add_path_send: int = 1
    # Prefixes inside these never leave pyrr (Calico's IPPool disableBGPExport).
    no_export: tuple[IPNetwork, ...] = ()


@dataclass(frozen=True, slots=True)
class ControlConfig:
    """How pyrr is operated: the control socket and the opt-in Prometheus endpoint."""

    socket: str = ""  # control socket path; "" = the default (see control.server)
    metrics: str = ""  # "ADDRESS:PORT" of the Prometheus /metrics endpoint; "" = off


@dataclass(frozen=True, slots=True)
class CalicoConfig:
    """Calico mode's settings a configuration file can give (the environment outranks them)."""

    secrets_dir: str = ""  # BGPPeer password secrets, <dir>/<secret>/<key>; "" = the default


# RFC 7854 assigns BMP no port; 11019 is GoBGP's default, and what FRR's examples use.
BMP_DEFAULT_PORT = 11019


@dataclass(frozen=True, slots=True)
class BmpStation:
    """A BMP monitoring station pyrr connects to (RFC 7854 §3.2: the router is the client)."""

    address: IPAddress
    port: int = BMP_DEFAULT_PORT
    # Each peer's Peer Up / Peer Down, its UPDATEs as received (pre-policy Adj-RIB-In, RFC
    # 7854 §4.6) and its statistics.
    adj_rib_in: bool = True
    # The Loc-RIB instance (RFC 9069): its Peer Up, best-path changes and statistics.
    loc_rib: bool = True
    stats_interval: int = 60  # seconds between Statistics Reports (RFC 7854 §4.8); 0: none
    # Bytes waiting for the station beyond a resynchronisation: past this the connection is
    # dropped and made again (a new connection gets the whole table, RFC 7854 §5).
    queue_limit: int = 16 * 1024 * 1024

    @property
    def key(self) -> str:
        host = f"[{self.address}]" if isinstance(self.address, IPv6Address) else str(self.address)
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class MrtConfig:
    """MRT files (RFC 6396): table dumps and the update log, in one directory ("" = off)."""

    directory: str = ""
    dump_interval: int = 0  # seconds between table dumps; 0: only when asked (SIGUSR1, pyrr dump)
    dump_name: str = "rib.%Y%m%d.%H%M%S.mrt"  # strftime, UTC
    updates: bool = False  # log every UPDATE received and every session state change
    updates_interval: int = 900  # a new update file this often (seconds)
    updates_max_bytes: int = 64 * 1024 * 1024  # or once a file is this large
    updates_name: str = "updates.%Y%m%d.%H%M%S.mrt"  # strftime, UTC
    keep: int = 48  # files of each kind kept, the newest; 0: every one


@dataclass(frozen=True, slots=True)
class Config:
    bgp: GlobalConfig
    peers: tuple[PeerConfig, ...] = field(default=())
    log_level: str = "info"
    control: ControlConfig = field(default=ControlConfig())
    calico: CalicoConfig = field(default=CalicoConfig())
    bmp: tuple[BmpStation, ...] = ()  # monitoring stations (read at start)
    mrt: MrtConfig = field(default=MrtConfig())  # MRT files (read at start)

    def peer(self, address: str | IPAddress) -> PeerConfig | None:
        addr = ip_address(address) if isinstance(address, str) else address
        for p in self.peers:
            if p.address == addr:
                return p
        return None
