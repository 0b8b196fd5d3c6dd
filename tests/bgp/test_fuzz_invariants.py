"""The decoders' one promise, checked by hypothesis through the fuzz targets of fuzz/targets.py:
any bytes give decoded values or `BGPError` (a session: a NOTIFICATION sent), nothing else, and
the same outcome whole or one byte at a time."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz import targets
from fuzz.make_corpus import CORPUS_DIR, corpus_messages, main
from fuzz.targets import SESSION_SCENARIOS, fuzz_framer, fuzz_session, fuzz_update
from pyrr.bgp.constants import MsgType, State
from pyrr.bgp.errors import BGPError
from pyrr.bgp.events import SessionDown, UpdateReceived
from pyrr.bgp.messages import KEEPALIVE, decode_open
from pyrr.bgp.nlri import IPV4_UNICAST
from pyrr.bgp.update import Update, UpdateContext

CORPUS = corpus_messages()
MESSAGES = list(CORPUS.values())
UPDATES = [m for m in MESSAGES if m[18] == MsgType.UPDATE]
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Octets that matter to the decoders: flag bytes, type codes, lengths at their edges.
INTERESTING = [
    0,
    1,
    2,
    3,
    4,
    5,
    14,
    15,
    16,
    17,
    18,
    32,
    33,
    0x40,
    0x50,
    0x80,
    0x90,
    0xC0,
    0xD0,
    0xE0,
    0xF0,
    0x7F,
    0xFE,
    0xFF,
]


@st.composite
def mutated(draw: st.DrawFn, pool: list[bytes] = MESSAGES) -> bytes:
    """A corpus message with a few mutations past the marker, its length field optionally
    fixed up so that the framer lets the damage through to the decoders."""
    msg = bytearray(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.integers(0, 4))
        if op == 0 and len(msg) > 19:
            i = draw(st.integers(19, len(msg) - 1))
            msg[i] = draw(st.sampled_from(INTERESTING) | st.integers(0, 255))
        elif op == 1 and len(msg) > 19:
            i = draw(st.integers(19, len(msg) - 1))
            msg[i] ^= 1 << draw(st.integers(0, 7))
        elif op == 2:
            i = draw(st.integers(19, len(msg)))
            msg[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == 3 and len(msg) > 20:
            i = draw(st.integers(19, len(msg) - 1))
            del msg[i : draw(st.integers(i + 1, min(len(msg), i + 8)))]
        elif op == 4 and len(msg) > 20:
            # A length-ish field: a 2-octet big-endian value at an edge.
            i = draw(st.integers(19, len(msg) - 2))
            struct.pack_into(
                "!H", msg, i, draw(st.sampled_from([0, 1, 255, 256, 0xFFFF, len(msg) - i]))
            )
    if draw(st.booleans()):
        struct.pack_into("!H", msg, 16, min(len(msg), 0xFFFF))
    return bytes(msg)


# -- arbitrary bytes -------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=600))
def test_framer_arbitrary_bytes(data: bytes) -> None:
    fuzz_framer(data)


@FUZZ
@given(st.binary(max_size=40).map(lambda tail: b"\xff" * 16 + tail))
def test_framer_arbitrary_after_marker(data: bytes) -> None:
    fuzz_framer(data)


@FUZZ
@given(st.binary(max_size=600))
def test_update_arbitrary_bytes(data: bytes) -> None:
    fuzz_update(data)


@FUZZ
@given(st.binary(max_size=600))
def test_session_arbitrary_bytes(data: bytes) -> None:
    fuzz_session(data)


# -- mutated corpus --------------------------------------------------------------------------


@FUZZ
@given(st.lists(mutated(), min_size=1, max_size=4).map(b"".join), st.sampled_from([b"", b"\x01"]))
def test_framer_mutated_corpus(stream: bytes, prefix: bytes) -> None:
    # fuzz_framer reads a leading 0x01 as "extended message limit".
    fuzz_framer(prefix + stream if prefix else stream)


@FUZZ
@given(mutated(UPDATES))
def test_update_mutated_corpus(msg: bytes) -> None:
    fuzz_update(msg[19:])


@st.composite
def session_input(draw: st.DrawFn) -> bytes:
    scenario = draw(st.integers(0, len(SESSION_SCENARIOS) - 1))
    parts: list[bytes] = []
    if scenario == 0:
        # OpenSent: usually a plausible OPEN first, so the rest reaches the later states.
        bird, frr = CORPUS["open_bird16_calico.bin"], CORPUS["open_frr84.bin"]
        parts.append(
            draw(
                st.sampled_from([bird, bird + KEEPALIVE, frr + KEEPALIVE])
                | mutated([m for m in MESSAGES if m[18] == MsgType.OPEN])
            )
        )
    parts.extend(draw(st.lists(st.sampled_from(MESSAGES) | mutated(), max_size=4)))
    return bytes((scenario,)) + b"".join(parts)


@FUZZ
@given(session_input())
def test_session_mutated_corpus(data: bytes) -> None:
    fuzz_session(data)


# -- the corpus and the targets themselves -------------------------------------------------------


def test_corpus_files_are_up_to_date() -> None:
    assert main(["--check"]) == 0
    assert sorted(p.name for p in CORPUS_DIR.iterdir()) == sorted(CORPUS)
    for name, content in CORPUS.items():
        assert (CORPUS_DIR / name).read_bytes() == content


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_target_accepts_each_seed(name: str) -> None:
    data = (Path(CORPUS_DIR) / name).read_bytes()
    fuzz_framer(data)
    fuzz_update(data[19:])
    for scenario in range(len(SESSION_SCENARIOS)):
        fuzz_session(bytes((scenario,)) + data)


def test_corpus_opens_look_like_their_daemons() -> None:
    bird = decode_open(CORPUS["open_bird16_calico.bin"][19:])
    c = bird.capabilities
    assert bird.hold_time == 240 and bird.asn == 64512
    assert c.families == (IPV4_UNICAST,) and c.route_refresh and c.enhanced_route_refresh
    assert c.graceful_restart is not None and c.graceful_restart.restart_time == 120
    assert c.graceful_restart.forwarding_preserved(IPV4_UNICAST)
    assert c.add_path_mode(IPV4_UNICAST) == 3
    assert c.long_lived_gr is not None and c.long_lived_gr.families == ()
    frr = decode_open(CORPUS["open_frr84.bin"][19:])
    c = frr.capabilities
    assert frr.hold_time == 180
    assert c.route_refresh and c.route_refresh_cisco and c.extended_message and c.fqdn
    assert c.graceful_restart is not None and c.graceful_restart.restarting
    assert c.graceful_restart.notification and c.graceful_restart.families == ()
    assert c.long_lived_gr is not None and c.long_lived_gr.families == ((IPV4_UNICAST, 0, 0),)
    assert c.add_path_mode(IPV4_UNICAST) == 1
    gobgp = decode_open(CORPUS["open_gobgp310.bin"][19:])
    c = gobgp.capabilities
    assert gobgp.hold_time == 90 and gobgp.asn == 4200000001
    assert c.extended_next_hop == ((IPV4_UNICAST, 2),) and c.fqdn == ("gobgp-1", "cluster.local")
    assert c.graceful_restart is not None and not c.graceful_restart.restarting
    assert not c.graceful_restart.forwarding_preserved(IPV4_UNICAST)


def test_session_scenarios_reach_their_states() -> None:
    assert [f().state for _n, f in SESSION_SCENARIOS] == [
        State.OPENSENT,
        State.ESTABLISHED,
        State.ESTABLISHED,
    ]
    ebgp = SESSION_SCENARIOS[2][1]()
    assert ebgp.update_context.four_octet_as is False and ebgp.update_context.ibgp is False


def test_fuzz_session_reaches_updates() -> None:
    """The seeds get past the handshake: an UPDATE in the stream is decoded, not refused."""
    s = SESSION_SCENARIOS[0][1]()
    s.receive_data(CORPUS["open_frr84.bin"] + KEEPALIVE + CORPUS["update_ipv4.bin"], targets.NOW)
    ev = s.events()
    assert any(isinstance(e, UpdateReceived) and e.update.announced for e in ev), ev
    assert not any(isinstance(e, SessionDown) for e in ev)
    # BIRD's OPEN negotiates ADD-PATH receive for IPv4, so the same plain UPDATE is read with
    # path identifiers and does not parse: a NOTIFICATION, as the peer would deserve.
    s = SESSION_SCENARIOS[0][1]()
    s.receive_data(
        CORPUS["open_bird16_calico.bin"] + KEEPALIVE + CORPUS["update_ipv4.bin"], targets.NOW
    )
    assert s.update_context.add_path_rx == frozenset({IPV4_UNICAST})
    (down,) = [e for e in s.events() if isinstance(e, SessionDown)]
    assert down.sent_by_us and down.notification is not None
    assert (down.notification.code, down.notification.subcode) == (3, 10)


def test_targets_let_foreign_exceptions_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    """The invariant is not vacuous: a decoder raising anything but BGPError fails a target."""

    def broken(body: bytes, ctx: UpdateContext) -> Update:
        raise IndexError("decoder bug")

    monkeypatch.setattr(targets, "decode_update", broken)
    with pytest.raises(IndexError):
        fuzz_update(b"\x00\x00\x00\x00")
    with pytest.raises(IndexError):
        fuzz_framer(CORPUS["update_ipv4.bin"])


def test_targets_accept_bgperror(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuses(body: bytes, ctx: UpdateContext) -> Update:
        raise BGPError(3, 1)

    monkeypatch.setattr(targets, "decode_update", refuses)
    fuzz_update(b"\x00\x00\x00\x00")
    fuzz_framer(CORPUS["update_ipv4.bin"])


def test_session_target_checks_notification_is_last() -> None:
    # A bad marker in Established: the session must end with its NOTIFICATION on the wire.
    fuzz_session(b"\x01" + b"\x00" * 19)
    fuzz_session(b"\x02" + KEEPALIVE + b"\xff" * 16 + b"\x00\x14\x04\x00")
