"""Admission: silent and half-open connections are closed in bounded time, pending connections
of one peer are bounded, and a connection flood does not disturb Established sessions.

pyrr runs in-process (on uvloop, as `pyrr run` does) with simulated peers over loopback; the
flood comes from a separate process (tests/security/flood.py) so that it competes with pyrr for
the CPU the way a real attacker would, and so that pyrr's file descriptors can be counted alone.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from pyrr.bgp.constants import CeaseSub, ErrCode, MsgType, State
from pyrr.bgp.messages import Framer, Notification, Open, decode_notification
from pyrr.runtime import new_event_loop
from pyrr.session.neighbor import MAX_PENDING_INBOUND
from pyrr.speaker import REJECT_LOG_RATE
from pyrr.transport.stream import LINGER

from ..peer_sim import SimPeer, wait_for
from .helpers import ASN, RR, client, fd_count, running

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(fn: Callable[[], Awaitable[None]], timeout: float = 60.0) -> None:
    """On uvloop, as pyrr runs in production (pyrr.runtime.new_event_loop)."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(asyncio.wait_for(fn(), timeout))


async def raw_connect(src: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.bind((src, 0))
    await asyncio.get_running_loop().sock_connect(sock, (RR, port))
    return sock


async def read_until_eof(
    sock: socket.socket, timeout: float
) -> tuple[list[tuple[int, bytes]], bool]:
    """The messages pyrr sent, and whether it closed (EOF) within `timeout`."""
    loop = asyncio.get_running_loop()
    framer = Framer()
    msgs: list[tuple[int, bytes]] = []
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        if left <= 0:
            return msgs, False
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65536), left)
        except TimeoutError:
            return msgs, False
        if not data:
            return msgs, True
        framer.feed(data)
        while (m := framer.next_message()) is not None:
            msgs.append(m)


def notification_of(msgs: list[tuple[int, bytes]]) -> Notification | None:
    for mtype, body in msgs:
        if mtype == MsgType.NOTIFICATION:
            return decode_notification(body)
    return None


def our_open() -> bytes:
    return Open(asn=ASN, hold_time=90, router_id=0x7F000201).encode()


def test_silent_or_partial_open_is_closed_after_the_open_wait() -> None:
    open_wait = 1.0

    async def go() -> None:
        async with running([client("127.0.2.1")], open_wait=open_wait) as (sp, port):
            for what, send in (("nothing", b""), ("a partial OPEN", our_open()[:25])):
                t0 = time.monotonic()
                sock = await raw_connect("127.0.2.1", port)
                if send:
                    await asyncio.get_running_loop().sock_sendall(sock, send)
                msgs, eof = await read_until_eof(sock, open_wait + LINGER + 2.0)
                took = time.monotonic() - t0
                sock.close()
                assert eof, f"connection that sent {what} was not closed"
                assert open_wait - 0.1 <= took <= open_wait + 1.0, (what, took)
                assert msgs[0][0] == MsgType.OPEN
                n = notification_of(msgs)
                assert n is not None and n.code == ErrCode.HOLD_TIMER_EXPIRED, (what, msgs)
            await wait_for(lambda: not sp.speaker.peers["127.0.2.1"].links, what="all gone")

    run(go)


def test_pending_connections_of_one_peer_are_bounded() -> None:
    async def go() -> None:
        # The default open wait (60 s): replacement, not the timer, closes the older ones.
        async with running([client("127.0.2.1")]) as (sp, port):
            socks = [await raw_connect("127.0.2.1", port) for _ in range(5)]
            peer = sp.speaker.peers["127.0.2.1"]
            await wait_for(
                lambda: sum(1 for c in peer.links if not c.session.closing) == MAX_PENDING_INBOUND,
                what="bounded pending connections",
            )
            replaced = socks[: len(socks) - MAX_PENDING_INBOUND]
            for s in replaced:
                msgs, eof = await read_until_eof(s, 3.0)
                n = notification_of(msgs)
                assert eof and n is not None
                assert (n.code, n.subcode) == (ErrCode.CEASE, CeaseSub.CONNECTION_REJECTED)
            # A real session from the same address still comes up (it replaces the oldest).
            sim = SimPeer("127.0.2.1", ASN, (RR, port))
            await sim.connect()
            await wait_for(lambda: sim.state == State.ESTABLISHED, what="real session up")
            await wait_for(lambda: peer.state == State.ESTABLISHED, what="pyrr's side up")
            await asyncio.sleep(0.3)
            assert sim.state == State.ESTABLISHED and not sim.down_events()
            assert sum(1 for c in peer.links if not c.session.closing) == 1
            sim.close()
            for s in socks:
                s.close()

    run(go)


def test_connection_flood_does_not_delay_keepalives() -> None:
    """2,000 connections in 8 s: half from unconfigured addresses (Cease at once), half from a
    configured address that never sends an OPEN. A session with hold time 3 s (keepalives
    every second) stays up, pyrr's keepalives never come more than 2 s apart, the log stays
    short, and pyrr's file descriptors return to where they were."""
    count, seconds = 2000, 8.0

    async def go() -> None:
        loop = asyncio.get_running_loop()
        peers = [client("127.0.2.1"), client("127.0.2.9")]
        async with running(peers, open_wait=1.0) as (sp, port):
            sim = SimPeer("127.0.2.1", ASN, (RR, port), hold_time=3)
            await sim.connect()
            await wait_for(lambda: sim.state == State.ESTABLISHED, what="session up")
            assert sim.conn is not None
            arrivals: list[float] = []
            session = sim.conn.session
            receive = session.receive_data

            def timestamped(data: bytes | bytearray | memoryview, now: float) -> None:
                arrivals.append(loop.time())
                receive(data, now)

            session.receive_data = timestamped  # type: ignore[method-assign]
            await asyncio.sleep(1.5)
            baseline = fd_count()
            rejected_before = sp.speaker.rejected
            with structlog.testing.capture_logs() as logs:
                t0 = loop.time()
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "tests.security.flood",
                    "--port", str(port), "--count", str(count), "--seconds", str(seconds),
                    "--configured", "127.0.2.9", "--strangers", "127.0.3.",
                    cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                out, _ = await asyncio.wait_for(proc.communicate(), seconds + 10)
                flood_took = loop.time() - t0
                stats = json.loads(out)
                # Everything the flood left behind is closed within the open wait + LINGER.
                await wait_for(
                    lambda: fd_count() <= baseline, timeout=10.0, what="fds back to baseline"
                )
                t1 = loop.time()
            assert proc.returncode == 0
            assert stats["opened"] >= count * 0.95, stats
            during = [t for t in arrivals if t0 <= t <= t1]
            gaps = [b - a for a, b in zip([t0, *during], [*during, t1], strict=True)]
            assert max(gaps) <= 2.0, f"keepalive gap {max(gaps):.2f} s during the flood"
            assert sim.state == State.ESTABLISHED and not sim.down_events()
            assert sp.speaker.peers["127.0.2.1"].state == State.ESTABLISHED
            strangers = sp.speaker.rejected - rejected_before
            assert strangers >= stats["opened"] // 2 - 5, (strangers, stats)
            rejections = [e for e in logs if "connection rejected" in str(e.get("event"))]
            assert len(rejections) <= REJECT_LOG_RATE * (t1 - t0) + 10, len(rejections)
            # The configured address that flooded can still open a real session.
            real = SimPeer("127.0.2.9", ASN, (RR, port))
            await real.connect()
            await wait_for(lambda: real.state == State.ESTABLISHED, what="flooded peer usable")
            real.close()
            sim.close()
            print(
                f"flood: {stats}, {flood_took:.1f} s; max keepalive gap {max(gaps):.2f} s;"
                f" {strangers} rejected, {len(rejections)} log lines"
            )

    run(go, timeout=90)
