"""What a neighbour needs of the rest of the speaker, as narrow interfaces: the routes it
learns go to `Routes` (the RIB, whose changes reach the export layer); the routes it is sent
come from `Exporter` (pyrr.export.Export); a restarting speaker defers it (`Deferral`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from ..bgp.nlri import Family
from ..bgp.update import Update
from ..export.group import GroupKey, Member
from ..rib.path import Source


class Routes(Protocol):
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
