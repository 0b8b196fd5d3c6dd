"""Routes as shared objects: a `Source` (one per configured peer) and an interned `Path`.

A peer's Adj-RIB-In is not a table of its own: each of its routes is its `Path` among the
candidates of a Loc-RIB entry (pyrr.rib.loc_rib), found by source and path identifier. The
`Source` keeps what that leaves out: how many routes it has per family (fresh and stale), and
the prefixes it announced, as one list per family (to drop or sweep them without walking the
whole table). A full table from one peer then costs one dictionary entry per prefix, not two.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from ..bgp.attributes import PathAttrs
from ..bgp.nlri import Family
from .reason import Reason

# The prefix lists are compacted when a third of them, and this many, are withdrawn prefixes
# (a withdrawn prefix stays listed until then; announced again, it is listed again).
_COMPACT_SLACK = 64


class Source:
    """What the RIB knows of a peer that routes come from (lives as long as the peer's config)."""

    __slots__ = (
        "addr_key",
        "address",
        "asn",
        "client",
        "counts",
        "export_ids",
        "ibgp",
        "interned",
        "key",
        "prefixes",
        "router_id",
        "stale_counts",
    )

    def __init__(
        self, key: str, address: IPv4Address | IPv6Address, asn: int, ibgp: bool, client: bool
    ) -> None:
        self.key = key
        self.address = address
        # RFC 4456 §9 last step compares peer addresses: IPv4 sorts before IPv6, then by value.
        self.addr_key = (address.version, int(address))
        self.asn = asn
        self.ibgp = ibgp
        self.client = client
        self.router_id = 0  # the BGP identifier of the current (or last) session
        # Adj-RIB-In size per family, stale routes included (RFC 4724 §4.2) ...
        self.counts: dict[Family, int] = {}
        # ... and of those, the stale ones (kept from a session that went down gracefully).
        self.stale_counts: dict[Family, int] = {}
        # Every prefix it announced, per family, in order; a prefix may be listed more than
        # once (withdrawn, then announced again) or no longer be held: the Loc-RIB decides.
        self.prefixes: dict[Family, list[bytes]] = {}
        # Fresh paths interned by (family, next hop, attribute wire bytes, path id): a thousand
        # prefixes announced with one attribute set share one Path.
        self.interned: dict[tuple[Family, bytes, bytes, int], Path] = {}
        # The RFC 7911 path identifiers its paths are sent with, by received path id; belongs
        # to pyrr.export.addpath (the only reader and writer).
        self.export_ids: dict[int, bytes] = {}

    def __repr__(self) -> str:
        return f"Source({self.key})"

    def intern(self, family: Family, attrs: PathAttrs, next_hop: bytes, path_id: int = 0) -> Path:
        k = (family, next_hop, attrs.wire, path_id)
        p = self.interned.get(k)
        if p is None:
            p = Path(self, family, attrs, next_hop, path_id)
            self.interned[k] = p
        return p

    def route_count(self) -> int:
        """Routes in its Adj-RIB-In, stale ones included."""
        return sum(self.counts.values())

    def fresh_count(self, family: Family) -> int:
        return self.counts.get(family, 0) - self.stale_counts.get(family, 0)

    @property
    def stale_families(self) -> list[Family]:
        """The families it has stale routes of (RFC 4724 §4.2 helper mode)."""
        return [f for f, n in self.stale_counts.items() if n]

    def listed(self, family: Family, prefix: bytes) -> None:
        """A new route of this source: note its prefix (compacted by the RIB now and then)."""
        lst = self.prefixes.get(family)
        if lst is None:
            self.prefixes[family] = [prefix]
        else:
            lst.append(prefix)

    def needs_compaction(self, family: Family, *, urgent: bool = False) -> bool:
        """A third of the list is withdrawn prefixes (the list keeps them alive); `urgent`:
        two thirds, too many to wait for the RIB's housekeeping."""
        lst = self.prefixes.get(family)
        if lst is None:
            return False
        count = self.counts.get(family, 0)
        limit = 3 * count if urgent else count + count // 2
        return len(lst) > limit + _COMPACT_SLACK


class Path:
    """One path: the source, its attributes, its next hop. Shared by every prefix announced
    with them. `stale` marks a path kept for a peer that went down gracefully (RFC 4724 §4.2;
    the peer's new announcements make new paths). `export_cache` belongs to
    pyrr.export.rewrite (the attributes it sends this path with, per kind of receiver, and
    the path as a filter's operations change it); nothing else reads or writes it."""

    __slots__ = (
        "attrs",
        "export_cache",
        "family",
        "next_hop",
        "path_id",
        "refs",
        "source",
        "stale",
    )

    def __init__(
        self,
        source: Source,
        family: Family,
        attrs: PathAttrs,
        next_hop: bytes,
        path_id: int = 0,
    ) -> None:
        self.source = source
        self.family = family
        self.attrs = attrs
        self.next_hop = next_hop
        self.path_id = path_id
        self.export_cache: dict[object, PathAttrs | Path] = {}
        self.refs = 0
        self.stale = False

    def __repr__(self) -> str:
        return f"Path({self.source.key}, {self.attrs!r})"

    def same_route(self, other: Path) -> bool:
        """The same route from the same peer (a stale path announced again, RFC 4724 §4.2)."""
        return (
            self.source is other.source
            and self.path_id == other.path_id
            and self.next_hop == other.next_hop
            and self.attrs.wire == other.attrs.wire
        )

    # A Path is its own Loc-RIB entry while it is a prefix's only candidate (see loc_rib.Dest).
    @property
    def best(self) -> Path:
        return self

    @property
    def paths(self) -> list[Path]:
        return [self]

    @property
    def reason(self) -> Reason:
        return Reason.ONLY_PATH
