"""pyrr as a Calico Node (NODENAME) against real etcd (TLS): CalicoSource and a real speaker on
loopback, and `pyrr init-node`.

As in test_source.py, the Calico nodes are 127.0.2.x addresses nobody listens on: these tests
look at the peer set and settings the speaker is given, not at BGP sessions.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from pyrr.config import PeerConfig
from pyrr.store.calico.init_node import CREATED_BY
from pyrr.store.calico.source import CalicoSource
from tests.etcd.server import EtcdServer, TlsFiles
from tests.peer_sim import free_port

from .conftest import pyrr_exe
from .resources import (
    bgpconfig,
    bgpconfig_key,
    bgppeer_key,
    node,
    node_key,
    selector_bgppeer,
)
from .test_source import FAST, ME, delete, put, run, running, settings, until

pytestmark = pytest.mark.timeout(120)

RR_LABELS = {"route-reflector": "true"}
CLUSTER = "224.0.0.1"
STANDARD = ("peer-with-rrs", "all()", "route-reflector == 'true'")


def node_environment(
    etcd: EtcdServer, tls: TlsFiles, name: str = "rr1", **extra: str
) -> dict[str, str]:
    """Calico mode with NODENAME and no IP: the Node gives the addresses."""
    return {
        "NODENAME": name,
        "ETCD_ENDPOINTS": etcd.url,
        "ETCD_CA_CERT_FILE": str(tls.ca),
        "ETCD_CERT_FILE": str(tls.client_cert),
        "ETCD_KEY_FILE": str(tls.client_key),
        "PYRR_PORT": str(free_port(ME)),
        **extra,
    }


@pytest.fixture
def cluster(etcd: EtcdServer) -> Iterator[EtcdServer]:
    """pyrr's Node rr1 (127.0.0.1, route-reflector=true, cluster 224.0.0.1), nodes n1 and n2,
    and only the BGPPeer of Calico's route-reflector guide."""
    c = etcd.client()
    try:
        c.delete_prefix("/calico/")
        c.put(bgpconfig_key(), bgpconfig(asn=64512, log=None))
        c.put(node_key("rr1"), node("rr1", ME, labels=RR_LABELS, cluster_id=CLUSTER))
        c.put(node_key("n1"), node("n1", "127.0.2.1"))
        c.put(node_key("n2"), node("n2", "127.0.2.2"))
        c.put(bgppeer_key(STANDARD[0]), selector_bgppeer(*STANDARD))
    finally:
        c.close()
    yield etcd
    c = etcd.client()
    try:
        c.delete_prefix("/calico/")
    finally:
        c.close()


def peers_of(source: CalicoSource) -> dict[str, PeerConfig]:
    assert source.config is not None
    return {p.key: p for p in source.config.peers}


def events(logs: Sequence[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == name]


def test_pyrr_as_a_node_peers_with_every_other_node(
    cluster: EtcdServer, tls_files: TlsFiles
) -> None:
    env = node_environment(cluster, tls_files)

    async def body() -> None:
        async with running(env) as (_, host):
            # No IP: router id, listen address and cluster id are the Node's.
            g = host.config.bgp
            assert (str(g.router_id), [str(a) for a in g.listen], str(g.cluster_id)) == (
                ME,
                [ME],
                CLUSTER,
            )
            assert g.asn == 64512
            assert set(host.speaker.peers) == {"127.0.2.1", "127.0.2.2"}
            assert all(p.config.client for p in host.speaker.peers.values())
            kept = host.speaker.peers["127.0.2.1"]

            # A node added while pyrr runs is a peer within a second.
            await asyncio.to_thread(put, cluster, (node_key("n3"), node("n3", "127.0.2.3")))
            await until("n3", lambda: "127.0.2.3" in host.speaker.peers, timeout=2.0)
            assert host.speaker.peers["127.0.2.1"] is kept

            # Labels follow the Node live: unlabelled, no selector picks pyrr any more.
            await asyncio.to_thread(
                put, cluster, (node_key("rr1"), node("rr1", ME, cluster_id=CLUSTER))
            )
            await until("no peers", lambda: not host.speaker.peers)
            await asyncio.to_thread(
                put,
                cluster,
                (node_key("rr1"), node("rr1", ME, labels=RR_LABELS, cluster_id=CLUSTER)),
            )
            await until("peers back", lambda: len(host.speaker.peers) == 3)

            # The cluster id cannot change under a running speaker: said, and kept.
            with capture_logs() as logs:
                await asyncio.to_thread(
                    put,
                    cluster,
                    (node_key("rr1"), node("rr1", ME, labels=RR_LABELS, cluster_id="224.0.0.9")),
                )
                await until("said", lambda: bool(events(logs, _RESTART)))
            assert events(logs, _RESTART)[0]["changes"] == ["cluster_id: 224.0.0.1 -> 224.0.0.9"]
            assert str(host.config.bgp.cluster_id) == CLUSTER and len(host.speaker.peers) == 3

    run(body)


_RESTART = (
    "pyrr's Node changed what a running pyrr cannot change: restart pyrr to apply it (every"
    " session restarts then)"
)


def test_two_reflector_nodes_peer_by_cluster_id(cluster: EtcdServer, tls_files: TlsFiles) -> None:
    async def config_of(name: str) -> dict[str, PeerConfig]:
        base, s = settings(node_environment(cluster, tls_files, name))
        source = CalicoSource(base, s, store_options=FAST)
        config = await source.initial_config()
        await source.stop()
        assert config is not None
        return {p.key: p for p in config.peers}

    async def body() -> None:
        rr2 = node("rr2", "127.0.0.2", labels=RR_LABELS, cluster_id=CLUSTER)
        await asyncio.to_thread(put, cluster, (node_key("rr2"), rr2))
        one, two = await config_of("rr1"), await config_of("rr2")
        # Same cluster id: non-clients of each other (both ends agree); nodes are clients.
        assert (one["127.0.0.2"].kind, one["127.0.0.2"].client) == ("rr", False)
        assert (two["127.0.0.1"].kind, two["127.0.0.1"].client) == ("rr", False)
        assert {k for k, p in one.items() if p.client} == {"127.0.2.1", "127.0.2.2"}
        # Another cluster id: calico-node's `rr client` rule, on both ends.
        rr2 = node("rr2", "127.0.0.2", labels=RR_LABELS, cluster_id="224.0.0.2")
        await asyncio.to_thread(put, cluster, (node_key("rr2"), rr2))
        one, two = await config_of("rr1"), await config_of("rr2")
        assert one["127.0.0.2"].client and two["127.0.0.1"].client

    run(body)


def test_password_from_a_mounted_secret(
    cluster: EtcdServer, tls_files: TlsFiles, tmp_path: Path
) -> None:
    env = node_environment(cluster, tls_files, PYRR_SECRETS_DIR=str(tmp_path))
    ref = {"secretKeyRef": {"name": "bgp-secrets", "key": "rr-password"}}
    path = tmp_path / "bgp-secrets" / "rr-password"

    async def body() -> None:
        await asyncio.to_thread(
            put, cluster, (bgppeer_key(STANDARD[0]), selector_bgppeer(*STANDARD, password=ref))
        )
        base, s = settings(env)
        source = CalicoSource(base, s, store_options=FAST, secret_poll=0.2)
        with capture_logs() as logs:
            assert await source.initial_config() is not None
        try:
            # Not mounted yet: sessions without a key, and the path said.
            assert {p.password for p in peers_of(source).values()} == {None}
            said = [e["problem"] for e in events(logs, "datastore problem")]
            assert any(f"{path} does not exist" in m for m in said), said
            # Mounted: picked up within the poll interval, no etcd change needed.
            path.parent.mkdir()
            path.write_text("s3cret")
            await until(
                "key", lambda: {p.password for p in peers_of(source).values()} == {"s3cret"}
            )
            # Rotated (Kubernetes swaps the mounted files): the new key.
            path.write_text("n3w")
            await until(
                "new key", lambda: {p.password for p in peers_of(source).values()} == {"n3w"}
            )
        finally:
            await source.stop()

    run(body)


def test_an_unknown_field_is_logged_once(cluster: EtcdServer, tls_files: TlsFiles) -> None:
    env = node_environment(cluster, tls_files)

    def future_node(name: str, ip: str) -> str:
        doc = json.loads(node(name, ip))
        doc["spec"]["bgp"]["bfdProfile"] = "fast"  # a field of some later Calico
        return json.dumps(doc)

    async def body() -> None:
        with capture_logs() as logs:
            async with running(env) as (_, host):
                await asyncio.to_thread(
                    put,
                    cluster,
                    (node_key("n1"), future_node("n1", "127.0.2.1")),
                    (node_key("n2"), future_node("n2", "127.0.2.2")),
                )
                await asyncio.sleep(0.3)
                await asyncio.to_thread(
                    put, cluster, (node_key("n4"), future_node("n4", "127.0.2.4"))
                )
                await until("n4", lambda: "127.0.2.4" in host.speaker.peers)
                await asyncio.to_thread(delete, cluster, node_key("n4"))
                await until("n4 gone", lambda: "127.0.2.4" not in host.speaker.peers)
        noted = [e for e in events(logs, "field not applied") if e["kind"] == "Node"]
        assert len(noted) == 1, noted
        assert noted[0]["field"] == "spec.bgp.bfdProfile" and "not known" in noted[0]["why"]
        assert not events(logs, "datastore value skipped")

    run(body)


def test_waits_for_its_node(cluster: EtcdServer, tls_files: TlsFiles) -> None:
    env = node_environment(cluster, tls_files, "rr9")

    async def body() -> None:
        base, s = settings(env)
        source = CalicoSource(base, s, store_options=FAST)
        with capture_logs() as logs:
            waiting = asyncio.ensure_future(source.initial_config())
            await asyncio.sleep(1.0)
            assert not waiting.done()
            rr9 = node("rr9", "127.0.0.9", labels=RR_LABELS, cluster_id=CLUSTER)
            await asyncio.to_thread(put, cluster, (node_key("rr9"), rr9))
            config = await asyncio.wait_for(waiting, 5)
        await source.stop()
        assert config is not None and str(config.bgp.router_id) == "127.0.0.9"
        # n1, n2, and rr1: another reflector of the same cluster, selected by the same BGPPeer.
        assert {p.key for p in config.peers} == {"127.0.2.1", "127.0.2.2", ME}
        said = events(logs, "waiting for pyrr's Node")
        assert len(said) == 1 and "rr9" in said[0]["reason"]

    run(body)


def test_init_node_creates_updates_and_refuses(
    cluster: EtcdServer, tls_files: TlsFiles, tmp_path: Path
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "ETCD_ENDPOINTS": cluster.url,
        "ETCD_CA_CERT_FILE": str(tls_files.ca),
        "ETCD_CERT_FILE": str(tls_files.client_cert),
        "ETCD_KEY_FILE": str(tls_files.client_key),
    }

    def init(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*pyrr_exe(), "init-node", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def stored(name: str) -> dict[str, Any]:
        c = cluster.client()
        try:
            value, _ = c.get(node_key(name))
        finally:
            c.close()
        assert value is not None
        doc: dict[str, Any] = json.loads(value)
        return doc

    r = init("rr5", "--ip", "127.0.0.5", "--cluster-id", CLUSTER)
    assert r.returncode == 0 and "created" in r.stdout, r.stderr
    doc = stored("rr5")
    assert doc["spec"]["bgp"] == {"ipv4Address": "127.0.0.5/32", "routeReflectorClusterID": CLUSTER}
    assert doc["metadata"]["labels"] == RR_LABELS and CREATED_BY in doc["metadata"]["annotations"]
    r = init("rr5", "--ip", "127.0.0.5", "--cluster-id", CLUSTER)
    assert r.returncode == 0 and "unchanged" in r.stdout
    r = init("rr5", "--ip", "127.0.0.5", "--cluster-id", "224.0.0.2", "--dry-run")
    assert r.returncode == 0 and "would update" in r.stdout
    assert stored("rr5")["spec"]["bgp"]["routeReflectorClusterID"] == CLUSTER
    # n1 is calico-node's: refused, then taken over with --force (its other fields kept).
    r = init("n1", "--ip", "127.0.2.1")
    assert r.returncode == 2 and "--force" in r.stderr and "Traceback" not in r.stderr
    r = init("n1", "--ip", "127.0.2.1", "--force")
    assert r.returncode == 0 and "updated" in r.stdout
    doc = stored("n1")
    assert doc["spec"]["orchRefs"] and doc["metadata"]["labels"]["route-reflector"] == "true"
    # etcd not reachable: exit 1, one line.
    env["ETCD_ENDPOINTS"] = f"https://127.0.0.1:{free_port(ME)}"
    r = init("rr5", "--ip", "127.0.0.5")
    assert r.returncode == 1 and r.stderr.startswith("pyrr init-node: no etcd endpoint answered")

    # And a pyrr with NODENAME=rr5 starts from what init-node wrote.
    async def body() -> None:
        base, s = settings(node_environment(cluster, tls_files, "rr5"))
        source = CalicoSource(base, s, store_options=FAST)
        config = await source.initial_config()
        await source.stop()
        assert config is not None and str(config.bgp.router_id) == "127.0.0.5"
        assert {p.key for p in config.peers} >= {"127.0.2.1", "127.0.2.2"}

    run(body)
