"""BGPPeer per-session settings in the PeerConfigs (pyrr.store.calico.sessions), both modes."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from pyrr.config import FilterAction, MatchOperator, NextHopMode, PeerConfig
from pyrr.store.calico.desired import desired
from pyrr.store.calico.model import CalicoModel, Desired, Identity
from pyrr.store.calico.secrets import SecretDir, digest
from tests.store.calico.test_desired import bgpconfig, bgppeer, node
from tests.store.calico.test_node_mode import ME, NODES, STANDARD
from tests.store.calico.test_node_mode import model as node_model

API = "projectcalico.org/v3"
SEED_RR = IPv4Address("192.168.56.104")
LEGACY = Identity(ip=SEED_RR)


def with_spec(**spec: Any) -> dict[str, Any]:
    return {**STANDARD, "spec": {**STANDARD["spec"], **spec}}


def first(d: Desired) -> PeerConfig:
    assert d.peers, d.problems
    return d.peers[0]


def run(me: Identity = ME, extra: dict[str, Any] | None = None, **spec: Any) -> Desired:
    return desired(node_model(peers={"p": with_spec(**spec), **(extra or {})}), me)


def problems(d: Desired) -> str:
    return "\n".join(p.message for p in d.problems)


def test_defaults_change_nothing() -> None:
    p = first(run())
    assert (p.ttl_security, p.local_asn, p.keepalive_time, p.restart_time) == (0, None, None, None)
    assert p.next_hop is NextHopMode.AUTO and p.filters == () and p.password is None


def test_every_calico_session_carries_its_address_family_only() -> None:
    # Both modes: calico-node's bird / bird6, nodes, reflectors and outside peers alike.
    tor = bgppeer("tor", node="rr1", peerIP="198.18.2.1", asNumber=65001)
    d = run(extra={"tor": tor})
    assert len(d.peers) > 3 and all(p.own_family_only for p in d.peers)
    model = CalicoModel(
        nodes={"n1": node("n1", "192.168.56.101/24")},
        bgpconfigurations={"default": bgpconfig(asNumber=61234)},
        bgppeers={"g": bgppeer("g", peerIP=str(SEED_RR), asNumber=61234)},
    )
    assert first(desired(model, LEGACY)).own_family_only


def test_ttl_security_restart_and_keepalive() -> None:
    p = first(run(ttlSecurity=1, maxRestartTime="2m", keepaliveTime="30s"))
    assert (p.ttl_security, p.restart_time, p.keepalive_time) == (1, 120, 30)
    # Go durations, rounded as confd's math.Round does.
    assert first(run(maxRestartTime="1m30.5s")).restart_time == 91
    assert first(run(maxRestartTime="1500ms")).restart_time == 2


def test_out_of_range_values_are_clipped_or_dropped_with_a_problem() -> None:
    d = run(ttlSecurity=255, maxRestartTime="2h", keepaliveTime="300s")
    p = first(d)
    assert (p.ttl_security, p.restart_time, p.keepalive_time) == (254, 4095, None)
    text = problems(d)
    assert "ttlSecurity 255" in text and "at most 4095s" in text
    assert "keepaliveTime 300s is not below the hold time" in text


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ({"maxRestartTime": "2 minutes"}, "spec.maxRestartTime"),
        ({"maxRestartTime": "-5s"}, "not negative"),
        ({"keepaliveTime": 30}, "duration string"),
        ({"ttlSecurity": "1"}, "spec.ttlSecurity"),
        ({"localASNumber": "x"}, "spec.localASNumber"),
        ({"filters": "f"}, "spec.filters"),
        ({"password": {"secretKeyRef": {"name": "s"}}}, "needs both name and key"),
    ],
)
def test_wrong_types_skip_the_bgppeer(spec: dict[str, Any], why: str) -> None:
    d = run(**spec)
    assert d.peers == () and why in problems(d)


def test_source_address_none() -> None:
    assert first(run(sourceAddress="None")).local_address is None
    assert first(run(sourceAddress="UseNodeIP")).local_address == ME.ip
    d = run(sourceAddress="Sometimes")  # a newer Calico's value: read as confd reads it
    assert first(d).local_address is None and "neither UseNodeIP nor None" in problems(d)


@pytest.mark.parametrize(
    ("spec", "mode"),
    [
        ({"nextHopMode": "Self"}, NextHopMode.SELF),
        ({"nextHopMode": "Keep"}, NextHopMode.KEEP),
        ({"nextHopMode": "Auto"}, NextHopMode.AUTO),
        ({"nextHopMode": "Self", "keepOriginalNextHop": True}, NextHopMode.SELF),
        ({"keepOriginalNextHop": True}, NextHopMode.AUTO),  # iBGP: confd ignores it
        ({"nextHopMode": "Later"}, NextHopMode.AUTO),
    ],
)
def test_next_hop_mode(spec: dict[str, Any], mode: NextHopMode) -> None:
    assert first(run(**spec)).next_hop is mode


def test_password_from_the_secrets_directory(tmp_path: Path) -> None:
    (tmp_path / "bgp-secrets").mkdir()
    (tmp_path / "bgp-secrets" / "rr").write_bytes(b"s3cret")
    me = replace(ME, secrets=SecretDir(tmp_path).lookup, password="fallback")
    ref = {"secretKeyRef": {"name": "bgp-secrets", "key": "rr"}}
    d = run(me, password=ref)
    assert {p.password for p in d.peers} == {"s3cret"} and d.problems == ()
    assert d.secrets == (("bgp-secrets", "rr", digest("s3cret")),)


def test_missing_secret_falls_back_and_says_where(tmp_path: Path) -> None:
    me = replace(ME, secrets=SecretDir(tmp_path).lookup)
    ref = {"secretKeyRef": {"name": "bgp-secrets", "key": "rr"}}
    d = run(me, password=ref)
    assert {p.password for p in d.peers} == {None}
    assert f"{tmp_path}/bgp-secrets/rr does not exist" in problems(d)
    assert d.secrets == (("bgp-secrets", "rr", ""),)
    d = run(replace(me, password="fallback"), password=ref)
    assert {p.password for p in d.peers} == {"fallback"}
    assert "PYRR_BGP_PASSWORD's key" in problems(d)
    # No secrets directory at all and a fallback: the v0.6-era setup, nothing to report.
    gone = replace(me, secrets=SecretDir(tmp_path / "none").lookup, password="fallback")
    d = run(gone, password=ref)
    assert {p.password for p in d.peers} == {"fallback"} and d.problems == ()


def test_password_applies_in_the_v0_6_mode_too(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "k").write_text("k3y")
    model = CalicoModel(
        nodes={"n1": node("n1", "192.168.56.101/24")},
        bgpconfigurations={"default": bgpconfig(asNumber=61234)},
        bgppeers={
            "g": bgppeer(
                "g",
                peerIP=str(SEED_RR),
                asNumber=61234,
                password={"secretKeyRef": {"name": "s", "key": "k"}},
                ttlSecurity=2,
            )
        },
    )
    p = first(desired(model, replace(LEGACY, secrets=SecretDir(tmp_path).lookup)))
    assert (p.password, p.ttl_security) == ("k3y", 2)


def bgpfilter(name: str, **spec: Any) -> dict[str, Any]:
    return {"kind": "BGPFilter", "apiVersion": API, "metadata": {"name": name}, "spec": spec}


def test_filters_attach_in_order_and_missing_ones_are_reported() -> None:
    reject = {"action": "Reject", "cidr": "10.0.0.0/8", "matchOperator": "In"}
    accept = {"action": "Accept"}
    m = replace(
        node_model(peers={"p": with_spec(filters=["b", "gone", "a"])}),
        bgpfilters={
            "a": bgpfilter("a", exportV4=[accept]),
            "b": bgpfilter("b", importV4=[reject]),
        },
    )
    d = desired(m, ME)
    p = first(d)
    assert [f.name for f in p.filters] == ["b", "a"]
    rule = p.filters[0].import_v4[0]
    assert (rule.action, rule.match_operator, str(rule.cidr)) == (
        FilterAction.REJECT,
        MatchOperator.IN,
        "10.0.0.0/8",
    )
    assert "BGPFilter 'gone', which does not exist" in problems(d)


def test_malformed_bgpfilter_is_skipped_and_its_peers_go_without_it() -> None:
    m = replace(
        node_model(peers={"p": with_spec(filters=["bad"])}),
        bgpfilters={"bad": bgpfilter("bad", exportV4=[{"action": "Maybe"}])},
    )
    d = desired(m, ME)
    assert first(d).filters == ()
    text = problems(d)
    assert "exportV4[0].action is 'Maybe'" in text and "BGPFilter 'bad'" in text


def test_ippool_disable_bgp_export() -> None:
    def pool(name: str, cidr: str, **spec: Any) -> dict[str, Any]:
        return {
            "kind": "IPPool",
            "apiVersion": API,
            "metadata": {"name": name},
            "spec": {"cidr": cidr, **spec},
        }

    m = replace(
        node_model(),
        ippools={
            "a": pool("a", "10.244.0.0/16", disableBGPExport=True),
            "b": pool("b", "10.245.0.0/16"),
            "c": pool("c", "fd00:10::/64", disableBGPExport=True, ipipMode="Never"),
            "d": pool("d", "bogus", disableBGPExport=True),
        },
    )
    d = desired(m, ME)
    assert [str(n) for n in d.no_export] == ["10.244.0.0/16", "fd00:10::/64"]
    assert "spec.cidr is 'bogus'" in problems(d)
    assert {str(p.address) for p in d.peers} == set(NODES.values())
