"""The Calico 3.3+ settings: NODENAME, PYRR_SECRETS_DIR, PYRR_ADD_PATH_SEND; TOML per-peer
local_asn, keepalive_time, restart_time, next_hop, filters; [[filter]]; [bgp] add_path_send;
[calico] secrets_dir; and `pyrr init-node`'s arguments."""

from __future__ import annotations

import argparse
from ipaddress import IPv4Address, IPv4Interface, IPv6Interface

import pytest

from pyrr.config import ConfigError, FilterAction, NextHopMode
from pyrr.store.file.environment import VARIABLES, from_environment
from pyrr.store.file.init_node_args import node_request
from pyrr.store.file.merge import merge
from pyrr.store.file.toml_config import load_text
from tests.store.file.test_environment import fails, read
from tests.store.file.test_toml_config import ENV, doc, fail, peer

ETCD = {"ETCD_ENDPOINTS": "http://127.0.0.1:2379"}


# --- environment ------------------------------------------------------------------------------


def test_nodename_makes_ip_optional() -> None:
    env = read({**ETCD, "NODENAME": "rr1"})
    assert env.node_name == "rr1" and env.ip is None and not env.rr_cluster
    cfg = merge(None, env, {})
    assert cfg.bgp.router_id == IPv4Address(0)  # filled in from the Node
    assert read({**ETCD, "NODENAME": "rr1", "IP": "none"}).ip is None
    assert read({**ETCD, "NODENAME": "rr1", "IP": "198.18.0.10"}).ip == IPv4Address("198.18.0.10")
    fails(ETCD, "IP", "NODENAME=<its Calico Node>")


def test_nodename_checks() -> None:
    fails({**ETCD, "NODENAME": "RR_1"}, "NODENAME", "Calico node name")
    fails({"NODENAME": "rr1"}, "NODENAME", "ETCD_ENDPOINTS is not")


def test_nodename_registration_is_opt_in_and_labels_unused() -> None:
    env = read({**ETCD, "NODENAME": "rr1", "CLUSTER_ID": "1.0.0.1", "PYRR_LABELS": "a=b"})
    assert not env.rr_cluster and env.cluster_id == IPv4Address("1.0.0.1")
    assert any("PYRR_LABELS is not used with NODENAME" in w for w in env.warnings)
    assert read({**ETCD, "NODENAME": "rr1", "PYRR_RR_CLUSTER": "true"}).rr_cluster


def test_secrets_dir_and_add_path_send() -> None:
    env = read(
        {**ETCD, "IP": "198.18.0.10", "PYRR_SECRETS_DIR": "/run/s", "PYRR_ADD_PATH_SEND": "8"}
    )
    assert env.secrets_dir == "/run/s" and env.add_path_send == 8
    cfg = merge(None, env, {})
    assert cfg.bgp.add_path_send == 8 and cfg.calico.secrets_dir == "/run/s"
    fails({**ETCD, "IP": "198.18.0.10", "PYRR_SECRETS_DIR": "rel"}, "PYRR_SECRETS_DIR", "absolute")
    for bad in ("0", "65", "x"):
        fails(
            {**ETCD, "IP": "198.18.0.10", "PYRR_ADD_PATH_SEND": bad},
            "PYRR_ADD_PATH_SEND",
            "1 and 64",
        )


def test_variables_documented() -> None:
    for name in ("NODENAME", "PYRR_SECRETS_DIR", "PYRR_ADD_PATH_SEND"):
        assert name in VARIABLES


def test_file_settings_rank_below_the_environment() -> None:
    file_cfg = load_text(doc("add_path_send = 4", top='[calico]\nsecrets_dir = "/f"\n'), env=ENV)
    env = read({**ETCD, "IP": "198.18.0.10"})
    cfg = merge(file_cfg, env, {})
    assert cfg.bgp.add_path_send == 4 and cfg.calico.secrets_dir == "/f"
    env = read({**ETCD, "IP": "198.18.0.10", "PYRR_SECRETS_DIR": "/e", "PYRR_ADD_PATH_SEND": "2"})
    cfg = merge(file_cfg, env, {})
    assert cfg.bgp.add_path_send == 2 and cfg.calico.secrets_dir == "/e"


# --- TOML -------------------------------------------------------------------------------------


def test_per_peer_session_keys() -> None:
    cfg = load_text(
        doc(
            "",
            peer(
                "local_asn = 65100\nkeepalive_time = 20\nhold_time = 90\n"
                'restart_time = 300\nnext_hop = "Self"'
            ),
            peer("local_asn = 61234", address="198.18.0.102"),
        ),
        env=ENV,
    )
    a, b = cfg.peers
    assert (a.local_asn, a.keepalive_time, a.restart_time, a.next_hop) == (
        65100,
        20,
        300,
        NextHopMode.SELF,
    )
    # The local AS written out is the default: no per-session AS.
    assert b.local_asn is None and b.next_hop is NextHopMode.AUTO


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ("local_asn = 0", "peer[0].local_asn", "AS number"),
        ("keepalive_time = 0", "peer[0].keepalive_time", "between 1 and 65535"),
        ("keepalive_time = 240", "peer[0].keepalive_time", "less than hold_time (240)"),
        ("hold_time = 0\nkeepalive_time = 10", "peer[0].keepalive_time", "hold_time = 0"),
        ("restart_time = 4096", "peer[0].restart_time", "4095"),
        ('next_hop = "peer"', "peer[0].next_hop", '"auto"'),
        ('filters = ["x"]', "peer[0].filters[0]", "names no [[filter]] 'x'"),
        ('filters = "x"', "peer[0].filters", "array of [[filter]] names"),
    ],
)
def test_per_peer_errors(extra: str, field: str, words: str) -> None:
    err = fail(doc("", peer(extra)))
    assert err.field == field and words in err.message, err


def test_filters_in_the_file() -> None:
    text = doc(
        "add_path_send = 2",
        peer('filters = ["no-default", "tag"]'),
        top=(
            '[[filter]]\nname = "no-default"\n'
            'exportV4 = [{ action = "Reject", cidr = "0.0.0.0/0", matchOperator = "Equal" }]\n'
            '[[filter]]\nname = "tag"\n'
            'exportV4 = [{ action = "Accept",'
            ' operations = [{ addCommunity = { value = "65000:1" } }] }]\n'
        ),
    )
    cfg = load_text(text, env=ENV)
    assert cfg.bgp.add_path_send == 2
    names = [f.name for f in cfg.peers[0].filters]
    assert names == ["no-default", "tag"]
    assert cfg.peers[0].filters[0].export_v4[0].action is FilterAction.REJECT


@pytest.mark.parametrize(
    ("top", "field", "words"),
    [
        ("[[filter]]\nexportV4 = []\n", "filter[0].name", "missing"),
        ('[[filter]]\nname = "a"\n[[filter]]\nname = "a"\n', "filter[1].name", "duplicate"),
        ('[[filter]]\nname = "a"\nexport_v4 = []\n', "filter[0].export_v4", "exportV4"),
        (
            '[[filter]]\nname = "a"\nexportV4 = [{ action = "Accept", cidr = "10.0.0.0/8" }]\n',
            "filter[0]",
            "exportV4[0]: cidr and matchOperator must both be set",
        ),
        (
            '[[filter]]\nname = "a"\nexportV4 = [{ action = "Accept", matchoperator = "In" }]\n',
            "filter[0].exportV4[0].matchoperator",
            "did you mean 'matchOperator'",
        ),
        ("[filter]\nname = 'a'\n", "filter", "[[filter]]"),
        ("[calico]\nsecrets_dir = 'x'\n", "calico.secrets_dir", "absolute directory"),
        ("[calico]\nsecrets = '/x'\n", "calico.secrets", "secrets_dir"),
    ],
)
def test_filter_and_calico_table_errors(top: str, field: str, words: str) -> None:
    err = fail(doc(top=top))
    assert err.field == field and words in err.message, err


def test_add_path_send_bounds() -> None:
    assert fail(doc("add_path_send = 0")).field == "bgp.add_path_send"
    assert "between 1 and 64" in fail(doc("add_path_send = 65")).message


# --- pyrr init-node's arguments ---------------------------------------------------------------


def args(*argv: str) -> argparse.Namespace:
    from pyrr.cli import _parser

    return _parser().parse_args(["init-node", *argv])


def test_init_node_request_defaults() -> None:
    _, req = node_request(args("rr1", "--ip", "198.18.0.10"), ETCD)
    assert req.name == "rr1" and req.ipv4 == IPv4Interface("198.18.0.10/32")
    assert req.cluster_id == IPv4Address("198.18.0.10")
    assert dict(req.labels) == {"route-reflector": "true"} and req.asn is None and not req.force


def test_init_node_request_from_the_environment() -> None:
    environ = {
        **ETCD,
        "NODENAME": "rr2",
        "IP": "198.18.0.11",
        "IP6": "2001:db8::11",
        "CLUSTER_ID": "224.0.0.1",
    }
    _, req = node_request(
        args("--label", "rr=yes", "--label", "zone=a", "--as-number", "1.10", "--force"), environ
    )
    assert req.name == "rr2" and req.ipv4 == IPv4Interface("198.18.0.11/32")
    assert req.ipv6 == IPv6Interface("2001:db8::11/128")
    assert req.cluster_id == IPv4Address("224.0.0.1") and req.asn == 65546 and req.force
    assert dict(req.labels) == {"rr": "yes", "zone": "a"}


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        ((), "NAME"),
        (("rr1",), "--ip"),
        (("rr1", "--ip", "x"), "--ip"),
        (("rr1", "--ip", "198.18.0.10", "--ip6", "fe80::1"), "--ip6"),
        (("rr1", "--ip", "198.18.0.10", "--cluster-id", "x"), "--cluster-id"),
        (("rr1", "--ip", "198.18.0.10", "--label", "x"), "--label"),
        (("rr1", "--ip", "198.18.0.10", "--as-number", "0"), "--as-number"),
        (("RR1", "--ip", "198.18.0.10"), "NAME"),
    ],
)
def test_init_node_request_errors(argv: tuple[str, ...], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        node_request(args(*argv), ETCD)
    assert err.value.field == field


def test_init_node_bad_nodename_names_the_variable() -> None:
    with pytest.raises(ConfigError) as err:
        node_request(args("--ip", "198.18.0.10"), {**ETCD, "NODENAME": "RR1"})
    assert err.value.field == "NODENAME"


def test_init_node_needs_etcd() -> None:
    # Not from_environment's `pyrr run` advice ("unset NODENAME for a configuration file").
    with pytest.raises(ConfigError) as err:
        node_request(args("rr1", "--ip", "198.18.0.10"), {})
    assert err.value.field == "ETCD_ENDPOINTS"
    assert "init-node" in err.value.message and "NODENAME" not in err.value.message
    assert from_environment({**ETCD, "NODENAME": "rr1"}).node_name == "rr1"
