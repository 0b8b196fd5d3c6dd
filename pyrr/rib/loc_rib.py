"""Adj-RIB-In (on each Source) and the Loc-RIB: one `Dest` per (family, prefix).

Every operation touches only the prefixes it names and returns the best-path changes it caused,
as (family, prefix, old best, new best); nothing here walks a whole table for one UPDATE.

While `report_candidates` is set (the export layer has an ADD-PATH group, RFC 7911, which sends
more than the best path) a prefix whose set of candidate paths changed while its best path did
not is reported too, as (family, prefix, best, best): old is new. Receivers of the best path
only find nothing to do in it. Reporting it costs nothing when the flag is off, and only the
prefixes with two candidates or more can produce it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..bgp.nlri import Family
from ..bgp.update import Update
from .bestpath import select
from .path import Path, Source
from .reason import Reason

Change = tuple[Family, bytes, Path | None, Path | None]


class Dest:
    """The candidate paths for one prefix and the chosen one (two candidates or more).

    A prefix with a single candidate is stored as that `Path` itself, which answers `best`,
    `paths` and `reason` the same way: no object and no list per prefix for the common case
    (a full table from one peer is 250,000 such prefixes).
    """

    __slots__ = ("best", "paths", "reason")

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.best: Path | None = paths[0]
        self.reason = Reason.ONLY_PATH


Entry = Path | Dest


class Rib:
    def __init__(self) -> None:
        self.tables: dict[Family, dict[bytes, Entry]] = {}
        self.report_candidates = False  # also report candidate-set changes (module docstring)

    def __len__(self) -> int:
        return sum(len(t) for t in self.tables.values())

    def best_routes(self, family: Family) -> Iterator[tuple[bytes, Path]]:
        for prefix, dest in self.tables.get(family, {}).items():
            if dest.best is not None:
                yield prefix, dest.best

    def lookup(self, family: Family, prefix: bytes) -> Entry | None:
        return self.tables.get(family, {}).get(prefix)

    # -- changes from one peer ---------------------------------------------------------------

    def apply_update(
        self, source: Source, update: Update, add_path_rx: frozenset[Family]
    ) -> list[Change]:
        changes: list[Change] = []
        add = changes.append
        for family, prefixes in update.withdrawn:
            ap = family in add_path_rx
            for key in prefixes:
                ch = self.withdraw(source, family, key, key[4:] if ap else key)
                if ch is not None:
                    add(ch)
        attrs = update.attrs
        if attrs is not None:
            for family, next_hop, prefixes in update.announced:
                ap = family in add_path_rx
                if not ap:
                    path = source.intern(attrs, next_hop)
                    for key in prefixes:
                        ch = self.announce(source, family, key, key, path)
                        if ch is not None:
                            add(ch)
                else:
                    for key in prefixes:
                        path = source.intern(attrs, next_hop, int.from_bytes(key[:4], "big"))
                        ch = self.announce(source, family, key, key[4:], path)
                        if ch is not None:
                            add(ch)
        return changes

    def announce(
        self, source: Source, family: Family, key: bytes, prefix: bytes, path: Path
    ) -> Change | None:
        adj = source.adj_in.get(family)
        if adj is None:
            adj = source.adj_in[family] = {}
        old = adj.get(key)
        if old is path:
            return None
        adj[key] = path
        path.refs += 1
        if old is None:
            stale = source.stale.get(family)
            if stale:
                # RFC 4724 §4.2: a re-announced stale route is fresh again.
                old = stale.pop(key, None)
        if old is not None:
            self._release(old)
        table = self.tables.get(family)
        if table is None:
            table = self.tables[family] = {}
        cur = table.get(prefix)
        if cur is None:
            table[prefix] = path
            return (family, prefix, None, path)
        if cur is old:
            # The only candidate, replaced by its own source (implicit withdraw, RFC 4271 §3.1).
            table[prefix] = path
            return None if old is path else (family, prefix, old, path)
        if cur.__class__ is Path:
            dest = Dest([cur, path])
            table[prefix] = dest
            return self._reselect(family, prefix, dest)
        assert isinstance(cur, Dest)
        paths = cur.paths
        if old is not None:
            paths[paths.index(old)] = path
        else:
            paths.append(path)
        return self._reselect(family, prefix, cur)

    def withdraw(self, source: Source, family: Family, key: bytes, prefix: bytes) -> Change | None:
        old = source.adj_in.get(family, {}).pop(key, None)
        if old is None:
            old = source.stale.get(family, {}).pop(key, None)
            if old is None:
                return None  # RFC 4271 §9: withdrawing what was never announced is harmless
        return self._remove(family, prefix, old)

    def drop_family(
        self, source: Source, family: Family, table: dict[bytes, Path], add_path: bool
    ) -> list[Change]:
        """Withdraw every route of `table` (an Adj-RIB-In or stale table) from the Loc-RIB."""
        changes = []
        for key, path in table.items():
            ch = self._remove(family, key[4:] if add_path else key, path)
            if ch is not None:
                changes.append(ch)
        table.clear()
        return changes

    def drop_source(
        self, source: Source, add_path_rx: frozenset[Family] = frozenset()
    ) -> list[Change]:
        """The peer's session ended without graceful restart: all its routes go."""
        changes: list[Change] = []
        for family, table in list(source.adj_in.items()) + list(source.stale.items()):
            changes += self.drop_family(source, family, table, family in add_path_rx)
        source.adj_in.clear()
        source.stale.clear()
        return changes

    def mark_stale(self, source: Source, families: Iterable[Family] | None = None) -> int:
        """RFC 4724 §4.2 (and RFC 7313 §4 BoRR): keep the peer's routes, marked stale, still in
        use, until they are re-announced or swept."""
        n = 0
        for family in list(source.adj_in) if families is None else list(families):
            table = source.adj_in.pop(family, None)
            if not table:
                continue
            source.stale.setdefault(family, {}).update(table)
            n += len(table)
        return n

    def sweep_stale(self, source: Source, family: Family, add_path: bool = False) -> list[Change]:
        """RFC 4724 §4.2: End-of-RIB (or the restart timer) removes what was not re-announced."""
        table = source.stale.pop(family, None)
        if not table:
            return []
        return self.drop_family(source, family, table, add_path)

    # -- internals ---------------------------------------------------------------------------

    def _release(self, path: Path) -> None:
        path.refs -= 1
        if path.refs <= 0:
            src = path.source
            k = (path.next_hop, path.attrs.wire, path.path_id)
            if src.interned.get(k) is path:
                del src.interned[k]

    def _remove(self, family: Family, prefix: bytes, old: Path) -> Change | None:
        self._release(old)
        table = self.tables.get(family)
        cur = table.get(prefix) if table is not None else None
        if cur is None or table is None:
            return None
        if cur.__class__ is Path:
            if cur is not old:
                return None
            del table[prefix]
            return (family, prefix, old, None)
        assert isinstance(cur, Dest)
        paths = cur.paths
        try:
            paths.remove(old)
        except ValueError:
            return None
        if len(paths) == 1:
            # Back to a single candidate: store the path itself again.
            only = paths[0]
            table[prefix] = only
            prev = cur.best
            if prev is only and not self.report_candidates:
                return None
            return (family, prefix, prev, only)
        return self._reselect(family, prefix, cur)

    def _reselect(self, family: Family, prefix: bytes, dest: Dest) -> Change | None:
        """Select the best of a changed candidate set: its best-path change, or (when reporting
        candidates) the candidate change itself."""
        old = dest.best
        best, reason = select(dest.paths)
        dest.best, dest.reason = best, reason
        if best is old and not self.report_candidates:
            return None
        return (family, prefix, old, best)
