"""Update groups: peers that would be sent byte-identical UPDATEs share one group, one queue,
one Adj-RIB-Out and one encoding of every change (DESIGN.md rule 4, FRR's update groups).

A best-path change is queued once per group and coalesced until the end of the event-loop turn
(`flush`), then packed into UPDATEs once; the same `bytes` objects are written to every member.
The one exception is the path's own source, which never gets its route back (RFC 4456 §8 does
not reflect to the originator; we follow BIRD here) and instead gets a withdrawal when it used to
hold another peer's path for that prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..bgp.constants import MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN
from ..bgp.encode import pack_announce, pack_withdraw
from ..bgp.nlri import Family
from ..rib.loc_rib import Change, Rib
from ..rib.path import Path, Source
from .filters import Blocked, Chain, Matcher, matcher
from .policy import Role, may_export
from .rewrite import ebgp_attrs, filtered, ibgp_attrs, next_hop

# RFC 7911 §3: the path identifier we send on ADD-PATH families: one path per prefix (the best).
_PATH_ID_ONE = b"\0\0\0\1"

Spans = list[tuple[int, int]]  # [(start, end)] of whole messages inside one blob


class Member(Protocol):
    """What a group needs of a peer: who it is, and a way to write UPDATEs to it."""

    @property
    def key(self) -> str: ...

    @property
    def source(self) -> Source: ...

    def send_updates(self, chunks: Sequence[bytes | memoryview], count: int) -> None:
        """Write `count` whole messages, in `chunks` (a chunk may hold several messages, or be
        a slice of a blob shared with other members)."""


@dataclass(frozen=True, slots=True)
class GroupKey:
    """Everything that changes the bytes a peer is sent."""

    role: Role
    families: tuple[Family, ...]
    four_octet_as: bool
    extended_message: bool
    add_path_tx: frozenset[Family]
    ebgp_peer: str = ""  # eBGP peers get next-hop-self with their own local address: own group
    local_as: int = 0  # the AS prepended towards an eBGP peer (the session's local AS)
    # Our address on the session, by family, for the receivers whose next-hop mode sets it.
    next_hop_self: tuple[tuple[Family, bytes], ...] = ()
    export_filter: Chain | None = None  # the peer's export rules (Calico BGPFilter), in order


@dataclass(slots=True)
class Packed:
    """Messages packed into one blob, with the spans of each source's own messages (which that
    source is not sent: it gets slices around them)."""

    blob: bytes = b""
    count: int = 0
    spans: dict[str, Spans] = field(default_factory=dict)

    def for_member(self, key: str) -> tuple[list[bytes | memoryview], int]:
        """What one member is handed: the blob, or memoryview slices of it around its own
        messages (no copy either way), and how many messages that is."""
        own = self.spans.get(key)
        if not own:
            return ([self.blob] if self.blob else []), self.count
        view = memoryview(self.blob)
        chunks: list[bytes | memoryview] = []
        cur = 0
        for a, b in own:
            if a > cur:
                chunks.append(view[cur:a])
            cur = b
        if cur < len(self.blob):
            chunks.append(view[cur:])
        return chunks, self.count - len(own)


class Builder:
    """Appends messages to one blob-to-be, tracking byte positions without re-summing."""

    __slots__ = ("packed", "parts", "pos")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.pos = 0
        self.packed = Packed()

    def add(self, messages: list[bytes], owner: str | None = None) -> None:
        pos = self.pos
        spans = None
        if owner is not None:
            spans = self.packed.spans.get(owner)
            if spans is None:
                spans = self.packed.spans[owner] = []
        for m in messages:
            self.parts.append(m)
            n = len(m)
            if spans is not None:
                spans.append((pos, pos + n))
            pos += n
        self.pos = pos
        self.packed.count += len(messages)

    def done(self) -> Packed:
        self.packed.blob = b"".join(self.parts)
        return self.packed


class UpdateGroup:
    """The peers sent the best path of every prefix (and, on ADD-PATH families, that one path
    with path identifier 1)."""

    def __init__(self, key: GroupKey, cluster_id: int, blocked: Blocked | None = None) -> None:
        self.key = key
        self.cluster_id = cluster_id
        self.blocked = blocked if blocked is not None else Blocked(())
        self.members: dict[str, Member] = {}
        self.adj_out: dict[Family, dict[bytes, Path]] = {f: {} for f in key.families}
        self.pending: dict[Family, dict[bytes, Path | None]] = {f: {} for f in key.families}
        self.max_len = MAX_EXTENDED_MESSAGE_LEN if key.extended_message else MAX_MESSAGE_LEN
        self.updates_sent = 0
        # Members out of the shared stream (a slow reader), and what changed since they left.
        self.paused: dict[str, dict[Family, set[bytes]]] = {}
        self._nh_self = dict(key.next_hop_self)
        self._tables: dict[Family, Packed] = {}  # a family's whole table, packed once
        # The export rules by family, compiled (none: every path RFC 4456 allows goes out).
        chain = key.export_filter
        self._matchers: dict[Family, Matcher] = {}
        if chain is not None:
            for f in key.families:
                if chain.rules(f):
                    self._matchers[f] = matcher(chain.rules(f))

    # -- what goes in ------------------------------------------------------------------------

    def queue(self, changes: list[Change]) -> None:
        """Queue best-path changes until the flush; the RFC 4456 decision is made once per
        distinct path, not per prefix."""
        if self._matchers:
            self._queue_filtered(changes)
            return
        role = self.key.role
        pending = self.pending
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

    def _queue_filtered(self, changes: list[Change]) -> None:
        pending = self.pending
        matchers = self._matchers
        # Rules without a CIDR decide alike for every prefix of a path: once per path then.
        memo: dict[tuple[Family, Path], Path | None] = {}
        for family, prefix, _old, new in changes:
            pend = pending.get(family)
            if pend is None:
                continue
            if new is None:
                pend[prefix] = None
                continue
            m = matchers.get(family)
            if m is not None and not m.prefix_free:
                pend[prefix] = self.view(family, prefix, new)
                continue
            k = (family, new)
            if k not in memo:
                memo[k] = self.view(family, prefix, new)
            pend[prefix] = memo[k]

    def view(self, family: Family, prefix: bytes, path: Path) -> Path | None:
        """What this group is sent for `path` as the route to `prefix`: the path, the path as
        an accepting export rule changed it, or None (RFC 4456 §8 or a filter keeps it back).
        The reflection rules come first: BIRD applies them before the export filter too, so a
        filter cannot send what RFC 4456 withholds."""
        role = self.key.role
        if not may_export(path, role):
            return None
        m = self._matchers.get(family)
        if m is None:
            return path
        # peerType matches the peer the route goes to (confd's is_same_as).
        ops = m.decide(prefix, path.attrs, role != Role.EBGP)
        return None if ops is None else filtered(path, ops)

    def fill(self, rib: Rib) -> None:
        """A new group starts with what the Loc-RIB holds now."""
        blocked = self.blocked if self.blocked else None
        role = self.key.role
        for family, adj in self.adj_out.items():
            if blocked is None and family not in self._matchers:
                for prefix, best in rib.best_routes(family):
                    if may_export(best, role):
                        adj[prefix] = best
                continue
            for prefix, best in rib.best_routes(family):
                if blocked is not None and blocked.blocks(family, prefix):
                    continue
                sent = self.view(family, prefix, best)
                if sent is not None:
                    adj[prefix] = sent

    # -- what goes out -----------------------------------------------------------------------

    def announce(self, family: Family, path: Path, prefixes: list[bytes]) -> list[bytes]:
        key = self.key
        if key.role == Role.EBGP:
            attrs = ebgp_attrs(path, key.local_as)
        else:
            attrs = ibgp_attrs(path, self.cluster_id)
        wire = attrs.wire if key.four_octet_as else attrs.wire_for_as2()
        hop = next_hop(path, family, self._nh_self)
        return pack_announce(family, wire, hop, self.nlri(family, path, prefixes), self.max_len)

    def nlri(self, family: Family, path: Path | None, prefixes: list[bytes]) -> list[bytes]:
        """The NLRI keys of `prefixes` as sent for `path` (None: withdrawn)."""
        if family in self.key.add_path_tx:
            return [_PATH_ID_ONE + p for p in prefixes]
        return prefixes

    def withdraw(self, family: Family, prefixes: list[bytes]) -> list[bytes]:
        return pack_withdraw(family, self.nlri(family, None, prefixes), self.max_len)

    # -- the shared stream -------------------------------------------------------------------

    def flush(self) -> None:
        """Encode everything queued once, and write it to every member.

        All messages of one flush are joined into one `bytes` blob that every member is handed
        as is; a member that is the source of some of them gets memoryview slices of the same
        blob around its own messages (no copy), plus its few personal withdrawals.
        """
        out = Builder()
        personal: dict[str, list[bytes]] = {}  # source key -> messages it alone gets
        touched: list[tuple[Family, list[bytes]]] = []
        for family, pend in self.pending.items():
            if pend:
                changed = self._flush_family(family, pend, out, personal)
                if changed:
                    touched.append((family, changed))
        if not touched:
            return
        packed = out.done()
        self.updates_sent += packed.count
        self._deliver(packed, personal, touched)

    def _flush_family(
        self,
        family: Family,
        pend: dict[bytes, Path | None],
        out: Builder,
        personal: dict[str, list[bytes]],
    ) -> list[bytes]:
        """Move one family's queued changes into the Adj-RIB-Out and `out`; return the prefixes
        that changed."""
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
                # The new path's source held another peer's path: it must drop that one.
                source_wd.setdefault(new.source.key, []).append(prefix)
        pend.clear()
        if not changed:
            return changed
        self._tables.pop(family, None)
        if gone:
            out.add(self.withdraw(family, gone))
        self._pack_paths(family, by_path, out)
        for src, prefixes in source_wd.items():
            personal.setdefault(src, []).extend(self.withdraw(family, prefixes))
        return changed

    def _deliver(
        self,
        packed: Packed,
        personal: dict[str, list[bytes]],
        touched: list[tuple[Family, list[bytes]]],
    ) -> None:
        blob, count, spans, paused = packed.blob, packed.count, packed.spans, self.paused
        whole: list[bytes | memoryview] = [blob] if blob else []
        for mkey, member in self.members.items():
            if mkey in paused:
                # Out of the shared stream: remember what changed, resync on resume.
                self.note_paused(mkey, touched)
                continue
            extra = personal.get(mkey)
            if extra is None and mkey not in spans:
                if count:
                    member.send_updates(whole, count)
                continue
            chunks, n = packed.for_member(mkey)
            if extra is not None:
                chunks += extra
                n += len(extra)
            if n:
                member.send_updates(chunks, n)

    def note_paused(self, mkey: str, touched: list[tuple[Family, list[bytes]]]) -> None:
        dirty = self.paused[mkey]
        for family, prefixes in touched:
            dirty.setdefault(family, set()).update(prefixes)

    def _pack_paths(self, family: Family, by_path: dict[Path, list[bytes]], out: Builder) -> None:
        for path, prefixes in by_path.items():
            out.add(self.announce(family, path, prefixes), path.source.key)

    # -- slow members ------------------------------------------------------------------------

    def pause(self, member: Member) -> None:
        """The member's transport is above its high watermark: it leaves the shared stream (so
        it never holds the others back nor grows without bound) and is resynchronised from the
        Adj-RIB-Out when it drains."""
        if member.key in self.members and member.key not in self.paused:
            self.paused[member.key] = {}

    def resume(self, member: Member) -> None:
        dirty = self.paused.pop(member.key, None)
        if dirty is None:
            return
        msgs = self.resync(member, dirty)
        if msgs:
            member.send_updates(msgs, len(msgs))

    def forget(self, member: Member) -> None:
        """The member left the group."""
        self.members.pop(member.key, None)
        self.paused.pop(member.key, None)

    def resync(self, member: Member, dirty: dict[Family, set[bytes]]) -> list[bytes]:
        """The messages that bring a member back in step for the prefixes that changed while
        it was out of the shared stream."""
        own = member.source
        msgs: list[bytes] = []
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
                msgs += self.withdraw(family, gone)
            for path, pfx in by_path.items():
                msgs += self.announce(family, path, pfx)
        return msgs

    def mark_family_dirty(self, member: Member, family: Family) -> None:
        """A paused member asked for a family again (route refresh): queueing the table again
        would grow our memory with every request; its resync re-sends the whole family."""
        dirty = self.paused[member.key].setdefault(family, set())
        own = member.source
        table = self.adj_out.get(family, {})
        dirty.update(p for p, path in table.items() if path.source is not own)

    # -- tables ------------------------------------------------------------------------------

    def family_table(self, member: Member, family: Family) -> tuple[list[bytes | memoryview], int]:
        """One family of the Adj-RIB-Out for one member (route refresh, initial sync), without
        the member's own routes.

        Packed once and shared: when a thousand clients come back after a restart, each
        joining member costs a few slices instead of packing the whole table again. Valid until
        the next flush that changes the family.
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
            out = Builder()
            self._pack_paths(family, by_path, out)
            table = self._tables[family] = out.done()
        return table.for_member(member.key)

    def sent_count(self, member: Member) -> int:
        """Prefixes the member has been sent: the Adj-RIB-Out less the member's own routes.
        Counted from the member's own routes, not by walking the whole table."""
        src = member.source
        total = sum(len(t) for t in self.adj_out.values())
        own = 0
        for family, table in self.adj_out.items():
            for mine in (src.adj_in.get(family), src.stale.get(family)):
                if mine:
                    own += sum(
                        1 for key in mine if (p := table.get(key)) is not None and p.source is src
                    )
        return total - own
