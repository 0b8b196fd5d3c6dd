"""Routes as shared objects: a `Source` (one per configured peer) and an interned `Path`."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from ..bgp.attributes import PathAttrs
from ..bgp.nlri import Family
from .reason import Reason


class Source:
    """What the RIB knows of a peer that routes come from (lives as long as the peer's config)."""

    __slots__ = (
        "addr_key",
        "address",
        "adj_in",
        "asn",
        "client",
        "export_ids",
        "ibgp",
        "interned",
        "key",
        "router_id",
        "stale",
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
        # Adj-RIB-In: family -> prefix key (path id in front with ADD-PATH) -> Path.
        self.adj_in: dict[Family, dict[bytes, Path]] = {}
        # RFC 4724 §4.2: routes kept from a session that went down gracefully, by family.
        self.stale: dict[Family, dict[bytes, Path]] = {}
        # Paths interned by (next hop, attribute wire bytes, path id): a thousand prefixes
        # announced with one attribute set share one Path.
        self.interned: dict[tuple[bytes, bytes, int], Path] = {}
        # The RFC 7911 path identifiers its paths are sent with, by received path id; belongs
        # to pyrr.export.addpath (the only reader and writer).
        self.export_ids: dict[int, bytes] = {}

    def __repr__(self) -> str:
        return f"Source({self.key})"

    def intern(self, attrs: PathAttrs, next_hop: bytes, path_id: int = 0) -> Path:
        k = (next_hop, attrs.wire, path_id)
        p = self.interned.get(k)
        if p is None:
            p = Path(self, attrs, next_hop, path_id)
            self.interned[k] = p
        return p

    def route_count(self) -> int:
        return sum(len(t) for t in self.adj_in.values()) + sum(len(t) for t in self.stale.values())


class Path:
    """One path: the source, its attributes, its next hop. Shared by every prefix announced
    with them. `export_cache` belongs to pyrr.export.rewrite (the attributes it sends this path
    with, per kind of receiver, and the path as a filter's operations change it); nothing else
    reads or writes it."""

    __slots__ = ("attrs", "export_cache", "next_hop", "path_id", "refs", "source")

    def __init__(self, source: Source, attrs: PathAttrs, next_hop: bytes, path_id: int = 0) -> None:
        self.source = source
        self.attrs = attrs
        self.next_hop = next_hop
        self.path_id = path_id
        self.export_cache: dict[object, PathAttrs | Path] = {}
        self.refs = 0

    def __repr__(self) -> str:
        return f"Path({self.source.key}, {self.attrs!r})"

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
