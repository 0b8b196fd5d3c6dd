"""pyrr as the *restarting* speaker of RFC 4724 §4.1, so a restart costs no client a route.

Before it stops, pyrr remembers which peers were Established (pyrr.ops.restart_state). When it
starts again within its restart time, it:

1. advertises graceful restart with the Restart State bit (and F=1 for every family), so its
   clients keep the routes they had from pyrr and send theirs at once (RFC 4724 §4.2);
2. collects routes but sends no peer anything until every peer that was up before the restart
   has sent End-of-RIB for each family of its session — or until a bound runs out — so no
   client ever receives a partial table followed by End-of-RIB, which would flush the rest;
3. then sends every peer its whole table and End-of-RIB.

Only the peers that were Established before are waited for: a peer that was already dead
cannot hold up the cluster's convergence (BIRD 2, as restarting speaker, waits for every
configured peer).
"""

from __future__ import annotations

import structlog

from .ports import Deferred

log = structlog.get_logger("pyrr.recovery")

# RFC 4724 §4.1 leaves the selection deferral time to the implementation; a peer that was up
# before the restart but does not come back is not waited for longer than this.
DEFERRAL_BOUND = 30.0


class Recovery:
    """The selection deferral (sans-IO: `next_timer()` / `handle_timer(now)`)."""

    def __init__(self, expected: set[str], now: float, bound: float = DEFERRAL_BOUND) -> None:
        self.active = True
        self.expected = set(expected)
        self.done_peers: set[str] = set()
        self.deferred: dict[str, Deferred] = {}
        self.started = now
        self.finished_at: float | None = None
        # Nobody to wait for: finish at the first timer run, once the listeners are up.
        self.deadline = now + bound if self.expected else now
        self.timer_at: float | None = None
        log.info(
            "restarting: deferring route advertisement (RFC 4724 §4.1)",
            waiting_for=len(self.expected),
            bound=bound,
        )

    def defer(self, neighbor: Deferred) -> None:
        self.deferred[neighbor.key] = neighbor

    def peer_down(self, neighbor: Deferred) -> None:
        self.deferred.pop(neighbor.key, None)
        self.done_peers.discard(neighbor.key)

    def end_of_rib(self, neighbor: Deferred, done: bool) -> None:
        if not self.active or not done or neighbor.key not in self.expected:
            return
        self.done_peers.add(neighbor.key)
        if self.expected <= self.done_peers:
            self.finish("End-of-RIB from every peer that was up before the restart")

    def next_timer(self) -> float | None:
        return self.deadline if self.active else None

    def handle_timer(self, now: float) -> None:
        if self.active and now >= self.deadline:
            self.finish("deferral bound reached" if self.expected else "no peer to wait for", now)

    def finish(self, reason: str, now: float | None = None) -> None:
        if not self.active:
            return
        self.active = False
        self.finished_at = now
        log.info("restart recovery finished: advertising", reason=reason, peers=len(self.deferred))
        deferred, self.deferred = self.deferred, {}
        for neighbor in deferred.values():
            neighbor.advertise()
