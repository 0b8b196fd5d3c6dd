"""pyrr against a real BMP station: pmacct's pmbmpd (Debian's) on loopback, logging what it
parses as JSON. pyrr runs in process with simulated Calico nodes over real sockets; the station
comes up after the routes are there (a station connecting mid-life, RFC 7854 §5), then follows
the live stream, the statistics, a peer going down and pyrr's shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from pyrr.bgp.constants import State
from pyrr.config import BmpStation
from pyrr.transport import bmp_station
from pyrr.transport.host import Host

from ..peer_sim import SimPeer, free_port, wait_for
from ..test_speaker import ASN, client, make_config
from .tools import json_lines, pmbmpd

A, B = "127.0.2.1", "127.0.2.2"


def _has(log: Path, pred: Callable[[dict[str, Any]], bool]) -> Callable[[], bool]:
    return lambda: any(pred(m) for m in json_lines(log))


def _prefixes(log: Path, peer: str, kind: str, loc: bool = False) -> set[str]:
    return {
        m["ip_prefix"]
        for m in json_lines(log)
        if m.get("bmp_msg_type") == "route_monitor"
        and m.get("log_type") == kind
        and m.get("peer_ip") == ("0.0.0.0" if loc else peer)
        and bool(m.get("is_loc")) == loc
    }


def test_pmbmpd_sees_peers_routes_loc_rib_statistics_and_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bmp_station, "RETRY_MIN", 0.2)  # the station appears within a second

    async def go() -> None:
        port, bmp_port = free_port(), free_port()
        cfg = make_config(port, [client(A), client(B)])
        station = BmpStation(ip_address("127.0.0.1"), bmp_port, stats_interval=1)
        host = Host(replace(cfg, bmp=(station,)), asyncio.get_running_loop())
        await host.start()
        sims = [SimPeer(a, ASN, ("127.0.0.1", port)) for a in (A, B)]
        try:
            for s in sims:
                await s.connect()
            await wait_for(lambda: all(s.state == State.ESTABLISHED for s in sims), what="up")
            sims[0].announce(["10.10.1.0/26", "2001:db8:1::/64"])
            sims[1].announce(["10.10.2.0/26"])
            await wait_for(lambda: len(host.speaker.rib) == 3, what="routes in the RIB")

            with pmbmpd(tmp_path, bmp_port) as log:
                # RFC 7854 §5: Initiation, each peer's Peer Up and Adj-RIB-In; RFC 9069: the
                # Loc-RIB instance's Peer Up and best paths.
                await wait_for(
                    lambda: (
                        _prefixes(log, "", "update", loc=True)
                        == {"10.10.1.0/26", "2001:db8:1::/64", "10.10.2.0/26"}
                    ),
                    timeout=15,
                    what="the Loc-RIB dump at pmbmpd",
                )
                msgs = json_lines(log)
                [init] = [m for m in msgs if m.get("bmp_msg_type") == "init"]
                assert init["bmp_init_info_sysdescr"].startswith("pyrr ")
                assert init["bmp_init_info_sysname"]
                ups = {m["peer_ip"]: m for m in msgs if m.get("bmp_msg_type") == "peer_up"}
                assert set(ups) == {A, B, "0.0.0.0"}
                assert ups[A]["peer_type"] == 0 and ups[A]["bgp_id"] == A
                assert ups[A]["local_ip"] == "127.0.0.1" and ups[A]["local_port"] == port
                assert ups["0.0.0.0"]["peer_type_str"] == "Loc-RIB Instance Peer"
                assert ups["0.0.0.0"]["bgp_id"] == "127.0.0.1"
                assert ups["0.0.0.0"]["bmp_peer_up_info_3"] == b"global".hex("-").upper()
                assert _prefixes(log, A, "update") == {"10.10.1.0/26", "2001:db8:1::/64"}
                assert _prefixes(log, B, "update") == {"10.10.2.0/26"}

                # The live stream: an UPDATE as received, and the best-path change.
                sims[1].announce(["10.10.3.0/26"])
                await wait_for(
                    lambda: "10.10.3.0/26" in _prefixes(log, "", "update", loc=True),
                    what="the live UPDATE at pmbmpd",
                )
                assert "10.10.3.0/26" in _prefixes(log, B, "update")
                nexthops = {
                    m["bgp_nexthop"]
                    for m in json_lines(log)
                    if m.get("ip_prefix") == "10.10.3.0/26"
                }
                assert nexthops == {B}

                # RFC 7854 §4.8: statistics every second (types 7, 9, 11; 8, 10 for Loc-RIB).
                # A report made after the live UPDATE: the Loc-RIB holds four routes.
                await wait_for(
                    _has(log, lambda m: m.get("counter_type") == 8 and m["counter_value"] == 4),
                    what="Loc-RIB statistics",
                )
                stats = {
                    (m["peer_ip"], m["counter_type"], m.get("afi")): m["counter_value"]
                    for m in json_lines(log)
                    if m.get("bmp_msg_type") == "stats"
                }
                assert stats[(A, 7, None)] == 2
                assert stats[(A, 9, 1)] == 1 and stats[(A, 9, 2)] == 1
                assert stats[(A, 11, None)] == 0
                assert stats[("0.0.0.0", 8, None)] == 4
                assert stats[("0.0.0.0", 10, 1)] == 3

                # A peer's connection is lost: Peer Down (§4.9 reason 4), its routes leave.
                sims[1].close()
                await wait_for(
                    _has(log, lambda m: m.get("bmp_msg_type") == "peer_down"),
                    what="Peer Down at pmbmpd",
                )
                await wait_for(
                    lambda: (
                        _prefixes(log, "", "withdraw", loc=True) == {"10.10.2.0/26", "10.10.3.0/26"}
                    ),
                    what="the Loc-RIB withdrawals",
                )
                [down] = [m for m in json_lines(log) if m.get("bmp_msg_type") == "peer_down"]
                assert down["peer_ip"] == B and down["reason_type"] == 4

                # pyrr stops: Cease to A (Peer Down reason 1), then Termination (§4.5).
                await host.stop()
                await wait_for(
                    _has(log, lambda m: m.get("bmp_msg_type") == "term"), what="Termination"
                )
                msgs = json_lines(log)
                downs = [m for m in msgs if m.get("bmp_msg_type") == "peer_down"]
                assert [(m["peer_ip"], m["reason_type"]) for m in downs] == [(B, 4), (A, 1)]
                [term] = [m for m in msgs if m.get("bmp_msg_type") == "term"]
                assert term["bmp_term_info_reason"] == "Session administratively closed"
                assert term["bmp_term_info_string"] == "pyrr shutting down"
        finally:
            for s in sims:
                s.close()
            await host.stop()

    asyncio.run(asyncio.wait_for(go(), 60))
