"""Text tables for `pyrr status` / `pyrr routes` (the look `calicoctl node status` users know)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    lines = [sep]
    for i, r in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
        if i == 0:
            lines.append(sep)
    lines.append(sep)
    return "\n".join(lines)


_DAY = 24 * 60 * 60  # seconds: older than this, SINCE shows the date instead of the time


def _since(ts: float) -> str:
    t = time.localtime(ts)
    if time.time() - ts > _DAY:
        return time.strftime("%Y-%m-%d", t)
    return time.strftime("%H:%M:%S", t)


def peer_rows(peers: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = [["PEER ADDRESS", "PEER TYPE", "STATE", "SINCE", "INFO", "RECEIVED", "SENT"]]
    for p in peers:
        info = p["state"] if p["up"] else (p["state"] + (f" {p['info']}" if p["info"] else ""))
        rows.append(
            [
                p["address"],
                p["type"],
                "up" if p["up"] else "start",
                _since(p["since"]),
                info,
                str(p["prefixes_received"]),
                str(p["prefixes_sent"]),
            ]
        )
    return rows


def status_text(st: dict[str, Any]) -> str:
    out = [
        f"pyrr route reflector {st['router_id']} (AS {st['asn']}, cluster {st['cluster_id']}), "
        f"{sum(st['routes'].values())} routes, {st['update_groups']} update group(s)",
        "",
    ]
    for v6, label in ((False, "IPv4"), (True, "IPv6")):
        peers = [p for p in st["peers"] if (":" in p["address"]) == v6]
        out.append(f"{label} BGP status")
        out.append(table(peer_rows(peers)) if peers else f"No {label} peers found.")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def routes_text(rt: dict[str, Any]) -> str:
    out = []
    for r in rt["routes"]:
        out.append(f"{r['prefix']}  ({r['family']}; best: {r['reason']})")
        for p in r["paths"]:
            mark = "*" if r["best"] is not None and p["from"] == r["best"]["from"] else " "
            stale = " stale" if p["stale"] else ""
            out.append(f"  {mark} via {p['next_hop']} from {p['from']}{stale}: {p['attributes']}")
    out.append(f"{len(rt['routes'])} shown, {rt['total']} in the Loc-RIB")
    return "\n".join(out) + "\n"
