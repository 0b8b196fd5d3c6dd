"""ADD-PATH send (RFC 7911): update groups whose members are sent up to N paths per prefix.

Several Calico nodes announce the same service address (serviceExternalIPs,
serviceLoadBalancerIPs); sent the best path only, every client routes it through one node. A
member that negotiated ADD-PATH receive for a family (RFC 7911 §4) is sent, in one group per
(ADD-PATH families, rest of the group key), the N best paths of each prefix that the RFC 4456 §8
rules and its export filter let through, best first.

Path identifiers (RFC 7911 §3: a route is the pair (path id, prefix); §5: how the sender
assigns them is a local matter) are chosen per source: every path of one peer (and one received
path id, were we to receive ADD-PATH) is sent with the same identifier, taken from a counter
the first time that peer's path is sent and kept on its `Source` for as long as the peer is
configured. So a path keeps its identifier while it exists, a path whose attributes change is
re-announced under it (replacing the previous one, as an implicit withdraw does), its
withdrawal names it, and two paths of one prefix never share one (a peer has one path per
prefix).

The group's state per prefix is the paths it sent (the path itself when one, a tuple when
more); the RIB marks which prefixes changed (loc_rib: `report_candidates`), and the flush
selects each marked prefix's paths again. Encoded once per group: a member that is the source
of one of the paths is handed the blob without that path's messages (and without the
withdrawals of its own identifier), so it holds N-1 of the others then — never its own route
back (RFC 4456 §8 and BIRD's practice), and never a second encoding for its sake.
"""

from __future__ import annotations

from collections import Counter

from ..bgp.encode import pack_withdraw
from ..bgp.nlri import PATH_ID_LEN, Family
from ..rib.bestpath import select
from ..rib.loc_rib import Change, Rib, Run, run_changes
from ..rib.path import Path
from .filters import Blocked
from .group import GroupKey, Member, Queued, UpdateGroup
from .packed import Builder

Sent = Path | tuple[Path, ...]  # what a prefix was sent as: one path, or several, best first
# Queued for an ADD-PATH family: the prefix alone counts (its paths are selected at the flush).
_MARKED = None
_ID_MAX = 1 << (8 * PATH_ID_LEN)


class PathIds:
    """RFC 7911 §3 path identifiers: one per (source, received path id), from a counter shared
    by every group (so a path has one identifier whichever group sends it)."""

    __slots__ = ("next",)

    def __init__(self) -> None:
        self.next = 1

    def of(self, path: Path) -> bytes:
        ids = path.source.export_ids
        pid = ids.get(path.path_id)
        if pid is None:
            # 2^32 identifiers: one per peer configuration ever seen, never reused.
            pid = ids[path.path_id] = (self.next % _ID_MAX).to_bytes(PATH_ID_LEN, "big")
            self.next += 1
        return pid


def _same(old: tuple[Path, ...], new: tuple[Path, ...]) -> bool:
    """The same paths, in order (a stale path announced again counts as itself)."""
    if len(old) != len(new):
        return False
    return all(a is b or a.same_route(b) for a, b in zip(old, new, strict=True))


def _paths(sent: Sent | None) -> tuple[Path, ...]:
    if sent is None:
        return ()
    return (sent,) if sent.__class__ is Path else sent  # type: ignore[return-value]


class AddPathGroup(UpdateGroup):
    """An update group sending up to `count` paths per prefix on its ADD-PATH families (its
    other families, if any, are sent the best path as by `UpdateGroup`)."""

    def __init__(
        self,
        key: GroupKey,
        cluster_id: int,
        blocked: Blocked,
        rib: Rib,
        count: int,
        ids: PathIds,
    ) -> None:
        super().__init__(key, cluster_id, rib, blocked)
        self.count = count
        self.ids = ids
        self.multi: dict[Family, dict[bytes, Sent]] = {
            f: {} for f in key.families if f in key.add_path_tx
        }
        self._entries = dict.fromkeys(self.multi, 0)  # paths sent, per family
        self._entries_by_source: dict[Family, Counter[str]] = {f: Counter() for f in self.multi}
        # Withdrawn NLRI keys (path id + prefix) -> their source, per paused member and family:
        # a member out of the shared stream may still hold them.
        self._gone_now: dict[Family, dict[bytes, str]] = {}
        self._paused_gone: dict[str, dict[Family, dict[bytes, str]]] = {}

    # -- what goes in ------------------------------------------------------------------------

    def queue(self, changes: list[Change]) -> None:
        """ADD-PATH families: mark the prefix, its paths are selected again at the flush (a
        change of any candidate, best or not, may change what is sent)."""
        multi = self.multi
        rest = [ch for ch in changes if ch[0] not in multi]
        if rest:
            super().queue(rest)
        pending = self.pending
        for family, prefix, _old, _new in changes:
            if family in multi:
                pending[family][prefix] = _MARKED

    def queue_gone(self, runs: list[Run]) -> None:
        """Withdrawn runs as changes: an ADD-PATH family selects its prefixes' paths again."""
        self.queue(run_changes(runs))

    def paths_for(self, family: Family, prefix: bytes) -> tuple[Path, ...]:
        """The paths this group sends for a prefix: the `count` best of those it may be sent,
        best first (each next one the best of the candidates left, RFC 4271 §9.1.2 with the
        RFC 4456 §9 steps)."""
        if self.blocked and self.blocked.blocks(family, prefix):
            return ()
        entry = self.rib.lookup(family, prefix)
        if entry is None:
            return ()
        if entry.__class__ is Path:
            assert isinstance(entry, Path)
            only = self.view(family, prefix, entry)
            return () if only is None else (only,)
        out: list[Path] = []
        left: list[Path] | None = None
        cand = entry.best
        while cand is not None:
            sent = self.view(family, prefix, cand)
            if sent is not None:
                out.append(sent)
                if len(out) == self.count:
                    break
            if left is None:
                left = [p for p in entry.paths if p is not cand]
            else:
                left.remove(cand)
            cand = select(left)[0]
        return tuple(out)

    def fill(self, rib: Rib) -> None:
        super().fill(rib)
        for family, table in self.multi.items():
            n = 0
            by_source = self._entries_by_source[family]
            for prefix in rib.tables.get(family, {}):
                paths = self.paths_for(family, prefix)
                if paths:
                    table[prefix] = paths[0] if len(paths) == 1 else paths
                    n += len(paths)
                    for p in paths:
                        by_source[p.source.key] += 1
            self._entries[family] = n

    # -- what goes out -----------------------------------------------------------------------

    def nlri(self, family: Family, path: Path | None, prefixes: list[bytes]) -> list[bytes]:
        if family in self.multi and path is not None:
            pid = self.ids.of(path)
            return [pid + p for p in prefixes]
        return super().nlri(family, path, prefixes)

    def flush(self) -> None:
        self._gone_now = {}
        super().flush()

    def _flush_family(
        self,
        family: Family,
        pend: dict[bytes, Queued],
        out: Builder,
        personal: dict[str, list[bytes]],
    ) -> bool:
        table = self.multi.get(family)
        if table is None:
            return super()._flush_family(family, pend, out, personal)
        by_path: dict[Path, list[bytes]] = {}
        gone: dict[str, list[bytes]] = {}  # source key -> withdrawn NLRI keys of its paths
        changed = False
        delta = 0
        for prefix in pend:
            old = _paths(table.get(prefix))
            new = self.paths_for(family, prefix)
            if _same(old, new):
                continue
            changed = True
            delta += len(new) - len(old)
            by_source = self._entries_by_source[family]
            for p in old:
                by_source[p.source.key] -= 1
            for p in new:
                by_source[p.source.key] += 1
            if new:
                table[prefix] = new[0] if len(new) == 1 else new
            else:
                del table[prefix]
            self._diff(prefix, old, new, by_path, gone)
        pend.clear()
        if not changed:
            return False
        self._entries[family] += delta
        self._tables.pop(family, None)
        gone_now = self._gone_now.setdefault(family, {})
        for src, keys in gone.items():
            # RFC 7911 §3: withdrawn by (path id, prefix). Packed per source so that the
            # source, which never had its own path, is handed none of them.
            out.add(pack_withdraw(family, keys, self.max_len), src)
            gone_now.update(dict.fromkeys(keys, src))
        self._pack_paths(family, by_path, out)
        return True

    def _diff(
        self,
        prefix: bytes,
        old: tuple[Path, ...],
        new: tuple[Path, ...],
        by_path: dict[Path, list[bytes]],
        gone: dict[str, list[bytes]],
    ) -> None:
        """Announce what is new or changed under its identifier, withdraw identifiers no
        longer sent."""
        of = self.ids.of
        before = {of(p): p for p in old}
        now = {of(p): p for p in new}
        for pid, p in before.items():
            if pid not in now:
                gone.setdefault(p.source.key, []).append(pid + prefix)
        for pid, p in now.items():
            was = before.get(pid)
            if was is None or not (was is p or was.same_route(p)):
                lst = by_path.get(p)
                if lst is None:
                    by_path[p] = [prefix]
                else:
                    lst.append(prefix)

    # -- slow members ------------------------------------------------------------------------

    def note_paused(self, mkey: str, touched: list[tuple[Family, list[bytes]]]) -> None:
        super().note_paused(mkey, touched)
        if self._gone_now:
            mine = self._paused_gone.setdefault(mkey, {})
            for family, keys in self._gone_now.items():
                mine.setdefault(family, {}).update(keys)

    def forget(self, member: Member) -> None:
        super().forget(member)
        self._paused_gone.pop(member.key, None)

    def resync(self, member: Member, dirty: dict[Family, set[bytes]]) -> list[bytes]:
        multi = {f: dirty.pop(f) for f in list(dirty) if f in self.multi}
        msgs = super().resync(member, dirty)
        gone_by_family = self._paused_gone.pop(member.key, {})
        own = member.source
        for family, prefixes in multi.items():
            table = self.multi[family]
            by_path: dict[Path, list[bytes]] = {}
            present: set[bytes] = set()
            for prefix in prefixes:
                for p in _paths(table.get(prefix)):
                    present.add(self.ids.of(p) + prefix)
                    if p.source is not own:
                        by_path.setdefault(p, []).append(prefix)
            wd = [
                k
                for k, src in gone_by_family.get(family, {}).items()
                if k not in present and src != member.key
            ]
            if wd:
                msgs += pack_withdraw(family, wd, self.max_len)
            for path, pfx in by_path.items():
                msgs += self.announce(family, path, pfx)
        return msgs

    def mark_family_dirty(self, member: Member, family: Family) -> None:
        table = self.multi.get(family)
        if table is None:
            super().mark_family_dirty(member, family)
            return
        own = member.source
        dirty = self.paused[member.key].setdefault(family, set())
        dirty.update(
            prefix
            for prefix, sent in table.items()
            if any(p.source is not own for p in _paths(sent))
        )

    # -- tables ------------------------------------------------------------------------------

    def family_table(self, member: Member, family: Family) -> tuple[list[bytes | memoryview], int]:
        table = self.multi.get(family)
        if table is None:
            return super().family_table(member, family)
        packed = self._tables.get(family)
        if packed is None:
            by_path: dict[Path, list[bytes]] = {}
            for prefix, sent in table.items():
                for p in _paths(sent):
                    lst = by_path.get(p)
                    if lst is None:
                        by_path[p] = [prefix]
                    else:
                        lst.append(prefix)
            out = Builder()
            self._pack_paths(family, by_path, out)
            packed = self._tables[family] = out.done()
        return packed.for_member(member.key)

    def sent_families(self) -> dict[Family, tuple[int, Counter[str]]]:
        out = super().sent_families()
        for family in self.multi:
            out[family] = (self._entries[family], self._entries_by_source[family])
        return out

    def sent_count(self, member: Member) -> int:
        """Paths the member has been sent: the group's less the member's own."""
        key = member.source.key
        n = sum(
            self.sent_total[f] - self.sent_by_source[f][key]
            for f in self.key.families
            if f not in self.multi
        )
        for family in self.multi:
            n += self._entries[family] - self._entries_by_source[family][key]
        return n
