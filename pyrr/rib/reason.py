"""Why a path won best-path selection (like GoBGP's BestPathReason): one value per step of
RFC 4271 §9.1.2 and RFC 4456 §9, shown by `pyrr routes`."""

from __future__ import annotations

from enum import Enum


class Reason(Enum):
    ONLY_PATH = "only path"
    LOCAL_PREF = "highest LOCAL_PREF (RFC 4271 §9.1.2.1)"
    AS_PATH = "shortest AS_PATH (RFC 4271 §9.1.2.2 a)"
    ORIGIN = "lowest ORIGIN (RFC 4271 §9.1.2.2 b)"
    MED = "lowest MED from the same neighbour AS (RFC 4271 §9.1.2.2 c)"
    EBGP = "eBGP over iBGP (RFC 4271 §9.1.2.2 d)"
    ROUTER_ID = "lowest ORIGINATOR_ID / router id (RFC 4271 §9.1.2.2 f, RFC 4456 §9)"
    CLUSTER_LIST = "shortest CLUSTER_LIST (RFC 4456 §9)"
    PEER_ADDRESS = "lowest peer address (RFC 4271 §9.1.2.2 g)"
    PATH_ID = "lowest path identifier (RFC 7911)"
