"""The conformance lab: a Calico-like cluster in network namespaces around one route reflector.

    rr        198.18.0.104  2001:db8::104   the route reflector under test
    master    198.18.0.101  2001:db8::101   calico-node (BIRD 1.6 bird + bird6)
    node1     198.18.0.102  2001:db8::102   calico-node
    node2     198.18.0.103  2001:db8::103   calico-node
    b2        198.18.0.105  2001:db8::105   BIRD 2 (one IPv4 and one IPv6 session)
    frr       198.18.0.106  2001:db8::106   FRR bgpd (one session, both families)
    gobgp     198.18.0.107  2001:db8::107   GoBGP (one session, both families)
    badas     198.18.0.110                  BIRD 2 configured with the wrong AS
    stranger  198.18.0.111                  BIRD 2 that is not a configured peer

Each check reads the clients' own views and yields one `Result` per (client, check).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tests.lab.bird import Bird2, Neighbor
from tests.lab.netns import Host, Lab

from .clients import Bird2Client, CalicoClient, Client, Seen
from .reflectors import PeerSpec, Reflector

ASN = 64512
WRONG_ASN = 65099
SETTLE = 60.0  # bound of every wait for convergence


@dataclass(frozen=True)
class Result:
    client: str
    check: str
    ok: bool
    detail: str = ""


def wait(predicate: Callable[[], bool], timeout: float = SETTLE, interval: float = 0.5) -> bool:
    """True as soon as predicate() holds; False after timeout (errors count as not yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return True
        except Exception:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


class ConformanceLab:
    def __init__(self, lab: Lab, rr: Reflector, with_frr_gobgp: bool = True) -> None:
        self.lab = lab
        self.reflector = rr
        self.rr = lab.add_host("rr", "198.18.0.104/24", "2001:db8::104/64")
        self.clients: list[Client] = []
        self._with_frr_gobgp = with_frr_gobgp
        self.results: list[Result] = []
        self.timings: dict[str, float] = {}

    # -- building ------------------------------------------------------------------------------

    def _host(self, name: str, n: int) -> Host:
        return self.lab.add_host(name, f"198.18.0.{n}/24", f"2001:db8::{n}/64")

    def build(self) -> None:
        rr4, rr6 = self.rr.ip4, self.rr.ip6
        for i, name in enumerate(("master", "node1", "node2"), start=1):
            h = self._host(name, 100 + i)
            self.clients.append(
                CalicoClient(
                    name,
                    h,
                    rr4,
                    rr6,
                    [f"10.10.{i}.0/26", f"10.10.{i}.64/26"],
                    [f"2001:db8:100{i}::/122"],
                    ASN,
                )
            )
        h = self._host("b2", 105)
        self.clients.append(
            Bird2Client("b2", h, rr4, rr6, ["10.10.5.0/26"], ["2001:db8:1005::/122"], ASN)
        )
        if self._with_frr_gobgp:
            from .clients_frr_gobgp import FrrClient, GobgpClient

            self.clients.append(
                FrrClient(
                    "frr",
                    self._host("frr", 106),
                    rr4,
                    ["10.10.6.0/26"],
                    ["2001:db8:1006::/122"],
                    ASN,
                )
            )
            self.clients.append(
                GobgpClient(
                    "gobgp",
                    self._host("gobgp", 107),
                    rr4,
                    ["10.10.7.0/26"],
                    ["2001:db8:1007::/122"],
                    ASN,
                )
            )
        self.badas = self.lab.add_host("badas", "198.18.0.110/24")
        self.stranger = self.lab.add_host("stranger", "198.18.0.111/24")

    def peer_specs(self) -> list[PeerSpec]:
        specs: list[PeerSpec] = []
        for c in self.clients:
            if c.kind in ("frr", "gobgp"):
                specs.append(PeerSpec(c.host.ip4, ASN, ("ipv4", "ipv6")))
            else:
                specs.append(PeerSpec(c.host.ip4, ASN, ("ipv4",)))
                specs.append(PeerSpec(c.host.ip6, ASN, ("ipv6",)))
        # badas is configured with our AS but will announce another one.
        specs.append(PeerSpec(self.badas.ip4, ASN, ("ipv4",)))
        return specs

    def start(self) -> None:
        self._t_start = time.monotonic()
        self.reflector.start(self.rr, ASN, self.peer_specs())
        for c in self.clients:
            c.start()
        self.badas_bird = Bird2(
            self.badas,
            [Neighbor(self.rr.ip4, asn=ASN)],
            ["10.10.110.0/26"],
            asn=WRONG_ASN,
            name="badas",
        ).start()
        self.stranger_bird = Bird2(
            self.stranger, [Neighbor(self.rr.ip4)], ["10.10.111.0/26"], asn=ASN, name="stranger"
        ).start()

    # -- expectations --------------------------------------------------------------------------

    def expected(self, me: Client, family: str) -> dict[str, Client]:
        """prefix -> originating client, for every other client's blocks of `family`."""
        out: dict[str, Client] = {}
        for c in self.clients:
            if c is me:
                continue
            for b in c.blocks4 if family == "ipv4" else c.blocks6:
                out[b] = c
        return out

    def _route_problem(self, me: Client, family: str, seen: dict[str, Seen]) -> str:
        want = self.expected(me, family)
        missing = sorted(set(want) - set(seen))
        if missing:
            return f"missing {missing}"
        extra = sorted(set(seen) - set(want))
        if extra:
            return f"unexpected {extra}"
        for prefix, origin in want.items():
            r = seen[prefix]
            nh = origin.host.ip4 if family == "ipv4" else origin.host.ip6
            if r.next_hop.split(" ")[0] != nh:
                return f"{prefix}: next hop {r.next_hop}, expected {nh}"
            if r.originator_id != origin.router_id():
                return f"{prefix}: ORIGINATOR_ID {r.originator_id}, expected {origin.router_id()}"
            if list(r.cluster_list) != [self.rr.ip4]:
                return f"{prefix}: CLUSTER_LIST {list(r.cluster_list)}, expected [{self.rr.ip4}]"
        return ""

    def converged(self, family: str) -> dict[str, str]:
        """client name -> problem ("" when its table is exactly right)."""
        out = {}
        for c in self.clients:
            try:
                out[c.name] = self._route_problem(c, family, c.routes(family))
            except Exception as err:
                out[c.name] = f"query failed: {err}"
        return out

    def wait_converged(self, timeout: float = SETTLE) -> dict[str, str]:
        last: dict[str, str] = {}

        def ok() -> bool:
            nonlocal last
            last = {
                f"{n}/{fam}": p for fam in ("ipv4", "ipv6") for n, p in self.converged(fam).items()
            }
            return not any(last.values())

        wait(ok, timeout)
        return last

    def record(self, client: str, check: str, ok: bool, detail: str = "") -> None:
        self.results.append(Result(client, check, ok, detail))

    # -- the checks ----------------------------------------------------------------------------

    def check_established(self) -> None:
        wait(lambda: all(c.established() for c in self.clients))
        for c in self.clients:
            self.record(c.name, "session Established", c.established())

    def check_reflection(self) -> None:
        problems = self.wait_converged()
        self.timings["cold start: RR and clients started to every table complete (s)"] = (
            time.monotonic() - self._t_start
        )
        for c in self.clients:
            for fam in ("ipv4", "ipv6"):
                p = problems.get(f"{c.name}/{fam}", "not checked")
                self.record(
                    c.name,
                    f"learns every other client's {fam} routes (next hop, "
                    "ORIGINATOR_ID, CLUSTER_LIST)",
                    not p,
                    p,
                )

    def check_withdrawal(self) -> None:
        origin = self.clients[0]
        v4, v6 = origin.blocks4[-1], origin.blocks6[-1]
        origin.remove_block(v4)
        origin.remove_block(v6)
        others = [c for c in self.clients if c is not origin]

        def gone() -> bool:
            return all(v4 not in c.routes("ipv4") and v6 not in c.routes("ipv6") for c in others)

        ok = wait(gone)
        for c in others:
            still = [p for p, fam in ((v4, "ipv4"), (v6, "ipv6")) if p in c.routes(fam)]
            self.record(c.name, "withdrawal propagates", ok or not still, f"still has {still}")
        origin.add_block(v4)
        origin.add_block(v6)
        self.wait_converged()

    def check_graceful_restart(self) -> None:
        """kill -9 a Calico node: its routes must stay on every other client (RFC 4724 helper)
        until it is back, and it must re-sync."""
        victim = next(c for c in self.clients if c.kind == "calico-bird1.6" and c.name != "master")
        assert isinstance(victim, CalicoClient)
        others = [c for c in self.clients if c is not victim]
        blocks = [(b, "ipv4") for b in victim.blocks4] + [(b, "ipv6") for b in victim.blocks6]
        victim.kill9()
        lost: dict[str, list[str]] = {c.name: [] for c in others}
        deadline = time.monotonic() + 8.0
        while time.monotonic() < deadline:  # the node is down: watch for any loss
            for c in others:
                for b, fam in blocks:
                    try:
                        if b not in c.routes(fam) and b not in lost[c.name]:
                            lost[c.name].append(b)
                    except Exception:
                        continue
            time.sleep(0.5)
        victim.start()
        resynced = wait(
            lambda: (
                victim.established()
                and not self._route_problem(victim, "ipv4", victim.routes("ipv4"))
                and not self._route_problem(victim, "ipv6", victim.routes("ipv6"))
            )
        )
        for c in others:
            for b, fam in blocks:
                if b not in c.routes(fam) and b not in lost[c.name]:
                    lost[c.name].append(b)
            self.record(
                c.name,
                f"keeps a kill -9'd node's routes (GR helper, {victim.name})",
                not lost[c.name],
                f"lost {lost[c.name]}",
            )
        self.record(victim.name, "re-syncs after kill -9 and restart", resynced)
        self.wait_converged()

    def check_route_refresh(self) -> None:
        for c in self.clients:
            if not isinstance(c, CalicoClient):
                continue
            before = c.import_updates()
            c.refresh()
            want = sum(len(self.expected(c, f)) for f in ("ipv4", "ipv6"))

            def refreshed(c: CalicoClient = c, before: int = before, want: int = want) -> bool:
                return c.import_updates() >= before + want

            ok = wait(refreshed, timeout=15)
            self.record(
                c.name,
                "`birdc reload in` (route refresh) re-sends the table",
                ok,
                f"import updates {before} -> {c.import_updates()}, expected +{want}",
            )

    def check_admission(self) -> None:
        def last_error(b: Bird2) -> str:
            text = b.birdc("show", "protocols", "all")
            for line in text.splitlines():
                if "Last error" in line:
                    return line.split(":", 1)[1].strip()
            return ""

        ok = wait(lambda: "bad peer as" in last_error(self.badas_bird).lower(), timeout=20)
        never_up = not any(p.established for p in self.badas_bird.bgp_protocols())
        self.record(
            "badas",
            "wrong AS refused with OPEN error Bad Peer AS (2/2)",
            ok and never_up,
            last_error(self.badas_bird),
        )
        ok = wait(
            lambda: any(
                k in last_error(self.stranger_bird).lower()
                for k in ("connection rejected", "connection closed", "connection reset")
            ),
            timeout=20,
        )
        never_up = not any(p.established for p in self.stranger_bird.bgp_protocols())
        err = last_error(self.stranger_bird)
        self.record(
            "stranger",
            "unconfigured address refused (Cease/Connection Rejected)",
            ok and never_up and "rejected" in err.lower(),
            err,
        )

    def check_rr_restart(self) -> None:
        """Restart the RR under its clients: count the routes each client loses meanwhile
        (RFC 4724 both ways: clients keep the RR's routes while it is down, and the RR must not
        send a partial table after it comes back), then check full convergence."""
        lost: dict[str, set[str]] = {c.name: set() for c in self.clients}
        want = {
            c.name: {fam: set(self.expected(c, fam)) for fam in ("ipv4", "ipv6")}
            for c in self.clients
        }
        t0 = time.monotonic()
        self.reflector.restart()

        def watch() -> bool:
            done = True
            for c in self.clients:
                for fam in ("ipv4", "ipv6"):
                    try:
                        have = set(c.routes(fam))
                    except Exception:
                        done = False
                        continue
                    lost[c.name] |= want[c.name][fam] - have
                if not c.established():
                    done = False
            return done and not any(
                self.converged(f)[c.name] for f in ("ipv4", "ipv6") for c in self.clients
            )

        wait(watch, timeout=90, interval=0.3)
        self.timings["RR restart: restart to every table complete again (s)"] = (
            time.monotonic() - t0
        )
        problems = self.wait_converged(timeout=30)
        for c in self.clients:
            p = "; ".join(v for k, v in problems.items() if k.startswith(c.name + "/") and v)
            self.record(c.name, "re-learns everything after the RR restarts", not p, p)
            self.record(
                c.name,
                "loses no route while the RR restarts",
                not lost[c.name],
                f"lost {sorted(lost[c.name])}",
            )

    def run(self) -> list[Result]:
        self.build()
        self.start()
        for check in (
            self.check_established,
            self.check_reflection,
            self.check_withdrawal,
            self.check_route_refresh,
            self.check_graceful_restart,
            self.check_admission,
            self.check_rr_restart,
        ):
            check()
        return self.results


def failures(results: list[Result]) -> Iterator[Result]:
    return (r for r in results if not r.ok)
