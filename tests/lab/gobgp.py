"""Driver for GoBGP (gobgpd + the gobgp CLI) in lab hosts: a BGP client or a route reflector.

gobgpd runs as ``gobgpd -f <name>.toml -t toml --api-hosts 127.0.0.1:<api_port> -p
--pprof-disable -l <level>``. The gRPC API listens on the namespace's own loopback, so the
default port 50051 is fine in every namespace; two instances sharing a namespace need
different `api_port`s (and at most one may listen for BGP: pass ``listen_port=-1``).

Routes are announced through the API (``gobgp global rib add -a ipv4 P nexthop X origin
igp``); the driver remembers them and announces them again after a restart. They only live
in GoBGP's RIB: gobgpd never touches a FIB (no zebra), so no traffic goes anywhere.

GoBGP timing, which makes GoBGP slow to (re)connect (GoBGP 3.x source, seen in the lab):

* In Active state the first connect attempt comes after a random 5..10 s (connect-retry
  below 5 s is raised to 5), later ones every connect-retry..2*connect-retry s. A passive
  or slow peer therefore waits up to ~10 s; a peer that connects *to* GoBGP is accepted at
  once.
* After any session loss the neighbour sits 5 s in Idle (fixed), closing incoming
  connections, then goes Active as above: ~5-15 s to come back.
* ``gobgp neighbor X reset`` (admin reset) idles for `idle-hold-time-after-reset`; GoBGP
  3.10 ignores that setting from the TOML file and uses its 30 s default, so `reset` here
  does ``disable`` + ``enable`` instead, which comes back after the normal 5 s.

Query output (``-j``) as GoBGP 3.10 prints it: ``neighbor -j`` is a list of protobuf Peer
objects (``state.session_state`` an enum number, 6 = Established), and ``global rib -a F
-j`` maps prefix -> paths, each with ``attrs``, a list of path attributes keyed by their
type code (1 ORIGIN, 2 AS_PATH, 3 NEXT_HOP, 4 MED, 5 LOCAL_PREF, 8 COMMUNITIES,
9 ORIGINATOR_ID, 10 CLUSTER_LIST, 14 MP_REACH_NLRI whose "nexthop" is the IPv6 next hop).
MP_REACH_NLRI's JSON has one "nexthop"; a link-local second next hop, if any, is not seen
there (none of the lab's iBGP speakers sends one: BIRD and bgpd without zebra send 16 bytes).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any, Self

from .frr import DEFAULT_ASN, FAMILIES, Family, family_of
from .netns import GiveUp, Host, LabError, LabProcess, wait_until

GOBGPD = os.environ.get("PYRR_GOBGPD", "gobgpd")
GOBGP = os.environ.get("PYRR_GOBGP", "gobgp")
DEFAULT_API_PORT = 50051

# api.PeerState.SessionState
SESSION_STATES = {
    0: "UNKNOWN",
    1: "IDLE",
    2: "CONNECT",
    3: "ACTIVE",
    4: "OPENSENT",
    5: "OPENCONFIRM",
    6: "ESTABLISHED",
}
_ORIGINS = {0: "IGP", 1: "EGP", 2: "incomplete"}
_AFI_SAFI = {"ipv4": "ipv4-unicast", "ipv6": "ipv6-unicast"}
_AFI_TO_FAMILY: dict[int, Family] = {1: "ipv4", 2: "ipv6"}


class GobgpError(LabError):
    """The gobgp CLI failed, or gobgpd did not do what was asked."""


class GobgpExited(GobgpError, GiveUp):
    """gobgpd, expected to be running, has exited (ends any `wait_until` at once)."""


# --- parsed output ----------------------------------------------------------------------


@dataclass(frozen=True)
class GobgpPeer:
    """One neighbour of `gobgp neighbor -j`."""

    address: str
    state: str  # "ESTABLISHED", "ACTIVE", "IDLE", ... (SESSION_STATES)
    peer_as: int | None
    local_as: int | None
    router_id: str | None  # the peer's, once OPEN was received
    uptime_s: float | None  # seconds Established, None when not Established
    received: dict[str, int]  # family -> paths received
    accepted: dict[str, int]  # family -> paths accepted
    admin_down: bool
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def established(self) -> bool:
        return self.state == "ESTABLISHED"

    @property
    def remote_capabilities(self) -> tuple[str, ...]:
        """Capability names the peer sent, e.g. ("MultiProtocolCapability", ...,
        "UnknownCapability"); the values are protobuf, base64 in the JSON."""
        return _cap_names((self.raw.get("state") or {}).get("remote_cap"))

    @property
    def local_capabilities(self) -> tuple[str, ...]:
        return _cap_names((self.raw.get("state") or {}).get("local_cap"))


def _cap_names(caps: Any) -> tuple[str, ...]:
    return tuple(
        str(c.get("type_url", "")).rsplit(".", 1)[-1] for c in caps or [] if isinstance(c, dict)
    )


@dataclass(frozen=True)
class GobgpRoute:
    """One path of `gobgp global rib -a <family> -j`."""

    prefix: str
    next_hop: str | None  # NEXT_HOP (IPv4) or MP_REACH_NLRI's next hop (IPv6)
    as_path: tuple[int, ...]
    origin: str | None  # "IGP", "EGP", "incomplete"
    local_pref: int | None
    med: int | None
    originator_id: str | None
    cluster_list: tuple[str, ...]
    communities: tuple[tuple[int, int], ...]
    best: bool
    stale: bool
    neighbor: str | None  # the neighbour it came from; None for our own routes
    source_id: str | None  # that neighbour's router id
    attrs: tuple[dict[str, Any], ...] = field(default=(), compare=False, repr=False)

    @property
    def local(self) -> bool:
        return self.neighbor is None

    @property
    def family(self) -> Family:
        return family_of(self.prefix)

    def attr(self, type_code: int) -> dict[str, Any] | None:
        return next((a for a in self.attrs if a.get("type") == type_code), None)


def _state_name(v: Any) -> str:
    if isinstance(v, int):
        return SESSION_STATES.get(v, str(v))
    if isinstance(v, str) and v:
        return v.upper().removeprefix("SESSION_STATE_").removeprefix("BGP_FSM_")
    return "UNKNOWN"


def parse_neighbors(data: Any, now: float | None = None) -> list[GobgpPeer]:
    """`gobgp neighbor -j`: a list of peers (``null`` when there are none)."""
    now = time.time() if now is None else now
    peers: list[GobgpPeer] = []
    for p in data or []:
        if not isinstance(p, dict):
            continue
        conf = p.get("conf", {}) or {}
        st = p.get("state", {}) or {}
        state = _state_name(st.get("session_state"))
        uptime: float | None = None
        up = ((p.get("timers") or {}).get("state") or {}).get("uptime")
        if state == "ESTABLISHED" and isinstance(up, dict) and "seconds" in up:
            uptime = max(0.0, now - float(up["seconds"]))  # "uptime" is the time it came up
        received: dict[str, int] = {}
        accepted: dict[str, int] = {}
        for af in p.get("afi_safis", []) or []:
            afs = (af or {}).get("state") or {}
            fam = _AFI_TO_FAMILY.get(int((afs.get("family") or {}).get("afi", 0)))
            if fam is None or (afs.get("family") or {}).get("safi", 1) != 1:
                continue
            received[fam] = int(afs.get("received", 0))
            accepted[fam] = int(afs.get("accepted", 0))
        peers.append(
            GobgpPeer(
                address=str(st.get("neighbor_address") or conf.get("neighbor_address")),
                state=state,
                peer_as=st.get("peer_asn") or conf.get("peer_asn"),
                local_as=conf.get("local_asn"),
                router_id=st.get("router_id"),
                uptime_s=uptime,
                received=received,
                accepted=accepted,
                admin_down=st.get("admin_state") in (1, "DOWN", "ADMIN_STATE_DOWN"),
                raw=p,
            )
        )
    return peers


def _as_path(attr: dict[str, Any]) -> tuple[int, ...]:
    out: list[int] = []
    for seg in attr.get("as_paths", []) or []:
        out.extend(int(a) for a in (seg.get("asns") or []))
    return tuple(out)


def parse_rib(data: Any) -> list[GobgpRoute]:
    """`gobgp global rib -a <family> -j`: {prefix: [path, ...]} (``{}`` when empty)."""
    routes: list[GobgpRoute] = []
    if not isinstance(data, dict):
        return routes
    for prefix, paths in data.items():
        for p in paths or []:
            attrs = tuple(a for a in (p.get("attrs") or []) if isinstance(a, dict))
            by_type = {a.get("type"): a for a in attrs}
            next_hop: str | None = None
            if 14 in by_type:
                next_hop = by_type[14].get("nexthop")
            elif 3 in by_type:
                next_hop = by_type[3].get("nexthop")
            origin = by_type.get(1, {}).get("value")
            comms = by_type.get(8, {}).get("communities", []) or []
            routes.append(
                GobgpRoute(
                    prefix=str(ip_network(str((p.get("nlri") or {}).get("prefix") or prefix))),
                    next_hop=next_hop,
                    as_path=_as_path(by_type.get(2, {})),
                    origin=_ORIGINS.get(origin) if isinstance(origin, int) else None,
                    local_pref=by_type.get(5, {}).get("value"),
                    med=by_type.get(4, {}).get("metric"),
                    originator_id=by_type.get(9, {}).get("value"),
                    cluster_list=tuple(str(c) for c in by_type.get(10, {}).get("value", []) or []),
                    communities=tuple((int(c) >> 16, int(c) & 0xFFFF) for c in comms),
                    best=bool(p.get("best", False)),
                    stale=bool(p.get("stale", False)),
                    neighbor=p.get("neighbor-ip"),
                    source_id=p.get("source-id"),
                    attrs=attrs,
                )
            )
    return routes


# --- configuration ----------------------------------------------------------------------


@dataclass
class GobgpNeighbor:
    """One configured neighbour (a BGP session) of a `Gobgp` speaker."""

    address: str
    asn: int | None = None  # None: our own AS (iBGP)
    families: tuple[Family, ...] = FAMILIES
    rr_client: bool = False  # we reflect to it (GoBGP as the route reflector)
    passive: bool = False
    local_address: str | None = None  # default: this host's address of the neighbour's family
    password: str | None = None  # TCP MD5
    hold_time: int | None = None  # None: GoBGP's default (90)
    keepalive_time: int | None = None  # None with hold_time set: hold_time // 3
    connect_retry: int | None = None  # None: the speaker's default
    graceful_restart: bool = False
    graceful_restart_time: int | None = None
    port: int | None = None  # the neighbour's BGP port
    description: str | None = None


def _q(s: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML for these ASCII values)."""
    return json.dumps(s)


class Gobgp:
    """One gobgpd in a lab host, announcing routes through its API.

    Example::

        g = Gobgp.client(host, rr.ip4, routes=["10.10.2.0/26", "2001:db8:1002::/64"]).start()
        g.wait_established(timeout=40)
        g.routes("ipv6")

        rr = Gobgp.route_reflector(host, [c1.ip4, c2.ip4], cluster_id="1.2.3.4").start()
    """

    def __init__(
        self,
        host: Host,
        neighbors: Sequence[GobgpNeighbor | str] = (),
        routes: Iterable[str] = (),
        *,
        asn: int = DEFAULT_ASN,
        router_id: str | None = None,
        cluster_id: str | None = None,
        listen_port: int = 179,
        listen_addresses: Sequence[str] = (),
        api_host: str = "127.0.0.1",
        api_port: int = DEFAULT_API_PORT,
        connect_retry: int = 5,
        next_hop4: str | None = None,
        next_hop6: str | None = None,
        origin: str = "igp",
        log_level: str = "debug",
        name: str = "gobgpd",
        extra_toml: str = "",
        gobgpd: str = GOBGPD,
        gobgp: str = GOBGP,
    ) -> None:
        """`listen_port=-1`: gobgpd does not listen for BGP at all. `next_hop4`/`next_hop6`:
        the next hop given to announced routes (default this host's addresses; GoBGP keeps
        it on iBGP). `cluster_id` applies to every rr_client neighbour.
        """
        self.host = host
        self.name = name
        self.gobgpd_bin = gobgpd
        self.gobgp_bin = gobgp
        self.asn = asn
        self.router_id = router_id or host.ip4
        self.cluster_id = cluster_id
        self.listen_port = listen_port
        self.listen_addresses = list(listen_addresses)
        self.api_host = api_host
        self.api_port = api_port
        self.connect_retry = connect_retry
        self.next_hop4 = next_hop4 or host.ip4
        self.next_hop6 = next_hop6 or (host.ip6 if host.ip6_iface is not None else None)
        self.origin = origin
        self.log_level = log_level
        self.extra_toml = extra_toml
        self.neighbors: list[GobgpNeighbor] = [
            n if isinstance(n, GobgpNeighbor) else GobgpNeighbor(n) for n in neighbors
        ]
        self.announced: dict[str, str] = {}  # prefix -> next hop
        for r in routes:
            self._remember(r)
        self.conf_path = host.dir / f"{name}.toml"
        self.log_path = host.dir / f"{name}.log"
        self.process: LabProcess | None = None
        host.lab.add_diagnostic(f"{host.name}-{name}", self._diagnostic)

    # --- the two roles --------------------------------------------------------------

    @classmethod
    def client(
        cls,
        host: Host,
        route_reflectors: str | Sequence[str],
        routes: Iterable[str] = (),
        *,
        families: tuple[Family, ...] = FAMILIES,
        password: str | None = None,
        hold_time: int | None = None,
        graceful_restart: bool = False,
        passive: bool = False,
        **kwargs: Any,
    ) -> Gobgp:
        rrs = [route_reflectors] if isinstance(route_reflectors, str) else route_reflectors
        neighbors = [
            GobgpNeighbor(
                str(ip_address(a)),
                families=families,
                password=password,
                hold_time=hold_time,
                graceful_restart=graceful_restart,
                passive=passive,
            )
            for a in rrs
        ]
        return cls(host, neighbors, routes, **kwargs)

    @classmethod
    def route_reflector(
        cls,
        host: Host,
        clients: Sequence[GobgpNeighbor | str],
        *,
        cluster_id: str | None = None,
        passive: bool = True,
        password: str | None = None,
        hold_time: int | None = None,
        **kwargs: Any,
    ) -> Gobgp:
        """Every client (address or GobgpNeighbor) becomes a route-reflector client; a plain
        address carries both families. Passive by default: clients connect to us, which
        avoids GoBGP's own 5-10 s connect delay."""
        neighbors = [
            c if isinstance(c, GobgpNeighbor)
            else GobgpNeighbor(
                str(ip_address(c)), rr_client=True, passive=passive, password=password,
                hold_time=hold_time,
            )
            for c in clients
        ]  # fmt: skip
        return cls(host, neighbors, cluster_id=cluster_id, **kwargs)

    # --- config -------------------------------------------------------------------------

    def _remember(self, prefix: str, next_hop: str | None = None) -> str:
        p = str(ip_network(prefix))
        nh = next_hop or (self.next_hop4 if family_of(p) == "ipv4" else self.next_hop6)
        if nh is None:
            raise GobgpError(f"{self.host.name}: no next hop for {p} (host has no IPv6)")
        self.announced[p] = nh
        return p

    def _local_address(self, n: GobgpNeighbor) -> str:
        if n.local_address:
            return n.local_address
        return self.host.ip4 if family_of(n.address) == "ipv4" else self.host.ip6

    def _render_neighbor(self, n: GobgpNeighbor) -> list[str]:
        out = [
            "[[neighbors]]",
            "  [neighbors.config]",
            f"    neighbor-address = {_q(n.address)}",
            f"    peer-as = {n.asn or self.asn}",
        ]
        if n.description:
            out.append(f"    description = {_q(n.description)}")
        if n.password is not None:
            out.append(f"    auth-password = {_q(n.password)}")
        out += [
            "  [neighbors.transport.config]",
            f"    local-address = {_q(self._local_address(n))}",
        ]
        if n.passive:
            out.append("    passive-mode = true")
        if n.port is not None:
            out.append(f"    remote-port = {n.port}")
        out += [
            "  [neighbors.timers.config]",
            f"    connect-retry = {n.connect_retry or self.connect_retry}",
            # Only used by an admin reset, and GoBGP 3.10 ignores it from here (see above).
            "    idle-hold-time-after-reset = 5",
        ]
        if n.hold_time is not None:
            keepalive = n.keepalive_time if n.keepalive_time is not None else n.hold_time // 3
            out += [f"    hold-time = {n.hold_time}", f"    keepalive-interval = {keepalive}"]
        if n.rr_client:
            out += ["  [neighbors.route-reflector.config]", "    route-reflector-client = true"]
            if self.cluster_id:
                out.append(f"    route-reflector-cluster-id = {_q(self.cluster_id)}")
        if n.graceful_restart:
            out += ["  [neighbors.graceful-restart.config]", "    enabled = true"]
            if n.graceful_restart_time is not None:
                out.append(f"    restart-time = {n.graceful_restart_time}")
        for fam in n.families:
            out += [
                "  [[neighbors.afi-safis]]",
                "    [neighbors.afi-safis.config]",
                f"      afi-safi-name = {_q(_AFI_SAFI[fam])}",
            ]
            if n.graceful_restart:
                out += [
                    "    [neighbors.afi-safis.mp-graceful-restart.config]",
                    "      enabled = true",
                ]
        return out

    def render_config(self) -> str:
        lines = [
            f"# Rendered by tests/lab/gobgp.py (Gobgp) for lab host {self.host.name}.",
            "[global.config]",
            f"  as = {self.asn}",
            f"  router-id = {_q(self.router_id)}",
            f"  port = {self.listen_port}",
        ]
        if self.listen_addresses:
            lines.append(
                f"  local-address-list = [{', '.join(_q(a) for a in self.listen_addresses)}]"
            )
        for n in self.neighbors:
            lines += ["", *self._render_neighbor(n)]
        if self.extra_toml:
            lines += ["", self.extra_toml]
        return "\n".join(lines) + "\n"

    def write_config(self) -> Path:
        self.conf_path.write_text(self.render_config())
        return self.conf_path

    def check_config(self) -> None:
        """``gobgpd -d``: parse the config without starting; raises GobgpError."""
        cp = self.host.run(
            [self.gobgpd_bin, "-d", "-f", str(self.conf_path), "-t", "toml"],
            check=False,
            timeout=15,
        )
        if cp.returncode != 0 or '"level":"fatal"' in cp.stdout + cp.stderr:
            raise GobgpError(
                f"{self.host.name}/{self.name}: bad config {self.conf_path}:\n"
                f"{cp.stdout}{cp.stderr}\n--- config ---\n{self.conf_path.read_text()}"
            )

    # --- process ------------------------------------------------------------------------

    @property
    def api(self) -> str:
        return f"{self.api_host}:{self.api_port}"

    def start_argv(self) -> list[str]:
        return [
            self.gobgpd_bin, "-f", str(self.conf_path), "-t", "toml",
            "--api-hosts", self.api, "-p", "--pprof-disable", "-l", self.log_level,
        ]  # fmt: skip

    def start(self, wait: bool = True, timeout: float = 15.0) -> Self:
        """Write and check the config, start gobgpd; with `wait`, wait until the API
        answers and announce the routes (without it, call `wait_ready` later)."""
        if self.running():
            raise GobgpError(f"{self.host.name}/{self.name} is already running")
        self.write_config()
        self.check_config()
        self.process = self.host.popen(self.start_argv(), log=self.log_path)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Wait until the API answers, then (re)announce every remembered route."""

        def ready() -> bool:
            self.check_alive()
            self.gobgp("global", timeout=5)
            return True

        wait_until(ready, timeout, 0.1, f"{self.host.name}/{self.name} gRPC API")
        for p, nh in self.announced.items():
            self._rib_add(p, nh)

    def running(self) -> bool:
        return self.process is not None and self.process.alive()

    def check_alive(self) -> None:
        if self.process is not None and not self.process.alive():
            raise GobgpExited(
                f"{self.host.name}/{self.name} exited with {self.process.returncode}:\n"
                + self.process.log_text()[-2000:]
            )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: gobgpd closes its sessions and exits."""
        if self.process is not None:
            self.process.terminate(timeout)

    def kill9(self) -> None:
        """SIGKILL: no NOTIFICATION; the kernel closes the TCP sessions."""
        if self.process is not None:
            self.process.kill()

    def restart(self, wait: bool = True) -> None:
        """Stop and start again; the remembered routes are announced again."""
        self.stop()
        self.start(wait=wait)

    # --- the CLI --------------------------------------------------------------------------

    def gobgp(self, *args: str, timeout: float = 20.0) -> str:
        """Run ``gobgp -u <api host> -p <api port> ARGS...``; return stdout."""
        argv = [self.gobgp_bin, "-u", self.api_host, "-p", str(self.api_port), *args]
        cp = self.host.run(argv, check=False, timeout=timeout)
        if cp.returncode != 0:
            raise GobgpError(
                f"gobgp {' '.join(args)} on {self.host.name}/{self.name} failed "
                f"({cp.returncode}): {cp.stdout.strip()} {cp.stderr.strip()}"
            )
        return cp.stdout

    def gobgp_json(self, *args: str, timeout: float = 20.0) -> Any:
        out = self.gobgp(*args, "-j", timeout=timeout)
        try:
            return json.loads(out) if out.strip() else None
        except json.JSONDecodeError as exc:
            raise GobgpError(f"{self.host.name}/{self.name}: gobgp {args}: not JSON") from exc

    # --- announcing ---------------------------------------------------------------------

    def _rib_add(self, prefix: str, next_hop: str) -> None:
        self.gobgp(
            "global", "rib", "add", "-a", family_of(prefix), prefix,
            "nexthop", next_hop, "origin", self.origin,
        )  # fmt: skip

    def add_route(self, prefix: str, next_hop: str | None = None) -> None:
        """Announce a prefix (default next hop: this host's address of its family)."""
        p = self._remember(prefix, next_hop)
        if self.running():
            self._rib_add(p, self.announced[p])

    def remove_route(self, prefix: str) -> None:
        """Withdraw a prefix announced with `add_route`."""
        p = str(ip_network(prefix))
        nh = self.announced.pop(p)
        if self.running():
            self.gobgp("global", "rib", "del", "-a", family_of(p), p, "nexthop", nh)

    # --- neighbours -------------------------------------------------------------------

    def reset(self, address: str, soft: bool = False) -> None:
        """Drop and re-open one session (``disable``+``enable``: back after ~5-15 s, where
        ``gobgp neighbor X reset`` would idle 30 s); `soft` sends a route refresh."""
        if soft:
            self.gobgp("neighbor", address, "softreset")
            return
        self.gobgp("neighbor", address, "disable")
        self.gobgp("neighbor", address, "enable")

    # --- queries ------------------------------------------------------------------------

    def peers(self) -> list[GobgpPeer]:
        """Parsed `gobgp neighbor -j`."""
        return parse_neighbors(self.gobgp_json("neighbor"))

    def peer(self, address: str) -> GobgpPeer:
        for p in self.peers():
            if p.address == address:
                return p
        raise GobgpError(f"{self.host.name}/{self.name}: no neighbour {address}")

    def routes(self, family: Family = "ipv4") -> list[GobgpRoute]:
        """Every path of `gobgp global rib -a <family> -j` (our own routes: `local`)."""
        return parse_rib(self.gobgp_json("global", "rib", "-a", family))

    def adj_in(self, address: str, family: Family = "ipv4") -> list[GobgpRoute]:
        """What one neighbour sent us (`gobgp neighbor X adj-in -a F -j`)."""
        return parse_rib(self.gobgp_json("neighbor", address, "adj-in", "-a", family))

    def adj_out(self, address: str, family: Family = "ipv4") -> list[GobgpRoute]:
        """What we send one neighbour (`gobgp neighbor X adj-out -a F -j`)."""
        return parse_rib(self.gobgp_json("neighbor", address, "adj-out", "-a", family))

    def rib_summary(self, family: Family = "ipv4") -> tuple[int, int]:
        """(destinations, paths) of the global RIB: cheap, for large benchmarks."""
        data = self.gobgp_json("global", "rib", "summary", "-a", family) or {}
        return int(data.get("num_destination", 0)), int(data.get("num_path", 0))

    def prefixes(self, family: Family = "ipv4", learned: bool = False) -> set[str]:
        return {r.prefix for r in self.routes(family) if not (learned and r.local)}

    def best(self, prefix: str) -> GobgpRoute | None:
        p = str(ip_network(prefix))
        return next((r for r in self.routes(family_of(p)) if r.prefix == p and r.best), None)

    def wait_established(
        self, addresses: Iterable[str] | None = None, timeout: float = 40.0
    ) -> list[GobgpPeer]:
        """Wait until the given neighbours (default: all configured) are Established.
        GoBGP connects slowly (see the module docstring): allow ~40 s."""
        wanted = (
            {str(ip_address(a)) for a in addresses}
            if addresses is not None
            else {n.address for n in self.neighbors}
        )

        def check() -> list[GobgpPeer] | None:
            self.check_alive()
            peers = [p for p in self.peers() if p.address in wanted]
            ok = {p.address for p in peers if p.established} == wanted
            return peers if ok and peers else None

        return wait_until(
            check, timeout, 0.25, f"{self.host.name}/{self.name}: BGP sessions Established"
        )

    def wait_prefixes(
        self, family: Family, expected: Iterable[str], timeout: float = 30.0,
        present: bool = True,
    ) -> list[GobgpRoute]:  # fmt: skip
        """Wait until every prefix of `expected` is in (or, present=False, out of) the RIB."""
        exp = {str(ip_network(p)) for p in expected}

        def check() -> list[GobgpRoute] | None:
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
        for args in (
            ("global",),
            ("neighbor",),
            ("global", "rib", "-a", "ipv4"),
            ("global", "rib", "-a", "ipv6"),
        ):
            try:
                parts.append(f"$ gobgp {' '.join(args)}\n{self.gobgp(*args, timeout=10)}")
            except Exception as exc:  # one failing dump must not hide the others
                parts.append(f"$ gobgp {' '.join(args)}\n<failed: {exc!r}>")
        return "\n\n".join(parts)


def gobgp_available() -> str | None:
    """Why GoBGP lab tests cannot run here, or None if they can."""
    for b in (GOBGPD, GOBGP):
        if shutil.which(b) is None:
            return f"{b} not found: run scripts/setup.sh (Debian package gobgpd)"
    return None
