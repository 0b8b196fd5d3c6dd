"""A scriptable BGP test peer over real sockets, built on pyrr's own sans-IO Session.

Used by the speaker tests (and the hostile-peer suite) to stand in for a Calico node: it dials
pyrr from a chosen 127.x source address, records every event, and can send valid or raw bytes.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from pyrr.bgp.attributes import PathAttrs
from pyrr.bgp.capabilities import Capabilities, GracefulRestart
from pyrr.bgp.constants import AttrCode, AttrFlag, State
from pyrr.bgp.encode import end_of_rib, pack_announce, pack_withdraw
from pyrr.bgp.events import Event, SessionDown, UpdateReceived
from pyrr.bgp.fsm import Session, SessionConfig
from pyrr.bgp.messages import Notification
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family, prefix_from_str, prefix_to_str
from pyrr.transport.session_stream import SessionStream


def ip_int(addr: str) -> int:
    return int.from_bytes(socket.inet_aton(addr), "big")


def basic_attrs(local_pref: int = 100, extra: Iterable[tuple[int, int, bytes]] = ()) -> PathAttrs:
    return PathAttrs(
        [
            (AttrCode.ORIGIN, AttrFlag.TRANSITIVE, b"\0"),
            (AttrCode.AS_PATH, AttrFlag.TRANSITIVE, b""),
            (AttrCode.LOCAL_PREF, AttrFlag.TRANSITIVE, struct.pack("!I", local_pref)),
            *extra,
        ]
    )


@dataclass
class SimPeer:
    address: str
    asn: int
    rr: tuple[str, int]
    router_id: str | None = None
    families: tuple[Family, ...] = (IPV4_UNICAST, IPV6_UNICAST)
    graceful_restart: GracefulRestart | None = None
    hold_time: int = 90
    rr_asn: int | None = None  # the AS the reflector must announce (default: ours)
    routes: dict[tuple[Family, str], tuple[bytes, PathAttrs | None]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    eor: set[Family] = field(default_factory=set)
    conn: SessionStream | None = None
    lost: bool = False

    def session(self) -> Session:
        caps = Capabilities(
            families=self.families,
            route_refresh=True,
            enhanced_route_refresh=True,
            four_octet_as=self.asn,
            graceful_restart=self.graceful_restart,
        )
        rid = ip_int(self.router_id or self.address)
        peer_as = self.rr_asn if self.rr_asn is not None else self.asn
        return Session(SessionConfig(self.asn, rid, peer_as, caps, self.hold_time))

    async def connect(self, session: Session | None = None) -> None:
        loop = asyncio.get_running_loop()
        fam = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        sock = socket.socket(fam, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.bind((self.address, 0))
        await loop.sock_connect(sock, self.rr)
        conn = SessionStream(session or self.session(), self, True, loop)
        self.conn = conn
        self.lost = False
        await loop.connect_accepted_socket(lambda: conn, sock)

    # SessionOwner
    def on_events(self, conn: SessionStream, events: list[Event]) -> None:
        for ev in events:
            self.events.append(ev)
            if isinstance(ev, UpdateReceived):
                u = ev.update
                if u.end_of_rib is not None:
                    self.eor.add(u.end_of_rib)
                for fam, prefixes in u.withdrawn:
                    for p in prefixes:
                        self.routes.pop((fam, prefix_to_str(p, fam)), None)
                for fam, nh, prefixes in u.announced:
                    for p in prefixes:
                        self.routes[(fam, prefix_to_str(p, fam))] = (nh, u.attrs)

    def on_pause_writing(self, conn: SessionStream) -> None:
        pass  # a simulated node sends one UPDATE; nothing to throttle

    def on_resume_writing(self, conn: SessionStream) -> None:
        pass

    def on_connection_lost(self, conn: SessionStream) -> None:
        self.lost = True

    @property
    def state(self) -> State:
        return self.conn.session.state if self.conn is not None else State.IDLE

    def down_events(self) -> list[SessionDown]:
        return [e for e in self.events if isinstance(e, SessionDown)]

    def notification_received(self) -> Notification | None:
        for e in self.down_events():
            if e.notification is not None and not e.sent_by_us:
                return e.notification
        return None

    def prefixes(self, family: Family = IPV4_UNICAST) -> set[str]:
        return {p for (f, p) in self.routes if f == family}

    def announce(
        self, prefixes: list[str], next_hop: str | None = None, attrs: PathAttrs | None = None
    ) -> None:
        assert self.conn is not None
        attrs = attrs or basic_attrs()
        by_fam: dict[Family, list[bytes]] = {}
        for text in prefixes:
            fam, p = prefix_from_str(text)
            by_fam.setdefault(fam, []).append(p)
        for fam, items in by_fam.items():
            nh = next_hop or self.address
            if fam == IPV6_UNICAST and ":" not in nh:
                nh = "2001:db8::" + nh.split(".")[-1]
            nhb = socket.inet_pton(socket.AF_INET6 if ":" in nh else socket.AF_INET, nh)
            self.conn.write_messages([*pack_announce(fam, attrs.wire, nhb, items, 4096)])

    def withdraw(self, prefixes: list[str]) -> None:
        assert self.conn is not None
        by_fam: dict[Family, list[bytes]] = {}
        for text in prefixes:
            fam, p = prefix_from_str(text)
            by_fam.setdefault(fam, []).append(p)
        for fam, items in by_fam.items():
            self.conn.write_messages([*pack_withdraw(fam, items, 4096)])

    def send_eor(self) -> None:
        assert self.conn is not None
        self.conn.write_messages([*(end_of_rib(f) for f in self.families)])

    def send_raw(self, data: bytes) -> None:
        assert self.conn is not None and self.conn.transport is not None
        self.conn.transport.write(data)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.abort()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` now (the kernel's pick for port 0)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def wait_for(predicate: object, timeout: float = 5.0, what: str = "condition") -> None:
    """Poll `predicate()` until true; fail the test with `what` after `timeout` seconds."""
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)
