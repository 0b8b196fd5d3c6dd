"""What a neighbour needs of the rest of the speaker, as narrow interfaces: the routes it
learns go to `Routes` (the RIB, whose changes reach the export layer); the routes it is sent
come from `Exporter` (pyrr.export.Export); a restarting speaker defers it (`Deferral`); a
`Monitor` (pyrr.monitor: BMP stations, MRT files), when one is attached, is told what happens."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from ..bgp.capabilities import Negotiated
from ..bgp.constants import State
from ..bgp.events import SessionDown
from ..bgp.nlri import Family
from ..bgp.update import Update
from ..config import PeerConfig
from ..export.group import GroupKey, Member
from ..rib.loc_rib import Change
from ..rib.path import Source
from .link import Link


class Routes(Protocol):
    @property
    def monitor(self) -> Monitor | None:
        """Who watches (BMP, MRT), if anyone: the neighbour tells it what happens."""

    def apply(
        self, source: Source, update: Update, add_path_rx: frozenset[Family], now: float
    ) -> None:
        """Apply a received UPDATE (after the RFC 4456 §8 loop check)."""

    def mark_stale(self, source: Source, families: Iterable[Family] | None = None) -> int: ...

    def sweep_stale(self, source: Source, family: Family) -> int: ...

    def drop(self, source: Source) -> None:
        """Every route of the source goes (its session ended without graceful restart)."""


class Exporter(Protocol):
    def join(self, member: Member, key: GroupKey) -> None: ...

    def leave(self, member: Member) -> None: ...

    def refresh(
        self, member: Member, family: Family, end_of_rib_after: bool
    ) -> tuple[list[bytes | memoryview], int] | None: ...

    def pause(self, member: Member) -> None: ...

    def resume(self, member: Member) -> None: ...

    def sent_count(self, member: Member) -> int: ...


class Deferred(Protocol):
    @property
    def key(self) -> str: ...

    def advertise(self) -> None: ...


class Deferral(Protocol):
    """RFC 4724 §4.1: while the speaker recovers from its own restart, nothing is sent."""

    @property
    def active(self) -> bool: ...

    def defer(self, neighbor: Deferred) -> None: ...

    def peer_down(self, neighbor: Deferred) -> None: ...

    def end_of_rib(self, neighbor: Deferred, done: bool) -> None:
        """The neighbour sent End-of-RIB; `done` when it has for every negotiated family."""


class MonitoredPeer(Protocol):
    """What a monitor reads of a neighbour (pyrr.session.neighbor.Neighbor)."""

    @property
    def key(self) -> str: ...

    @property
    def config(self) -> PeerConfig: ...

    @property
    def source(self) -> Source: ...

    @property
    def negotiated(self) -> Negotiated | None: ...

    @property
    def established(self) -> Link | None: ...


class Monitor(Protocol):
    """Observes the speaker for monitoring (BMP, RFC 7854 / RFC 9069; MRT, RFC 6396).

    Nothing is asked of it unless one is attached: per UPDATE a neighbour reads its speaker's
    `monitor` (Routes.monitor) and finds None, the speaker checks it once per batch of
    Loc-RIB changes. Every call happens after the fact
    and returns nothing: a monitor observes, it never changes what BGP does.
    """

    def peer_up(self, peer: MonitoredPeer, link: Link) -> None:
        """The peer's session is Established on `link` (its OPENs are on `link.session`)."""

    def peer_down(self, peer: MonitoredPeer, link: Link, event: SessionDown) -> None:
        """The Established session on `link` ended (before its routes are dropped)."""

    def update_received(self, peer: MonitoredPeer, link: Link, body: bytes) -> None:
        """An UPDATE arrived on the Established `link`: its body as received."""

    def state_changed(self, peer: MonitoredPeer, link: Link | None, old: State, new: State) -> None:
        """One session of the peer changed state (`link` None: the session that dials)."""

    def loc_rib_changes(self, changes: list[Change]) -> None:
        """Best-path changes (family, prefix, old, new); old is new when only the candidate
        set changed (pyrr.rib.loc_rib's `report_candidates`)."""
