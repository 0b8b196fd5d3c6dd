"""RFC 4456 route reflection rules (and the plain iBGP/eBGP ones), decided per path, not per peer:
which receivers a path may go to, and which received routes are our own coming back."""

from __future__ import annotations

from enum import IntEnum

from ..bgp.attributes import PathAttrs
from ..rib.path import Path, Source


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
    """RFC 4456 §8: our own ORIGINATOR_ID or our CLUSTER_ID in CLUSTER_LIST means a loop.

    Checked once per received attribute set (on ingress), not once per receiver on egress."""
    if attrs.originator_id == router_id:
        return "ORIGINATOR_ID is our router id (RFC 4456 §8)"
    if cluster_id in attrs.cluster_list:
        return "CLUSTER_LIST contains our cluster id (RFC 4456 §8)"
    return ""


def as_path_looped(attrs: PathAttrs, local_as: int, allowed: int = 0) -> str:
    """RFC 4271 §9.1.2: a route whose AS_PATH holds our AS is a loop; `allowed` times are
    tolerated (BIRD's `allow local as`, Calico's BGPPeer numAllowedLocalASNumbers).

    `local_as` is the AS of the session the route came in on (its localASNumber, else ours),
    the one BIRD checks. An outside eBGP router sends one reflector's routes to the other
    prepended with its own AS: without this check they would enter the RIB."""
    count = 0
    for _seg_type, asns in attrs.as_path:
        count += asns.count(local_as)
    if count > allowed:
        return f"AS_PATH contains our AS {local_as} (RFC 4271 §9.1.2)"
    return ""


def may_export(path: Path, role: Role) -> bool:
    """RFC 4456 §8: from a client, to clients and non-clients; from a non-client, to clients
    only. eBGP-learned routes go to every iBGP peer; every best path goes to eBGP peers."""
    src = path.source
    if role == Role.EBGP or not src.ibgp:
        return True
    return src.client or role == Role.CLIENT
