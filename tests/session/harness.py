"""A whole sans-IO speaker and its peers in memory, on a clock the test moves.

`World` holds a real `Speaker` (neighbours, RIB, export layer). Each `Remote` is the far end
of one connection: a real `Session` configured as the peer, joined to the neighbour's link by
in-memory sinks. `pump()` moves bytes both ways (and runs the export layer's end-of-turn flush)
until nothing moves; `advance(seconds)` walks the clock through every deadline on the way,
the speaker's and the remotes' alike. Nothing here sleeps or opens a socket.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, ip_address

from pyrr.bgp.capabilities import Capabilities, GracefulRestart
from pyrr.bgp.constants import AddPathMode, MsgType, State
from pyrr.bgp.encode import end_of_rib, pack_announce, pack_withdraw
from pyrr.bgp.events import Event, UpdateReceived
from pyrr.bgp.fsm import Session, SessionConfig
from pyrr.bgp.messages import Notification, decode_notification
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family
from pyrr.bgp.update import Update
from pyrr.config import Config, GlobalConfig, PeerConfig
from pyrr.session.effects import CancelDial, Dial, Effect
from pyrr.session.link import Link
from pyrr.session.neighbor import Neighbor
from pyrr.speaker import Speaker

from ..rib.factories import LOCAL_AS, split_messages

RR_ID = "10.255.0.1"
CLUSTER = "198.18.0.250"
FAMS: tuple[Family, ...] = (IPV4_UNICAST, IPV6_UNICAST)
T0 = 1000.0
HEADER_TYPE = 18


class MemorySink:
    """The RR's side of one connection: what it wrote, and whether it closed or aborted."""

    def __init__(self, local: str = RR_ID) -> None:
        self.wire = bytearray()  # written and not yet delivered to the remote
        self.written: list[bytes] = []  # every whole message written, in order
        self.chunk_lists: list[list[bytes | memoryview]] = []
        self.closed = False
        self.aborted = False
        self.buffered = 0  # what write_buffer_size reports (a slow reader's backlog)
        self._local = local

    def writelines(self, chunks: Sequence[bytes | memoryview]) -> None:
        assert not self.closed and not self.aborted, "wrote after close/abort"
        self.chunk_lists.append(list(chunks))
        data = b"".join(bytes(c) for c in chunks)
        self.wire += data
        self.written += split_messages([data])

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    @property
    def write_buffer_size(self) -> int:
        return self.buffered

    def local_address(self) -> str | None:
        return self._local


@dataclass
class Remote:
    """The peer's end of one connection."""

    neighbor: Neighbor
    link: Link
    sink: MemorySink
    session: Session
    events: list[Event] = field(default_factory=list)
    gone: bool = False  # the connection is closed on both sides
    mute: bool = False  # the peer neither reads nor writes any more (TCP stays up)
    _taken: int = 0

    def take(self, types: Iterable[int] = (MsgType.UPDATE,)) -> list[bytes]:
        """Messages of these types the RR wrote since the last take()."""
        want = set(types)
        new = self.sink.written[self._taken :]
        self._taken = len(self.sink.written)
        return [m for m in new if m[HEADER_TYPE] in want]

    def notification(self) -> Notification | None:
        for m in self.sink.written:
            if m[HEADER_TYPE] == MsgType.NOTIFICATION:
                return decode_notification(m[19:])
        return None

    @property
    def state(self) -> State:
        return self.session.state


def caps(
    *,
    gr: GracefulRestart | None = None,
    add_path: tuple[tuple[Family, AddPathMode], ...] = (),
    families: tuple[Family, ...] = FAMS,
) -> Capabilities:
    return Capabilities(
        families=families,
        route_refresh=True,
        enhanced_route_refresh=True,
        four_octet_as=LOCAL_AS,
        graceful_restart=gr,
        add_path=add_path,
    )


def encode(update: Update) -> list[bytes]:
    """The UPDATEs a peer would send for `update` (pyrr's own encoder)."""
    if update.end_of_rib is not None:
        return [end_of_rib(update.end_of_rib)]
    out: list[bytes] = []
    for fam, keys in update.withdrawn:
        out += pack_withdraw(fam, keys, 4096)
    if update.attrs is not None:
        for fam, hop, keys in update.announced:
            out += pack_announce(fam, update.attrs.wire, hop, keys, 4096)
    return out


class World:
    def __init__(self, restart_time: int = 120, seed: int = 1, connect_retry: int = 5) -> None:
        self.now = T0
        self.flushes: list[Callable[[], None]] = []
        self.dials: list[Dial] = []
        self.cancelled: list[int] = []
        self.sessions_changed = 0
        cfg = Config(
            bgp=GlobalConfig(
                asn=LOCAL_AS,
                router_id=IPv4Address(RR_ID),
                cluster_id=IPv4Address(CLUSTER),
                restart_time=restart_time,
                connect_retry=connect_retry,
            )
        )
        self.speaker = Speaker(cfg, self.now, self.flushes.append, random.Random(seed))
        self.remotes: list[Remote] = []

    # -- configuration -------------------------------------------------------------------

    def peer(self, address: str, **kw: object) -> Neighbor:
        """Add a configured peer (passive unless told otherwise) and start it."""
        kw.setdefault("passive", True)
        pc = PeerConfig(address=ip_address(address), asn=LOCAL_AS, **kw)  # type: ignore[arg-type]
        sp = self.speaker
        sp.reconfigure(
            Config(bgp=sp.config.bgp, peers=(*sp.config.peers, pc), log_level=sp.config.log_level),
            self.now,
        )
        self.settle()
        return sp.peers[pc.key]

    # -- connections ---------------------------------------------------------------------

    def connect(
        self,
        n: Neighbor,
        capabilities: Capabilities | None = None,
        *,
        hold_time: int = 90,
        router_id: str | None = None,
        outgoing: bool = False,
        dial: Dial | None = None,
        silent: bool = False,
    ) -> Remote:
        """A new TCP connection between the RR and the peer: inbound to the RR unless `dial`
        (one of the RR's Dial effects) says the RR made it. Pumped until nothing moves.
        A `silent` peer connects and never says a word (no OPEN)."""
        rid = int(IPv4Address(router_id or n.key))
        remote_cfg = SessionConfig(LOCAL_AS, rid, LOCAL_AS, capabilities or caps(), hold_time)
        session = Session(remote_cfg)
        sink = MemorySink()
        sp = self.speaker
        if dial is not None:
            adopted = sp.connected(dial, sink, self.now)
            assert adopted is not None, "the RR no longer wanted its dial"
            link = adopted[1]
        else:
            assert not outgoing
            link = sp.accept(n, sink, self.now)
        r = Remote(n, link, sink, session, mute=silent)
        if not silent:
            session.connection_made(self.now)
        self.remotes.append(r)
        self.pump()
        return r

    def up(self, n: Neighbor, gr: GracefulRestart | None = None, **kw: object) -> Remote:
        """A connection that reaches Established (its table and End-of-RIB taken)."""
        capabilities = kw.pop("capabilities", None) or caps(
            gr=gr,
            add_path=kw.pop("add_path", ()),  # type: ignore[arg-type]
        )
        r = self.connect(n, capabilities, **kw)  # type: ignore[arg-type]
        assert r.state == State.ESTABLISHED, r.state
        assert n.established is r.link
        return r

    def send(self, r: Remote, update: Update) -> None:
        for m in encode(update):
            r.session.send_message(m)
        self.pump()

    def drop(self, r: Remote) -> None:
        """The TCP connection fails with no NOTIFICATION (a restarting peer, a cable)."""
        r.session.connection_lost(self.now, "connection lost")
        self._lost(r, "connection lost")
        self.pump()

    def cease(self, r: Remote) -> None:
        """The peer ends the session with Cease (no graceful restart applies)."""
        r.session.stop(self.now)
        self.pump()

    def _lost(self, r: Remote, reason: str) -> None:
        if not r.gone:
            r.gone = True
            self.speaker.connection_lost(r.neighbor, r.link, self.now, reason)
            self.settle()

    # -- moving bytes and time -----------------------------------------------------------

    def settle(self) -> None:
        """What the host does after every input: carry out the effects."""
        for effect in self.speaker.take_effects():
            self._effect(effect)

    def _effect(self, effect: Effect) -> None:
        if isinstance(effect, Dial):
            self.dials.append(effect)
        elif isinstance(effect, CancelDial):
            self.cancelled.append(effect.attempt)
        else:
            self.sessions_changed += 1

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            while self.flushes:  # the export layer's end-of-turn flush
                self.flushes.pop(0)()
                moved = True
            for r in self.remotes:
                moved |= self._pump_one(r)
            self.settle()

    def _pump_one(self, r: Remote) -> bool:
        if r.gone:
            return False
        if r.mute:
            r.sink.wire.clear()  # written, never read
            if r.sink.closed or r.sink.aborted:
                self._lost(r, "connection closed")
                return True
            return False
        moved = False
        if r.sink.wire:
            data = bytes(r.sink.wire)
            r.sink.wire.clear()
            if not r.session.closing:
                r.session.receive_data(data, self.now)
            moved = True
        out = r.session.data_to_send()
        r.events += r.session.events()
        if out and not r.sink.closed and not r.sink.aborted:
            r.neighbor.receive(r.link, out, self.now)
            self.settle()
            moved = True
        if r.session.closing or r.sink.closed or r.sink.aborted:
            if not r.session.closing:
                r.session.connection_lost(self.now, "closed by the RR")
                r.events += r.session.events()
            self._lost(r, "connection closed")
            moved = True
        return moved

    def next_deadline(self) -> float | None:
        times = [self.speaker.next_timer()]
        times += [r.session.next_timer() for r in self.remotes if not r.gone and not r.mute]
        live = [t for t in times if t is not None]
        return min(live) if live else None

    def advance(self, seconds: float = 0.0) -> None:
        """Move the clock forward, handling every deadline that falls due on the way."""
        target = self.now + seconds
        while (at := self.next_deadline()) is not None and at <= target:
            self.now = max(self.now, at)
            self.speaker.handle_timer(self.now)
            self.settle()
            for r in self.remotes:
                if not r.gone and not r.mute:
                    r.session.handle_timer(self.now)
            self.pump()
        self.now = target
        self.pump()

    # -- what the RIB holds --------------------------------------------------------------

    def has(self, text: str) -> bool:
        from ..rib.factories import pfx

        fam = IPV6_UNICAST if ":" in text else IPV4_UNICAST
        return self.speaker.rib.lookup(fam, pfx(text)) is not None


def updates_received(r: Remote) -> list[Update]:
    return [e.update for e in r.events if isinstance(e, UpdateReceived)]


__all__ = ["CLUSTER", "FAMS", "RR_ID", "T0", "MemorySink", "Remote", "World", "caps", "encode"]
