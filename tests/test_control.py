"""The control socket: `pyrr status` / `pyrr routes` data from a live speaker."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from pathlib import Path

from pyrr.bgp.constants import State
from pyrr.control import render
from pyrr.control.server import ControlServer, request

from .peer_sim import SimPeer, basic_attrs, wait_for
from .test_speaker import ASN, client, run, running


def test_status_and_routes_over_the_socket(tmp_path: Path) -> None:
    sock = str(tmp_path / "ctl.sock")

    async def go() -> None:
        async with running([client("127.0.2.1"), client("127.0.2.2"), client("127.0.2.3")]) as (
            sp,
            port,
        ):
            ctl = ControlServer(sp, sock)
            await ctl.start()
            assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
            a, b = (SimPeer(p, ASN, ("127.0.0.1", port)) for p in ("127.0.2.1", "127.0.2.2"))
            for s in (a, b):
                await s.connect()
            await wait_for(lambda: a.state == b.state == State.ESTABLISHED)
            a.announce(["10.10.1.0/26"], attrs=basic_attrs(local_pref=200))
            b.announce(["10.10.1.0/26"], attrs=basic_attrs(local_pref=100))
            await wait_for(lambda: "10.10.1.0/26" in b.prefixes(), what="a's route at b")
            loop = asyncio.get_running_loop()
            st = await loop.run_in_executor(None, request, sock, {"cmd": "status"})
            by_addr = {p["address"]: p for p in st["peers"]}
            assert by_addr["127.0.2.1"]["up"] and by_addr["127.0.2.1"]["prefixes_received"] == 1
            assert not by_addr["127.0.2.3"]["up"]
            assert by_addr["127.0.2.3"]["state"] == "Active"
            assert by_addr["127.0.2.2"]["prefixes_sent"] == 1
            text = render.status_text(st)
            assert re.search(r"\| 127\.0\.2\.1 +\| client +\| up +\|", text)
            assert re.search(r"\| 127\.0\.2\.3 +\| client +\| start +\|", text)
            rt = await loop.run_in_executor(
                None, request, sock, {"cmd": "routes", "prefix": "10.10.1.0/26"}
            )
            (r,) = rt["routes"]
            assert r["best"]["from"] == "127.0.2.1"
            assert "LOCAL_PREF" in r["reason"]
            assert len(r["paths"]) == 2
            bad = await loop.run_in_executor(
                None, request, sock, {"cmd": "routes", "prefix": "10.0.0.0/33"}
            )
            assert "bad prefix" in bad["error"]
            await ctl.stop()
            assert not os.path.exists(sock)
            for s in (a, b):
                s.close()

    run(go)
