"""Regression tests for what the hostile-peer suite (tests/hostile) and the atheris runs
(docs/fuzzing.md) found, plus the real captures of fuzz/captured/ through every fuzz target.

Each finding is reproduced at the smallest level that shows it; the hostile suite keeps the
end-to-end version over real sockets.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from fuzz.run_atheris import seeds
from fuzz.targets import SESSION_SCENARIOS, fuzz_framer, fuzz_session, fuzz_update
from pyrr.bgp.attributes import PathAttrs
from pyrr.bgp.capabilities import Capabilities, decode_capabilities
from pyrr.bgp.constants import (
    MAX_EXTENDED_MESSAGE_LEN,
    MAX_MESSAGE_LEN,
    AddPathMode,
    AttrCode,
    AttrFlag,
    ErrCode,
    MsgType,
    OpenSub,
    State,
)
from pyrr.bgp.encode import pack_announce
from pyrr.bgp.events import SessionDown
from pyrr.bgp.fsm import Session
from pyrr.bgp.messages import KEEPALIVE, Framer, Open, decode_open
from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, Family
from pyrr.bgp.update import UpdateContext, decode_update

from .helpers import config, rid

CAPTURED = Path(__file__).resolve().parents[2] / "fuzz" / "captured"

# -- 1. Oversized reflected UPDATEs (hostile: hdr-extended-message-allowed,
#       as-path-1000-segments, reflected-update-outgrows-4096) --------------------------------


def _big_attrs(size: int) -> PathAttrs:
    comms = b"".join(struct.pack("!HH", 64512, i) for i in range(size // 4))
    return PathAttrs(
        [
            (AttrCode.ORIGIN, AttrFlag.TRANSITIVE, b"\x00"),
            (AttrCode.AS_PATH, AttrFlag.TRANSITIVE, b""),
            (AttrCode.LOCAL_PREF, AttrFlag.TRANSITIVE, struct.pack("!I", 100)),
            (AttrCode.COMMUNITIES, AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE, comms),
        ]
    )


def _frame_all(blob: bytes, max_length: int) -> list[tuple[int, bytes]]:
    f = Framer(max_length)
    f.feed(blob)
    out = []
    while (m := f.next_message()) is not None:
        out.append(m)
    return out


@pytest.mark.parametrize(
    ("family", "next_hop", "prefixes"),
    [
        (IPV4_UNICAST, bytes((10, 0, 0, 1)), [bytes((24, 10, 99, 1)), bytes((26, 10, 99, 2, 64))]),
        (IPV6_UNICAST, bytes(16), [bytes((64,)) + bytes(8)]),
    ],
)
def test_announcement_too_big_for_the_peer_becomes_a_withdrawal(
    family: Family, next_hop: bytes, prefixes: list[bytes]
) -> None:
    """Found by the hostile suite: a route whose attributes fill more than 4096 octets was
    sent to peers without extended messages as one oversized UPDATE, and each of them reset
    its session (1/2 Bad Message Length): one client could disconnect every Calico node.
    RFC 8654 §4: not sent; treat-as-withdraw instead."""
    attrs = _big_attrs(4100)
    msgs = pack_announce(family, attrs.wire, next_hop, prefixes, MAX_MESSAGE_LEN)
    assert msgs and all(len(m) <= MAX_MESSAGE_LEN for m in msgs)
    blob = b"".join(msgs)
    ctx = UpdateContext(families=frozenset({IPV4_UNICAST, IPV6_UNICAST}))
    withdrawn: list[bytes] = []
    for mtype, body in _frame_all(blob, MAX_MESSAGE_LEN):
        assert mtype == MsgType.UPDATE
        upd = decode_update(body, ctx)
        assert not upd.announced
        withdrawn += [p for _f, ps in upd.withdrawn for p in ps]
    assert sorted(withdrawn) == sorted(prefixes)
    # A peer with extended messages still gets the announcement, in one message.
    ext = pack_announce(family, attrs.wire, next_hop, prefixes, MAX_EXTENDED_MESSAGE_LEN)
    assert len(ext) == 1 and MAX_MESSAGE_LEN < len(ext[0]) <= MAX_EXTENDED_MESSAGE_LEN


def test_announcement_that_fits_is_unchanged() -> None:
    attrs = _big_attrs(4000)
    prefixes = [bytes((24, 10, 99, i)) for i in range(3)]
    msgs = pack_announce(IPV4_UNICAST, attrs.wire, bytes((10, 0, 0, 1)), prefixes, MAX_MESSAGE_LEN)
    ctx = UpdateContext(families=frozenset({IPV4_UNICAST}))
    got = [decode_update(b, ctx) for _t, b in _frame_all(b"".join(msgs), MAX_MESSAGE_LEN)]
    assert [p for u in got for _f, _nh, ps in u.announced for p in ps] == prefixes
    assert not any(u.withdrawn for u in got)


# -- 2. Contradicting 4-octet AS capabilities (hostile: open-dup-as4-first-wrong) -------------


def _caps_tlv(*caps: tuple[int, bytes]) -> bytes:
    tlvs = b"".join(bytes((c, len(v))) + v for c, v in caps)
    return bytes((2, len(tlvs))) + tlvs


def _open_with(*caps: tuple[int, bytes], asn: int = 64512) -> bytes:
    params = _caps_tlv(*caps)
    body = struct.pack("!BHHIB", 4, asn, 90, rid("10.0.0.2"), len(params)) + params
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), MsgType.OPEN) + body


@pytest.mark.parametrize("values", [(65099, 64512), (64512, 65099), (64512, 64512, 4200000000)])
def test_contradicting_as4_capabilities_are_bad_peer_as(values: tuple[int, ...]) -> None:
    """Found by the hostile suite: with two 4-octet AS capabilities the last one won, so an
    OPEN announcing AS 65099 and then AS 64512 was admitted as AS 64512. RFC 4271 §6.2."""
    s = Session(config())
    s.connection_made(0.0)
    s.data_to_send()
    s.receive_data(_open_with(*[(65, struct.pack("!I", v)) for v in values]), 1.0)
    down = [e for e in s.events() if isinstance(e, SessionDown)]
    assert down and down[0].notification is not None
    n = down[0].notification
    assert (n.code, n.subcode) == (ErrCode.OPEN_MESSAGE, OpenSub.BAD_PEER_AS)


def test_repeated_identical_as4_capability_is_accepted() -> None:
    """RFC 5492 §4: a capability may repeat; the same AS twice is not a contradiction."""
    s = Session(config())
    s.connection_made(0.0)
    as4 = (65, struct.pack("!I", 64512))
    s.receive_data(_open_with((1, b"\x00\x01\x00\x01"), as4, as4) + KEEPALIVE, 1.0)
    assert s.state == State.ESTABLISHED


# -- 3. ADD-PATH with an undefined Send/Receive value (hostile: open-addpath-bad-mode) --------


@pytest.mark.parametrize("mode", [0, 4, 255])
def test_add_path_bad_mode_is_treated_as_not_received(mode: int) -> None:
    """Found by the hostile suite: the OPEN was refused (2/0). RFC 7911 §4: "If any other
    value is received, then the capability SHOULD be treated as not received"."""
    value = b"\x00\x01\x01\x03" + b"\x00\x02\x01" + bytes((mode,))
    caps = decode_capabilities([(69, value)])
    assert caps.add_path == ()
    assert caps.add_path_mode(IPV4_UNICAST) == AddPathMode.NONE
    op = decode_open(_open_with((1, b"\x00\x01\x00\x01"), (69, value))[19:])
    assert op.capabilities.add_path == ()
    s = Session(config())
    s.connection_made(0.0)
    s.receive_data(
        _open_with((1, b"\x00\x01\x00\x01"), (65, struct.pack("!I", 64512)), (69, value))
        + KEEPALIVE,
        1.0,
    )
    assert s.state == State.ESTABLISHED
    assert s.update_context.add_path_rx == frozenset()


def test_add_path_good_modes_still_decoded() -> None:
    caps = decode_capabilities([(69, b"\x00\x01\x01\x03\x00\x02\x01\x01")])
    assert caps.add_path == ((IPV4_UNICAST, AddPathMode.BOTH), (IPV6_UNICAST, AddPathMode.RECEIVE))


# -- 4. Real captures through every fuzz target -------------------------------------------------


CAPTURE_FILES = sorted(p.name for p in CAPTURED.glob("*.bin"))


def test_captures_exist_for_every_daemon() -> None:
    """fuzz/capture_corpus.py recorded BIRD 1.6, BIRD 2, FRR and GoBGP (OPEN and UPDATEs)."""
    names = {n.split("_", 1)[0] for n in CAPTURE_FILES}
    assert {"bird16v4", "bird16v6", "bird2v4", "bird2v6", "frr", "gobgp"} <= names
    for daemon in ("bird16v4", "bird2v4", "frr", "gobgp"):
        assert any(n.startswith(daemon) and n.endswith("_open.bin") for n in CAPTURE_FILES)
        assert any(n.startswith(daemon) and n.endswith("_update.bin") for n in CAPTURE_FILES)


@pytest.mark.parametrize("name", CAPTURE_FILES)
def test_every_target_accepts_each_capture(name: str) -> None:
    data = (CAPTURED / name).read_bytes()
    assert data[:16] == b"\xff" * 16 and struct.unpack_from("!H", data, 16)[0] == len(data)
    fuzz_framer(data)
    fuzz_update(data[19:])
    for scenario in range(len(SESSION_SCENARIOS)):
        fuzz_session(bytes((scenario,)) + data)


def test_captured_opens_are_accepted_by_pyrr() -> None:
    """Every captured OPEN brings a pyrr session (configured for AS 64512) to Established."""
    for name in CAPTURE_FILES:
        if not name.endswith("_open.bin"):
            continue
        raw = (CAPTURED / name).read_bytes()
        op = decode_open(raw[19:])
        assert isinstance(op, Open) and op.asn == 64512, name
        s = Session(
            config(
                capabilities=Capabilities(
                    families=(IPV4_UNICAST, IPV6_UNICAST), route_refresh=True, four_octet_as=64512
                )
            )
        )
        s.connection_made(0.0)
        s.receive_data(raw + KEEPALIVE, 1.0)
        assert s.state == State.ESTABLISHED, (name, s.events())


def test_session_seed_streams_replay() -> None:
    """The atheris session seeds (one captured conversation per daemon) pass the target."""
    streams = {k: v for k, v in seeds("session").items() if k.startswith("stream-")}
    assert len(streams) >= 6
    for data in streams.values():
        fuzz_session(data)
