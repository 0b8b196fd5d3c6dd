"""The event-loop lag probe (`Host.lag`) and the queue sizes (`Host.queues()`), as `pyrr status`
and the metrics show them. Only lower bounds on time are checked: a loop blocked for 0.3 s
must show a lag of at least most of that, however loaded the machine is."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from pyrr.bgp.constants import State
from pyrr.control.metrics import MetricsServer
from pyrr.control.server import ControlServer, request
from pyrr.transport.host import LAG_INTERVAL, LoopLag

from .peer_sim import SimPeer, free_port, wait_for
from .test_metrics import parse, scrape, value
from .test_speaker import ASN, client, run, running

BLOCK = 0.3


def test_loop_lag_sees_a_blocked_loop() -> None:
    async def go() -> None:
        lag = LoopLag(asyncio.get_running_loop())
        lag.start()
        await asyncio.sleep(3 * LAG_INTERVAL)
        assert lag.ticks >= 1
        time.sleep(BLOCK)  # a callback that holds the loop: the next tick runs that late
        await asyncio.sleep(2 * LAG_INTERVAL)
        # The tick due within LAG_INTERVAL of the block's start ran at its end, or later.
        assert lag.max >= BLOCK - LAG_INTERVAL
        assert lag.recent_max >= BLOCK - LAG_INTERVAL
        d = lag.as_dict()
        assert d["ticks"] == lag.ticks and d["max"] == lag.max and d["interval"] == LAG_INTERVAL
        assert 0 < d["mean"] <= d["max"]
        lag.stop()
        ticks = lag.ticks
        await asyncio.sleep(2 * LAG_INTERVAL)
        assert lag.ticks == ticks  # stopped means stopped

    run(go)


def test_status_and_metrics_show_loop_lag_and_queues(tmp_path: Path) -> None:
    sock = str(tmp_path / "ctl.sock")

    async def go() -> None:
        addrs = ("127.0.5.1", "127.0.5.2")
        async with running([client(a) for a in addrs]) as (host, port):
            ctl = ControlServer(host, sock)
            await ctl.start()
            mport = free_port()
            metrics = MetricsServer(host, f"127.0.0.1:{mport}")
            await metrics.start()
            sims = [SimPeer(a, ASN, ("127.0.0.1", port)) for a in addrs]
            try:
                for sim in sims:
                    await sim.connect()
                await wait_for(lambda: all(x.state == State.ESTABLISHED for x in sims))
                sims[0].announce(["10.10.1.0/26"])
                await wait_for(lambda: "10.10.1.0/26" in sims[1].prefixes())
                await asyncio.sleep(3 * LAG_INTERVAL)
                st = await asyncio.to_thread(request, sock, {"cmd": "status"})
                lag, q = st["runtime"]["loop_lag"], st["runtime"]["queues"]
                assert lag["ticks"] >= 1 and lag["interval"] == LAG_INTERVAL
                assert 0 <= lag["last"] <= lag["max"] and lag["recent_max"] <= lag["max"]
                # Between two events nothing waits: no change queued, every byte taken by the
                # kernel, nobody slow, no dial (passive peers); a deadline per peer at most
                # (plus superseded entries not yet popped), and the loop's tasks.
                assert q["updates_queued"] == 0
                assert q["write_buffer_bytes"] == q["write_buffer_max"] == 0
                assert q["slow_peers"] == 0 and q["dials"] == 0
                assert q["timers"] >= len(addrs) and q["tasks"] >= 1
                rt = await asyncio.to_thread(request, sock, {"cmd": "runtime"})
                assert (rt["peers"], rt["established"], rt["routes"]) == (2, 2, 1)
                assert rt["loop_lag"]["ticks"] >= lag["ticks"] and rt["queues"].keys() == q.keys()
                s = parse((await asyncio.to_thread(scrape, f"http://127.0.0.1:{mport}/metrics"))[2])
                assert value(s, "pyrr_event_loop_ticks_total") >= lag["ticks"]
                assert value(s, "pyrr_event_loop_lag_max_seconds") >= lag["max"]
                assert value(s, "pyrr_event_loop_lag_seconds") >= 0
                assert value(s, "pyrr_event_loop_lag_accumulated_seconds_total") >= 0
                assert value(s, "pyrr_updates_queued") == 0
                assert value(s, "pyrr_write_buffer_bytes") == 0
                assert value(s, "pyrr_slow_peers") == 0
                assert value(s, "pyrr_dials_in_progress") == 0
                assert value(s, "pyrr_timers_queued") >= len(addrs)
                assert value(s, "pyrr_asyncio_tasks") >= 1
            finally:
                for sim in sims:
                    sim.close()
                await metrics.stop()
                await ctl.stop()
        # Stopped with the host: no probe left running on the loop.
        assert host.lag._handle is None

    run(go)
