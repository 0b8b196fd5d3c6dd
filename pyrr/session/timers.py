"""One deadline queue for a whole speaker (after aioquic's `get_timer()` / `handle_timer(now)`,
for many objects): the transport arms a single loop timer for `next_at()` and calls `run(now)`.

Deadlines that move later (a hold timer restarted by every message) need no update: the entry
fires early, the object finds nothing due and is queued again at its real deadline. Only a
deadline that moves earlier is pushed, so the hot path pays nothing.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Protocol


class Timed(Protocol):
    timer_at: float | None  # the deadline this object is queued at (owned by Timers)

    def next_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


class Timers:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timed]] = []
        self._seq = itertools.count()

    def update(self, obj: Timed) -> None:
        """Queue `obj` again if its next deadline is earlier than the one it is queued at."""
        at = obj.next_timer()
        if at is not None and (obj.timer_at is None or at < obj.timer_at):
            obj.timer_at = at
            heapq.heappush(self._heap, (at, next(self._seq), obj))

    def next_at(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def run(self, now: float) -> None:
        """Hand `now` to every object whose deadline has come, then queue each again."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _seq, obj = heapq.heappop(heap)
            if obj.timer_at != at:
                continue  # superseded by an earlier entry that already ran
            obj.timer_at = None
            obj.handle_timer(now)
            self.update(obj)

    def __len__(self) -> int:
        return len(self._heap)
