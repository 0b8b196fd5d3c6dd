"""The graceful-restart helper state of one neighbour (RFC 4724 §4.2): its routes kept, marked
stale, when its session ended without a NOTIFICATION; which families to sweep when it returns;
and the restart timer."""

from __future__ import annotations

from ..bgp.capabilities import GracefulRestart, Negotiated
from ..bgp.nlri import Family
from ..rib.path import Source
from .ports import Routes


class Helper:
    __slots__ = ("restart_at", "routes", "source")

    def __init__(self, source: Source, routes: Routes) -> None:
        self.source = source
        self.routes = routes
        self.restart_at: float | None = None  # the restart timer's deadline

    def keep(self, neg: Negotiated, peer_gr: GracefulRestart, now: float) -> int:
        """The session went down gracefully: keep the routes until the peer returns with
        End-of-RIB or its restart time runs out. Returns how many routes are kept; the
        families the peer's capability does not cover are then `uncovered`."""
        n = self.routes.mark_stale(self.source)
        self.restart_at = now + peer_gr.restart_time
        return n

    def uncovered(self, peer_gr: GracefulRestart) -> list[Family]:
        return [f for f in self.source.stale_families if not peer_gr.covers(f)]

    def gone_on_return(self, peer_gr: GracefulRestart | None) -> list[Family]:
        """The stale families to sweep now that a new session is up (RFC 4724 §4.2): all of
        them if the peer came back without the Restart State bit (BIRD after a plain reconnect
        sends R=0, F=0), else those whose forwarding state it did not preserve."""
        if peer_gr is None or not peer_gr.restarting:
            return self.source.stale_families
        return [f for f in self.source.stale_families if not peer_gr.forwarding_preserved(f)]

    def sweep(self, family: Family) -> int:
        """Drop the family's stale routes (End-of-RIB, EoRR); returns how many went."""
        n = self.routes.sweep_stale(self.source, family)
        if not self.source.stale_families:
            self.restart_at = None
        return n

    def due(self, now: float) -> bool:
        return self.restart_at is not None and now >= self.restart_at
