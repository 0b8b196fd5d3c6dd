"""The Loc-RIB: one entry per (family, prefix), holding every candidate path; each peer's
Adj-RIB-In is its paths among them (pyrr.rib.path).

Every operation touches only the prefixes it names and returns the best-path changes it caused,
as (family, prefix, old best, new best); nothing here walks a whole table for one UPDATE. A
peer's routes are found through the prefixes its `Source` lists, when it goes away or its
stale routes are swept.

While `report_candidates` is set (the export layer has an ADD-PATH group, RFC 7911, which sends
more than the best path) a prefix whose set of candidate paths changed while its best path did
not is reported too, as (family, prefix, best, best): old is new. Receivers of the best path
only find nothing to do in it. Reporting it costs nothing when the flag is off, and only the
prefixes with two candidates or more can produce it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import repeat

from ..bgp.nlri import PATH_ID_LEN, Family
from ..bgp.update import Update
from .bestpath import select
from .path import Path, Source
from .reason import Reason

Change = tuple[Family, bytes, Path | None, Path | None]
# Prefixes withdrawn in a row that were all held by one path alone (the path itself the table
# entry): (family, path, prefixes), the same as a change (family, prefix, path, None) for each.
# A withdrawn full table is a few of these instead of 100,000s of changes (see `apply_update`).
Run = tuple[Family, Path, list[bytes]]

# A table rebuilt after a mass withdrawal: CPython's dict never shrinks on deletion, so a
# table that lost most of its routes keeps their memory until it is copied.
_SHRINK_BELOW = 4  # rebuild when fewer than a quarter of its largest size are left ...
_SHRINK_MIN = 4096  # ... and that size was worth it
# A source's prefix list is compacted a slice of this many at a time, so a full table's list
# is never copied whole (the copy was the peak of a full table's withdrawal).
_COMPACT_SLICE = 1 << 15


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


def run_changes(runs: Iterable[Run]) -> list[Change]:
    """Runs as the changes they stand for (for a consumer that takes changes only)."""
    return [(family, key, path, None) for family, path, keys in runs for key in keys]


def path_of(entry: Entry, source: Source, path_id: int) -> Path | None:
    """The source's path (with that received path id) among an entry's candidates."""
    if entry.__class__ is Path:
        assert isinstance(entry, Path)
        return entry if entry.source is source and entry.path_id == path_id else None
    for p in entry.paths:
        if p.source is source and p.path_id == path_id:
            return p
    return None


class Rib:
    def __init__(self) -> None:
        self.tables: dict[Family, dict[bytes, Entry]] = {}
        self.report_candidates = False  # also report candidate-set changes (module docstring)
        self._peak: dict[Family, int] = {}  # each table's largest size since it was last built
        # Left for `tidy`: prefix lists to compact, tables to shrink (after withdrawals).
        self._untidy_sources: dict[tuple[int, Family], Source] = {}
        self._untidy_tables: set[Family] = set()
        self.untidy = False  # whether `tidy` has work (pyrr.rib.housekeeping)

    def __len__(self) -> int:
        return sum(len(t) for t in self.tables.values())

    def best_routes(self, family: Family) -> Iterator[tuple[bytes, Path]]:
        for prefix, dest in self.tables.get(family, {}).items():
            if dest.best is not None:
                yield prefix, dest.best

    def lookup(self, family: Family, prefix: bytes) -> Entry | None:
        return self.tables.get(family, {}).get(prefix)

    def routes_of(self, source: Source, family: Family) -> Iterator[tuple[bytes, Path]]:
        """The source's routes of a family (its Adj-RIB-In, stale ones included), as
        (prefix, path); one per path id."""
        table = self.tables.get(family)
        if not table:
            return
        seen: set[bytes] = set()
        for prefix in source.prefixes.get(family, ()):
            if prefix in seen:
                continue
            seen.add(prefix)
            entry = table.get(prefix)
            if entry is not None:
                for p in entry.paths:
                    if p.source is source:
                        yield prefix, p

    # -- changes from one peer ---------------------------------------------------------------

    def apply_update(
        self,
        source: Source,
        update: Update,
        add_path_rx: frozenset[Family],
        runs: list[Run] | None = None,
    ) -> list[Change]:
        """The UPDATE's changes. Given `runs`, the withdrawals of prefixes that one path held
        alone go there instead, as runs: they all happened before the returned changes (the
        withdrawn routes are applied first, RFC 4271 §4.3), so a consumer that applies the
        runs first and then the changes sees the same sequence."""
        changes: list[Change] = []
        if update.withdrawn:
            self._withdrawn(source, update, add_path_rx, changes, runs)
        if update.attrs is not None:
            self._announced(source, update, add_path_rx, changes)
        return changes

    def _withdrawn(
        self,
        source: Source,
        update: Update,
        add_path_rx: frozenset[Family],
        changes: list[Change],
        runs: list[Run] | None,
    ) -> None:
        add = changes.append
        peak = self._peak
        for family, keys in update.withdrawn:
            table = self.tables.get(family)
            if table is not None and len(table) > peak.get(family, 0):
                peak[family] = len(table)  # noted before routes go (see _shrink)
            if family in add_path_rx:
                # RFC 7911 §3: the NLRI key is the path identifier, then the prefix.
                for key in keys:
                    ch = self.withdraw(source, family, key[PATH_ID_LEN:], _path_id(key))
                    if ch is not None:
                        add(ch)
            elif table is not None:
                self._withdraw_plain(source, family, table, keys, changes, runs)
            # Withdrawn prefixes stay listed (announced again, they are listed again) until
            # `tidy`, off the withdrawal's path, or now if the list is mostly dead.
            if source.needs_compaction(family, urgent=True):
                self._compact(source, family)
            elif source.needs_compaction(family):
                self._untidy_sources[id(source), family] = source
            self._untidy_tables.add(family)
            self.untidy = True

    def _withdraw_plain(
        self,
        source: Source,
        family: Family,
        table: dict[bytes, Entry],
        keys: list[bytes],
        changes: list[Change],
        runs: list[Run] | None,
    ) -> None:
        """Withdrawals without path identifiers. The common case, a prefix held by this
        source's fresh path alone, inline and in runs of one path (a full table withdrawn is
        100,000s of these in a row, most of them of one path); the rest through `withdraw`.

        Every key is popped first, in C; when they were all one path's (one UPDATE of a node's
        or a feeder's withdrawals, as a rule) that is the whole run, checked in C too."""
        if not keys:
            return
        held = list(map(table.pop, keys, repeat(None)))
        first = held[0]
        if (
            first.__class__ is Path
            and first.source is source
            and not first.stale
            and first.path_id == 0
            and held.count(first) == len(held)  # each key once, each this path's
        ):
            removed = self._end_run(family, first, keys, changes, runs)
        else:
            removed = self._withdraw_mixed(source, family, table, keys, held, changes, runs)
        if removed:
            source.counts[family] -= removed

    def _withdraw_mixed(
        self,
        source: Source,
        family: Family,
        table: dict[bytes, Entry],
        keys: list[bytes],
        held: list[Entry | None],
        changes: list[Change],
        runs: list[Run] | None,
    ) -> int:
        """`_withdraw_plain` key by key: what each popped key held decides; an entry that was
        not this source's path alone is put back for `withdraw`."""
        removed = 0
        run_path: Path | None = None
        run: list[bytes] = []
        for key, cur in zip(keys, held, strict=True):
            if cur is None:
                continue  # RFC 4271 §9: withdrawing what was never announced is harmless
            if cur is run_path:
                run.append(key)
                continue
            if cur.__class__ is Path and cur.source is source and not cur.stale:
                path: Path = cur
                if path.path_id == 0:
                    if run_path is not None:
                        removed += self._end_run(family, run_path, run, changes, runs)
                    run_path, run = path, [key]
                    continue
            table[key] = cur  # not ours alone: put back, for `withdraw` to decide
            ch = self.withdraw(source, family, key)
            if ch is not None:
                changes.append(ch)
        if run_path is not None:
            removed += self._end_run(family, run_path, run, changes, runs)
        return removed

    def _end_run(
        self,
        family: Family,
        path: Path,
        run: list[bytes],
        changes: list[Change],
        runs: list[Run] | None,
    ) -> int:
        """A run of prefixes `path` held alone left the table: release the path once per
        prefix, and report the run (or its changes, for a caller that takes no runs)."""
        path.refs -= len(run)
        if path.refs <= 0:
            self._forget(path)
        if runs is not None:
            runs.append((family, path, run))
        else:
            changes += [(family, key, path, None) for key in run]
        return len(run)

    def _announced(
        self,
        source: Source,
        update: Update,
        add_path_rx: frozenset[Family],
        changes: list[Change],
    ) -> None:
        add = changes.append
        attrs = update.attrs
        assert attrs is not None
        for family, next_hop, keys in update.announced:
            if family not in add_path_rx:
                path = source.intern(family, attrs, next_hop)
                for key in keys:
                    ch = self.announce(family, key, path)
                    if ch is not None:
                        add(ch)
            else:
                for key in keys:
                    path = source.intern(family, attrs, next_hop, _path_id(key))
                    ch = self.announce(family, key[PATH_ID_LEN:], path)
                    if ch is not None:
                        add(ch)

    def announce(self, family: Family, prefix: bytes, path: Path) -> Change | None:
        source = path.source
        table = self.tables.get(family)
        if table is None:
            table = self.tables[family] = {}
        cur = table.get(prefix)
        if cur is None:
            # The common case, kept short: a prefix nobody announced yet.
            path.refs += 1
            counts = source.counts
            counts[family] = counts.get(family, 0) + 1
            listed = source.prefixes.get(family)
            if listed is None:
                source.prefixes[family] = [prefix]
            else:
                listed.append(prefix)
            table[prefix] = path
            return (family, prefix, None, path)
        old = path_of(cur, source, path.path_id)
        if old is path:
            return None
        path.refs += 1
        if old is None:
            source.counts[family] = source.counts.get(family, 0) + 1
            source.listed(family, prefix)
        elif old.stale and old.same_route(path):
            self._refreshed(table, prefix, cur, old, path)
            return None
        else:
            # Implicit withdraw (RFC 4271 §3.1); a re-announced stale route is fresh again
            # (RFC 4724 §4.2).
            if old.stale:
                source.stale_counts[family] -= 1
            self._release(old)
        if cur is old:
            # The only candidate, replaced by its own source.
            table[prefix] = path
            return (family, prefix, old, path)
        if cur.__class__ is Path:
            assert isinstance(cur, Path)
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

    def _refreshed(
        self, table: dict[bytes, Entry], prefix: bytes, cur: Entry, old: Path, path: Path
    ) -> None:
        """RFC 4724 §4.2: a stale route announced again as it was: fresh, and nothing changed
        for anyone (no one is sent it again)."""
        old.source.stale_counts[path.family] -= 1
        self._release(old)
        if cur is old:
            table[prefix] = path
            return
        assert isinstance(cur, Dest)
        cur.paths[cur.paths.index(old)] = path
        if cur.best is old:
            cur.best = path

    def withdraw(
        self, source: Source, family: Family, prefix: bytes, path_id: int = 0
    ) -> Change | None:
        table = self.tables.get(family)
        cur = table.get(prefix) if table is not None else None
        if cur is None:
            return None  # RFC 4271 §9: withdrawing what was never announced is harmless
        if isinstance(cur, Path):
            if cur.source is not source or cur.path_id != path_id:
                return None
            old = cur
        else:
            found = path_of(cur, source, path_id)
            if found is None:
                return None
            old = found
        return self._remove(family, prefix, old)

    def drop_source(self, source: Source) -> list[Change]:
        """The peer's session ended without graceful restart: all its routes go."""
        return [
            ch
            for family in list(source.prefixes)
            for ch in self._sweep(source, family, lambda _p: True)
        ]

    def mark_stale(self, source: Source, families: Iterable[Family] | None = None) -> int:
        """RFC 4724 §4.2 (and RFC 7313 §4 BoRR): keep the peer's routes, marked stale, still in
        use, until they are re-announced or swept. What it announces from now on makes new
        paths (the stale ones leave the intern table)."""
        fams = set(source.counts) if families is None else set(families)
        for k, p in list(source.interned.items()):
            if p.family in fams:
                p.stale = True
                del source.interned[k]
        n = 0
        for family in fams:
            count = source.counts.get(family, 0)
            n += count - source.stale_counts.get(family, 0)
            source.stale_counts[family] = count
        return n

    def sweep_stale(self, source: Source, family: Family) -> list[Change]:
        """RFC 4724 §4.2: End-of-RIB (or the restart timer) removes what was not re-announced."""
        if not source.stale_counts.get(family):
            return []
        return self._sweep(source, family, lambda p: p.stale)

    # -- internals ---------------------------------------------------------------------------

    def _sweep(
        self, source: Source, family: Family, doomed: Callable[[Path], bool]
    ) -> list[Change]:
        """Remove the source's routes of a family that `doomed` picks; compact its list."""
        table = self.tables.get(family)
        prefixes = source.prefixes.pop(family, [])
        if table is None:
            return []
        if len(table) > self._peak.get(family, 0):
            self._peak[family] = len(table)  # noted before routes go (see _shrink)
        changes: list[Change] = []
        kept: list[bytes] = []
        for prefix in prefixes:  # a repeated prefix finds nothing left the second time
            cur = table.get(prefix)
            if cur is None:
                continue
            mine = [p for p in cur.paths if p.source is source]
            for p in mine:
                if doomed(p):
                    ch = self._remove(family, prefix, p)
                    if ch is not None:
                        changes.append(ch)
            if len(mine) > sum(1 for p in mine if doomed(p)):
                kept.append(prefix)
        if kept:
            source.prefixes[family] = kept
        self._shrink(family)
        return changes

    def tidy(self) -> None:
        """Housekeeping after withdrawals, run when the speaker is quiet (`Housekeeping`) so a
        mass withdrawal reaches the peers first: compact the prefix lists that are a third
        withdrawn, copy the tables that lost three quarters of their routes (`_shrink`)."""
        for (_id, family), source in self._untidy_sources.items():
            if source.needs_compaction(family):
                self._compact(source, family)
        for family in self._untidy_tables:
            self._shrink(family)
        self._untidy_sources.clear()
        self._untidy_tables.clear()
        self.untidy = False

    def _compact(self, source: Source, family: Family) -> None:
        """Drop the withdrawn prefixes from the source's list. Kept: every prefix still in the
        table (a superset of the source's own: one another peer holds is kept by mistake, and
        harmlessly), filtered in C. Repeats of a live prefix (one that flapped) only when that
        is not enough, as de-duplicating takes a set of the whole list."""
        lst = source.prefixes.get(family)
        if lst is None:
            return
        if not source.counts.get(family):
            lst.clear()  # all withdrawn: nothing to look up
            return
        live = self.tables.get(family, {}).__contains__
        i = 0
        while i < len(lst):
            kept = list(filter(live, lst[i : i + _COMPACT_SLICE]))
            lst[i : i + _COMPACT_SLICE] = kept
            i += len(kept)
        if source.needs_compaction(family):
            lst[:] = dict.fromkeys(lst)

    def _release(self, path: Path) -> None:
        path.refs -= 1
        if path.refs <= 0:
            self._forget(path)

    @staticmethod
    def _forget(path: Path) -> None:
        """A path no prefix uses any more leaves its source's intern table."""
        src = path.source
        k = (path.family, path.next_hop, path.attrs.wire, path.path_id)
        if src.interned.get(k) is path:
            del src.interned[k]

    def _remove(self, family: Family, prefix: bytes, old: Path) -> Change | None:
        source = old.source
        source.counts[family] -= 1
        if old.stale:
            source.stale_counts[family] -= 1
        self._release(old)
        table = self.tables[family]
        cur = table[prefix]
        if cur.__class__ is Path:
            del table[prefix]
            return (family, prefix, old, None)
        assert isinstance(cur, Dest)
        paths = cur.paths
        paths.remove(old)
        if len(paths) == 1:
            # Back to a single candidate: store the path itself again.
            only = paths[0]
            table[prefix] = only
            prev = cur.best
            if prev is only and not self.report_candidates:
                return None
            return (family, prefix, prev, only)
        return self._reselect(family, prefix, cur)

    def _shrink(self, family: Family) -> None:
        """Give a table's memory back after it lost most of its routes (module constants).
        Called after withdrawals; the table's largest size is noted before them."""
        table = self.tables.get(family)
        if table is None:
            return
        peak = self._peak.get(family, 0)
        size = len(table)
        if peak < _SHRINK_MIN or size * _SHRINK_BELOW > peak:
            return
        self.tables[family] = dict(table)
        self._peak[family] = len(table)

    def _reselect(self, family: Family, prefix: bytes, dest: Dest) -> Change | None:
        """Select the best of a changed candidate set: its best-path change, or (when reporting
        candidates) the candidate change itself."""
        old = dest.best
        best, reason = select(dest.paths)
        dest.best, dest.reason = best, reason
        if best is old and not self.report_candidates:
            return None
        return (family, prefix, old, best)


def _path_id(key: bytes) -> int:
    return int.from_bytes(key[:PATH_ID_LEN], "big")
