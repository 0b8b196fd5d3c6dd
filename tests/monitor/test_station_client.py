"""The BMP station client's connection life (pyrr.transport.bmp_station.StationClient), with a
real hub and a station listening on loopback: what happens when sending the table fails, and
how soon a station that keeps closing is connected again."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from ipaddress import ip_address

import pytest

from pyrr.config import BmpStation
from pyrr.monitor.hub import Hub, Station
from pyrr.transport import bmp_station
from pyrr.transport.bmp_station import StationClient

from ..peer_sim import free_port, wait_for
from ..session.harness import World

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _client(port: int, handler: Handler) -> tuple[StationClient, Hub, asyncio.Server]:
    server = await asyncio.start_server(handler, "127.0.0.1", port)
    hub = Hub(World().speaker, time.time, "rr1.example")
    conf = BmpStation(ip_address("127.0.0.1"), port, stats_interval=0)
    return StationClient(conf, hub, asyncio.get_running_loop()), hub, server


def test_a_failure_while_sending_the_table_closes_that_connection_and_connects_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bmp_station, "RETRY_MIN", 0.01)

    async def go() -> None:
        ended = 0

        async def station(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal ended
            await reader.read()  # until pyrr closes the connection
            ended += 1
            writer.close()

        client, hub, server = await _client(free_port(), station)
        real_up = hub.station_up
        failures = 0

        def station_up(st: Station) -> None:
            nonlocal failures
            if failures == 0:
                failures += 1
                raise RuntimeError("an encoding bug")
            real_up(st)

        monkeypatch.setattr(hub, "station_up", station_up)
        client.start()
        try:
            # The first connection is closed (not left open with nothing on it) and the
            # client goes on: a second connection gets the table.
            await wait_for(lambda: ended == 1 and client.connects == 2, what="a new connection")
            assert client.connection is not None and hub.adj_stations == [client.connection]
        finally:
            await client.stop("test over")
            server.close()
            await server.wait_closed()

    asyncio.run(asyncio.wait_for(go(), 20))


def test_a_station_that_closes_at_once_is_retried_with_a_growing_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each connection sends the whole table again (RFC 7854 §5): a station that closes every
    connection at once must not have it encoded every RETRY_MIN."""
    monkeypatch.setattr(random, "uniform", lambda a, b: 1.0)
    delays: list[float] = []

    class Asyncio:
        """asyncio as bmp_station sees it, with a sleep that records and does not wait."""

        def __getattr__(self, name: str) -> object:
            return getattr(asyncio, name)

        @staticmethod
        async def sleep(seconds: float) -> None:
            delays.append(seconds)
            await asyncio.sleep(0)

    monkeypatch.setattr(bmp_station, "asyncio", Asyncio())

    async def go() -> None:
        async def station(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        client, _hub, server = await _client(free_port(), station)
        client.start()
        try:
            await wait_for(lambda: len(delays) >= 4, what="four reconnections")
        finally:
            await client.stop("test over")
            server.close()
            await server.wait_closed()
        assert client.connects >= 4
        assert delays[:4] == [1.0, 2.0, 4.0, 8.0]

    asyncio.run(asyncio.wait_for(go(), 20))
