"""TCP MD5 (RFC 2385) and GTSM (RFC 5082) on pyrr's sockets, over loopback in-process.

Loopback is enough to exercise the kernel's checks: MD5 keys are per peer address (127.x
addresses are all distinct peers), and a segment's TTL on loopback is what the sender set
(nothing decrements it), so a TTL of 64 stands for "too far away". The lab tests
(tests/security/test_md5_gtsm_lab.py) check the same against real BIRD and FRR.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from pyrr.bgp.constants import CeaseSub, ErrCode, State
from pyrr.bgp.events import OpenReceived
from pyrr.config import PeerConfig
from pyrr.runtime import new_event_loop
from pyrr.transport.host import Host
from pyrr.transport.session_stream import SessionStream
from pyrr.transport.sockopts import (
    IP_MINTTL,
    TCP_MD5SIG_MAXKEYLEN,
    md5sig,
    min_ttl_for,
    set_md5,
    set_min_ttl,
    set_ttl,
)

from ..peer_sim import SimPeer, wait_for
from ..test_speaker import make_config
from .helpers import ASN, RR, SecPeer, client, free_port, running

CONNECT_TIMEOUT = 1.0  # a SYN the kernel drops never connects; this is how long we wait


LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": new_event_loop}


def run(coro_fn: object, loop: str = "asyncio") -> None:
    """On asyncio's loop, or on uvloop as `pyrr run` does (its transports hand out a different
    socket object for setsockopt)."""
    assert callable(coro_fn)
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(asyncio.wait_for(coro_fn(), 60))


# --- the struct -----------------------------------------------------------------------------


def test_md5sig_struct_layout() -> None:
    raw = md5sig(IPv4Address("198.18.0.101"), socket.AF_INET, b"s3cret")
    assert len(raw) == 128 + 1 + 1 + 2 + 4 + TCP_MD5SIG_MAXKEYLEN
    (fam,) = struct.unpack_from("=H", raw)
    assert fam == socket.AF_INET
    assert raw[2:4] == b"\0\0"  # port
    assert raw[4:8] == bytes([198, 18, 0, 101])
    flags, prefixlen, keylen, ifindex = struct.unpack_from("=BBHi", raw, 128)
    assert (flags, prefixlen, keylen, ifindex) == (0, 0, 6, 0)
    assert raw[136:142] == b"s3cret" and raw[142:] == bytes(74)


def test_md5sig_ipv6_and_v4_mapped() -> None:
    raw = md5sig(IPv6Address("2001:db8::101"), socket.AF_INET6, b"k")
    (fam,) = struct.unpack_from("=H", raw)
    assert fam == socket.AF_INET6
    assert raw[8:24] == IPv6Address("2001:db8::101").packed
    mapped = md5sig(IPv4Address("198.18.0.101"), socket.AF_INET6, b"k")
    assert mapped[8:24] == IPv6Address("::ffff:198.18.0.101").packed
    with pytest.raises(ValueError, match="IPv6 address"):
        md5sig(IPv6Address("2001:db8::1"), socket.AF_INET, b"k")
    with pytest.raises(ValueError, match="at most 80"):
        md5sig(IPv4Address("198.18.0.101"), socket.AF_INET, b"k" * 81)


def test_min_ttl_for() -> None:
    assert min_ttl_for(1) == 255
    assert min_ttl_for(254) == 2
    for bad in (0, 256):
        with pytest.raises(ValueError, match="GTSM"):
            min_ttl_for(bad)


# --- TCP MD5 ----------------------------------------------------------------------------------


async def refused(peer: SecPeer) -> bool:
    """True when the kernel drops the SYN (the connection never completes)."""
    try:
        await peer.connect(timeout=CONNECT_TIMEOUT)
    except TimeoutError:
        return True
    peer.close()
    return False


@pytest.mark.parametrize("loop", LOOPS)
def test_md5_right_key_establishes_wrong_or_no_key_never_connects(loop: str) -> None:
    async def go() -> None:
        async with running([client("127.0.2.1", password="s3cret"), client("127.0.2.2")]) as (
            sp,
            port,
        ):
            good = SecPeer("127.0.2.1", ASN, (RR, port), password="s3cret")
            await good.connect()
            await wait_for(lambda: good.state == State.ESTABLISHED, what="signed session up")
            # Same address, wrong key / no key: the kernel drops the SYN, pyrr sees nothing.
            assert await refused(SecPeer("127.0.2.1", ASN, (RR, port), password="wrong"))
            assert await refused(SecPeer("127.0.2.1", ASN, (RR, port)))
            # Keys are per address: a peer without a password is not affected, and a signed
            # SYN to a listener without a key for it is dropped too.
            plain = SecPeer("127.0.2.2", ASN, (RR, port))
            await plain.connect()
            await wait_for(lambda: plain.state == State.ESTABLISHED, what="unsigned session up")
            assert await refused(SecPeer("127.0.2.2", ASN, (RR, port), password="s3cret"))
            assert good.state == State.ESTABLISHED and not good.down_events()
            assert sp.speaker.rejected == 0
            good.close()
            plain.close()

    run(go, loop)


def test_md5_listener_keys_follow_reconfigure() -> None:
    async def go() -> None:
        async with running([client("127.0.2.1", password="old")]) as (sp, port):
            base = sp.config

            def with_peers(*peers: PeerConfig) -> None:
                sp.reconfigure(make_config(port, list(peers)))

            with_peers(client("127.0.2.1", password="new"))
            assert await refused(SecPeer("127.0.2.1", ASN, (RR, port), password="old"))
            new = SecPeer("127.0.2.1", ASN, (RR, port), password="new")
            await new.connect()
            await wait_for(lambda: new.state == State.ESTABLISHED, what="new key works")
            new.close()
            await wait_for(lambda: sp.speaker.peers["127.0.2.1"].established is None, what="down")

            with_peers(client("127.0.2.1"))  # the password removed: the key goes too
            assert await refused(SecPeer("127.0.2.1", ASN, (RR, port), password="new"))
            plain = SecPeer("127.0.2.1", ASN, (RR, port))
            await plain.connect()
            await wait_for(lambda: plain.state == State.ESTABLISHED, what="unsigned works")
            plain.close()

            with_peers(client("127.0.2.1", password="again"), client("127.0.2.3", password="k3"))
            with_peers()  # every peer removed: no key left, a stranger gets Cease
            stranger = SecPeer("127.0.2.3", ASN, (RR, port))
            await stranger.connect()
            await wait_for(lambda: stranger.lost, what="rejected")
            n = stranger.notification_received()
            assert n is not None
            assert (n.code, n.subcode) == (ErrCode.CEASE, CeaseSub.CONNECTION_REJECTED)
            assert base.bgp == sp.config.bgp

    run(go)


async def md5_acceptor(
    address: str, port: int, rr_port: int, password: str | None, accepted: list[SimPeer]
) -> asyncio.AbstractServer:
    """A BGP peer listening on `address`, expecting pyrr (127.0.0.1) to sign with `password`."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    if password is not None:
        set_md5(sock, IPv4Address(RR), password)
    sock.setblocking(False)

    def factory() -> SessionStream:
        sim = SimPeer(RR, ASN, (RR, rr_port), router_id=address)
        accepted.append(sim)
        conn = SessionStream(sim.session(), sim, False, loop)
        sim.conn = conn
        return conn

    return await loop.create_server(factory, sock=sock)


def test_pyrr_dials_out_with_md5() -> None:
    async def go() -> None:
        port = free_port()
        ok_port, bad_port = free_port(), free_port()
        ok: list[SimPeer] = []
        bad: list[SimPeer] = []
        servers = [
            await md5_acceptor("127.0.3.1", ok_port, port, "s3cret", ok),
            await md5_acceptor("127.0.3.2", bad_port, port, "other", bad),
        ]
        peers = [
            PeerConfig(address=ip_address("127.0.3.1"), asn=ASN, port=ok_port, password="s3cret"),
            PeerConfig(address=ip_address("127.0.3.2"), asn=ASN, port=bad_port, password="s3cret"),
        ]
        sp = Host(make_config(port, peers), asyncio.get_running_loop())
        await sp.start()
        try:
            await wait_for(
                lambda: bool(ok) and ok[0].state == State.ESTABLISHED, what="signed dial"
            )
            assert sp.speaker.peers["127.0.3.1"].state == State.ESTABLISHED
            await asyncio.sleep(1.0)
            assert not bad, "a connection with a mismatched key was accepted"
            assert sp.speaker.peers["127.0.3.2"].state != State.ESTABLISHED
        finally:
            await sp.stop()
            for s in servers:
                s.close()

    run(go)


# --- GTSM -------------------------------------------------------------------------------------


def listener_ttls(sp: Host) -> tuple[int, int]:
    (sock,) = sp.listeners.sockets
    return (
        sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL),
        sock.getsockopt(socket.IPPROTO_IP, IP_MINTTL),
    )


def test_gtsm_listener_policy_follows_the_peers() -> None:
    default_ttl = socket.socket().getsockopt(socket.IPPROTO_IP, socket.IP_TTL)

    async def go() -> None:
        all_gtsm = [
            client("127.0.2.1", ttl_security=1),
            client("127.0.2.2", ttl_security=2),
            # An IPv6 peer without GTSM does not concern the IPv4 listener.
            client("2001:db8::1"),
        ]
        async with running(all_gtsm) as (sp, port):
            # Every IPv4 peer uses GTSM: SYN-ACKs go out with 255, and the listener itself drops
            # SYNs below the loosest minimum (256 - 2).
            assert listener_ttls(sp) == (255, 254)
            mixed = [client("127.0.2.1", ttl_security=1), client("127.0.2.3")]
            sp.reconfigure(make_config(port, mixed))
            assert listener_ttls(sp) == (255, 0)
            sp.reconfigure(make_config(port, [client("127.0.2.3")]))
            assert listener_ttls(sp) == (default_ttl, 0)

    run(go)


@pytest.mark.parametrize("loop", LOOPS)
def test_gtsm_accepts_ttl_255_and_drops_less(loop: str) -> None:
    async def go() -> None:
        peers = [client("127.0.2.1", ttl_security=1), client("127.0.2.2")]
        async with running(peers, open_wait=1.0) as (sp, port):
            near = SecPeer("127.0.2.1", ASN, (RR, port), ttl=255)
            await near.connect()
            await wait_for(lambda: near.state == State.ESTABLISHED, what="GTSM session up")
            near.close()
            # The listener cannot drop its SYN (127.0.2.2 does not use GTSM), so the connection
            # is accepted; its SYN's TTL (64, saved by the listener) is checked before a byte of
            # it is read, and it is dropped at once: nothing it sent (its OPEN went out with the
            # handshake) is ever read, and it never gets our OPEN.
            far = SecPeer("127.0.2.1", ASN, (RR, port), ttl=64)
            await far.connect()
            await wait_for(lambda: far.lost, timeout=5.0, what="dropped at accept")
            assert not any(isinstance(e, OpenReceived) for e in far.events)
            peer = sp.speaker.peers["127.0.2.1"]
            assert not peer.links and peer.state != State.ESTABLISHED
            far.close()
            # A peer without GTSM is not affected by its neighbour's setting.
            plain = SecPeer("127.0.2.2", ASN, (RR, port), ttl=64)
            await plain.connect()
            await wait_for(lambda: plain.state == State.ESTABLISHED, what="plain session up")
            plain.close()

        async with running([client("127.0.2.1", ttl_security=1)]) as (sp, port):
            # Every peer uses GTSM: the listener drops the SYN itself.
            assert await refused(SecPeer("127.0.2.1", ASN, (RR, port), ttl=64))
            ok = SecPeer("127.0.2.1", ASN, (RR, port), ttl=255)
            await ok.connect()
            await wait_for(lambda: ok.state == State.ESTABLISHED, what="GTSM session up")
            ok.close()

    run(go, loop)


def test_pyrr_dials_out_with_ttl_255() -> None:
    """A peer whose listener only takes TTL 255 (a GTSM peer one hop away) gets pyrr's SYN
    only when pyrr's peer config has ttl_security: the TTL is set before connect()."""

    async def go() -> None:
        loop = asyncio.get_running_loop()
        port = free_port()
        accepted: dict[str, list[SimPeer]] = {"127.0.3.1": [], "127.0.3.2": []}
        servers = []
        peers = []
        for addr, hops in (("127.0.3.1", 1), ("127.0.3.2", 0)):
            peer_port = free_port()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((addr, peer_port))
            # A GTSM peer: its SYN-ACKs leave with TTL 255 (pyrr checks them), it accepts 255 only.
            set_ttl(sock, 255)
            set_min_ttl(sock, 255)
            sock.setblocking(False)

            def factory(addr: str = addr) -> SessionStream:
                sim = SimPeer(RR, ASN, (RR, port), router_id=addr)
                accepted[addr].append(sim)
                conn = SessionStream(sim.session(), sim, False, loop)
                sim.conn = conn
                return conn

            servers.append(await loop.create_server(factory, sock=sock))
            peers.append(
                PeerConfig(address=ip_address(addr), asn=ASN, port=peer_port, ttl_security=hops)
            )
        sp = Host(make_config(port, peers), loop)
        await sp.start()
        try:
            got = accepted["127.0.3.1"]
            await wait_for(lambda: bool(got) and got[0].state == State.ESTABLISHED, what="dial")
            await asyncio.sleep(1.0)
            assert not accepted["127.0.3.2"], "a TTL 64 SYN passed a minimum of 255"
        finally:
            await sp.stop()
            for s in servers:
                s.close()

    run(go)


def test_a_listener_saves_the_ttl_each_syn_arrived_with() -> None:
    """RFC 5082 on a listener shared with non-GTSM peers: the SYN's own TTL, kept by the
    kernel (TCP_SAVE_SYN), is what an accepted connection is judged by."""
    from pyrr.transport.sockopts import save_syn, syn_ttl

    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family, socket.SOCK_STREAM) as lst:
            lst.bind((host, 0))
            save_syn(lst, True)
            lst.listen(4)
            seen = []
            for ttl in (64, 255):
                with socket.socket(family, socket.SOCK_STREAM) as c:
                    set_ttl(c, ttl)
                    c.connect(lst.getsockname()[:2])
                    conn, _ = lst.accept()
                    with conn:
                        seen.append(syn_ttl(conn))
                        assert syn_ttl(conn) is None  # read once
            assert seen == [64, 255], family
