"""Slow and never-reading peers against a real pyrr process, inside one network namespace.

Two entry points, both run in the namespace by tests/security/test_slow_reader.py:

    python -m tests.security.slow_reader pyrr CONFIG SOCKET HIGH LOW
        `pyrr run` with the write-buffer watermarks (pyrr.transport.protocol.HIGH_WATER /
        LOW_WATER) set to HIGH / LOW bytes, so that a few hundred KiB make a peer "slow".

    python -m tests.security.slow_reader drive --pid PID --out RESULT.json [...]
        The peers, over loopback (127.0.0.1:179 in the namespace, whose TCP buffers the test
        has shrunk):
        A  127.0.0.2  reads everything: it must see every change promptly
        S  127.0.0.3  stops reading during the churn, then resumes: it must converge exactly
        D  127.0.0.4  stops reading (but keeps sending KEEPALIVEs) with hold time 3 s: pyrr
                      must drop it
        C  127.0.0.5  the source: a table of N routes, then rounds of churn (new MED on every
                      route, a tenth withdrawn per round, one marker prefix)
        It samples pyrr's RSS (/proc/PID/status) and writes what it measured as JSON.

Every wait is bounded; the whole drive gives up after --deadline seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyrr.transport.session_stream import SessionStream

    from ..peer_sim import SimPeer

RR = ("127.0.0.1", 179)
A, S, D, C = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"
ASN = 64512
MARKER = "10.255.{}.0/24"


def run_pyrr(config: str, sock: str, high: int, low: int) -> int:
    import pyrr.transport.stream as proto

    proto.HIGH_WATER = high
    proto.LOW_WATER = low
    from pyrr.cli import main

    return main(["run", "--config", config, "--control-socket", sock, "--log-level", "info"])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def fd_count(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


async def drive(args: argparse.Namespace, result: dict[str, object]) -> None:
    """Run the scenario, filling `result` as it goes (so a failure still reports the rest)."""
    # pyrr is imported by the helpers, not at the top: the pyrr entry point must patch the
    # watermarks before pyrr loads.
    clock = _Clock(args.deadline)
    result.update(routes=args.routes, rounds=args.rounds)
    await _wait_for_pyrr(clock)
    a, s, d, c = await _connect_peers(clock)
    to_a = _ReadCount(a)
    src = _Source(c, args.routes, args.communities)

    # The initial table, read by everyone.
    src.announce(list(range(args.routes)), 0)
    result["initial_s"] = await clock.until(
        lambda: src.converged(a) and src.converged(s) and src.converged(d), "initial table", 60
    )
    rss0 = rss_kib(args.pid)
    fds0 = fd_count(args.pid)

    _stop_reading(s, d)
    t_pause = clock.now()
    to_a_before = to_a.octets
    churn = await _churn(clock, src, a, d, args.rounds, args.pid, t_pause)
    result.update(
        rss0_kib=rss0,
        rss_kib=churn.rss_kib,
        round_s=churn.round_s,
        marker_s=churn.marker_s,
        bytes_to_a_while_stalled=to_a.octets - to_a_before,
        s_state_while_stalled=s.state.name,
    )

    # D: pyrr drops it once it has been stalled past its hold time (3 s).
    if churn.d_dropped_after is None:
        await clock.until(lambda: d.lost, "pyrr drops D", 30)
        churn.d_dropped_after = clock.now() - t_pause
    result["d_dropped_after_s"] = churn.d_dropped_after
    result["d_notification"] = str(d.notification_received())

    await _resume_s(clock, src, a, s, args.rounds, result)
    await _pyrr_at_end(args, fds0, result)
    for p in (a, s, c):
        p.close()


class _Clock:
    """The event loop's clock, and waits each bounded by their own timeout and the deadline."""

    def __init__(self, budget: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + budget

    def now(self) -> float:
        return self.loop.time()

    async def until(self, pred: Callable[[], bool], what: str, timeout: float) -> float:
        """Seconds until `pred()` held; AssertionError naming `what` if it never did."""
        t0 = self.loop.time()
        end = min(t0 + timeout, self.deadline)
        while not pred():
            if self.loop.time() > end:
                raise AssertionError(f"timed out after {self.loop.time() - t0:.1f} s: {what}")
            await asyncio.sleep(0.02)
        return self.loop.time() - t0


async def _wait_for_pyrr(clock: _Clock) -> None:
    """pyrr is up when its port answers."""
    t_start = clock.now()
    while True:
        try:
            with socket.create_connection(RR, timeout=1):
                break
        except OSError:
            if clock.now() - t_start > 20:
                raise
            await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)  # that probe was rejected (no configured peer at 127.0.0.1)


async def _connect_peers(clock: _Clock) -> tuple[SimPeer, SimPeer, SimPeer, SimPeer]:
    """A, S, D (hold time 3 s) and C, all Established."""
    from pyrr.bgp.constants import State
    from pyrr.bgp.nlri import IPV4_UNICAST

    from ..peer_sim import SimPeer

    a = SimPeer(A, ASN, RR, families=(IPV4_UNICAST,))
    s = SimPeer(S, ASN, RR, families=(IPV4_UNICAST,))
    d = SimPeer(D, ASN, RR, families=(IPV4_UNICAST,), hold_time=3)
    c = SimPeer(C, ASN, RR, families=(IPV4_UNICAST,))
    for p in (a, s, d, c):
        await p.connect()
    await clock.until(lambda: all(p.state == State.ESTABLISHED for p in (a, s, d, c)), "up", 10)
    return a, s, d, c


class _ReadCount:
    """The octets a peer's session has been handed (its `receive_data`, wrapped)."""

    def __init__(self, p: SimPeer) -> None:
        assert p.conn is not None
        session = p.conn.session
        receive = session.receive_data
        self.octets = 0

        def counting(data: bytes | bytearray | memoryview, now: float) -> None:
            self.octets += len(data)
            receive(data, now)

        session.receive_data = counting  # type: ignore[method-assign]


class _Source:
    """C's side: N routes (each with `communities` communities and a MED per round), the
    marker prefixes, and `expected`, the table every reader must end with."""

    def __init__(self, c: SimPeer, n: int, communities: int) -> None:
        from pyrr.bgp.nlri import prefix_from_str

        self.c = c
        self.n = n
        self.communities = b"".join(struct.pack("!HH", 64512, k) for k in range(communities))
        self.nh = socket.inet_aton(C)
        self.names = [f"10.{i >> 8 & 0xFF}.{i & 0xFF}.0/24" for i in range(n)]
        self.prefixes = [prefix_from_str(name)[1] for name in self.names]
        self.expected: dict[str, int] = {}  # prefix -> MED

    def _conn(self) -> SessionStream:
        assert self.c.conn is not None
        return self.c.conn

    def announce(self, items: list[int], rnd: int) -> None:
        """Routes `items` with round `rnd`'s MED, in batches of about 500 messages."""
        from pyrr.bgp.constants import AttrCode, AttrFlag
        from pyrr.bgp.encode import pack_announce
        from pyrr.bgp.nlri import IPV4_UNICAST

        from ..peer_sim import basic_attrs

        conn = self._conn()
        batch: list[bytes | memoryview] = []
        comms = (AttrCode.COMMUNITIES, AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE, self.communities)
        for i in items:
            med = (AttrCode.MULTI_EXIT_DISC, AttrFlag.OPTIONAL, struct.pack("!I", _med_of(i, rnd)))
            attrs = basic_attrs(extra=[med, comms])
            batch += pack_announce(IPV4_UNICAST, attrs.wire, self.nh, [self.prefixes[i]], 4096)
            self.expected[self.names[i]] = _med_of(i, rnd)
            if len(batch) >= 500:
                conn.write_messages(batch)
                batch = []
        if batch:
            conn.write_messages(batch)

    def withdraw(self, items: list[int]) -> None:
        from pyrr.bgp.encode import pack_withdraw
        from pyrr.bgp.nlri import IPV4_UNICAST

        conn = self._conn()
        conn.write_messages([*pack_withdraw(IPV4_UNICAST, [self.prefixes[i] for i in items], 4096)])
        for i in items:
            self.expected.pop(self.names[i], None)

    def churn(self, rnd: int) -> None:
        """Round `rnd`: a tenth of the routes withdrawn, the rest announced with a new MED."""
        live = self.expected
        self.withdraw([i for i in range(self.n) if i % 10 == rnd % 10 and self.names[i] in live])
        self.announce([i for i in range(self.n) if self.names[i] in live], rnd)

    def marker(self, rnd: int) -> None:
        """Announce round `rnd`'s marker prefix, withdrawing the previous round's."""
        from pyrr.bgp.encode import pack_announce, pack_withdraw
        from pyrr.bgp.nlri import prefix_from_str

        from ..peer_sim import basic_attrs

        conn = self._conn()
        fam, key = prefix_from_str(MARKER.format(rnd))
        attrs = basic_attrs()
        conn.write_messages([*pack_announce(fam, attrs.wire, self.nh, [key], 4096)])
        if rnd > 1:
            old = prefix_from_str(MARKER.format(rnd - 1))[1]
            conn.write_messages([*pack_withdraw(fam, [old], 4096)])

    def converged(self, p: SimPeer) -> bool:
        return len(p.routes) >= len(self.expected) and _table(p) == self.expected


def _med_of(i: int, rnd: int) -> int:
    return rnd * 1_000_000 + i


def _table(p: SimPeer) -> dict[str, int | None]:
    """What `p` has of C's routes (the markers left out): prefix -> MED."""
    from pyrr.bgp.nlri import IPV4_UNICAST

    return {
        pfx: (attrs.med if attrs is not None else None)
        for (fam, pfx), (_nh, attrs) in p.routes.items()
        if fam == IPV4_UNICAST and not pfx.startswith("10.255.")
    }


def _marker_key(rnd: int) -> tuple[tuple[int, int], str]:
    from pyrr.bgp.nlri import IPV4_UNICAST

    return (IPV4_UNICAST, MARKER.format(rnd))


def _stop_reading(s: SimPeer, d: SimPeer) -> None:
    """S and D stop reading. D keeps sending KEEPALIVEs (its own timer), but its hold timer is
    switched off: it is pyrr that must give up on it, not D on pyrr."""
    for p in (s, d):
        assert p.conn is not None and p.conn.transport is not None
        p.conn.transport.pause_reading()
    assert d.conn is not None
    d.conn.session._hold_deadline = None


@dataclass
class _Churn:
    """What the rounds of churn measured while S and D were not reading."""

    rss_kib: list[int] = field(default_factory=list)
    round_s: list[float] = field(default_factory=list)  # until A had the round's table
    marker_s: list[float] = field(default_factory=list)  # until A had the round's marker
    d_dropped_after: float | None = None  # seconds after the pause, once D was seen dropped


async def _churn(
    clock: _Clock, src: _Source, a: SimPeer, d: SimPeer, rounds: int, pid: int, t_pause: float
) -> _Churn:
    """The rounds of churn: after each, A must have C's whole table, then the round's marker."""
    out = _Churn()
    for rnd in range(1, rounds + 1):
        src.churn(rnd)
        out.round_s.append(
            await clock.until(lambda: src.converged(a), f"A converges in round {rnd}", 30)
        )
        src.marker(rnd)
        has_marker = _has_route(a, _marker_key(rnd))
        out.marker_s.append(await clock.until(has_marker, f"marker {rnd} at A", 10))
        out.rss_kib.append(rss_kib(pid))
        if out.d_dropped_after is None and d.lost:
            out.d_dropped_after = clock.now() - t_pause
    return out


def _has_route(p: SimPeer, key: tuple[tuple[int, int], str]) -> Callable[[], bool]:
    return lambda: key in p.routes


async def _resume_s(
    clock: _Clock, src: _Source, a: SimPeer, s: SimPeer, rounds: int, result: dict[str, object]
) -> None:
    """S reads again: it must end with exactly C's table (withdrawn routes gone, latest MEDs,
    only the last marker)."""
    assert s.conn is not None and s.conn.transport is not None
    result["s_lost_while_stalled"] = s.lost
    s.conn.transport.resume_reading()
    last_marker = _marker_key(rounds)
    result["s_converge_s"] = await clock.until(
        lambda: src.converged(s) and last_marker in s.routes, "S converges after resuming", 60
    )
    result["s_markers"] = sorted(p for (f, p) in s.routes if p.startswith("10.255."))
    result["s_exact"] = _table(s) == src.expected and _table(a) == src.expected
    result["expected_routes"] = len(src.expected)


async def _pyrr_at_end(args: argparse.Namespace, fds0: int, result: dict[str, object]) -> None:
    """pyrr's view of the sessions, and its file descriptors and RSS, at the end."""
    from pyrr.control.server import request

    status = request(args.sock, {"cmd": "status"})
    peers = {p["address"]: p for p in status["peers"]}
    result["pyrr_states"] = {k: v["state"] for k, v in peers.items()}
    await asyncio.sleep(0.5)
    result["fds0"] = fds0
    result["fds_end"] = fd_count(args.pid)
    result["rss_end_kib"] = rss_kib(args.pid)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["pyrr"]:
        config, sock, high, low = argv[1:5]
        return run_pyrr(config, sock, int(high), int(low))
    ap = argparse.ArgumentParser()
    ap.add_argument("verb", choices=["drive"])
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--sock", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--routes", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--communities", type=int, default=40)
    ap.add_argument("--deadline", type=float, default=150.0)
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    result: dict[str, object] = {}
    try:
        asyncio.run(asyncio.wait_for(drive(args, result), args.deadline + 5))
        result["ok"] = True
    except BaseException as exc:
        result.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    result["took_s"] = time.monotonic() - t0
    Path(args.out).write_text(json.dumps(result, indent=1))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
