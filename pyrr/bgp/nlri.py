"""NLRI prefixes (RFC 4271 §4.3, RFC 4760 §5, RFC 7911 §3) kept in their wire form.

A prefix is represented by its own wire bytes: one length octet, then ceil(len/8) prefix octets,
host bits cleared. That `bytes` object is hashable, compact, and is exactly what an outbound
UPDATE needs, so a route moves from socket to sockets without ever becoming an `ip_network`.
With ADD-PATH (RFC 7911 §3) the 4-octet path identifier is kept in front of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from ipaddress import IPv4Network, IPv6Network, ip_network
from operator import itemgetter
from struct import Struct

from .constants import AFI, IPV4_ADDR_LEN, IPV6_ADDR_LEN, SAFI, ErrCode, UpdateSub
from .errors import BGPError

Family = tuple[int, int]
IPV4_UNICAST: Family = (AFI.IPV4, SAFI.UNICAST)
IPV6_UNICAST: Family = (AFI.IPV6, SAFI.UNICAST)
SUPPORTED_FAMILIES: tuple[Family, ...] = (IPV4_UNICAST, IPV6_UNICAST)

_MAX_BITS = {AFI.IPV4: 8 * IPV4_ADDR_LEN, AFI.IPV6: 8 * IPV6_ADDR_LEN}
# RFC 7911 §3: the path identifier in front of an ADD-PATH prefix.
PATH_ID_LEN = 4
# The longest NLRI item: an ADD-PATH IPv6 /128, path id + length octet + 16 octets.
MAX_PREFIX_ITEM_LEN = PATH_ID_LEN + 1 + IPV6_ADDR_LEN
# Mask that keeps the significant bits of the last octet, by (prefix length % 8).
_LAST_OCTET_MASK = bytes((0xFF, 0x80, 0xC0, 0xE0, 0xF0, 0xF8, 0xFC, 0xFE))
# The last octets without host bits, by (prefix length % 8): what `bytes.translate` deletes to
# find one with host bits set in a whole field at once.
_CLEAN_LAST_OCTETS = tuple(
    bytes(v for v in range(256) if v & ~m & 0xFF == 0) for m in _LAST_OCTET_MASK
)

# `Struct(f"{n}s").iter_unpack` by record size n: cuts a field of same-size prefixes in C.
_CUTS: dict[int, Callable[[bytes], Iterator[tuple[bytes]]]] = {}
_FIRST = itemgetter(0)


def family_name(family: Family) -> str:
    afi, safi = family
    try:
        a = AFI(afi).name.lower()
    except ValueError:
        a = f"afi{afi}"
    try:
        s = SAFI(safi).name.lower()
    except ValueError:
        s = f"safi{safi}"
    return f"{a}-{s}"


def parse_prefixes(
    data: bytes | memoryview,
    afi: int,
    addpath: bool = False,
    subcode: int = UpdateSub.INVALID_NETWORK_FIELD,
) -> list[bytes]:
    """Split an NLRI field into wire-form prefixes.

    A length beyond the address size or a prefix running past the field cannot be skipped
    (the rest of the field can no longer be located), so RFC 7606 §5.3 leaves session reset as
    the only answer: we raise `BGPError(UPDATE, subcode)`. The caller picks the subcode:
    INVALID_NETWORK_FIELD for the UPDATE body (RFC 4271 §6.3), OPTIONAL_ATTRIBUTE_ERROR inside
    MP_REACH/MP_UNREACH (RFC 4760 §7).
    """
    max_bits = _MAX_BITS.get(afi, 128)  # type: ignore[call-overload]
    buf = bytes(data)  # indexing and slicing bytes is cheaper than a memoryview
    head = PATH_ID_LEN + 1 if addpath else 1  # (path id +) the length octet
    uniform = _uniform(buf, head, max_bits)
    if uniform is not None:
        return uniform
    return _walk(buf, head, max_bits, subcode)


def _uniform(buf: bytes, head: int, max_bits: int) -> list[bytes] | None:
    """The field cut in one pass when every prefix has the same length and no host bits (a
    Calico node's blocks, a full table of /26s): the lengths and last octets are checked by
    slicing and `translate` in C, not per prefix. None: not such a field, walk it instead."""
    end = len(buf)
    if end < head:
        return None
    plen = buf[head - 1]
    if plen > max_bits:
        return None
    size = head + ((plen + 7) >> 3)
    count, extra = divmod(end, size)
    if extra or buf[head - 1 :: size] != bytes((plen,)) * count:
        return None
    rem = plen & 7
    if rem and buf[size - 1 :: size].translate(None, _CLEAN_LAST_OCTETS[rem]):
        return None  # host bits somewhere: the walk clears them
    # Cut in C: fixed-size records, each the bytes of one prefix (a third faster than slicing
    # in a comprehension, on the path of every UPDATE).
    cut = _CUTS.get(size)
    if cut is None:
        cut = _CUTS[size] = Struct(f"{size}s").iter_unpack
    return list(map(_FIRST, cut(buf)))


def _walk(buf: bytes, head: int, max_bits: int, subcode: int) -> list[bytes]:
    """The field walked prefix by prefix, checking each (see `parse_prefixes`)."""
    end = len(buf)
    out: list[bytes] = []
    append = out.append
    pos = 0
    last_mask = _LAST_OCTET_MASK
    while pos < end:
        if pos + head > end:
            raise BGPError(ErrCode.UPDATE_MESSAGE, subcode, reason="NLRI truncated")
        plen = buf[pos + head - 1]
        if plen > max_bits:
            raise BGPError(
                ErrCode.UPDATE_MESSAGE, subcode, reason=f"prefix length {plen} > {max_bits}"
            )
        stop = pos + head + ((plen + 7) >> 3)
        if stop > end:
            raise BGPError(ErrCode.UPDATE_MESSAGE, subcode, reason="NLRI prefix overruns field")
        item = buf[pos:stop]
        rem = plen & 7
        if rem and item[-1] & ~last_mask[rem] & 0xFF:
            # Host bits set: RFC 4271 §4.3 says trailing bits are irrelevant; clear them so that
            # one prefix has one key.
            item = item[:-1] + bytes((item[-1] & last_mask[rem],))
        append(item)
        pos = stop
    return out


def encode_prefix(net: IPv4Network | IPv6Network, path_id: int | None = None) -> bytes:
    plen = net.prefixlen
    body = net.network_address.packed[: (plen + 7) >> 3]
    head = bytes((plen,))
    if path_id is not None:
        head = path_id.to_bytes(PATH_ID_LEN, "big") + head
    return head + body


def decode_prefix(item: bytes, afi: int, addpath: bool = False) -> IPv4Network | IPv6Network:
    """The `ip_network` for one wire-form prefix (for display and config, not the hot path)."""
    if addpath:
        item = item[PATH_ID_LEN:]
    plen = item[0]
    size = IPV4_ADDR_LEN if afi == AFI.IPV4 else IPV6_ADDR_LEN
    raw = item[1:] + bytes(size - (len(item) - 1))
    return ip_network((raw, plen))


def split_path_id(item: bytes) -> tuple[int, bytes]:
    """RFC 7911 §3: (path identifier, prefix) of an ADD-PATH NLRI item."""
    return int.from_bytes(item[:PATH_ID_LEN], "big"), item[PATH_ID_LEN:]


def prefix_from_str(text: str) -> tuple[Family, bytes]:
    net = ip_network(text, strict=False)
    fam = IPV4_UNICAST if isinstance(net, IPv4Network) else IPV6_UNICAST
    return fam, encode_prefix(net)


def prefix_to_str(item: bytes, family: Family, addpath: bool = False) -> str:
    return str(decode_prefix(item, family[0], addpath))
