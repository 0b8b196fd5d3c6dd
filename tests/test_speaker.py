"""pyrr in-process, simulated Calico nodes over real loopback sockets: the RR end to end."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from ipaddress import IPv4Address, ip_address
from pathlib import Path

from pyrr.bgp.capabilities import GracefulRestart
from pyrr.bgp.constants import AttrCode, CeaseSub, ErrCode, OpenSub, State
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST
from pyrr.config import Config, GlobalConfig, PeerConfig
from pyrr.transport.host import Host

from .peer_sim import SimPeer, basic_attrs, free_port, ip_int, wait_for

RR_ID = "127.0.0.1"
CLUSTER = "198.18.0.250"
ASN = 64512


def make_config(port: int, peers: list[PeerConfig]) -> Config:
    return Config(
        bgp=GlobalConfig(
            asn=ASN,
            router_id=IPv4Address(RR_ID),
            cluster_id=IPv4Address(CLUSTER),
            listen=(ip_address("127.0.0.1"),),
            port=port,
        ),
        peers=tuple(peers),
    )


def client(addr: str, **kw: object) -> PeerConfig:
    return PeerConfig(address=ip_address(addr), asn=ASN, passive=True, **kw)  # type: ignore[arg-type]


@asynccontextmanager
async def running(peers: list[PeerConfig]) -> AsyncIterator[tuple[Host, int]]:
    port = free_port()
    sp = Host(make_config(port, peers), asyncio.get_running_loop())
    await sp.start()
    try:
        yield sp, port
    finally:
        await sp.stop()


def run(fn: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(fn(), 30))


def test_three_clients_reflect_ipv4_and_ipv6() -> None:
    async def go() -> None:
        addrs = ["127.0.2.1", "127.0.2.2", "127.0.2.3"]
        async with running([client(a) for a in addrs]) as (_sp, port):
            sims = [SimPeer(a, ASN, ("127.0.0.1", port)) for a in addrs]
            for s in sims:
                await s.connect()
            await wait_for(lambda: all(s.state == State.ESTABLISHED for s in sims), what="up")
            for i, s in enumerate(sims, start=1):
                s.announce([f"10.10.{i}.0/26", f"2001:db8:{i}::/64"])
            want4 = {f"10.10.{i}.0/26" for i in (1, 2, 3)}
            await wait_for(
                lambda: all(
                    s.prefixes(IPV4_UNICAST) == want4 - {f"10.10.{i}.0/26"}
                    and len(s.prefixes(IPV6_UNICAST)) == 2
                    for i, s in enumerate(sims, start=1)
                ),
                what="full reflection",
            )
            nh, attrs = sims[0].routes[(IPV4_UNICAST, "10.10.2.0/26")]
            # RFC 4456 §10: next hop unchanged; §8: ORIGINATOR_ID and CLUSTER_LIST added.
            assert nh == socket.inet_aton("127.0.2.2")
            assert attrs is not None
            assert attrs.originator_id == ip_int("127.0.2.2")
            assert attrs.cluster_list == (ip_int(CLUSTER),)
            assert attrs.local_pref == 100
            nh6, _ = sims[0].routes[(IPV6_UNICAST, "2001:db8:3::/64")]
            assert nh6 == socket.inet_pton(socket.AF_INET6, "2001:db8::3")
            # The source never gets its own route back.
            assert "10.10.1.0/26" not in sims[0].prefixes()
            assert {IPV4_UNICAST, IPV6_UNICAST} <= sims[0].eor
            # A withdrawal propagates to everyone.
            sims[1].withdraw(["10.10.2.0/26"])
            await wait_for(
                lambda: (
                    "10.10.2.0/26" not in sims[0].prefixes()
                    and "10.10.2.0/26" not in sims[2].prefixes()
                ),
                what="withdrawal",
            )
            assert "2001:db8:2::/64" in sims[0].prefixes(IPV6_UNICAST)
            for s in sims:
                s.close()

    run(go)


def test_unconfigured_address_is_rejected_with_cease() -> None:
    async def go() -> None:
        async with running([client("127.0.2.1")]) as (sp, port):
            stranger = SimPeer("127.0.2.99", ASN, ("127.0.0.1", port))
            await stranger.connect()
            await wait_for(lambda: stranger.lost, what="closed")
            n = stranger.notification_received()
            assert n is not None
            assert (n.code, n.subcode) == (ErrCode.CEASE, CeaseSub.CONNECTION_REJECTED)
            assert sp.speaker.rejected == 1

    run(go)


def test_wrong_as_gets_bad_peer_as() -> None:
    async def go() -> None:
        async with running([client("127.0.2.1")]) as (sp, port):
            bad = SimPeer("127.0.2.1", 65001, ("127.0.0.1", port), rr_asn=ASN)
            await bad.connect()
            await wait_for(lambda: bad.lost, what="closed")
            n = bad.notification_received()
            assert n is not None
            assert (n.code, n.subcode) == (ErrCode.OPEN_MESSAGE, OpenSub.BAD_PEER_AS)
            assert sp.speaker.peers["127.0.2.1"].state != State.ESTABLISHED

    run(go)


def test_non_client_routes_go_to_clients_only() -> None:
    async def go() -> None:
        peers = [
            client("127.0.2.1"),
            client("127.0.2.2", client=False),
            client("127.0.2.3", client=False),
        ]
        async with running(peers) as (_sp, port):
            c1, n2, n3 = (
                SimPeer(p, ASN, ("127.0.0.1", port))
                for p in ("127.0.2.1", "127.0.2.2", "127.0.2.3")
            )
            for s in (c1, n2, n3):
                await s.connect()
            await wait_for(lambda: all(s.state == State.ESTABLISHED for s in (c1, n2, n3)))
            n2.announce(["10.10.2.0/26"])
            c1.announce(["10.10.1.0/26"])
            await wait_for(lambda: "10.10.2.0/26" in c1.prefixes(), what="non-client -> client")
            await wait_for(lambda: "10.10.1.0/26" in n3.prefixes(), what="client -> non-client")
            await asyncio.sleep(0.2)
            # RFC 4456 §8: a non-client's route is not reflected to other non-clients.
            assert "10.10.2.0/26" not in n3.prefixes()
            for s in (c1, n2, n3):
                s.close()

    run(go)


def test_loops_are_dropped_on_ingress() -> None:
    async def go() -> None:
        async with running([client("127.0.2.1"), client("127.0.2.2")]) as (sp, port):
            a, b = (SimPeer(p, ASN, ("127.0.0.1", port)) for p in ("127.0.2.1", "127.0.2.2"))
            for s in (a, b):
                await s.connect()
            await wait_for(lambda: a.state == b.state == State.ESTABLISHED)
            own_id = basic_attrs(extra=[(AttrCode.ORIGINATOR_ID, 0x80, socket.inet_aton(RR_ID))])
            own_cluster = basic_attrs(
                extra=[(AttrCode.CLUSTER_LIST, 0x80, struct.pack("!II", 1, ip_int(CLUSTER)))]
            )
            a.announce(["10.10.7.0/26"], attrs=own_id)
            a.announce(["10.10.8.0/26"], attrs=own_cluster)
            a.announce(["10.10.9.0/26"])
            await wait_for(lambda: "10.10.9.0/26" in b.prefixes(), what="clean route")
            assert b.prefixes() == {"10.10.9.0/26"}
            assert len(sp.speaker.rib) == 1
            for s in (a, b):
                s.close()

    run(go)


def test_session_loss_without_graceful_restart_withdraws() -> None:
    async def go() -> None:
        async with running([client("127.0.2.1"), client("127.0.2.2")]) as (_sp, port):
            a, b = (SimPeer(p, ASN, ("127.0.0.1", port)) for p in ("127.0.2.1", "127.0.2.2"))
            for s in (a, b):
                await s.connect()
            await wait_for(lambda: a.state == b.state == State.ESTABLISHED)
            a.announce(["10.10.1.0/26"])
            await wait_for(lambda: "10.10.1.0/26" in b.prefixes())
            a.close()
            await wait_for(lambda: "10.10.1.0/26" not in b.prefixes(), what="withdrawn")
            b.close()

    run(go)


def test_shutdown_sends_administrative_shutdown_with_message() -> None:
    async def go() -> None:
        port = free_port()
        sp = Host(make_config(port, [client("127.0.2.1")]), asyncio.get_running_loop())
        await sp.start()
        a = SimPeer("127.0.2.1", ASN, ("127.0.0.1", port))
        await a.connect()
        await wait_for(lambda: a.state == State.ESTABLISHED)
        await sp.stop("maintenance")
        await wait_for(lambda: a.lost)
        n = a.notification_received()
        assert n is not None
        assert (n.code, n.subcode) == (ErrCode.CEASE, CeaseSub.ADMINISTRATIVE_SHUTDOWN)
        assert n.shutdown_message == "maintenance"

    run(go)


def test_reconfigure_touches_only_changed_peers() -> None:
    async def go() -> None:
        peers = [client("127.0.2.1"), client("127.0.2.2"), client("127.0.2.3")]
        async with running(peers) as (sp, port):
            sims = [SimPeer(p.key, ASN, ("127.0.0.1", port)) for p in peers]
            for s in sims:
                await s.connect()
            await wait_for(lambda: all(s.state == State.ESTABLISHED for s in sims))
            sims[2].announce(["10.10.3.0/26"])
            await wait_for(lambda: "10.10.3.0/26" in sims[0].prefixes())
            sp.reconfigure(make_config(port, peers[:2]))
            await wait_for(lambda: sims[2].lost, what="removed peer closed")
            n = sims[2].notification_received()
            assert n is not None and n.subcode == CeaseSub.PEER_DECONFIGURED
            await wait_for(lambda: "10.10.3.0/26" not in sims[0].prefixes(), what="withdrawn")
            assert sims[0].state == sims[1].state == State.ESTABLISHED
            assert not sims[0].lost and not sims[1].lost
            for s in sims:
                s.close()

    run(go)


def test_pyrr_dials_active_peers() -> None:
    async def go() -> None:
        port = free_port()
        peer_port = free_port()
        loop = asyncio.get_running_loop()
        accepted: list[SimPeer] = []
        from pyrr.transport.session_stream import SessionStream

        def factory() -> SessionStream:
            sim = SimPeer("127.0.0.1", ASN, ("127.0.0.1", port), router_id="127.0.3.1")
            accepted.append(sim)
            conn = SessionStream(sim.session(), sim, False, loop)
            sim.conn = conn
            return conn

        server = await loop.create_server(factory, "127.0.3.1", peer_port)
        cfg = make_config(
            port, [PeerConfig(address=ip_address("127.0.3.1"), asn=ASN, port=peer_port)]
        )
        sp = Host(cfg, loop)
        await sp.start()
        try:
            await wait_for(
                lambda: bool(accepted) and accepted[0].state == State.ESTABLISHED,
                what="pyrr dialed out",
            )
            assert sp.speaker.peers["127.0.3.1"].state == State.ESTABLISHED
        finally:
            await sp.stop()
            server.close()

    run(go)


def test_restart_defers_advertisement_until_end_of_rib_from_the_peers_that_were_up(
    tmp_path: Path,
) -> None:
    """RFC 4724 §4.1: after a restart, nothing is sent until every peer that was up before has
    sent End-of-RIB, so no client ever gets a partial table followed by End-of-RIB."""
    state = tmp_path / "pyrr.state.json"
    gr = GracefulRestart(restart_time=60, families=((IPV4_UNICAST, True),))

    async def go() -> None:
        loop = asyncio.get_running_loop()
        peers = [client("127.0.2.1"), client("127.0.2.2"), client("127.0.2.3")]
        port = free_port()
        first = Host(make_config(port, peers), loop, state_path=state)
        await first.start()
        sims = [
            SimPeer(p.key, ASN, ("127.0.0.1", port), graceful_restart=gr, families=(IPV4_UNICAST,))
            for p in peers[:2]
        ]
        for s in sims:
            await s.connect()
        await wait_for(lambda: all(s.state == State.ESTABLISHED for s in sims))
        await first.stop_for_restart()
        await wait_for(lambda: all(s.lost for s in sims), what="sessions dropped")
        # Dropped without a NOTIFICATION: the peers could keep our routes (RFC 4724 §4.2).
        assert all(s.notification_received() is None for s in sims)

        second = Host(make_config(port, peers), loop, state_path=state)
        await second.start()
        try:
            recovery = second.speaker.recovery
            assert recovery is not None and recovery.expected == {
                "127.0.2.1",
                "127.0.2.2",
            }
            a, b = (
                SimPeer(
                    p.key, ASN, ("127.0.0.1", port), graceful_restart=gr, families=(IPV4_UNICAST,)
                )
                for p in peers[:2]
            )
            await a.connect()
            await wait_for(lambda: a.state == State.ESTABLISHED)
            assert a.conn is not None and a.conn.session.negotiated is not None
            peer_gr = a.conn.session.negotiated.peer_caps.graceful_restart
            assert peer_gr is not None and peer_gr.restarting  # the R bit
            a.announce(["10.10.1.0/26"])
            a.send_eor()
            await asyncio.sleep(0.3)
            # b, which was up before, has not sent End-of-RIB yet: a gets nothing, not even EoR.
            assert not a.routes and not a.eor
            await b.connect()
            await wait_for(lambda: b.state == State.ESTABLISHED)
            b.announce(["10.10.2.0/26"])
            b.send_eor()
            await wait_for(
                lambda: "10.10.2.0/26" in a.prefixes() and IPV4_UNICAST in a.eor,
                what="a's table after recovery",
            )
            await wait_for(lambda: "10.10.1.0/26" in b.prefixes() and IPV4_UNICAST in b.eor)
            assert not recovery.active
            # A session made after recovery gets R=0.
            assert not second.speaker.local.capabilities().graceful_restart.restarting  # type: ignore[union-attr]
            for s in (a, b):
                s.close()
        finally:
            await second.stop()
        assert not state.exists()  # a Cease stop is followed by a cold start

    run(go)


def test_restart_recovery_is_bounded_when_a_peer_does_not_return(tmp_path: Path) -> None:
    state = tmp_path / "pyrr.state.json"
    state.write_text('{"time": %f, "established": ["127.0.2.1", "127.0.2.2"]}' % time.time())
    gr = GracefulRestart(restart_time=60, families=((IPV4_UNICAST, True),))

    async def go() -> None:
        loop = asyncio.get_running_loop()
        port = free_port()
        sp = Host(
            make_config(port, [client("127.0.2.1"), client("127.0.2.2")]), loop, state_path=state
        )
        sp.recovery_bound = 1.0
        await sp.start()
        try:
            a = SimPeer(
                "127.0.2.1", ASN, ("127.0.0.1", port), graceful_restart=gr, families=(IPV4_UNICAST,)
            )
            await a.connect()
            await wait_for(lambda: a.state == State.ESTABLISHED)
            a.send_eor()
            await asyncio.sleep(0.3)
            assert not a.eor
            await wait_for(lambda: IPV4_UNICAST in a.eor, what="EoR after the bound")
            a.close()
        finally:
            await sp.stop()

    run(go)


def test_two_speakers_dialing_each_other_settle_on_one_session() -> None:
    """RFC 4271 §6.8 from both ends: two pyrr instances that both dial (an RR cluster) end up
    with exactly one Established session that stays up."""

    async def go() -> None:
        loop = asyncio.get_running_loop()
        port = free_port()
        a_addr, b_addr = "127.0.4.1", "127.0.4.2"

        def cfg(me: str, other: str) -> Config:
            return Config(
                bgp=GlobalConfig(
                    asn=ASN,
                    router_id=IPv4Address(me),
                    cluster_id=IPv4Address(me),
                    listen=(ip_address(me),),
                    port=port,
                    connect_retry=1,
                ),
                peers=(PeerConfig(address=ip_address(other), asn=ASN, client=False, port=port),),
            )

        a = Host(cfg(a_addr, b_addr), loop)
        b = Host(cfg(b_addr, a_addr), loop)
        await asyncio.gather(a.start(), b.start())
        try:
            pa, pb = a.speaker.peers[b_addr], b.speaker.peers[a_addr]
            await wait_for(
                lambda: pa.state == pb.state == State.ESTABLISHED, timeout=10, what="one session"
            )
            await asyncio.sleep(3)
            assert pa.state == pb.state == State.ESTABLISHED
            assert pa.flaps == pb.flaps == 0
            assert len([c for c in pa.links if not c.session.closing]) == 1
            assert len([c for c in pb.links if not c.session.closing]) == 1
        finally:
            await asyncio.gather(a.stop(), b.stop())

    run(go)


async def raw_client(addr: str, port: int, hold: int) -> socket.socket:
    """A bare TCP client from `addr` that has sent its OPEN and KEEPALIVE in one segment."""
    from pyrr.bgp.capabilities import Capabilities
    from pyrr.bgp.messages import KEEPALIVE, Open

    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    try:
        sock.bind((addr, 0))
        await loop.sock_connect(sock, ("127.0.0.1", port))
        caps = Capabilities(families=(IPV4_UNICAST,), four_octet_as=ASN)
        hello = Open(asn=ASN, hold_time=hold, router_id=ip_int(addr), capabilities=caps)
        await loop.sock_sendall(sock, hello.encode() + KEEPALIVE)
    except BaseException:
        sock.close()
        raise
    return sock


def message_types(data: bytes) -> list[int]:
    """The types of the whole BGP messages at the start of `data`."""
    out, pos = [], 0
    while pos + 19 <= len(data):
        length = struct.unpack_from("!H", data, pos + 16)[0]
        if pos + length > len(data):
            break
        out.append(data[pos + 18])
        pos += length
    return out


def test_open_and_keepalive_in_one_segment_get_keepalive_then_end_of_rib() -> None:
    """A client's OPEN and KEEPALIVE often arrive in one read: the RR's KEEPALIVE (queued by
    the OPEN) must still go out before the End-of-RIB the KEEPALIVE's Established triggers."""
    from pyrr.bgp.constants import MsgType
    from pyrr.bgp.encode import end_of_rib
    from pyrr.bgp.messages import KEEPALIVE

    async def go() -> None:
        async with running([client("127.0.2.7")]) as (_sp, port):
            loop = asyncio.get_running_loop()
            sock = await raw_client("127.0.2.7", port, hold=90)
            try:
                got = b""
                deadline = time.monotonic() + 5
                # OPEN, KEEPALIVE, End-of-RIB
                while len(message_types(got)) < 3 and time.monotonic() < deadline:
                    chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)
                    assert chunk, "the RR closed the connection"
                    got += chunk
                types = message_types(got)
                assert types[:3] == [MsgType.OPEN, MsgType.KEEPALIVE, MsgType.UPDATE], types
                assert got.endswith(KEEPALIVE + end_of_rib(IPV4_UNICAST))
            finally:
                sock.close()

    run(go)
