"""MRT files read back by `bgpdump` (Debian's): the TABLE_DUMP_V2 of the Loc-RIB (RFC 6396
§4.3) and the BGP4MP update log (§4.4) must show exactly the peers, prefixes, next hops and AS
paths pyrr holds and received. The speaker is the sans-IO one (tests/session/harness.py)."""

from __future__ import annotations

from ipaddress import IPv4Address, ip_address
from pathlib import Path

from pyrr.bgp.nlri import IPV4_UNICAST, IPV6_UNICAST, prefix_to_str
from pyrr.monitor.hub import Hub
from pyrr.monitor.tables import table_dump

from ..rib.factories import LOCAL_AS, attrs, update
from ..session.harness import RR_ID, World, caps
from .test_hub import WALL, MemoryLog
from .tools import bgpdump

EBGP_AS = 65003


def a_world() -> World:
    """Two iBGP clients and an eBGP peer, with overlapping prefixes, AS paths, IPv4 and IPv6."""
    w = World()
    a, b = w.peer("10.0.0.1"), w.peer("10.0.0.2")
    c = w.peer("10.0.0.3", asn=EBGP_AS, client=False)
    ra, rb = w.up(a), w.up(b)
    rc = w.up(c, capabilities=caps(asn=EBGP_AS), asn=EBGP_AS)
    w.send(ra, update(["10.10.1.0/26", "10.10.9.0/24"], next_hop="10.0.0.1"))
    w.send(ra, update(["2001:db8:1::/64"], next_hop="2001:db8::1"))
    w.send(rb, update(["10.10.2.0/26", "10.10.9.0/24"], attrs(local_pref=200), next_hop="10.0.0.2"))
    w.send(
        rc,
        update(
            ["10.10.9.0/24", "198.51.100.0/24", "2001:db8:9::/48"],
            attrs(local_pref=None, as_path=[EBGP_AS, 65100], med=5, communities=[(65003, 7)]),
            next_hop="10.0.0.3",
        ),
    )
    return w


def rib_rows(w: World) -> list[tuple[str, str, str, str]]:
    """(peer, prefix, next hop, AS path) of every candidate path, the best first per prefix."""
    rows = []
    for fam in (IPV4_UNICAST, IPV6_UNICAST):
        for prefix, entry in w.speaker.rib.tables[fam].items():
            paths = sorted(entry.paths, key=lambda p: p is not entry.best)
            for p in paths:
                hop = ip_address(p.next_hop[:16])
                aspath = " ".join(str(n) for _seg, asns in p.attrs.as_path for n in asns)
                rows.append((p.source.key, prefix_to_str(prefix, fam), str(hop), aspath))
    return rows


def test_bgpdump_reads_the_table_dump_as_pyrr_holds_it(tmp_path: Path) -> None:
    w = a_world()
    sources = [n.source for n in w.speaker.peers.values()]
    chunks = list(table_dump(w.speaker.rib, sources, int(IPv4Address(RR_ID)), int(WALL), {}, 2))
    assert len(chunks) > 3
    f = tmp_path / "rib.mrt"
    f.write_bytes(b"".join(b"".join(c) for c in chunks))
    lines = bgpdump(f)
    got = [(ln[3], ln[5], ln[8], ln[6]) for ln in lines]
    assert all(ln[0] == "TABLE_DUMP2" and ln[1] == str(int(WALL)) and ln[2] == "B" for ln in lines)
    assert got == rib_rows(w)
    assert len(got) == 8  # six prefixes, 10.10.9.0/24 with three candidates
    by_peer_as = {ln[3]: ln[4] for ln in lines}
    assert by_peer_as == {"10.0.0.1": str(LOCAL_AS), "10.0.0.2": str(LOCAL_AS), "10.0.0.3": "65003"}
    ebgp = next(ln for ln in lines if ln[5] == "198.51.100.0/24")
    assert ebgp[6] == "65003 65100" and ebgp[10] == "5" and ebgp[11] == "65003:7"
    # The best path of 10.10.9.0/24 (LOCAL_PREF 200, from 10.0.0.2) comes first.
    assert next(ln for ln in lines if ln[5] == "10.10.9.0/24")[3] == "10.0.0.2"


def test_bgpdump_reads_the_update_log(tmp_path: Path) -> None:
    w = World()
    hub = Hub(w.speaker, lambda: WALL, "rr1")
    log = MemoryLog()
    hub.update_log = log
    w.speaker.attach_monitor(hub)
    c = w.peer("10.0.0.3", asn=EBGP_AS, client=False)
    rc = w.up(c, capabilities=caps(asn=EBGP_AS), asn=EBGP_AS)
    w.send(
        rc,
        update(
            ["198.51.100.0/24", "2001:db8:9::/48"],
            attrs(local_pref=None, as_path=[EBGP_AS, 65100]),
            next_hop="10.0.0.3",
        ),
    )
    w.send(rc, update(withdraw=["198.51.100.0/24"]))
    w.cease(rc)
    f = tmp_path / "updates.mrt"
    f.write_bytes(b"".join(log.records))
    lines = bgpdump(f)
    states = [(ln[3], ln[4], ln[5], ln[6]) for ln in lines if ln[2] == "STATE"]
    assert states == [
        ("10.0.0.3", "65003", "1", "4"),
        ("10.0.0.3", "65003", "4", "5"),
        ("10.0.0.3", "65003", "5", "6"),
        ("10.0.0.3", "65003", "6", "1"),
    ]
    routes = [ln[2:9] for ln in lines if ln[2] in ("A", "W")]
    assert routes == [
        ["A", "10.0.0.3", "65003", "198.51.100.0/24", "65003 65100", "IGP", "10.0.0.3"],
        ["A", "10.0.0.3", "65003", "2001:db8:9::/48", "65003 65100", "IGP", "2001:db8::1"],
        ["W", "10.0.0.3", "65003", "198.51.100.0/24"],
    ]
