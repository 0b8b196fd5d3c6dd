"""The BGP session state machine of RFC 4271 §8, sans-IO.

One `Session` lives for one attempt at a session with one peer: Idle -> Connect/Active ->
OpenSent -> OpenConfirm -> Established -> Idle. Back in Idle it is finished; the driver makes a
new `Session` for the next attempt (after its own backoff, RFC 4271 §8.1.1's IdleHoldTimer).

Bytes in: `receive_data(data, now)`. Bytes out: `data_to_send()`. Time in: `handle_timer(now)`
whenever `next_timer()` says so. Everything that happened: `events()`. The session never reads a
clock, opens a socket or imports asyncio (like aioquic's QuicConnection).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .capabilities import Capabilities, Negotiated, negotiate
from .constants import (
    DEFAULT_HOLD_TIME,
    HEADER_LEN,
    MAX_EXTENDED_MESSAGE_LEN,
    CapCode,
    CeaseSub,
    ErrCode,
    FsmSub,
    MsgType,
    OpenSub,
    RefreshSubtype,
    State,
)
from .errors import BGPError, LocalProtocolError
from .events import (
    ConnectRequested,
    Established,
    Event,
    OpenReceived,
    RefreshReceived,
    SessionDown,
    StateChanged,
    UpdateReceived,
)
from .messages import (
    KEEPALIVE,
    Framer,
    Notification,
    Open,
    check_keepalive,
    decode_notification,
    decode_open,
    decode_route_refresh,
    shutdown_notification,
)
from .update import UpdateContext, decode_update

# RFC 4271 §10: "a large value" for the hold timer until the peer's OPEN arrives; pyrr uses a
# shorter bound than the suggested 4 minutes so that a silent connection cannot sit on a slot.
OPEN_WAIT_TIME = 60.0
CONNECT_RETRY_TIME = 5.0


@dataclass(frozen=True, slots=True)
class SessionConfig:
    local_as: int
    router_id: int
    peer_as: int  # the AS the peer must announce (RFC 4271 §6.2 Bad Peer AS otherwise)
    capabilities: Capabilities = field(default_factory=Capabilities)
    hold_time: int = DEFAULT_HOLD_TIME
    passive: bool = False
    connect_retry_time: float = CONNECT_RETRY_TIME
    open_wait_time: float = OPEN_WAIT_TIME
    # Seconds between our KEEPALIVEs; None: a third of the negotiated hold time (RFC 4271 §10).
    keepalive_time: int | None = None
    # RFC 4271 §10: the KeepaliveTimer SHOULD be jittered, a new factor (0.75 to 1.0) each
    # time it is set, so KEEPALIVEs to many peers do not come in peaks (BIRD does the same;
    # pyrr's factors: session.local). None: no jitter (exact tests).
    keepalive_jitter: Callable[[], float] | None = field(default=None, compare=False)

    @property
    def ibgp(self) -> bool:
        return self.local_as == self.peer_as


class Session:
    """One BGP session attempt with one peer (RFC 4271 §8)."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.state = State.IDLE
        self.negotiated: Negotiated | None = None
        self.peer_open: Open | None = None
        # The OPENs as sent (a whole message) and as received (the body): BMP's Peer Up
        # carries both (RFC 7854 §4.10).
        self.sent_open = b""
        self.received_open = b""
        self.update_context = UpdateContext()
        self.closing = False  # the driver should close the TCP connection once flushed
        self._framer = Framer()
        self._out = bytearray()
        self._events: list[Event] = []
        self._hold_deadline: float | None = None
        self._keepalive_deadline: float | None = None
        self._connect_retry_deadline: float | None = None
        self.messages_in = 0
        self.messages_out = 0
        self.updates_out = 0
        self.established_at: float | None = None
        self.last_error: str = ""

    # -- driver API -------------------------------------------------------------------------

    def events(self) -> list[Event]:
        ev, self._events = self._events, []
        return ev

    def data_to_send(self) -> bytes:
        if not self._out:
            return b""
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_timer(self) -> float | None:
        """The earliest deadline, None when no timer runs (asked after every event)."""
        at = self._hold_deadline
        for d in (self._keepalive_deadline, self._connect_retry_deadline):
            if d is not None and (at is None or d < at):
                at = d
        return at

    def start(self, now: float) -> None:
        """ManualStart (RFC 4271 §8.1.2 events 1, 4, 5): Idle -> Connect or Active."""
        if self.state != State.IDLE or self.closing:
            raise LocalProtocolError("start() outside Idle")
        if self.config.passive:
            self._set_state(State.ACTIVE, "passive: waiting for the peer", now)
        else:
            self._set_state(State.CONNECT, "connecting", now)
            self._events.append(ConnectRequested())
        self._connect_retry_deadline = now + self.config.connect_retry_time

    def connection_made(self, now: float) -> None:
        """TcpConnectionConfirmed / Tcp_CR_Acked (events 16, 17): send OPEN, go to OpenSent.

        A session for an accepted connection starts here straight from Idle.
        """
        if self.state not in (State.IDLE, State.CONNECT, State.ACTIVE):
            raise LocalProtocolError(f"connection_made() in {self.state.name}")
        self._connect_retry_deadline = None
        c = self.config
        self.sent_open = _open_bytes(c.local_as, c.hold_time, c.router_id, c.capabilities)
        self._send_raw(self.sent_open)
        self._hold_deadline = now + self.config.open_wait_time
        self._set_state(State.OPENSENT, "connection up, OPEN sent", now)

    def connection_failed(self, now: float) -> None:
        """TcpConnectionFails in Connect (event 18): Active, retry when ConnectRetryTimer fires."""
        if self.state == State.CONNECT:
            self._set_state(State.ACTIVE, "connect failed", now)

    def connection_lost(self, now: float, reason: str = "connection closed") -> None:
        """TcpConnectionFails after OpenSent (event 18): the session is over, no NOTIFICATION."""
        if self.state in (State.IDLE, State.CONNECT, State.ACTIVE) or self.closing:
            self.closing = True
            # A finished session reports no deadline (handle_timer() ignores it anyway, so a
            # driver sleeping until next_timer() would spin on a past one).
            self._connect_retry_deadline = None
            if self.state != State.IDLE:
                self._set_state(State.IDLE, reason, now)
            return
        # RFC 4724 §4.2: a TCP failure without NOTIFICATION is what a restarting peer looks like.
        self._down(now, reason, None, sent_by_us=False, graceful=True)

    def stop(
        self,
        now: float,
        subcode: int = CeaseSub.ADMINISTRATIVE_SHUTDOWN,
        message: str = "",
        data: bytes | None = None,
    ) -> None:
        """ManualStop (event 2) or any decision of ours to end the session: Cease, then Idle.

        `message` is an RFC 9003 shutdown communication; `data`, when given, is sent as the
        Cease data instead (RFC 4486 §4 for Maximum Number of Prefixes Reached).
        """
        if self.closing or self.state == State.IDLE:
            self.closing = True
            self._connect_retry_deadline = None
            return
        if self.state in (State.CONNECT, State.ACTIVE):
            self.closing = True
            self._connect_retry_deadline = None  # as in connection_lost(): no timer left
            self._set_state(State.IDLE, message or "stopped", now)
            return
        notification = (
            Notification(ErrCode.CEASE, subcode, data)
            if data is not None
            else shutdown_notification(subcode, message)
        )
        self._notify(now, notification, message or notification.name)

    def receive_data(self, data: bytes | bytearray | memoryview, now: float) -> None:
        if self.closing:
            return
        if self.state not in (State.OPENSENT, State.OPENCONFIRM, State.ESTABLISHED):
            raise LocalProtocolError(f"data received in {self.state.name}")
        self._framer.feed(data)
        try:
            while not self.closing:
                msg = self._framer.next_message()
                if msg is None:
                    break
                self.messages_in += 1
                self._dispatch(msg[0], msg[1], now)
        except BGPError as err:
            self._notify(now, Notification(err.code, err.subcode, err.data), str(err))

    def handle_timer(self, now: float) -> None:
        if self.closing:
            return
        if self._hold_deadline is not None and now >= self._hold_deadline:
            # RFC 4271 §8.2.2 event 10: HoldTimer_Expires.
            self._notify(now, Notification(ErrCode.HOLD_TIMER_EXPIRED), "hold timer expired")
            return
        if self._connect_retry_deadline is not None and now >= self._connect_retry_deadline:
            # Event 9: ConnectRetryTimer_Expires: try again (Connect); passive keeps waiting.
            self._connect_retry_deadline = now + self.config.connect_retry_time
            if not self.config.passive:
                if self.state == State.ACTIVE:
                    self._set_state(State.CONNECT, "connect retry", now)
                self._events.append(ConnectRequested())
        if self._keepalive_deadline is not None and now >= self._keepalive_deadline:
            self.send_keepalive(now)

    def send_keepalive(self, now: float) -> None:
        if self.state not in (State.OPENCONFIRM, State.ESTABLISHED):
            raise LocalProtocolError("KEEPALIVE before OpenConfirm")
        self._send_raw(KEEPALIVE)
        self._arm_keepalive(now)

    def send_message(self, data: bytes) -> None:
        """Queue an already encoded UPDATE or ROUTE-REFRESH (only in Established)."""
        if self.state != State.ESTABLISHED or self.closing:
            raise LocalProtocolError(f"sending in {self.state.name}")
        if data[HEADER_LEN - 1] == MsgType.UPDATE:
            self.updates_out += 1
        self._send_raw(data)

    def note_updates_sent(self, count: int) -> None:
        """The driver wrote `count` UPDATEs straight to the transport (the shared-bytes fanout,
        which never passes through `data_to_send`): counted like every other message."""
        self.messages_out += count
        self.updates_out += count

    # -- internals --------------------------------------------------------------------------

    def _send_raw(self, data: bytes) -> None:
        self._out += data
        self.messages_out += 1

    def _set_state(self, new: State, reason: str, now: float) -> None:
        old = self.state
        self.state = new
        if new == State.ESTABLISHED:
            self.established_at = now
        self._events.append(StateChanged(old, new, reason))

    def _arm_keepalive(self, now: float) -> None:
        n = self.negotiated
        if n is not None and n.keepalive_time > 0:
            jitter = self.config.keepalive_jitter
            factor = 1.0 if jitter is None else jitter()
            self._keepalive_deadline = now + n.keepalive_time * factor
        else:
            self._keepalive_deadline = None

    def _arm_hold(self, now: float) -> None:
        n = self.negotiated
        if n is not None and n.hold_time > 0:
            self._hold_deadline = now + n.hold_time
        else:
            self._hold_deadline = None

    def _notify(self, now: float, notification: Notification, reason: str) -> None:
        """Send a NOTIFICATION and end the session (every error path of RFC 4271 §8.2.2)."""
        self._send_raw(notification.encode())
        self.last_error = reason
        self._down(now, reason, notification, sent_by_us=True, graceful=False)

    def _down(
        self,
        now: float,
        reason: str,
        notification: Notification | None,
        *,
        sent_by_us: bool,
        graceful: bool,
    ) -> None:
        was_established = self.state == State.ESTABLISHED
        self.closing = True
        self._hold_deadline = self._keepalive_deadline = self._connect_retry_deadline = None
        self._set_state(State.IDLE, reason, now)
        self._events.append(
            SessionDown(reason, was_established, notification, sent_by_us, graceful)
        )

    def _dispatch(self, mtype: int, body: bytes, now: float) -> None:
        handler = _TABLE.get((self.state, mtype))
        if handler is None:
            # RFC 6608 §4: an unexpected message gets FSM Error with a subcode for the state.
            sub = _UNEXPECTED_SUB.get(self.state, FsmSub.UNSPECIFIED)
            raise BGPError(ErrCode.FSM, sub, reason=f"{MsgType(mtype).name} in {self.state.name}")
        handler(self, body, now)

    def _on_notification(self, body: bytes, now: float) -> None:
        n = decode_notification(body)
        # RFC 8538 §4: a NOTIFICATION other than Hard Reset is covered by GR when both sides
        # set the N bit.
        graceful = False
        neg = self.negotiated
        if (
            neg is not None
            and self.state == State.ESTABLISHED
            and neg.local_caps.graceful_restart is not None
            and neg.local_caps.graceful_restart.notification
            and neg.peer_caps.graceful_restart is not None
            and neg.peer_caps.graceful_restart.notification
            and not (n.code == ErrCode.CEASE and n.subcode == CeaseSub.HARD_RESET)
        ):
            graceful = True
        self._down(now, f"NOTIFICATION received: {n}", n, sent_by_us=False, graceful=graceful)

    def _on_open(self, body: bytes, now: float) -> None:
        op = decode_open(body)
        c = self.config
        if len({v for code, v in op.raw_capabilities if code == CapCode.FOUR_OCTET_AS}) > 1:
            # RFC 4271 §6.2: the AS an OPEN announces must be acceptable. RFC 5492 §4 lets a
            # capability repeat, but two 4-octet AS capabilities that disagree (RFC 6793 §4.1
            # knows one AS) leave it ambiguous; taking the last one admitted a peer whose
            # OPEN also claimed another AS.
            raise BGPError(
                ErrCode.OPEN_MESSAGE,
                OpenSub.BAD_PEER_AS,
                reason="4-octet AS capabilities announce different ASes",
            )
        if op.asn != c.peer_as:
            raise BGPError(
                ErrCode.OPEN_MESSAGE,
                OpenSub.BAD_PEER_AS,
                reason=f"peer announced AS {op.asn}, configured {c.peer_as}",
            )
        if op.router_id == c.router_id and c.ibgp:
            # RFC 6286 §2.2: within an AS the identifiers must differ.
            raise BGPError(
                ErrCode.OPEN_MESSAGE,
                OpenSub.BAD_BGP_IDENTIFIER,
                reason=f"peer uses our own BGP identifier {op.router_id_str}",
            )
        neg = negotiate(
            c.capabilities, op.capabilities, c.hold_time, op.hold_time, op.asn, op.router_id
        )
        if c.keepalive_time is not None and 0 < c.keepalive_time < neg.hold_time:
            # A configured KeepaliveTime (BIRD's `keepalive time`, Calico's keepaliveTime);
            # one not below the hold time would let the peer's hold timer expire, so the
            # RFC 4271 §10 default applies instead.
            neg = replace(neg, keepalive_time=c.keepalive_time)
        self.peer_open = op
        self.received_open = body
        self.negotiated = neg
        self.update_context = UpdateContext(
            four_octet_as=neg.four_octet_as,
            ibgp=c.ibgp,
            peer_as=op.asn,
            families=frozenset(neg.families),
            add_path_rx=neg.add_path_rx,
        )
        self._send_raw(KEEPALIVE)
        self._arm_hold(now)
        self._arm_keepalive(now)
        self._set_state(State.OPENCONFIRM, "OPEN received", now)
        self._events.append(OpenReceived(op))

    def _on_keepalive_confirm(self, body: bytes, now: float) -> None:
        check_keepalive(body)
        neg = self.negotiated
        assert neg is not None
        if neg.extended_message:
            # RFC 8654 §3: the larger limit applies once both sides advertised it.
            self._framer.max_length = MAX_EXTENDED_MESSAGE_LEN
        self._arm_hold(now)
        self._set_state(State.ESTABLISHED, "KEEPALIVE received", now)
        self._events.append(Established(neg))

    def _on_keepalive(self, body: bytes, now: float) -> None:
        check_keepalive(body)
        self._arm_hold(now)

    def _on_update(self, body: bytes, now: float) -> None:
        self._arm_hold(now)
        self._events.append(UpdateReceived(decode_update(body, self.update_context), body))

    def _on_refresh(self, body: bytes, now: float) -> None:
        self._arm_hold(now)
        rr = decode_route_refresh(body)
        neg = self.negotiated
        assert neg is not None
        if (rr.afi, rr.safi) not in neg.families:
            return  # RFC 2918 §4: ignore a refresh for a family that was not negotiated
        if rr.subtype != RefreshSubtype.NORMAL and not neg.enhanced_route_refresh:
            return  # RFC 7313 §5: BoRR/EoRR without the capability, ignore
        if rr.subtype > RefreshSubtype.EORR:
            return  # RFC 7313 §5: unknown subtype, ignore
        self._events.append(RefreshReceived(rr))


@functools.lru_cache(maxsize=64)
def _open_bytes(local_as: int, hold_time: int, router_id: int, caps: Capabilities) -> bytes:
    """Our OPEN, encoded once per distinct configuration (a thousand sessions share one)."""
    return Open(asn=local_as, hold_time=hold_time, router_id=router_id, capabilities=caps).encode()


_Handler = Callable[[Session, bytes, float], None]

# Every (state, message) pair that is legal; everything else is an FSM error (RFC 4271 §8.2.2,
# RFC 6608). NOTIFICATION is accepted in every state that has a connection.
_TABLE: dict[tuple[State, int], _Handler] = {
    (State.OPENSENT, MsgType.OPEN): Session._on_open,
    (State.OPENSENT, MsgType.NOTIFICATION): Session._on_notification,
    (State.OPENCONFIRM, MsgType.KEEPALIVE): Session._on_keepalive_confirm,
    (State.OPENCONFIRM, MsgType.NOTIFICATION): Session._on_notification,
    (State.ESTABLISHED, MsgType.KEEPALIVE): Session._on_keepalive,
    (State.ESTABLISHED, MsgType.UPDATE): Session._on_update,
    (State.ESTABLISHED, MsgType.ROUTE_REFRESH): Session._on_refresh,
    (State.ESTABLISHED, MsgType.NOTIFICATION): Session._on_notification,
}
_UNEXPECTED_SUB = {
    State.OPENSENT: FsmSub.UNEXPECTED_IN_OPENSENT,
    State.OPENCONFIRM: FsmSub.UNEXPECTED_IN_OPENCONFIRM,
    State.ESTABLISHED: FsmSub.UNEXPECTED_IN_ESTABLISHED,
}


def collision_keep_outgoing(local_id: int, remote_id: int) -> bool:
    """RFC 4271 §6.8: which of two connections to one peer survives.

    If our BGP identifier is the lower one, the connection we initiated is closed (the peer's
    survives); otherwise the one the peer initiated is closed. Returns True to keep ours.
    """
    return local_id > remote_id
