"""The attributes and next hop a path is sent with, computed once per path and kind of receiver
and kept in the path's `export_cache` (the only reader and writer of that slot): the RFC 4456
reflection attributes, the eBGP rewrite with the session's local AS, the next hop by the peer's
next-hop mode, and a route filter's operations."""

from __future__ import annotations

import struct
from typing import cast

from ..bgp.attributes import PathAttrs, encode_as_path
from ..bgp.constants import AsPathSegType, AttrCode, AttrFlag
from ..bgp.nlri import Family
from ..rib.path import Path
from .filters import Operations, apply_operations
from .policy import Role

# RFC 4271 §4.3: an AS_PATH segment holds at most 255 AS numbers (a one-octet count).
MAX_SEGMENT_ASNS = 255
# RFC 4271 §5.1.5: what an internal peer assumes when LOCAL_PREF is missing (the usual default).
DEFAULT_LOCAL_PREF = 100
# Attributes that stay inside the AS (RFC 4271 §5.1.4-5, RFC 4456 §8), or that we rewrite,
# towards an eBGP peer.
_NOT_TO_EBGP = frozenset(
    (
        AttrCode.LOCAL_PREF,
        AttrCode.ORIGINATOR_ID,
        AttrCode.CLUSTER_LIST,
        AttrCode.MULTI_EXIT_DISC,
        AttrCode.AS_PATH,
    )
)


def ibgp_attrs(path: Path, cluster_id: int) -> PathAttrs:
    """The attributes sent to iBGP peers: reflected ones carry ORIGINATOR_ID and CLUSTER_LIST.

    NEXT_HOP, LOCAL_PREF, MED and AS_PATH are never changed on reflection (RFC 4456 §10).
    """
    cache = path.export_cache
    cached = cache.get(Role.CLIENT)
    if cached is not None:
        return cast(PathAttrs, cached)
    attrs = path.attrs
    if path.source.ibgp:
        if attrs.originator_id is None:
            # RFC 4456 §8: ORIGINATOR_ID = the router id of the route's originator in this AS.
            attrs = attrs.replace(AttrCode.ORIGINATOR_ID, struct.pack("!I", path.source.router_id))
        # RFC 4456 §8: prepend our CLUSTER_ID to CLUSTER_LIST (create it if absent).
        attrs = attrs.replace(
            AttrCode.CLUSTER_LIST,
            struct.pack("!%dI" % (1 + len(attrs.cluster_list)), cluster_id, *attrs.cluster_list),
        )
    elif attrs.local_pref is None:
        # RFC 4271 §5.1.5: LOCAL_PREF must be present towards internal peers.
        attrs = attrs.replace(AttrCode.LOCAL_PREF, struct.pack("!I", DEFAULT_LOCAL_PREF))
    cache[Role.CLIENT] = attrs
    return attrs


def ebgp_attrs(path: Path, local_as: int) -> PathAttrs:
    """RFC 4271 §5.1.2-5.1.5: prepend our AS; LOCAL_PREF, MED and the RR attributes stay home."""
    key = (Role.EBGP, local_as)
    cache = path.export_cache
    cached = cache.get(key)
    if cached is not None:
        return cast(PathAttrs, cached)
    ap = path.attrs.as_path
    if ap and ap[0][0] == AsPathSegType.AS_SEQUENCE and len(ap[0][1]) < MAX_SEGMENT_ASNS:
        new_path = ((AsPathSegType.AS_SEQUENCE, (local_as, *ap[0][1])), *ap[1:])
    else:
        new_path = ((AsPathSegType.AS_SEQUENCE, (local_as,)), *ap)
    items = [it for it in path.attrs.items if it[0] not in _NOT_TO_EBGP]
    items.append((AttrCode.AS_PATH, int(AttrFlag.TRANSITIVE), encode_as_path(new_path, 4)))
    attrs = PathAttrs(items)
    cache[key] = attrs
    return attrs


def ebgp_as_of(local_as: int, local_asn: int | None) -> int:
    """The AS prepended towards an eBGP peer: the session's own local AS (Calico's BGPPeer
    `localASNumber`, sent in that session's OPEN) or else the speaker's (RFC 4271 §5.1.2)."""
    return local_asn if local_asn is not None else local_as


def next_hop(path: Path, family: Family, self_hops: dict[Family, bytes]) -> bytes:
    """The next hop a path is sent with. `self_hops` (our address on the session, by family)
    is set for receivers whose next-hop mode says so: AUTO towards eBGP peers (RFC 4271
    §5.1.3), SELF towards every peer; AUTO towards iBGP peers (RFC 4456 §10: a reflector does
    not change NEXT_HOP) and KEEP leave it empty. A family our session address is not of keeps
    the path's next hop: it cannot carry ours."""
    return self_hops.get(family, path.next_hop) if self_hops else path.next_hop


def filtered(path: Path, ops: Operations) -> Path:
    """The path as an accepting export rule's operations leave it: a Path of the same source,
    next hop and path id that no RIB holds, made once per (path, operations) and kept in the
    path's cache, so that every group and every prefix the rule accepts share it (and the
    reflection or eBGP rewrite above is applied to it once, on top of the operations, as BIRD
    applies its own changes after the export filter)."""
    if not ops:
        return path
    key = ("ops", ops)
    cache = path.export_cache
    derived = cache.get(key)
    if derived is None:
        derived = cache[key] = Path(
            path.source,
            path.family,
            apply_operations(path.attrs, ops),
            path.next_hop,
            path.path_id,
        )
    return cast(Path, derived)
