"""The attributes a path is sent with, computed once per path and kind of receiver and kept in
the path's `export_cache` (the only reader and writer of that slot)."""

from __future__ import annotations

import struct

from ..bgp.attributes import PathAttrs, encode_as_path
from ..bgp.constants import AsPathSegType, AttrCode, AttrFlag
from ..rib.path import Path
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
        return cached
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
        return cached
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
