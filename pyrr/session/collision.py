"""What to do when a neighbour's OPEN arrives while it has other connections (RFC 4271 §6.8
connection collisions, RFC 4724 §4.2 a restarted peer): a pure decision, applied by the
neighbour."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum, auto

from ..bgp.constants import State
from ..bgp.fsm import collision_keep_outgoing
from ..bgp.messages import Open
from .link import Link


class Outcome(Enum):
    PEER_RESTARTED = auto()  # the old Established session ends as if its TCP connection failed
    REFUSED = auto()  # the new connection loses to an Established one (Cease/Collision)
    SUPERSEDED = auto()  # an older connection in the same direction (Cease/Connection Rejected)
    LOST_COLLISION = auto()  # §6.8: the loser of two connections whose OPENs both arrived


def resolve(
    new: Link,
    others: Sequence[Link],
    peer_open: Open,
    local_id: int,
    gr_helper: bool,
) -> list[tuple[Link, Outcome]]:
    """The links to end, and why, in the order to end them. When `new` itself must end, it is
    the last entry and nothing after it is decided (the caller stops there).

    `gr_helper`: the Established session negotiated graceful restart, so a new OPEN on a
    connection the peer made means the peer restarted (RFC 4724 §4.2).
    """
    out: list[tuple[Link, Outcome]] = []
    for other in others:
        if other is new or other.session.closing:
            continue
        st = other.session.state
        if st == State.ESTABLISHED:
            if _restarted(new, other, peer_open, gr_helper):
                out.append((other, Outcome.PEER_RESTARTED))
                continue
            # §6.8: a collision with an Established session closes the new connection. (An
            # OPEN on a connection *we* made is the peer answering our dial, never a sign that
            # it restarted: only a connection it initiates is, RFC 4724 §4.2.)
            out.append((new, Outcome.REFUSED))
            return out
        if st in (State.OPENSENT, State.OPENCONFIRM) and other.outgoing == new.outgoing:
            # Not a collision (§6.8 is about one connection each way): an older connection in
            # the same direction is superseded by the one whose OPEN just arrived (a peer that
            # reconnected, or a connection that never sent its OPEN).
            out.append((other, Outcome.SUPERSEDED))
            continue
        if st == State.OPENCONFIRM:
            # §6.8 resolves between two connections whose OPENs both arrived. One still in
            # OpenSent is left alone (as BIRD does): it is resolved when its own OPEN arrives,
            # or closed by the peer. Deciding earlier races with a KEEPALIVE already on its
            # way, and the two sides can end up closing each other's Established connection.
            keep_outgoing = collision_keep_outgoing(local_id, peer_open.router_id)
            loser = other if other.outgoing != keep_outgoing else new
            out.append((loser, Outcome.LOST_COLLISION))
            if loser is new:
                return out
    return out


def _restarted(new: Link, established: Link, peer_open: Open, gr_helper: bool) -> bool:
    """RFC 4724 §4.2: a new connection from the peer, opened after our session with it came
    up, carrying an OPEN with graceful restart, is the peer back from a restart.

    One opened *before* the session came up is the other half of a collision (§6.8: both
    sides dialed at once), never a restart: the peer had not restarted yet.
    """
    if new.outgoing or not gr_helper or peer_open.capabilities.graceful_restart is None:
        return False
    up_at = established.session.established_at
    return up_at is None or new.opened_at > up_at
