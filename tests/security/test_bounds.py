"""Output bounds and connection endings, in-process: a paused peer's ROUTE-REFRESH queues
nothing, a NOTIFICATION that cannot be delivered does not keep its connection forever, and a
NOTIFICATION decided while handling a message is sent before the FIN."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from pyrr.bgp.constants import CeaseSub, ErrCode, State
from pyrr.bgp.fsm import Session, SessionConfig
from pyrr.bgp.messages import RouteRefresh
from pyrr.bgp.nlri import IPV4_UNICAST
from pyrr.transport.protocol import Connection
from pyrr.transport.session_stream import SessionStream

from ..peer_sim import SimPeer, wait_for
from .helpers import ASN, RR, client, running


def run(coro_fn: Any) -> None:
    asyncio.run(asyncio.wait_for(coro_fn(), 60))


class FakeTransport:
    def __init__(self, buffered: int) -> None:
        self.buffered = buffered
        self.calls: list[str] = []

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        self.calls.append("close")

    def abort(self) -> None:
        self.calls.append("abort")


def test_linger_ends_with_a_reset_when_the_peer_never_read() -> None:
    """After LINGER, a connection whose NOTIFICATION is still in our buffer is aborted:
    close() would wait for a reader that may never come, keeping the socket and the buffer."""

    async def go() -> None:
        loop = asyncio.get_running_loop()
        for buffered, expected in ((4096, ["abort"]), (0, ["close"])):
            conn = SessionStream(Session(SessionConfig(ASN, 1, ASN)), SimPeer(RR, ASN, (RR, 0)),
                              True, loop)  # fmt: skip
            fake = FakeTransport(buffered)
            conn.transport = fake  # type: ignore[assignment]
            conn._end_linger()
            assert fake.calls == expected

    run(go)


def test_route_refresh_from_a_paused_peer_queues_nothing() -> None:
    """A peer out of the shared stream (its buffer above the high watermark) that asks for a
    ROUTE-REFRESH gets nothing written: its resync on resume sends the family instead."""

    async def go() -> None:
        async with running([client("127.0.2.1"), client("127.0.2.2")]) as (sp, port):
            a = SimPeer("127.0.2.1", ASN, (RR, port))
            b = SimPeer("127.0.2.2", ASN, (RR, port))
            for p in (a, b):
                await p.connect()
            await wait_for(lambda: a.state == b.state == State.ESTABLISHED, what="up")
            routes = [f"10.20.{i}.0/24" for i in range(50)]
            b.announce(routes)
            await wait_for(lambda: a.prefixes() == set(routes), what="A has B's routes")
            peer = sp.speaker.peers["127.0.2.1"]
            link = peer.established
            group = sp.speaker.export.group_of(peer)
            assert link is not None and group is not None
            conn = cast(Connection, link.sink)
            conn.pause_writing()  # as the transport does above the high watermark
            assert "127.0.2.1" in group.paused
            out_before = conn.bytes_out
            a.send_raw(RouteRefresh(1, 1).encode())
            b.withdraw(routes[:10])
            await asyncio.sleep(0.3)
            assert conn.bytes_out == out_before, "wrote to a paused peer"
            assert a.prefixes() == set(routes)  # it heard nothing meanwhile
            conn.resume_writing()
            await wait_for(lambda: a.prefixes() == set(routes[10:]), what="resynchronised")
            assert a.state == State.ESTABLISHED
            a.close()
            b.close()

    run(go)


def test_collision_with_an_established_session_sends_its_notification() -> None:
    """RFC 4271 §6.8: an OPEN on a second connection while the session is Established closes
    the new connection with Cease/Connection Collision Resolution, and that NOTIFICATION
    reaches the peer before the connection closes."""

    async def go() -> None:
        async with running([client("127.0.2.1")]) as (sp, port):
            first = SimPeer("127.0.2.1", ASN, (RR, port))
            await first.connect()
            await wait_for(lambda: first.state == State.ESTABLISHED, what="up")
            second = SimPeer("127.0.2.1", ASN, (RR, port))
            await second.connect()
            await wait_for(lambda: second.lost, what="second connection closed")
            n = second.notification_received()
            assert n is not None
            assert (n.code, n.subcode) == (ErrCode.CEASE, CeaseSub.CONNECTION_COLLISION_RESOLUTION)
            assert first.state == State.ESTABLISHED and not first.down_events()
            peer = sp.speaker.peers["127.0.2.1"]
            assert peer.state == State.ESTABLISHED and peer.established is not None
            assert first.conn is not None
            won = cast(Connection, peer.established.sink)
            assert won.remote == first.conn.local  # the first connection won
            assert IPV4_UNICAST in first.eor
            first.close()

    run(go)
