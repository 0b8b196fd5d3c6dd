"""What `pyrr status` and `pyrr routes` show, as plain JSON-able dicts built from the speaker."""

from __future__ import annotations

import socket
import time
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any

from ..bgp.attributes import describe_items
from ..bgp.constants import IPV4_ADDR_LEN, IPV6_ADDR_LEN, State
from ..bgp.nlri import (
    IPV4_UNICAST,
    IPV6_UNICAST,
    Family,
    family_name,
    prefix_from_str,
    prefix_to_str,
)
from ..rib.bestpath import select
from ..rib.path import Path

if TYPE_CHECKING:
    from ..transport.host import Host


def next_hop_text(nh: bytes) -> str:
    if len(nh) == IPV4_ADDR_LEN:
        return socket.inet_ntop(socket.AF_INET, nh)
    if len(nh) == IPV6_ADDR_LEN:
        return socket.inet_ntop(socket.AF_INET6, nh)
    if len(nh) == 2 * IPV6_ADDR_LEN:
        # RFC 2545 §3: a global address, then a link-local one.
        glob = socket.inet_ntop(socket.AF_INET6, nh[:IPV6_ADDR_LEN])
        return f"{glob} ({socket.inet_ntop(socket.AF_INET6, nh[IPV6_ADDR_LEN:])})"
    return nh.hex()


def status(host: Host) -> dict[str, Any]:
    speaker = host.speaker
    g = speaker.config.bgp
    peers = []
    for p in speaker.peers.values():
        neg = p.negotiated
        peers.append(
            {
                "address": str(p.config.address),
                "type": p.config.kind,
                "description": p.config.description,
                "asn": p.config.asn,
                "state": p.state.name.capitalize(),
                "up": p.state == State.ESTABLISHED,
                "since": p.since + host.wall_offset,
                "info": p.last_error if p.state != State.ESTABLISHED else "",
                "router_id": str(IPv4Address(p.source.router_id)) if p.source.router_id else "",
                "families": [family_name(f) for f in neg.families] if neg else [],
                "hold_time": neg.hold_time if neg else None,
                "prefixes_received": p.prefixes_received(),
                "prefixes_sent": p.prefixes_sent(),
                "stale": sum(p.source.stale_counts.values()),
                "updates_received": p.updates_in,
                "flaps": p.flaps,
            }
        )
    return {
        "router_id": str(g.router_id),
        "cluster_id": str(g.cluster_id),
        "asn": g.asn,
        "uptime": host.loop.time() - speaker.started_at,
        "now": time.time(),
        "routes": {family_name(f): len(t) for f, t in speaker.rib.tables.items()},
        "update_groups": len(speaker.export.groups),
        "rejected_connections": speaker.rejected,
        "runtime": {"loop_lag": host.lag.as_dict(), "queues": host.queues()},
        "peers": peers,
        "monitoring": host.monitoring.status() if host.monitoring is not None else None,
    }


def runtime(host: Host) -> dict[str, Any]:
    """The cheap part of `status`, for sampling every second: the event loop's lag, the queue
    sizes and the counts, without a line per peer."""
    speaker = host.speaker
    return {
        "uptime": host.loop.time() - speaker.started_at,
        "peers": len(speaker.peers),
        "established": sum(1 for p in speaker.peers.values() if p.state == State.ESTABLISHED),
        "routes": len(speaker.rib),
        "loop_lag": host.lag.as_dict(),
        "queues": host.queues(),
    }


def _path_dict(family: Family, p: Path) -> dict[str, Any]:
    a = p.attrs
    return {
        "from": p.source.key,
        "next_hop": next_hop_text(p.next_hop),
        "local_pref": a.local_pref,
        "as_path": " ".join(str(x) for _t, asns in a.as_path for x in asns),
        "med": a.med,
        "originator_id": str(IPv4Address(a.originator_id)) if a.originator_id is not None else None,
        "cluster_list": [str(IPv4Address(c)) for c in a.cluster_list],
        "attributes": describe_items(a.items),
        "stale": p.stale,
    }


def routes(host: Host, prefix: str | None = None, limit: int = 10000) -> dict[str, Any]:
    """Best path and why it won, and every candidate path, per prefix."""
    speaker = host.speaker
    out: list[dict[str, Any]] = []
    if prefix:
        fam, key = prefix_from_str(prefix)
        wanted: list[tuple[Family, bytes]] = [(fam, key)]
    else:
        wanted = [
            (fam, k)
            for fam in (IPV4_UNICAST, IPV6_UNICAST)
            for k in list(speaker.rib.tables.get(fam, {}))[:limit]
        ]
    for fam, key in wanted:
        dest = speaker.rib.lookup(fam, key)
        if dest is None:
            continue
        best, reason = select(dest.paths)
        out.append(
            {
                "prefix": prefix_to_str(key, fam),
                "family": family_name(fam),
                "best": _path_dict(fam, best) if best is not None else None,
                "reason": reason.value,
                "paths": [_path_dict(fam, p) for p in dest.paths],
            }
        )
    return {"routes": out, "total": len(speaker.rib)}
