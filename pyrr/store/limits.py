"""What pyrr accepts for a setting, wherever the setting comes from.

The TOML file (pyrr.store.file.toml_config), the environment and the command line
(pyrr.store.file.environment, pyrr.store.file.text_values, pyrr.store.file.merge) and Calico's
datastore (pyrr.store.calico.resources, pyrr.store.calico.desired) each word their own messages,
naming the key, variable, option or resource field the operator wrote; what they accept is
decided here, once: the ranges, the spellings, what counts as a unicast address, and how much
of a rejected value a message quotes back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Final, TypeGuard

from ..bgp.constants import MIN_HOLD_TIME
from ..config import IPAddress, NextHopMode

MAX_ASN: Final = 2**32 - 1  # RFC 6793: four-octet AS numbers
MAX_PORT: Final = 65535
MAX_HOLD_TIME: Final = 65535  # RFC 4271 §4.2: a 2-octet field
MAX_RESTART_TIME: Final = 4095  # RFC 4724 §3: a 12-bit field
# Not a protocol limit: a bound keeps timer arithmetic sane (a retry of 1e400 s overflows a float).
MAX_CONNECT_RETRY: Final = 65535
MAX_PASSWORD_BYTES: Final = 80  # Linux TCP_MD5SIG_MAXKEYLEN for RFC 2385 keys
MAX_TTL_SECURITY: Final = 254  # RFC 5082: hops; the minimum accepted TTL is 255 - hops
MAX_CLUSTER_ID: Final = 2**32 - 1  # RFC 4456: 4 octets
MAX_SOCKET_PATH_BYTES: Final = 107  # unix(7): sun_path is 108 bytes with the final NUL
# A keepalive interval in seconds (BIRD's range for `keepalive time`); RFC 4271 §10 suggests a
# third of the hold time, and it must be shorter than the hold time to be of any use.
MIN_KEEPALIVE: Final = 1
MAX_KEEPALIVE: Final = 65535
# RFC 7911 ADD-PATH: paths per prefix sent to one peer. The RFC sets no limit; every extra path
# is another Adj-RIB-Out entry per prefix and peer group, so pyrr stops at a generous 64.
MAX_ADD_PATH_SEND: Final = 64
# RFC 5396 asdot: each half of "high.low" is a 2-octet number.
MAX_ASDOT_HALF: Final = 0xFFFF
# How much of a rejected value a message quotes (values can be long, or secrets' neighbours).
MAX_QUOTED: Final = 60

# The wording of the ranges, shared by the messages of every source.
ASN_RANGE: Final = f"an AS number between 1 and {MAX_ASN}"
PORT_RANGE: Final = f"a TCP port between 1 and {MAX_PORT}"
HOLD_TIME_RANGE: Final = f"0 or between {MIN_HOLD_TIME} and {MAX_HOLD_TIME} seconds (RFC 4271 §4.2)"
KEEPALIVE_RANGE: Final = f"between {MIN_KEEPALIVE} and {MAX_KEEPALIVE} seconds"
RESTART_TIME_RANGE: Final = f"between 0 and {MAX_RESTART_TIME} seconds (RFC 4724 §3)"
ADD_PATH_SEND_RANGE: Final = (
    f"between 1 and {MAX_ADD_PATH_SEND} paths per prefix (1 = the best path only, RFC 7911)"
)

# The next-hop modes by Calico's spelling (BGPPeer nextHopMode); pyrr's TOML writes the values.
NEXT_HOP_MODES: Final = {
    "Auto": NextHopMode.AUTO,
    "Self": NextHopMode.SELF,
    "Keep": NextHopMode.KEEP,
}

# RFC 4486 §4: what to do when a peer sends more than max_prefixes.
MAX_PREFIXES_ACTIONS: Final = ("cease", "warn")

# pyrr.log's level names by the spellings operators write, any case: BIRD's and Calico's
# logSeverityScreen words, and "warn", which Python's logging and many operators write.
LOG_LEVELS: Final = {
    "debug": "debug",
    "info": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
    "fatal": "fatal",
    "none": "none",
}
# A configuration file's log_level takes the everyday ones; fatal and none are
# calico/routereflector's words (BGP_LOGSEVERITYSCREEN, logSeverityScreen).
FILE_LOG_LEVELS: Final = {
    spelling: level for spelling, level in LOG_LEVELS.items() if level not in ("fatal", "none")
}

_ASDOT: Final = re.compile(r"([0-9]{1,5})\.([0-9]{1,5})\Z", re.ASCII)
_IPV4_BROADCAST: Final = IPv4Address("255.255.255.255")
_NO_ROUTER_ID: Final = IPv4Address(0)


def valid_asn(number: int) -> bool:
    return 1 <= number <= MAX_ASN


def asdot(text: str) -> int | None:
    """RFC 5396 asdot ("1.10" = 65546) as a number; None when `text` is not written that way."""
    m = _ASDOT.match(text)
    if m is None:
        return None
    high, low = int(m.group(1)), int(m.group(2))
    if high > MAX_ASDOT_HALF or low > MAX_ASDOT_HALF:
        return None
    return (high << 16) | low


def valid_port(number: int) -> bool:
    return 1 <= number <= MAX_PORT


def is_port(value: object) -> TypeGuard[int]:
    """A TCP port as a parsed JSON or TOML value: an integer (not a boolean) in range."""
    return isinstance(value, int) and not isinstance(value, bool) and valid_port(value)


def valid_hold_time(seconds: int) -> bool:
    # RFC 4271 §4.2: zero (no keepalives) or at least three seconds; the field is 2 octets.
    return seconds == 0 or MIN_HOLD_TIME <= seconds <= MAX_HOLD_TIME


def valid_keepalive(seconds: int) -> bool:
    return MIN_KEEPALIVE <= seconds <= MAX_KEEPALIVE


def valid_restart_time(seconds: int) -> bool:
    return 0 <= seconds <= MAX_RESTART_TIME


def valid_add_path_send(count: int) -> bool:
    return 1 <= count <= MAX_ADD_PATH_SEND


def next_hop_mode(text: str) -> NextHopMode | None:
    """A next-hop mode written either way ("self", "Self", " KEEP "), or None."""
    try:
        return NextHopMode(text.strip().lower())
    except ValueError:
        return None


def valid_password_size(size: int) -> bool:
    """An RFC 2385 key of `size` bytes (its UTF-8 encoding) fits the kernel's."""
    return 1 <= size <= MAX_PASSWORD_BYTES


def cluster_id_number(value: object) -> IPv4Address | None:
    """A cluster id written as an integer (RFC 4456: 4 octets); None when it is not one."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_CLUSTER_ID:
        return IPv4Address(value)
    return None


def valid_router_id(router_id: IPv4Address) -> bool:
    # RFC 6286 §2.1: a BGP Identifier is any non-zero 4-octet number.
    return router_id != _NO_ROUTER_ID


def is_unicast(address: IPAddress) -> bool:
    """An address one end of a TCP connection can have: not unspecified, multicast or the IPv4
    broadcast address."""
    if address.is_unspecified or address.is_multicast:
        return False
    return address != _IPV4_BROADCAST


def valid_listen_address(address: IPAddress) -> bool:
    # A local address to bind, or 0.0.0.0 / :: for all of them.
    return not address.is_multicast


def normal_log_level(text: str, levels: Mapping[str, str] = LOG_LEVELS) -> str | None:
    """pyrr.log's name for the level `text` spells (blanks and case ignored), or None."""
    return levels.get(text.strip().lower())


def clip(text: str) -> str:
    """`text` quoted for a message, cut after MAX_QUOTED characters."""
    return repr(text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED] + "...")


def parse_host_port(text: str) -> tuple[str, int]:
    """Split "127.0.0.1:9179" or "[::1]:9179" into (address, port); ValueError otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not isinstance(ip_address(host), IPv6Address):
            raise ValueError(f"{host} in brackets is not an IPv6 address")
    elif ":" in host:
        raise ValueError("write an IPv6 address in brackets, like [::1]:9179")
    if not sep or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= MAX_PORT:
        raise ValueError("expected ADDRESS:PORT with a port between 1 and 65535")
    return str(ip_address(host)), int(port)
