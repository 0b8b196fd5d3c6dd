"""`Export`: every update group of one speaker, and the API peers use: join when a session comes
up, leave when it ends, refresh a family (RFC 2918, RFC 7313), pause/resume a slow reader, and
count what a member was sent. Best-path changes from the RIB are queued in every group and
flushed once per event-loop turn."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_address

from ..bgp.capabilities import Negotiated
from ..bgp.encode import end_of_rib
from ..bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family
from ..config import IPNetwork, NextHopMode, PeerConfig
from ..rib.loc_rib import Change, Rib, Run, run_changes
from .addpath import AddPathGroup, PathIds
from .filters import Blocked, export_chain
from .group import GroupKey, Member, UpdateGroup
from .policy import Role, role_of
from .rewrite import ebgp_as_of

IPV4_VERSION = 4
# Changes queued before a flush is forced within the turn (a prefix changed twice inside one
# batch is still sent once; what is coalesced across batches of a burst is sent twice).
FLUSH_BATCH = 8192


def group_key(
    member: Member,
    neg: Negotiated,
    local_as: int,
    local_address: Callable[[], str | None],
    *,
    config: PeerConfig | None = None,
) -> GroupKey:
    """The group a member belongs in: everything that changes the bytes it is sent.
    `local_address` (our address on the session) is asked only when the next hop is ours.
    `config` (the peer's) brings its next-hop mode, local AS and export filters; without it the
    defaults apply (next hop AUTO, the speaker's AS, no filter)."""
    role = role_of(member.source)
    mode = config.next_hop if config is not None else NextHopMode.AUTO
    if config is not None:
        local_as = ebgp_as_of(local_as, config.local_asn)
    nh_self: tuple[tuple[Family, bytes], ...] = ()
    if mode == NextHopMode.SELF or (mode == NextHopMode.AUTO and role == Role.EBGP):
        # RFC 4271 §5.1.3: towards an external peer the next hop is our own address on the
        # session (and with next-hop SELF towards every peer).
        local = local_address()
        if local:
            addr = ip_address(local.split("%")[0])
            fam = IPV4_UNICAST if addr.version == IPV4_VERSION else IPV6_UNICAST
            nh_self = ((fam, addr.packed),)
    return GroupKey(
        role=role,
        families=neg.families,
        four_octet_as=neg.four_octet_as,
        extended_message=neg.extended_message,
        add_path_tx=neg.add_path_tx,
        # Each eBGP peer has a group of its own (as before next-hop modes existed).
        ebgp_peer=member.key if role == Role.EBGP else "",
        local_as=local_as,
        next_hop_self=nh_self,
        export_filter=export_chain(config.filters) if config is not None else None,
    )


class Export:
    def __init__(
        self,
        rib: Rib,
        cluster_id: int,
        schedule: Callable[[Callable[[], None]], None],
        *,
        add_path_send: int = 1,
        no_export: tuple[IPNetwork, ...] = (),
    ) -> None:
        self.rib = rib
        self.cluster_id = cluster_id
        self.groups: dict[GroupKey, UpdateGroup] = {}
        # RFC 7911: paths per prefix for members that negotiated ADD-PATH receive (1: the best
        # path only, with path id 1). One count for the speaker: it is not in the group key.
        self.add_path_send = add_path_send
        self.blocked = Blocked(no_export)
        self.path_ids = PathIds()
        self._member_group: dict[str, UpdateGroup] = {}
        self._schedule = schedule
        self._scheduled = False
        self._queued = 0  # changes queued since the last flush

    # -- from the RIB ------------------------------------------------------------------------

    def changes(self, changes: list[Change]) -> None:
        """Queue best-path changes in every group (the export decision made once per distinct
        path and group, not per prefix), and schedule one flush for this loop turn."""
        if not changes or not self.groups:
            return
        blocked = self.blocked
        if blocked:
            # Calico's disableBGPExport: one check per change, whatever the groups; such a
            # prefix was never sent and is not sent now.
            changes = [
                (f, p, None, None) if blocked.blocks(f, p) else (f, p, o, n)
                for f, p, o, n in changes
            ]
        for g in self.groups.values():
            g.queue(changes)
        self._queued += len(changes)
        self._after_queue()

    def _after_queue(self) -> None:
        if self._queued > FLUSH_BATCH:
            # A burst (a full table read in one loop turn): encode and send it in batches
            # instead of queueing the whole of it, which would hold every change at once.
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._schedule(self.flush)

    def gone(self, runs: list[Run]) -> None:
        """Queue runs of withdrawn prefixes (pyrr.rib.loc_rib.Run) in every group, before the
        changes of the same UPDATE: what `changes` does for their changes, without a change
        per prefix where a group can take a run whole."""
        if not runs or not self.groups:
            return
        if self.blocked:
            self.changes(run_changes(runs))  # decided per prefix
            return
        for g in self.groups.values():
            g.queue_gone(runs)
        self._queued += sum(len(prefixes) for _f, _p, prefixes in runs)
        self._after_queue()

    def set_no_export(self, networks: tuple[IPNetwork, ...]) -> None:
        """New no-export prefixes: every Loc-RIB prefix whose fate changed is queued again, so
        each group withdraws what is now covered and sends what no longer is (one walk of the
        table, on a configuration change only)."""
        old, new = self.blocked, Blocked(networks)
        self.blocked = new
        again: list[Change] = []
        for family in self.rib.tables:
            for prefix, best in self.rib.best_routes(family):
                was, now = old.blocks(family, prefix), new.blocks(family, prefix)
                if was != now:
                    # What the members held, and what they are to hold now.
                    again.append((family, prefix, None if was else best, None if now else best))
        for g in self.groups.values():
            g.blocked = new
            g.queue(again)
        if again and self.groups and not self._scheduled:
            self._scheduled = True
            self._schedule(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        self._queued = 0
        for g in list(self.groups.values()):
            g.flush()

    # -- members -----------------------------------------------------------------------------

    def join(self, member: Member, key: GroupKey) -> None:
        """Add a member; it is sent the group's whole table and End-of-RIB per family."""
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = self._new_group(key)
            g.fill(self.rib)
        else:
            # Send the member the group's state as of now: pending work first, so that the
            # member joins a stream that it has the start of.
            g.flush()
        g.members[member.key] = member
        self._member_group[member.key] = g
        msgs: list[bytes | memoryview] = []
        count = 0
        for family in key.families:
            chunks, n = g.family_table(member, family)
            msgs += chunks
            count += n
        msgs += [end_of_rib(f) for f in key.families]
        member.send_updates(msgs, count + len(key.families))

    def leave(self, member: Member) -> None:
        g = self._member_group.pop(member.key, None)
        if g is None:
            return
        g.forget(member)
        if not g.members:
            del self.groups[g.key]
            self._track_candidates()

    def group_of(self, member: Member) -> UpdateGroup | None:
        return self._member_group.get(member.key)

    def refresh(
        self, member: Member, family: Family, end_of_rib_after: bool
    ) -> tuple[list[bytes | memoryview], int] | None:
        """RFC 2918 §4: the member's Adj-RIB-Out of one family to send again, and how many
        UPDATEs that is, with End-of-RIB after it unless the caller brackets it with
        BoRR/EoRR (RFC 7313 §4). None when the member is out of the shared stream (a slow
        reader): queueing the table again would grow our memory with every request, and its
        resync on resume re-sends the whole family."""
        g = self._member_group.get(member.key)
        if g is None or family not in g.key.families:
            return [], 0
        g.flush()
        if member.key in g.paused:
            g.mark_family_dirty(member, family)
            return None
        chunks, n = g.family_table(member, family)
        if end_of_rib_after:
            chunks = [*chunks, end_of_rib(family)]
            n += 1
        return chunks, n

    def pause(self, member: Member) -> None:
        g = self._member_group.get(member.key)
        if g is not None:
            g.pause(member)

    def resume(self, member: Member) -> None:
        g = self._member_group.get(member.key)
        if g is not None:
            g.resume(member)

    def sent_count(self, member: Member) -> int:
        g = self._member_group.get(member.key)
        return g.sent_count(member) if g is not None else 0

    def _new_group(self, key: GroupKey) -> UpdateGroup:
        if key.add_path_tx and self.add_path_send > 1:
            g: UpdateGroup = AddPathGroup(
                key, self.cluster_id, self.blocked, self.rib, self.add_path_send, self.path_ids
            )
            self.rib.report_candidates = True
            return g
        return UpdateGroup(key, self.cluster_id, self.rib, self.blocked)

    def _track_candidates(self) -> None:
        """RFC 7911 groups need the RIB to report candidate changes; without one the RIB
        reports best-path changes only (the common case pays nothing for ADD-PATH)."""
        self.rib.report_candidates = any(isinstance(g, AddPathGroup) for g in self.groups.values())
