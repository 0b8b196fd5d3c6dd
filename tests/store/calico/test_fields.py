"""Fields pyrr does not apply: noted once per (kind, field), never a rejected resource; and
docs/etcd.md lists every field pyrr.store.calico.fields knows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pyrr.store.calico.desired import desired
from pyrr.store.calico.fields import FIELDS, Use, field_notes
from tests.store.calico.test_desired import node
from tests.store.calico.test_node_mode import ME, STANDARD, model

DOCS = Path(__file__).resolve().parents[3] / "docs" / "etcd.md"


def test_unknown_fields_are_noted_once_per_field_not_per_resource() -> None:
    future = {**STANDARD, "spec": {**STANDARD["spec"], "bfd": {"enabled": True}}}
    n1 = node("n1", "198.18.1.1/24")
    n1["spec"]["bgp"]["ipv4Tunnel"] = "x"
    n2 = node("n2", "198.18.1.2/24")
    n2["spec"]["bgp"]["ipv4Tunnel"] = "y"
    d = desired(model(n1=n1, n2=n2, peers={"p": future, "q": {**future}}), ME)
    notes = sorted((n.kind, n.path) for n in d.notes)
    assert notes == [("BGPPeer", "spec.bfd"), ("Node", "spec.bgp.ipv4Tunnel")]
    assert all("not known to pyrr" in n.why for n in d.notes)
    # The resources still count: every node has its session.
    assert {str(p.address) for p in d.peers} >= {"198.18.1.1", "198.18.1.2"}
    assert d.problems == ()


def test_ignored_fields_are_noted_only_when_set() -> None:
    spec = {**STANDARD["spec"], "reachableBy": "198.18.0.1"}
    d = desired(model(peers={"p": {**STANDARD, "spec": spec}}), ME)
    assert [(n.path, n.why) for n in d.notes] == [
        ("spec.reachableBy", "ignored: pyrr installs no routes; route the host")
    ]
    unset = {**STANDARD["spec"], "numAllowedLocalASNumbers": 0, "reachableBy": ""}
    assert desired(model(peers={"p": {**STANDARD, "spec": unset}}), ME).notes == ()


def test_not_applicable_fields_are_silent() -> None:
    n1 = node("n1", "198.18.1.1/24")
    n1["spec"]["ipv4VXLANTunnelAddr"] = "10.0.0.1"
    n1["spec"]["wireguard"] = {"interfaceIPv4Address": "10.1.0.1"}
    n1["status"] = {"podCIDRs": []}
    assert desired(model(n1=n1), ME).notes == ()


def test_bgpfilter_rule_fields() -> None:
    value = {
        "spec": {
            "exportV4": [
                {"action": "Accept", "operations": [{"setPriority": {"value": 1}, "x": {}}]},
                {"action": "Accept", "newMatch": 1},
            ],
            "importV6": [{"action": "Accept", "prefixLength": {"min": 1, "exact": 2}}],
        }
    }
    paths = [p for p, _ in field_notes("BGPFilter", value)]
    assert paths == [
        "spec.{export,import}V{4,6}[].newMatch",
        "spec.{export,import}V{4,6}[].prefixLength.exact",
        "spec.{export,import}V{4,6}[].operations[].x",
    ]


def test_legacy_mode_notes_too() -> None:
    spec = {**STANDARD["spec"], "someday": 1}
    d = desired(model(peers={"p": {**STANDARD, "spec": spec}}), replace(ME, node_name=None))
    assert [n.path for n in d.notes] == ["spec.someday"]


def test_docs_list_every_field() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for kind, fields in FIELDS.items():
        for f in fields:
            row = f"| {kind} | `{f.path}` | {f.since} |"
            assert row in text, row
    assert {f.use for fields in FIELDS.values() for f in fields} == set(Use)
