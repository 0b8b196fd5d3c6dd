"""Human-readable dumps of BGP messages, for `pyrr decode HEX` and for debugging captures.

`decode_hex` takes the hex of one or more concatenated messages (a TCP payload, say), cuts them
with the session's own `Framer`, decodes each with the session's own decoders, and describes what
it found, one fact a line. Where the session would reset, the dump says which NOTIFICATION it
would send (from the `BGPError`) and stops, as the session would. Only invalid hex raises.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv6Address

from .attributes import describe_attr
from .capabilities import Capabilities, decode_capabilities
from .constants import (
    AFI,
    AS2_LEN,
    AS4_LEN,
    AS_TRANS,
    ATTR_EXT_HEADER_LEN,
    ATTR_HEADER_LEN,
    HEADER_LEN,
    IPV4_ADDR_LEN,
    IPV6_ADDR_LEN,
    LLGR_AF_FORWARDING,
    MAX_AS2,
    MAX_EXTENDED_MESSAGE_LEN,
    MAX_MESSAGE_LEN,
    MP_REACH_HEAD_LEN,
    MP_UNREACH_HEAD_LEN,
    OPEN_EXT_PARAMS_HEAD_LEN,
    OPEN_FIXED_LEN,
    AddPathMode,
    AttrCode,
    AttrFlag,
    CapCode,
    ErrCode,
    HeaderSub,
    MsgType,
    OpenSub,
    OtherCapCode,
    ParamType,
    RefreshSubtype,
)
from .errors import BGPError, describe
from .messages import (
    Framer,
    check_keepalive,
    decode_notification,
    decode_open,
    decode_route_refresh,
)
from .nlri import IPV4_UNICAST, IPV6_UNICAST, Family, family_name, prefix_to_str, split_path_id
from .update import Update, UpdateContext, decode_update

__all__ = ["decode_bytes", "decode_hex", "parse_hex"]

# A run of separators, a 0x / \x prefix, a run of hex digits, or anything else (an error).
_TOKEN = re.compile(
    r"(?P<sep>[\s:,\-]+)|(?P<pre>0[xX]|\\[xX])|(?P<hex>[0-9a-fA-F]+)|(?P<bad>.)", re.DOTALL
)

# RFC 9234 §4.1: BGP Role values, one octet.
_ROLES = {0: "provider", 1: "route server", 2: "route server client", 3: "customer", 4: "peer"}
_ROLE_LEN = 1
_ADD_PATH_MODES = {
    AddPathMode.RECEIVE: "receive",
    AddPathMode.SEND: "send",
    AddPathMode.BOTH: "send/receive",
}
# RFC 4271 §4.3: the low four bits of the attribute flags octet are unused.
_UNUSED_FLAG_BITS = 0x0F
# RFC 4271 §6.1: Bad Message Length data is the 2-octet length field.
_LENGTH_FIELD_LEN = 2
# Where in an OPEN body the BGP Identifier is (RFC 4271 §4.2: after version, AS, hold time).
_OPEN_ID_AT = 5
_REFRESH_SUBTYPES: dict[int, str] = {
    RefreshSubtype.NORMAL: "normal route refresh (RFC 2918)",
    RefreshSubtype.BORR: "BoRR, beginning of route refresh (RFC 7313)",
    RefreshSubtype.EORR: "EoRR, end of route refresh (RFC 7313)",
}


# ---------------------------------------------------------------------------------------------
# Entry points


def parse_hex(text: str) -> bytes:
    """Bytes of hex text; spaces, newlines, colons, commas, dashes, `0x` and `\\x` are ignored.

    Raises ValueError naming the first offending character and its position. Empty text is
    zero bytes.
    """
    digits: list[str] = []
    for m in _TOKEN.finditer(text):
        if m.lastgroup == "hex":
            digits.append(m.group())
        elif m.lastgroup == "bad":
            raise ValueError(
                f"invalid hex: unexpected character {m.group()!r} at position {m.start()}"
            )
    joined = "".join(digits)
    if len(joined) % 2:
        raise ValueError(f"invalid hex: odd number of hex digits ({len(joined)})")
    return bytes.fromhex(joined)


def decode_hex(text: str, *, four_octet_as: bool = True, add_path: bool = False) -> str:
    """Describe the BGP messages in `text` (hex), one fact per line.

    `four_octet_as` and `add_path` stand for what the session negotiated: they change how an
    UPDATE's AS numbers and NLRI are read (RFC 6793, RFC 7911). Raises ValueError for bad hex
    only; a malformed message ends the dump with an `error:` line.
    """
    return decode_bytes(parse_hex(text), four_octet_as=four_octet_as, add_path=add_path)


def decode_bytes(data: bytes, *, four_octet_as: bool = True, add_path: bool = False) -> str:
    """`decode_hex` for bytes already in hand (a pcap payload, an MRT record)."""
    fams = frozenset({IPV4_UNICAST, IPV6_UNICAST})
    ctx = UpdateContext(
        four_octet_as=four_octet_as,
        families=fams,
        add_path_rx=fams if add_path else frozenset(),
    )
    if not data:
        return "no bytes to decode"
    return "\n".join(_describe_stream(bytes(data), ctx))


# ---------------------------------------------------------------------------------------------
# Framing


def _type_name(mtype: int) -> str:
    try:
        return f"{MsgType(mtype).name.replace('_', '-')} (type {mtype})"
    except ValueError:
        return f"unknown type {mtype}"


def _error_line(err: BGPError) -> str:
    data = f"data {err.data.hex()}" if err.data else "no data"
    text = (
        f"error: NOTIFICATION {describe(err.code, err.subcode)} "
        f"(code {err.code}, subcode {err.subcode}), {data}"
    )
    return f"{text}: {err.reason}" if err.reason else text


def _describe_stream(data: bytes, ctx: UpdateContext) -> Iterator[str]:
    # The Framer of a session with the extended message capability (RFC 8654): a capture may
    # come from one, and a longer message on a plain session is flagged below instead.
    framer = Framer(MAX_EXTENDED_MESSAGE_LEN)
    framer.feed(data)
    offset = 0
    index = 0
    while offset < len(data):
        index += 1
        have = len(data) - offset
        try:
            got = framer.next_message()
        except BGPError as err:
            if have >= HEADER_LEN:
                length, mtype = struct.unpack_from("!HB", data, offset + 16)
                yield f"#{index} {_type_name(mtype)}, length {length}, offset {offset}"
            else:
                yield f"#{index} offset {offset}"
            yield "  " + _error_line(err)
            return
        if got is None:
            if have < HEADER_LEN:
                yield (
                    f"#{index} truncated header at offset {offset}: have {have} of "
                    f"{HEADER_LEN} header bytes, at least {HEADER_LEN - have} bytes missing"
                )
            else:
                length, mtype = struct.unpack_from("!HB", data, offset + 16)
                yield (
                    f"#{index} truncated {_type_name(mtype)} at offset {offset}: have "
                    f"{have} of {length} bytes, {length - have} bytes missing"
                )
            return
        mtype, body = got
        length = HEADER_LEN + len(body)
        yield f"#{index} {_type_name(mtype)}, length {length}, offset {offset}"
        if length > MAX_MESSAGE_LEN:
            yield (
                f"  note: longer than {MAX_MESSAGE_LEN} octets: valid only after both sides "
                "advertised the extended message capability (RFC 8654)"
            )
        offset += length
        lines: list[str] = []
        failed = False
        try:
            _describe_message(mtype, body, ctx, lines)
        except BGPError as err:
            # The session would send this NOTIFICATION and close: nothing after it counts.
            lines.append(_error_line(err))
            failed = True
        yield from ("  " + line for line in lines)
        if failed:
            return


def _describe_message(mtype: int, body: bytes, ctx: UpdateContext, out: list[str]) -> None:
    """Append the lines describing one message body to `out`; BGPError if it is malformed."""
    if mtype == MsgType.OPEN:
        _describe_open(body, out)
    elif mtype == MsgType.UPDATE:
        _describe_update(body, ctx, out)
    elif mtype == MsgType.NOTIFICATION:
        _describe_notification(body, out)
    elif mtype == MsgType.KEEPALIVE:
        check_keepalive(body)
    elif mtype == MsgType.ROUTE_REFRESH:
        rr = decode_route_refresh(body)
        out.append(f"family: {family_name((rr.afi, rr.safi))}")
        out.append(
            "subtype: " + _REFRESH_SUBTYPES.get(rr.subtype, f"reserved {rr.subtype} (ignored)")
        )


# ---------------------------------------------------------------------------------------------
# OPEN and capabilities


def _asn_text(asn: int) -> str:
    # RFC 5396 §1: asdot shows a 4-octet AS as its two 2-octet halves.
    return f"{asn} (asdot {asn >> 16}.{asn & MAX_AS2})" if asn > MAX_AS2 else str(asn)


def _ip4(raw: bytes) -> str:
    return str(IPv4Address(raw))


def _describe_open(body: bytes, out: list[str]) -> None:
    version, my_as, hold, _router_id, plen = struct.unpack_from("!BHHIB", body)
    params = f"{plen} bytes"
    if (
        plen == ParamType.EXTENDED_LENGTH
        and len(body) >= OPEN_FIXED_LEN + OPEN_EXT_PARAMS_HEAD_LEN
        and body[OPEN_FIXED_LEN] == ParamType.EXTENDED_LENGTH
    ):
        # RFC 9072 §2: Non-Ext OP Len and Type both 255, then the 2-octet length.
        ext_len = struct.unpack_from("!H", body, OPEN_FIXED_LEN + 1)[0]
        params = f"{ext_len} bytes (RFC 9072 extended length)"
    try:
        opn = decode_open(body)
    except BGPError:
        # What the fixed fields said, so the reader sees what the error is about.
        out.append(f"version: {version}")
        out.append(f"my AS: {my_as}")
        out.append(f"hold time: {hold}")
        out.append(f"BGP identifier: {_ip4(body[_OPEN_ID_AT : _OPEN_ID_AT + IPV4_ADDR_LEN])}")
        out.append(f"optional parameters: {params}")
        raise
    out.append(f"version: {opn.version}")
    if opn.asn != my_as:
        trans = " = AS_TRANS" if my_as == AS_TRANS else ", does not match the capability"
        out.append(f"AS: {_asn_text(opn.asn)}; My AS field {my_as}{trans}")
    else:
        out.append(f"AS: {_asn_text(opn.asn)}")
    out.append(f"hold time: {hold}" + (" (no keepalives)" if hold == 0 else "s"))
    out.append(f"BGP identifier: {opn.router_id_str}")
    out.append(f"optional parameters: {params}")
    if not opn.raw_capabilities:
        out.append("capabilities: none (IPv4 unicast only, RFC 4760 §8)")
    for code, value in opn.raw_capabilities:
        out.append(_describe_capability(code, value))


def _cap_name(code: int) -> str:
    for names in (CapCode, OtherCapCode):
        try:
            return names(code).name
        except ValueError:
            pass
    return "unknown"


def _describe_capability(code: int, value: bytes) -> str:
    head = f"capability {code} {_cap_name(code)}"
    try:
        detail = _capability_detail(code, value)
    except BGPError as err:  # only from a NOTIFICATION's data: decode_open checked these
        detail = f"malformed ({err.reason}): {value.hex()}"
    return f"{head}: {detail}" if detail else head


def _capability_detail(code: int, value: bytes) -> str:
    caps = decode_capabilities([(code, value)])
    detail = _CAP_DETAILS.get(code)
    text = detail(caps, value) if detail is not None else None
    return text if text is not None else value.hex() or "(empty)"


# Each returns the text for one capability, or None for "show its hex".
def _multiprotocol_text(caps: Capabilities, value: bytes) -> str | None:
    return family_name(caps.families[0])


def _four_octet_as_text(caps: Capabilities, value: bytes) -> str | None:
    return None if caps.four_octet_as is None else _asn_text(caps.four_octet_as)


def _graceful_restart_text(caps: Capabilities, value: bytes) -> str | None:
    gr = caps.graceful_restart
    if gr is None:
        return None
    flags = ",".join(f for f, on in (("R", gr.restarting), ("N", gr.notification)) if on)
    fams = ", ".join(f"{family_name(fam)} F={int(fwd)}" for fam, fwd in gr.families)
    return f"flags {flags or '-'}, restart time {gr.restart_time}s; " + (fams or "no families")


def _long_lived_gr_text(caps: Capabilities, value: bytes) -> str | None:
    if caps.long_lived_gr is None:
        return None
    return (
        ", ".join(
            f"{family_name(fam)} F={int(bool(flags & LLGR_AF_FORWARDING))} stale time {stale}s"
            for fam, flags, stale in caps.long_lived_gr.families
        )
        or "no families"
    )


def _add_path_text(caps: Capabilities, value: bytes) -> str | None:
    return (
        ", ".join(f"{family_name(fam)} {_ADD_PATH_MODES[mode]}" for fam, mode in caps.add_path)
        or "no families"
    )


def _extended_next_hop_text(caps: Capabilities, value: bytes) -> str | None:
    return (
        ", ".join(
            f"{family_name(fam)} next hop {_afi_name(nh_afi)}"
            for fam, nh_afi in caps.extended_next_hop
        )
        or "no families"
    )


def _fqdn_text(caps: Capabilities, value: bytes) -> str | None:
    if caps.fqdn is None:
        return f"malformed: {value.hex()}"
    return f'hostname "{caps.fqdn[0]}" domain "{caps.fqdn[1]}"'


def _empty_text(caps: Capabilities, value: bytes) -> str | None:
    # RFC 2918 §2, RFC 7313 §4, RFC 8654 §3: these carry no value.
    return f"unexpected value {value.hex()} (ignored)" if value else ""


def _role_text(caps: Capabilities, value: bytes) -> str | None:
    if len(value) != _ROLE_LEN:
        return None
    return _ROLES.get(value[0], f"role {value[0]}")


def _software_version_text(caps: Capabilities, value: bytes) -> str | None:
    # draft-abraitis-bgp-version-capability: a length octet, then that much text.
    if not value or value[0] + 1 != len(value):
        return None
    return '"' + value[1:].decode("utf-8", "replace") + '"'


_CAP_DETAILS: dict[int, Callable[[Capabilities, bytes], str | None]] = {
    CapCode.MULTIPROTOCOL: _multiprotocol_text,
    CapCode.FOUR_OCTET_AS: _four_octet_as_text,
    CapCode.GRACEFUL_RESTART: _graceful_restart_text,
    CapCode.LONG_LIVED_GRACEFUL_RESTART: _long_lived_gr_text,
    CapCode.ADD_PATH: _add_path_text,
    CapCode.EXTENDED_NEXT_HOP: _extended_next_hop_text,
    CapCode.FQDN: _fqdn_text,
    CapCode.ROUTE_REFRESH: _empty_text,
    CapCode.ROUTE_REFRESH_CISCO: _empty_text,
    CapCode.ENHANCED_ROUTE_REFRESH: _empty_text,
    CapCode.EXTENDED_MESSAGE: _empty_text,
    OtherCapCode.BGP_ROLE: _role_text,
    OtherCapCode.SOFTWARE_VERSION: _software_version_text,
}


def _afi_name(afi: int) -> str:
    try:
        return AFI(afi).name.lower()
    except ValueError:
        return f"afi{afi}"


# ---------------------------------------------------------------------------------------------
# NOTIFICATION


def _describe_notification(body: bytes, out: list[str]) -> None:
    note = decode_notification(body)
    out.append(f"notification: {note.name} (code {note.code}, subcode {note.subcode})")
    msg = note.shutdown_message
    if msg is not None:
        out.append(f'shutdown communication: "{msg}" (RFC 9003)')
        extra = note.data[1 + note.data[0] :]
        if extra:
            out.append(f"trailing data: {extra.hex()}")
        return
    data = note.data
    if not data:
        return
    out.append(f"data: {data.hex()}")
    if (
        note.code == ErrCode.MESSAGE_HEADER
        and len(data) == _LENGTH_FIELD_LEN
        and (note.subcode == HeaderSub.BAD_MESSAGE_LENGTH)
    ):
        out.append(f"bad length: {int.from_bytes(data, 'big')}")
    elif note.code == ErrCode.MESSAGE_HEADER and note.subcode == HeaderSub.BAD_MESSAGE_TYPE:
        out.append(f"bad type: {data[0]}")
    elif note.code == ErrCode.OPEN_MESSAGE and note.subcode == OpenSub.UNSUPPORTED_VERSION_NUMBER:
        out.append(f"supported version: {int.from_bytes(data[:2], 'big')}")
    elif note.code == ErrCode.OPEN_MESSAGE and note.subcode == OpenSub.UNSUPPORTED_CAPABILITY:
        # RFC 5492 §5: the data field lists the unsupported capabilities as TLVs.
        pos = 0
        while pos + 2 <= len(data) and pos + 2 + data[pos + 1] <= len(data):
            length = data[pos + 1]
            value = data[pos + 2 : pos + 2 + length]
            out.append("unsupported " + _describe_capability(data[pos], value))
            pos += 2 + length
    elif note.code == ErrCode.CEASE and data.isascii() and data.decode().isprintable():
        out.append(f'data as text: "{data.decode()}"')


# ---------------------------------------------------------------------------------------------
# UPDATE


def _flags_text(flags: int) -> str:
    opt, trans = flags & AttrFlag.OPTIONAL, flags & AttrFlag.TRANSITIVE
    if opt:
        kind = "optional transitive" if trans else "optional non-transitive"
    else:
        kind = "well-known" if trans else "well-known non-transitive (invalid)"
    parts = [kind]
    if flags & AttrFlag.PARTIAL:
        parts.append("partial")
    if flags & AttrFlag.EXTENDED_LENGTH:
        parts.append("extended length")
    if flags & _UNUSED_FLAG_BITS:
        parts.append(f"unused bits 0x{flags & _UNUSED_FLAG_BITS:x}")
    return f"flags 0x{flags:02x} " + ", ".join(parts)


def _next_hop_text(nh: bytes) -> str:
    if len(nh) == IPV4_ADDR_LEN:
        return _ip4(nh)
    if len(nh) == IPV6_ADDR_LEN:
        return str(IPv6Address(nh))
    if len(nh) == 2 * IPV6_ADDR_LEN:
        # RFC 2545 §3: global address, then link-local address.
        return f"{IPv6Address(nh[:IPV6_ADDR_LEN])} link-local {IPv6Address(nh[IPV6_ADDR_LEN:])}"
    return f"0x{nh.hex()}" if nh else "(none)"


def _mp_reach_text(v: bytes) -> str:
    if len(v) < MP_REACH_HEAD_LEN:
        return f"MP_REACH_NLRI(malformed: {v.hex()})"
    afi, safi, nhlen = struct.unpack_from("!HBB", v)
    fam = family_name((afi, safi))
    if MP_REACH_HEAD_LEN + nhlen > len(v):
        return f"MP_REACH_NLRI {fam}, next hop overruns the attribute ({v.hex()})"
    # RFC 4760 §3: AFI, SAFI, next hop length, next hop, reserved octet, NLRI.
    nh_at = MP_REACH_HEAD_LEN - 1
    nh = v[nh_at : nh_at + nhlen]
    reserved = v[nh_at + nhlen]
    nlri_len = len(v) - MP_REACH_HEAD_LEN - nhlen
    text = f"MP_REACH_NLRI {fam}, next hop {_next_hop_text(nh)}, NLRI {nlri_len} bytes"
    return text + (f", reserved octet {reserved}" if reserved else "")


def _mp_unreach_text(v: bytes) -> str:
    if len(v) < MP_UNREACH_HEAD_LEN:
        return f"MP_UNREACH_NLRI(malformed: {v.hex()})"
    afi, safi = struct.unpack_from("!HB", v)
    n = len(v) - MP_UNREACH_HEAD_LEN
    return f"MP_UNREACH_NLRI {family_name((afi, safi))}, " + (
        f"NLRI {n} bytes" if n else "no NLRI (End-of-RIB)"
    )


def _walk_attrs(body: bytes, start: int, end: int) -> Iterator[tuple[int, int, bytes] | str]:
    """The attributes as they are on the wire; a string where the field stops making sense."""
    pos = start
    while pos < end:
        if end - pos < ATTR_HEADER_LEN:
            yield f"{end - pos} stray bytes at the end of the attribute field"
            return
        flags, code = body[pos], body[pos + 1]
        if flags & AttrFlag.EXTENDED_LENGTH:
            if end - pos < ATTR_EXT_HEADER_LEN:
                yield f"attribute {code}: header truncated"
                return
            length = struct.unpack_from("!H", body, pos + 2)[0]
            vstart = pos + ATTR_EXT_HEADER_LEN
        else:
            length = body[pos + 2]
            vstart = pos + ATTR_HEADER_LEN
        if vstart + length > end:
            yield (
                f"attribute {code} ({_flags_text(flags)}): length {length} overruns the "
                f"attribute field by {vstart + length - end} bytes"
            )
            return
        yield flags, code, body[vstart : vstart + length]
        pos = vstart + length


def _prefix_text(item: bytes, fam: Family, addpath: bool) -> str:
    if addpath:
        path_id, pfx = split_path_id(item)
        return f"{prefix_to_str(pfx, fam)} path-id {path_id}"
    return prefix_to_str(item, fam)


def _describe_update(body: bytes, ctx: UpdateContext, out: list[str]) -> None:
    n = len(body)
    asn_size = AS4_LEN if ctx.four_octet_as else AS2_LEN
    wlen = struct.unpack_from("!H", body)[0]
    # How many withdrawn groups come from the message itself: decode_update appends the
    # treat-as-withdraw ones after these.
    own_withdrawn = 1 if wlen else 0
    layout = [f"withdrawn routes: {wlen} bytes"]
    if 2 + wlen + 2 <= n:
        alen = struct.unpack_from("!H", body, 2 + wlen)[0]
        astart = 4 + wlen
        layout.append(f"path attributes: {alen} bytes")
        if astart + alen <= n:
            layout.append(f"NLRI: {n - astart - alen} bytes")
        out.append(", ".join(layout))
        for item in _walk_attrs(body, astart, min(astart + alen, n)):
            if isinstance(item, str):
                out.append(f"attribute field: {item}")
                continue
            flags, code, value = item
            if code == AttrCode.MP_REACH_NLRI:
                text = _mp_reach_text(value)
            elif code == AttrCode.MP_UNREACH_NLRI:
                text = _mp_unreach_text(value)
                fam = (
                    struct.unpack_from("!HB", value) if len(value) >= MP_UNREACH_HEAD_LEN else None
                )
                if len(value) > MP_UNREACH_HEAD_LEN and fam in ctx.families:
                    own_withdrawn += 1
            else:
                text = describe_attr(code, flags, value, asn_size)
            out.append(f"attribute {text} ({_flags_text(flags)})")
    else:
        out.append(", ".join(layout))
    upd = decode_update(body, ctx)
    _describe_routes(upd, ctx, own_withdrawn, out)


def _describe_routes(upd: Update, ctx: UpdateContext, own_withdrawn: int, out: list[str]) -> None:
    if upd.error:
        out.append(f"treat-as-withdraw: {upd.error}")
    for i, (fam, prefixes) in enumerate(upd.withdrawn):
        label = "withdrawn" if i < own_withdrawn or not upd.error else "treat-as-withdraw"
        addpath = fam in ctx.add_path_rx
        for pfx in prefixes:
            out.append(f"{label} {family_name(fam)}: {_prefix_text(pfx, fam, addpath)}")
    for fam, nh, prefixes in upd.announced:
        addpath = fam in ctx.add_path_rx
        out.append(f"next hop {family_name(fam)}: {_next_hop_text(nh)}")
        for pfx in prefixes:
            out.append(f"announced {family_name(fam)}: {_prefix_text(pfx, fam, addpath)}")
    if upd.end_of_rib is not None:
        out.append(f"End-of-RIB: {family_name(upd.end_of_rib)}")
    for note in upd.notes:
        out.append(f"note: {note}")
