"""What a neighbour asks its host to do that is not a write to one of its connections: open a
TCP connection (asynchronous, with socket options), and remember the Established set (a file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from ..config import PeerConfig
from .link import Link, Sink


class DialTarget(Protocol):
    """The neighbour a `Dial` reports back to."""

    @property
    def key(self) -> str: ...

    @property
    def config(self) -> PeerConfig: ...

    def connected(self, attempt: int, sink: Sink, now: float) -> Link | None: ...

    def dial_failed(self, attempt: int, now: float, error: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Dial:
    """Open a TCP connection to the neighbour; report with `connected` or `dial_failed`."""

    neighbor: DialTarget
    attempt: int
    local: str | None  # the source address to bind, if any
    timeout: float


@dataclass(frozen=True, slots=True)
class CancelDial:
    """Stop the dial `attempt` if its TCP connection is not up yet (an inbound connection from
    the neighbour arrived meanwhile); one that is up is still reported with `connected`."""

    attempt: int


@dataclass(frozen=True, slots=True)
class SessionsChanged:
    """The set of Established neighbours changed (remembered for a graceful restart)."""


Effect = Dial | CancelDial | SessionsChanged
SESSIONS_CHANGED: Final = SessionsChanged()
