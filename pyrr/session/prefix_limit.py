"""A neighbour's maximum number of prefixes (RFC 4486): which family went over, and what the
Cease NOTIFICATION then carries."""

from __future__ import annotations

import struct

from ..bgp.nlri import Family
from ..bgp.update import Update
from ..rib.path import Source

CEASE: str = "cease"  # PeerConfig.max_prefixes_action: end the session; else only log


def over_limit(source: Source, update: Update, limit: int) -> tuple[Family, int] | None:
    """The first family of `update`'s announcements whose Adj-RIB-In now holds more than
    `limit` prefixes, with that count (checked after the UPDATE was applied)."""
    for fam, _nh, _p in update.announced:
        count = source.fresh_count(fam)
        if count > limit:
            return fam, count
    return None


def cease_data(family: Family, limit: int) -> bytes:
    """RFC 4486 §4: AFI (2 octets), SAFI (1 octet), the upper bound (4 octets)."""
    return struct.pack("!HBI", family[0], family[1], limit)
