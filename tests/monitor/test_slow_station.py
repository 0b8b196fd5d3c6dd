"""A BMP station that stops reading never slows BGP: its backlog is bounded by `queue_limit`,
past which pyrr drops the connection; the next connection gets the whole table again (RFC 7854
§5). Real sockets on loopback; the station is a listener that reads nothing on its first
connection and everything on the next."""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import replace
from ipaddress import ip_address

import pytest

from pyrr.bgp.constants import AttrCode, AttrFlag, State
from pyrr.bgp.nlri import IPV4_UNICAST
from pyrr.config import BmpStation
from pyrr.monitor.bmp import BmpMsgType
from pyrr.transport import bmp_station
from pyrr.transport.host import Host

from ..peer_sim import SimPeer, basic_attrs, free_port, wait_for
from ..test_speaker import ASN, client, make_config
from .wire import split

A, B = "127.0.2.1", "127.0.2.2"
ROUTES = 1500
LIMIT = 64 * 1024


class Station:
    """Reads nothing on its first connection (a stuck collector), everything afterwards."""

    def __init__(self) -> None:
        self.connections = 0
        self.data = bytearray()
        self.server: asyncio.AbstractServer | None = None
        self._held: list[asyncio.StreamWriter] = []

    async def start(self, port: int) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
        sock.bind(("127.0.0.1", port))
        self.server = await asyncio.start_server(self._client, sock=sock, limit=4096)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.connections == 1:
            self._held.append(writer)  # never read: the reader's buffer and the window fill
            return
        while chunk := await reader.read(1 << 16):
            self.data += chunk

    async def stop(self) -> None:
        for w in self._held:
            w.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def test_a_stuck_station_is_dropped_and_resynchronised_while_bgp_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bmp_station, "RETRY_MIN", 0.2)

    async def go() -> None:
        port, bmp_port = free_port(), free_port()
        station = Station()
        await station.start(bmp_port)
        cfg = make_config(port, [client(A), client(B)])
        conf = BmpStation(ip_address("127.0.0.1"), bmp_port, queue_limit=LIMIT, stats_interval=0)
        host = Host(replace(cfg, bmp=(conf,)), asyncio.get_running_loop())
        await host.start()
        sims = [SimPeer(a, ASN, ("127.0.0.1", port)) for a in (A, B)]
        try:
            for s in sims:
                await s.connect()
            await wait_for(lambda: all(s.state == State.ESTABLISHED for s in sims), what="up")
            assert host.monitoring is not None
            client_ = host.monitoring.stations[0]
            await wait_for(lambda: client_.connects == 1, what="the station connected")
            # 1,500 UPDATEs of one route each, with 1 KB of communities: ~3 MB of BMP (the
            # UPDATE as received and the Loc-RIB's) for a station that reads none of it.
            big = [(AttrCode.COMMUNITIES, AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE, bytes(1024))]
            for i in range(ROUTES):
                sims[0].announce(
                    [f"10.{64 + i // 256}.{i % 256}.0/24"], attrs=basic_attrs(extra=big)
                )
                if i % 100 == 0:
                    await asyncio.sleep(0)
            # BGP is not held up: B gets every route reflected.
            await wait_for(
                lambda: len(sims[1].prefixes(IPV4_UNICAST)) == ROUTES,
                timeout=30,
                what="every route reflected to B",
            )
            await wait_for(lambda: client_.drops >= 1, what="the stuck station dropped")
            # The next connection gets Initiation, the Peer Ups and the whole table again.
            await wait_for(lambda: client_.connects >= 2, timeout=10, what="a new connection")

            def resynchronised() -> bool:
                msgs = split(bytes(station.data[: _whole(station.data)]))
                loc = [m for m in msgs if m.kind == BmpMsgType.ROUTE_MONITORING and m.loc_rib]
                return sum(len(m.routes()[0]) for m in loc) == ROUTES

            await wait_for(resynchronised, timeout=20, what="the table at the new connection")
            msgs = split(bytes(station.data[: _whole(station.data)]))
            assert msgs[0].kind == BmpMsgType.INITIATION
            ups = {str(m.address) for m in msgs if m.kind == BmpMsgType.PEER_UP}
            assert ups == {A, B, "0.0.0.0"}
            assert client_.connection is not None
            assert client_.connection.buffered() <= LIMIT + client_.connection.allowance
        finally:
            for s in sims:
                s.close()
            await host.stop()
            await station.stop()

    asyncio.run(asyncio.wait_for(go(), 90))


def _whole(data: bytearray) -> int:
    """How many leading bytes of `data` are whole BMP messages."""
    pos = 0
    while pos + 6 <= len(data):
        (length,) = struct.unpack_from("!I", data, pos + 1)
        if pos + length > len(data):
            break
        pos += length
    return pos
