"""Self-check of the lab harness with real daemons only (no pyrr): if these fail, the
interop tests' failures say nothing about pyrr.

The parser tests at the top need neither root nor BIRD: they pin the output formats of
BIRD 2.0.12 and 1.6.8 as captured from the real daemons.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

from .bird import (
    Bird2,
    BirdError,
    CalicoBird,
    Neighbor,
    Route,
    parse_protocols,
    parse_reply,
    parse_routes,
)
from .fixtures import lab_unavailable_reason
from .netns import Lab, LabError, list_netns, wait_until

# --- parsers (no root needed) ---------------------------------------------------------------

BIRD2_ROUTES = """\
0001 BIRD 2.0.12 ready.
1007-Table master4:
     10.10.2.0/26         unicast [p4 01:51:08.549 from 198.18.0.104] * (100) [i]
     \tvia 198.18.0.2 on eth0
1008-\tType: BGP univ
1012-\tBGP.origin: IGP
     \tBGP.as_path: 64513 {64514 64515}
     \tBGP.next_hop: 198.18.0.2
     \tBGP.local_pref: 100
     \tBGP.originator_id: 198.18.0.2
     \tBGP.cluster_list: 198.18.0.104 198.18.0.105
     \tBGP.community: (64512,1) (64512,2)
1007-                     unicast [p5 01:51:09.001] (100) [i]
     \tvia 198.18.0.3 on eth0
1008-\tType: BGP univ
1012-\tBGP.next_hop: 198.18.0.3
1007-10.10.1.0/26         blackhole [static4 01:51:03.962] * (200)
1008-\tType: static univ
1007-
     Table master6:
     2001:db8:1002::/64   unicast [p6 01:51:08.045] * (100) [i]
     \tvia 2001:db8::2 on eth0
1008-\tType: BGP univ
1012-\tBGP.next_hop: 2001:db8::2 fe80::1
"""

BIRD16_ROUTES = """\
0001 BIRD 1.6.8 ready.
1007-10.10.2.0/26       via 198.18.0.102 on eth0 [Global_198_18_0_104 01:52:03 from 198.18.0.104] * (100/0) [i]
1008-\tType: BGP unicast univ
1012-\tBGP.origin: IGP
     \tBGP.as_path: \n     \tBGP.next_hop: 198.18.0.102
     \tBGP.local_pref: 100
     \tBGP.originator_id: 198.18.0.102
     \tBGP.cluster_list: 198.18.0.104
1007-10.10.1.0/26       blackhole [static1 01:52:02] * (200)
1008-\tType: static unicast univ
1007-198.18.0.0/24      dev eth0 [direct1 01:52:02] * (240)
1008-\tType: device unicast univ
"""  # noqa: E501

PROTOCOLS = """\
0001 BIRD 2.0.12 ready.
2002-Name       Proto      Table      State  Since         Info
1002-device1    Device     ---        up     01:52:29.144  \n\
     p4         BGP        ---        start  2026-11-30 01:52:29  Active        Socket: Refused
     Global_198_18_0_104 BGP      master   up     01:52:03    Established   \n\
"""


def test_parse_bird2_routes() -> None:
    routes = parse_routes(parse_reply(BIRD2_ROUTES))
    assert [(r.prefix, r.protocol) for r in routes] == [
        ("10.10.2.0/26", "p4"),
        ("10.10.2.0/26", "p5"),
        ("10.10.1.0/26", "static4"),
        ("2001:db8:1002::/64", "p6"),
    ]
    r = routes[0]
    assert r.primary and r.dest == "unicast" and r.gateway == "198.18.0.2"
    assert r.interface == "eth0" and r.from_addr == "198.18.0.104" and r.preference == 100
    assert r.type == "BGP univ" and r.is_bgp
    assert r.next_hop == "198.18.0.2" and r.local_pref == 100 and r.origin == "IGP"
    assert r.as_path == [64513, 64514, 64515]
    assert r.originator_id == "198.18.0.2"
    assert r.cluster_list == ["198.18.0.104", "198.18.0.105"]
    assert r.communities == [(64512, 1), (64512, 2)]
    assert not routes[1].primary and routes[1].next_hop == "198.18.0.3"
    assert routes[2].dest == "blackhole" and not routes[2].is_bgp
    assert routes[3].next_hop == "2001:db8::2"
    assert routes[3].next_hops == ["2001:db8::2", "fe80::1"]


def test_parse_bird16_routes() -> None:
    routes = parse_routes(parse_reply(BIRD16_ROUTES))
    assert [r.prefix for r in routes] == ["10.10.2.0/26", "10.10.1.0/26", "198.18.0.0/24"]
    r: Route = routes[0]
    assert r.dest == "unicast" and r.gateway == "198.18.0.102" and r.interface == "eth0"
    assert r.protocol == "Global_198_18_0_104" and r.from_addr == "198.18.0.104"
    assert r.next_hop == "198.18.0.102" and r.as_path == [] and r.cluster_list == ["198.18.0.104"]
    assert r.type == "BGP unicast univ"
    assert routes[1].dest == "blackhole"
    assert routes[2].dest == "device" and routes[2].interface == "eth0"


def test_parse_protocols() -> None:
    protos = parse_protocols(parse_reply(PROTOCOLS))
    assert [(p.name, p.proto, p.state) for p in protos] == [
        ("device1", "Device", "up"),
        ("p4", "BGP", "start"),
        ("Global_198_18_0_104", "BGP", "up"),
    ]
    assert protos[1].since == "2026-11-30 01:52:29"
    assert protos[1].info == "Active        Socket: Refused"
    assert protos[1].bgp_state == "Active" and not protos[1].established
    assert protos[2].established and protos[2].table == "master"


def test_parse_reply_errors() -> None:
    with pytest.raises(BirdError, match="9002"):
        parse_reply("0001 BIRD 1.6.8 ready.\n9002 nosuch is not a protocol\n")
    with pytest.raises(BirdError, match="No such command"):
        parse_reply("0001 BIRD 1.6.8 ready.\nNo such command. Press `?' for help.\n")


def test_wait_until_reports_last_value() -> None:
    values = iter(range(100))
    assert wait_until(lambda: next(values) >= 2, timeout=5, interval=0.01)
    with pytest.raises(AssertionError, match=r"the answer; last observed: 0"):
        wait_until(lambda: 0, timeout=0.05, interval=0.01, message="the answer")
    with pytest.raises(AssertionError, match="ValueError"):
        wait_until(lambda: int("x"), timeout=0.05, interval=0.01)


def test_lab_refuses_addresses_outside_test_ranges() -> None:
    lab = Lab(prefix="pyrrchk")
    try:
        with pytest.raises(LabError, match=r"198\.18\.0\.0/15"):
            lab.add_host("a", "10.0.0.1/24")
        with pytest.raises(LabError, match=r"2001:db8::/32"):
            lab.add_host("a", "198.18.0.1/24", "fd00::1/64")
        with pytest.raises(LabError, match="host name"):
            lab.add_host("averyveryverylongname", "198.18.0.1/24")
    finally:
        lab.close()


# --- real daemons ---------------------------------------------------------------------------

V4_A, V6_A = "10.10.1.0/26", "2001:db8:1001::/64"
V4_B, V6_B = "10.10.2.0/26", "2001:db8:1002::/64"


def _route(routes: list[Route], prefix: str) -> Route | None:
    for r in routes:
        if r.prefix == prefix and r.primary:
            return r
    return None


def _wait_route(bird: Bird2, table: str, prefix: str, timeout: float = 30.0) -> Route:
    return wait_until(
        lambda: _route(bird.routes(table), prefix), timeout, message=f"{prefix} in {table}"
    )


@pytest.mark.lab
def test_two_bird2_hosts_exchange_both_families(lab: Lab) -> None:
    ha = lab.add_host("a", "198.18.0.1/24", "2001:db8::1/64")
    hb = lab.add_host("b", "198.18.0.2/24", "2001:db8::2/64")
    a = Bird2(ha, neighbors=[hb.ip4, hb.ip6], routes=[V4_A, V6_A]).start()
    b = Bird2(hb, neighbors=[ha.ip4, ha.ip6], routes=[V4_B, V6_B]).start()

    protos = a.wait_established(timeout=30)
    assert {p.name for p in protos} == {"peer_198_18_0_2", "peer_2001_db8__2"}
    b.wait_established(timeout=30)

    for me, other, v4, v6 in ((a, hb, V4_B, V6_B), (b, ha, V4_A, V6_A)):
        r4 = _wait_route(me, "master4", v4)
        assert r4.next_hop == other.ip4 and r4.gateway == other.ip4 and r4.is_bgp
        assert r4.local_pref == 100 and r4.as_path == [] and r4.origin == "IGP"
        r6 = _wait_route(me, "master6", v6)
        assert r6.next_hop == other.ip6 and r6.gateway == other.ip6
    # Only static routes are exported: the connected /24 and /64 stay out of BGP.
    assert a.prefixes("ipv4") == {V4_A, V4_B}
    assert a.prefixes("ipv6") == {V6_A, V6_B}

    # add_route / remove_route reach the peer as an update / a withdrawal.
    b.add_route("10.10.3.0/26")
    wait_until(lambda: "10.10.3.0/26" in a.prefixes("ipv4"), 30, message="added route")
    b.remove_route("10.10.3.0/26")
    wait_until(lambda: "10.10.3.0/26" not in a.prefixes("ipv4"), 30, message="withdrawal")

    # A restart re-establishes and the routes come back.
    b.restart()
    a.wait_established(timeout=30)
    wait_until(lambda: V4_B in a.prefixes("ipv4"), 30, message="route after restart")


@pytest.mark.lab
def test_calico_bird16_with_bird2_route_reflector(lab: Lab) -> None:
    rr_host = lab.add_host("rr", "198.18.0.104/24", "2001:db8::104/64")
    h1 = lab.add_host("node1", "198.18.0.101/24", "2001:db8::101/64")
    h2 = lab.add_host("node2", "198.18.0.102/24", "2001:db8::102/64")
    rr = Bird2(
        rr_host,
        neighbors=[Neighbor(addr, rr_client=True) for h in (h1, h2) for addr in (h.ip4, h.ip6)],
        routes=["10.10.9.0/26", "2001:db8:1009::/64"],
    ).start()
    nodes = {}
    for i, h in ((1, h1), (2, h2)):
        nodes[h.name] = CalicoBird(
            h,
            peers=[rr_host.ip4, rr_host.ip6],
            blocks=[f"10.10.{i}.0/26", f"2001:db8:100{i}::/122"],
        ).start()
    n1, n2 = nodes["node1"], nodes["node2"]

    n1.wait_established(timeout=30)
    n2.wait_established(timeout=30)
    rr.wait_established(timeout=30)
    p4 = n1.protocols("ipv4")
    assert any(p.name == "Global_198_18_0_104" and p.established for p in p4)
    assert any(p.name == "Global_2001_db8__104" for p in n1.protocols("ipv6"))

    # The RR's own routes reach the node, both families.
    wait_until(lambda: "10.10.9.0/26" in n1.prefixes("ipv4"), 30, message="RR v4 route")
    wait_until(lambda: "2001:db8:1009::/64" in n1.prefixes("ipv6"), 30, message="RR v6")
    # node2's blocks are reflected to node1 with RFC 4456 attributes and node2's next hop.
    r4 = wait_until(lambda: _route(n1.routes("ipv4"), "10.10.2.0/26"), 30, message="reflected")
    assert r4.next_hop == h2.ip4 and r4.gateway == h2.ip4
    assert r4.originator_id == h2.ip4 and r4.cluster_list == [rr_host.ip4]
    assert r4.from_addr == rr_host.ip4
    r6 = wait_until(
        lambda: _route(n1.routes("ipv6"), "2001:db8:1002::/122"), 30, message="reflected v6"
    )
    assert r6.next_hop == h2.ip6 and r6.originator_id == h2.ip4
    # The RR learned the node's block from the node itself.
    r = wait_until(lambda: _route(rr.routes("master4"), "10.10.1.0/26"), 30, message="at RR")
    assert r.next_hop == h1.ip4
    # The export filter only lets pool routes out (the connected /24 stays home).
    assert "198.18.0.0/24" not in rr.prefixes("ipv4")

    # Calico adds a block: the RR and node2 see it; removing it withdraws it.
    n1.add_route("10.10.11.0/26")
    wait_until(lambda: "10.10.11.0/26" in n2.prefixes("ipv4"), 30, message="new block")
    n1.remove_route("10.10.11.0/26")
    wait_until(lambda: "10.10.11.0/26" not in n2.prefixes("ipv4"), 30, message="withdrawn")

    # A calico-node restart (-R) comes back and re-announces.
    n2.restart()
    n2.wait_established(timeout=30)
    wait_until(lambda: "10.10.2.0/26" in n1.prefixes("ipv4"), 30, message="after restart")


@pytest.mark.lab
def test_close_leaves_no_namespace_or_process() -> None:
    reason = lab_unavailable_reason()
    if reason is not None:
        pytest.fail(f"{reason} (the lab tests need root and scripts/setup.sh)")
    lab = Lab(prefix="pyrrchk")
    try:
        rr_host = lab.add_host("rr", "198.18.0.104/24", "2001:db8::104/64")
        node = lab.add_host("node1", "198.18.0.101/24", "2001:db8::101/64")
        Bird2(rr_host, neighbors=[Neighbor(node.ip4, rr_client=True)]).start()
        CalicoBird(node, peers=[rr_host.ip4, rr_host.ip6], blocks=[V4_A]).start()
        # A process that ignores SIGTERM must still go (SIGKILL after the grace period).
        stubborn = node.popen(
            [sys.executable, "-c", "import signal,time; signal.signal(signal.SIGTERM, "
             "signal.SIG_IGN); time.sleep(600)"],
        )  # fmt: skip
        namespaces = lab.namespaces()
        pids = [p.pid for p in lab.processes]
        workdir = lab.workdir
        assert len(namespaces) == 3 and set(namespaces) <= set(list_netns())
        assert len(pids) == 4 and all(_alive(pid) for pid in pids)
        time.sleep(0.5)  # let python install its SIGTERM handler
        assert stubborn.alive()
    finally:
        t0 = time.monotonic()
        lab.stop(grace=2.0)
        elapsed = time.monotonic() - t0
        lab.close()
        lab.close()  # idempotent

    assert elapsed < 15
    assert not set(namespaces) & set(list_netns())
    assert not any(_alive(pid) for pid in pids)
    assert not workdir.exists()
    with pytest.raises(LabError):
        rr_host.popen(["true"])


def _alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie (our reaped children are simply gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        return os.path.exists(f"/proc/{pid}")
