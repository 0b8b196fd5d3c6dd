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
from ..rib.loc_rib import Change, Rib
from ..rib.path import Path
from .group import GroupKey, Member, UpdateGroup
from .policy import Role, may_export, role_of

IPV4_VERSION = 4


def group_key(
    member: Member, neg: Negotiated, local_as: int, local_address: Callable[[], str | None]
) -> GroupKey:
    """The group a member belongs in: everything that changes the bytes it is sent.
    `local_address` (our address on the session) is asked only for an eBGP member."""
    role = role_of(member.source)
    nh_self: tuple[tuple[Family, bytes], ...] = ()
    ebgp_peer = ""
    if role == Role.EBGP:
        # RFC 4271 §5.1.3: towards an external peer the next hop is our own address on the
        # session; the address makes the group that peer's own.
        ebgp_peer = member.key
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
        ebgp_peer=ebgp_peer,
        local_as=local_as,
        next_hop_self=nh_self,
    )


class Export:
    def __init__(
        self, rib: Rib, cluster_id: int, schedule: Callable[[Callable[[], None]], None]
    ) -> None:
        self.rib = rib
        self.cluster_id = cluster_id
        self.groups: dict[GroupKey, UpdateGroup] = {}
        self._member_group: dict[str, UpdateGroup] = {}
        self._schedule = schedule
        self._scheduled = False

    # -- from the RIB ------------------------------------------------------------------------

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

    # -- members -----------------------------------------------------------------------------

    def join(self, member: Member, key: GroupKey) -> None:
        """Add a member; it is sent the group's whole table and End-of-RIB per family."""
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = UpdateGroup(key, self.cluster_id)
            self._fill(g)
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
        g.members.pop(member.key, None)
        g.paused.pop(member.key, None)
        if not g.members:
            del self.groups[g.key]

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
        if g is None or family not in g.adj_out:
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

    def _fill(self, g: UpdateGroup) -> None:
        """A new group starts with what the Loc-RIB holds now."""
        role = g.key.role
        for family in g.key.families:
            adj = g.adj_out[family]
            for prefix, best in self.rib.best_routes(family):
                if may_export(best, role):
                    adj[prefix] = best
