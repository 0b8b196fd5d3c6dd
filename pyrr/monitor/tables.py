"""Tables as monitoring messages, sans-IO: a peer's Adj-RIB-In and the Loc-RIB as UPDATEs (what
a BMP station is sent when it connects, RFC 7854 §5 and RFC 9069 §5.4), best-path changes as
UPDATEs (Loc-RIB Route Monitoring, RFC 9069 §5.4), and the Loc-RIB with every candidate path
as TABLE_DUMP_V2 records (RFC 6396 §4.3).

Everything is encoded with the one UPDATE encoder (pyrr.bgp.encode) from what the RIB holds:
attributes as wire bytes (AS numbers in 4 octets), next hops, and prefixes in wire form (the
path identifier in front on an ADD-PATH session, as the Adj-RIB-In keys them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from ..bgp.constants import AFI, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN
from ..bgp.encode import end_of_rib, pack_announce, pack_withdraw
from ..bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, PATH_ID_LEN, Family
from ..rib.loc_rib import Change, Rib
from ..rib.path import Path, Source
from . import mrt

FAMILIES: tuple[Family, ...] = (IPV4_UNICAST, IPV6_UNICAST)
# RIB records per chunk of a table dump: the writer yields to the event loop between chunks.
DUMP_CHUNK = 2000
_RIB_SUBTYPE = {
    IPV4_UNICAST: mrt.TableDumpV2.RIB_IPV4_UNICAST,
    IPV6_UNICAST: mrt.TableDumpV2.RIB_IPV6_UNICAST,
}


def _packed(groups: dict[tuple[Family, Path], list[bytes]], max_len: int) -> list[bytes]:
    out: list[bytes] = []
    for (family, path), prefixes in groups.items():
        out += pack_announce(family, path.attrs.wire, path.next_hop, prefixes, max_len)
    return out


def adj_rib_in_updates(
    rib: Rib,
    source: Source,
    families: Iterable[Family],
    add_path_rx: frozenset[Family],
    extended_message: bool,
) -> list[bytes]:
    """The peer's Adj-RIB-In (its paths among the Loc-RIB's candidates, stale routes of a
    restarting peer included: they are still in use, RFC 4724 §4.2) as UPDATEs, then
    End-of-RIB for each family (RFC 7854 §5). On a family the peer sends ADD-PATH on, each
    prefix carries the path identifier it was received with (RFC 7911 §3), as the peer's
    OPENs in the Peer Up tell a station to expect."""
    max_len = MAX_EXTENDED_MESSAGE_LEN if extended_message else MAX_MESSAGE_LEN
    out: list[bytes] = []
    for family in families:
        groups: dict[tuple[Family, Path], list[bytes]] = {}
        with_id = family in add_path_rx
        for prefix, path in rib.routes_of(source, family):
            key = path.path_id.to_bytes(PATH_ID_LEN, "big") + prefix if with_id else prefix
            groups.setdefault((family, path), []).append(key)
        out += _packed(groups, max_len)
        out.append(end_of_rib(family))
    return out


def loc_rib_updates(rib: Rib) -> list[bytes]:
    """The Loc-RIB's best paths as UPDATEs, End-of-RIB after each family (RFC 9069 §5.4:
    Route Monitoring messages are the initial synchronisation)."""
    out: list[bytes] = []
    for family in FAMILIES:
        groups: dict[tuple[Family, Path], list[bytes]] = {}
        for prefix, best in rib.best_routes(family):
            groups.setdefault((family, best), []).append(prefix)
        out += _packed(groups, MAX_EXTENDED_MESSAGE_LEN)
        out.append(end_of_rib(family))
    return out


def change_updates(changes: list[Change]) -> list[bytes]:
    """Best-path changes as UPDATEs: the new best path of each prefix, or its withdrawal.

    A prefix changed twice in one batch is sent as it ended; a change of the candidate set
    alone (old is new) is none (the Loc-RIB holds the best path only)."""
    final: dict[tuple[Family, bytes], Path | None] = {}
    for family, prefix, old, new in changes:
        if old is not new:
            final[(family, prefix)] = new
    withdrawn: dict[Family, list[bytes]] = {}
    groups: dict[tuple[Family, Path], list[bytes]] = {}
    for (family, prefix), path in final.items():
        if path is None:
            withdrawn.setdefault(family, []).append(prefix)
        else:
            groups.setdefault((family, path), []).append(prefix)
    out: list[bytes] = []
    for family, prefixes in withdrawn.items():
        out += pack_withdraw(family, prefixes, MAX_EXTENDED_MESSAGE_LEN)
    return out + _packed(groups, MAX_EXTENDED_MESSAGE_LEN)


def table_dump(
    rib: Rib,
    sources: list[Source],
    collector_id: int,
    when: int,
    originated: Mapping[Source, int],
    chunk: int = DUMP_CHUNK,
) -> Iterator[list[bytes]]:
    """The Loc-RIB as TABLE_DUMP_V2 (RFC 6396 §4.3), in lists of records: first the
    PEER_INDEX_TABLE of `sources`, then one RIB_IPV4_UNICAST / RIB_IPV6_UNICAST record per
    prefix with an entry per candidate path, the best one first.

    Each prefix is read when its chunk is encoded, so a caller may let the RIB change between
    chunks (the dump is then of a moving table, as BIRD's and FRR's are); a path of a source
    that is not in `sources` (a peer added meanwhile) is left out.
    `originated`: the Originated Time of each source's paths (§4.3.4), 0 when not given.
    """
    index = {src: i for i, src in enumerate(sources)}
    peers = [(src.router_id, src.address, src.asn) for src in sources]
    body = mrt.peer_index_table(collector_id, "", peers)
    yield [mrt.record(when, mrt.MrtType.TABLE_DUMP_V2, mrt.TableDumpV2.PEER_INDEX_TABLE, body)]
    sequence = 0
    attrs_of: dict[Path, bytes] = {}  # a path's attributes, encoded once for all its prefixes
    for family in FAMILIES:
        subtype = _RIB_SUBTYPE[family]
        afi = AFI(family[0])
        items = list(rib.tables.get(family, {}).items())
        for start in range(0, len(items), chunk):
            out: list[bytes] = []
            for prefix, entry in items[start : start + chunk]:
                best = entry.best
                paths = entry.paths
                if best is not None and paths[0] is not best:
                    paths = [best, *(p for p in paths if p is not best)]
                entries = []
                for path in paths:
                    i = index.get(path.source)
                    if i is None:
                        continue
                    attrs = attrs_of.get(path)
                    if attrs is None:
                        attrs = attrs_of[path] = mrt.rib_attributes(
                            afi, path.attrs.wire, path.next_hop
                        )
                    entries.append(mrt.rib_entry(i, originated.get(path.source, 0), attrs))
                if entries:
                    rec = mrt.rib_record_body(sequence, prefix, entries)
                    out.append(mrt.record(when, mrt.MrtType.TABLE_DUMP_V2, subtype, rec))
                    sequence += 1
            yield out
