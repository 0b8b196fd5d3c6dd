"""Every number BGP puts on the wire, as IntEnums (RFC 4271 and the RFCs that extend it).

Nothing here does anything; the other modules name these instead of writing magic numbers.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

# RFC 4271 §4.1: a 16-octet all-ones marker, a 2-octet length, a 1-octet type.
MARKER = b"\xff" * 16
HEADER_LEN = 19
MIN_MESSAGE_LEN = 19
MAX_MESSAGE_LEN = 4096
# RFC 8654 §4: once both sides advertise the extended message capability.
MAX_EXTENDED_MESSAGE_LEN = 65535
BGP_VERSION = 4
BGP_PORT = 179
# RFC 6793 §2: the 2-octet placeholder for a 4-octet AS number; AS numbers are 2 octets on an
# OLD session, 4 octets on a NEW one (RFC 6793 §3-4).
AS_TRANS = 23456
AS2_LEN = 2
AS4_LEN = 4
MAX_AS2 = 0xFFFF

# RFC 4271 §4.3: the UPDATE body starts with two 2-octet lengths (withdrawn routes, attributes).
UPDATE_MIN_BODY_LEN = 4
# RFC 4271 §4.3: attribute flags, type code and a 1-octet length, or 2 octets with Extended Length.
ATTR_HEADER_LEN = 3
ATTR_EXT_HEADER_LEN = 4
# The largest attribute value: one length octet without Extended Length, two with it.
MAX_ATTR_LEN_SHORT = 0xFF
MAX_ATTR_LEN = 0xFFFF
# RFC 4760 §3-4: AFI (2), SAFI (1), then for MP_REACH_NLRI next hop length (1) and reserved (1).
MP_REACH_HEAD_LEN = 5
MP_UNREACH_HEAD_LEN = 3
# Octets of an address on the wire (NEXT_HOP, BGP identifier, MP next hops, RFC 2545 §3).
IPV4_ADDR_LEN = 4
IPV6_ADDR_LEN = 16
# RFC 4271 §5.1.7 / RFC 6793 §3: AGGREGATOR is the aggregating AS, then its BGP identifier.
AGGREGATOR2_LEN = AS2_LEN + IPV4_ADDR_LEN
AGGREGATOR4_LEN = AS4_LEN + IPV4_ADDR_LEN
# RFC 4271 §4.2: Version (1), My AS (2), Hold Time (2), BGP Identifier (4), Opt Parm Len (1).
OPEN_FIXED_LEN = 10
# RFC 9072 §2: Non-Ext OP Type (1, = 255) and the 2-octet Extended Opt. Parm. Length.
OPEN_EXT_PARAMS_HEAD_LEN = 3
# RFC 4271 §5.1.5 requires LOCAL_PREF towards internal peers but leaves its value to local
# policy; 100 is what BIRD, FRR and GoBGP use for a route that has none.
DEFAULT_LOCAL_PREF = 100
# RFC 4271 §4.2: hold time is zero or at least three seconds.
MIN_HOLD_TIME = 3
DEFAULT_HOLD_TIME = 240


class MsgType(IntEnum):
    """RFC 4271 §4.1, RFC 2918 §3."""

    OPEN = 1
    UPDATE = 2
    NOTIFICATION = 3
    KEEPALIVE = 4
    ROUTE_REFRESH = 5


class AFI(IntEnum):
    """IANA Address Family Numbers."""

    IPV4 = 1
    IPV6 = 2


class SAFI(IntEnum):
    """IANA SAFI values."""

    UNICAST = 1
    MULTICAST = 2


class ParamType(IntEnum):
    """RFC 5492 §4: OPEN optional parameter types."""

    AUTHENTICATION = 1  # deprecated (RFC 5492 §4)
    CAPABILITIES = 2
    # RFC 9072 §2: extended optional parameters length marker.
    EXTENDED_LENGTH = 255


class CapCode(IntEnum):
    """IANA Capability Codes."""

    MULTIPROTOCOL = 1  # RFC 4760
    ROUTE_REFRESH = 2  # RFC 2918
    OUTBOUND_ROUTE_FILTERING = 3  # RFC 5291
    EXTENDED_NEXT_HOP = 5  # RFC 8950
    EXTENDED_MESSAGE = 6  # RFC 8654
    GRACEFUL_RESTART = 64  # RFC 4724
    FOUR_OCTET_AS = 65  # RFC 6793
    ADD_PATH = 69  # RFC 7911
    ENHANCED_ROUTE_REFRESH = 70  # RFC 7313
    LONG_LIVED_GRACEFUL_RESTART = 71  # RFC 9494
    FQDN = 73  # draft-walton-bgp-hostname-capability
    ROUTE_REFRESH_CISCO = 128  # pre-standard route refresh, still sent by FRR


class OtherCapCode(IntEnum):
    """IANA Capability Codes pyrr does not negotiate, named for `pyrr decode` only."""

    BGPSEC = 7  # RFC 8205
    MULTIPLE_LABELS = 8  # RFC 8277
    BGP_ROLE = 9  # RFC 9234
    DYNAMIC_CAPABILITY = 67  # draft-ietf-idr-dynamic-cap
    MULTISESSION = 68  # draft-ietf-idr-bgp-multisession
    SOFTWARE_VERSION = 75  # draft-abraitis-bgp-version-capability
    PATHS_LIMIT = 76  # draft-abraitis-idr-addpath-paths-limit


class AddPathMode(IntFlag):
    """RFC 7911 §4: Send/Receive field."""

    NONE = 0
    RECEIVE = 1
    SEND = 2
    BOTH = 3


class GRFlags(IntFlag):
    """RFC 4724 §3 restart flags (high 4 bits of the 16-bit field), RFC 8538 N bit."""

    NONE = 0
    NOTIFICATION = 0x4  # RFC 8538 §2 "N"
    RESTART = 0x8  # RFC 4724 §3 "R"


GR_AF_FORWARDING = 0x80  # RFC 4724 §3: Flags for Address Family, "F" bit
LLGR_AF_FORWARDING = 0x80  # RFC 9494 §3: the same "F" bit in the long-lived GR flags


class AttrFlag(IntFlag):
    """RFC 4271 §4.3: attribute flags octet."""

    NONE = 0
    EXTENDED_LENGTH = 0x10
    PARTIAL = 0x20
    TRANSITIVE = 0x40
    OPTIONAL = 0x80


class AttrCode(IntEnum):
    """IANA BGP Path Attributes."""

    ORIGIN = 1
    AS_PATH = 2
    NEXT_HOP = 3
    MULTI_EXIT_DISC = 4
    LOCAL_PREF = 5
    ATOMIC_AGGREGATE = 6
    AGGREGATOR = 7
    COMMUNITIES = 8  # RFC 1997
    ORIGINATOR_ID = 9  # RFC 4456
    CLUSTER_LIST = 10  # RFC 4456
    MP_REACH_NLRI = 14  # RFC 4760
    MP_UNREACH_NLRI = 15  # RFC 4760
    EXTENDED_COMMUNITIES = 16  # RFC 4360
    AS4_PATH = 17  # RFC 6793
    AS4_AGGREGATOR = 18  # RFC 6793
    LARGE_COMMUNITIES = 32  # RFC 8092


class Origin(IntEnum):
    """RFC 4271 §5.1.1."""

    IGP = 0
    EGP = 1
    INCOMPLETE = 2


class AsPathSegType(IntEnum):
    """RFC 4271 §4.3 (and RFC 5065 §3 confederation segments)."""

    AS_SET = 1
    AS_SEQUENCE = 2
    AS_CONFED_SEQUENCE = 3
    AS_CONFED_SET = 4


class ErrCode(IntEnum):
    """RFC 4271 §4.5 error codes (RFC 2918 §5 route refresh: RFC 7313 §5)."""

    MESSAGE_HEADER = 1
    OPEN_MESSAGE = 2
    UPDATE_MESSAGE = 3
    HOLD_TIMER_EXPIRED = 4
    FSM = 5
    CEASE = 6
    ROUTE_REFRESH_MESSAGE = 7  # RFC 7313 §5


class HeaderSub(IntEnum):
    """RFC 4271 §6.1."""

    UNSPECIFIC = 0
    CONNECTION_NOT_SYNCHRONIZED = 1
    BAD_MESSAGE_LENGTH = 2
    BAD_MESSAGE_TYPE = 3


class OpenSub(IntEnum):
    """RFC 4271 §6.2 (and RFC 5492 §5)."""

    UNSPECIFIC = 0
    UNSUPPORTED_VERSION_NUMBER = 1
    BAD_PEER_AS = 2
    BAD_BGP_IDENTIFIER = 3
    UNSUPPORTED_OPTIONAL_PARAMETER = 4
    # 5 deprecated (authentication failure)
    UNACCEPTABLE_HOLD_TIME = 6
    UNSUPPORTED_CAPABILITY = 7  # RFC 5492 §5
    ROLE_MISMATCH = 11  # RFC 9234


class UpdateSub(IntEnum):
    """RFC 4271 §6.3."""

    UNSPECIFIC = 0
    MALFORMED_ATTRIBUTE_LIST = 1
    UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE = 2
    MISSING_WELL_KNOWN_ATTRIBUTE = 3
    ATTRIBUTE_FLAGS_ERROR = 4
    ATTRIBUTE_LENGTH_ERROR = 5
    INVALID_ORIGIN_ATTRIBUTE = 6
    # 7 deprecated (AS routing loop)
    INVALID_NEXT_HOP_ATTRIBUTE = 8
    OPTIONAL_ATTRIBUTE_ERROR = 9
    INVALID_NETWORK_FIELD = 10
    MALFORMED_AS_PATH = 11


class FsmSub(IntEnum):
    """RFC 6608 §3: subcodes for the Finite State Machine Error."""

    UNSPECIFIED = 0
    UNEXPECTED_IN_OPENSENT = 1
    UNEXPECTED_IN_OPENCONFIRM = 2
    UNEXPECTED_IN_ESTABLISHED = 3


class CeaseSub(IntEnum):
    """RFC 4486 §4 (and RFC 8203 for the shutdown communication)."""

    UNSPECIFIC = 0
    MAXIMUM_PREFIXES_REACHED = 1
    ADMINISTRATIVE_SHUTDOWN = 2
    PEER_DECONFIGURED = 3
    ADMINISTRATIVE_RESET = 4
    CONNECTION_REJECTED = 5
    OTHER_CONFIGURATION_CHANGE = 6
    CONNECTION_COLLISION_RESOLUTION = 7
    OUT_OF_RESOURCES = 8
    HARD_RESET = 9  # RFC 8538 §3
    BFD_DOWN = 10  # RFC 9384


class RouteRefreshSub(IntEnum):
    """RFC 7313 §5: error subcode for ROUTE-REFRESH message error."""

    INVALID_MESSAGE_LENGTH = 1


class RefreshSubtype(IntEnum):
    """RFC 7313 §3: the reserved octet of a ROUTE-REFRESH becomes a message subtype."""

    NORMAL = 0
    BORR = 1  # beginning of route refresh
    EORR = 2  # end of route refresh


class State(IntEnum):
    """RFC 4271 §8.2.2 session states."""

    IDLE = 1
    CONNECT = 2
    ACTIVE = 3
    OPENSENT = 4
    OPENCONFIRM = 5
    ESTABLISHED = 6
