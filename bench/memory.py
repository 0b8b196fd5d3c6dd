"""Memory per route, measured with tracemalloc on pyrr's own structures (no sockets).

    .venv/bin/python -m bench.memory [COUNT]

One peer announces COUNT IPv4 /26 prefixes with one attribute set (a full table); then one
update group with M members is built over them, for M in (1, 10, 100). Printed: bytes per
prefix for the Adj-RIB-In + Loc-RIB (including the prefix keys themselves), bytes per prefix
for a group's Adj-RIB-Out, and that the Adj-RIB-Out cost does not grow with the members.
"""

from __future__ import annotations

import gc
import struct
import sys
import tracemalloc
from collections.abc import Sequence
from ipaddress import ip_address

from pyrr.bgp.attributes import PathAttrs
from pyrr.bgp.constants import AttrCode
from pyrr.bgp.nlri import IPV4_UNICAST
from pyrr.bgp.update import Update
from pyrr.export.export import Export
from pyrr.export.group import GroupKey
from pyrr.export.policy import Role
from pyrr.rib.loc_rib import Rib
from pyrr.rib.path import Source


class _Member:
    def __init__(self, src: Source) -> None:
        self.source = src
        self.key = src.key

    def send_updates(self, chunks: Sequence[bytes | memoryview], count: int) -> None:
        del chunks, count  # only the group's own structures are measured


def _prefixes(count: int) -> list[bytes]:
    return [
        bytes((26, 10 + (i >> 18), (i >> 10) & 255, (i >> 2) & 255, (i & 3) << 6))
        for i in range(count)
    ]


def _source(i: int) -> Source:
    addr = f"127.1.{i // 250}.{i % 250 + 1}"
    s = Source(addr, ip_address(addr), 64512, True, True)
    s.router_id = i + 1
    return s


def measure(count: int) -> dict[str, float]:
    attrs = PathAttrs(
        [
            (AttrCode.ORIGIN, 0x40, b"\0"),
            (AttrCode.AS_PATH, 0x40, b""),
            (AttrCode.LOCAL_PREF, 0x40, struct.pack("!I", 100)),
        ]
    )
    origin = _source(0)
    prefixes = _prefixes(count)
    upd = Update(attrs=attrs, announced=[(IPV4_UNICAST, bytes((198, 18, 0, 1)), prefixes)])
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    rib = Rib()
    changes = rib.apply_update(origin, upd, frozenset())
    del changes
    gc.collect()
    # The prefix keys were allocated before tracing started; they are shared by all tables,
    # so count them once here.
    key_bytes = sum(sys.getsizeof(p) for p in prefixes)
    rib_cost = tracemalloc.get_traced_memory()[0] - base + key_bytes
    out: dict[str, float] = {"rib_bytes_per_prefix": rib_cost / count}
    for members in (1, 10, 100):
        before = tracemalloc.get_traced_memory()[0]
        ob = Export(rib, 1, lambda fn: None)
        key = GroupKey(Role.CLIENT, (IPV4_UNICAST,), True, False, frozenset())
        for i in range(members):
            ob.join(_Member(_source(i + 1)), key)
        gc.collect()
        out[f"adj_out_bytes_per_prefix_{members}_members"] = (
            tracemalloc.get_traced_memory()[0] - before
        ) / count
        del ob
        gc.collect()
    tracemalloc.stop()
    return out


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 250_000
    res = measure(count)
    print(f"{count} prefixes from one peer, one attribute set")
    print(
        f"  Adj-RIB-In + Loc-RIB (with the prefix keys): {res['rib_bytes_per_prefix']:.0f} B/prefix"
    )
    for m in (1, 10, 100):
        v = res[f"adj_out_bytes_per_prefix_{m}_members"]
        print(f"  Adj-RIB-Out of one update group, {m:>3} members: {v:.0f} B/prefix")
    return 0


if __name__ == "__main__":
    sys.exit(main())
