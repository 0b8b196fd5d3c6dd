"""BIRD 1.6 configuration as calico-node 3.2x's confd renders it (`CalicoBird(confd="3.29")`).

The facts, from projectcalico/calico v3.29.0 (the last 3.2x release):

- `confd/etc/calico/confd/templates/bird.cfg.template` and `bird6.cfg.template` render one file
  per family: `apply_communities()`, the two included files below, the router id (the node's
  IPv4 address in both files), `protocol kernel` (`export filter calico_kernel_programming`,
  `merge paths on`), `protocol device`, `protocol direct`, `template bgp bgp_template`
  (`local as`, `gateway recursive`, `add paths on`, `graceful restart`, connect delay 2,
  connect retry 5, error wait 5,30; no `multihop`, `import` or `export` there any more), the
  BGPFilter functions, the mesh section, then one protocol per peering:
  `Global_<address>` for a BGPPeer without `node`/`nodeSelector`, `Node_<address>` for the
  others (what selector BGPPeers give: `/bgp/v1/host/<node>/peer_v4/<ip>`), the address with
  `.` or `:` turned into `_` and `_port_<n>` appended when a port is given. Each has
  `ttl security on; multihop <ttlSecurity>;` or `ttl security off; multihop;`,
  `neighbor <ip> as <AS>`, `source address <node ip>` (sourceAddress UseNodeIP, the default),
  `import filter { <BGPFilter import functions>(); accept; }`,
  `export filter { <BGPFilter export functions>(); calico_export_to_bgp_peers(<iBGP>); reject; }`,
  then `graceful restart time <maxRestartTime>`, `rr client; rr cluster id <own>` (only when
  this node has a cluster id, the peer is iBGP and its cluster id differs), `password`,
  `next hop keep` (eBGP with keepOriginalNextHop) and, on Global peerings to a Calico node
  whose address sorts after ours, `passive on`.
- `bird_aggr.cfg.template`: `protocol static` with the node's blocks and the static routes
  (service addresses, `/staticroutes`) as blackholes; `calico_aggr()` accepts each block
  and rejects what lies beneath it.
- `bird_ipam.cfg.template`: `calico_export_to_bgp_peers(bool internal_peer)` (disabled pools,
  tunnel and local routes rejected, `calico_aggr()`, the static routes and the pools accepted)
  and `calico_kernel_programming` (the service ranges, `/rejectcidrs`, are never programmed).
- `confd/pkg/backends/calico/client.go`: `updatePeersV1` (which peerings a node gets; with
  two BGPPeers for one pair the first emitted wins, in Go map order, i.e. either),
  `nodeAsBGPPeers` (a peer Node's address, AS, cluster id; the BGPPeer's `ttlSecurity` and
  `filters`), `setPeerConfigFieldsFromV3Resource` (the password read from the secret,
  `sourceAddress`, `maxRestartTime` rounded to seconds), `updateGlobalRoutes` (a service
  range is both a static route and a reject CIDR).
- `confd/pkg/resource/template/template_funcs.go`: `BGPFilterBIRDFuncs` (one function per
  BGPFilter, direction and family, `'bgp_<name>_importFilterV4'`, one
  `if ((net <op> <cidr>)) then { <action>; }` per rule, `=`/`!=`/`~`/`!~` for
  Equal/NotEqual/In/NotIn).

Departures, all about the namespace's kernel table, none about BGP: pool routes are kept out
of it (calico sets `krt_tunnel`, an attribute of its own BIRD build, and programs them), and
so is anything outside the lab's address space (198.18.0.0/15, 2001:db8::/32), where calico
accepts the rest. `debug` is `{ states }`, what logSeverityScreen Info gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from typing import Literal

Direction = Literal["import", "export"]
Action = Literal["Accept", "Reject"]
Operator = Literal["Equal", "NotEqual", "In", "NotIn"]

# The lab's address space (tests/lab/netns.py): the only routes a lab node's kernel gets.
LAB_SPACE: dict[str, str] = {"ipv4": "198.18.0.0/15", "ipv6": "2001:db8::/32"}
_OPERATORS: dict[str, str] = {"Equal": "=", "NotEqual": "!=", "In": "~", "NotIn": "!~"}
_MAX_FILTER_NAME = 64 - len("bgp__importFilterV4")  # BIRD's symbol length limit


@dataclass(frozen=True)
class FilterRule:
    """One rule of a BGPFilter (`action`, `cidr` + `matchOperator`)."""

    action: Action
    cidr: str | None = None
    match_operator: Operator | None = None

    def statement(self) -> str:
        action = f"{self.action.lower()};"
        if self.cidr is None:
            return action
        assert self.match_operator is not None, "a cidr needs a matchOperator"
        cidr = str(ip_network(self.cidr))
        return f"if ((net {_OPERATORS[self.match_operator]} {cidr})) then {{ {action} }}"

    def resource(self) -> dict[str, object]:
        out: dict[str, object] = {"action": self.action}
        if self.cidr is not None:
            out["cidr"] = self.cidr
            out["matchOperator"] = self.match_operator
        return out


@dataclass(frozen=True)
class BGPFilter:
    """A BGPFilter (Calico 3.26+): what etcd holds and the BIRD functions confd renders."""

    name: str
    import_v4: tuple[FilterRule, ...] = ()
    export_v4: tuple[FilterRule, ...] = ()
    import_v6: tuple[FilterRule, ...] = ()
    export_v6: tuple[FilterRule, ...] = ()

    def __post_init__(self) -> None:
        # Longer names are truncated and hashed by confd; the lab never needs that.
        assert len(self.name) <= _MAX_FILTER_NAME, f"BGPFilter name too long: {self.name}"

    def rules(self, direction: Direction, family: str) -> tuple[FilterRule, ...]:
        v4 = family == "ipv4"
        if direction == "import":
            return self.import_v4 if v4 else self.import_v6
        return self.export_v4 if v4 else self.export_v6

    def function_name(self, direction: Direction, family: str) -> str:
        version = "4" if family == "ipv4" else "6"
        return f"'bgp_{self.name}_{direction}FilterV{version}'"

    def functions(self, family: str) -> list[str]:
        """BGPFilterBIRDFuncs' lines for this filter and family."""
        version = "4" if family == "ipv4" else "6"
        if not (self.rules("import", family) or self.rules("export", family)):
            return []
        lines = [f"# v{version} BGPFilter {self.name}"]
        direction: Direction
        for direction in ("import", "export"):
            rules = self.rules(direction, family)
            if rules:
                lines.append(f"function {self.function_name(direction, family)}() {{")
                lines += [f"  {r.statement()}" for r in rules]
                lines.append("}")
        return lines

    def spec(self) -> dict[str, object]:
        """The resource's spec, as calicoctl stores it."""
        out: dict[str, object] = {}
        for key, rules in (
            ("exportV4", self.export_v4),
            ("importV4", self.import_v4),
            ("exportV6", self.export_v6),
            ("importV6", self.import_v6),
        ):
            if rules:
                out[key] = [r.resource() for r in rules]
        return out


@dataclass(frozen=True)
class CalicoPeer:
    """One peering of a Calico node, as confd computes it from the BGPPeers (`bgpPeer`)."""

    address: str
    asn: int | None = None  # None: the node's own AS (iBGP)
    section: Literal["Global", "Node"] = "Node"
    ttl_security: int = 0  # BGPPeer ttlSecurity: hops; 0 = off
    password: str | None = None  # the secret's value, as calico-node reads it
    filters: tuple[str, ...] = ()  # BGPFilter names, in order
    restart_time: int | None = None  # maxRestartTime, seconds
    rr_cluster_id: str | None = None  # the far end's routeReflectorClusterID
    keep_next_hop: bool = False  # keepOriginalNextHop (eBGP only)
    calico_node: bool = False  # a peerIP that is a Calico node's (Global peerings: passive rule)
    port: int | None = None

    @property
    def family(self) -> str:
        return "ipv6" if ":" in self.address else "ipv4"

    @property
    def protocol(self) -> str:
        """`Node_198_18_0_104`, `Global_2001_db8__104`, `Node_10_0_0_1_port_500`."""
        ip = str(ip_address(self.address))
        name = f"{self.section}_{ip.replace('.', '_').replace(':', '_')}"
        return f"{name}_port_{self.port}" if self.port else name


@dataclass
class ConfdNode:
    """What confd knows of one node, for one family's file."""

    name: str
    family: str  # "ipv4" (bird.cfg) or "ipv6" (bird6.cfg)
    router_id: str  # the node's IPv4 address
    node_ip: str  # the node's address of this family
    asn: int
    blocks: Sequence[str] = ()  # its IPAM blocks of this family
    pools: Sequence[str] = ()  # IPPool CIDRs of this family
    static_routes: Sequence[str] = ()  # /staticroutes: service ranges and addresses
    reject_cidrs: Sequence[str] = ()  # /rejectcidrs: service ranges
    peers: Sequence[CalicoPeer] = ()
    filters: Sequence[BGPFilter] = ()
    cluster_id: str | None = None
    mesh: bool = False
    peer_key_prefix: str = "/bgp/v1"

    @property
    def v(self) -> str:
        return "4" if self.family == "ipv4" else "6"


def _comment_key(n: ConfdNode, peer: CalicoPeer) -> str:
    where = "global" if peer.section == "Global" else f"host/{n.name}"
    port = f"-{peer.port}" if peer.port else ""
    return f"{n.peer_key_prefix}/{where}/peer_v{n.v}/{peer.address}{port}"


def _aggr(n: ConfdNode) -> list[str]:
    """bird_aggr.cfg."""
    lines = ["# Generated by confd", "protocol static {"]
    blocks = [b for b in n.blocks if not b.endswith(("/32", "/128"))]
    if blocks:
        lines += ["   # IP blocks for this host.", *[f"   route {b} blackhole;" for b in blocks]]
    if n.static_routes:
        lines += ["   # Static routes.", *[f"   route {r} blackhole;" for r in n.static_routes]]
    if not blocks and not n.static_routes:
        lines.append("   # No IP blocks or static routes for this host.")
    lines += [
        "}",
        "",
        "# Aggregation of routes on this host; export the block, nothing beneath it.",
        "function calico_aggr ()",
        "{",
    ]
    for b in n.blocks:
        lines += [
            f"      # Block {b} is implicitly confirmed.",
            f"      if ( net = {b} ) then {{ accept; }}",
            f"      if ( net ~ {b} ) then {{ reject; }}",
        ]
    return [*lines, "}"]


def _ipam(n: ConfdNode) -> list[str]:
    """bird_ipam.cfg (no pool has disableBGPExport, vxlanMode or ipipMode in the lab)."""
    lines = [
        "# Generated by confd",
        "function reject_disabled_pools ()",
        "{",
        "}",
        "",
        "function reject_tunnel_routes () {",
        "  # Don't export tunnel routes to other nodes, Felix programs them.",
        "  if (defined(ifname)) then {",
        '     if ((ifname ~ "*.cali") || (ifname ~ "*.calico")) then {',
        "        reject;",
        "     }",
        "  }",
        "}",
        "",
        "function reject_local_routes () {",
        "  # Don't export local routes learned via BPF as they should never leave the node.",
        "  if (defined(ifname)) then {",
        '     if (ifname ~ "bpf*.cali") then {',
        "        reject;",
        "     }",
        "  }",
        "}",
        "",
        "function calico_export_to_bgp_peers(bool internal_peer) {",
        "  reject_disabled_pools();",
        "  if (internal_peer) then {",
        "    reject_tunnel_routes();",
        "  }",
        "  reject_local_routes();",
        "  apply_communities();",
        "  calico_aggr();",
    ]
    if n.static_routes:
        lines += ["", "  # Export static routes."]
        lines += [f"  if ( net ~ {r} ) then {{ accept; }}" for r in n.static_routes]
    for p in n.pools:
        lines += [f"  if ( net ~ {p} ) then {{", "    accept;", "  }"]
    lines += ["}", "", "filter calico_kernel_programming {"]
    if n.reject_cidrs:
        lines += ["", "  # Don't program static routes into kernel."]
        lines += [f"  if ( net ~ {r} ) then {{ reject; }}" for r in n.reject_cidrs]
    for p in n.pools:
        lines += [
            f"  if ( net ~ {p} ) then {{",
            "    # Lab: pool routes stay out of the namespace's FIB (calico sets its BIRD's",
            "    # krt_tunnel here and programs them).",
            "    reject;",
            "  }",
        ]
    lab = LAB_SPACE[n.family]
    lines += [
        f"  if ! ( net ~ [ {lab}+ ] ) then {{ reject; }}  # Lab: nothing outside the lab's space",
        "  accept;",
        "}",
    ]
    return lines


def _peer(n: ConfdNode, peer: CalicoPeer) -> list[str]:
    asn = peer.asn or n.asn
    ibgp = asn == n.asn
    lines = [
        f"# For peer {_comment_key(n, peer)}",
        f"protocol bgp {peer.protocol} from bgp_template {{",
    ]
    if peer.ttl_security:
        lines += ["  ttl security on;", f"  multihop {peer.ttl_security};"]
    else:
        lines += ["  ttl security off;", "  multihop;"]
    port = f"port {peer.port} " if peer.port else ""
    lines += [
        f"  neighbor {peer.address} {port}as {asn};",
        f"  source address {n.node_ip};  # The local address we use for the TCP connection",
        "  import filter {",
    ]
    by_name = {f.name: f for f in n.filters}
    chosen = [by_name[name] for name in peer.filters if name in by_name]
    lines += [
        f"    {f.function_name('import', n.family)}();"
        for f in chosen
        if f.rules("import", n.family)
    ]
    lines += [
        '    accept; # Prior to introduction of BGP Filters we used "import all" so use default'
        " accept behaviour on import",
        "  };",
        "  export filter {",
    ]
    lines += [
        f"    {f.function_name('export', n.family)}();"
        for f in chosen
        if f.rules("export", n.family)
    ]
    lines += [
        f"    calico_export_to_bgp_peers({'true' if ibgp else 'false'});",
        "    reject;",
        "  };  # Only want to export routes for workloads.",
    ]
    if peer.section == "Global" and peer.calico_node and peer.address > n.node_ip:
        lines.append("  passive on; # Peering is unidirectional, peer will connect to us.")
    if peer.restart_time is not None:
        lines.append(f"  graceful restart time {peer.restart_time};")
    if ibgp and n.cluster_id and peer.rr_cluster_id != n.cluster_id:
        lines += ["  rr client;", f"  rr cluster id {n.cluster_id};"]
    if peer.password is not None:
        lines.append(f'  password "{peer.password}";')
    if not ibgp and peer.keep_next_hop:
        lines.append("  next hop keep;")
    return [*lines, "}", ""]


def render(n: ConfdNode) -> str:
    """bird.cfg (or bird6.cfg) with its two included files inlined, in include order."""
    lines = [
        "function apply_communities ()",
        "{",
        "}",
        "",
        "# Generated by confd (as calico-node 3.29 renders it; tests/lab/confd.py)",
        *_aggr(n),
        *_ipam(n),
        "",
        f"router id {n.router_id};",
        "",
        "# Configure synchronization between routing tables and kernel.",
        "protocol kernel {",
        "  learn;             # Learn all alien routes from the kernel",
        "  persist;           # Don't remove routes on bird shutdown",
        "  scan time 2;       # Scan kernel routing table every 2 seconds",
        "  import all;",
        "  export filter calico_kernel_programming; # Default is export none",
        "  graceful restart;  # Turn on graceful restart to reduce potential flaps in",
        "  merge paths on;    # Allow export multipath routes (ECMP)",
        "}",
        "",
        "# Watch interface up/down events.",
        "protocol device {",
        "  debug { states };",
        "  scan time 2;    # Scan interfaces every 2 seconds",
        "}",
        "",
        "protocol direct {",
        "  debug { states };",
        '  interface -"cali*", -"kube-ipvs*", "*"; # Exclude cali* and kube-ipvs*',
        "}",
        "",
        "# Template for all BGP clients",
        "template bgp bgp_template {",
        "  debug { states };",
        '  description "Connection to BGP peer";',
        f"  local as {n.asn};",
        "  gateway recursive; # This should be the default, but just in case.",
        "  add paths on;",
        "  graceful restart;  # See comment in kernel section about graceful restart.",
        "  connect delay time 2;",
        "  connect retry time 5;",
        "  error wait time 5,30;",
        "}",
        "",
        "# -------------- BGP Filters ------------------",
    ]
    funcs = [
        line for f in sorted(n.filters, key=lambda f: f.name) for line in f.functions(n.family)
    ]
    lines += funcs or [f"# No v{n.v} BGPFilters configured"]
    lines += ["", "# ------------- Node-to-node mesh -------------"]
    if n.cluster_id:
        lines += [
            f"# This node ({n.name}) is configured as a route reflector with cluster ID"
            f" {n.cluster_id};",
            "# ignore node-to-node mesh setting.",
        ]
    else:
        assert not n.mesh, "the lab renders no node-to-node mesh"
        lines.append("# Node-to-node mesh disabled")
    for section, title, none in (
        ("Global", "Global peers", "# No global peers configured."),
        ("Node", "Node-specific peers", "# No node-specific peers configured."),
    ):
        lines += ["", f"# ------------- {title} -------------"]
        peers = [p for p in n.peers if p.section == section]
        if not peers:
            lines.append(none)
        for p in peers:
            if p.address == n.node_ip:
                lines.append(f"# Skipping ourselves ({n.node_ip})")
            else:
                lines += _peer(n, p)
    return "\n".join(lines) + "\n"
