"""`pyrr init-node`'s decision (pyrr.store.calico.init_node.plan): create, update, refuse."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Interface, IPv6Interface
from typing import Any

import pytest

from pyrr.store.calico.init_node import CREATED_BY, InitNodeError, NodeRequest, plan
from pyrr.store.calico.model import CalicoModel, Identity, Resource
from pyrr.store.calico.node_self import NodeSettings, resolve
from pyrr.store.calico.resources import parse_resource

REQ = NodeRequest(
    name="rr1",
    ipv4=IPv4Interface("198.18.0.10/24"),
    cluster_id=IPv4Address("224.0.0.1"),
    labels={"route-reflector": "true"},
)
NOW = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)


def test_create_writes_a_node_calico_and_pyrr_read() -> None:
    p = plan(None, REQ, NOW)
    assert p.action == "create" and p.key.endswith("/nodes/rr1")
    v: Any = p.value
    assert v["kind"] == "Node" and v["apiVersion"] == "projectcalico.org/v3"
    assert v["metadata"]["creationTimestamp"] == "2026-12-04T16:00:00Z" and v["metadata"]["uid"]
    assert v["metadata"]["annotations"] == {CREATED_BY: "pyrr init-node"}
    assert v["spec"] == {
        "bgp": {"ipv4Address": "198.18.0.10/24", "routeReflectorClusterID": "224.0.0.1"}
    }
    assert "orchRefs" not in v["spec"]
    # The value goes through pyrr's own reader and gives the identity asked for.
    parsed = parse_resource(p.key, p.encode())
    assert isinstance(parsed, Resource)
    model = CalicoModel.from_resources([parsed])
    me = resolve(model, NodeSettings("rr1", Identity(ip=IPv4Address(1))), None).identity
    assert me is not None and me.ip == IPv4Address("198.18.0.10")
    assert me.labels == {"route-reflector": "true"} and me.cluster_id == IPv4Address("224.0.0.1")


def test_run_again_is_unchanged_then_an_update() -> None:
    first = plan(None, REQ, NOW).encode()
    assert plan(first, REQ).action == "unchanged"
    again = NodeRequest(
        name="rr1",
        ipv4=IPv4Interface("198.18.0.10/24"),
        ipv6=IPv6Interface("2001:db8::10/64"),
        cluster_id=IPv4Address("224.0.0.2"),
        labels={"zone": "a"},
        asn=65010,
    )
    p = plan(first, again)
    v: Any = p.value
    assert p.action == "update"
    assert v["spec"]["bgp"] == {
        "ipv4Address": "198.18.0.10/24",
        "ipv6Address": "2001:db8::10/64",
        "routeReflectorClusterID": "224.0.0.2",
        "asNumber": 65010,
    }
    # Labels are added, never dropped; uid and creation time are kept.
    assert v["metadata"]["labels"] == {"route-reflector": "true", "zone": "a"}
    assert v["metadata"]["uid"] == json.loads(first)["metadata"]["uid"]


def test_someone_elses_node_needs_force() -> None:
    theirs = {
        "kind": "Node",
        "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "rr1", "uid": "u", "labels": {"kubernetes.io/hostname": "rr1"}},
        "spec": {"bgp": {"ipv4Address": "198.18.0.10/24"}, "orchRefs": [{"nodeName": "rr1"}]},
    }
    raw = json.dumps(theirs).encode()
    with pytest.raises(InitNodeError, match="--force"):
        plan(raw, REQ)
    forced = plan(raw, replace(REQ, force=True))
    v: Any = forced.value
    assert forced.action == "update" and v["spec"]["orchRefs"] == [{"nodeName": "rr1"}]
    assert v["metadata"]["labels"] == {"kubernetes.io/hostname": "rr1", "route-reflector": "true"}
    assert CREATED_BY in v["metadata"]["annotations"]
    with pytest.raises(InitNodeError, match="not a JSON object"):
        plan(b"[]", REQ)
