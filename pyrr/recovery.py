"""pyrr as the *restarting* speaker of RFC 4724 §4.1, so a restart costs no client a route.

Before it stops, pyrr remembers which peers were Established (a small state file). When it
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

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from .bgp.nlri import Family

if TYPE_CHECKING:
    import asyncio

    from .peer import Peer

log = structlog.get_logger("pyrr.recovery")

# RFC 4724 §4.1 leaves the selection deferral time to the implementation; a peer that was up
# before the restart but does not come back is not waited for longer than this.
DEFERRAL_BOUND = 30.0


def load_state(path: Path, restart_time: int, now: float | None = None) -> set[str] | None:
    """The peers that were Established when pyrr last ran, if that was within restart_time."""
    try:
        data = json.loads(path.read_text())
        saved_at = float(data["time"])
        peers = {str(p) for p in data["established"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (now if now is not None else time.time()) - saved_at > restart_time:
        return None  # too old: the peers have flushed our routes long ago; a cold start
    return peers


def save_state(path: Path, established: list[str]) -> None:
    tmp = path.with_suffix(".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"time": time.time(), "established": sorted(established)}))
        os.replace(tmp, path)
    except OSError as err:
        log.warning("cannot write the restart state file", path=str(path), error=str(err))


class Recovery:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, expected: set[str], bound: float = DEFERRAL_BOUND
    ) -> None:
        self.loop = loop
        self.active = True
        self.expected = set(expected)
        self.done_peers: set[str] = set()
        self.deferred: dict[str, Peer] = {}
        self.started = loop.time()
        self._timer = loop.call_later(bound, self.finish, "deferral bound reached")
        log.info(
            "restarting: deferring route advertisement (RFC 4724 §4.1)",
            waiting_for=len(self.expected),
            bound=bound,
        )
        if not self.expected:
            loop.call_soon(self.finish, "no peer to wait for")

    def defer(self, peer: Peer) -> None:
        self.deferred[peer.key] = peer

    def peer_down(self, peer: Peer) -> None:
        self.deferred.pop(peer.key, None)
        self.done_peers.discard(peer.key)

    def end_of_rib(self, peer: Peer, family: Family, negotiated: tuple[Family, ...]) -> None:
        if not self.active or peer.key not in self.expected:
            return
        if all(f in peer.eor_received for f in negotiated):
            self.done_peers.add(peer.key)
            if self.expected <= self.done_peers:
                self.finish("End-of-RIB from every peer that was up before the restart")

    def finish(self, reason: str) -> None:
        if not self.active:
            return
        self.active = False
        self._timer.cancel()
        log.info(
            "restart recovery finished: advertising",
            reason=reason,
            seconds=round(self.loop.time() - self.started, 3),
            peers=len(self.deferred),
        )
        deferred, self.deferred = self.deferred, {}
        for peer in deferred.values():
            peer.advertise()
