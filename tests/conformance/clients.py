"""The conformance lab's clients behind one interface, whatever daemon each one runs.

Every observation is read from the client's own view (`birdc`, `vtysh ... json`, `gobgp -j`),
never from the route reflector under test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol, cast

from tests.lab.bird import Bird2, CalicoBird, Family, Neighbor, Route
from tests.lab.netns import Host


@dataclass(frozen=True)
class Seen:
    """One route as a client sees it."""

    prefix: str
    next_hop: str
    originator_id: str | None
    cluster_list: tuple[str, ...]


class Client(Protocol):
    name: str
    host: Host
    blocks4: list[str]
    blocks6: list[str]
    kind: str  # "calico-bird1.6", "bird2", "frr", "gobgp"

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def kill9(self) -> None: ...

    def established(self) -> bool: ...

    def routes(self, family: str) -> dict[str, Seen]: ...

    def add_block(self, prefix: str) -> None: ...

    def remove_block(self, prefix: str) -> None: ...

    def router_id(self) -> str: ...


class Blocks:
    """What every client adapter shares: the pod blocks it owns, announced and withdrawn
    through its daemon (`_announce` / `_withdraw`), and its router id (its IPv4 address)."""

    host: Host
    blocks4: list[str]
    blocks6: list[str]

    def _announce(self, prefix: str) -> None:
        raise NotImplementedError

    def _withdraw(self, prefix: str) -> None:
        raise NotImplementedError

    def add_block(self, prefix: str) -> None:
        (self.blocks6 if ":" in prefix else self.blocks4).append(prefix)
        self._announce(prefix)

    def remove_block(self, prefix: str) -> None:
        (self.blocks6 if ":" in prefix else self.blocks4).remove(prefix)
        self._withdraw(prefix)

    def router_id(self) -> str:
        return self.host.ip4


def _seen_bird(routes: list[Route], skip: set[str]) -> dict[str, Seen]:
    out: dict[str, Seen] = {}
    for r in routes:
        if not r.is_bgp or r.prefix in skip or not r.primary:
            continue
        out[r.prefix] = Seen(r.prefix, r.next_hop or "", r.originator_id, tuple(r.cluster_list))
    return out


@dataclass
class CalicoClient(Blocks):
    """A calico-node: BIRD 1.6 `bird` + `bird6` rendered as calico-node 3.x renders them."""

    name: str
    host: Host
    rr4: str
    rr6: str
    blocks4: list[str]
    blocks6: list[str]
    asn: int
    kind: str = "calico-bird1.6"
    bird: CalicoBird = field(init=False)

    def __post_init__(self) -> None:
        self.bird = CalicoBird(
            self.host, [self.rr4, self.rr6], [*self.blocks4, *self.blocks6], asn=self.asn
        )

    def start(self) -> None:
        self.bird.start(wait=True)

    def stop(self) -> None:
        self.bird.stop()

    def kill9(self) -> None:
        self.bird.kill9()

    def established(self) -> bool:
        ps = [p for p in self.bird.protocols() if p.proto == "BGP"]
        return len(ps) == 2 and all(p.established for p in ps)

    def routes(self, family: str) -> dict[str, Seen]:
        own = set(self.blocks4 if family == "ipv4" else self.blocks6)
        return _seen_bird(self.bird.routes(cast(Family, family)), own)

    def _announce(self, prefix: str) -> None:
        self.bird.add_route(prefix)

    def _withdraw(self, prefix: str) -> None:
        self.bird.remove_route(prefix)

    def refresh(self) -> None:
        """`birdc reload in`: BIRD asks the RR for a route refresh (RFC 2918)."""
        fams: tuple[Family, Family] = ("ipv4", "ipv6")
        for fam in fams:
            self.bird.birdc(
                "reload",
                "in",
                self.bird.peer_protocol(self.rr4 if fam == "ipv4" else self.rr6),
                family=fam,
            )

    def import_updates(self) -> int:
        """Import updates received on both sessions (`show protocols all`), for refresh checks."""
        total = 0
        pairs: tuple[tuple[Family, str], ...] = (("ipv4", self.rr4), ("ipv6", self.rr6))
        for fam, rr in pairs:
            text = self.bird.birdc(
                "show", "protocols", "all", self.bird.peer_protocol(rr), family=fam
            )
            m = re.search(r"Import updates:\s+(\d+)", text)
            if m:
                total += int(m.group(1))
        return total


@dataclass
class Bird2Client(Blocks):
    """A BIRD 2 node with one IPv4 and one IPv6 session to the RR."""

    name: str
    host: Host
    rr4: str
    rr6: str
    blocks4: list[str]
    blocks6: list[str]
    asn: int
    kind: str = "bird2"
    bird: Bird2 = field(init=False)

    def __post_init__(self) -> None:
        self.bird = Bird2(
            self.host,
            [Neighbor(self.rr4, graceful_restart=True), Neighbor(self.rr6, graceful_restart=True)],
            [*self.blocks4, *self.blocks6],
            asn=self.asn,
        )

    def start(self) -> None:
        self.bird.start()

    def stop(self) -> None:
        self.bird.stop()

    def kill9(self) -> None:
        self.bird.kill9()

    def established(self) -> bool:
        ps = self.bird.bgp_protocols()
        return len(ps) == 2 and all(p.established for p in ps)

    def routes(self, family: str) -> dict[str, Seen]:
        own = set(self.blocks4 if family == "ipv4" else self.blocks6)
        table = "master4" if family == "ipv4" else "master6"
        return _seen_bird(self.bird.routes(table), own)

    def _announce(self, prefix: str) -> None:
        self.bird.add_route(prefix)

    def _withdraw(self, prefix: str) -> None:
        self.bird.remove_route(prefix)
