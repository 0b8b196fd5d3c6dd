"""Outbound dialing of one neighbour: the session that waits in Connect/Active for its TCP
connection, the connect attempt itself, and the redial after a failure with backoff.

A mixin of `pyrr.peer.Peer`, which owns the attributes declared here (set in `Peer.__init__`);
the annotations let mypy check this file alone. Nothing here imports pyrr.peer at run time.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

from .bgp.events import ConnectRequested, StateChanged
from .bgp.fsm import Session
from .transport.protocol import Connection

if TYPE_CHECKING:
    from .bgp.events import Event
    from .bgp.fsm import SessionConfig
    from .config import PeerConfig
    from .speaker import Speaker

# Redial backoff after a session failed (RFC 4271 §8.1.1 DampPeerOscillations, in spirit).
BACKOFF_START = 1.0
BACKOFF_MAX = 60.0


class PeerDialer:
    """Dialing (RFC 4271 §8: Connect and Active, driven by the session's ConnectRetryTimer)."""

    # Owned and initialised by Peer.__init__; declared for the type checker only.
    speaker: Speaker
    config: PeerConfig
    connections: list[Connection]
    dialer: Session | None
    _dial_timer: asyncio.TimerHandle | None
    _dial_task: asyncio.Task[None] | None
    _redial: asyncio.TimerHandle | None
    last_error: str
    backoff: float
    stopped: bool

    if TYPE_CHECKING:
        # Defined by Peer, declared here for mypy only: these stubs do not exist at run time,
        # so each name still resolves to Peer's own method.
        def session_config(self) -> SessionConfig: ...

        def _note_state(self, ev: StateChanged, conn: Connection | None = None) -> None: ...

        # transport.protocol.ConnectionOwner: `_dial` hands `self` to the Connection it makes.
        def on_events(self, conn: Connection, events: list[Event]) -> None: ...

        def on_connection_lost(self, conn: Connection) -> None: ...

        def on_pause_writing(self, conn: Connection) -> None: ...

        def on_resume_writing(self, conn: Connection) -> None: ...

    def _start_dialer(self) -> None:
        if self.stopped or self.dialer is not None or self.config.passive:
            return
        s = Session(self.session_config())
        self.dialer = s
        s.start(self.speaker.loop.time())
        self._drive_dialer()

    def _cancel_dialer(self) -> None:
        if self._dial_timer is not None:
            self._dial_timer.cancel()
        if self._dial_task is not None and not self._dial_task.done():
            self._dial_task.cancel()
        self._dial_timer = None
        self._dial_task = None
        self.dialer = None

    def _drive_dialer(self) -> None:
        s = self.dialer
        if s is None:
            return
        for ev in s.events():
            if isinstance(ev, ConnectRequested) and (
                self._dial_task is None or self._dial_task.done()
            ):
                self._dial_task = self.speaker.loop.create_task(self._dial(s))
            elif isinstance(ev, StateChanged):
                self._note_state(ev)
        if self._dial_timer is not None:
            self._dial_timer.cancel()
        at = s.next_timer()
        self._dial_timer = self.speaker.loop.call_at(at, self._dial_tick) if at else None

    def _dial_tick(self) -> None:
        self._dial_timer = None
        s = self.dialer
        if s is not None:
            s.handle_timer(self.speaker.loop.time())
            self._drive_dialer()

    async def _dial(self, s: Session) -> None:
        loop = self.speaker.loop
        c = self.config
        local = str(c.local_address) if c.local_address else self.speaker.source_address_for(c)
        try:
            sock = self.speaker.make_client_socket(c, local)
        except OSError as exc:
            self.last_error = f"socket: {exc}"
            s.connection_failed(loop.time())
            self._drive_dialer()
            return
        try:
            await asyncio.wait_for(
                loop.sock_connect(sock, (str(c.address), c.port)),
                timeout=max(1.0, s.config.connect_retry_time),
            )
        except (TimeoutError, OSError) as exc:
            sock.close()
            if self.dialer is s:
                self.last_error = f"connect: {exc or 'timeout'}"
                s.connection_failed(loop.time())
                self._drive_dialer()
            return
        if self.dialer is not s or self.stopped:
            sock.close()
            return
        self.dialer = None
        if self._dial_timer is not None:
            self._dial_timer.cancel()
            self._dial_timer = None
        conn = Connection(s, self, True, loop)
        self.connections.append(conn)
        await loop.connect_accepted_socket(lambda: conn, sock)

    def _schedule_redial(self) -> None:
        if self.config.passive or self._redial is not None:
            return
        delay = self.backoff * random.uniform(0.75, 1.0)  # RFC 4271 §10 jitter
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        self._redial = self.speaker.loop.call_later(delay, self._redial_now)

    def _redial_now(self) -> None:
        self._redial = None
        if not self.stopped and not self.connections:
            self._start_dialer()
