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
from pathlib import Path

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
    # Imported here: the pyrr entry point must patch the watermarks before pyrr loads.
    from pyrr.bgp.constants import AttrCode, AttrFlag, State
    from pyrr.bgp.encode import pack_announce, pack_withdraw
    from pyrr.bgp.nlri import IPV4_UNICAST, prefix_from_str
    from pyrr.control.server import request

    from ..peer_sim import SimPeer, basic_attrs

    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.deadline
    n, rounds = args.routes, args.rounds
    result.update(routes=n, rounds=rounds)

    async def until(pred: Callable[[], bool], what: str, timeout: float) -> float:
        t0 = loop.time()
        end = min(t0 + timeout, deadline)
        while not pred():
            if loop.time() > end:
                raise AssertionError(f"timed out after {loop.time() - t0:.1f} s: {what}")
            await asyncio.sleep(0.02)
        return loop.time() - t0

    # pyrr is up when its port answers.
    t_start = loop.time()
    while True:
        try:
            with socket.create_connection(RR, timeout=1):
                pass
        except OSError:
            if loop.time() - t_start > 20:
                raise
            await asyncio.sleep(0.2)
            continue
        break
    await asyncio.sleep(0.5)  # that probe was rejected (no configured peer at 127.0.0.1)

    a = SimPeer(A, ASN, RR, families=(IPV4_UNICAST,))
    s = SimPeer(S, ASN, RR, families=(IPV4_UNICAST,))
    d = SimPeer(D, ASN, RR, families=(IPV4_UNICAST,), hold_time=3)
    c = SimPeer(C, ASN, RR, families=(IPV4_UNICAST,))
    for p in (a, s, d, c):
        await p.connect()
    await until(lambda: all(p.state == State.ESTABLISHED for p in (a, s, d, c)), "up", 10)

    received = {"a": 0}
    assert a.conn is not None
    a_session = a.conn.session
    a_receive = a_session.receive_data

    def counting(data: bytes | bytearray | memoryview, now: float) -> None:
        received["a"] += len(data)
        a_receive(data, now)

    a_session.receive_data = counting  # type: ignore[method-assign]

    communities = b"".join(struct.pack("!HH", 64512, k) for k in range(args.communities))
    nh = socket.inet_aton(C)
    prefixes = [prefix_from_str(f"10.{i >> 8 & 0xFF}.{i & 0xFF}.0/24")[1] for i in range(n)]
    names = [f"10.{i >> 8 & 0xFF}.{i & 0xFF}.0/24" for i in range(n)]
    expected: dict[str, int] = {}  # prefix -> MED

    def med_of(i: int, rnd: int) -> int:
        return rnd * 1_000_000 + i

    def announce(items: list[int], rnd: int) -> None:
        assert c.conn is not None
        batch: list[bytes | memoryview] = []
        comms = (AttrCode.COMMUNITIES, AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE, communities)
        for i in items:
            med = (AttrCode.MULTI_EXIT_DISC, AttrFlag.OPTIONAL, struct.pack("!I", med_of(i, rnd)))
            attrs = basic_attrs(extra=[med, comms])
            batch += pack_announce(IPV4_UNICAST, attrs.wire, nh, [prefixes[i]], 4096)
            expected[names[i]] = med_of(i, rnd)
            if len(batch) >= 500:
                c.conn.write_messages(batch)
                batch = []
        if batch:
            c.conn.write_messages(batch)

    def withdraw(items: list[int]) -> None:
        assert c.conn is not None
        c.conn.write_messages([*pack_withdraw(IPV4_UNICAST, [prefixes[i] for i in items], 4096)])
        for i in items:
            expected.pop(names[i], None)

    def marker(rnd: int) -> None:
        assert c.conn is not None
        fam, key = prefix_from_str(MARKER.format(rnd))
        attrs = basic_attrs()
        c.conn.write_messages([*pack_announce(fam, attrs.wire, nh, [key], 4096)])
        if rnd > 1:
            old = prefix_from_str(MARKER.format(rnd - 1))[1]
            c.conn.write_messages([*pack_withdraw(fam, [old], 4096)])

    def table(p: SimPeer) -> dict[str, int | None]:
        return {
            pfx: (attrs.med if attrs is not None else None)
            for (fam, pfx), (_nh, attrs) in p.routes.items()
            if fam == IPV4_UNICAST and not pfx.startswith("10.255.")
        }

    def converged(p: SimPeer) -> bool:
        return len(p.routes) >= len(expected) and table(p) == expected

    # The initial table, read by everyone.
    announce(list(range(n)), 0)
    result["initial_s"] = await until(
        lambda: converged(a) and converged(s) and converged(d), "initial table", 60
    )
    rss0 = rss_kib(args.pid)
    fds0 = fd_count(args.pid)

    # S and D stop reading. D keeps sending KEEPALIVEs (its own timer), but its hold timer is
    # switched off: it is pyrr that must give up on it, not D on pyrr.
    for p in (s, d):
        assert p.conn is not None and p.conn.transport is not None
        p.conn.transport.pause_reading()
    assert d.conn is not None
    d.conn.session._hold_deadline = None
    t_pause = loop.time()

    rss: list[int] = []
    round_s: list[float] = []
    marker_s: list[float] = []
    bytes_to_a_during = received["a"]
    d_dropped_after: float | None = None
    for rnd in range(1, rounds + 1):
        gone = [i for i in range(n) if i % 10 == rnd % 10 and names[i] in expected]
        withdraw(gone)
        announce([i for i in range(n) if names[i] in expected], rnd)
        round_s.append(await until(lambda: converged(a), f"A converges in round {rnd}", 30))
        marker(rnd)
        key = (IPV4_UNICAST, MARKER.format(rnd))

        def has_marker(key: tuple[tuple[int, int], str] = key) -> bool:
            return key in a.routes

        marker_s.append(await until(has_marker, f"marker {rnd} at A", 10))
        rss.append(rss_kib(args.pid))
        if d_dropped_after is None and d.lost:
            d_dropped_after = loop.time() - t_pause
    bytes_to_a_during = received["a"] - bytes_to_a_during
    result.update(
        rss0_kib=rss0,
        rss_kib=rss,
        round_s=round_s,
        marker_s=marker_s,
        bytes_to_a_while_stalled=bytes_to_a_during,
        s_state_while_stalled=s.state.name,
    )

    # D: pyrr drops it once it has been stalled past its hold time (3 s).
    if d_dropped_after is None:
        await until(lambda: d.lost, "pyrr drops D", 30)
        d_dropped_after = loop.time() - t_pause
    result["d_dropped_after_s"] = d_dropped_after
    result["d_notification"] = str(d.notification_received())

    # S reads again: it must end with exactly C's table (withdrawn routes gone, latest MEDs,
    # only the last marker).
    assert s.conn is not None and s.conn.transport is not None
    result["s_lost_while_stalled"] = s.lost
    s.conn.transport.resume_reading()
    last_marker = (IPV4_UNICAST, MARKER.format(rounds))
    result["s_converge_s"] = await until(
        lambda: converged(s) and last_marker in s.routes, "S converges after resuming", 60
    )
    markers_at_s = sorted(p for (f, p) in s.routes if p.startswith("10.255."))
    result["s_markers"] = markers_at_s
    result["s_exact"] = table(s) == expected and table(a) == expected
    result["expected_routes"] = len(expected)
    status = request(args.sock, {"cmd": "status"})
    peers = {p["address"]: p for p in status["peers"]}
    result["pyrr_states"] = {k: v["state"] for k, v in peers.items()}
    await asyncio.sleep(0.5)
    result["fds0"] = fds0
    result["fds_end"] = fd_count(args.pid)
    result["rss_end_kib"] = rss_kib(args.pid)
    for p in (a, s, c):
        p.close()


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
