"""Graceful-restart helper (RFC 4724 §4.2) for one neighbour: sweeping the routes kept as stale
while it restarted, per family on End-of-RIB (or EoRR, RFC 7313) and all at once when its restart
time runs out or it returns without the Restart State bit, and the restart timer that goes with
them.

A mixin of `pyrr.peer.Peer`, which owns the attributes declared here (set in `Peer.__init__`)
and marks the routes stale when a session goes down; the annotations let mypy check this file
alone. Nothing here imports pyrr.peer at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from .bgp.nlri import family_name

if TYPE_CHECKING:
    import asyncio

    from .bgp.nlri import Family
    from .rib.path import Source
    from .speaker import Speaker

# The same logger as pyrr.peer: operators filter a peer's log lines on this name.
log = structlog.get_logger("pyrr.peer")


class PeerGracefulRestart:
    """Stale-route sweeping and the restart timer (RFC 4724 helper mode)."""

    # Owned and initialised by Peer.__init__; declared for the type checker only.
    speaker: Speaker
    key: str
    source: Source
    _gr_timer: asyncio.TimerHandle | None
    _stale_add_path: frozenset[Family]

    def _sweep_stale(self, family: Family) -> None:
        # Stale keys are those of the session that went down (RFC 7911 §3), not of the current
        # one: by the time the restart timer fires `negotiated` is None.
        ap = family in self._stale_add_path
        changes = self.speaker.rib.sweep_stale(self.source, family, ap)
        if changes:
            log.info(
                "stale routes removed",
                peer=self.key,
                family=family_name(family),
                routes=len(changes),
            )
            self.speaker.outbound.changes(changes)
        if not self.source.stale and self._gr_timer is not None:
            self._gr_timer.cancel()
            self._gr_timer = None

    def _sweep_all_stale(self, reason: str) -> None:
        # Called by the restart timer, or directly when the peer returns without the Restart
        # State bit (RFC 4724 §4.2); then the pending timer must go too, or it would fire during
        # a later restart and sweep that restart's stale routes early.
        if self._gr_timer is not None:
            self._gr_timer.cancel()
        self._gr_timer = None
        if self.source.stale:
            log.info("sweeping stale routes", peer=self.key, reason=reason)
        for fam in list(self.source.stale):
            self._sweep_stale(fam)
