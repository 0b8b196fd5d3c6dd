"""When to dial a neighbour again after a session failed: exponential backoff with jitter
(RFC 4271 §8.1.1 DampPeerOscillations, in spirit; §10 jitter, so two speakers that fail
together do not retry in lock step)."""

from __future__ import annotations

import random

BACKOFF_START = 1.0
BACKOFF_MAX = 60.0
# RFC 4271 §10: jitter timers by a factor between 0.75 and 1.0.
JITTER_LOW = 0.75


def jitter(rng: random.Random, seconds: float) -> float:
    return seconds * rng.uniform(JITTER_LOW, 1.0)


class Backoff:
    __slots__ = ("at", "delay", "rng")

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.delay = BACKOFF_START
        self.at: float | None = None  # when to dial again; None = not waiting

    def schedule(self, now: float) -> None:
        if self.at is None:
            self.at = now + jitter(self.rng, self.delay)
            self.delay = min(self.delay * 2, BACKOFF_MAX)

    def reset(self) -> None:
        """A session came up: the next failure starts from the shortest delay again."""
        self.delay = BACKOFF_START

    def cancel(self) -> None:
        self.at = None

    def due(self, now: float) -> bool:
        if self.at is not None and now >= self.at:
            self.at = None
            return True
        return False
