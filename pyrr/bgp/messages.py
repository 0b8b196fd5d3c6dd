"""Message framing (RFC 4271 §4.1) and the small messages: OPEN, KEEPALIVE, NOTIFICATION,
ROUTE-REFRESH. UPDATE has its own modules (update.py decodes, encode.py encodes).

Every decoder here raises only `BGPError`, with the code, subcode and data RFC 4271 §6 asks for.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from .capabilities import Capabilities, RawCap, decode_capabilities, split_tlvs
from .constants import (
    AS_TRANS,
    BGP_VERSION,
    HEADER_LEN,
    MARKER,
    MAX_AS2,
    MAX_MESSAGE_LEN,
    MIN_HOLD_TIME,
    OPEN_EXT_PARAMS_HEAD_LEN,
    OPEN_FIXED_LEN,
    UPDATE_MIN_BODY_LEN,
    CeaseSub,
    ErrCode,
    HeaderSub,
    MsgType,
    OpenSub,
    ParamType,
    RefreshSubtype,
    RouteRefreshSub,
)
from .errors import BGPError, describe

# RFC 4271 §4.5: a NOTIFICATION body is Error code (1), Error subcode (1), then data.
_NOTIFICATION_MIN_BODY_LEN = 2
# RFC 2918 §3: AFI (2), Reserved (1; RFC 7313 §3's subtype), SAFI (1).
_ROUTE_REFRESH_BODY_LEN = 4
# RFC 4271 §4.2-4.4, RFC 2918 §3: the smallest legal length of each message type.
MIN_LENGTH = {
    MsgType.OPEN: HEADER_LEN + OPEN_FIXED_LEN,
    MsgType.UPDATE: HEADER_LEN + UPDATE_MIN_BODY_LEN,
    MsgType.NOTIFICATION: HEADER_LEN + _NOTIFICATION_MIN_BODY_LEN,
    MsgType.KEEPALIVE: HEADER_LEN,
    # RFC 7313 §5: a ROUTE-REFRESH of the wrong length is a ROUTE-REFRESH Message Error
    # (7/1, decode_route_refresh), not a header error; only the header itself is required.
    MsgType.ROUTE_REFRESH: 19,
}
_KNOWN_TYPES = frozenset(int(t) for t in MsgType)


def frame(msg_type: int, body: bytes = b"") -> bytes:
    """Header + body."""
    return MARKER + struct.pack("!HB", HEADER_LEN + len(body), msg_type) + body


KEEPALIVE = frame(MsgType.KEEPALIVE)


# The Framer drops the messages it has handed out once this many octets of them pile up.
_COMPACT_AFTER = 65536


class Framer:
    """Cuts a byte stream into messages (sans-IO: bytes in, (type, body) out).

    The buffer never holds more than one maximal message plus whatever was fed in one call, so
    it is bounded by the caller's read size.
    """

    __slots__ = ("_buf", "_pos", "max_length")

    def __init__(self, max_length: int = MAX_MESSAGE_LEN) -> None:
        self._buf = bytearray()
        self._pos = 0
        self.max_length = max_length

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def next_message(self) -> tuple[int, bytes] | None:
        """The next complete (type, body), None if more bytes are needed; BGPError if bad."""
        buf, pos = self._buf, self._pos
        if len(buf) - pos < HEADER_LEN:
            return None
        if buf[pos : pos + 16] != MARKER:
            # RFC 4271 §6.1: marker not all ones.
            raise BGPError(
                ErrCode.MESSAGE_HEADER,
                HeaderSub.CONNECTION_NOT_SYNCHRONIZED,
                reason="marker is not all ones",
            )
        length, mtype = struct.unpack_from("!HB", buf, pos + 16)
        if mtype not in _KNOWN_TYPES:
            # RFC 4271 §6.1: Bad Message Type, data = the type octet.
            raise BGPError(
                ErrCode.MESSAGE_HEADER,
                HeaderSub.BAD_MESSAGE_TYPE,
                bytes((mtype,)),
                f"unknown message type {mtype}",
            )
        if (
            length < MIN_LENGTH[mtype]
            or length > self.max_length
            or (mtype == MsgType.KEEPALIVE and length != HEADER_LEN)
        ):
            # RFC 4271 §6.1: Bad Message Length, data = the erroneous length field.
            raise BGPError(
                ErrCode.MESSAGE_HEADER,
                HeaderSub.BAD_MESSAGE_LENGTH,
                struct.pack("!H", length),
                f"length {length} for type {mtype}",
            )
        if len(buf) - pos < length:
            return None
        body = bytes(buf[pos + HEADER_LEN : pos + length])
        pos += length
        if pos == len(buf):
            buf.clear()
            pos = 0
        elif pos > _COMPACT_AFTER:
            del buf[:pos]
            pos = 0
        self._pos = pos
        return mtype, body


@dataclass(frozen=True, slots=True)
class Open:
    """RFC 4271 §4.2; `asn` is the true AS (4-octet capability applied, RFC 6793 §4.1)."""

    asn: int
    hold_time: int
    router_id: int
    capabilities: Capabilities = field(default_factory=Capabilities)
    version: int = BGP_VERSION
    raw_capabilities: tuple[RawCap, ...] = ()

    @property
    def router_id_str(self) -> str:
        return str(IPv4Address(self.router_id))

    def encode(self) -> bytes:
        my_as = self.asn if self.asn <= MAX_AS2 else AS_TRANS  # RFC 6793 §4.1
        caps = self.capabilities.encode()
        params = b""
        if caps:
            # One capabilities optional parameter holding every capability (RFC 5492 §4).
            if len(caps) > _MAX_PARAM_LEN:
                raise ValueError("capabilities exceed one optional parameter")
            params = bytes((ParamType.CAPABILITIES, len(caps))) + caps
        body = (
            struct.pack("!BHHIB", self.version, my_as, self.hold_time, self.router_id, len(params))
            + params
        )
        return frame(MsgType.OPEN, body)


# RFC 4271 §4.2: an optional parameter is type (1), length (1), value; RFC 9072 §2 makes the
# length 2 octets once the OPEN announces extended parameters.
_PARAM_HEAD_LEN = 2
_EXT_PARAM_HEAD_LEN = 3
_MAX_PARAM_LEN = 0xFF
# RFC 9072 §2: "Non-Ext OP Len" 255 followed by "Non-Ext OP Type" 255.
_EXTENDED_PARAMS = int(ParamType.EXTENDED_LENGTH)
_EXTENDED_PARAMS_TYPE = bytes((ParamType.EXTENDED_LENGTH,))
# Where in an OPEN body the Opt Parm Len octet is (the parameters follow it).
_OPT_PARM_LEN_AT = OPEN_FIXED_LEN - 1

_PARAMS_SEEN: dict[bytes, tuple[tuple[RawCap, ...], Capabilities]] = {}
_PARAMS_SEEN_MAX = 256


def decode_open(body: bytes) -> Open:
    """Parse an OPEN body. Checks that need our configuration (peer AS, router id clash) are
    the session's, not the codec's."""
    if len(body) < OPEN_FIXED_LEN:
        raise BGPError(
            ErrCode.MESSAGE_HEADER,
            HeaderSub.BAD_MESSAGE_LENGTH,
            struct.pack("!H", len(body) + HEADER_LEN),
        )
    version, my_as, hold, router_id, plen = struct.unpack_from("!BHHIB", body)
    if version != BGP_VERSION:
        # RFC 4271 §6.2: data = the largest locally supported version number (2 octets).
        raise BGPError(
            ErrCode.OPEN_MESSAGE,
            OpenSub.UNSUPPORTED_VERSION_NUMBER,
            struct.pack("!H", BGP_VERSION),
            f"version {version}",
        )
    # Every client of an RR sends much the same optional parameters (only the identifier in
    # the fixed part differs): their decoding is kept, keyed by their bytes, so that a
    # thousand sessions coming up decode them once. Capabilities is immutable, so sharing it
    # is safe; errors are never cached, a new OPEN with the same bytes raises again.
    key = body[_OPT_PARM_LEN_AT:]
    known = _PARAMS_SEEN.get(key)
    raw: list[RawCap] = []
    if known is None:
        raw = _split_params(plen, body[OPEN_FIXED_LEN:])
    if 0 < hold < MIN_HOLD_TIME:
        # RFC 4271 §6.2: hold time must be zero or at least three seconds.
        raise BGPError(
            ErrCode.OPEN_MESSAGE, OpenSub.UNACCEPTABLE_HOLD_TIME, reason=f"hold time {hold}"
        )
    if router_id == 0:
        # RFC 4271 §6.2 (and RFC 6286 §2.2): the identifier must not be 0.
        raise BGPError(ErrCode.OPEN_MESSAGE, OpenSub.BAD_BGP_IDENTIFIER, reason="BGP identifier 0")
    if known is None:
        known = (tuple(raw), decode_capabilities(raw))
        if len(_PARAMS_SEEN) >= _PARAMS_SEEN_MAX:
            _PARAMS_SEEN.clear()  # bounded: a peer varying its OPEN cannot grow it
        _PARAMS_SEEN[key] = known
    raw_caps, caps = known
    asn = my_as
    if caps.four_octet_as is not None:
        # RFC 6793 §4.1: with the capability, the true AS is the capability's; "My AS" should be
        # AS_TRANS when it does not fit, but a mismatch is tolerated as BIRD and FRR do.
        asn = caps.four_octet_as
    return Open(
        asn=asn,
        hold_time=hold,
        router_id=router_id,
        capabilities=caps,
        version=version,
        raw_capabilities=raw_caps,
    )


def _split_params(plen: int, params: bytes) -> list[RawCap]:
    """RFC 4271 §4.2 / RFC 5492 optional parameters (RFC 9072 extended lengths) into
    capability TLVs: every parameter must be Capabilities."""
    ext = False
    if plen == _EXTENDED_PARAMS and params[:1] == _EXTENDED_PARAMS_TYPE:
        # RFC 9072 §2: non-extended length 255 + type 255 announce 2-octet lengths.
        if len(params) < OPEN_EXT_PARAMS_HEAD_LEN:
            raise BGPError(ErrCode.OPEN_MESSAGE, OpenSub.UNSPECIFIC, reason="bad extended params")
        plen = struct.unpack_from("!H", params, 1)[0]
        params = params[OPEN_EXT_PARAMS_HEAD_LEN:]
        ext = True
    if plen != len(params):
        raise BGPError(
            ErrCode.OPEN_MESSAGE,
            OpenSub.UNSPECIFIC,
            reason=f"optional parameters length {plen} != {len(params)}",
        )
    raw: list[RawCap] = []
    pos = 0
    hl = _EXT_PARAM_HEAD_LEN if ext else _PARAM_HEAD_LEN
    while pos < len(params):
        if pos + hl > len(params):
            raise BGPError(ErrCode.OPEN_MESSAGE, OpenSub.UNSPECIFIC, reason="parameter truncated")
        ptype = params[pos]
        length = struct.unpack_from("!H", params, pos + 1)[0] if ext else params[pos + 1]
        value = params[pos + hl : pos + hl + length]
        if len(value) != length:
            raise BGPError(ErrCode.OPEN_MESSAGE, OpenSub.UNSPECIFIC, reason="parameter overruns")
        if ptype != ParamType.CAPABILITIES:
            # RFC 4271 §6.2: Unsupported Optional Parameter.
            raise BGPError(
                ErrCode.OPEN_MESSAGE,
                OpenSub.UNSUPPORTED_OPTIONAL_PARAMETER,
                reason=f"optional parameter type {ptype}",
            )
        raw.extend(split_tlvs(value))
        pos += hl + length
    return raw


@dataclass(frozen=True, slots=True)
class Notification:
    """RFC 4271 §4.5 (shutdown communication: RFC 9003)."""

    code: int
    subcode: int = 0
    data: bytes = b""

    def encode(self) -> bytes:
        return frame(MsgType.NOTIFICATION, struct.pack("!BB", self.code, self.subcode) + self.data)

    @property
    def name(self) -> str:
        return describe(self.code, self.subcode)

    @property
    def shutdown_message(self) -> str | None:
        """RFC 9003 §2: Cease/Administrative Shutdown or Reset may carry a UTF-8 message."""
        if self.code != ErrCode.CEASE or self.subcode not in (
            CeaseSub.ADMINISTRATIVE_SHUTDOWN,
            CeaseSub.ADMINISTRATIVE_RESET,
        ):
            return None
        if not self.data:
            return None
        n = self.data[0]
        if n + 1 > len(self.data):
            return None
        return self.data[1 : 1 + n].decode("utf-8", "replace")

    def __str__(self) -> str:
        msg = self.shutdown_message
        if msg is not None:
            return f'{self.name} "{msg}"'
        return f"{self.name}" + (f" data={self.data.hex()}" if self.data else "")


def shutdown_notification(subcode: int, message: str = "") -> Notification:
    """RFC 9003 §2: a length octet and up to 255 octets of UTF-8 (cut on a character boundary)."""
    raw = message.encode("utf-8")[:255].decode("utf-8", "ignore").encode("utf-8")
    data = bytes((len(raw),)) + raw if message else b""
    return Notification(ErrCode.CEASE, subcode, data)


def decode_notification(body: bytes) -> Notification:
    if len(body) < _NOTIFICATION_MIN_BODY_LEN:
        raise BGPError(
            ErrCode.MESSAGE_HEADER,
            HeaderSub.BAD_MESSAGE_LENGTH,
            struct.pack("!H", len(body) + HEADER_LEN),
        )
    return Notification(body[0], body[1], bytes(body[2:]))


@dataclass(frozen=True, slots=True)
class RouteRefresh:
    """RFC 2918 §3, with RFC 7313 §3's subtype in the reserved octet."""

    afi: int
    safi: int
    subtype: int = RefreshSubtype.NORMAL

    def encode(self) -> bytes:
        return frame(MsgType.ROUTE_REFRESH, struct.pack("!HBB", self.afi, self.subtype, self.safi))


def decode_route_refresh(body: bytes) -> RouteRefresh:
    if len(body) != _ROUTE_REFRESH_BODY_LEN:
        # RFC 7313 §5: Invalid Message Length, data = the complete message.
        whole = MARKER + struct.pack("!HB", len(body) + HEADER_LEN, MsgType.ROUTE_REFRESH) + body
        raise BGPError(
            ErrCode.ROUTE_REFRESH_MESSAGE,
            RouteRefreshSub.INVALID_MESSAGE_LENGTH,
            whole,
            f"ROUTE-REFRESH length {len(body) + HEADER_LEN}",
        )
    afi, subtype, safi = struct.unpack("!HBB", body)
    return RouteRefresh(afi, safi, subtype)


def check_keepalive(body: bytes) -> None:
    if body:
        raise BGPError(
            ErrCode.MESSAGE_HEADER,
            HeaderSub.BAD_MESSAGE_LENGTH,
            struct.pack("!H", len(body) + HEADER_LEN),
        )


def valid_hold_time(hold: int) -> bool:
    return hold == 0 or hold >= MIN_HOLD_TIME
