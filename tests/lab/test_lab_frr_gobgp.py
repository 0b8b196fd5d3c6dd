"""Self-check of the FRR and GoBGP lab drivers with real daemons only (no pyrr).

If these fail, interop tests that put pyrr between FRR/GoBGP clients, or benchmarks that
compare pyrr with FRR or GoBGP as the route reflector, say nothing about pyrr.

The parser tests at the top need neither root nor daemons: they pin the JSON of FRR 8.4
and GoBGP 3.10 as captured from the real daemons in this lab.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .bird import Bird2, Neighbor
from .fixtures import lab_unavailable_reason
from .frr import FRR_TMPDIR, Frr, FrrNeighbor, frr_available, parse_neighbors, parse_routes
from .gobgp import Gobgp, GobgpNeighbor, gobgp_available, parse_rib
from .gobgp import parse_neighbors as parse_gobgp_neighbors
from .netns import Lab, list_netns, wait_until

CLUSTER_ID = "1.2.3.4"

# --- parsers (no root needed) ---------------------------------------------------------------

FRR_NEIGHBORS = {
    "198.18.0.101": {
        "remoteAs": 64512,
        "localAs": 64512,
        "hostname": "c1",
        "remoteRouterId": "198.18.0.101",
        "bgpState": "Established",
        "bgpTimerUpMsec": 6000,
        "bgpTimerHoldTimeMsecs": 9000,
        "bgpTimerKeepAliveIntervalMsecs": 3000,
        "neighborCapabilities": {
            "multiprotocolExtensions": {
                "ipv4Unicast": {"advertisedAndReceived": True},
                "ipv6Unicast": {"advertisedAndReceived": True},
            },
        },
        "addressFamilyInfo": {
            "ipv4Unicast": {"acceptedPrefixCounter": 1, "sentPrefixCounter": 2},
            "ipv6Unicast": {"acceptedPrefixCounter": 1, "sentPrefixCounter": 2},
        },
        "lastResetDueTo": "No AFI/SAFI activated for peer",
    },
    "198.18.0.102": {"remoteAs": 64512, "localAs": 64512, "bgpState": "Active"},
}

# `show bgp ipv4 unicast json detail` (FRR 8.4): a header object, then the paths.
FRR_ROUTES_DETAIL = {
    "vrfId": 0,
    "routerId": "198.18.0.101",
    "routes": {
        "10.10.1.0/26": [
            {"prefix": "10.10.1.0/26", "version": 1, "advertisedTo": {"198.18.0.104": {}}},
            {
                "aspath": {"string": "Local", "segments": [], "length": 0},
                "origin": "IGP",
                "metric": 0,
                "weight": 32768,
                "valid": True,
                "sourced": True,
                "local": True,
                "bestpath": {"overall": True, "selectionReason": "First path received"},
                "nexthops": [{"ip": "0.0.0.0", "afi": "ipv4", "used": True}],
                "peer": {"peerId": "0.0.0.0", "routerId": "198.18.0.101"},
            },
        ],
        "10.10.2.0/26": [
            {"prefix": "10.10.2.0/26", "version": 2},
            {
                "aspath": {
                    "string": "65001 {65002 65003}",
                    "segments": [
                        {"type": "as-sequence", "list": [65001]},
                        {"type": "as-set", "list": [65002, 65003]},
                    ],
                    "length": 2,
                },
                "origin": "IGP",
                "metric": 0,
                "locPrf": 100,
                "valid": True,
                "bestpath": {"overall": True},
                "community": {"string": "64512:1 64512:2"},
                "originatorId": "198.18.0.102",
                "clusterList": {"list": ["1.2.3.4"]},
                "nexthops": [{"ip": "198.18.0.102", "afi": "ipv4", "used": True}],
                "peer": {"peerId": "198.18.0.104", "routerId": "198.18.0.104"},
            },
        ],
    },
}

# `show bgp ipv6 unicast json` (no detail): no originatorId/clusterList here.
FRR_ROUTES6_PLAIN = {
    "routes": {
        "2001:db8:1002::/64": [
            {
                "valid": True,
                "bestpath": True,
                "prefix": "2001:db8:1002::",
                "prefixLen": 64,
                "locPrf": 100,
                "peerId": "198.18.0.102",
                "path": "",
                "origin": "incomplete",
                "nexthops": [
                    {"ip": "2001:db8::102", "afi": "ipv6", "scope": "global", "used": True},
                    {"ip": "fe80::1", "afi": "ipv6", "scope": "link-local"},
                ],
            }
        ]
    }
}

GOBGP_RIB = {
    "10.10.1.0/26": [
        {
            "nlri": {"prefix": "10.10.1.0/26"},
            "age": 1796003888,
            "best": True,
            "attrs": [
                {"type": 1, "value": 0},
                {"type": 2, "as_paths": [{"segment_type": 2, "num": 1, "asns": [65001]}]},
                {"type": 3, "nexthop": "198.18.0.101"},
                {"type": 4, "metric": 0},
                {"type": 5, "value": 100},
                {"type": 8, "communities": [4227858433]},
                {"type": 9, "value": "198.18.0.101"},
                {"type": 10, "value": ["1.2.3.4"]},
            ],
            "stale": False,
            "source-id": "198.18.0.104",
            "neighbor-ip": "198.18.0.104",
        }
    ],
    "2001:db8:1002::/64": [
        {
            "nlri": {"prefix": "2001:db8:1002::/64"},
            "best": True,
            "attrs": [
                {"type": 1, "value": 2},
                {
                    "type": 14,
                    "nexthop": "2001:db8::102",
                    "afi": 2,
                    "safi": 1,
                    "value": [{"prefix": "2001:db8:1002::/64"}],
                },
            ],
            "stale": False,
        }
    ],
}

GOBGP_NEIGHBORS = [
    {
        "conf": {"local_asn": 64512, "neighbor_address": "198.18.0.104", "peer_asn": 64512},
        "state": {
            "neighbor_address": "198.18.0.104",
            "peer_asn": 64512,
            "session_state": 6,
            "router_id": "198.18.0.104",
        },
        "timers": {"state": {"uptime": {"seconds": 1000}}},
        "afi_safis": [
            {"state": {"family": {"afi": 1, "safi": 1}, "received": 2, "accepted": 1}},
            {"state": {"family": {"afi": 2, "safi": 1}, "received": 3, "accepted": 3}},
        ],
    },
    {"conf": {"neighbor_address": "198.18.0.105", "peer_asn": 64512}, "state": {}},
]


def test_parse_frr_neighbors() -> None:
    a, b = sorted(parse_neighbors(FRR_NEIGHBORS), key=lambda p: p.address)
    assert a.established and a.uptime_ms == 6000 and a.hold_time_ms == 9000
    assert a.received == {"ipv4": 1, "ipv6": 1} and a.sent == {"ipv4": 2, "ipv6": 2}
    assert a.families == {"ipv4", "ipv6"} and a.hostname == "c1"
    assert not b.established and b.state == "Active" and b.uptime_ms is None


def test_parse_frr_routes() -> None:
    local, learned = sorted(parse_routes(FRR_ROUTES_DETAIL), key=lambda r: r.prefix)
    assert local.local and local.peer is None and local.best and local.next_hop == "0.0.0.0"
    assert not learned.local and learned.peer == "198.18.0.104"
    assert learned.next_hop == "198.18.0.102" and learned.link_local is None
    assert learned.as_path == (65001, 65002, 65003)
    assert learned.originator_id == "198.18.0.102" and learned.cluster_list == ("1.2.3.4",)
    assert learned.local_pref == 100 and learned.communities == ((64512, 1), (64512, 2))
    (r6,) = parse_routes(FRR_ROUTES6_PLAIN)
    assert r6.prefix == "2001:db8:1002::/64" and r6.best and r6.peer == "198.18.0.102"
    assert r6.next_hop == "2001:db8::102" and r6.link_local == "fe80::1"
    assert r6.next_hops == ("2001:db8::102", "fe80::1") and r6.as_path == ()


def test_parse_gobgp() -> None:
    r4, r6 = sorted(parse_rib(GOBGP_RIB), key=lambda r: r.prefix)
    assert r4.next_hop == "198.18.0.101" and r4.as_path == (65001,) and r4.origin == "IGP"
    assert r4.local_pref == 100 and r4.med == 0 and r4.communities == ((64512, 1),)
    assert r4.originator_id == "198.18.0.101" and r4.cluster_list == ("1.2.3.4",)
    assert r4.neighbor == "198.18.0.104" and not r4.local and r4.best
    assert r6.next_hop == "2001:db8::102" and r6.local and r6.origin == "incomplete"
    assert r6.originator_id is None and r6.cluster_list == ()
    up, down = parse_gobgp_neighbors(GOBGP_NEIGHBORS, now=1010.0)
    assert up.established and up.uptime_s == 10.0 and up.router_id == "198.18.0.104"
    assert up.received == {"ipv4": 2, "ipv6": 3} and up.accepted == {"ipv4": 1, "ipv6": 3}
    assert down.address == "198.18.0.105" and down.state == "UNKNOWN" and down.uptime_s is None
    assert parse_gobgp_neighbors(None) == [] and parse_rib({}) == []


def test_frr_config_shapes(tmp_path: Path) -> None:
    """The two roles render as documented (no daemon: a stand-in host object)."""
    from ipaddress import IPv4Interface, IPv6Interface

    from .netns import Host

    lab = Lab(workdir=tmp_path)  # never started: no namespace is created
    host = Host(
        lab=lab,
        name="n1",
        netns="unused",
        ip4_iface=IPv4Interface("198.18.0.101/24"),
        ip6_iface=IPv6Interface("2001:db8::101/64"),
        dir=tmp_path,
        port="p-n1",
    )
    c = Frr.client(host, "198.18.0.104", ["10.10.1.0/26", "2001:db8:1001::/64"], hold_time=9)
    text = c.render_config()
    assert " neighbor 198.18.0.104 remote-as 64512" in text
    assert " neighbor 198.18.0.104 timers 3 9" in text
    assert "  network 2001:db8:1001::/64 route-map PYRR-ORIGIN6" in text
    assert " set ipv6 next-hop global 2001:db8::101" in text
    assert text.count("  neighbor 198.18.0.104 activate") == 2
    rr = Frr.route_reflector(host, listen_range="127.0.0.0/8", listen_limit=2000)
    text = rr.render_config()
    assert " bgp listen range 127.0.0.0/8 peer-group CLIENTS" in text
    assert " bgp listen limit 2000" in text
    assert text.count("  neighbor CLIENTS route-reflector-client") == 2
    g = Gobgp.route_reflector(host, ["198.18.0.102"], cluster_id=CLUSTER_ID)
    toml = g.render_config()
    assert 'route-reflector-cluster-id = "1.2.3.4"' in toml and "passive-mode = true" in toml
    assert toml.count("afi-safi-name") == 2
    lab.close()  # releases the lab's name; it never built anything


# --- with real daemons ----------------------------------------------------------------------


def _skip_reason() -> str | None:
    return lab_unavailable_reason() or frr_available() or gobgp_available()


@pytest.fixture
def require_daemons() -> None:
    reason = _skip_reason()
    if reason is not None:
        pytest.fail(f"{reason}: run scripts/setup.sh as root")


needs_daemons = pytest.mark.usefixtures("require_daemons")


@pytest.mark.lab
@needs_daemons
def test_frr_rr_reflects_between_frr_and_gobgp_clients(lab: Lab) -> None:
    """(a) FRR as RR; an FRR client and a GoBGP client, each one session with both families."""
    rr_h = lab.add_host("rr", "198.18.0.104/24", "2001:db8::104/64")
    f_h = lab.add_host("frr1", "198.18.0.101/24", "2001:db8::101/64")
    g_h = lab.add_host("gobgp2", "198.18.0.102/24", "2001:db8::102/64")

    t0 = time.monotonic()
    rr = Frr.route_reflector(rr_h, [f_h.ip4, g_h.ip4], cluster_id=CLUSTER_ID).start()
    fc = Frr.client(f_h, rr_h.ip4, ["10.10.1.0/26", "2001:db8:1001::/64"], hold_time=9).start()
    gc = Gobgp.client(g_h, rr_h.ip4, ["10.10.2.0/26", "2001:db8:1002::/64"]).start()
    t_started = time.monotonic()

    peers = rr.wait_established(timeout=40)
    t_est = time.monotonic()
    assert {p.address for p in peers} == {f_h.ip4, g_h.ip4}
    assert all(p.families == {"ipv4", "ipv6"} for p in peers), peers
    fc.wait_established(timeout=10)
    gc.wait_established(timeout=10)
    assert fc.peer(rr_h.ip4).hold_time_ms == 9000  # the client's hold time was negotiated

    # The FRR client learns the GoBGP client's routes through the RR, unchanged next hops.
    fr4 = fc.wait_prefixes("ipv4", ["10.10.2.0/26"], timeout=20)
    fr6 = fc.wait_prefixes("ipv6", ["2001:db8:1002::/64"], timeout=20)
    gr4 = gc.wait_prefixes("ipv4", ["10.10.1.0/26"], timeout=20)
    gr6 = gc.wait_prefixes("ipv6", ["2001:db8:1001::/64"], timeout=20)
    t_routes = time.monotonic()

    (r,) = [r for r in fr4 if r.prefix == "10.10.2.0/26"]
    assert (r.next_hop, r.peer, r.originator_id, r.cluster_list) == (
        g_h.ip4, rr_h.ip4, g_h.ip4, (CLUSTER_ID,)
    )  # fmt: skip
    assert r.best and r.valid and r.local_pref == 100 and r.as_path == ()
    (r,) = [r for r in fr6 if r.prefix == "2001:db8:1002::/64"]
    assert (r.next_hop, r.originator_id, r.cluster_list) == (g_h.ip6, g_h.ip4, (CLUSTER_ID,))
    # ...and the GoBGP client the FRR client's.
    (g,) = [r for r in gr4 if r.prefix == "10.10.1.0/26"]
    assert (g.next_hop, g.neighbor, g.originator_id, g.cluster_list) == (
        f_h.ip4, rr_h.ip4, f_h.ip4, (CLUSTER_ID,)
    )  # fmt: skip
    assert g.origin == "IGP" and g.local_pref == 100 and g.as_path == ()
    (g,) = [r for r in gr6 if r.prefix == "2001:db8:1001::/64"]
    # Not ::ffff:198.18.0.101: the driver's origination route map sets the IPv6 next hop.
    assert (g.next_hop, g.originator_id, g.cluster_list) == (f_h.ip6, f_h.ip4, (CLUSTER_ID,))

    # The RR itself: both paths, from the clients, next hops untouched, no reflection attrs.
    rr4 = {r.prefix: r for r in rr.routes("ipv4")}
    assert rr4["10.10.1.0/26"].peer == f_h.ip4 and rr4["10.10.2.0/26"].next_hop == g_h.ip4
    assert rr4["10.10.1.0/26"].originator_id is None
    assert rr.received_counts("ipv6") == {f_h.ip4: 1, g_h.ip4: 1}
    assert {p.address: p.received for p in rr.peers()} == {
        f_h.ip4: {"ipv4": 1, "ipv6": 1},
        g_h.ip4: {"ipv4": 1, "ipv6": 1},
    }

    # Announce and withdraw at run time, both drivers.
    t1 = time.monotonic()
    fc.add_network("10.10.9.0/26")
    gc.wait_prefixes("ipv4", ["10.10.9.0/26"], timeout=20)
    t_prop = time.monotonic() - t1
    gc.add_route("2001:db8:1009::/64")
    fc.wait_prefixes("ipv6", ["2001:db8:1009::/64"], timeout=20)
    fc.remove_network("10.10.9.0/26")
    gc.wait_prefixes("ipv4", ["10.10.9.0/26"], present=False, timeout=20)
    gc.remove_route("2001:db8:1009::/64")
    fc.wait_prefixes("ipv6", ["2001:db8:1009::/64"], present=False, timeout=20)

    print(
        f"\nFRR RR: daemons started in {t_started - t0:.1f}s; both sessions Established "
        f"{t_est - t_started:.1f}s later; routes reflected after {t_routes - t_started:.1f}s; "
        f"a new FRR network reached GoBGP in {t_prop:.2f}s"
    )


@pytest.mark.lab
@needs_daemons
def test_gobgp_rr_reflects_between_bird_and_frr_clients(lab: Lab) -> None:
    """(b) GoBGP as RR; a BIRD 2 client Calico-style (an IPv4 and an IPv6 session, one family
    each) and an FRR client (one IPv4 session, both families, TCP MD5)."""
    rr_h = lab.add_host("rr", "198.18.0.104/24", "2001:db8::104/64")
    b_h = lab.add_host("bird1", "198.18.0.101/24", "2001:db8::101/64")
    f_h = lab.add_host("frr2", "198.18.0.102/24", "2001:db8::102/64")

    t0 = time.monotonic()
    rr = Gobgp.route_reflector(
        rr_h,
        [
            GobgpNeighbor(b_h.ip4, families=("ipv4",), rr_client=True, passive=True),
            GobgpNeighbor(b_h.ip6, families=("ipv6",), rr_client=True, passive=True),
            GobgpNeighbor(f_h.ip4, rr_client=True, passive=True, password="lab-md5"),
        ],
        cluster_id=CLUSTER_ID,
    ).start()
    bird = Bird2(
        b_h,
        neighbors=[Neighbor(rr_h.ip4), Neighbor(rr_h.ip6)],
        routes=["10.10.1.0/26", "2001:db8:1001::/64"],
    ).start()
    fc = Frr.client(
        f_h, rr_h.ip4, ["10.10.2.0/26", "2001:db8:1002::/64"], password="lab-md5"
    ).start()

    rr.wait_established(timeout=40)
    t_est = time.monotonic()
    bird.wait_established(timeout=10)
    fc.wait_established(timeout=10)

    # BIRD: FRR's IPv4 route over the IPv4 session, its IPv6 route over the IPv6 session.
    def bird_has(table: str, prefix: str) -> bool:
        return any(r.prefix == prefix and r.is_bgp for r in bird.routes(table))

    wait_until(lambda: bird_has("master4", "10.10.2.0/26"), 20, 0.25, "BIRD learns 10.10.2/26")
    wait_until(lambda: bird_has("master6", "2001:db8:1002::/64"), 20, 0.25, "BIRD learns v6")
    (b4,) = [r for r in bird.routes("master4") if r.prefix == "10.10.2.0/26"]
    assert (b4.next_hop, b4.originator_id, b4.cluster_list) == (f_h.ip4, f_h.ip4, [CLUSTER_ID])
    assert b4.from_addr == rr_h.ip4 or b4.protocol.endswith("104")
    (b6,) = [r for r in bird.routes("master6") if r.prefix == "2001:db8:1002::/64"]
    assert (b6.next_hop, b6.originator_id, b6.cluster_list) == (f_h.ip6, f_h.ip4, [CLUSTER_ID])

    # FRR: BIRD's routes, IPv6 one included although BIRD sent it over an IPv6 session.
    fr4 = fc.wait_prefixes("ipv4", ["10.10.1.0/26"], timeout=20)
    fr6 = fc.wait_prefixes("ipv6", ["2001:db8:1001::/64"], timeout=20)
    t_routes = time.monotonic()
    (r,) = [r for r in fr4 if r.prefix == "10.10.1.0/26"]
    assert (r.next_hop, r.peer, r.originator_id, r.cluster_list) == (
        b_h.ip4, rr_h.ip4, b_h.ip4, (CLUSTER_ID,)
    )  # fmt: skip
    (r,) = [r for r in fr6 if r.prefix == "2001:db8:1001::/64"]
    assert (r.next_hop, r.originator_id, r.cluster_list) == (b_h.ip6, b_h.ip4, (CLUSTER_ID,))

    # GoBGP's own view: every client's path, next hops as the clients sent them.
    rib4 = {r.prefix: r for r in rr.routes("ipv4")}
    rib6 = {r.prefix: r for r in rr.routes("ipv6")}
    assert rib4["10.10.1.0/26"].neighbor == b_h.ip4 and rib4["10.10.1.0/26"].next_hop == b_h.ip4
    assert rib6["2001:db8:1001::/64"].neighbor == b_h.ip6
    assert rib6["2001:db8:1002::/64"].neighbor == f_h.ip4
    assert rib6["2001:db8:1002::/64"].next_hop == f_h.ip6
    assert rr.rib_summary("ipv4") == (2, 2) and rr.rib_summary("ipv6") == (2, 2)
    assert [r.prefix for r in rr.adj_in(f_h.ip4, "ipv6")] == ["2001:db8:1002::/64"]
    out = {r.prefix: r for r in rr.adj_out(f_h.ip4, "ipv6")}
    assert out["2001:db8:1001::/64"].originator_id == b_h.ip4
    peers = {p.address: p for p in rr.peers()}
    assert peers[b_h.ip4].received == {"ipv4": 1}
    assert peers[b_h.ip6].received == {"ipv6": 1}
    assert peers[f_h.ip4].received == {"ipv4": 1, "ipv6": 1}

    # A withdrawal through the GoBGP RR.
    fc.remove_network("2001:db8:1002::/64")
    wait_until(
        lambda: not bird_has("master6", "2001:db8:1002::/64"), 20, 0.25, "BIRD drops the v6 route"
    )
    print(
        f"\nGoBGP RR: 3 sessions Established {t_est - t0:.1f}s after start; routes reflected "
        f"after {t_routes - t0:.1f}s"
    )


@pytest.mark.lab
@needs_daemons
def test_frr_listen_range_on_loopback(lab: Lab) -> None:
    """FRR RR accepting clients from 127/8 through `bgp listen range` (the benchmark layout):
    an FRR and a GoBGP client share the RR's namespace, each from its own 127.0.0.x.

    Also pins the quirk a benchmark must respect: FRR 8.4 answers a NEXT_HOP in 127/8 with a
    NOTIFICATION (3/8 Invalid NEXT_HOP) and drops the session (no knob allows it), so clients
    on 127.x must announce next hops outside 127/8.
    """
    h = lab.add_host("bench", "198.18.0.100/24", "2001:db8::100/64")
    rr = Frr.route_reflector(
        h, listen_range="127.0.0.0/8", listen_limit=1000, listen_addresses=["127.0.0.1"],
        cluster_id=CLUSTER_ID, name="frr-rr",
    ).start()  # fmt: skip
    fc = Frr(
        h,
        [FrrNeighbor("127.0.0.1", update_source="127.0.0.2")],
        ["10.10.1.0/26", "2001:db8:1001::/64"],
        router_id="10.255.0.2",
        next_hop4="198.18.1.2",  # else the session's address, 127.0.0.2
        next_hop6="2001:db8:1::2",
        bgp_port=0,  # the RR listens on this namespace's port 179
        name="frr-c2",
    ).start()
    gc = Gobgp(
        h,
        [GobgpNeighbor("127.0.0.1", local_address="127.0.0.3")],
        ["10.10.2.0/26"],
        router_id="10.255.0.3",
        next_hop4="198.18.1.3",
        listen_port=-1,
        api_port=50053,
        name="gobgp-c3",
    ).start()

    t0 = time.monotonic()
    peers = rr.wait_established(count=2, timeout=40)
    t_est = time.monotonic() - t0
    assert {p.address for p in peers} == {"127.0.0.2", "127.0.0.3"}
    assert all(p.dynamic and p.peer_group == "CLIENTS" for p in peers), peers
    r = {x.prefix: x for x in gc.wait_prefixes("ipv4", ["10.10.1.0/26"], timeout=20)}
    assert r["10.10.1.0/26"].next_hop == "198.18.1.2"
    assert r["10.10.1.0/26"].originator_id == "10.255.0.2"
    r = {x.prefix: x for x in gc.wait_prefixes("ipv6", ["2001:db8:1001::/64"], timeout=20)}
    assert r["2001:db8:1001::/64"].next_hop == "2001:db8:1::2"
    fr = {x.prefix: x for x in fc.wait_prefixes("ipv4", ["10.10.2.0/26"], timeout=20)}
    assert fr["10.10.2.0/26"].next_hop == "198.18.1.3"

    # A 127/8 next hop: the RR resets the GoBGP client's session.
    gc.add_route("10.10.3.0/26", next_hop="127.0.0.3")
    assert rr.process is not None
    wait_until(
        lambda: "Martian nexthop 127.0.0.3" in rr.process.log_text() if rr.process else None,
        20, 0.25, "the FRR RR to refuse the 127/8 next hop",
    )  # fmt: skip
    wait_until(lambda: not gc.peer("127.0.0.1").established, 10, 0.1, "GoBGP session reset")
    assert "10.10.3.0/26" not in rr.prefixes("ipv4")
    print(f"\nlisten range: 2 dynamic clients Established {t_est:.1f}s after start")


@pytest.mark.lab
@needs_daemons
def test_restart_kill9_and_cleanup(lab: Lab) -> None:
    """(c) restart and SIGKILL behave; afterwards no process, namespace or FRR tmp dir is left.

    The test closes the lab itself (the fixture's close is then a no-op) to check what is left.
    """
    rr_h = lab.add_host("rr", "198.18.0.104/24", "2001:db8::104/64")
    g_h = lab.add_host("gobgp1", "198.18.0.101/24", "2001:db8::101/64")
    namespaces = lab.namespaces()
    rr = Frr.route_reflector(rr_h, [g_h.ip4], cluster_id=CLUSTER_ID).start()
    gc = Gobgp.client(g_h, rr_h.ip4, ["10.10.1.0/26"]).start()
    rr.wait_established(timeout=40)
    rr.wait_prefixes("ipv4", ["10.10.1.0/26"], timeout=20)

    # GoBGP restart: the routes announced through the API are announced again.
    t = time.monotonic()
    gc.restart()
    wait_until(lambda: rr.peer(g_h.ip4).connections_established == 2, 40, 0.1, "a second session")
    rr.wait_prefixes("ipv4", ["10.10.1.0/26"], timeout=20)
    t_gobgp_restart = time.monotonic() - t

    # FRR SIGKILL: its tmp dir goes with it; a fresh start re-establishes.
    assert rr.process is not None
    first = rr.process.pid
    assert (FRR_TMPDIR / f"bgpd.{first}").exists()
    rr.kill9()
    assert not (FRR_TMPDIR / f"bgpd.{first}").exists()
    t = time.monotonic()
    rr.start()
    rr.wait_established(timeout=40)
    rr.wait_prefixes("ipv4", ["10.10.1.0/26"], timeout=20)
    t_frr_kill = time.monotonic() - t

    # GoBGP session reset from GoBGP's side.
    t = time.monotonic()
    gc.reset(rr_h.ip4)
    wait_until(lambda: not gc.peer(rr_h.ip4).established, 10, 0.1, "session down")
    gc.wait_established(timeout=40)
    t_reset = time.monotonic() - t
    caps = gc.peer(rr_h.ip4).remote_capabilities
    assert "MultiProtocolCapability" in caps and "FqdnCapability" in caps, caps

    pids = [p.pid for p in lab.processes]
    assert rr.process is not None
    frr_pid = rr.process.pid
    workdir = lab.workdir
    lab.close()
    assert not [ns for ns in namespaces if ns in list_netns()]
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"pid {pid} still running"
    assert not (FRR_TMPDIR / f"bgpd.{frr_pid}").exists()
    assert not workdir.exists()
    print(
        f"\nGoBGP restart -> routes back at the FRR RR in {t_gobgp_restart:.1f}s; FRR SIGKILL"
        f" + start -> re-established with routes in {t_frr_kill:.1f}s; GoBGP disable+enable"
        f" -> Established in {t_reset:.1f}s"
    )


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (OSError, IndexError):
        return True
