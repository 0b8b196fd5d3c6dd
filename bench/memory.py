"""Where a full table's bytes go, measured on pyrr's own structures (in process, no sockets).

    .venv/bin/python -m bench.memory [COUNT] [MEMBERS] [--withdraw SHARE]

A sans-IO `Speaker` with MEMBERS + 1 established peers (real sessions, their bytes dropped):
peer 0 sends COUNT IPv4 /26 prefixes with one attribute set, ~800 per UPDATE, 50 UPDATEs per
"loop turn" (as uvloop reads them), and then withdraws SHARE of them (half by default). Printed
per structure (tracemalloc, sys.getsizeof): the prefix keys, the Loc-RIB table, the peer's
prefix list, the paths, the update groups' state; the Python heap's peak during each step (the
transients: a burst queued for encoding, packed messages), and the process RSS (what the
benchmark's "RR peak MiB" reads, interpreter included).
"""

from __future__ import annotations

import argparse
import gc
import struct
import sys
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address

from pyrr import log
from pyrr.bgp.attributes import PathAttrs
from pyrr.bgp.capabilities import Capabilities
from pyrr.bgp.constants import AttrCode, AttrFlag
from pyrr.bgp.encode import pack_announce, pack_withdraw
from pyrr.bgp.fsm import Session, SessionConfig
from pyrr.bgp.nlri import IPV4_UNICAST
from pyrr.config import Config, GlobalConfig, PeerConfig
from pyrr.runtime import tune_gc
from pyrr.session.link import Link
from pyrr.session.neighbor import Neighbor
from pyrr.speaker import Speaker

ASN = 64512
MIB = 1 << 20
TURN = 50  # UPDATEs handed over at once (~200 KB, what one read brings)


class _Sink:
    """A connection's far end for the handshake, then a counter of the bytes written."""

    def __init__(self) -> None:
        self.wire = bytearray()
        self.handshake = True
        self.written = 0

    def writelines(self, chunks: Sequence[bytes | memoryview]) -> None:
        if self.handshake:
            self.wire += b"".join(bytes(c) for c in chunks)
        else:
            self.written += sum(len(c) for c in chunks)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    write_buffer_size = 0

    def local_address(self) -> str | None:
        return "127.0.0.1"


@dataclass
class Step:
    cpu: float  # seconds of CPU
    heap: int  # Python heap after the step, bytes over the empty speaker
    peak: int  # Python heap's peak during the step, likewise
    rss: int  # process RSS after the step, bytes


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _speaker(members: int) -> tuple[Speaker, list[tuple[Neighbor, Link]], list[object]]:
    flushes: list[object] = []
    peers = tuple(
        PeerConfig(address=ip_address(f"127.1.0.{i + 1}"), asn=ASN, passive=True)
        for i in range(members + 1)
    )
    g = GlobalConfig(asn=ASN, router_id=IPv4Address("127.0.0.1"), cluster_id=IPv4Address(1))
    sp = Speaker(Config(bgp=g, peers=peers), 0.0, flushes.append)
    sp.start(0.0)
    links = []
    for pc in peers:
        n = sp.peers[pc.key]
        sink = _Sink()
        link = sp.accept(n, sink, 0.0)
        caps = Capabilities(families=(IPV4_UNICAST,), route_refresh=True, four_octet_as=ASN)
        far = Session(SessionConfig(ASN, int(pc.address), ASN, caps, 90))
        far.connection_made(0.0)
        for _ in range(4):  # OPEN, KEEPALIVE both ways
            if sink.wire:
                far.receive_data(bytes(sink.wire), 0.0)
                sink.wire.clear()
            out = far.data_to_send()
            if out:
                n.receive(link, out, 0.0)
        sink.handshake = False
        links.append((n, link))
    return sp, links, flushes


def _run(n: Neighbor, link: Link, msgs: list[bytes], flushes: list[object], base: int) -> Step:
    traced = tracemalloc.is_tracing()
    if traced:
        tracemalloc.reset_peak()
    t = time.process_time()
    for i in range(0, len(msgs), TURN):
        n.receive(link, b"".join(msgs[i : i + TURN]), 1.0)
        while flushes:
            flushes.pop(0)()  # type: ignore[operator]
    cpu = time.process_time() - t
    gc.collect()
    cur, peak = tracemalloc.get_traced_memory() if traced else (base, base)
    return Step(cpu, cur - base, peak - base, _rss())


def _messages(count: int, share: float = 0.5) -> tuple[list[bytes], list[bytes]]:
    """A full table from one peer (~800 /26s per UPDATE), and the withdrawal of a share of it."""
    attrs = PathAttrs(
        [
            (AttrCode.ORIGIN, AttrFlag.TRANSITIVE, b"\0"),
            (AttrCode.AS_PATH, AttrFlag.TRANSITIVE, b""),
            (AttrCode.LOCAL_PREF, AttrFlag.TRANSITIVE, struct.pack("!I", 100)),
        ]
    )
    prefixes = [
        bytes((26, 10 + (i >> 18), (i >> 10) & 255, (i >> 2) & 255, (i & 3) << 6))
        for i in range(count)
    ]
    announce = pack_announce(IPV4_UNICAST, attrs.wire, bytes((127, 1, 0, 1)), prefixes, 4096)
    return announce, pack_withdraw(IPV4_UNICAST, prefixes[: int(count * share)], 4096)


def untraced(count: int, members: int = 9, share: float = 0.5) -> tuple[Step, Step, float, int]:
    """CPU and RSS, without tracemalloc (which costs time and memory of its own); and the CPU
    of the housekeeping the withdrawal left (pyrr.rib.housekeeping: run a second later)."""
    announce, withdraw = _messages(count, share)
    sp, links, flushes = _speaker(members)
    n0, l0 = links[0]
    tune_gc()  # as `pyrr run` does once it is up
    rss0 = _rss()
    ann, wd = _run(n0, l0, announce, flushes, 0), _run(n0, l0, withdraw, flushes, 0)
    t = time.process_time()
    sp.rib.tidy()
    return ann, wd, time.process_time() - t, rss0


def measure(count: int, members: int = 9, share: float = 0.5) -> dict[str, object]:
    """The Python heap by structure, and its peaks (tracemalloc on)."""
    announce, withdraw = _messages(count, share)
    sp, links, flushes = _speaker(members)
    n0, l0 = links[0]
    gc.collect()
    rss0 = _rss()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    ann = _run(n0, l0, announce, flushes, base)
    table = sp.rib.tables[IPV4_UNICAST]
    keys = sum(sys.getsizeof(k) for k in table)
    listed = sum(sys.getsizeof(lst) for lst in n0.source.prefixes.values())
    paths = {id(e) for e in table.values()}
    groups = sum(
        sys.getsizeof(g.pending) + sum(sys.getsizeof(p) for p in g.pending.values())
        for g in sp.export.groups.values()
    )
    structures = {
        "prefix keys (bytes objects)": keys,
        "Loc-RIB table (dict)": sys.getsizeof(table),
        "peer's prefix list": listed,
        f"paths ({len(paths)} objects: one per attribute set)": sum(
            sys.getsizeof(e) for e in {id(e): e for e in table.values()}.values()
        ),
        "update groups (queues, empty after a flush)": groups,
    }
    wd = _run(n0, l0, withdraw, flushes, base)
    tracemalloc.stop()
    return {"count": count, "members": members, "rss0": rss0, "announce": ann,
            "withdraw": wd, "structures": structures}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    ap.add_argument("count", nargs="?", type=int, default=250_000, help="prefixes (250000)")
    ap.add_argument("members", nargs="?", type=int, default=9, help="clients sent them (9)")
    ap.add_argument(
        "--withdraw", type=float, default=0.5, metavar="SHARE",
        help="share of the table withdrawn afterwards, 0 to 1 (0.5)",
    )  # fmt: skip
    args = ap.parse_args()
    if args.count < 1 or args.members < 1 or not 0 <= args.withdraw <= 1:
        ap.error("count and members must be at least 1, --withdraw between 0 and 1")
    count, members, share = args.count, args.members, args.withdraw
    log.setup("warning")  # the speaker's session lines are not the point here
    ann, wd, tidy, rss0 = untraced(count, members, share)
    print(
        f"without tracemalloc: full table {ann.cpu:.2f} s CPU, RSS +{(ann.rss - rss0) / MIB:.1f} "
        f"MiB; {share:.0%} withdrawn {wd.cpu:.2f} s CPU, RSS +{(wd.rss - rss0) / MIB:.1f} MiB "
        f"(over {rss0 / MIB:.1f} MiB with the speaker and its sessions up); the housekeeping "
        f"after it {tidy:.3f} s CPU"
    )
    res = measure(count, members, share)
    print(f"{count} prefixes from one peer, one attribute set, {members} clients")
    print("after the full table, by structure:")
    for name, size in res["structures"].items():  # type: ignore[attr-defined]
        print(f"  {name:<46} {size / MIB:6.1f} MiB  {size / count:5.0f} B/prefix")
    for step in ("announce", "withdraw"):
        s = res[step]
        assert isinstance(s, Step)
        what = "full table announced" if step == "announce" else f"{share:.0%} withdrawn"
        print(
            f"{what:<22}: Python heap {s.heap / MIB:.1f} MiB ({s.heap / count:.0f} B/prefix), "
            f"peak {s.peak / MIB:.1f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
