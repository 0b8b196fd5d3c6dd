"""Update groups: peers that would be sent byte-identical UPDATEs share one group, one queue
and one encoding of every change (DESIGN.md rule 4, FRR's update groups).

A group keeps no Adj-RIB-Out of its own: what it has sent for a prefix is, by construction,
its view of the Loc-RIB's best path as of the last flush (`view`: RFC 4456 §8, the export
filter, no-export). A change carries the old best path, so the flush knows what the members
held; a table for a joining member, a refresh or a resync is read off the Loc-RIB. A full
table then costs the group nothing per prefix, whatever the number of groups.

A best-path change is queued once per group and coalesced until the end of the event-loop turn
(`flush`), then packed into UPDATEs once; the same `bytes` objects are written to every member.
The one exception is the path's own source, which never gets its route back (RFC 4456 §8 does
not reflect to the originator; we follow BIRD here) and instead gets a withdrawal when it used to
hold another peer's path for that prefix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Protocol

from ..bgp.constants import MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN
from ..bgp.encode import pack_announce, pack_withdraw
from ..bgp.nlri import Family
from ..rib.loc_rib import Change, Rib, Run, run_changes
from ..rib.path import Path, Source
from .filters import Blocked, Chain, Matcher, matcher
from .packed import Builder, Packed
from .policy import Role, may_export
from .rewrite import ebgp_attrs, filtered, ibgp_attrs, next_hop

_source_key = attrgetter("source.key")
# What a prefix is queued as: the path to send (or None), or (held before, to send).
Queued = Path | None | tuple[Path | None, Path | None]
# RFC 7911 §3: the path identifier we send on ADD-PATH families: one path per prefix (the best).
_PATH_ID_ONE = b"\0\0\0\1"


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


class UpdateGroup:
    """The peers sent the best path of every prefix (and, on ADD-PATH families, that one path
    with path identifier 1)."""

    def __init__(
        self, key: GroupKey, cluster_id: int, rib: Rib, blocked: Blocked | None = None
    ) -> None:
        self.key = key
        self.cluster_id = cluster_id
        self.rib = rib
        self.blocked = blocked if blocked is not None else Blocked(())
        self.members: dict[str, Member] = {}
        # Queued per prefix until the flush: what the members are to hold, or (what they held,
        # what they are to hold) when they held a route (a new prefix costs no tuple).
        self.pending: dict[Family, dict[bytes, Queued]] = {f: {} for f in key.families}
        # Runs of withdrawn prefixes that the members held, queued whole while their family
        # has nothing else queued (`queue_gone`): (the path they held, the prefixes), by family.
        self.gone: dict[Family, list[tuple[Path, list[bytes]]]] = {}
        # What the members hold: prefixes per family, and how many of them per path source
        # (a member is sent the group's routes less its own: status and metrics count so).
        self.sent_total: dict[Family, int] = dict.fromkeys(key.families, 0)
        self.sent_by_source: dict[Family, Counter[str]] = {f: Counter() for f in key.families}
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

    # -- what is sent ------------------------------------------------------------------------

    def view(self, family: Family, prefix: bytes, path: Path) -> Path | None:
        """What this group is sent for `path` as the route to `prefix`: the path, the path as
        an accepting export rule changed it, or None (RFC 4456 §8 or a filter keeps it back).
        The reflection rules come first: BIRD applies them before the export filter too, so a
        filter cannot send what RFC 4456 withholds. (No-export prefixes are the export
        layer's to withhold, once per change for every group.)"""
        role = self.key.role
        if not may_export(path, role):
            return None
        m = self._matchers.get(family)
        if m is None:
            return path
        # peerType matches the peer the route goes to (confd's is_same_as).
        ops = m.decide(prefix, path.attrs, role != Role.EBGP)
        return None if ops is None else filtered(path, ops)

    def current(self, family: Family, prefix: bytes) -> Path | None:
        """What the members hold for a prefix now (as of the last flush)."""
        entry = self.rib.lookup(family, prefix)
        if entry is None or entry.best is None or self.blocked.blocks(family, prefix):
            return None
        return self.view(family, prefix, entry.best)

    def routes(self, family: Family) -> dict[Path, list[bytes]]:
        """Every route the members hold of a family, by path (read off the Loc-RIB)."""
        blocked = self.blocked if self.blocked else None
        view = self._viewer(family)
        by_path: dict[Path, list[bytes]] = {}
        for prefix, best in self.rib.best_routes(family):
            if blocked is not None and blocked.blocks(family, prefix):
                continue
            sent = view(prefix, best)
            if sent is None:
                continue
            lst = by_path.get(sent)
            if lst is None:
                by_path[sent] = [prefix]
            else:
                lst.append(prefix)
        return by_path

    def _viewer(self, family: Family) -> Callable[[bytes, Path | None], Path | None]:
        """`view` for one family, decided once per distinct path when no rule looks at the
        prefix (RFC 4456 alone, or rules without a CIDR)."""
        m = self._matchers.get(family)
        if m is not None and not m.prefix_free:
            return lambda prefix, path: None if path is None else self.view(family, prefix, path)
        memo: dict[Path, Path | None] = {}

        def view(prefix: bytes, path: Path | None) -> Path | None:
            if path is None:
                return None
            sent = memo.get(path, memo)
            if sent is memo:
                sent = memo[path] = self.view(family, prefix, path)
            return sent  # type: ignore[return-value]

        return view

    # -- what goes in ------------------------------------------------------------------------

    def queue(self, changes: list[Change]) -> None:
        """Queue best-path changes until the flush: a prefix changed twice in one turn is sent
        once, in its final state, against what the members held before the first change. The
        export decision is made once per distinct path (unless a rule looks at the prefix)."""
        if self.gone:
            self._unfold_gone()
        if self._matchers:
            self._queue_with(changes, self._memo_view())
            return
        # RFC 4456 §8 alone: decided per path, inline (the hot path of every burst).
        pending = self.pending
        role = self.key.role
        memo: dict[Path | None, Path | None] = {None: None}
        for family, prefix, old, new in changes:
            pend = pending.get(family)
            if pend is None:
                continue
            now = memo.get(new, new)
            if now is new and new not in memo:
                now = memo[new] = new if may_export(new, role) else None  # type: ignore[arg-type]
            if prefix in pend:
                was = pend[prefix]
                pend[prefix] = (was[0], now) if isinstance(was, tuple) else now
            elif old is None:
                pend[prefix] = now
            else:
                before = memo.get(old, old)
                if before is old and old not in memo:
                    before = memo[old] = old if may_export(old, role) else None
                pend[prefix] = (before, now)

    def queue_gone(self, runs: list[Run]) -> None:
        """Queue runs of withdrawn prefixes (each held by its run's path alone). While their
        family has nothing else queued, a run the members were sent is kept whole, the list it
        came in, and the flush withdraws it with no work per prefix (a withdrawn full table);
        otherwise, or when an export rule looks at prefixes, its prefixes are queued one by
        one as changes."""
        if self._matchers:
            self.queue(run_changes(runs))
            return
        pending, gone, role = self.pending, self.gone, self.key.role
        for family, path, prefixes in runs:
            pend = pending.get(family)
            if pend is None:
                continue
            if pend:
                self.queue([(family, prefix, path, None) for prefix in prefixes])
            elif may_export(path, role):  # RFC 4456 §8: else never sent, nothing to withdraw
                gone.setdefault(family, []).append((path, prefixes))

    def _unfold_gone(self) -> None:
        """Changes are coming after queued runs: queue the runs' prefixes one by one, so that
        the changes are coalesced with them (their family had nothing else queued, and a
        prefix is in one run at most: it left the table in it)."""
        for family, runs in self.gone.items():
            pend = self.pending[family]
            for path, prefixes in runs:
                pend.update(dict.fromkeys(prefixes, (path, None)))  # held path, none now
        self.gone = {}

    def _queue_with(
        self, changes: list[Change], view: Callable[[Family, bytes, Path], Path | None]
    ) -> None:
        pending = self.pending
        for family, prefix, old, new in changes:
            pend = pending.get(family)
            if pend is None:
                continue
            now = None if new is None else view(family, prefix, new)
            if prefix in pend:
                was = pend[prefix]
                pend[prefix] = (was[0], now) if isinstance(was, tuple) else now
            elif old is None:
                pend[prefix] = now
            else:
                pend[prefix] = (view(family, prefix, old), now)

    def _memo_view(self) -> Callable[[Family, bytes, Path], Path | None]:
        """`view`, decided once per distinct path when no rule looks at the prefix."""
        role = self.key.role
        matchers = self._matchers
        memo: dict[Path, Path | None] = {}
        if not matchers:

            def plain(_family: Family, _prefix: bytes, path: Path) -> Path | None:
                sent = memo.get(path, path)
                if sent is path and path not in memo:
                    sent = memo[path] = path if may_export(path, role) else None
                return sent

            return plain

        def filtered(family: Family, prefix: bytes, path: Path) -> Path | None:
            m = matchers.get(family)
            if m is not None and not m.prefix_free:
                return self.view(family, prefix, path)
            sent = memo.get(path, path)
            if sent is path and path not in memo:
                sent = memo[path] = self.view(family, prefix, path)
            return sent

        return filtered

    def _view_or_none(self, family: Family, prefix: bytes, path: Path | None) -> Path | None:
        return None if path is None else self.view(family, prefix, path)

    def fill(self, rib: Rib) -> None:
        """A new group: its members will hold what the Loc-RIB holds now (joining members are
        sent it); count it."""
        for family in self.key.families:
            total = 0
            by_source = self.sent_by_source[family]
            for path, prefixes in self.routes(family).items():
                total += len(prefixes)
                by_source[path.source.key] += len(prefixes)
            self.sent_total[family] = total

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
        # The prefixes queued per family, for the members out of the shared stream (none: no
        # list is made).
        touched: list[tuple[Family, list[bytes]]] = []
        changed = False
        if self.gone:
            changed = self._flush_gone(out, touched)
        for family, pend in self.pending.items():
            if pend:
                if self.paused:
                    touched.append((family, list(pend)))
                changed |= self._flush_family(family, pend, out, personal)
        if not changed:
            return
        packed = out.done()
        self.updates_sent += packed.count
        self._deliver(packed, personal, touched)

    def _flush_family(
        self,
        family: Family,
        pend: dict[bytes, Queued],
        out: Builder,
        personal: dict[str, list[bytes]],
    ) -> bool:
        """Pack one family's queued changes into `out`; whether anything changed."""
        by_path: dict[Path, list[bytes]] = {}
        gone: list[bytes] = []
        held: list[Path] = []  # what the members held for the prefixes that changed
        source_wd: dict[str, list[bytes]] = {}
        for prefix, queued in pend.items():
            if isinstance(queued, tuple):
                old, new = queued
            else:
                old, new = None, queued
            if new is old:
                continue
            if old is not None:
                held.append(old)
            if new is None:
                gone.append(prefix)
                continue
            lst = by_path.get(new)
            if lst is None:
                by_path[new] = [prefix]
            else:
                lst.append(prefix)
            if old is not None and old.source is not new.source:
                # The new path's source held another peer's path: it must drop that one.
                source_wd.setdefault(new.source.key, []).append(prefix)
        pend.clear()
        if not held and not by_path:
            return False
        # What the members hold, counted per source (status and metrics read it).
        counts = self.sent_by_source[family]
        for key, n in Counter(map(_source_key, held)).items():  # counted in C
            counts[key] -= n
        added = 0
        for path, prefixes in by_path.items():
            counts[path.source.key] += len(prefixes)
            added += len(prefixes)
        self.sent_total[family] += added - len(held)
        self._tables.pop(family, None)
        if gone:
            out.add(self.withdraw(family, gone))
        self._pack_paths(family, by_path, out)
        for src, prefixes in source_wd.items():
            personal.setdefault(src, []).extend(self.withdraw(family, prefixes))
        return True

    def _flush_gone(self, out: Builder, touched: list[tuple[Family, list[bytes]]]) -> bool:
        """Withdraw the runs queued whole: counted per run, packed from their lists as they
        are (a family's runs and its queued changes never coexist: see `_unfold_gone`)."""
        gone, self.gone = self.gone, {}
        for family, runs in gone.items():
            counts = self.sent_by_source[family]
            prefixes: list[bytes] = []
            for path, run in runs:
                counts[path.source.key] -= len(run)
                prefixes += run
            self.sent_total[family] -= len(prefixes)
            self._tables.pop(family, None)
            if self.paused:
                touched.append((family, prefixes))
            out.add(self.withdraw(family, prefixes))
        return bool(gone)

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
        Loc-RIB when it drains."""
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
            by_path: dict[Path, list[bytes]] = {}
            gone: list[bytes] = []
            for prefix in prefixes:
                path = self.current(family, prefix)
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
        for path, prefixes in self.routes(family).items():
            if path.source is not own:
                dirty.update(prefixes)

    # -- tables ------------------------------------------------------------------------------

    def family_table(self, member: Member, family: Family) -> tuple[list[bytes | memoryview], int]:
        """One family of what the members hold, for one member (route refresh, initial sync),
        without the member's own routes.

        Packed once and shared: when a thousand clients come back after a restart, each
        joining member costs a few slices instead of packing the whole table again. Valid until
        the next flush that changes the family.
        """
        table = self._tables.get(family)
        if table is None:
            out = Builder()
            self._pack_paths(family, self.routes(family), out)
            table = self._tables[family] = out.done()
        return table.for_member(member.key)

    def sent_families(self) -> dict[Family, tuple[int, Counter[str]]]:
        """What the members hold, per family: how many routes, and how many per source."""
        return {f: (self.sent_total[f], self.sent_by_source[f]) for f in self.key.families}

    def sent_count(self, member: Member) -> int:
        """Prefixes the member has been sent: the group's less the member's own routes."""
        key = member.source.key
        return sum(self.sent_total[f] - self.sent_by_source[f][key] for f in self.key.families)
