"""CalicoSource against real etcd (TLS) and a real Speaker on loopback, no namespaces.

The Calico nodes here are 127.0.2.x addresses nobody listens on: the speaker's sessions to
them never come up, which is fine, as these tests look at the peer set the speaker is given
(and keeps), not at BGP. The lab tests (test_calico_lab.py) look at BGP.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from ipaddress import IPv4Address, ip_address
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from pyrr.bgp.constants import CeaseSub, ErrCode, State
from pyrr.config import Config, GlobalConfig, PeerConfig
from pyrr.control.server import request
from pyrr.store.calico.model import RR_V4_PREFIX, registration_key
from pyrr.store.calico.source import CalicoSource
from pyrr.store.file.environment import EnvSettings, from_environment
from pyrr.store.file.merge import merge
from pyrr.transport.host import Host
from tests.etcd.server import EtcdServer, TlsFiles
from tests.peer_sim import SimPeer, free_port, wait_for

from .conftest import pyrr_exe
from .resources import SEED_AS, bgpconfig, bgpconfig_key, bgppeer, bgppeer_key, node, node_key

pytestmark = pytest.mark.timeout(120)

ME = "127.0.0.1"
FAST: dict[str, Any] = {
    "rpc_timeout": 1.0,
    "probe_interval": 0.5,
    "backoff_initial": 0.2,
    "backoff_max": 1.0,
}


def environment(etcd: EtcdServer, tls: TlsFiles, **extra: str) -> dict[str, str]:
    """calico/routereflector's variables for this etcd, plus pyrr's own."""
    return {
        "IP": ME,
        "ETCD_ENDPOINTS": etcd.url,
        "ETCD_CA_CERT_FILE": str(tls.ca),
        "ETCD_CERT_FILE": str(tls.client_cert),
        "ETCD_KEY_FILE": str(tls.client_key),
        "PYRR_PORT": str(free_port(ME)),
        **extra,
    }


def settings(env: dict[str, str]) -> tuple[Config, EnvSettings]:
    settings = from_environment(env)
    return merge(None, settings, {}), settings


def put(etcd: EtcdServer, *pairs: tuple[str, str | bytes]) -> None:
    c = etcd.client()
    try:
        for key, value in pairs:
            c.put(key, value)
    finally:
        c.close()


def delete(etcd: EtcdServer, *keys: str) -> None:
    c = etcd.client()
    try:
        for key in keys:
            c.delete(key)
    finally:
        c.close()


@pytest.fixture
def datastore(etcd: EtcdServer) -> Iterator[EtcdServer]:
    """The shared etcd with the seed's resources (RR at 127.0.0.1, nodes n1, n2)."""
    c = etcd.client()
    try:
        c.delete_prefix("/calico/")
        c.put(bgpconfig_key(), bgpconfig(log=None))
        c.put(bgppeer_key("bgppeer-global"), bgppeer("bgppeer-global", ME))
        c.put(node_key("n1"), node("n1", "127.0.2.1"))
        c.put(node_key("n2"), node("n2", "127.0.2.2"))
    finally:
        c.close()
    yield etcd
    c = etcd.client()
    try:
        c.delete_prefix("/calico/")
    finally:
        c.close()


def run(body: Callable[[], Awaitable[None]], timeout: float = 60.0) -> None:
    async def main() -> None:
        await asyncio.wait_for(body(), timeout)

    asyncio.run(main())


async def until(what: str, pred: Callable[[], object], timeout: float = 5.0) -> float:
    """Seconds until pred() holds (AssertionError after timeout)."""
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)
    return time.monotonic() - t0


@asynccontextmanager
async def running(env: dict[str, str], **kw: Any) -> AsyncIterator[tuple[CalicoSource, Host]]:
    """What `pyrr run` does in Calico mode, in-process: first snapshot, speaker, attach."""
    base, settings_ = settings(env)
    source = CalicoSource(base, settings_, store_options=FAST, **kw)
    first = await source.initial_config()
    assert first is not None
    host = Host(first, asyncio.get_running_loop())
    await host.start()
    source.attach(host)
    try:
        yield source, host
    finally:
        await source.stop()
        await host.stop()


def peer_set(host: Host) -> set[str]:
    return set(host.speaker.peers)


# --- tests --------------------------------------------------------------------------------


def test_first_snapshot_then_a_burst_is_one_reconfiguration(
    datastore: EtcdServer, tls_files: TlsFiles
) -> None:
    env = environment(datastore, tls_files)

    async def body() -> None:
        async with running(env) as (source, host):
            # The speaker started with the first snapshot's peers and the datastore's AS.
            assert host.config.bgp.asn == SEED_AS
            assert peer_set(host) == {"127.0.2.1", "127.0.2.2"}
            p1 = host.speaker.peers["127.0.2.1"]
            assert p1.config.client and p1.config.kind == "global"
            assert p1.config.description == "n1" and p1.config.asn == SEED_AS
            assert source.reconfigurations == 0
            before = dict(host.speaker.peers)

            # A burst: three puts and a delete, one reconfiguration, within a second.
            t0 = time.monotonic()
            await asyncio.to_thread(
                put,
                datastore,
                (node_key("n3"), node("n3", "127.0.2.3")),
                (node_key("n4"), node("n4", "127.0.2.4")),
                (node_key("n5"), node("n5", "127.0.2.5")),
            )
            await asyncio.to_thread(delete, datastore, node_key("n1"))
            want = {"127.0.2.2", "127.0.2.3", "127.0.2.4", "127.0.2.5"}
            await until("burst applied", lambda: peer_set(host) == want, timeout=1.0)
            assert time.monotonic() - t0 < 1.0 + 0.5  # the etcd writes themselves included
            await asyncio.sleep(0.3)
            assert source.reconfigurations == 1
            # The untouched peer is the very same object: its session was never reset.
            assert host.speaker.peers["127.0.2.2"] is before["127.0.2.2"]

            # An update that changes nothing pyrr uses (a label) is no reconfiguration.
            doc = json.loads(node("n2", "127.0.2.2"))
            doc["metadata"]["labels"]["zone"] = "b"
            await asyncio.to_thread(put, datastore, (node_key("n2"), json.dumps(doc)))
            await asyncio.sleep(0.5)
            assert source.reconfigurations == 1
            assert host.speaker.peers["127.0.2.2"] is before["127.0.2.2"]

    run(body)


def test_malformed_values_are_skipped_with_their_key(
    datastore: EtcdServer, tls_files: TlsFiles
) -> None:
    env = environment(datastore, tls_files)

    async def body() -> None:
        async with running(env) as (source, host):
            kept = host.speaker.peers["127.0.2.1"]
            with capture_logs() as logs:
                await asyncio.to_thread(
                    put,
                    datastore,
                    (node_key("bad"), b'{"kind":"Node", "spec": {'),  # corrupt JSON
                    (node_key("n2"), b"\xff\xfe not even UTF-8"),  # corrupt update
                    (bgppeer_key("odd"), b'["a", "list"]'),
                )
                await until("n2 dropped", lambda: peer_set(host) == {"127.0.2.1"})
                await asyncio.sleep(0.3)
            skipped = {
                e["key"]: e["problem"] for e in logs if e["event"] == "datastore value skipped"
            }
            assert set(skipped) == {node_key("bad"), node_key("n2"), bgppeer_key("odd")}
            assert "not valid JSON" in skipped[node_key("bad")]
            assert "not UTF-8" in skipped[node_key("n2")]
            assert "expected a JSON object" in skipped[bgppeer_key("odd")]
            assert host.speaker.peers["127.0.2.1"] is kept  # unaffected
            assert source.unusable.keys() == set(skipped)

            # Said once: a later, unrelated change does not repeat it.
            with capture_logs() as logs:
                await asyncio.to_thread(put, datastore, (node_key("n6"), node("n6", "127.0.2.6")))
                await until("n6 added", lambda: "127.0.2.6" in host.speaker.peers)
            assert not [e for e in logs if e["event"] == "datastore value skipped"]

            # Repaired: the session is back; the resolution is logged.
            with capture_logs() as logs:
                await asyncio.to_thread(put, datastore, (node_key("n2"), node("n2", "127.0.2.2")))
                await until("n2 back", lambda: "127.0.2.2" in host.speaker.peers)
            assert any(
                e["event"] == "datastore problem resolved" and e["key"] == node_key("n2")
                for e in logs
            )
            assert host.speaker.peers["127.0.2.1"] is kept

    run(body)


def test_local_as_and_log_level_from_bgpconfiguration(
    datastore: EtcdServer, tls_files: TlsFiles
) -> None:
    env = environment(datastore, tls_files)
    levels: list[str] = []

    async def body() -> None:
        async with running(env, on_log_level=levels.append) as (source, host):
            old = dict(host.speaker.peers)
            # The operator renumbers: the default BGPConfiguration and the BGPPeer together.
            await asyncio.to_thread(
                put,
                datastore,
                (bgpconfig_key(), bgpconfig(asn=65001, log="Warning")),
                (bgppeer_key("bgppeer-global"), bgppeer("bgppeer-global", ME, asn=65001)),
            )
            await until("new AS", lambda: host.config.bgp.asn == 65001)
            # Every session is reset (new Peer objects) with the new AS on both ends.
            assert set(host.speaker.peers) == set(old)
            assert all(host.speaker.peers[k] is not old[k] for k in old)
            assert {p.config.asn for p in host.speaker.peers.values()} == {65001}
            assert levels == ["warning"] and host.config.log_level == "warning"
            # "Debug" in any case; then removing the setting goes back to the base level.
            await asyncio.to_thread(put, datastore, (bgpconfig_key(), bgpconfig(65001, "DEBUG")))
            await until("debug", lambda: levels[-1:] == ["debug"])
            await asyncio.to_thread(put, datastore, (bgpconfig_key(), bgpconfig(65001, None)))
            await until("back to info", lambda: levels[-1:] == ["info"])
            # No bgpconfigurations/default at all: the BGPPeer's asNumber (61234).
            await asyncio.to_thread(delete, datastore, bgpconfig_key())
            await until("AS from the BGPPeer", lambda: host.config.bgp.asn == 65001)
            await asyncio.to_thread(
                put, datastore, (bgppeer_key("bgppeer-global"), bgppeer("bgppeer-global", ME))
            )
            await until("back to 61234", lambda: host.config.bgp.asn == SEED_AS)
            assert source.config is not None and source.config.bgp.asn == SEED_AS

    run(body)
    # BGP_LOGSEVERITYSCREEN (or --log-level) outranks logSeverityScreen.
    levels.clear()
    env = environment(datastore, tls_files, BGP_LOGSEVERITYSCREEN="error")

    async def pinned() -> None:
        base, s = settings(env)
        source = CalicoSource(
            base, s, store_options=FAST, keep_log_level=True, on_log_level=levels.append
        )
        await asyncio.to_thread(put, datastore, (bgpconfig_key(), bgpconfig(log="Debug")))
        config = await source.initial_config()
        await source.stop()
        assert config is not None and config.log_level == "error"

    run(pinned)
    assert levels == []


def test_no_bgppeer_for_this_reflector_is_said(datastore: EtcdServer, tls_files: TlsFiles) -> None:
    """The field report's slip (peerIP .103 for an RR on .104): no session, and a warning."""
    env = {**environment(datastore, tls_files), "IP": "127.0.0.9"}

    async def body() -> None:
        base, s = settings(env)
        source = CalicoSource(base, s, store_options=FAST)
        with capture_logs() as logs:
            config = await source.initial_config()
        await source.stop()
        assert config is not None and config.peers == ()
        warned = [e for e in logs if e["event"].startswith("no sessions: no BGPPeer")]
        assert len(warned) == 1 and warned[0]["peer_ip"] == ["127.0.0.9"]

    run(body)


def test_resync_reconciles_without_touching_unchanged_peers(
    datastore: EtcdServer, tls_files: TlsFiles
) -> None:
    env = environment(datastore, tls_files)

    async def body() -> None:
        async with running(env) as (source, host):
            before = dict(host.speaker.peers)
            snapshots = source.store.stats.snapshots
            source.resync()
            await until("new snapshot", lambda: source.store.stats.snapshots == snapshots + 1)
            await asyncio.sleep(0.3)
            assert source.reconfigurations == 0
            assert all(host.speaker.peers[k] is before[k] for k in before)

    run(body)


def test_rr_cluster_instances_find_each_other(datastore: EtcdServer, tls_files: TlsFiles) -> None:
    """Two instances of cluster 1.0.0.1 at 127.0.0.1 and 127.0.0.2 (sources only)."""
    env1 = environment(datastore, tls_files, CLUSTER_ID="1.0.0.1")
    env2 = {**environment(datastore, tls_files, CLUSTER_ID="1.0.0.1"), "IP": "127.0.0.2"}

    def rr_peers(source: CalicoSource) -> dict[str, PeerConfig]:
        assert source.config is not None
        return {p.key: p for p in source.config.peers if p.kind == "rr"}

    async def body() -> None:
        base1, s1 = settings(env1)
        base2, s2 = settings(env2)
        assert s1.rr_cluster and s2.rr_cluster  # CLUSTER_ID with etcd turns it on
        # Every node peers with both reflectors (two global BGPPeers).
        await asyncio.to_thread(put, datastore, (bgppeer_key("rr2"), bgppeer("rr2", "127.0.0.2")))
        one = CalicoSource(base1, s1, store_options=FAST, registration_ttl=3)
        two = CalicoSource(base2, s2, store_options=FAST, registration_ttl=3)
        await one.initial_config()
        await two.initial_config()
        try:
            await until("2 sees 1", lambda: "127.0.0.1" in rr_peers(two))
            await until("1 sees 2", lambda: "127.0.0.2" in rr_peers(one))
            p = rr_peers(two)["127.0.0.1"]
            assert not p.client and p.asn == SEED_AS and p.local_address == IPv4Address("127.0.0.2")
            assert "127.0.0.2" not in rr_peers(two)  # not itself
            # The nodes are clients of both.
            assert {k for k, p in _peers(two).items() if p.client} == {"127.0.2.1", "127.0.2.2"}
            # A clean stop revokes the lease: gone at once.
            await one.stop()
            await until("1 gone", lambda: "127.0.0.1" not in rr_peers(two), timeout=2.0)
            # A crash (no revoke) disappears when the lease runs out.
            one = CalicoSource(base1, s1, store_options=FAST, registration_ttl=3)
            await one.initial_config()
            await until("1 back", lambda: "127.0.0.1" in rr_peers(two))
            await one.stop(graceful_restart=True)
            await asyncio.sleep(1.0)
            assert "127.0.0.1" in rr_peers(two)
            await until("lease expiry", lambda: "127.0.0.1" not in rr_peers(two), timeout=5.0)
            c = datastore.client()
            try:
                assert c.get(registration_key(IPv4Address("127.0.0.2")))[0] is not None
                keys = [m.key.decode() for _, m in c.get_prefix(RR_V4_PREFIX)]
                assert keys == [RR_V4_PREFIX + "127.0.0.2"]
            finally:
                c.close()
        finally:
            await one.stop()
            await two.stop()

    run(body)


def _peers(source: CalicoSource) -> dict[str, PeerConfig]:
    assert source.config is not None
    return {p.key: p for p in source.config.peers}


def test_the_wait_for_the_first_snapshot_ends_on_stop_or_cancel() -> None:
    """etcd unreachable: initial_config() waits; the runtime's stop event (set on SIGTERM,
    SIGINT or SIGUSR2) ends the wait with None, and so does a cancellation, with the store
    stopped both times."""
    env = {"IP": ME, "ETCD_ENDPOINTS": f"http://127.0.0.1:{free_port(ME)}"}

    async def body() -> None:
        base, settings_ = settings(env)
        source = CalicoSource(base, settings_, store_options=FAST)
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.5, stop.set)
        assert await source.initial_config(stop) is None
        assert not source.ready and source.store.status == "stopped"

        source = CalicoSource(base, settings_, store_options=FAST)
        waiting = asyncio.ensure_future(source.initial_config())
        await until("etcd found unreachable", lambda: source.status.startswith("disconnected"))
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert not source.ready and source.store.status == "stopped"

    run(body)


def test_speaker_resets_every_session_when_the_local_as_changes() -> None:
    """Speaker.reconfigure: a new local AS is Cease/Other Configuration Change for all."""
    port = free_port(ME)

    def config(asn: int) -> Config:
        return Config(
            bgp=GlobalConfig(
                asn=asn,
                router_id=IPv4Address(ME),
                cluster_id=IPv4Address(ME),
                listen=(ip_address(ME),),
                port=port,
            ),
            peers=tuple(
                PeerConfig(address=ip_address(a), asn=asn, passive=True)
                for a in ("127.0.2.1", "127.0.2.2")
            ),
        )

    async def body() -> None:
        host = Host(config(64512), asyncio.get_running_loop())
        await host.start()
        try:
            sims = [SimPeer(a, 64512, (ME, port)) for a in ("127.0.2.1", "127.0.2.2")]
            for s in sims:
                await s.connect()
            await wait_for(lambda: all(s.state == State.ESTABLISHED for s in sims))
            host.reconfigure(config(65001))
            await wait_for(lambda: all(s.lost for s in sims), what="sessions reset")
            for s in sims:
                n = s.notification_received()
                assert n is not None
                assert (n.code, n.subcode) == (ErrCode.CEASE, CeaseSub.OTHER_CONFIGURATION_CHANGE)
            assert host.config.bgp.asn == 65001
            again = [SimPeer(a, 65001, (ME, port)) for a in ("127.0.2.1", "127.0.2.2")]
            for s in again:
                await s.connect()
            await wait_for(lambda: all(s.state == State.ESTABLISHED for s in again))
            for s in sims + again:
                s.close()
        finally:
            await host.stop()

    run(body, timeout=30)


# --- the command line ---------------------------------------------------------------------


def cli_env(tmp: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYRR_CONTROL_SOCKET": str(tmp / "s")}
    return {**env, **extra}


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({}, "ETCD_ENDPOINTS"),
        ({"ETCD_ENDPOINTS": "https://127.0.0.1:2379"}, "IP"),
        ({"ETCD_ENDPOINTS": "127.0.0.1:2379", "IP": ME}, "ETCD_ENDPOINTS"),
        (
            {"ETCD_ENDPOINTS": "https://127.0.0.1:2379", "IP": ME, "ETCD_CERT_FILE": "/x"},
            "ETCD_KEY_FILE",
        ),
        ({"ETCD_ENDPOINTS": "https://127.0.0.1:2379", "IP": "10.0.0.1/24"}, "IP"),
        ({"ETCD_ENDPOINTS": "https://127.0.0.1:2379", "IP": ME, "IP6": ME}, "IP6"),
        (
            {"ETCD_ENDPOINTS": "https://127.0.0.1:2379", "IP": ME, "PYRR_RR_CLUSTER": "maybe"},
            "PYRR_RR_CLUSTER",
        ),
        ({"ETCD_KEY_FILE": "/x", "ETCD_CERT_FILE": "/y"}, "ETCD_ENDPOINTS"),
    ],
)
def test_run_without_config_reports_the_variable(
    tmp_path: Path, variables: dict[str, str], named: str
) -> None:
    for verb in (["run"], ["check-config", "--env"]):
        r = subprocess.run(
            [*pyrr_exe(), *verb],
            env=cli_env(tmp_path, variables),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert r.returncode == 2, (verb, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"pyrr: configuration error: {named}: ")
        assert "Traceback" not in r.stderr


def test_check_config_env_summarises(etcd: EtcdServer, tls_files: TlsFiles, tmp_path: Path) -> None:
    env = environment(etcd, tls_files, IP6="::1", CLUSTER_ID="1.0.0.1")
    r = subprocess.run(
        [*pyrr_exe(), "check-config", "--env"],
        env=cli_env(tmp_path, env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "Calico mode" in r.stdout and "TLS client certificate" in r.stdout
    assert f"router id {ME}, listen {ME}, ::1" in r.stdout and "RR cluster on" in r.stdout


def _json_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def test_pyrr_run_from_the_environment_alone(
    datastore: EtcdServer, tls_files: TlsFiles, tmp_path: Path
) -> None:
    """`pyrr run` with calico/routereflector's variables and nothing else: peers from etcd,
    SIGHUP re-reads etcd, SIGTERM exits 0 (and a dead etcd at start only delays it)."""
    env = cli_env(tmp_path, environment(datastore, tls_files))
    sock = tmp_path / "s"
    log_path = tmp_path / "pyrr.log"

    def status() -> dict[str, Any]:
        return request(str(sock), {"cmd": "status"})

    with log_path.open("wb") as out:
        proc = subprocess.Popen([*pyrr_exe(), "run"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:

        def peers() -> set[str]:
            return {str(p["address"]) for p in status()["peers"]}

        _wait(lambda: peers() == {"127.0.2.1", "127.0.2.2"}, proc, log_path)
        assert status()["asn"] == SEED_AS and status()["router_id"] == ME
        put(datastore, (node_key("n3"), node("n3", "127.0.2.3")))
        _wait(lambda: "127.0.2.3" in peers(), proc, log_path, timeout=2.0)
        proc.send_signal(signal.SIGHUP)
        _wait(
            lambda: any(
                e["event"] == "etcd resync requested; listing again" for e in _json_lines(log_path)
            ),
            proc,
            log_path,
        )
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    events = [e["event"] for e in _json_lines(log_path)]
    assert "Calico datastore read" in events and "applying the datastore" in events

    # etcd unreachable at start: pyrr waits (and says so); SIGTERM ends it cleanly.
    dead = {**env, "ETCD_ENDPOINTS": f"https://127.0.0.1:{free_port(ME)}"}
    log2 = tmp_path / "pyrr2.log"
    with log2.open("wb") as out:
        proc = subprocess.Popen(
            [*pyrr_exe(), "run"], env=dead, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait(
            lambda: any(
                e["event"] == "etcd status" and e["status"].startswith("disconnected")
                for e in _json_lines(log2)
            ),
            proc,
            log2,
        )
        assert not sock.exists()  # not serving before the datastore is read
        proc.send_signal(signal.SIGHUP)  # nothing to reload yet: logged, and pyrr waits on
        _wait(
            lambda: any(e["event"] == "SIGHUP ignored: not started" for e in _json_lines(log2)),
            proc,
            log2,
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def _wait(
    pred: Callable[[], object], proc: subprocess.Popen[bytes], log: Path, timeout: float = 15.0
) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"pyrr exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if pred():
                return
        except Exception as exc:  # the control socket is not there yet
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out (last: {last!r}):\n{log.read_text()[-3000:]}")
