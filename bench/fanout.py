"""The fan-out hot path in process (no sockets): RIB, export decision, one encoding, N writes.

    .venv/bin/python -m bench.fanout [N] [REPEATS]

N Calico nodes are members of one client update group and sources of routes. Each node in
turn announces its 4 /26s (one UPDATE), then withdraws them, each followed by the end-of-turn
flush: Rib.apply_update + Export.changes + Export.flush, each change written to the N members
(the source's own route sliced out). Printed: the best CPU time of REPEATS runs for the N
announcements and N withdrawals, and per UPDATE. Best-path-only (the default), and with every
member in an ADD-PATH group of 2 paths for comparison.
"""

from __future__ import annotations

import struct
import sys
import time
from collections.abc import Sequence
from typing import Any

from pyrr.bgp.attributes import PathAttrs
from pyrr.bgp.constants import AttrCode
from pyrr.bgp.nlri import IPV4_UNICAST, Family
from pyrr.bgp.update import Update
from pyrr.export.export import Export
from pyrr.export.group import GroupKey
from pyrr.export.policy import Role
from pyrr.rib.loc_rib import Rib
from pyrr.rib.path import Source

from .sources import source as _source

BLOCKS = 4


class _Member:
    def __init__(self, src: Source) -> None:
        self.source = src
        self.key = src.key
        self.messages = 0

    def send_updates(self, chunks: Sequence[bytes | memoryview], count: int) -> None:
        self.messages += count


def _updates(n: int) -> list[tuple[Update, Update]]:
    attrs = PathAttrs(
        [
            (AttrCode.ORIGIN, 0x40, b"\0"),
            (AttrCode.AS_PATH, 0x40, b""),
            (AttrCode.LOCAL_PREF, 0x40, struct.pack("!I", 100)),
        ]
    )
    out = []
    for i in range(n):
        blocks = [i * BLOCKS + k for k in range(BLOCKS)]
        prefixes = [bytes((26, 10, (b >> 10) & 255, (b >> 2) & 255, (b & 3) << 6)) for b in blocks]
        hop = bytes((198, 18, i >> 8 & 255, i & 255))
        out.append(
            (
                Update(attrs=attrs, announced=[(IPV4_UNICAST, hop, prefixes)]),
                Update(withdrawn=[(IPV4_UNICAST, prefixes)]),
            )
        )
    return out


def measure(n: int, add_path: int = 1) -> tuple[float, int]:
    """(CPU seconds for n announcements and n withdrawals, messages written)."""
    rib = Rib()
    # (Without the keyword for 1 path: the same script measures code from before ADD-PATH.)
    kw: dict[str, Any] = {"add_path_send": add_path} if add_path > 1 else {}
    out = Export(rib, 1, lambda fn: None, **kw)
    ap: frozenset[Family] = frozenset({IPV4_UNICAST}) if add_path > 1 else frozenset()
    key = GroupKey(Role.CLIENT, (IPV4_UNICAST,), True, False, ap)
    members = [_Member(_source(i + 1)) for i in range(n)]
    for m in members:
        out.join(m, key)
    updates = _updates(n)
    no_ap: frozenset[Family] = frozenset()
    t0 = time.process_time()
    for phase in (0, 1):
        for m, pair in zip(members, updates, strict=True):
            out.changes(rib.apply_update(m.source, pair[phase], no_ap))
            out.flush()
    cpu = time.process_time() - t0
    return cpu, sum(m.messages for m in members)


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    for add_path in (1, 2):
        try:
            runs = [measure(n, add_path) for _ in range(repeats)]
        except TypeError:  # an Export without ADD-PATH send
            continue
        cpu = min(r[0] for r in runs)
        label = "best path only" if add_path == 1 else f"ADD-PATH {add_path} paths"
        print(
            f"{label}: {n} members, {2 * n} UPDATEs applied and flushed: {cpu:.3f} s CPU "
            f"(best of {repeats}), {1e6 * cpu / (2 * n):.0f} us per UPDATE, "
            f"{runs[0][1]} messages written"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
