"""The conformance lab's Calico 3.3+ scenario: pyrr as two route-reflector Nodes of a cluster
whose BGP configuration lives in etcd, with calico-node 3.2x nodes and a top-of-rack router.

    rr     198.18.0.104  2001:db8::104   pyrr, NODENAME=rr1 (no IP); etcd (TLS client
                                         certificates) on the namespace's own 127.0.0.1
           198.18.0.105  2001:db8::105   pyrr, NODENAME=rr2 (a second address, same namespace)
    tor    198.18.0.1    2001:db8::1     BIRD 2, AS 65001: the reflectors' outside eBGP peer
    node1  198.18.0.101  2001:db8::101   calico-node 3.2x (BIRD 1.6): GTSM BGPPeer
    node2  198.18.0.102  2001:db8::102   calico-node: TCP MD5 BGPPeer (key from a secret)
    node3  198.18.0.103  2001:db8::103   calico-node: the clients' BGPPeer; announces the CIDR
                                         its BGPFilter rejects
    node4  198.18.0.106  2001:db8::106   calico-node: the clients' BGPPeer (the ECMP client)
    node5  198.18.0.107  2001:db8::107   calico-node, added while everything runs

etcd holds what Calico 3.3+ and calicoctl write: the `default` BGPConfiguration (mesh off,
AS 61234, serviceExternalIPs 198.19.96.0/24), two IPPools, the Nodes (`bgp.ipv4Address`,
`ipv6Address`, labels; rr1 and rr2 written by `pyrr init-node` with `route-reflector=true`
and one routeReflectorClusterID), a BGPFilter and four BGPPeers:

- `peer-with-route-reflectors`: `nodeSelector: !has(bgp-session)`,
  `peerSelector: route-reflector == 'true'`, `filters: [no-10-10-99]` (the clients' BGPPeer;
  it also selects the reflectors, so they peer with each other through it);
- `gtsm-to-route-reflectors` / `md5-to-route-reflectors`: the same for the nodes labelled
  `bgp-session=gtsm` / `=md5`, with `ttlSecurity: 1` / `password.secretKeyRef`. The selectors
  do not overlap: with two BGPPeers for one pair confd keeps whichever it meets first in Go
  map order, so the two ends could disagree;
- `tor`: `nodeSelector: route-reflector == 'true'`, `peerIP` the ToR, `asNumber: 65001`
  (and `tor-v6`).

Each calico-node's BIRD is configured as confd 3.29 renders it for that datastore
(tests/lab/confd.py); every check reads the daemons' own views (`birdc`), or pyrr's control
socket where the question is what pyrr holds. `Calico33Lab(lab).run()` returns one `Result`
per (host, check); `python -m tests.conformance --scenario calico33` writes them to
docs/conformance.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from ipaddress import ip_network
from typing import Any

from pyrr.control.server import request
from tests.calico.lab import NetnsEtcd, Pyrr, etcd_variables, init_node
from tests.calico.resources import (
    bgpconfig,
    bgpconfig_key,
    bgpfilter,
    bgpfilter_key,
    bgppeer_key,
    bgppeer_spec,
    ippool,
    ippool_key,
    node,
    node_key,
    selector_bgppeer,
)
from tests.etcd.server import TlsFiles, make_tls
from tests.lab.bird import Bird2, CalicoBird, Family, Neighbor, Route
from tests.lab.confd import BGPFilter, CalicoPeer, FilterRule
from tests.lab.netns import Host, Lab

from .lab import Result, wait

ASN = 61234
TOR_ASN = 65001
CLUSTER = "224.0.0.1"
RR1 = ("rr1", "198.18.0.104", "2001:db8::104")
RR2 = ("rr2", "198.18.0.105", "2001:db8::105")
TOR4, TOR6 = "198.18.0.1", "2001:db8::1"
TOR_ROUTES: dict[Family, str] = {"ipv4": "198.19.200.0/24", "ipv6": "2001:db8:ff00::/48"}
POOLS: dict[Family, str] = {"ipv4": "10.10.0.0/16", "ipv6": "2001:db8:1000::/36"}
SERVICE_RANGE = "198.19.96.0/24"  # serviceExternalIPs: advertised by every node
SERVICE_IP = "198.19.96.10/32"  # an external IP with local endpoints on node1-node3
FILTERED: dict[Family, str] = {"ipv4": "10.10.99.0/26", "ipv6": "2001:db8:1099::/122"}
ADD_PATH_SEND = 3
SECRET, SECRET_KEY, PASSWORD = "bgp-secrets", "rr-password", "pyrr-lab-md5-key"
FAMILIES: tuple[Family, Family] = ("ipv4", "ipv6")
SETTLE = 60.0  # bound of every wait for convergence

NO_99 = BGPFilter(
    "no-10-10-99",
    import_v4=(FilterRule("Reject", FILTERED["ipv4"], "Equal"),),
    import_v6=(FilterRule("Reject", FILTERED["ipv6"], "Equal"),),
)
RR_SELECTOR = "route-reflector == 'true'"

# host name, last address byte, block index, bgp-session label ("" = the clients' BGPPeer)
NODES: tuple[tuple[str, int, int, str], ...] = (
    ("node1", 101, 1, "gtsm"),
    ("node2", 102, 2, "md5"),
    ("node3", 103, 3, ""),
    ("node4", 106, 4, ""),
)
LATE_NODE = ("node5", 107, 5, "")


def inside(prefix: str, cidr: str) -> bool:
    """`prefix` lies within `cidr` (any family)."""
    net, pool = ip_network(prefix), ip_network(cidr)
    return (
        net.version == pool.version
        and net.prefixlen >= pool.prefixlen
        and net.supernet(new_prefix=pool.prefixlen) == pool
    )


def _kernel_has(host: Host, family: Family, prefix: str) -> Callable[[], bool]:
    """A route BIRD programmed for `prefix` is in `host`'s kernel table."""
    args = ("-6",) if family == "ipv6" else ()
    return lambda: "proto bird" in host.ip(*args, "route", "show", "exact", prefix)


def settle(problems: Callable[[], list[str]], timeout: float = 15.0) -> list[str]:
    """What `problems()` finds, once it finds nothing or after `timeout` seconds: a table may
    lag a moment behind the one checked before it (an error counts as a problem)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = problems()
        except Exception as err:
            found = [f"query failed: {err!r}"]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _peer_count(p: Pyrr, n: int) -> Callable[[], bool]:
    return lambda: len(p.peers()) >= n


@dataclass
class Member:
    """A calico-node of the scenario: its Node, host, BIRD 1.6 pair and what it announces."""

    name: str
    host: Host
    session: str  # "gtsm", "md5" or "" (the clients' BGPPeer)
    blocks: dict[Family, list[str]]
    services: list[str]
    bird: CalicoBird = field(init=False)

    def address(self, family: Family) -> str:
        return self.host.ip4 if family == "ipv4" else self.host.ip6

    def peerings(self) -> list[CalicoPeer]:
        """What confd computes for this node from its BGPPeer: both reflectors, both families."""
        out = []
        for _, ip4, ip6 in (RR1, RR2):
            for address in (ip4, ip6):
                out.append(
                    CalicoPeer(
                        address,
                        ttl_security=1 if self.session == "gtsm" else 0,
                        password=PASSWORD if self.session == "md5" else None,
                        filters=() if self.session else (NO_99.name,),
                        rr_cluster_id=CLUSTER,
                    )
                )
        return out

    def resource(self) -> str:
        labels = {"bgp-session": self.session} if self.session else {}
        return node(self.name, f"{self.host.ip4}/24", f"{self.host.ip6}/64", labels=labels)

    def protocols(self, family: Family) -> list[str]:
        """Its BIRD protocols of `family`: Node_<rr1>, Node_<rr2>."""
        return [p.protocol for p in self.bird.sessions if p.family == family]

    def established(self) -> bool:
        rows = [p for d in self.bird.daemons for p in d.bgp_protocols()]
        return len(rows) == len(self.bird.sessions) and all(p.established for p in rows)

    def paths(self, family: Family) -> dict[str, list[Route]]:
        """Every BGP path this node holds, by prefix (ADD-PATH: several per protocol)."""
        out: dict[str, list[Route]] = {}
        for r in self.bird.routes(family):
            if r.is_bgp:
                out.setdefault(r.prefix, []).append(r)
        return out


class Calico33Lab:
    """The scenario of the module docstring. `run()` builds, checks and returns the results;
    `close()` stops etcd (call it after `run()`, before the Lab stops everything else)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.results: list[Result] = []
        self.timings: dict[str, float] = {}
        self.members: list[Member] = []
        self.etcd: NetnsEtcd | None = None
        self.pyrrs: dict[str, Pyrr] = {}
        self.tls: TlsFiles | None = None

    # -- building ------------------------------------------------------------------------------

    def build(self) -> None:
        self.rr = self.lab.add_host("rr", f"{RR1[1]}/24", f"{RR1[2]}/64")
        self.rr.ip("addr", "add", f"{RR2[1]}/24", "dev", "eth0")
        self.rr.ip("-6", "addr", "add", f"{RR2[2]}/64", "dev", "eth0", "nodad")
        self.tor = self.lab.add_host("tor", f"{TOR4}/24", f"{TOR6}/64")
        for spec in NODES:
            self.members.append(self.member(*spec))

    def member(self, name: str, n: int, index: int, session: str) -> Member:
        host = self.lab.add_host(name, f"198.18.0.{n}/24", f"2001:db8::{n}/64")
        blocks: dict[Family, list[str]] = {
            "ipv4": [f"10.10.{index}.0/26"],
            "ipv6": [f"2001:db8:1{index:03x}::/122"],
        }
        if name == "node3":
            for fam in FAMILIES:
                blocks[fam].append(FILTERED[fam])
        services = [SERVICE_RANGE] + ([SERVICE_IP] if index <= 3 else [])
        m = Member(name, host, session, blocks, services)
        m.bird = CalicoBird(
            host,
            m.peerings(),
            [*blocks["ipv4"], *blocks["ipv6"]],
            asn=ASN,
            confd="3.29",
            name=name,
            pools4=[POOLS["ipv4"]],
            pools6=[POOLS["ipv6"]],
            static_routes=services,
            reject_cidrs=[SERVICE_RANGE],
            filters=[NO_99],
        )
        return m

    def etcd_env(self) -> dict[str, str]:
        assert self.etcd is not None and self.tls is not None
        return etcd_variables(self.etcd, self.tls)

    def write(self, key: str, value: str) -> None:
        assert self.etcd is not None
        self.etcd.put(key, value)

    def write_datastore(self) -> None:
        """What calicoctl (and calico-node, for the nodes) store before the reflectors start."""
        self.write(
            bgpconfig_key(),
            bgpconfig(asn=ASN, serviceExternalIPs=[{"cidr": SERVICE_RANGE}]),
        )
        for fam, cidr in POOLS.items():
            name = f"default-{fam}-ippool"
            self.write(ippool_key(name), ippool(name, cidr))
        self.write(bgpfilter_key(NO_99.name), bgpfilter(NO_99.name, NO_99.spec()))
        peers = {
            "peer-with-route-reflectors": selector_bgppeer(
                "peer-with-route-reflectors",
                "!has(bgp-session)",
                RR_SELECTOR,
                filters=[NO_99.name],
            ),
            "gtsm-to-route-reflectors": selector_bgppeer(
                "gtsm-to-route-reflectors", "bgp-session == 'gtsm'", RR_SELECTOR, ttlSecurity=1
            ),
            "md5-to-route-reflectors": selector_bgppeer(
                "md5-to-route-reflectors",
                "bgp-session == 'md5'",
                RR_SELECTOR,
                password={"secretKeyRef": {"name": SECRET, "key": SECRET_KEY}},
            ),
            "tor": bgppeer_spec("tor", nodeSelector=RR_SELECTOR, peerIP=TOR4, asNumber=TOR_ASN),
            "tor-v6": bgppeer_spec(
                "tor-v6", nodeSelector=RR_SELECTOR, peerIP=TOR6, asNumber=TOR_ASN
            ),
        }
        for name, value in peers.items():
            self.write(bgppeer_key(name), value)
        for m in self.members:
            self.write(node_key(m.name), m.resource())

    def start_pyrr(self, name: str) -> Pyrr:
        """`pyrr run` with NODENAME and the etcd variables only (no IP), secrets mounted."""
        secrets = self.rr.dir / f"{name}-secrets"
        (secrets / SECRET).mkdir(parents=True, exist_ok=True)
        (secrets / SECRET / SECRET_KEY).write_text(PASSWORD)
        env = {
            "NODENAME": name,
            **self.etcd_env(),
            "PYRR_SECRETS_DIR": str(secrets),
            "PYRR_ADD_PATH_SEND": str(ADD_PATH_SEND),
        }
        p = Pyrr(self.rr, name, env).start()
        self.pyrrs[name] = p
        return p

    def start(self) -> None:
        self.tls = make_tls(self.lab.workdir / "tls")
        self.etcd = NetnsEtcd(
            self.rr, self.lab.workdir / "etcd", tls=self.tls, client_port=2379, peer_port=2380
        )
        self.etcd.start()
        self.write_datastore()
        for name, ip4, ip6 in (RR1, RR2):
            problem = init_node(self.rr, self.etcd_env(), name, f"{ip4}/24", f"{ip6}/64", CLUSTER)
            check = "`pyrr init-node` creates its Node (label, cluster id)"
            self.record(name, check, not problem, problem)
        self.t_start = time.monotonic()
        for name, _, _ in (RR1, RR2):
            self.start_pyrr(name)
        self.tor_bird = Bird2(
            self.tor,
            [Neighbor(a, asn=ASN) for a in (RR1[1], RR2[1], RR1[2], RR2[2])],
            TOR_ROUTES.values(),
            asn=TOR_ASN,
            name="tor",
        )
        # The reflectors know their peers (and keys, TTLs) before any node dials them.
        for p in self.pyrrs.values():
            p.wait("its peers configured", _peer_count(p, 2 * len(NODES)), 30)
        self.tor_bird.start()
        for m in self.members:
            m.bird.start()

    def record(self, host: str, check: str, ok: bool, detail: str = "") -> None:
        self.results.append(Result(host, check, ok, detail))

    # -- what is expected ------------------------------------------------------------------

    def rr_address(self, family: Family) -> list[str]:
        return [r[1] if family == "ipv4" else r[2] for r in (RR1, RR2)]

    def other_rr(self, address: str) -> tuple[str, str, str]:
        """The reflector that is not the one at `address`."""
        return RR2 if address in RR1 else RR1

    def pod_problem(self, me: Member, family: Family, among: Sequence[Member]) -> str:
        """'' when `me` holds every other member's blocks once through each reflector, with the
        originator's next hop, ORIGINATOR_ID and CLUSTER_LIST [cluster id], and no more."""
        paths = me.paths(family)
        have = {p for p in paths if inside(p, POOLS[family])}
        want: dict[str, Member] = {
            b: o for o in among if o is not me for b in o.blocks[family] if b != FILTERED[family]
        }
        if have != set(want):
            return f"missing {sorted(set(want) - have)}, unexpected {sorted(have - set(want))}"
        protocols = sorted(me.protocols(family))
        for prefix, origin in want.items():
            seen = sorted(r.protocol for r in paths[prefix])
            if seen != protocols:
                return f"{prefix}: paths from {seen}, expected one from each of {protocols}"
            for r in paths[prefix]:
                if r.next_hop != origin.address(family):
                    return f"{prefix}: next hop {r.next_hop}, expected {origin.address(family)}"
                if r.originator_id != origin.host.ip4 or r.cluster_list != [CLUSTER]:
                    return (
                        f"{prefix}: ORIGINATOR_ID {r.originator_id}, CLUSTER_LIST"
                        f" {r.cluster_list}; expected {origin.host.ip4}, [{CLUSTER}]"
                    )
        return ""

    def converged(self, among: Sequence[Member]) -> dict[str, str]:
        out: dict[str, str] = {}
        for m in among:
            if not m.established():
                rows = [(p.name, p.info) for d in m.bird.daemons for p in d.bgp_protocols()]
                out[m.name] = f"sessions {rows}"
                continue
            for fam in FAMILIES:
                problem = self.pod_problem(m, fam, among)
                if problem:
                    out[f"{m.name}/{fam}"] = problem
        return out

    def wait_converged(self, among: Sequence[Member]) -> dict[str, str]:
        last: dict[str, str] = {}

        def ok() -> bool:
            nonlocal last
            for p in self.pyrrs.values():
                p.alive()
            last = self.converged(among)
            return not last

        wait(ok, SETTLE)
        return last

    # -- the checks ----------------------------------------------------------------------------

    def check_sessions(self) -> None:
        wait(lambda: all(m.established() for m in self.members), SETTLE)
        for m in self.members:
            what = {
                "gtsm": "ttlSecurity 1: GTSM at both ends (`ttl security on; multihop 1`)",
                "md5": "password.secretKeyRef: TCP MD5 at both ends (pyrr reads the mounted"
                " secret)",
                "": "the clients' BGPPeer (with its BGPFilter)",
            }[m.session]
            rows = [(p.name, p.info) for d in m.bird.daemons for p in d.bgp_protocols()]
            self.record(
                m.name,
                f"4 sessions Established (rr1, rr2; IPv4, IPv6) — {what}",
                m.established(),
                f"{rows}",
            )

    def check_reflection(self) -> None:
        problems = self.wait_converged(self.members)
        self.timings["cold start: reflectors started to every node's table complete (s)"] = (
            time.monotonic() - self.t_start
        )
        for m in self.members:
            for fam in FAMILIES:
                p = problems.get(f"{m.name}/{fam}", problems.get(m.name, ""))
                self.record(
                    m.name,
                    f"{fam}: every other node's blocks, once through each reflector (next hop,"
                    f" ORIGINATOR_ID, CLUSTER_LIST [{CLUSTER}])",
                    not p,
                    p,
                )

    def check_reflectors(self) -> None:
        for me in (RR1, RR2):
            name, ip4, _ = me
            p = self.pyrrs[name]
            status = p.status()
            ident = (status["router_id"], status["cluster_id"], status["asn"])
            self.record(
                name,
                "NODENAME without IP: router id, cluster id and AS from its Node",
                ident == (ip4, CLUSTER, ASN),
                f"{ident}",
            )
            problems = settle(partial(self.peer_problems, me))
            self.record(
                name,
                "a session with every node (reverse peerings of the selector BGPPeers), the"
                " other reflector and the ToR, all Established",
                not problems,
                "; ".join(problems),
            )

    def peer_problems(self, me: tuple[str, str, str]) -> list[str]:
        want: dict[str, str] = {}  # address -> pyrr's peer type
        for m in self.members:
            want[m.host.ip4] = want[m.host.ip6] = "node"
        other = self.other_rr(me[1])
        want[other[1]] = want[other[2]] = "rr"
        want[TOR4] = want[TOR6] = "external"
        peers = self.pyrrs[me[0]].peers()
        have = {a: str(v["type"]) for a, v in peers.items()}
        down = sorted(a for a, v in peers.items() if not v["up"])
        return [f"peers {have}, expected {want}; down {down}"] if have != want or down else []

    def pyrr_routes(self, rr: str, prefix: str) -> list[dict[str, Any]]:
        reply = request(str(self.pyrrs[rr].socket), {"cmd": "routes", "prefix": prefix})
        routes = reply.get("routes", [])
        assert isinstance(routes, list)
        return [p for r in routes for p in r["paths"]]

    def check_rr_to_rr(self) -> None:
        """Same cluster id: rr1 and rr2 are each other's non-clients; a node route one reflects
        to the other carries the shared cluster id and is dropped there (RFC 4456 §8), so each
        reflector holds a node's route once (from the node) and no loop forms; the ToR's route,
        which the other learned over eBGP, is kept."""
        for me, other in ((RR1, RR2), (RR2, RR1)):
            problems = settle(partial(self.rr_to_rr_problems, me, other))
            self.record(
                me[0],
                f"same cluster id as {other[0]}: non-client peers; {other[0]}'s reflected copies"
                " of node routes dropped (CLUSTER_LIST), its ToR route kept",
                not problems,
                "; ".join(problems),
            )

    def rr_to_rr_problems(self, me: tuple[str, str, str], other: tuple[str, str, str]) -> list[str]:
        name, ip4, _ = me
        sent = self.pyrrs[other[0]].peers().get(ip4)
        problems = []
        if sent is None or not sent["up"] or not sent["prefixes_sent"]:
            problems.append(f"{other[0]} sent {name} nothing: {sent}")
        for m in self.members:
            block = m.blocks["ipv4"][0]
            froms = sorted(str(p["from"]) for p in self.pyrr_routes(name, block))
            if froms != [m.host.ip4]:
                problems.append(f"{block} held from {froms}")
        tor_from = sorted(str(p["from"]) for p in self.pyrr_routes(name, TOR_ROUTES["ipv4"]))
        if other[1] not in tor_from:
            problems.append(f"the ToR's route not received through {other[0]}: {tor_from}")
        return problems

    def check_tor(self) -> None:
        """The ToR (eBGP, AS 65001) gets the cluster's routes from both reflectors: AS_PATH
        [61234], next hop the reflector (Auto = self towards eBGP); its own route reaches
        every node with its own next hop (Auto = keep towards iBGP)."""
        for fam in FAMILIES:
            problems = settle(partial(self.tor_problems, fam))
            self.record(
                "tor",
                f"{fam}: every pod block from both reflectors, AS_PATH [{ASN}], next hop self",
                not problems,
                "; ".join(problems),
            )
        for m in self.members:
            problems = settle(partial(self.tor_route_problems, m))
            self.record(
                m.name,
                "the ToR's routes from each reflector: as learned, and reflected from the"
                " other (AS_PATH [65001], next hop the ToR)",
                not problems,
                "; ".join(problems),
            )

    def tor_problems(self, fam: Family) -> list[str]:
        table = "master4" if fam == "ipv4" else "master6"
        have: dict[str, list[Route]] = {}
        for r in self.tor_bird.routes(table):
            if r.is_bgp:
                have.setdefault(r.prefix, []).append(r)
        want = {b for m in self.members for b in m.blocks[fam] if b != FILTERED[fam]}
        rrs = set(self.rr_address(fam))
        problems = [f"missing {sorted(want - set(have))}"] if want - set(have) else []
        for b in sorted(want & set(have)):
            hops = sorted(r.next_hop or "" for r in have[b])
            as_paths = {tuple(r.as_path) for r in have[b]}
            if set(hops) != rrs or as_paths != {(ASN,)}:
                problems.append(f"{b}: next hops {hops}, AS paths {as_paths}")
        return problems

    def tor_route_problems(self, m: Member) -> list[str]:
        """Each reflector holds the ToR's route twice, from the ToR and from the other
        reflector (an eBGP-learned route goes to every iBGP peer), and sends both over
        ADD-PATH: the first as learned, the second reflected (ORIGINATOR_ID the other
        reflector, CLUSTER_LIST the cluster id). Both with the ToR's next hop and AS."""
        problems = []
        for fam in FAMILIES:
            paths = m.paths(fam).get(TOR_ROUTES[fam], [])
            tor = TOR4 if fam == "ipv4" else TOR6
            got = sorted(
                (r.protocol, r.next_hop or "", tuple(r.as_path), r.originator_id or "",
                 tuple(r.cluster_list))
                for r in paths
            )  # fmt: skip
            expected = sorted(
                (p.protocol, tor, (TOR_ASN,), origin, cl)
                for p in m.bird.sessions
                if p.family == fam
                for origin, cl in (("", ()), (self.other_rr(p.address)[1], (CLUSTER,)))
            )
            if got != expected:
                problems.append(f"{fam}: {got}, expected {expected}")
        return problems

    def client(self) -> Member:
        return next(m for m in self.members if m.name == "node4")

    def check_service_ecmp(self) -> None:
        """node1-node3 announce SERVICE_IP: node4 holds three paths from each reflector
        session (ADD-PATH, PYRR_ADD_PATH_SEND=3), one per node, equal but for the next hop."""
        problems = settle(self.service_problems)
        self.record(
            self.client().name,
            f"{SERVICE_IP} from node1-3: three ADD-PATH paths per reflector session, equal but"
            " for the next hop (ECMP)",
            not problems,
            "; ".join(problems),
        )

    def service_problems(self) -> list[str]:
        client = self.client()
        origins = sorted(m.host.ip4 for m in self.members if SERVICE_IP in m.services)
        paths = client.paths("ipv4").get(SERVICE_IP, [])
        problems = []
        for proto in client.protocols("ipv4"):
            mine = [r for r in paths if r.protocol == proto]
            hops = sorted(r.next_hop or "" for r in mine)
            if hops != origins:
                problems.append(f"{proto}: next hops {hops}, expected {origins}")
            attrs = {(tuple(r.as_path), r.local_pref, r.med, r.origin) for r in mine}
            if len(attrs) > 1:
                problems.append(f"{proto}: not equal apart from the next hop: {attrs}")
        return problems

    def check_kernel(self) -> None:
        """calico_kernel_programming with `merge paths on`, as rendered: the ToR's route is in
        node4's kernel table, the service range (and so the /32) is not: calico programs every
        service range as a reject CIDR (client.go updateGlobalRoutes), so a node never installs
        the ECMP route of a service address; its three BGP paths are what it holds."""
        client = self.client()
        problems = []
        for fam in FAMILIES:
            # IPv6: via the ToR's link-local address (BIRD 1.6 uses the second next hop).
            if not wait(_kernel_has(client.host, fam, TOR_ROUTES[fam]), 15):
                problems.append(f"{TOR_ROUTES[fam]} not in the kernel table")
        service = client.host.ip("route", "show", "table", "all", "to", "match", SERVICE_IP)
        if service.strip():  # no route at all covers the service address
            problems.append(f"service route programmed: {service.strip()}")
        self.record(
            client.name,
            "kernel table (calico_kernel_programming, merge paths on): the ToR's routes"
            " programmed, the service range not (rejectcidrs)",
            not problems,
            "; ".join(problems),
        )

    def check_filter(self) -> None:
        """node3 announces FILTERED (its BIRD exports it to both reflectors); the clients'
        BGPPeer's BGPFilter rejects it on import at pyrr: no node has it, not even node1 and
        node2, whose BGPPeers carry no filter (their BIRDs would accept it), nor the ToR.
        Checked once every table is complete: what is absent then was never sent."""
        origin = next(m for m in self.members if m.name == "node3")
        for fam in FAMILIES:
            prefix = FILTERED[fam]
            problems = []
            for proto in origin.protocols(fam):
                exported = {r.prefix for r in origin.bird.routes(fam, export=proto)}
                if prefix not in exported:
                    problems.append(f"node3 does not export it to {proto}")
            holders = [m.name for m in self.members if prefix in m.paths(fam)]
            holders += ["tor"] * (prefix in self.tor_bird.prefixes(fam))
            holders += [rr for rr in self.pyrrs if self.pyrr_routes(rr, prefix)]
            if holders:
                problems.append(f"held by {holders}")
            self.record(
                "node3",
                f"{fam}: BGPFilter importV{fam[-1]} Reject {prefix} (clients' BGPPeer):"
                " exported by node3, held by no reflector, node or ToR",
                not problems,
                "; ".join(problems),
            )

    def check_node_added(self) -> None:
        """A Node written while the reflectors run: both add its sessions (reverse peering of
        the clients' BGPPeer), and every node, the new one included, converges."""
        t0 = time.monotonic()
        m = self.member(*LATE_NODE)
        self.members.append(m)
        self.write(node_key(m.name), m.resource())
        m.bird.start()
        problems = self.wait_converged(self.members)
        self.timings["node added live: Node written to every table complete (s)"] = (
            time.monotonic() - t0
        )
        self.record(
            m.name,
            "added while running: sessions with both reflectors, every route, everywhere",
            not problems,
            f"{problems}",
        )
        # Five nodes announce SERVICE_RANGE; node4 gets the three best (PYRR_ADD_PATH_SEND).
        found = settle(self.range_problems)
        self.record(
            self.client().name,
            f"{SERVICE_RANGE} from 5 nodes: {ADD_PATH_SEND} paths per reflector session, not 4"
            f" (PYRR_ADD_PATH_SEND={ADD_PATH_SEND})",
            not found,
            "; ".join(found),
        )

    def range_problems(self) -> list[str]:
        client = self.client()
        paths = client.paths("ipv4").get(SERVICE_RANGE, [])
        counts = {p: len([r for r in paths if r.protocol == p]) for p in client.protocols("ipv4")}
        return [f"paths per session {counts}"] if set(counts.values()) != {ADD_PATH_SEND} else []

    def run(self) -> list[Result]:
        t0 = time.monotonic()
        try:
            self.build()
            self.start()
            for check in (
                self.check_sessions,
                self.check_reflection,
                self.check_reflectors,
                self.check_rr_to_rr,
                self.check_tor,
                self.check_service_ecmp,
                self.check_kernel,
                self.check_filter,
                self.check_node_added,
            ):
                check()
            for name, p in self.pyrrs.items():
                alive = p.proc is not None and p.proc.alive()
                self.record(name, "still running at the end", alive, p.log_text()[-300:])
        finally:
            self.timings["scenario: lab built, every check run (s)"] = time.monotonic() - t0
        return self.results

    def close(self) -> None:
        if self.etcd is not None:
            self.etcd.stop()
            self.etcd.remove()
