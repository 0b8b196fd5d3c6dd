"""The RIB's housekeeping (`Rib.tidy`) as a deadline of the speaker's timer queue.

Compacting a peer's prefix list or copying a table that lost most of its routes costs a pass
over a whole table (a quarter of a full table's withdrawal, measured). Done inline it delays
the very withdrawals the peers are waiting for; so the withdrawal that leaves such work behind
arms this timer, and the work is done `TIDY_DELAY` later, once the burst has been sent. (The
prefix list still has a hard bound: `Source.needs_compaction(urgent=True)` compacts inline.)
"""

from __future__ import annotations

from .loc_rib import Rib

TIDY_DELAY = 1.0  # seconds after the first withdrawal that left work behind


class Housekeeping:
    """A `session.timers.Timed`: `arm(now)` once work is left, `handle_timer` does it."""

    __slots__ = ("due", "rib", "timer_at")

    def __init__(self, rib: Rib) -> None:
        self.rib = rib
        self.due: float | None = None
        self.timer_at: float | None = None  # owned by the timer queue

    def arm(self, now: float) -> bool:
        """Whether this call armed it (the caller queues it on the timers then)."""
        if self.due is not None:
            return False
        self.due = now + TIDY_DELAY
        return True

    def next_timer(self) -> float | None:
        return self.due

    def handle_timer(self, now: float) -> None:
        if self.due is not None and now >= self.due:
            self.due = None
            self.rib.tidy()
