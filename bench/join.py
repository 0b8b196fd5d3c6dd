"""Members joining a full update group, in process (no sockets): an RR restart, when every
client comes back and needs the whole table.

    .venv/bin/python -m bench.join [N]

N sources each own 4 /26s (as N Calico nodes do); then all N join one client group, one after
another, each getting the whole table minus its own routes and End-of-RIB. Printed: pyrr's CPU
for the N joins and the bytes handed to the members (the kernel's share is not included).
"""

from __future__ import annotations

import struct
import sys
import time
from collections.abc import Sequence

from pyrr.bgp.attributes import PathAttrs
from pyrr.bgp.constants import AttrCode
from pyrr.bgp.nlri import IPV4_UNICAST
from pyrr.bgp.update import Update
from pyrr.export.export import Export
from pyrr.export.group import GroupKey
from pyrr.export.policy import Role
from pyrr.rib.loc_rib import Rib
from pyrr.rib.path import Source

from .sources import source

BLOCKS = 4


class _Member:
    def __init__(self, src: Source) -> None:
        self.source = src
        self.key = src.key
        self.written = 0

    def send_updates(self, chunks: Sequence[bytes | memoryview], count: int) -> None:
        self.written += sum(len(m) for m in chunks)


def measure(n: int) -> tuple[float, int]:
    """(CPU seconds for n joins, bytes written to the members)."""
    attrs = PathAttrs(
        [
            (AttrCode.ORIGIN, 0x40, b"\0"),
            (AttrCode.AS_PATH, 0x40, b""),
            (AttrCode.LOCAL_PREF, 0x40, struct.pack("!I", 100)),
        ]
    )
    rib = Rib()
    members = [_Member(source(i + 1)) for i in range(n)]
    for i, m in enumerate(members):
        blocks = [i * BLOCKS + k for k in range(BLOCKS)]
        prefixes = [bytes((26, 10, (b >> 10) & 255, (b >> 2) & 255, (b & 3) << 6)) for b in blocks]
        hop = bytes((198, 18, i >> 8 & 255, i & 255))
        upd = Update(attrs=attrs, announced=[(IPV4_UNICAST, hop, prefixes)])
        rib.apply_update(m.source, upd, frozenset())
    out = Export(rib, 1, lambda fn: None)
    key = GroupKey(Role.CLIENT, (IPV4_UNICAST,), True, False, frozenset())
    t0 = time.process_time()
    for m in members:
        out.join(m, key)
    return time.process_time() - t0, sum(m.written for m in members)


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    cpu, written = measure(n)
    print(
        f"{n} members join one group of {n * BLOCKS} prefixes from {n} sources: "
        f"{cpu:.3f} s CPU, {written / 1e6:.1f} MB handed to the members"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
