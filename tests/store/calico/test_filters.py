"""Calico BGPFilter resources into RouteFilter values (pyrr.store.calico.filters)."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any

import pytest

from pyrr.config import FilterAction, FilterOperation, MatchOperator, PeerType
from pyrr.store.calico.filters import read_bgpfilter
from pyrr.store.calico.values import Bad


def read(**spec: Any) -> Any:
    return read_bgpfilter("f", "/k", {"metadata": {"name": "f"}, "spec": spec})


def test_every_rule_field() -> None:
    f = read(
        exportV4=[
            {
                "action": "Accept",
                "cidr": "10.0.0.0/8",
                "matchOperator": "In",
                "prefixLength": {"min": 16, "max": 24},
                "source": "RemotePeers",
                "interface": "eth*",
                "peerType": "eBGP",
                "communities": {"values": ["65000:100"]},
                "asPathPrefix": [65000, "65001"],
                "priority": 512,
                "operations": [
                    {"addCommunity": {"value": "1:2:3"}},
                    {"prependASPath": {"prefix": [65000, 65000]}},
                    {"setPriority": {"value": 100}},
                ],
            }
        ],
        importV6=[{"action": "Reject", "cidr": "fd00::/8", "matchOperator": "NotEqual"}],
    )
    rule = f.export_v4[0]
    assert rule.action is FilterAction.ACCEPT and rule.match_operator is MatchOperator.IN
    assert rule.cidr == ip_network("10.0.0.0/8") and rule.prefix_length == (16, 24)
    assert rule.remote_peers_only and rule.interface == "eth*" and rule.peer_type is PeerType.EBGP
    assert rule.communities == ((65000, 100),) and rule.as_path_prefix == (65000, 65001)
    assert rule.priority == 512
    assert rule.operations == (
        FilterOperation(add_community=(1, 2, 3)),
        FilterOperation(prepend_as_path=(65000, 65000)),
        FilterOperation(set_priority=100),
    )
    six = f.import_v6[0]
    assert six.match_operator is MatchOperator.NOT_EQUAL and six.prefix_length is None
    assert f.import_v4 == () and f.export_v6 == ()


@pytest.mark.parametrize(
    ("lengths", "expected"),
    [
        ({}, (8, 32)),  # confd: [ cidr{len, 32} ]
        ({"min": 4}, (8, 32)),  # never shorter than the CIDR itself
        ({"max": 20}, (8, 20)),
        ({"min": 24, "max": 28}, (24, 28)),
    ],
)
def test_prefix_length_as_confd_renders_it(
    lengths: dict[str, int], expected: tuple[int, int]
) -> None:
    rule = {"action": "Accept", "cidr": "10.0.0.0/8", "matchOperator": "In"}
    f = read(exportV4=[{**rule, "prefixLength": lengths}])
    assert f.export_v4[0].prefix_length == expected


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ({}, "action is missing"),
        ({"action": "Drop"}, "expected Accept, Reject"),
        ({"action": "Accept", "cidr": "10.0.0.0/8"}, "both be set or both be empty"),
        ({"action": "Accept", "matchOperator": "In"}, "both be set or both be empty"),
        ({"action": "Accept", "cidr": "fd00::/8", "matchOperator": "In"}, "IPv6 CIDR in an IPv4"),
        ({"action": "Accept", "cidr": "x", "matchOperator": "In"}, "expected an IPv4 CIDR"),
        ({"action": "Accept", "prefixLength": {"min": 1}}, "cidr is required"),
        (
            {
                "action": "Accept",
                "cidr": "10.0.0.0/8",
                "matchOperator": "In",
                "prefixLength": {"max": 33},
            },
            "prefixLength.max",
        ),
        ({"action": "Accept", "source": "Kernel"}, "expected RemotePeers"),
        ({"action": "Accept", "interface": "a b"}, "interface"),
        ({"action": "Accept", "peerType": "ibgp"}, "expected eBGP, iBGP"),
        ({"action": "Accept", "communities": {"values": ["1:2", "3:4"]}}, "exactly one"),
        ({"action": "Accept", "communities": {"values": ["70000:1"]}}, "16-bit"),
        ({"action": "Accept", "communities": {"values": ["a:b"]}}, "community like"),
        ({"action": "Accept", "asPathPrefix": [0]}, "asPathPrefix[0]"),
        ({"action": "Accept", "priority": 0}, "priority"),
        ({"action": "Reject", "operations": [{"setPriority": {"value": 1}}]}, "only be used"),
        ({"action": "Accept", "operations": [{}]}, "exactly one of"),
        ({"action": "Accept", "operations": [{"prependASPath": {"prefix": []}}]}, "prefix"),
        ({"action": "Accept", "operations": [{"setPriority": {}}]}, "value is missing"),
    ],
)
def test_invalid_rules_name_the_field(rule: dict[str, Any], why: str) -> None:
    with pytest.raises(Bad, match=r"spec\.exportV4") as err:
        read(exportV4=[rule])
    assert why in str(err.value)


def test_not_a_list() -> None:
    with pytest.raises(Bad, match=r"spec\.importV6 is an object"):
        read(importV6={"action": "Accept"})


def test_unknown_rule_fields_are_not_an_error() -> None:
    f = read(exportV4=[{"action": "Accept", "matchLater": True}])
    assert f.export_v4[0].action is FilterAction.ACCEPT
