"""Drivers for real BIRD daemons in lab hosts: BIRD 2 as a generic BGP speaker, and BIRD 1.6
configured exactly the way calico-node 3.x configures it (3.1's template by default, 3.2x's
confd with `CalicoBird(confd="3.29")`, tests/lab/confd.py).

Both drivers share the query side (`birdc`, `protocols()`, `routes()`), which parses the
output of BIRD 2.0.12 and BIRD 1.6.8 as they really print it. birdc is always run with
``-v`` so every reply line carries BIRD's numeric reply code: 8xxx/9xxx codes are errors
(which BIRD 1.6's birdc otherwise reports with exit status 0), and the codes tell table
rows (1002, 1007, 1008, 1012) from headers.

Session layout (BIRD 2): one BGP session per neighbour address, carrying that address's
family only: IPv4 unicast over an IPv4 session, IPv6 unicast over an IPv6 session. That is
what a Calico node does (bird and bird6 are separate processes with separate sessions) and
what pyrr's config lists (one `[[peer]]` per address), so the interop tests exercise the
layout pyrr meets in production, and neither family depends on next-hop tricks
(an IPv6 route over an IPv4 session needs an explicit IPv6 next hop). A neighbour may still
ask for both families on one session (`Neighbor(families=("ipv4", "ipv6"))`): the
"foreign" channel then gets `next hop address` set to this host's address of that family.

Routes announced are `blackhole` static routes: they only ever live in BGP tables. No
`protocol kernel` exports anything, so no namespace's FIB changes and no traffic is sent to
an announced prefix. The one exception is calico-node 3.2x's kernel export
(`calico_kernel_programming`): it programs what is neither in a pool nor a service range
into the node's own namespace, as calico-node does (in the labs, a top-of-rack router's
routes); pool routes, and anything outside 198.18.0.0/15 and 2001:db8::/32, stay out.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Literal, Self

from . import confd
from .confd import BGPFilter, CalicoPeer
from .netns import GiveUp, Host, LabError, LabProcess, wait_until

Family = Literal["ipv4", "ipv6"]

BIRD16_DIR = Path(os.environ.get("PYRR_BIRD16_DIR", "/opt/bird16"))
DEFAULT_ASN = 64512


class BirdError(LabError):
    """birdc reported an error (reply code 8xxx/9xxx), or BIRD did not do what was asked."""


class DaemonExited(BirdError, GiveUp):
    """A daemon the test expects to be running has exited (ends any `wait_until` at once)."""


# --- parsed output ------------------------------------------------------------------------


@dataclass(frozen=True)
class Protocol:
    """One row of `show protocols`."""

    name: str
    proto: str  # "BGP", "Static", "Device", ...
    table: str  # "---" (BIRD 2 multi-channel), "master4", "master" (1.6), ...
    state: str  # "up", "down", "start", ...
    since: str
    info: str  # for BGP: "Established", "Active        Socket: ...", "Connect", ...

    @property
    def bgp_state(self) -> str:
        """First word of `info`: "Established", "Active", "Connect", "Idle", ... or ""."""
        return self.info.split()[0] if self.info else ""

    @property
    def established(self) -> bool:
        return self.bgp_state == "Established"


@dataclass(frozen=True)
class Route:
    """One route (one path: with add-paths a prefix can have several) of `show route all`."""

    prefix: str
    dest: str  # "unicast", "blackhole", "unreachable", "device", "multipath", ...
    protocol: str  # the protocol that brought it, e.g. "peer_198_18_0_104"
    since: str
    from_addr: str | None  # "from X": the BGP speaker it came from, when not the gateway
    primary: bool  # "*": the best route for the prefix
    preference: int
    gateway: str | None  # the resolved "via" address
    interface: str | None
    type: str  # the "Type:" line, e.g. "BGP univ" (2.x) or "BGP unicast univ" (1.6)
    attrs: dict[str, str] = field(default_factory=dict)  # "BGP.next_hop" -> "198.18.0.102"

    @property
    def next_hop(self) -> str | None:
        """BGP.next_hop's first address (1.6 appends the IPv6 link-local one after a space)."""
        v = self.attrs.get("BGP.next_hop")
        return v.split()[0] if v else None

    @property
    def next_hops(self) -> list[str]:
        v = self.attrs.get("BGP.next_hop")
        return v.split() if v else []

    @property
    def as_path(self) -> list[int]:
        # AS_SET segments print as "{1 2}": keep the numbers, drop the braces.
        return [int(t) for t in re.findall(r"\d+", self.attrs.get("BGP.as_path", ""))]

    @property
    def local_pref(self) -> int | None:
        v = self.attrs.get("BGP.local_pref")
        return int(v) if v else None

    @property
    def med(self) -> int | None:
        v = self.attrs.get("BGP.med")
        return int(v) if v else None

    @property
    def origin(self) -> str | None:
        return self.attrs.get("BGP.origin")

    @property
    def originator_id(self) -> str | None:
        return self.attrs.get("BGP.originator_id")

    @property
    def cluster_list(self) -> list[str]:
        return self.attrs.get("BGP.cluster_list", "").split()

    @property
    def communities(self) -> list[tuple[int, int]]:
        return [
            (int(a), int(b))
            for a, b in re.findall(r"\((\d+),\s*(\d+)\)", self.attrs.get("BGP.community", ""))
        ]

    @property
    def is_bgp(self) -> bool:
        return self.type.startswith("BGP")


_REPLY_RE = re.compile(r"^(\d{4})([ -])(.*)$")
# "<dest> [<proto> <since>[ from <addr>]] [*] (<pref>[/<metric>]) [<as path summary>]"
_ROUTE_HEAD_RE = re.compile(
    r"^(?P<dest>.*?)\s*\[(?P<proto>\S+)\s+(?P<since>[^\]]*?)(?:\s+from\s+(?P<from>\S+))?\]"
    r"\s*(?P<primary>\*)?\s*\((?P<pref>\d+)(?:/[^)]*)?\)(?:\s*\[(?P<summary>[^\]]*)\])?\s*$"
)
_VIA_RE = re.compile(r"via\s+(\S+)(?:\s+on\s+(\S+))?")
_DEV_RE = re.compile(r"(?:^|\s)dev\s+(\S+)")
_ROUTE_CODES = (1007, 1008, 1012)  # `show route all`: headers, "Type:" lines, attributes


def parse_reply(text: str) -> list[tuple[int, str]]:
    """Split `birdc -v` output into (reply code, text) lines.

    Continuation lines (5 spaces instead of "CODE-") inherit the previous code. Raises
    BirdError on error codes and on birdc's own "No such command".
    """
    out: list[tuple[int, str]] = []
    code = 0
    for raw in text.splitlines():
        m = _REPLY_RE.match(raw)
        if m:
            code = int(m.group(1))
            line = m.group(3)
        elif raw.startswith("     ") or raw == "":
            line = raw[5:]
        else:
            # birdc's own messages ("No such command. Press `?' for help.") carry no code.
            raise BirdError(f"birdc: {raw}")
        if code >= 8000:
            raise BirdError(f"birdc error {code}: {line}")
        out.append((code, line))
    return out


def parse_protocols(reply: list[tuple[int, str]]) -> list[Protocol]:
    """Rows of `show protocols` (reply code 1002); the 2002 header is skipped."""
    rows: list[Protocol] = []
    for code, line in reply:
        if code != 1002 or not line.strip() or line.startswith(" "):
            continue  # `show protocols all` details are indented under their row
        toks = line.split()
        if len(toks) < 5:
            continue
        name, proto, table, state = toks[:4]
        rest = toks[4:]
        # "since" is one token ("01:52:03", "01:52:03.654", "2026-11-30"), or two when a
        # date is followed by a time ("2026-11-30 01:52:03").
        n_since = (
            2
            if len(rest) > 1
            and re.fullmatch(r"\d{4}-\d\d-\d\d", rest[0])
            and re.match(r"\d\d:\d\d", rest[1])
            else 1
        )
        since = " ".join(rest[:n_since])
        # Keep the info text's own spacing ("Active        Socket: Connection refused").
        idx = line.find(rest[n_since - 1]) + len(rest[n_since - 1])
        info = line[idx:].strip()
        rows.append(Protocol(name, proto, table, state, since, info))
    return rows


def parse_routes(reply: list[tuple[int, str]]) -> list[Route]:
    """Routes of `show route all` from BIRD 2.x or 1.6.

    Reply codes: 1007 route headers (and BIRD 2's next-hop lines), 1008 the "Type:" line,
    1012 the protocol attributes (BGP.*).

    BIRD 2.x::

        10.10.2.0/26         unicast [p4 01:51:08.549 from 198.18.0.104] * (100) [i]
        \\tvia 198.18.0.2 on eth0
        \\tType: BGP univ
        \\tBGP.next_hop: 198.18.0.2
                             unicast [p5 01:51:08.549] (100) [i]      <- same prefix, 2nd path

    BIRD 1.6::

        10.10.2.0/26       via 198.18.0.102 on eth0 [G_x 01:52:03 from 198.18.0.104] * (100/0) [i]
        \\tType: BGP unicast univ
        \\tBGP.next_hop: 198.18.0.102
    """
    routes: list[Route] = []
    path: _PathBeingRead | None = None
    prefix = ""
    for code, line in reply:
        if code not in _ROUTE_CODES or not line.strip():
            continue
        if line.startswith("\t"):
            if path is not None:
                path.detail(code, line.strip())
            continue
        # A table header or a route header: either ends the path being read.
        if path is not None:
            routes.append(path.route())
            path = None
        if not _is_table_header(line):
            prefix, path = _route_header(line, prefix)
    if path is not None:
        routes.append(path.route())
    return routes


@dataclass
class _PathBeingRead:
    """A route header of `show route all`, filled in by the tab-indented lines under it."""

    prefix: str
    dest: str
    protocol: str
    since: str
    from_addr: str | None
    primary: bool
    preference: int
    gateway: str | None
    interface: str | None
    attrs: dict[str, str] = field(default_factory=dict)

    def detail(self, code: int, body: str) -> None:
        """One line under the header: a BIRD 2 next hop (1007) or an attribute ("Key: value")."""
        if code == 1007:
            self._next_hop(body)
            return
        key, sep, value = body.partition(":")
        if sep:
            self.attrs[key.strip()] = value.strip()

    def _next_hop(self, body: str) -> None:
        # A next-hop line of BIRD 2 ("via X on eth0", "dev eth0"), possibly one of several for
        # a multipath route: keep the first as the gateway.
        m = _VIA_RE.search(body)
        if m and self.gateway is None:
            self.gateway, self.interface = m.group(1), m.group(2)
        d = _DEV_RE.search(body)
        if d and self.interface is None:
            self.interface = d.group(1)

    def route(self) -> Route:
        return Route(
            prefix=self.prefix,
            dest=self.dest,
            protocol=self.protocol,
            since=self.since,
            from_addr=self.from_addr,
            primary=self.primary,
            preference=self.preference,
            gateway=self.gateway,
            interface=self.interface,
            type=self.attrs.pop("Type", ""),
            attrs=self.attrs,
        )


def _is_table_header(line: str) -> bool:
    return line.startswith("Table ") and line.rstrip().endswith(":")


def _route_header(line: str, prefix: str) -> tuple[str, _PathBeingRead]:
    """A route header: a new prefix at column 0, or another path for the same `prefix`
    (indented with spaces). Returns the prefix it is for, and the path it starts."""
    head = line
    if not line[0].isspace():
        prefix, _, head = line.partition(" ")
    m = _ROUTE_HEAD_RE.match(head.strip())
    if not m:
        raise BirdError(f"cannot parse route line: {line!r}")
    dest, gateway, interface = _header_destination(m.group("dest").strip())
    return prefix, _PathBeingRead(
        prefix=prefix,
        dest=dest,
        protocol=m.group("proto"),
        since=m.group("since"),
        from_addr=m.group("from"),
        primary=m.group("primary") is not None,
        preference=int(m.group("pref")),
        gateway=gateway,
        interface=interface,
    )


def _header_destination(dest: str) -> tuple[str, str | None, str | None]:
    """(dest, gateway, interface) of a header's destination. BIRD 1.6 puts the next hop there:
    "via X on eth0" is a unicast route, "dev eth0" a device route."""
    v = _VIA_RE.search(dest)
    if v:
        return "unicast", v.group(1), v.group(2)
    d = _DEV_RE.search(dest)
    if d:
        return "device", None, d.group(1)
    return dest, None, None


def family_of(prefix_or_address: str) -> Family:
    return "ipv6" if ":" in prefix_or_address else "ipv4"


def protocol_name(address: str, prefix: str = "peer") -> str:
    """A BIRD protocol name for a neighbour, Calico-style: 198.18.0.1 -> peer_198_18_0_1."""
    return f"{prefix}_" + re.sub(r"[.:]", "_", str(ip_address(address)))


# --- the common daemon driver -------------------------------------------------------------


class _BirdDaemon:
    """One BIRD process in a lab host: files, start/stop, and the birdc query side."""

    def __init__(self, host: Host, name: str, bird: str, birdc: str) -> None:
        self.host = host
        self.name = name  # file stem: <name>.conf, <name>.ctl, <name>.pid, <name>.log
        self.bird_bin = bird
        self.birdc_bin = birdc
        self.conf_path = host.dir / f"{name}.conf"
        self.ctl_path = host.dir / f"{name}.ctl"
        self.pid_path = host.dir / f"{name}.pid"
        self.log_path = host.dir / f"{name}.log"
        self.process: LabProcess | None = None
        host.lab.add_diagnostic(f"{host.name}-{name}", self._diagnostic)

    # subclasses render their own config
    def render_config(self) -> str:
        raise NotImplementedError

    # Start with -R (graceful restart recovery: the Restart State bit, wait for peers'
    # End-of-RIB) — what a restart without loss needs.
    recovery = False

    def start_argv(self) -> list[str]:
        return [
            self.bird_bin, "-f", "-c", str(self.conf_path), "-s", str(self.ctl_path),
            "-P", str(self.pid_path), *(["-R"] if self.recovery else []),
        ]  # fmt: skip

    def write_config(self) -> Path:
        self.conf_path.write_text(self.render_config())
        return self.conf_path

    def check_config(self) -> None:
        """`bird -p`: parse the config without starting; raises BirdError with the message."""
        cp = self.host.run(
            [self.bird_bin, "-p", "-c", str(self.conf_path)], check=False, timeout=15
        )
        if cp.returncode != 0:
            raise BirdError(
                f"{self.host.name}/{self.name}: bad config {self.conf_path}:\n"
                f"{cp.stdout}{cp.stderr}\n--- config ---\n{self.conf_path.read_text()}"
            )

    def start(self, wait: bool = True, timeout: float = 15.0) -> Self:
        """Write the config, check it, start the daemon; by default wait until birdc answers."""
        if self.running():
            raise BirdError(f"{self.host.name}/{self.name} is already running")
        self.write_config()
        self.check_config()
        self.ctl_path.unlink(missing_ok=True)  # so "birdc answers" means *this* process
        self.process = self.host.popen(self.start_argv(), log=self.log_path)
        if wait:
            self.wait_ready(timeout)
        return self

    def check_alive(self) -> None:
        """Raise DaemonExited (with the log tail) if the daemon we started has exited."""
        if self.process is not None and not self.process.alive():
            raise DaemonExited(
                f"{self.host.name}/{self.name} exited with {self.process.returncode}:\n"
                + self.process.log_text()[-2000:]
            )

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Wait until birdc gets an answer (the control socket is up)."""

        def ready() -> bool:
            self.check_alive()
            self.birdc("show", "status")
            return True

        wait_until(ready, timeout, 0.1, f"{self.host.name}/{self.name} control socket")

    def running(self) -> bool:
        return self.process is not None and self.process.alive()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: BIRD shuts down cleanly, sending a Cease NOTIFICATION to each peer."""
        if self.process is not None:
            self.process.terminate(timeout)

    def kill9(self) -> None:
        """SIGKILL: no NOTIFICATION; the kernel closes the TCP sessions (FIN/RST)."""
        if self.process is not None:
            self.process.kill()

    def restart(self, wait: bool = True) -> None:
        """Stop (cleanly) and start again with the current config."""
        self.stop()
        self.start(wait=wait)

    def configure(self) -> str:
        """Rewrite the config and `birdc configure`; raises BirdError if BIRD rejects it."""
        self.write_config()
        self.check_config()
        out = self.birdc("configure")
        if "Reconfigured" not in out and "Reconfiguration in progress" not in out:
            raise BirdError(f"{self.host.name}/{self.name}: configure: {out}")
        return out

    # --- queries -----------------------------------------------------------------------

    def birdc_reply(self, *cmd: str, timeout: float = 20.0) -> list[tuple[int, str]]:
        cp = self.host.run(
            [self.birdc_bin, "-v", "-s", str(self.ctl_path), *cmd], check=False, timeout=timeout
        )
        if cp.returncode != 0 and not cp.stdout.strip():
            raise BirdError(
                f"birdc {' '.join(cmd)} on {self.host.name}/{self.name} failed "
                f"({cp.returncode}): {cp.stderr.strip()}"
            )
        return parse_reply(cp.stdout)

    def birdc(self, *cmd: str, timeout: float = 20.0) -> str:
        """Run a birdc command; return its text without reply codes and banner."""
        reply = self.birdc_reply(*cmd, timeout=timeout)
        return "\n".join(line for code, line in reply if code != 1)

    def protocols(self) -> list[Protocol]:
        return parse_protocols(self.birdc_reply("show", "protocols"))

    def protocol(self, name: str) -> Protocol:
        for p in self.protocols():
            if p.name == name:
                return p
        raise BirdError(f"{self.host.name}/{self.name}: no protocol {name!r}")

    def bgp_protocols(self) -> list[Protocol]:
        return [p for p in self.protocols() if p.proto == "BGP"]

    def _show_route(
        self, table: str | None, protocol: str | None, export: str | None
    ) -> list[Route]:
        cmd = ["show", "route"]
        if table:
            cmd += ["table", table]
        if protocol:
            cmd += ["protocol", protocol]
        if export:
            cmd += ["export", export]
        cmd.append("all")
        return parse_routes(self.birdc_reply(*cmd))

    def wait_established(
        self, names: Iterable[str] | None = None, timeout: float = 30.0
    ) -> list[Protocol]:
        """Wait until the named BGP protocols (default: all of them) are Established."""
        wanted = set(names) if names is not None else None

        def check() -> list[Protocol] | None:
            self.check_alive()
            protos = [p for p in self.bgp_protocols() if wanted is None or p.name in wanted]
            if wanted is not None and {p.name for p in protos} != wanted:
                raise BirdError(f"missing protocols: {wanted - {p.name for p in protos}}")
            return protos if protos and all(p.established for p in protos) else None

        return wait_until(
            check, timeout, 0.25, f"{self.host.name}/{self.name}: BGP sessions Established"
        )

    def _diagnostic(self) -> str:
        if not self.running():
            return "(not running)"
        parts = []
        for cmd in (("show", "status"), ("show", "protocols", "all"), ("show", "route", "all")):
            try:
                parts.append(f"$ birdc {' '.join(cmd)}\n{self.birdc(*cmd, timeout=10)}")
            except Exception as exc:  # one failing dump must not hide the others
                parts.append(f"$ birdc {' '.join(cmd)}\n<failed: {exc!r}>")
        return "\n\n".join(parts)


# --- BIRD 2 ---------------------------------------------------------------------------------


@dataclass
class Neighbor:
    """One BGP neighbour of a `Bird2` speaker (one BGP session)."""

    address: str
    asn: int | None = None  # None: the speaker's own AS (iBGP)
    name: str | None = None  # BIRD protocol name; default peer_<address>
    families: tuple[Family, ...] | None = None  # default: the address's own family
    rr_client: bool = False  # we reflect to it (used when BIRD plays the RR)
    passive: bool = False
    hold_time: int | None = None  # None: BIRD's default (240)
    keepalive_time: int | None = None
    password: str | None = None  # TCP MD5 (RFC 2385)
    graceful_restart: bool | None = None  # None: BIRD's default ("aware")
    graceful_restart_time: int | None = None
    long_lived_stale_time: int | None = None
    add_paths: Literal["rx", "tx", "on"] | None = None
    next_hop_self: bool = False
    port: int | None = None
    extra: str = ""  # raw statements for the protocol block, for anything not covered

    @property
    def protocol_name(self) -> str:
        return self.name or protocol_name(self.address)


class Bird2(_BirdDaemon):
    """A BIRD 2 BGP speaker announcing blackhole static routes to its neighbours.

    Example::

        b1 = Bird2(host, neighbors=[Neighbor(rr.ip4), Neighbor(rr.ip6)],
                   routes=["10.10.1.0/26", "2001:db8:1001::/64"]).start()
        b1.wait_established()
        b1.routes("master6")
    """

    def __init__(
        self,
        host: Host,
        neighbors: Sequence[Neighbor | str] = (),
        routes: Iterable[str] = (),
        *,
        asn: int = DEFAULT_ASN,
        router_id: str | None = None,
        name: str = "bird",
        connect_delay: int = 1,
        connect_retry: int = 2,
        error_wait: tuple[int, int] = (1, 5),
        debug: str = "states, events",
        bird: str = "bird",
        birdc: str = "birdc",
    ) -> None:
        super().__init__(host, name, bird, birdc)
        self.asn = asn
        self.router_id = router_id or host.ip4
        self.neighbors: list[Neighbor] = [
            n if isinstance(n, Neighbor) else Neighbor(n) for n in neighbors
        ]
        self.static: list[str] = []
        for r in routes:
            self._add_static(r)
        # BIRD's defaults (connect retry 120 s, error wait 60-300 s) would make a test
        # sit idle for minutes after a failed connect or a peer restart.
        self.connect_delay = connect_delay
        self.connect_retry = connect_retry
        self.error_wait = error_wait
        self.debug = debug

    def _add_static(self, prefix: str) -> str:
        p = str(ip_network(prefix))  # validates and normalises
        if p not in self.static:
            self.static.append(p)
        return p

    def render_config(self) -> str:
        h = self.host
        static4 = [p for p in self.static if family_of(p) == "ipv4"]
        static6 = [p for p in self.static if family_of(p) == "ipv6"]
        lines = [
            f"# Rendered by tests/lab/bird.py (Bird2) for lab host {h.name}.",
            f"router id {self.router_id};",
            "log stderr all;",
            f"debug protocols {{ {self.debug} }};" if self.debug else "",
            "",
            "# Connected routes live in their own tables: they resolve BGP next hops",
            "# (gateway recursive, the iBGP default) without being exported to peers,",
            "# so master4/master6 hold only our static routes and what BGP learned.",
            "ipv4 table igp4;",
            "ipv6 table igp6;",
            "protocol device { scan time 2; }",
            "protocol direct {",
            "  ipv4 { table igp4; };",
            "  ipv6 { table igp6; };",
            '  interface "eth0";',
            "}",
            "",
            "# No `protocol kernel`: nothing is ever written to the namespace's FIB.",
            "protocol static static4 {",
            "  ipv4;",
            *[f"  route {p} blackhole;" for p in static4],
            "}",
            "protocol static static6 {",
            "  ipv6;",
            *[f"  route {p} blackhole;" for p in static6],
            "}",
        ]
        for n in self.neighbors:
            lines += ["", *self._render_neighbor(n)]
        return "\n".join(lines) + "\n"

    def _render_neighbor(self, n: Neighbor) -> list[str]:
        h = self.host
        session_family = family_of(n.address)
        local = h.ip4 if session_family == "ipv4" else h.ip6
        families = n.families or (session_family,)
        out = [
            f"protocol bgp {n.protocol_name} {{",
            f'  description "lab neighbour {n.address}";',
            f"  local {local} as {self.asn};",
            f"  neighbor {n.address}{f' port {n.port}' if n.port else ''} as {n.asn or self.asn};",
            f"  connect delay time {self.connect_delay};",
            f"  connect retry time {self.connect_retry};",
            f"  error wait time {self.error_wait[0]}, {self.error_wait[1]};",
        ]
        if n.passive:
            out.append("  passive on;")
        if n.hold_time is not None:
            out.append(f"  hold time {n.hold_time};")
        if n.keepalive_time is not None:
            out.append(f"  keepalive time {n.keepalive_time};")
        if n.rr_client:
            out.append("  rr client;")
        if n.password is not None:
            out.append(f'  password "{n.password}";')
        if n.graceful_restart is not None:
            out.append(f"  graceful restart {'on' if n.graceful_restart else 'off'};")
        if n.graceful_restart_time is not None:
            out.append(f"  graceful restart time {n.graceful_restart_time};")
        if n.long_lived_stale_time is not None:
            out.append("  long lived graceful restart on;")
            out.append(f"  long lived stale time {n.long_lived_stale_time};")
        if n.extra:
            out += [f"  {line}" for line in n.extra.splitlines()]
        for fam in families:
            ch = [
                "import all;",
                "export all;",
                f"igp table {'igp4' if fam == 'ipv4' else 'igp6'};",
            ]
            if n.add_paths:
                ch.append(f"add paths {n.add_paths};")
            if n.next_hop_self:
                ch.append("next hop self;")
            if fam != session_family:
                # Routes of the other family need a next hop of their family; the session's
                # own address cannot be used.
                ch.append(f"next hop address {h.ip4 if fam == 'ipv4' else h.ip6};")
            out.append(f"  {fam} {{ {' '.join(ch)} }};")
        out.append("}")
        return out

    # --- changing what we announce / whom we peer with --------------------------------

    def add_route(self, prefix: str) -> None:
        """Announce one more blackhole route (config rewrite + `birdc configure`)."""
        self._add_static(prefix)
        if self.running():
            self.configure()

    def remove_route(self, prefix: str) -> None:
        """Stop announcing a route: its peers get a withdrawal."""
        p = str(ip_network(prefix))
        self.static.remove(p)
        if self.running():
            self.configure()

    def add_neighbor(self, neighbor: Neighbor | str) -> Neighbor:
        n = neighbor if isinstance(neighbor, Neighbor) else Neighbor(neighbor)
        self.neighbors.append(n)
        if self.running():
            self.configure()
        return n

    def remove_neighbor(self, address: str) -> None:
        self.neighbors = [n for n in self.neighbors if n.address != address]
        if self.running():
            self.configure()

    def graceful_restart(self, down_for: float = 0.0, wait: bool = True) -> None:
        """`birdc graceful restart` (BIRD exits keeping its peers' GR state), then start again.

        Peers that negotiated graceful restart keep our routes as stale meanwhile.
        """
        # The daemon may close the socket before its reply is complete.
        with contextlib.suppress(BirdError):
            self.birdc("graceful", "restart")
        if self.process is not None:
            try:
                self.process.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if down_for:
            time.sleep(down_for)
        self.start(wait=wait)

    def routes(
        self,
        table: str | None = "master4",
        protocol: str | None = None,
        export: str | None = None,
    ) -> list[Route]:
        """Parsed `show route [table T] [protocol P] [export P] all` (default table master4)."""
        return self._show_route(table, protocol, export)

    def routes_for(self, family: Family) -> list[Route]:
        return self.routes("master4" if family == "ipv4" else "master6")

    def prefixes(self, family: Family = "ipv4", protocol: str | None = None) -> set[str]:
        t = "master4" if family == "ipv4" else "master6"
        return {r.prefix for r in self.routes(t, protocol=protocol)}


# --- BIRD 1.6, Calico-style -----------------------------------------------------------------


class Bird16(_BirdDaemon):
    """One BIRD 1.6 process (bird for IPv4 or bird6 for IPv6) with calico-node's config."""

    def __init__(self, node: CalicoBird, family: Family) -> None:
        v6 = family == "ipv6"
        bindir = node.bird16_dir / "usr" / "sbin"
        super().__init__(
            node.host,
            "bird6" if v6 else "bird",
            str(bindir / ("bird6" if v6 else "bird")),
            str(bindir / ("birdc6" if v6 else "birdc")),
        )
        self.node = node
        self.family: Family = family

    def start_argv(self) -> list[str]:
        # calico-node runs `bird -R -s <ctl> -d -c <cfg>`: -R = graceful restart recovery,
        # -d = debug messages to stderr (and foreground). -f is redundant with -d but makes
        # the foreground requirement explicit; -P helps debugging.
        return [
            self.bird_bin, "-R", "-s", str(self.ctl_path), "-d", "-f", "-c", str(self.conf_path),
            "-P", str(self.pid_path),
        ]  # fmt: skip

    def render_config(self) -> str:
        n = self.node
        if n.confd != "3.1":
            return self.render_confd()
        v6 = self.family == "ipv6"
        node_ip = n.host.ip6 if v6 else n.host.ip4
        pools = n.pools6 if v6 else n.pools4
        blocks = [b for b in n.blocks if family_of(b) == self.family]
        peers = [p for p in n.peers if family_of(p) == self.family]
        pool_tests = " ".join(f"if ( net ~ {p} ) then {{ accept; }}" for p in pools)
        lines = [
            "# Generated by tests/lab/bird.py in the form calico-node 3.x (confd) renders.",
            f"router id {n.host.ip4};",  # bird6 too: BIRD 1.6 router ids are IPv4-shaped
            "",
            f"filter calico_pools {{ {pool_tests} reject; }}",
            "",
            "# Calico exports pod routes to the kernel; here `export none` so the lab never",
            "# programs a namespace's FIB.",
            "protocol kernel {",
            "  learn;             # Learn all alien routes from the kernel",
            "  persist;           # Don't remove routes on bird shutdown",
            "  scan time 2;       # Scan kernel routing table every 2 seconds",
            "  import all;",
            "  export none;",
            "  graceful restart;",
            "}",
            "",
            "protocol device {",
            "  debug { states };",
            "  scan time 2;    # Scan interfaces every 2 seconds",
            "}",
            "",
            "protocol direct {",
            "  debug { states };",
            '  interface -"cali*", "*";',
            "}",
            "",
            "protocol static {",
            *[f"  route {b} blackhole;" for b in blocks],
            "}",
            "",
            "template bgp bgp_template {",
            "  debug { states };",
            '  description "Connection to BGP peer";',
            f"  local as {n.asn};",
            "  multihop;",
            "  gateway recursive;",
            "  import all;",
            "  export filter calico_pools;",
        ]
        if n.next_hop_self:
            lines.append("  next hop self;")
        lines += [
            f"  source address {node_ip};",
            "  add paths on;",
            "  graceful restart;",
            "  connect delay time 2;",
            "  connect retry time 5;",
            "  error wait time 5,30;",
            "}",
        ]
        for peer in peers:
            lines += [
                "",
                f"protocol bgp {protocol_name(peer, n.peer_prefix)} from bgp_template {{",
                f"  neighbor {peer} as {n.peer_asn or n.asn};",
            ]
            if n.passive:
                lines.append("  passive on;")
            lines.append("}")
        return "\n".join(lines) + "\n"

    def render_confd(self) -> str:
        """The file calico-node 3.2x's confd renders (tests/lab/confd.py)."""
        n = self.node
        v6 = self.family == "ipv6"
        return confd.render(
            confd.ConfdNode(
                name=n.name,
                family=self.family,
                router_id=n.host.ip4,
                node_ip=n.host.ip6 if v6 else n.host.ip4,
                asn=n.asn,
                blocks=[b for b in n.blocks if family_of(b) == self.family],
                pools=n.pools6 if v6 else n.pools4,
                static_routes=[r for r in n.static_routes if family_of(r) == self.family],
                reject_cidrs=[r for r in n.reject_cidrs if family_of(r) == self.family],
                peers=[p for p in n.sessions if p.family == self.family],
                filters=n.filters,
                cluster_id=n.cluster_id,
            )
        )

    def routes(self, protocol: str | None = None, export: str | None = None) -> list[Route]:
        return self._show_route(None, protocol, export)


class CalicoBird:
    """A Calico node's BGP side: `bird` (IPv4) and `bird6` (IPv6), BIRD 1.6, two sessions.

    `peers` are the addresses it peers with (Calico "global peers", typically the route
    reflector's IPv4 and IPv6 addresses); each goes to the daemon of its family.
    `blocks` are the node's pod CIDR blocks (announced as blackhole static routes);
    only those inside `pools4`/`pools6` pass the export filter, as in Calico.

    `confd="3.1"` (the default) renders calico-node 3.1's template (one template for every
    peer, `Global_` protocols, `next hop self`); `confd="3.29"` renders calico-node 3.2x's
    (tests/lab/confd.py): `peers` may then be `CalicoPeer`s with their BGPPeer's settings
    (`Node_` protocols for selector BGPPeers, ttl security, password, BGPFilters), and the
    node has `static_routes` (service addresses), `reject_cidrs` and `filters`.
    """

    def __init__(
        self,
        host: Host,
        peers: Sequence[str | CalicoPeer],
        blocks: Iterable[str] = (),
        *,
        asn: int = DEFAULT_ASN,
        peer_asn: int | None = None,
        pools4: Sequence[str] = ("10.10.0.0/16",),
        pools6: Sequence[str] = ("2001:db8:1000::/36",),
        passive: bool = False,
        next_hop_self: bool = True,
        peer_prefix: str = "Global",
        bird16_dir: Path | None = None,
        confd: Literal["3.1", "3.29"] = "3.1",
        name: str | None = None,
        static_routes: Sequence[str] = (),
        reject_cidrs: Sequence[str] = (),
        filters: Sequence[BGPFilter] = (),
        cluster_id: str | None = None,
    ) -> None:
        self.host = host
        self.confd = confd
        self.name = name or host.name
        self.sessions = [
            p if isinstance(p, CalicoPeer) else CalicoPeer(str(ip_address(p)), asn=peer_asn)
            for p in peers
        ]
        if confd == "3.1":
            assert all(p == CalicoPeer(p.address, asn=peer_asn) for p in self.sessions), (
                "per-peer settings need confd='3.29'"
            )
        self.peers = [str(ip_address(p.address)) for p in self.sessions]
        self.static_routes = [str(ip_network(r)) for r in static_routes]
        self.reject_cidrs = [str(ip_network(r)) for r in reject_cidrs]
        self.filters = list(filters)
        self.cluster_id = cluster_id
        self.blocks: list[str] = []
        for b in blocks:
            self._add_block(b)
        self.asn = asn
        self.peer_asn = peer_asn
        self.pools4 = list(pools4)
        self.pools6 = list(pools6)
        self.passive = passive
        self.next_hop_self = next_hop_self
        self.peer_prefix = peer_prefix
        self.bird16_dir = bird16_dir or BIRD16_DIR
        if not (self.bird16_dir / "usr" / "sbin" / "bird").exists():
            raise BirdError(
                f"BIRD 1.6 not found in {self.bird16_dir}: run scripts/setup.sh "
                "(or set PYRR_BIRD16_DIR)"
            )
        self.bird4 = Bird16(self, "ipv4")
        self.bird6 = Bird16(self, "ipv6")

    def _add_block(self, prefix: str) -> str:
        p = str(ip_network(prefix))
        if p not in self.blocks:
            self.blocks.append(p)
        return p

    def daemon(self, family: Family) -> Bird16:
        return self.bird4 if family == "ipv4" else self.bird6

    @property
    def daemons(self) -> tuple[Bird16, Bird16]:
        return (self.bird4, self.bird6)

    def peer_protocol(self, address: str) -> str:
        """The BIRD protocol name for a peer, as Calico names it (Global_198_18_0_104, or
        Node_198_18_0_104 for a selector BGPPeer's peering with confd 3.29)."""
        if self.confd == "3.1":
            return protocol_name(address, self.peer_prefix)
        wanted = str(ip_address(address))
        for p in self.sessions:
            if str(ip_address(p.address)) == wanted:
                return p.protocol
        raise BirdError(f"{self.host.name}: no peering with {address}")

    def start(self, wait: bool = True) -> Self:
        for d in self.daemons:
            d.start(wait=wait)
        return self

    def stop(self) -> None:
        for d in self.daemons:
            d.stop()

    def kill9(self) -> None:
        for d in self.daemons:
            d.kill9()

    def restart(self, wait: bool = True) -> None:
        """What a calico-node restart does: stop both, start both (with -R)."""
        self.stop()
        self.start(wait=wait)

    def configure(self) -> None:
        for d in self.daemons:
            d.configure()

    def add_route(self, prefix: str) -> None:
        """Add a pod block (a blackhole static route) and reconfigure its daemon."""
        p = self._add_block(prefix)
        d = self.daemon(family_of(p))
        if d.running():
            d.configure()

    def remove_route(self, prefix: str) -> None:
        p = str(ip_network(prefix))
        self.blocks.remove(p)
        d = self.daemon(family_of(p))
        if d.running():
            d.configure()

    def birdc(self, *cmd: str, family: Family = "ipv4") -> str:
        return self.daemon(family).birdc(*cmd)

    def protocols(self, family: Family | None = None) -> list[Protocol]:
        """`show protocols` of one daemon, or of both (bird's first) when family is None."""
        if family is not None:
            return self.daemon(family).protocols()
        return self.bird4.protocols() + self.bird6.protocols()

    def routes(
        self, family: Family = "ipv4", protocol: str | None = None, export: str | None = None
    ) -> list[Route]:
        return self.daemon(family).routes(protocol=protocol, export=export)

    def prefixes(self, family: Family = "ipv4", protocol: str | None = None) -> set[str]:
        return {r.prefix for r in self.routes(family, protocol=protocol)}

    def wait_established(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for d in self.daemons:
            if any(family_of(p) == d.family for p in self.peers):
                d.wait_established(timeout=max(1.0, deadline - time.monotonic()))

    def running(self) -> bool:
        return all(d.running() for d in self.daemons)
