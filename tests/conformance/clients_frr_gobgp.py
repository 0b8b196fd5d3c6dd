"""FRR and GoBGP as conformance-lab clients: one session to the RR carrying both families."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.lab.frr import Frr
from tests.lab.gobgp import Gobgp
from tests.lab.netns import Host

from .clients import Blocks, Seen


@dataclass
class FrrClient(Blocks):
    name: str
    host: Host
    rr4: str
    blocks4: list[str]
    blocks6: list[str]
    asn: int
    kind: str = "frr"
    frr: Frr = field(init=False)

    def __post_init__(self) -> None:
        self.frr = Frr.client(
            self.host, self.rr4, [*self.blocks4, *self.blocks6], asn=self.asn, graceful_restart=True
        )

    def start(self) -> None:
        self.frr.start()

    def stop(self) -> None:
        self.frr.stop()

    def kill9(self) -> None:
        self.frr.kill9()

    def established(self) -> bool:
        peers = self.frr.peers()
        return len(peers) == 1 and peers[0].state == "Established"

    def routes(self, family: str) -> dict[str, Seen]:
        out: dict[str, Seen] = {}
        for r in self.frr.routes(family):  # type: ignore[arg-type]
            if r.local or not r.best:
                continue
            out[r.prefix] = Seen(r.prefix, r.next_hop or "", r.originator_id, tuple(r.cluster_list))
        return out

    def _announce(self, prefix: str) -> None:
        self.frr.add_network(prefix)

    def _withdraw(self, prefix: str) -> None:
        self.frr.remove_network(prefix)


@dataclass
class GobgpClient(Blocks):
    name: str
    host: Host
    rr4: str
    blocks4: list[str]
    blocks6: list[str]
    asn: int
    kind: str = "gobgp"
    gobgp: Gobgp = field(init=False)

    def __post_init__(self) -> None:
        self.gobgp = Gobgp.client(
            self.host, self.rr4, [*self.blocks4, *self.blocks6], asn=self.asn, graceful_restart=True
        )

    def start(self) -> None:
        self.gobgp.start()

    def stop(self) -> None:
        self.gobgp.stop()

    def kill9(self) -> None:
        self.gobgp.kill9()

    def established(self) -> bool:
        peers = self.gobgp.peers()
        return len(peers) == 1 and peers[0].established

    def routes(self, family: str) -> dict[str, Seen]:
        out: dict[str, Seen] = {}
        for r in self.gobgp.routes(family):  # type: ignore[arg-type]
            if r.local or not r.best:
                continue
            out[r.prefix] = Seen(r.prefix, r.next_hop or "", r.originator_id, tuple(r.cluster_list))
        return out

    def _announce(self, prefix: str) -> None:
        self.gobgp.add_route(prefix)

    def _withdraw(self, prefix: str) -> None:
        self.gobgp.remove_route(prefix)
