"""calico-node's address autodetection methods: the rules on made-up interface lists, then for
real in a network namespace with eth0, docker0, cali*, tunl* and ens* interfaces (netlink
address dumps and a netlink route lookup, as on a node)."""

from __future__ import annotations

import json
import socket
import sys
from ipaddress import ip_address

import pytest

from pyrr.ops.autodetect import (
    DEFAULT_INTERFACES_TO_EXCLUDE,
    Interface,
    autodetect,
    autodetect_from_env,
    is_global_unicast,
    netlink_interfaces,
    version_of,
)

from ..lab.netns import Lab
from .fake_netlink import break_netlink


def iface(index: int, name: str, *addresses: str) -> Interface:
    return Interface(index, name, [ip_address(a) for a in addresses])


HOST = [
    iface(1, "lo", "127.0.0.1", "::1"),
    iface(2, "eth0", "169.254.9.9", "198.18.0.10", "fe80::1", "2001:db8::10"),
    iface(3, "eth1", "198.19.1.1", "2001:db8:1::1"),
    iface(4, "docker0", "198.18.100.1", "2001:db8:d::1"),
    iface(5, "cali1234abcd", "198.18.200.1"),
    iface(6, "kube-ipvs0", "198.18.250.1"),
    iface(7, "vxlan.calico", "198.18.251.1"),
    iface(8, "lo1", "198.18.252.1"),  # only "lo" itself is excluded (^lo$)
]


def run(method: str, family: int, ifaces: list[Interface] = HOST) -> str | None:
    def only(version: int) -> list[Interface]:
        return [
            Interface(i.index, i.name, [a for a in i.addresses if a.version == version])
            for i in ifaces
        ]

    return autodetect(method, family, interfaces=only, route_source=lambda d, v: None)


def test_first_found_walks_interfaces_from_the_highest_index_and_skips_calicos_list() -> None:
    assert run("first-found", 4) == "198.18.252.1"  # lo1, the highest index not excluded
    without_lo1 = HOST[:-1]
    # docker0, cali*, kube-ipvs0, vxlan.calico skipped; eth1 is above eth0 (calico's order).
    assert run("first-found", 4, without_lo1) == "198.19.1.1"
    assert run("first-found", 6, without_lo1) == "2001:db8:1::1"
    assert run("", socket.AF_INET, without_lo1) == "198.19.1.1"  # empty = first-found
    only_eth0 = [HOST[0], HOST[1], *HOST[3:7]]
    # The link-local addresses come first on eth0 and are passed over.
    assert run("first-found", 4, only_eth0) == "198.18.0.10"
    assert run("first-found", socket.AF_INET6, only_eth0) == "2001:db8::10"
    assert run("first-found", 4, [HOST[0], *HOST[3:7]]) is None


def test_interface_regexes_are_searched_like_go() -> None:
    assert run("interface=eth0", 4) == "198.18.0.10"
    assert run("interface=^eth.*", 4) == "198.19.1.1"
    assert run("interface=nothing, eth0", 6) == "2001:db8::10"  # a list, blanks around commas
    # An explicit interface= wins over the default exclude list.
    assert run("interface=docker0", 4) == "198.18.100.1"
    # Unanchored, as calico-node's MatchString: "th0" matches eth0.
    assert run("interface=th0", 4) == "198.18.0.10"
    assert run("interface=^th0", 4) is None


def test_skip_interface_cidr_and_can_reach() -> None:
    assert run("skip-interface=lo1,eth1", 4) == "198.18.0.10"
    assert run("cidr=198.18.0.0/24", 4) == "198.18.0.10"
    assert run("cidr=10.0.0.0/8, 198.18.100.0/24", 4) == "198.18.100.1"  # no exclude list
    assert run("cidr=2001:db8:1::/48", 6) == "2001:db8:1::1"
    assert run("cidr=2001:db8:1::/48", 4) is None
    assert run("cidr=169.254.0.0/16", 4) is None  # link-local never qualifies

    def only4(version: int) -> list[Interface]:
        return HOST

    here, far = "198.18.0.10", "203.0.113.1"
    found = autodetect("can-reach=198.18.0.99", 4, interfaces=only4, route_source=lambda d, v: here)
    assert found == here
    # The kernel's source must be an address of this host (calico-node checks it too).
    found = autodetect("can-reach=198.18.0.99", 4, interfaces=only4, route_source=lambda d, v: far)
    assert found is None


@pytest.mark.parametrize(
    "method",
    ["first_found", "interface", "interface=", "cidr=x", "cidr=198.18.0.0/33", "can-reach=",
     "interface=(", "eth0"],
)  # fmt: skip
def test_bad_methods_are_errors(method: str) -> None:
    with pytest.raises(ValueError):
        run(method, 4)


def test_helpers() -> None:
    assert version_of(4) == version_of(socket.AF_INET) == 4
    assert version_of(6) == version_of(socket.AF_INET6) == 6
    with pytest.raises(ValueError):
        version_of(5)
    for bad in ("0.0.0.0", "127.0.0.1", "224.0.0.1", "169.254.1.1", "255.255.255.255", "::",
                "::1", "fe80::1", "ff02::1"):  # fmt: skip
        assert not is_global_unicast(ip_address(bad)), bad
    for good in ("10.0.0.1", "198.18.0.1", "8.8.8.8", "fd00::1", "2001:db8::1"):
        assert is_global_unicast(ip_address(good)), good
    assert (
        r"^docker.*" in DEFAULT_INTERFACES_TO_EXCLUDE and r"^lo$" in DEFAULT_INTERFACES_TO_EXCLUDE
    )


def test_no_netlink_means_nothing_found(monkeypatch: pytest.MonkeyPatch) -> None:
    break_netlink(monkeypatch)
    assert netlink_interfaces(4) == []
    assert autodetect("first-found", 4) is None
    assert autodetect_from_env({}, socket.AF_INET6) is None


def test_from_env_reads_calicos_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, int]] = []

    def fake(method: str, family: int) -> str:
        seen.append((method, family))
        return "x"

    monkeypatch.setattr("pyrr.ops.autodetect.autodetect", fake)
    autodetect_from_env({}, 4)
    autodetect_from_env({"IP_AUTODETECTION_METHOD": "interface=eth0"}, socket.AF_INET)
    v4_only = {"IP_AUTODETECTION_METHOD": "cidr=1.0.0.0/8", "IP6_AUTODETECTION_METHOD": ""}
    autodetect_from_env(v4_only, 6)
    assert seen == [("first-found", 4), ("interface=eth0", 4), ("first-found", 6)]


# --- for real, in a network namespace ------------------------------------------------------------

PROBE = """
import json, sys
from pyrr import log
from pyrr.ops.autodetect import autodetect
log.setup("error")  # log lines to stderr, not into the JSON on stdout
out = {}
for method in sys.argv[1:]:
    out[method] = [autodetect(method, 4), autodetect(method, 6)]
print(json.dumps(out))
"""


@pytest.mark.lab
def test_methods_in_a_network_namespace(lab: Lab) -> None:
    node = lab.add_host("node", "198.18.0.10/24", "2001:db8::10/64")

    def link(name: str, *cidrs: str) -> None:
        # A veth pair inside the namespace (some kernels lack the dummy driver; the lab needs
        # veth anyway); the peer end "<name>p" has no address, so it is never picked.
        node.ip("link", "add", name, "type", "veth", "peer", "name", f"{name}p")
        for cidr in cidrs:
            extra = ["nodad"] if ":" in cidr else []
            node.ip("addr", "add", cidr, "dev", name, *extra)
        node.ip("link", "set", f"{name}p", "up")
        node.ip("link", "set", name, "up")

    # What a Calico node has besides its uplink: all skipped by first-found.
    link("docker0", "198.18.100.1/24", "2001:db8:d::1/64")
    link("cali123", "198.18.200.1/32")
    link("tunl9", "198.18.201.1/32")

    def probe(*methods: str) -> dict[str, list[str | None]]:
        r = node.run([sys.executable, "-c", PROBE, *methods])
        result: dict[str, list[str | None]] = json.loads(r.stdout)
        return result

    got = probe("first-found", "interface=^eth0$", "interface=dock.*", "cidr=198.18.200.0/24")
    assert got["first-found"] == ["198.18.0.10", "2001:db8::10"]
    assert got["interface=^eth0$"] == ["198.18.0.10", "2001:db8::10"]
    assert got["interface=dock.*"] == ["198.18.100.1", "2001:db8:d::1"]
    assert got["cidr=198.18.200.0/24"] == ["198.18.200.1", None]

    # A second uplink with routes toward a far 198.18.x network and a 2001:db8 one.
    link("ens9", "198.19.0.9/24", "2001:db8:9::9/64")
    node.ip("route", "add", "198.18.128.0/24", "via", "198.19.0.1", "dev", "ens9")
    node.ip("-6", "route", "add", "2001:db8:128::/48", "via", "2001:db8:9::1", "dev", "ens9")
    got = probe(
        "can-reach=198.18.128.7", "can-reach=198.18.0.50", "can-reach=2001:db8:128::7",
        "can-reach=2001:db8::50", "interface=ens.*", "cidr=198.19.0.0/16,2001:db8:9::/48",
        "skip-interface=ens.*", "first-found",
    )  # fmt: skip
    # can-reach: the kernel's choice of source toward the destination, per route.
    assert got["can-reach=198.18.128.7"][0] == "198.19.0.9"
    assert got["can-reach=198.18.0.50"][0] == "198.18.0.10"
    assert got["can-reach=2001:db8:128::7"][1] == "2001:db8:9::9"
    assert got["can-reach=2001:db8::50"][1] == "2001:db8::10"
    assert got["can-reach=198.18.128.7"][1] is None  # an IPv4 destination has no IPv6 source
    assert got["interface=ens.*"] == ["198.19.0.9", "2001:db8:9::9"]
    assert got["cidr=198.19.0.0/16,2001:db8:9::/48"] == ["198.19.0.9", "2001:db8:9::9"]
    assert got["skip-interface=ens.*"] == ["198.18.0.10", "2001:db8::10"]
    # first-found now sees two uplinks and, like calico-node, takes the one with the higher
    # interface index.
    links = json.loads(node.ip("-j", "link", "show"))
    index = {link["ifname"]: link["ifindex"] for link in links}
    want = "ens9" if index["ens9"] > index["eth0"] else "eth0"
    expected = {"ens9": ["198.19.0.9", "2001:db8:9::9"], "eth0": ["198.18.0.10", "2001:db8::10"]}
    assert got["first-found"] == expected[want]
