"""An export layer over a Loc-RIB, run by hand, with the speaker-wide settings the export tests
vary (ADD-PATH count, no-export prefixes), and a negotiated session to build group keys."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_network

from pyrr.bgp.capabilities import Capabilities, Negotiated, negotiate
from pyrr.bgp.constants import AddPathMode
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family
from pyrr.bgp.update import Update
from pyrr.export.export import Export
from pyrr.export.group import GroupKey, UpdateGroup
from pyrr.export.policy import Role
from pyrr.rib.loc_rib import Rib, Run
from pyrr.rib.path import Path, Source

from ..rib.factories import LOCAL_AS, FakeMember, ip_int, pfx, source

CLUSTER_ID = ip_int("198.18.0.250")
FAMS: tuple[Family, ...] = (IPV4_UNICAST, IPV6_UNICAST)
NO_AP: frozenset[Family] = frozenset()


def key(role: Role = Role.CLIENT, **kw: object) -> GroupKey:
    args: dict[str, object] = {
        "role": role,
        "families": FAMS,
        "four_octet_as": True,
        "extended_message": False,
        "add_path_tx": frozenset(),
    }
    args.update(kw)
    return GroupKey(**args)  # type: ignore[arg-type]


class World:
    """A Loc-RIB, an Export whose flushes are run by hand, and member peers."""

    def __init__(self, *, add_path_send: int = 1, no_export: tuple[str, ...] = ()) -> None:
        self.rib = Rib()
        self.scheduled: list[Callable[[], None]] = []
        kw: dict[str, object] = {"no_export": tuple(ip_network(n) for n in no_export)}
        if add_path_send != 1:
            kw["add_path_send"] = add_path_send
        self.out = Export(self.rib, CLUSTER_ID, self.scheduled.append, **kw)  # type: ignore[arg-type]

    def join(self, k: GroupKey, m: FakeMember) -> UpdateGroup:
        self.out.join(m, k)
        return self.out.groups[k]

    def member(self, address: str, **kw: object) -> FakeMember:
        return FakeMember(source(address, **kw))  # type: ignore[arg-type]

    def apply(self, src: Source, upd: Update, *, runs: bool = True) -> None:
        """Apply an UPDATE as the speaker does: withdrawn runs, then changes (`runs` False:
        everything as changes, the way drops and sweeps reach the export layer)."""
        if not runs:
            self.out.changes(self.rib.apply_update(src, upd, NO_AP))
            return
        got: list[Run] = []
        changes = self.rib.apply_update(src, upd, NO_AP, got)
        self.out.gone(got)
        self.out.changes(changes)

    def run(self) -> int:
        """Run the scheduled flushes; how many there were."""
        n = len(self.scheduled)
        while self.scheduled:
            self.scheduled.pop(0)()
        return n

    def best(self, text: str) -> Path:
        fam = IPV6_UNICAST if ":" in text else IPV4_UNICAST
        d = self.rib.lookup(fam, pfx(text))
        assert d is not None and d.best is not None
        return d.best


def negotiated(
    *, add_path_rx: bool = False, families: tuple[Family, ...] = FAMS, peer_as: int = LOCAL_AS
) -> Negotiated:
    """What a session with a Calico node negotiates (the node offering ADD-PATH receive or
    not; pyrr offering ADD-PATH send)."""
    ours = Capabilities(
        families=FAMS,
        four_octet_as=LOCAL_AS,
        add_path=tuple((f, AddPathMode.SEND) for f in FAMS),
    )
    theirs = Capabilities(
        families=families,
        four_octet_as=peer_as,
        add_path=tuple((f, AddPathMode.RECEIVE) for f in families) if add_path_rx else (),
    )
    return negotiate(ours, theirs, 90, 90, peer_as, ip_int("10.0.0.1"))


__all__ = ["CLUSTER_ID", "FAMS", "NO_AP", "World", "key", "negotiated"]
