"""BMP, the BGP Monitoring Protocol (RFC 7854; the Loc-RIB instance, RFC 9069): the messages
pyrr sends, sans-IO. Each function returns one whole BMP message as bytes.

pyrr is the monitored router and only ever sends: RFC 7854 §3.3 has the station send nothing,
and whatever one sends anyway is discarded by the connection (pyrr.transport.bmp_station).
The numbers are IANA's "BGP Monitoring Protocol (BMP) Parameters" registries.
"""

from __future__ import annotations

import struct
from enum import IntEnum, IntFlag
from ipaddress import IPv4Address, IPv6Address

from ..bgp.constants import HEADER_LEN, MARKER, MsgType

# RFC 7854 §4.1: Version 3.
BMP_VERSION = 3
# RFC 7854 §4.1 common header: Version (1), Message Length (4, the whole message), Type (1).
_COMMON = struct.Struct("!BIB")
COMMON_HEADER_LEN = _COMMON.size
# RFC 7854 §4.2 per-peer header without its timestamp: Peer Type (1), Peer Flags (1), Peer
# Distinguisher (8), Peer Address (16), Peer AS (4), Peer BGP ID (4); then the Timestamp,
# seconds (4) and microseconds (4).
_PEER_FIXED = struct.Struct("!BB8s16sII")
_TIMESTAMP = struct.Struct("!II")
PEER_HEADER_LEN = _PEER_FIXED.size + _TIMESTAMP.size  # 42
# RFC 7854 §4.4: an Information TLV is Type (2), Length (2), Value.
_TLV = struct.Struct("!HH")
# RFC 7854 §4.10: Local Address (16), Local Port (2), Remote Port (2), then the two OPENs.
_PEER_UP = struct.Struct("!16sHH")
_ADDRESS_LEN = 16
_NO_DISTINGUISHER = bytes(8)
_MICROSECONDS = 1_000_000
_BGP_HEADER = struct.Struct("!16sHB")
_UPDATE_TYPE = int(MsgType.UPDATE)


class BmpMsgType(IntEnum):
    """RFC 7854 §4.1 (IANA "BMP Message Types")."""

    ROUTE_MONITORING = 0
    STATISTICS_REPORT = 1
    PEER_DOWN = 2
    PEER_UP = 3
    INITIATION = 4
    TERMINATION = 5
    ROUTE_MIRRORING = 6


class PeerType(IntEnum):
    """RFC 7854 §4.2, RFC 9069 §4.1 (IANA "BMP Peer Types")."""

    GLOBAL_INSTANCE = 0
    RD_INSTANCE = 1
    LOCAL_INSTANCE = 2
    LOC_RIB_INSTANCE = 3


class PeerFlag(IntFlag):
    """RFC 7854 §4.2 and RFC 8671 §4 (peer types 0-2); RFC 9069 §4.2 gives type 3 its own F."""

    NONE = 0
    IPV6 = 0x80  # V: the Peer Address is IPv6
    POST_POLICY = 0x40  # L: Adj-RIB-In after inbound policy
    AS2 = 0x20  # A: the UPDATEs use the legacy 2-octet AS_PATH
    ADJ_RIB_OUT = 0x10  # O: Adj-RIB-Out (RFC 8671)
    LOC_RIB_FILTERED = 0x80  # F (type 3 only): the Loc-RIB is filtered


class InitTlv(IntEnum):
    """RFC 7854 §4.3-4.4 (IANA "BMP Initiation Information TLVs")."""

    STRING = 0
    SYS_DESCR = 1
    SYS_NAME = 2


class PeerUpTlv(IntEnum):
    """RFC 7854 §4.10 and RFC 9069 §5.2.1 (IANA "BMP Peer Up Message TLVs")."""

    STRING = 0
    VRF_TABLE_NAME = 3


class PeerDownReason(IntEnum):
    """RFC 7854 §4.9 and RFC 9069 §5.3 (IANA "BMP Peer Down Reason Codes")."""

    LOCAL_NOTIFICATION = 1  # we closed, our NOTIFICATION follows
    LOCAL_NO_NOTIFICATION = 2  # we closed without one, a 2-octet FSM event code follows
    REMOTE_NOTIFICATION = 3  # the peer closed, its NOTIFICATION follows
    REMOTE_NO_NOTIFICATION = 4  # the peer (or the connection) closed, no data
    PEER_DECONFIGURED = 5  # no longer monitored for configuration reasons
    LOCAL_TLV = 6  # RFC 9069 §5.3: the Loc-RIB instance goes, TLVs follow


class TermTlv(IntEnum):
    """RFC 7854 §4.5 (IANA "BMP Termination Message TLVs")."""

    STRING = 0
    REASON = 1


class TermReason(IntEnum):
    """RFC 7854 §4.5 (IANA "BMP Termination Message Reason Codes")."""

    ADMINISTRATIVELY_CLOSED = 0
    UNSPECIFIED = 1
    OUT_OF_RESOURCES = 2
    REDUNDANT_CONNECTION = 3
    PERMANENTLY_ADMINISTRATIVELY_CLOSED = 4


class StatType(IntEnum):
    """RFC 7854 §4.8, RFC 8671 §5 (IANA "BMP Statistics Types"): the 32-bit counters and the
    64-bit gauges (the per-AFI/SAFI ones lead with AFI (2) and SAFI (1))."""

    REJECTED_BY_POLICY = 0  # counter
    DUPLICATE_PREFIX = 1  # counter
    DUPLICATE_WITHDRAW = 2  # counter
    CLUSTER_LIST_LOOP = 3  # counter
    AS_PATH_LOOP = 4  # counter
    ORIGINATOR_ID_LOOP = 5  # counter
    AS_CONFED_LOOP = 6  # counter
    ADJ_RIB_IN_ROUTES = 7  # gauge
    LOC_RIB_ROUTES = 8  # gauge
    ADJ_RIB_IN_ROUTES_AFI_SAFI = 9  # gauge, per AFI/SAFI
    LOC_RIB_ROUTES_AFI_SAFI = 10  # gauge, per AFI/SAFI
    UPDATES_TREATED_AS_WITHDRAW = 11  # counter (RFC 7606)
    PREFIXES_TREATED_AS_WITHDRAW = 12  # counter (RFC 7606)
    DUPLICATE_UPDATES = 13  # counter


# RFC 9069 §5.2.1: the VRF/Table Name of the default Loc-RIB instance.
GLOBAL_TABLE_NAME = "global"


def address16(address: IPv4Address | IPv6Address | None) -> bytes:
    """RFC 7854 §4.2: an IPv4 address takes the last 4 of 16 octets, zeros before it."""
    if address is None:
        return bytes(_ADDRESS_LEN)
    return address.packed.rjust(_ADDRESS_LEN, b"\0")


def tlv(kind: int, value: bytes) -> bytes:
    return _TLV.pack(kind, len(value)) + value


def _message(kind: BmpMsgType, *parts: bytes) -> bytes:
    length = COMMON_HEADER_LEN + sum(map(len, parts))
    return b"".join((_COMMON.pack(BMP_VERSION, length, kind), *parts))


class PeerHeader:
    """A per-peer header (RFC 7854 §4.2) with everything but its timestamp packed once: a
    peer's Route Monitoring messages differ only in time and the UPDATE they carry."""

    __slots__ = ("fixed",)

    def __init__(
        self,
        peer_type: PeerType,
        flags: int,
        address: IPv4Address | IPv6Address | None,
        asn: int,
        bgp_id: int,
        distinguisher: bytes = _NO_DISTINGUISHER,
    ) -> None:
        self.fixed = _PEER_FIXED.pack(
            peer_type, flags, distinguisher, address16(address), asn, bgp_id
        )

    def at(self, when: float) -> bytes:
        """The header stamped with `when` (Unix time; 0: unknown, RFC 7854 §4.2)."""
        seconds = int(when)
        return self.fixed + _TIMESTAMP.pack(seconds, int((when - seconds) * _MICROSECONDS))

    def with_flags(self, flags: int) -> PeerHeader:
        other = PeerHeader.__new__(PeerHeader)
        other.fixed = self.fixed[:1] + bytes((flags,)) + self.fixed[2:]
        return other


def route_monitoring(header: bytes, update: bytes) -> bytes:
    """RFC 7854 §4.6: one whole BGP UPDATE (header included) for the peer `header` names."""
    return _message(BmpMsgType.ROUTE_MONITORING, header, update)


def route_monitoring_body(header: bytes, body: bytes) -> bytes:
    """`route_monitoring` of an UPDATE given as its body (as received): the BGP header is
    made here, in the one join that makes the message."""
    bgp_len = HEADER_LEN + len(body)
    return b"".join(
        (
            _COMMON.pack(
                BMP_VERSION, COMMON_HEADER_LEN + len(header) + bgp_len, BmpMsgType.ROUTE_MONITORING
            ),
            header,
            _BGP_HEADER.pack(MARKER, bgp_len, _UPDATE_TYPE),
            body,
        )
    )


def peer_up(
    header: bytes,
    local_address: IPv4Address | IPv6Address | None,
    local_port: int,
    remote_port: int,
    sent_open: bytes,
    received_open: bytes,
    tlvs: bytes = b"",
) -> bytes:
    """RFC 7854 §4.10: the session came up; both OPENs as whole BGP messages."""
    fixed = _PEER_UP.pack(address16(local_address), local_port, remote_port)
    return _message(BmpMsgType.PEER_UP, header, fixed, sent_open, received_open, tlvs)


def peer_down(header: bytes, reason: PeerDownReason, data: bytes = b"") -> bytes:
    """RFC 7854 §4.9: `data` is the NOTIFICATION (reasons 1 and 3), the FSM event code (2),
    TLVs (6, RFC 9069 §5.3), or nothing."""
    return _message(BmpMsgType.PEER_DOWN, header, bytes((reason,)), data)


def initiation(sys_descr: str, sys_name: str, note: str = "") -> bytes:
    """RFC 7854 §4.3: sysDescr and sysName MUST be included; a String TLV MAY be."""
    tlvs = [
        tlv(InitTlv.SYS_DESCR, sys_descr.encode()),
        tlv(InitTlv.SYS_NAME, sys_name.encode()),
    ]
    if note:
        tlvs.append(tlv(InitTlv.STRING, note.encode()))
    return _message(BmpMsgType.INITIATION, *tlvs)


def termination(reason: TermReason, note: str = "") -> bytes:
    """RFC 7854 §4.5: the last message before we close the connection."""
    tlvs = [tlv(TermTlv.REASON, struct.pack("!H", reason))]
    if note:
        tlvs.append(tlv(TermTlv.STRING, note.encode()))
    return _message(BmpMsgType.TERMINATION, *tlvs)


# -- Statistics Report (RFC 7854 §4.8) --------------------------------------------------------


def counter32(kind: StatType, value: int) -> bytes:
    return tlv(kind, struct.pack("!I", value & 0xFFFFFFFF))


def gauge64(kind: StatType, value: int) -> bytes:
    return tlv(kind, struct.pack("!Q", value))


def afi_safi_gauge64(kind: StatType, afi: int, safi: int, value: int) -> bytes:
    return tlv(kind, struct.pack("!HBQ", afi, safi, value))


def statistics_report(header: bytes, stats: list[bytes]) -> bytes:
    """RFC 7854 §4.8: Stats Count (4), then each stat as a TLV."""
    return _message(BmpMsgType.STATISTICS_REPORT, header, struct.pack("!I", len(stats)), *stats)
