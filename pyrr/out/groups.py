"""Update groups: peers that would be sent byte-identical UPDATEs share one group, one queue,
one Adj-RIB-Out and one encoding of every change (DESIGN.md rule 4, FRR's update groups).

A best-path change is queued once per group and coalesced until the end of the event-loop turn
(`flush`), then packed into UPDATEs once; the same `bytes` objects are written to every member.
The one exception is the path's own source, which never gets its route back (RFC 4456 §8 does
not reflect to the originator; we follow BIRD here) and instead gets a withdrawal when it used to
hold another peer's path for that prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..bgp.constants import MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN
from ..bgp.encode import end_of_rib, pack_announce, pack_withdraw
from ..bgp.nlri import Family
from ..rib.loc_rib import Change, Rib
from ..rib.path import Path, Source
from ..rib.reflect import Role, ebgp_attrs, ibgp_attrs, may_export

_PATH_ID_ONE = b"\0\0\0\1"


class Member(Protocol):
    """What a group needs of a peer: who it is, and a way to write bytes to it."""

    source: Source

    def write_messages(self, messages: Sequence[bytes | memoryview]) -> None:
        """Write whole messages (a chunk may hold several, or be a slice of a shared blob)."""


@dataclass(frozen=True, slots=True)
class GroupKey:
    """Everything that changes the bytes a peer is sent."""

    role: Role
    families: tuple[Family, ...]
    four_octet_as: bool
    extended_message: bool
    add_path_tx: frozenset[Family]
    ebgp_peer: str = ""  # eBGP peers get next-hop-self with their own local address: own group
    local_as: int = 0
    next_hop_self: tuple[tuple[Family, bytes], ...] = ()


@dataclass(slots=True)
class _PackedTable:
    """One family of a group's Adj-RIB-Out packed once, for every member that needs all of it
    (a join, a route refresh); a member is handed slices around its own routes, as in a
    flush. Valid until the next flush that touches the family."""

    blob: bytes
    spans: dict[str, list[tuple[int, int]]]  # source key -> its routes' messages' spans


class UpdateGroup:
    def __init__(self, key: GroupKey, cluster_id: int) -> None:
        self.key = key
        self.cluster_id = cluster_id
        self.members: dict[str, Member] = {}
        self.adj_out: dict[Family, dict[bytes, Path]] = {f: {} for f in key.families}
        self.pending: dict[Family, dict[bytes, Path | None]] = {f: {} for f in key.families}
        self.max_len = MAX_EXTENDED_MESSAGE_LEN if key.extended_message else MAX_MESSAGE_LEN
        self.updates_sent = 0
        self.paused: set[str] = set()
        self.dirty: dict[str, dict[Family, set[bytes]]] = {}
        self._nh_self = dict(key.next_hop_self)
        self._tables: dict[Family, _PackedTable] = {}

    # -- what goes out -----------------------------------------------------------------------

    def _announce(self, family: Family, path: Path, prefixes: list[bytes]) -> list[bytes]:
        key = self.key
        if key.role == Role.EBGP:
            attrs = ebgp_attrs(path, key.local_as)
            next_hop = self._nh_self.get(family, path.next_hop)
        else:
            attrs = ibgp_attrs(path, self.cluster_id)
            next_hop = path.next_hop
        wire = attrs.wire if key.four_octet_as else attrs.wire_for_as2()
        if family in key.add_path_tx:
            prefixes = [_PATH_ID_ONE + p for p in prefixes]
        return pack_announce(family, wire, next_hop, prefixes, self.max_len)

    def _withdraw(self, family: Family, prefixes: list[bytes]) -> list[bytes]:
        if family in self.key.add_path_tx:
            prefixes = [_PATH_ID_ONE + p for p in prefixes]
        return pack_withdraw(family, prefixes, self.max_len)

    # -- the shared stream -------------------------------------------------------------------

    def flush(self) -> None:
        """Encode everything queued once, and write it to every member.

        All messages of one flush are joined into one `bytes` blob that every member is handed
        as is; a member that is the source of some of them gets memoryview slices of the same
        blob around its own messages (no copy), plus its few personal withdrawals.
        """
        parts: list[bytes] = []
        pos = 0
        cut: dict[str, list[tuple[int, int]]] = {}  # source key -> its own messages' spans
        personal: dict[str, list[bytes]] = {}  # source key -> messages it alone gets
        touched: list[tuple[Family, list[bytes]]] = []
        for family, pend in self.pending.items():
            if not pend:
                continue
            adj = self.adj_out[family]
            by_path: dict[Path, list[bytes]] = {}
            gone: list[bytes] = []
            source_wd: dict[str, list[bytes]] = {}
            changed: list[bytes] = []
            for prefix, new in pend.items():
                old = adj.get(prefix)
                if new is old:
                    continue
                changed.append(prefix)
                if new is None:
                    del adj[prefix]
                    gone.append(prefix)
                    continue
                adj[prefix] = new
                lst = by_path.get(new)
                if lst is None:
                    by_path[new] = [prefix]
                else:
                    lst.append(prefix)
                if old is not None and old.source is not new.source:
                    source_wd.setdefault(new.source.key, []).append(prefix)
            pend.clear()
            if changed:
                touched.append((family, changed))
                self._tables.pop(family, None)
            if gone:
                for m in self._withdraw(family, gone):
                    parts.append(m)
                    pos += len(m)
            pos = self._pack_paths(family, by_path, parts, cut, pos)
            for src, prefixes in source_wd.items():
                personal.setdefault(src, []).extend(self._withdraw(family, prefixes))
        if not touched:
            return
        self.updates_sent += len(parts)
        blob = b"".join(parts)
        paused = self.paused
        for mkey, member in self.members.items():
            if mkey in paused:
                # Out of the shared stream: remember what changed, resync on resume.
                dirty = self.dirty[mkey]
                for family, prefixes in touched:
                    dirty.setdefault(family, set()).update(prefixes)
                continue
            own = cut.get(mkey)
            extra = personal.get(mkey)
            if own is None and extra is None:
                if blob:
                    member.write_messages([blob])
                continue
            chunks = _without(blob, own)
            if extra is not None:
                chunks += extra
            if chunks:
                member.write_messages(chunks)

    # -- slow members ------------------------------------------------------------------------

    def pause(self, member: Member) -> None:
        """The member's transport is above its high watermark: it leaves the shared stream (so
        it never holds the others back nor grows without bound) and is resynchronised from the
        Adj-RIB-Out when it drains."""
        key = member.source.key
        if key in self.members and key not in self.paused:
            self.paused.add(key)
            self.dirty[key] = {}

    def resume(self, member: Member) -> None:
        key = member.source.key
        if key not in self.paused:
            return
        self.paused.discard(key)
        dirty = self.dirty.pop(key, {})
        own = member.source
        msgs: list[bytes | memoryview] = []
        for family, prefixes in dirty.items():
            adj = self.adj_out.get(family, {})
            by_path: dict[Path, list[bytes]] = {}
            gone: list[bytes] = []
            for prefix in prefixes:
                path = adj.get(prefix)
                if path is None or path.source is own:
                    gone.append(prefix)
                else:
                    by_path.setdefault(path, []).append(prefix)
            if gone:
                msgs += self._withdraw(family, gone)
            for path, pfx in by_path.items():
                msgs += self._announce(family, path, pfx)
        if msgs:
            member.write_messages(msgs)

    # -- membership --------------------------------------------------------------------------

    def fill_from(self, rib: Rib) -> None:
        """A new group starts with what the Loc-RIB holds now."""
        self._tables.clear()
        for family in self.key.families:
            adj = self.adj_out[family]
            for prefix, best in rib.best_routes(family):
                if may_export(best, self.key.role):
                    adj[prefix] = best

    def table_for(self, member: Member) -> list[bytes | memoryview]:
        """The whole Adj-RIB-Out for one member (initial sync), without the member's own
        routes; End-of-RIB markers are the caller's choice."""
        return [m for family in self.key.families for m in self.family_table(member, family)]

    def family_table(self, member: Member, family: Family) -> list[bytes | memoryview]:
        """One family of the Adj-RIB-Out for one member (route refresh, initial sync).

        Packed once and shared: when a thousand clients come back after a restart, each
        joining member costs a few slices instead of packing the whole table again.
        """
        table = self._tables.get(family)
        if table is None:
            by_path: dict[Path, list[bytes]] = {}
            for prefix, path in self.adj_out.get(family, {}).items():
                lst = by_path.get(path)
                if lst is None:
                    by_path[path] = [prefix]
                else:
                    lst.append(prefix)
            parts: list[bytes] = []
            spans: dict[str, list[tuple[int, int]]] = {}
            self._pack_paths(family, by_path, parts, spans, 0)
            table = self._tables[family] = _PackedTable(b"".join(parts), spans)
        return _without(table.blob, table.spans.get(member.source.key))

    def _pack_paths(
        self,
        family: Family,
        by_path: dict[Path, list[bytes]],
        parts: list[bytes],
        spans: dict[str, list[tuple[int, int]]],
        pos: int,
    ) -> int:
        """Append the UPDATEs announcing `by_path` to `parts` (whose bytes end at `pos`),
        noting each message's span under its source; return where the bytes now end."""
        for path, prefixes in by_path.items():
            own = spans.get(path.source.key)
            if own is None:
                own = spans[path.source.key] = []
            for m in self._announce(family, path, prefixes):
                parts.append(m)
                own.append((pos, pos + len(m)))
                pos += len(m)
        return pos


def _without(blob: bytes, spans: list[tuple[int, int]] | None) -> list[bytes | memoryview]:
    """What a member is handed of a shared blob: the blob itself, or memoryview slices of it
    around `spans` (its own routes' messages, in order): no copy either way."""
    if not spans:
        return [blob] if blob else []
    view = memoryview(blob)
    chunks: list[bytes | memoryview] = []
    cur = 0
    for a, b in spans:
        if a > cur:
            chunks.append(view[cur:a])
        cur = b
    if cur < len(blob):
        chunks.append(view[cur:])
    return chunks


class Outbound:
    """All update groups; turns RIB changes into queued group work and flushes once per turn."""

    def __init__(
        self, rib: Rib, cluster_id: int, schedule: Callable[[Callable[[], None]], None]
    ) -> None:
        self.rib = rib
        self.cluster_id = cluster_id
        self.groups: dict[GroupKey, UpdateGroup] = {}
        self._schedule = schedule
        self._scheduled = False

    def changes(self, changes: list[Change]) -> None:
        """Queue best-path changes in every group (the export decision made once per distinct
        path and group, not per prefix), and schedule one flush for this loop turn."""
        if not changes or not self.groups:
            return
        for g in self.groups.values():
            role = g.key.role
            pending = g.pending
            exportable: dict[Path, bool] = {}
            for family, prefix, _old, new in changes:
                pend = pending.get(family)
                if pend is None:
                    continue
                if new is None:
                    pend[prefix] = None
                    continue
                ok = exportable.get(new)
                if ok is None:
                    ok = exportable[new] = may_export(new, role)
                # A prefix changed twice in one turn is sent once, in its final state.
                pend[prefix] = new if ok else None
        if not self._scheduled:
            self._scheduled = True
            self._schedule(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        for g in list(self.groups.values()):
            g.flush()

    def join(self, key: GroupKey, member: Member) -> UpdateGroup:
        """Add a member; it is sent the group's whole table and End-of-RIB per family."""
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = UpdateGroup(key, self.cluster_id)
            g.fill_from(self.rib)
        else:
            # Send the member the group's state as of now: pending work first, so that the
            # member joins a stream that it has the start of.
            g.flush()
        g.members[member.source.key] = member
        msgs: list[bytes | memoryview] = [*g.table_for(member)]
        msgs += [end_of_rib(f) for f in key.families]
        member.write_messages(msgs)
        return g

    def leave(self, key: GroupKey, member: Member) -> None:
        g = self.groups.get(key)
        if g is None:
            return
        g.members.pop(member.source.key, None)
        g.paused.discard(member.source.key)
        g.dirty.pop(member.source.key, None)
        if not g.members:
            del self.groups[key]
