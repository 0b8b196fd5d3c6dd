"""Driver for FRR's bgpd in lab hosts: a Calico-ish BGP client or a route reflector.

Only `bgpd` runs, never zebra: ``bgpd -Z`` (no zebra) ``-n`` (no kernel FIB) ``-S`` (stay
root, no frr user/capabilities dance) ``-P 0`` (no TCP vty). Every file an instance uses is
its own: config, pid file and vty socket directory under the host's directory, so several
FRR instances, in several namespaces or in one, never clash. vtysh reaches an instance with
``vtysh --vty_socket <dir> -d bgpd``.

What running without zebra changes (all handled here, see the notes):

* bgpd knows no interface addresses. For an IPv6 route sent over an IPv4 session it has no
  IPv6 address to use as next hop and sends the IPv4-mapped ``::ffff:198.18.0.101``. The
  driver therefore originates IPv6 `network`s through a route map that sets the next hop to
  this host's IPv6 address (``set ipv6 next-hop global``), the global address an FRR node
  running zebra would take from its interface. No link-local second next hop is ever sent
  (bgpd alone knows none), so FRR's MP_REACH next hop here is always 16 bytes.
* There is no next-hop tracking: every next hop counts as reachable, which is what a route
  reflector wants anyway.
* bgpd logs ``sendmsg_nexthop: zclient_send_message() failed`` now and then: harmless.
* ``bgp network import-check`` is off, so `network` statements need no matching route.

Announced routes (`network` statements) only ever live in BGP tables: with ``-n`` and
without zebra nothing reaches any FIB, and no traffic goes to an announced prefix.

Martian next hops: FRR 8.4 answers an UPDATE whose IPv4 NEXT_HOP lies in 0/8, 127/8 or
224/3 with a NOTIFICATION (3/8 Invalid NEXT_HOP Attribute) and drops the session; this build
has no knob to allow them (``debug bgp allow-martians`` is compiled in but not installed).
Lab clients on 127.x addresses must therefore announce next hops outside 127/8, and an FRR
client given ``update_source`` 127.x needs `next_hop4` (its default next hop is the
session address).

FRR's ``-C`` (dry run) exits 0 even on a bad line; it prints "No such command on config
line N", which `check_config` turns into an error. bgpd keeps a crash-log directory
``/var/tmp/frr/bgpd.<pid>`` that a clean exit removes; the driver removes it after a
SIGKILL or a dry run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any, Literal, Self

from .netns import GiveUp, Host, LabError, LabProcess, wait_until

Family = Literal["ipv4", "ipv6"]
FAMILIES: tuple[Family, Family] = ("ipv4", "ipv6")

BGPD = os.environ.get("PYRR_FRR_BGPD", "/usr/lib/frr/bgpd")
VTYSH = os.environ.get("PYRR_FRR_VTYSH", "vtysh")
DEFAULT_ASN = 64512
FRR_TMPDIR = Path("/var/tmp/frr")  # bgpd's per-pid crash-log directories live here

_GR_BUG_CMD = " graceful-restart"  # as in "neighbor X graceful-restart"
_GR_BUG_MSG = "% Invalid value"
_ORIGIN6_MAP = "PYRR-ORIGIN6"
_ORIGIN4_MAP = "PYRR-ORIGIN4"


class FrrError(LabError):
    """vtysh reported an error, or bgpd did not do what was asked."""


class FrrExited(FrrError, GiveUp):
    """bgpd, expected to be running, has exited (ends any `wait_until` at once)."""


def family_of(prefix_or_address: str) -> Family:
    return "ipv6" if ":" in prefix_or_address else "ipv4"


def _afi(family: Family) -> str:
    return "ipv4 unicast" if family == "ipv4" else "ipv6 unicast"


# --- parsed output ----------------------------------------------------------------------


@dataclass(frozen=True)
class FrrPeer:
    """One neighbour of `show bgp neighbors json`."""

    address: str
    state: str  # "Established", "Active", "Connect", "Idle", "OpenSent", "OpenConfirm"
    remote_as: int | None
    local_as: int | None
    remote_router_id: str | None
    hostname: str | None  # from the peer's FQDN capability
    uptime_ms: int | None  # time Established (bgpTimerUpMsec), None when not Established
    dynamic: bool  # accepted through `bgp listen range` (JSON: peerSubnetRangeGroup)
    peer_group: str | None
    hold_time_ms: int | None  # negotiated
    keepalive_ms: int | None
    received: dict[str, int]  # family -> accepted prefix count
    sent: dict[str, int]  # family -> sent prefix count
    last_reset: str | None
    connections_established: int  # how many times the session came up
    connections_dropped: int
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def established(self) -> bool:
        return self.state == "Established"

    @property
    def capabilities(self) -> dict[str, Any]:
        caps = self.raw.get("neighborCapabilities", {})
        return caps if isinstance(caps, dict) else {}

    @property
    def families(self) -> set[str]:
        """Families negotiated (both sides advertised the multiprotocol capability)."""
        mp = self.capabilities.get("multiprotocolExtensions", {})
        out = set()
        for key, val in mp.items():
            if isinstance(val, dict) and val.get("advertisedAndReceived"):
                out.add({"ipv4Unicast": "ipv4", "ipv6Unicast": "ipv6"}.get(key, key))
        return out


@dataclass(frozen=True)
class FrrRoute:
    """One path of `show bgp <afi> unicast json detail`."""

    prefix: str
    next_hops: tuple[str, ...]  # as FRR lists them: IPv4, or IPv6 global then link-local
    link_local: str | None
    as_path: tuple[int, ...]
    origin: str | None  # "IGP", "EGP", "incomplete"
    local_pref: int | None
    med: int | None
    originator_id: str | None
    cluster_list: tuple[str, ...]
    communities: tuple[tuple[int, int], ...]
    best: bool
    valid: bool
    local: bool  # originated here (a `network` statement)
    peer: str | None  # the neighbour it came from; None when local
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def next_hop(self) -> str | None:
        """The first non-link-local next hop ("0.0.0.0"/"::" for a local route)."""
        for nh in self.next_hops:
            if nh != self.link_local:
                return nh
        return None

    @property
    def family(self) -> Family:
        return family_of(self.prefix)


def parse_neighbors(data: dict[str, Any]) -> list[FrrPeer]:
    """`show bgp neighbors json`: {address: {...}} (plus nothing else in FRR 8.4)."""
    peers: list[FrrPeer] = []
    for addr, n in data.items():
        if not isinstance(n, dict) or "bgpState" not in n:
            continue
        afi_info = n.get("addressFamilyInfo", {})
        received: dict[str, int] = {}
        sent: dict[str, int] = {}
        for key, fam in (("ipv4Unicast", "ipv4"), ("ipv6Unicast", "ipv6")):
            info = afi_info.get(key)
            if isinstance(info, dict):
                received[fam] = int(info.get("acceptedPrefixCounter", 0))
                sent[fam] = int(info.get("sentPrefixCounter", 0))
        state = str(n["bgpState"])
        peers.append(
            FrrPeer(
                address=addr,
                state=state,
                remote_as=n.get("remoteAs"),
                local_as=n.get("localAs"),
                remote_router_id=n.get("remoteRouterId"),
                hostname=n.get("hostname"),
                uptime_ms=n.get("bgpTimerUpMsec") if state == "Established" else None,
                dynamic="peerSubnetRangeGroup" in n or bool(n.get("dynamicPeer", False)),
                peer_group=n.get("peerGroup"),
                hold_time_ms=n.get("bgpTimerHoldTimeMsecs"),
                keepalive_ms=n.get("bgpTimerKeepAliveIntervalMsecs"),
                received=received,
                sent=sent,
                last_reset=n.get("lastResetDueTo"),
                connections_established=int(n.get("connectionsEstablished", 0)),
                connections_dropped=int(n.get("connectionsDropped", 0)),
                raw=n,
            )
        )
    return peers


def _as_path(aspath: Any) -> tuple[int, ...]:
    """FRR's aspath object ({"segments": [{"type", "list"}]}) or plain string ("65001 {1 2}")."""
    if isinstance(aspath, dict):
        out: list[int] = []
        for seg in aspath.get("segments", []):
            out.extend(int(a) for a in seg.get("list", []))
        if out or "segments" in aspath:
            return tuple(out)
        aspath = aspath.get("string", "")
    if isinstance(aspath, str):
        return tuple(int(t) for t in re.findall(r"\d+", aspath))
    return ()


def _communities(comm: Any) -> tuple[tuple[int, int], ...]:
    text = comm.get("string", "") if isinstance(comm, dict) else str(comm or "")
    return tuple((int(a), int(b)) for a, b in re.findall(r"(\d+):(\d+)", text))


def _path_to_route(prefix: str, p: dict[str, Any]) -> FrrRoute:
    nhs = [nh for nh in p.get("nexthops", []) if isinstance(nh, dict)]
    next_hops = tuple(str(nh.get("ip")) for nh in nhs if nh.get("ip"))
    link_local = next(
        (str(nh["ip"]) for nh in nhs if nh.get("scope") == "link-local" and nh.get("ip")), None
    )
    bestpath = p.get("bestpath")
    best = bool(bestpath.get("overall")) if isinstance(bestpath, dict) else bool(bestpath)
    peer_info = p.get("peer")
    peer = peer_info.get("peerId") if isinstance(peer_info, dict) else p.get("peerId")
    local = bool(p.get("sourced") or p.get("local")) or peer in (None, "(unspec)", "0.0.0.0")
    cl = p.get("clusterList")
    cluster = cl.get("list", []) if isinstance(cl, dict) else (cl or [])
    aspath = p["aspath"] if "aspath" in p else p.get("path", "")
    return FrrRoute(
        prefix=prefix,
        next_hops=next_hops,
        link_local=link_local,
        as_path=_as_path(aspath),
        origin=p.get("origin"),
        local_pref=p.get("locPrf"),
        med=p.get("metric"),
        originator_id=p.get("originatorId"),
        cluster_list=tuple(str(c) for c in cluster),
        communities=_communities(p.get("community")),
        best=best,
        valid=bool(p.get("valid", False)),
        local=local,
        peer=None if local else peer,
        raw=p,
    )


def parse_routes(data: dict[str, Any]) -> list[FrrRoute]:
    """Paths of `show bgp <afi> unicast json [detail]`.

    Both forms map prefix -> list; with ``detail`` FRR 8.4 puts a header object first
    (``{"prefix", "version", "advertisedTo"}``) and the paths after it, each with
    ``originatorId``/``clusterList`` that the plain form lacks.
    """
    routes: list[FrrRoute] = []
    table = data.get("routes", {})
    for prefix, entries in table.items():
        for p in entries:
            if not isinstance(p, dict):
                continue
            if "nexthops" not in p and "aspath" not in p and "path" not in p:
                continue  # the detail form's per-prefix header
            routes.append(_path_to_route(str(ip_network(prefix)), p))
    return routes


def parse_route_detail(data: dict[str, Any]) -> list[FrrRoute]:
    """Paths of `show bgp <afi> unicast <prefix> json` ({"prefix", "paths": [...]})."""
    if "prefix" not in data:
        return []
    prefix = str(ip_network(data["prefix"]))
    return [_path_to_route(prefix, p) for p in data.get("paths", []) if isinstance(p, dict)]


# --- configuration ----------------------------------------------------------------------


@dataclass
class FrrNeighbor:
    """One configured neighbour (a BGP session) of an `Frr` speaker."""

    address: str
    asn: int | None = None  # None: our own AS (iBGP)
    families: tuple[Family, ...] = FAMILIES  # activated on this one session
    rr_client: bool = False  # we reflect to it (FRR as the route reflector)
    passive: bool = False
    password: str | None = None  # TCP MD5 (RFC 2385)
    hold_time: int | None = None  # None: FRR's default (180)
    keepalive_time: int | None = None  # None with hold_time set: hold_time // 3
    graceful_restart: bool | None = None  # None: FRR's default (helper)
    next_hop_self: bool = False
    update_source: str | None = None  # local address for the session
    port: int | None = None  # the neighbour's BGP port
    description: str | None = None
    extra: str = ""  # raw `neighbor ...` lines for the router block


class Frr:
    """One FRR bgpd in a lab host.

    Client (what an FRR node of a Calico-ish cluster runs)::

        c = Frr.client(host, rr.ip4, networks=["10.10.1.0/26", "2001:db8:1001::/64"]).start()
        c.wait_established()
        c.routes("ipv6")

    Route reflector, fixed clients or a listen range::

        rr = Frr.route_reflector(host, [c1.ip4, c2.ip4], cluster_id="1.2.3.4").start()
        rr = Frr.route_reflector(host, listen_range="127.0.0.0/8", listen_limit=1000)
    """

    def __init__(
        self,
        host: Host,
        neighbors: Sequence[FrrNeighbor | str] = (),
        networks: Iterable[str] = (),
        *,
        asn: int = DEFAULT_ASN,
        router_id: str | None = None,
        cluster_id: str | None = None,
        listen_range: str | Sequence[str] | None = None,
        listen_limit: int | None = None,
        listen_group: str = "CLIENTS",
        listen_template: FrrNeighbor | None = None,
        next_hop6: str | None = "auto",
        next_hop4: str | None = None,
        connect_retry: int = 2,
        graceful_restart: bool = False,
        graceful_restart_time: int | None = None,
        bgp_port: int | None = None,
        listen_addresses: Sequence[str] = (),
        log_level: str = "informational",
        debug: Sequence[str] = (),
        name: str = "frr",
        extra: str = "",
        bgpd: str = BGPD,
        vtysh: str = VTYSH,
    ) -> None:
        """`listen_range` accepts sessions from any address in the range(s) into peer group
        `listen_group`, configured from `listen_template` (its address is ignored; by
        default an iBGP route-reflector client carrying both families). `next_hop6`: the
        next hop of our IPv6 `network`s ("auto": this host's IPv6 address; None: FRR's
        own choice, an IPv4-mapped address over an IPv4 session). `next_hop4` likewise for
        IPv4 (default: FRR's choice, the session's local address). `bgp_port=0` makes bgpd
        listen nowhere (a client sharing a namespace with another speaker); `debug` adds
        `debug bgp <x>` lines, e.g. ("updates", "neighbor-events").
        """
        self.host = host
        self.name = name  # file stem and vty directory: <name>.conf, <name>.vty/, ...
        self.bgpd_bin = bgpd
        self.vtysh_bin = vtysh
        self.asn = asn
        self.router_id = router_id or host.ip4
        self.cluster_id = cluster_id
        if isinstance(listen_range, str):
            listen_range = [listen_range]
        self.listen_ranges = [str(ip_network(r)) for r in (listen_range or ())]
        self.listen_limit = listen_limit
        self.listen_group = listen_group
        self.listen_template = listen_template or FrrNeighbor(listen_group, rr_client=True)
        if next_hop6 == "auto":
            next_hop6 = host.ip6 if host.ip6_iface is not None else None
        self.next_hop6 = next_hop6
        self.next_hop4 = next_hop4
        self.connect_retry = connect_retry
        self.graceful_restart = graceful_restart
        self.graceful_restart_time = graceful_restart_time
        self.bgp_port = bgp_port
        self.listen_addresses = list(listen_addresses)
        self.log_level = log_level
        self.debug = list(debug)
        self.extra = extra
        self.neighbors: list[FrrNeighbor] = [
            n if isinstance(n, FrrNeighbor) else FrrNeighbor(n) for n in neighbors
        ]
        self.networks: list[str] = []
        for p in networks:
            self._add(p)
        self.conf_path = host.dir / f"{name}.conf"
        self.pid_path = host.dir / f"{name}.pid"
        self.log_path = host.dir / f"{name}.log"
        self.vty_dir = host.dir / f"{name}.vty"
        self.process: LabProcess | None = None
        self._pids: list[int] = []  # every bgpd pid we started, for tmpdir cleanup
        host.lab.add_diagnostic(f"{host.name}-{name}", self._diagnostic)

    # --- the two roles --------------------------------------------------------------

    @classmethod
    def client(
        cls,
        host: Host,
        route_reflectors: str | Sequence[str],
        networks: Iterable[str] = (),
        *,
        families: tuple[Family, ...] = FAMILIES,
        password: str | None = None,
        hold_time: int | None = None,
        keepalive_time: int | None = None,
        graceful_restart: bool | None = None,
        passive: bool = False,
        update_source: str | None = None,
        port: int | None = None,
        **kwargs: Any,
    ) -> Frr:
        """An iBGP speaker with one session per RR address, each carrying `families`."""
        rrs = [route_reflectors] if isinstance(route_reflectors, str) else route_reflectors
        neighbors = [
            FrrNeighbor(
                str(ip_address(a)),
                families=families,
                password=password,
                hold_time=hold_time,
                keepalive_time=keepalive_time,
                graceful_restart=graceful_restart,
                passive=passive,
                update_source=update_source,
                port=port,
            )
            for a in rrs
        ]
        return cls(host, neighbors, networks, **kwargs)

    @classmethod
    def route_reflector(
        cls,
        host: Host,
        clients: Sequence[FrrNeighbor | str] = (),
        *,
        cluster_id: str | None = None,
        passive: bool = False,
        password: str | None = None,
        hold_time: int | None = None,
        listen_range: str | Sequence[str] | None = None,
        listen_limit: int | None = None,
        **kwargs: Any,
    ) -> Frr:
        """A route reflector: every client (address or FrrNeighbor) is a
        route-reflector-client in both families; `listen_range` accepts clients dynamically.
        """
        neighbors: list[FrrNeighbor] = []
        for c in clients:
            if isinstance(c, FrrNeighbor):
                neighbors.append(c)
            else:
                neighbors.append(
                    FrrNeighbor(
                        str(ip_address(c)),
                        rr_client=True,
                        passive=passive,
                        password=password,
                        hold_time=hold_time,
                    )
                )
        template = FrrNeighbor(
            kwargs.pop("listen_group", "CLIENTS"),
            rr_client=True,
            password=password,
            hold_time=hold_time,
        )
        return cls(
            host,
            neighbors,
            cluster_id=cluster_id,
            listen_range=listen_range,
            listen_limit=listen_limit,
            listen_group=template.address,
            listen_template=kwargs.pop("listen_template", template),
            **kwargs,
        )

    # --- config rendering ---------------------------------------------------------------

    def _add(self, prefix: str) -> str:
        p = str(ip_network(prefix))
        if p not in self.networks:
            self.networks.append(p)
        return p

    def _network_line(self, prefix: str) -> str:
        fam = family_of(prefix)
        if fam == "ipv6" and self.next_hop6:
            return f"network {prefix} route-map {_ORIGIN6_MAP}"
        if fam == "ipv4" and self.next_hop4:
            return f"network {prefix} route-map {_ORIGIN4_MAP}"
        return f"network {prefix}"

    def _neighbor_lines(self, n: FrrNeighbor, name: str | None = None) -> list[str]:
        """`router bgp`-level lines for a neighbour (or, with `name`, a peer group)."""
        a = name or n.address
        out = []
        if name is not None:
            out.append(f"neighbor {a} peer-group")
        out.append(f"neighbor {a} remote-as {n.asn or self.asn}")
        if n.password is not None and name is None:
            # `remote-as` starts the session at once; the password arriving next would
            # reset that first connection (and GoBGP then idles 5 s): hold it until the
            # neighbour is fully configured (`no shutdown` in _neighbor_tail).
            out.append(f"neighbor {a} shutdown")
        if n.description:
            out.append(f"neighbor {a} description {n.description}")
        if n.port is not None:
            out.append(f"neighbor {a} port {n.port}")
        if n.update_source:
            out.append(f"neighbor {a} update-source {n.update_source}")
        if n.passive:
            out.append(f"neighbor {a} passive")
        if name is None:  # dynamic peers never connect out
            out.append(f"neighbor {a} timers connect {self.connect_retry}")
        if n.hold_time is not None:
            keepalive = n.keepalive_time if n.keepalive_time is not None else n.hold_time // 3
            out.append(f"neighbor {a} timers {keepalive} {n.hold_time}")
        if n.password is not None:
            out.append(f"neighbor {a} password {n.password}")
        if n.graceful_restart is True:
            out.append(f"neighbor {a} graceful-restart")
        elif n.graceful_restart is False:
            out.append(f"neighbor {a} graceful-restart-disable")
        out += [line.strip() for line in n.extra.splitlines() if line.strip()]
        return out

    def _neighbor_tail(self, n: FrrNeighbor) -> list[str]:
        return [f"no neighbor {n.address} shutdown"] if n.password is not None else []

    def _af_lines(self, n: FrrNeighbor, family: Family, name: str | None = None) -> list[str]:
        a = name or n.address
        if family not in n.families:
            return []
        out = [f"neighbor {a} activate"]
        if n.rr_client:
            out.append(f"neighbor {a} route-reflector-client")
        if n.next_hop_self:
            out.append(f"neighbor {a} next-hop-self")
        return out

    def render_config(self) -> str:
        h = self.host
        lines = [
            f"! Rendered by tests/lab/frr.py (Frr) for lab host {h.name}.",
            f"hostname {h.name}",
            f"log stdout {self.log_level}",
            *[f"debug bgp {d}" for d in self.debug],
            "!",
        ]
        if self.next_hop6:
            # Without zebra, bgpd knows no interface address: over an IPv4 session it would
            # send our IPv6 routes with the IPv4-mapped next hop ::ffff:a.b.c.d.
            lines += [
                f"route-map {_ORIGIN6_MAP} permit 10",
                f" set ipv6 next-hop global {self.next_hop6}",
                "exit",
                "!",
            ]
        if self.next_hop4:
            lines += [
                f"route-map {_ORIGIN4_MAP} permit 10",
                f" set ip next-hop {self.next_hop4}",
                "exit",
                "!",
            ]
        lines += [
            f"router bgp {self.asn}",
            f" bgp router-id {self.router_id}",
            " bgp log-neighbor-changes",
            " no bgp ebgp-requires-policy",
            " no bgp default ipv4-unicast",
            " no bgp network import-check",
        ]
        if self.cluster_id:
            lines.append(f" bgp cluster-id {self.cluster_id}")
        if self.graceful_restart:
            lines.append(" bgp graceful-restart")
        if self.graceful_restart_time is not None:
            lines.append(f" bgp graceful-restart restart-time {self.graceful_restart_time}")
        if self.listen_ranges:
            lines += [
                f" {x}" for x in self._neighbor_lines(self.listen_template, self.listen_group)
            ]
            if self.listen_limit is not None:
                lines.append(f" bgp listen limit {self.listen_limit}")
            for r in self.listen_ranges:
                lines.append(f" bgp listen range {r} peer-group {self.listen_group}")
        for n in self.neighbors:
            lines += [f" {x}" for x in self._neighbor_lines(n)]
        for n in self.neighbors:
            lines += [f" {x}" for x in self._neighbor_tail(n)]
        lines += [f" {x.strip()}" for x in self.extra.splitlines() if x.strip()]
        for fam in FAMILIES:
            lines.append(f" address-family {_afi(fam)}")
            lines += [f"  {self._network_line(p)}" for p in self.networks if family_of(p) == fam]
            if self.listen_ranges:
                lines += [
                    f"  {x}" for x in self._af_lines(self.listen_template, fam, self.listen_group)
                ]
            for n in self.neighbors:
                lines += [f"  {x}" for x in self._af_lines(n, fam)]
            lines.append(" exit-address-family")
        lines += ["exit", ""]
        return "\n".join(lines)

    def write_config(self) -> Path:
        self.conf_path.write_text(self.render_config())
        return self.conf_path

    # --- process ------------------------------------------------------------------------

    def start_argv(self) -> list[str]:
        argv = [
            self.bgpd_bin,
            "-f", str(self.conf_path),
            "-i", str(self.pid_path),
            "--vty_socket", str(self.vty_dir),
            "-Z",  # no zebra
            "-n",  # no kernel FIB
            "-S",  # skip the switch to the frr user
            "-P", "0",  # no TCP vty
        ]  # fmt: skip
        if self.bgp_port is not None:
            argv += ["-p", str(self.bgp_port)]
        for a in self.listen_addresses:
            argv += ["-l", a]
        return argv

    def check_config(self) -> None:
        """``bgpd -C``: parse the config without starting; raises FrrError with the message."""
        argv = self.host.exec_argv(
            [self.bgpd_bin, "-C", "-f", str(self.conf_path), "-Z", "-n", "-S", "-P", "0",
             "--vty_socket", str(self.vty_dir), "-i", str(self.host.dir / f"{self.name}-C.pid")]
        )  # fmt: skip
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate(timeout=5)
        finally:
            # `ip netns exec` execs in place: this is bgpd's pid, hence its tmp dir's name.
            shutil.rmtree(FRR_TMPDIR / f"bgpd.{proc.pid}", ignore_errors=True)
        bad = [
            line for line in out.splitlines()
            if "config line" in line or "Unknown command" in line or "% " in line
        ]  # fmt: skip
        if any(_GR_BUG_CMD in line for line in bad):
            # FRR 8.4 bug: `neighbor X graceful-restart` works (the peer's localGrMode
            # becomes "Restart") yet returns an error, "% Invalid value".
            bad = [b for b in bad if _GR_BUG_CMD not in b and b.strip() != _GR_BUG_MSG]
        if proc.returncode != 0 or bad:
            raise FrrError(
                f"{self.host.name}/{self.name}: bad config {self.conf_path}:\n{out}\n"
                f"--- config ---\n{self.conf_path.read_text()}"
            )

    def start(self, wait: bool = True, timeout: float = 15.0) -> Self:
        """Write and check the config, start bgpd; by default wait until vtysh answers."""
        if self.running():
            raise FrrError(f"{self.host.name}/{self.name} is already running")
        self.vty_dir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        self.check_config()
        (self.vty_dir / "bgpd.vty").unlink(missing_ok=True)  # "answers" must mean *this* bgpd
        self.pid_path.unlink(missing_ok=True)
        self.process = self.host.popen(self.start_argv(), log=self.log_path)
        self._pids.append(self.process.pid)
        if wait:
            self.wait_ready(timeout)
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.alive()

    def check_alive(self) -> None:
        if self.process is not None and not self.process.alive():
            raise FrrExited(
                f"{self.host.name}/{self.name} exited with {self.process.returncode}:\n"
                + self.process.log_text()[-2000:]
            )

    def wait_ready(self, timeout: float = 15.0) -> None:
        def ready() -> bool:
            self.check_alive()
            self.vtysh("show bgp summary json", timeout=5)
            return True

        wait_until(ready, timeout, 0.1, f"{self.host.name}/{self.name} vty")

    def _cleanup_tmpdirs(self) -> None:
        for pid in self._pids:
            if self.process is not None and pid == self.process.pid and self.process.alive():
                continue
            shutil.rmtree(FRR_TMPDIR / f"bgpd.{pid}", ignore_errors=True)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: bgpd sends a Cease NOTIFICATION to each established peer and exits."""
        if self.process is not None:
            self.process.terminate(timeout)
        self._cleanup_tmpdirs()

    def kill9(self) -> None:
        """SIGKILL: no NOTIFICATION; the kernel closes the TCP sessions."""
        if self.process is not None:
            self.process.kill()
        self._cleanup_tmpdirs()

    def restart(self, wait: bool = True) -> None:
        self.stop()
        self.start(wait=wait)

    # --- vtysh ------------------------------------------------------------------------------

    def vtysh(self, *commands: str, timeout: float = 20.0, check: bool = True) -> str:
        """Run vtysh commands (each its own ``-c``) against this bgpd; return the output.

        With `check`, raises FrrError on a non-zero exit or a "% ..." line (unknown command,
        can't find neighbor, ...; note vtysh stops at the first failing ``-c``). Some show
        commands print "% ..." for an empty answer ("% No BGP neighbors found"): use
        check=False or the JSON form for those.
        """
        argv = [self.vtysh_bin, "--vty_socket", str(self.vty_dir), "-d", "bgpd"]
        for c in commands:
            argv += ["-c", c]
        cp = self.host.run(argv, check=False, timeout=timeout)
        errors = [line for line in cp.stdout.splitlines() if line.startswith("% ")]
        if commands and _GR_BUG_CMD in commands[-1] and errors == [_GR_BUG_MSG]:
            return cp.stdout  # see check_config: FRR 8.4 reports an error, yet applies it
        if check and (cp.returncode != 0 or errors):
            raise FrrError(
                f"vtysh {commands!r} on {self.host.name}/{self.name} failed "
                f"({cp.returncode}): {cp.stdout.strip()} {cp.stderr.strip()}"
            )
        return cp.stdout

    def vtysh_json(self, command: str, timeout: float = 20.0) -> Any:
        out = self.vtysh(command, timeout=timeout)
        try:
            return json.loads(out)
        except json.JSONDecodeError as exc:
            raise FrrError(f"{self.host.name}/{self.name}: {command}: not JSON: {out!r}") from exc

    def configure(self, *lines: str) -> str:
        """Config-mode commands, e.g. configure("router bgp 64512", "bgp cluster-id 1.1.1.1")."""
        return self.vtysh("configure terminal", *lines)

    def _router(self) -> str:
        return f"router bgp {self.asn}"

    # --- changing what we announce / whom we peer with --------------------------------

    def add_network(self, prefix: str) -> None:
        """Announce one more prefix (a `network` statement; live via vtysh if running)."""
        p = self._add(prefix)
        if self.running():
            self.configure(
                self._router(), f"address-family {_afi(family_of(p))}", self._network_line(p)
            )

    def remove_network(self, prefix: str) -> None:
        """Stop announcing a prefix: its peers get a withdrawal."""
        p = str(ip_network(prefix))
        self.networks.remove(p)
        if self.running():
            self.configure(
                self._router(), f"address-family {_afi(family_of(p))}", f"no network {p}"
            )

    def add_neighbor(self, neighbor: FrrNeighbor | str) -> FrrNeighbor:
        """Add a neighbour (live via vtysh if running)."""
        n = neighbor if isinstance(neighbor, FrrNeighbor) else FrrNeighbor(neighbor)
        self.neighbors.append(n)
        if self.running():
            lines = self._neighbor_lines(n)
            gr = [x for x in lines if x.endswith(_GR_BUG_CMD)]
            cmds = [self._router(), *[x for x in lines if x not in gr]]
            for fam in n.families:
                cmds += [f"address-family {_afi(fam)}", *self._af_lines(n, fam),
                         "exit-address-family"]  # fmt: skip
            self.configure(*cmds, *self._neighbor_tail(n))
            for x in gr:  # last and alone: vtysh would stop at its bogus error
                self.configure(self._router(), x)
        return n

    def remove_neighbor(self, address: str) -> None:
        self.neighbors = [n for n in self.neighbors if n.address != address]
        if self.running():
            self.configure(self._router(), f"no neighbor {address}")

    def clear(self, address: str = "*", soft: bool = False) -> None:
        """`clear bgp <address|*>` (hard reset: sessions drop) or `... soft` (refresh)."""
        self.vtysh(f"clear bgp {address}{' soft' if soft else ''}")

    # --- queries -----------------------------------------------------------------------

    def neighbors_json(self) -> dict[str, Any]:
        data = self.vtysh_json("show bgp neighbors json")
        return data if isinstance(data, dict) else {}

    def peers(self) -> list[FrrPeer]:
        """Parsed `show bgp neighbors json`, configured and dynamic neighbours alike."""
        return parse_neighbors(self.neighbors_json())

    def peer(self, address: str) -> FrrPeer:
        for p in self.peers():
            if p.address == address:
                return p
        raise FrrError(f"{self.host.name}/{self.name}: no neighbour {address}")

    def summary(self, family: Family = "ipv4") -> dict[str, Any]:
        """Raw `show bgp <afi> unicast summary json`: cheap, for large benchmarks
        ("peers": {address: {"state", "pfxRcd", "pfxSnt", "peerUptimeMsec", ...}})."""
        data = self.vtysh_json(f"show bgp {_afi(family)} summary json")
        return data if isinstance(data, dict) else {}

    def received_counts(self, family: Family = "ipv4") -> dict[str, int]:
        """Address -> prefixes accepted from that neighbour (summary's pfxRcd)."""
        peers = self.summary(family).get("peers", {})
        return {a: int(p.get("pfxRcd", 0)) for a, p in peers.items() if isinstance(p, dict)}

    def routes(self, family: Family = "ipv4") -> list[FrrRoute]:
        """Every path of `show bgp <afi> unicast json detail` (next hops, ORIGINATOR_ID,
        CLUSTER_LIST included), locally originated ones too (`local=True`)."""
        data = self.vtysh_json(f"show bgp {_afi(family)} json detail")
        return parse_routes(data if isinstance(data, dict) else {})

    def route(self, prefix: str) -> list[FrrRoute]:
        """All paths for one prefix (`show bgp <afi> unicast <prefix> json`)."""
        p = str(ip_network(prefix))
        data = self.vtysh_json(f"show bgp {_afi(family_of(p))} {p} json")
        return parse_route_detail(data if isinstance(data, dict) else {})

    def prefixes(self, family: Family = "ipv4", learned: bool = False) -> set[str]:
        """Prefixes in the table; with `learned`, only those learned from a neighbour."""
        return {r.prefix for r in self.routes(family) if not (learned and r.local)}

    def best(self, prefix: str) -> FrrRoute | None:
        p = str(ip_network(prefix))
        return next((r for r in self.routes(family_of(p)) if r.prefix == p and r.best), None)

    def wait_established(
        self, addresses: Iterable[str] | None = None, count: int | None = None,
        timeout: float = 30.0,
    ) -> list[FrrPeer]:  # fmt: skip
        """Wait until the given neighbours (default: all configured ones, or `count`
        neighbours when dynamic ones are expected) are Established."""
        wanted = (
            {str(ip_address(a)) for a in addresses} if addresses is not None
            else {n.address for n in self.neighbors} if count is None
            else None
        )  # fmt: skip

        def check() -> list[FrrPeer] | None:
            self.check_alive()
            peers = self.peers()
            if wanted is not None:
                peers = [p for p in peers if p.address in wanted]
                ok = {p.address for p in peers if p.established} == wanted
            else:
                ok = sum(p.established for p in peers) >= (count or 0)
            return peers if ok and peers else None

        return wait_until(
            check, timeout, 0.25, f"{self.host.name}/{self.name}: BGP sessions Established"
        )

    def wait_prefixes(
        self, family: Family, expected: Iterable[str], timeout: float = 30.0,
        present: bool = True,
    ) -> list[FrrRoute]:  # fmt: skip
        """Wait until every prefix of `expected` is in (or, present=False, out of) the table."""
        exp = {str(ip_network(p)) for p in expected}

        def check() -> list[FrrRoute] | None:
            self.check_alive()
            routes = self.routes(family)
            have = {r.prefix for r in routes}
            done = exp <= have if present else not (exp & have)
            return routes if done else None

        return wait_until(
            check, timeout, 0.25,
            f"{self.host.name}/{self.name}: {family} prefixes {sorted(exp)}"
            f"{'' if present else ' withdrawn'}",
        )  # fmt: skip

    def _diagnostic(self) -> str:
        if not self.running():
            return "(not running)"
        parts = []
        for cmd in (
            "show bgp summary",
            "show bgp neighbors",
            "show bgp ipv4 unicast",
            "show bgp ipv6 unicast",
            "show running-config",
        ):
            try:
                parts.append(f"$ vtysh -c '{cmd}'\n{self.vtysh(cmd, timeout=10, check=False)}")
            except Exception as exc:  # one failing dump must not hide the others
                parts.append(f"$ vtysh -c '{cmd}'\n<failed: {exc!r}>")
        return "\n\n".join(parts)


def frr_available() -> str | None:
    """Why FRR lab tests cannot run here, or None if they can."""
    if not Path(BGPD).exists():
        return f"FRR bgpd not found at {BGPD}: run scripts/setup.sh (Debian package frr)"
    if shutil.which(VTYSH) is None:
        return "vtysh not found: run scripts/setup.sh (Debian package frr)"
    return None
