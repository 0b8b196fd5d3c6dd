"""RFC 4456 route reflection (and plain iBGP/eBGP export rules), decided per path, not per peer.

Ingress loop checks happen once per received attribute set; the reflected attributes
(ORIGINATOR_ID, CLUSTER_LIST) are computed once per path and cached on it.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from ..bgp.attributes import PathAttrs
from ..bgp.constants import AsPathSegType, AttrCode
from .path import Path, Source


class Role(IntEnum):
    """How a peer is treated on export (part of the update group key)."""

    CLIENT = 1  # RFC 4456 route-reflector client (iBGP)
    NON_CLIENT = 2  # iBGP, not a client (e.g. another RR of the cluster)
    EBGP = 3


def role_of(source: Source) -> Role:
    if not source.ibgp:
        return Role.EBGP
    return Role.CLIENT if source.client else Role.NON_CLIENT


def is_looped(attrs: PathAttrs, router_id: int, cluster_id: int) -> str:
    """RFC 4456 §8: our own ORIGINATOR_ID or our CLUSTER_ID in CLUSTER_LIST means a loop."""
    if attrs.originator_id == router_id:
        return "ORIGINATOR_ID is our router id (RFC 4456 §8)"
    if cluster_id in attrs.cluster_list:
        return "CLUSTER_LIST contains our cluster id (RFC 4456 §8)"
    return ""


def may_export(path: Path, role: Role) -> bool:
    """RFC 4456 §8: from a client, to clients and non-clients; from a non-client, to clients
    only. eBGP-learned routes go to every iBGP peer; every best path goes to eBGP peers."""
    src = path.source
    if role == Role.EBGP or not src.ibgp:
        return True
    return src.client or role == Role.CLIENT


def ibgp_attrs(path: Path, cluster_id: int) -> PathAttrs:
    """The attributes sent to iBGP peers: reflected ones carry ORIGINATOR_ID and CLUSTER_LIST.

    NEXT_HOP, LOCAL_PREF, MED and AS_PATH are never changed on reflection (RFC 4456 §10).
    """
    cached = path.out.get(Role.CLIENT)
    if isinstance(cached, PathAttrs):
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
        attrs = attrs.replace(AttrCode.LOCAL_PREF, struct.pack("!I", 100))
    path.out[Role.CLIENT] = attrs
    return attrs


def ebgp_attrs(path: Path, local_as: int) -> PathAttrs:
    """RFC 4271 §5.1.2-5.1.5: prepend our AS; LOCAL_PREF, MED and the RR attributes stay home."""
    key = ("ebgp", local_as)
    cached = path.out.get(key)
    if isinstance(cached, PathAttrs):
        return cached
    from ..bgp.attributes import encode_as_path

    ap = path.attrs.as_path
    if ap and ap[0][0] == AsPathSegType.AS_SEQUENCE and len(ap[0][1]) < 255:
        new_path = ((AsPathSegType.AS_SEQUENCE, (local_as, *ap[0][1])), *ap[1:])
    else:
        new_path = ((AsPathSegType.AS_SEQUENCE, (local_as,)), *ap)
    items = [
        it
        for it in path.attrs.items
        if it[0]
        not in (
            AttrCode.LOCAL_PREF,
            AttrCode.ORIGINATOR_ID,
            AttrCode.CLUSTER_LIST,
            AttrCode.MULTI_EXIT_DISC,
            AttrCode.AS_PATH,
        )
    ]
    items.append((AttrCode.AS_PATH, 0x40, encode_as_path(tuple(new_path), 4)))
    attrs = PathAttrs(items)
    path.out[key] = attrs
    return attrs
