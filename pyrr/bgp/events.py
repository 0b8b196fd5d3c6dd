"""What a `Session` tells its driver (after h11's events): plain values, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass

from .capabilities import Negotiated
from .constants import State
from .messages import Notification, Open, RouteRefresh
from .update import Update


class Event:
    """Base class of every session event."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class ConnectRequested(Event):
    """Connect state entered: the driver should open a TCP connection to the peer now."""


@dataclass(frozen=True, slots=True)
class StateChanged(Event):
    old: State
    new: State
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OpenReceived(Event):
    """A valid OPEN arrived (OpenSent -> OpenConfirm).

    The driver checks connection collisions here (RFC 4271 §6.8)."""

    open: Open


@dataclass(frozen=True, slots=True)
class Established(Event):
    negotiated: Negotiated


@dataclass(frozen=True, slots=True)
class UpdateReceived(Event):
    """A decoded UPDATE; `body` is the message as received, without its 19-octet header (the
    bytes object the framer cut, so carrying it costs nothing): what monitoring forwards
    (BMP Route Monitoring, RFC 7854 §4.6; MRT BGP4MP_MESSAGE_AS4, RFC 6396 §4.4.3)."""

    update: Update
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class RefreshReceived(Event):
    """A ROUTE-REFRESH (RFC 2918) or a BoRR/EoRR marker (RFC 7313) for a negotiated family."""

    refresh: RouteRefresh


@dataclass(frozen=True, slots=True)
class SessionDown(Event):
    """The session left Established, OpenConfirm or OpenSent for Idle; the TCP connection is done.

    `graceful` is True when RFC 4724 lets a helper keep the peer's routes: the connection was lost
    without a NOTIFICATION (or with one the peer's N bit covers, RFC 8538), not a deliberate stop.
    """

    reason: str
    was_established: bool
    notification: Notification | None = None
    sent_by_us: bool = False
    graceful: bool = False
