"""GoBGP as the route reflector under test (passive, every session a route-reflector client)."""

from __future__ import annotations

from tests.lab.gobgp import Gobgp, GobgpNeighbor
from tests.lab.netns import Host

from .reflectors import PeerSpec


class GobgpReflector:
    name = "gobgp"

    def __init__(self) -> None:
        self.gobgp: Gobgp | None = None

    def start(self, host: Host, asn: int, peers: list[PeerSpec]) -> None:
        neighbors = [
            GobgpNeighbor(
                p.address,
                asn=p.asn,
                families=p.families,
                rr_client=True,
                passive=True,
                graceful_restart=True,
            )
            for p in peers
        ]
        self.gobgp = Gobgp.route_reflector(host, neighbors, asn=asn, cluster_id=host.ip4)
        self.gobgp.start()

    def stop(self) -> None:
        if self.gobgp is not None:
            self.gobgp.stop()

    def restart(self) -> None:
        """GoBGP has no restart command that keeps its peers' state: stop it without a
        NOTIFICATION (SIGKILL, as a crash or an upgrade would) and start it again."""
        assert self.gobgp is not None
        self.gobgp.kill9()
        self.gobgp.start()

    def alive(self) -> bool:
        return self.gobgp is not None and self.gobgp.running()

    def log(self) -> str:
        proc = self.gobgp.process if self.gobgp is not None else None
        return proc.log_text() if proc is not None else ""
