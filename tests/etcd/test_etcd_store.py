"""EtcdStore against real etcd 3.4: list then watch, TLS, outages, compaction, failover, leases."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from pyrr.store.calico.model import RR_V4_PREFIX, registration_key, registration_value
from pyrr.store.etcd.client import CALICO_PREFIX, EtcdStore
from pyrr.store.etcd.endpoints import EtcdEndpoint, parse_endpoints
from pyrr.store.etcd.errors import describe_error
from pyrr.store.etcd.history import History

from .server import EtcdCluster, EtcdServer, TlsFiles

pytestmark = pytest.mark.timeout(90)

# Short timers so outages are noticed in about a second.
FAST: dict[str, Any] = {
    "rpc_timeout": 1.0,
    "probe_interval": 0.5,
    "backoff_initial": 0.2,
    "backoff_max": 1.0,
}


def run(body: Callable[[], Awaitable[None]], timeout: float = 60.0) -> None:
    async def main() -> None:
        await asyncio.wait_for(body(), timeout)

    asyncio.run(main())


def base() -> str:
    """A Calico-shaped prefix of the test's own, so tests can share one etcd."""
    return f"/t/{uuid.uuid4().hex[:8]}{CALICO_PREFIX}"


AS65000 = b'{"spec":{"asNumber":65000}}'
RR_IP = IPv4Address("10.0.0.5")
CLUSTER_ID = IPv4Address("1.0.0.1")


def node(name: str, ip: str) -> bytes:
    doc = {
        "kind": "Node",
        "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": name},
        "spec": {"bgp": {"ipv4Address": f"{ip}/24"}},
    }
    return json.dumps(doc).encode()


class Recorder:
    """The consumer's side: keeps the state that snapshot + changes describe, and a log."""

    def __init__(self) -> None:
        self.state: dict[str, bytes] = {}
        self.log: list[tuple[Any, ...]] = []
        self.snapshots: list[tuple[dict[str, bytes], int]] = []
        self.changes: list[tuple[str, bytes | None, int]] = []
        self.statuses: list[str] = []
        self.thread_ok = True

    def _check_thread(self) -> None:
        # Every callback must run on the loop thread.
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.thread_ok = False

    def on_snapshot(self, snap: dict[str, bytes], rev: int) -> None:
        self._check_thread()
        self.state = dict(snap)
        self.snapshots.append((dict(snap), rev))
        self.log.append(("snapshot", rev))

    def on_change(self, key: str, value: bytes | None, rev: int) -> None:
        self._check_thread()
        if value is None:
            self.state.pop(key, None)
        else:
            self.state[key] = value
        self.changes.append((key, value, rev))
        self.log.append(("change", key, rev))

    def on_status(self, text: str) -> None:
        self._check_thread()
        self.statuses.append(text)
        self.log.append(("status", text))

    async def until(self, what: str, pred: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; log tail: {self.log[-12:]}")
            await asyncio.sleep(0.02)

    def disconnected(self) -> bool:
        return any(s.startswith("disconnected") for s in self.statuses)


def tls_args(tls: TlsFiles) -> dict[str, Any]:
    return {"ca": str(tls.ca), "cert": str(tls.client_cert), "key": str(tls.client_key)}


def make_store(
    urls: list[str], rec: Recorder, tls: TlsFiles | None, prefixes: list[str], **kw: Any
) -> EtcdStore:
    args: dict[str, Any] = tls_args(tls) if tls else {}
    timing = {**FAST, **kw}
    return EtcdStore(
        urls,
        prefixes=prefixes,
        on_snapshot=rec.on_snapshot,
        on_change=rec.on_change,
        on_status=rec.on_status,
        **args,
        **timing,
    )


def etcd_state(server: EtcdServer, prefixes: list[str]) -> dict[str, bytes]:
    c = server.client()
    try:
        out: dict[str, bytes] = {}
        for p in prefixes:
            for value, meta in c.get_prefix(p):
                out[meta.key.decode()] = value
        return out
    finally:
        c.close()


# -- no etcd needed ----------------------------------------------------------------------------
def test_parse_endpoints() -> None:
    eps = parse_endpoints(
        ["https://10.0.0.1:2379", "http://[fd00::1]:4001", " etcd.local ", "", "http://h"],
        tls_default=True,
    )
    assert eps == [
        EtcdEndpoint("https", "10.0.0.1", 2379),
        EtcdEndpoint("http", "fd00::1", 4001),
        EtcdEndpoint("https", "etcd.local", 2379),
        EtcdEndpoint("http", "h", 2379),
    ]
    assert eps[1].url == "http://[fd00::1]:4001" and eps[1].grpc_host == "[fd00::1]"
    bads: list[list[str]] = [
        ["ftp://x:1"],
        ["https://x:notaport"],
        ["https://:2379"],
        ["http://x:1/v2"],
        ["https://x:0"],
        [],
    ]
    for bad in bads:
        with pytest.raises(ValueError):
            parse_endpoints(bad)


def test_endpoints_checked_by_the_environment_reach_the_store_unchanged() -> None:
    """ETCD_ENDPOINTS is checked once (pyrr.store.file.environment); the store takes those
    endpoints as they are, and their URLs would parse back to the same endpoints."""
    from pyrr.store.file.environment import from_environment

    value = "https://192.168.56.101:2379,http://[FD00::1]:4001,https://etcd-0.example:2380"
    env = from_environment({"ETCD_ENDPOINTS": value, "IP": "192.168.56.104"})
    eps = list(env.etcd_endpoints)
    assert [e.url for e in eps] == [
        "https://192.168.56.101:2379",
        "http://[fd00::1]:4001",
        "https://etcd-0.example:2380",
    ]
    assert parse_endpoints(eps) == eps
    assert parse_endpoints([e.url for e in eps]) == eps
    assert parse_endpoints([str(e) for e in eps], tls_default=True) == eps


def test_constructor_validates() -> None:
    def store(**kw: Any) -> EtcdStore:
        return EtcdStore(
            ["http://127.0.0.1:1"],
            on_snapshot=lambda s, r: None,
            on_change=lambda k, v, r: None,
            **kw,
        )

    with pytest.raises(ValueError, match="certificate needs its key"):
        store(cert="/x")
    with pytest.raises(ValueError, match="password"):
        store(user="u")
    with pytest.raises(ValueError, match="overlap"):
        store(prefixes=["/calico/", "/calico/resources/"])
    assert store(prefixes="/a/").prefixes == ("/a/",)
    with pytest.raises(ValueError, match="no etcd endpoints"):
        EtcdStore([], on_snapshot=lambda s, r: None, on_change=lambda k, v, r: None)


def test_describe_error() -> None:
    assert describe_error(None) == "watch stream closed by the server"
    assert describe_error(OSError("boom")) == "OSError: boom"


# -- one shared TLS member -------------------------------------------------------------------------
def test_resync_delivers_a_fresh_snapshot(etcd_tls: EtcdServer, etcd_tls_files: TlsFiles) -> None:
    """resync() (pyrr's SIGHUP in etcd mode) lists again on the same member."""
    b = base()
    c = etcd_tls.client()
    c.put(f"{b}nodes/n1", node("n1", "10.0.0.1"))
    rec = Recorder()
    store = make_store([etcd_tls.url], rec, etcd_tls_files, [f"{b}nodes/"])

    async def body() -> None:
        await store.start()
        try:
            await rec.until("snapshot", lambda: len(rec.snapshots) == 1)
            await rec.until("connected", lambda: store.status.startswith("connected"))
            store.resync()
            await rec.until("second snapshot", lambda: len(rec.snapshots) == 2)
            assert rec.snapshots[1][0] == {f"{b}nodes/n1": node("n1", "10.0.0.1")}
            assert store.stats.resyncs == 1 and store.stats.disconnects == 0
            # Still watching afterwards.
            c.put(f"{b}nodes/n2", node("n2", "10.0.0.2"))
            await rec.until("change after resync", lambda: f"{b}nodes/n2" in rec.state)
        finally:
            await store.stop()

    try:
        run(body)
    finally:
        c.close()


def test_snapshot_then_changes_in_order(etcd_tls: EtcdServer, etcd_tls_files: TlsFiles) -> None:
    b = base()
    c = etcd_tls.client()
    c.put(f"{b}nodes/n1", node("n1", "10.0.0.1"))
    c.put(f"{b}bgppeers/p1", b'{"spec":{"peerIP":"10.0.0.100","asNumber":64512}}')
    c.put(f"{b}bgpconfigurations/default", b'{"spec":{"asNumber":64512}}')
    c.put(f"{b}ippools/pool1", b'{"spec":{"cidr":"10.244.0.0/16"}}')
    c.put(f"/t/elsewhere{b}nodes/n9", b"not ours")
    rec = Recorder()
    prefixes = [f"{b}nodes/", f"{b}bgppeers/", f"{b}bgpconfigurations/"]
    store = make_store([etcd_tls.url], rec, etcd_tls_files, prefixes)

    async def body() -> None:
        await store.start()
        try:
            await rec.until("snapshot", lambda: len(rec.snapshots) == 1)
            snap, rev = rec.snapshots[0]
            assert set(snap) == {f"{b}nodes/n1", f"{b}bgppeers/p1", f"{b}bgpconfigurations/default"}
            assert snap[f"{b}nodes/n1"] == node("n1", "10.0.0.1")
            await rec.until("connected", lambda: store.status.startswith("connected"))
            assert store.endpoint == etcd_tls.url

            revs = [
                c.put(f"{b}nodes/n2", node("n2", "10.0.0.2")).header.revision,
                c.put(f"{b}nodes/n1", node("n1", "10.0.0.11")).header.revision,
                c.delete(f"{b}bgppeers/p1", return_response=True).header.revision,
                c.put(f"{b}bgpconfigurations/default", AS65000).header.revision,
                c.put(f"{b}ippools/pool2", b"{}").header.revision,  # not watched
                c.put(f"{b}nodes/n2", b"{corrupt").header.revision,  # delivered as it is
            ]
            await rec.until("5 changes", lambda: len(rec.changes) >= 5)
            await asyncio.sleep(0.2)
            assert rec.changes == [
                (f"{b}nodes/n2", node("n2", "10.0.0.2"), revs[0]),
                (f"{b}nodes/n1", node("n1", "10.0.0.11"), revs[1]),
                (f"{b}bgppeers/p1", None, revs[2]),
                (f"{b}bgpconfigurations/default", AS65000, revs[3]),
                (f"{b}nodes/n2", b"{corrupt", revs[5]),
            ]
            assert all(r > rev for _, _, r in rec.changes)
            assert rec.state == etcd_state(etcd_tls, prefixes)
            assert rec.thread_ok
            assert store.stats.snapshots == 1 and store.stats.changes == 5
        finally:
            await store.stop()
        assert store.status == "stopped"

    try:
        run(body)
    finally:
        c.close()


def test_no_change_lost_between_list_and_watch(
    etcd_tls: EtcdServer, etcd_tls_files: TlsFiles
) -> None:
    """Writes land after the list and before the watch exists: the watch from R+1 has them."""
    b = base()
    prefixes = [f"{b}nodes/", f"{b}bgppeers/"]
    c = etcd_tls.client()
    for i in range(3):
        c.put(f"{b}nodes/n{i}", node(f"n{i}", f"10.0.0.{i}"))

    class Racy(EtcdStore):
        def _list_once(self, client: Any) -> tuple[dict[str, bytes], int]:
            out = super()._list_once(client)
            if not getattr(self, "raced", False):
                self.raced = True
                c.put(f"{b}nodes/late", node("late", "10.0.0.99"))
                c.delete(f"{b}nodes/n0")
                c.put(f"{b}bgppeers/late", b"{}")
            return out

    rec = Recorder()
    store = Racy(
        [etcd_tls.url],
        prefixes=prefixes,
        on_snapshot=rec.on_snapshot,
        on_change=rec.on_change,
        on_status=rec.on_status,
        **tls_args(etcd_tls_files),
        **FAST,
    )

    async def body() -> None:
        await store.start()
        try:
            await rec.until("3 changes", lambda: len(rec.changes) >= 3)
            snap = rec.snapshots[0][0]
            assert set(snap) == {f"{b}nodes/n0", f"{b}nodes/n1", f"{b}nodes/n2"}
            # etcd's order within each watched prefix (one watch each: across prefixes the
            # streams may interleave either way).
            keys = [k for k, _, _ in rec.changes]
            assert [k for k in keys if k.startswith(prefixes[0])] == [
                f"{b}nodes/late",
                f"{b}nodes/n0",
            ]
            assert [k for k in keys if k.startswith(prefixes[1])] == [f"{b}bgppeers/late"]
            # Also while a writer hammers etcd during start-up of a second store.
            rec2 = Recorder()
            store2 = make_store([etcd_tls.url], rec2, etcd_tls_files, prefixes)
            loop = asyncio.get_running_loop()
            writer = loop.run_in_executor(None, write_many, etcd_tls, f"{b}nodes/w", 150)
            await asyncio.sleep(0.05)
            await store2.start()
            try:
                await writer
                want = etcd_state(etcd_tls, prefixes)
                await rec2.until("all writes", lambda: rec2.state == want)
                srev = rec2.snapshots[0][1]
                crevs = [r for _, _, r in rec2.changes]
                assert all(r > srev for r in crevs) and crevs == sorted(crevs)
                assert len(rec2.snapshots) == 1
            finally:
                await store2.stop()
            assert rec.state == etcd_state(etcd_tls, prefixes)
        finally:
            await store.stop()

    try:
        run(body)
    finally:
        c.close()


def wait_writable(server: EtcdServer, key: str, timeout: float = 15.0) -> None:
    """Put `key` through `server` until the cluster behind it accepts writes.

    A fresh client per try: a pyetcd client shuns its endpoint for 300 s after one timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        c = server.client(timeout=1.0)
        try:
            c.put(key, b"")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        finally:
            c.close()


def write_many(server: EtcdServer, key: str, n: int) -> None:
    w = server.client()
    try:
        for i in range(n):
            w.put(f"{key}{i % 40}", str(i))
    finally:
        w.close()


def test_bad_tls_is_a_status_not_a_crash(
    etcd_tls: EtcdServer, etcd_tls_files: TlsFiles, tmp_path: Path
) -> None:
    t = etcd_tls_files
    cases: dict[str, dict[str, Any]] = {
        "rogue client cert": {"ca": str(t.ca), "cert": str(t.rogue_cert), "key": str(t.rogue_key)},
        "no client cert": {"ca": str(t.ca)},
        "wrong CA": {"ca": str(t.rogue_cert), "cert": str(t.client_cert), "key": str(t.client_key)},
        "missing file": {
            "ca": str(t.ca),
            "cert": str(tmp_path / "nope.crt"),
            "key": str(t.client_key),
        },
    }

    async def body() -> None:
        for name, tls in cases.items():
            rec = Recorder()
            store = EtcdStore(
                [etcd_tls.url],
                prefixes=[base()],
                on_snapshot=rec.on_snapshot,
                on_change=rec.on_change,
                on_status=rec.on_status,
                **tls,
                **FAST,
            )
            await store.start()
            try:
                await rec.until(f"{name}: disconnected", rec.disconnected, timeout=10)
                status = next(s for s in rec.statuses if s.startswith("disconnected"))
                if name == "missing file":
                    assert "cannot read etcd client certificate" in status, status
                else:
                    assert "UNAVAILABLE" in status and "TLS failure" in status, (name, status)
                assert not rec.snapshots
                assert store._thread is not None and store._thread.is_alive()
            finally:
                await store.stop()

    run(body)


def test_callback_exception_does_not_kill_watch(
    etcd_tls: EtcdServer, etcd_tls_files: TlsFiles
) -> None:
    b = base()
    c = etcd_tls.client()
    c.put(f"{b}nodes/n1", b"1")
    rec = Recorder()
    seen: list[str] = []
    snapshots = 0

    def on_snapshot(snap: dict[str, bytes], rev: int) -> None:
        nonlocal snapshots
        snapshots += 1
        raise RuntimeError("consumer bug in snapshot")

    def on_change(key: str, value: bytes | None, rev: int) -> None:
        seen.append(key)
        if key.endswith("bad"):
            raise ValueError("consumer bug")

    store = EtcdStore(
        [etcd_tls.url],
        prefixes=[b],
        on_snapshot=on_snapshot,
        on_change=on_change,
        on_status=rec.on_status,
        **tls_args(etcd_tls_files),
        **FAST,
    )

    async def body() -> None:
        await store.start()
        try:
            await rec.until("connected", lambda: store.status.startswith("connected"))
            c.put(f"{b}nodes/bad", b"x")
            c.put(f"{b}nodes/good", b"y")
            c.put(f"{b}nodes/bad", b"z")
            c.put(f"{b}nodes/good2", b"w")
            await rec.until("good2", lambda: f"{b}nodes/good2" in seen)
            assert seen == [f"{b}nodes/{k}" for k in ("bad", "good", "bad", "good2")]
            assert snapshots == 1
            assert store.stats.callback_errors == 3
            assert store.status.startswith("connected")
        finally:
            await store.stop()

    try:
        run(body)
    finally:
        c.close()


# -- members of their own ------------------------------------------------------------------------
def test_outage_then_relist(fresh_etcd: EtcdServer, etcd_tls_files: TlsFiles) -> None:
    b = base()
    prefixes = [f"{b}nodes/", f"{b}bgppeers/"]
    c = fresh_etcd.client()
    c.put(f"{b}nodes/n1", b"1")
    c.put(f"{b}nodes/n2", b"2")
    c.close()
    rec = Recorder()
    store = make_store([fresh_etcd.url], rec, etcd_tls_files, prefixes)

    async def body() -> None:
        lag = 0.0

        async def ticker() -> None:
            nonlocal lag
            while True:
                t0 = time.monotonic()
                await asyncio.sleep(0.02)
                lag = max(lag, time.monotonic() - t0 - 0.02)

        tick = asyncio.create_task(ticker())
        await store.start()
        try:
            await rec.until("snapshot", lambda: len(rec.snapshots) == 1)
            await rec.until("connected", lambda: store.status.startswith("connected"))

            # 1. A hung server (SIGSTOP) for ~5 s: only the probe can notice.
            fresh_etcd.pause()
            t0 = time.monotonic()
            await rec.until("disconnected", rec.disconnected, timeout=10)
            assert time.monotonic() - t0 < 4
            held = dict(rec.state)
            await asyncio.sleep(max(0.0, 5 - (time.monotonic() - t0)))
            assert rec.state == held  # nothing is taken from the consumer meanwhile
            fresh_etcd.resume()
            with fresh_etcd.client() as c2:
                c2.put(f"{b}nodes/n3", b"3")
                c2.delete(f"{b}nodes/n1")
            await rec.until("second snapshot", lambda: len(rec.snapshots) == 2)
            want = etcd_state(fresh_etcd, prefixes)
            await rec.until("state after pause", lambda: rec.state == want)
            await rec.until("reconnected", lambda: store.status.startswith("connected"))

            # 2. Stopped for ~5 s and started again on the same data dir.
            rec.statuses.clear()
            await asyncio.to_thread(fresh_etcd.stop)
            await rec.until("disconnected again", rec.disconnected, timeout=10)
            await asyncio.sleep(4)
            await asyncio.to_thread(fresh_etcd.start)
            with fresh_etcd.client() as c3:
                c3.put(f"{b}bgppeers/p1", b"peer")
                c3.delete(f"{b}nodes/n2")
            await rec.until("third snapshot", lambda: len(rec.snapshots) == 3, timeout=20)
            want = etcd_state(fresh_etcd, prefixes)
            assert set(want) == {f"{b}nodes/n3", f"{b}bgppeers/p1"}
            await rec.until("state after restart", lambda: rec.state == want)
            await rec.until("connected again", lambda: store.status.startswith("connected"))
            assert store.stats.disconnects == 2 and store.stats.failovers == 0
            assert lag < 0.5, f"event loop blocked for {lag:.2f}s"
            # A write now is a plain change again.
            with fresh_etcd.client() as c4:
                c4.put(f"{b}nodes/n4", b"4")
            await rec.until("n4", lambda: f"{b}nodes/n4" in rec.state)
            assert len(rec.snapshots) == 3
        finally:
            tick.cancel()
            await store.stop()

    run(body, timeout=80)


def test_registration_lease(fresh_etcd: EtcdServer, etcd_tls_files: TlsFiles) -> None:
    key = registration_key(RR_IP)  # the RR cluster registration (see pyrr.store.calico.model)
    value = registration_value(RR_IP, CLUSTER_ID)
    rec = Recorder()
    store = make_store([fresh_etcd.url], rec, etcd_tls_files, [RR_V4_PREFIX])
    c = fresh_etcd.client()

    def present() -> bool:
        v, meta = c.get(key)
        return v == value and meta is not None and meta.lease_id != 0

    async def wait_etcd(what: str, pred: Callable[[], bool], timeout: float) -> float:
        t0 = time.monotonic()
        while not pred():
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)
        return time.monotonic() - t0

    async def body() -> None:
        nonlocal c
        store.register(key, value, ttl=3)  # before start: applied once connected
        await store.start()
        try:
            await wait_etcd("registration", present, 5)
            # Our own registration comes back through the watched cluster prefix.
            await rec.until("own key seen", lambda: rec.state.get(key) == value)
            lease = c.get(key)[1].lease_id
            await asyncio.sleep(4.5)  # longer than the TTL: the keepalive holds it
            assert present() and c.get(key)[1].lease_id == lease

            # Outage during which the lease is lost (revoked, as if it had expired).
            c.close()
            fresh_etcd.stop()
            await rec.until("disconnected", rec.disconnected, timeout=10)
            fresh_etcd.start()
            c = fresh_etcd.client()
            c.revoke_lease(lease)
            assert c.get(key)[0] is None
            await wait_etcd("re-registration", present, 10)
            assert c.get(key)[1].lease_id != lease

            # A new value replaces the old one under the same registration.
            value2 = registration_value(RR_IP, CLUSTER_ID, port=1790)
            store.register(key, value2, ttl=3)
            await wait_etcd("new value", lambda: c.get(key)[0] == value2, 5)

            # unregister revokes (the key goes at once); register brings it back.
            store.unregister(key)
            await wait_etcd("unregistered", lambda: c.get(key)[0] is None, 3)
            await rec.until("own key gone", lambda: key not in rec.state)
            store.register(key, value2, ttl=3)
            await wait_etcd("registered again", lambda: c.get(key)[0] == value2, 5)
        finally:
            # Killed without stop: keepalives end, the lease runs out within the TTL.
            await store.stop(revoke=False)
        assert c.get(key)[0] is not None
        gone = await wait_etcd("expiry", lambda: c.get(key)[0] is None, 3 + 2)
        assert gone <= 3 + 1.5

        # A clean stop revokes at once.
        rec2 = Recorder()
        store2 = make_store([fresh_etcd.url], rec2, etcd_tls_files, [f"{base()}nodes/"])
        store2.register(key, value, ttl=10)
        await store2.start()
        try:
            await wait_etcd("registration 2", present, 5)
        finally:
            await store2.stop()
        assert c.get(key)[0] is None

    try:
        run(body, timeout=80)
    finally:
        c.close()


def test_cluster_failover_without_relist(
    etcd_cluster: EtcdCluster, etcd_tls_files: TlsFiles
) -> None:
    b = base()
    prefixes = [f"{b}nodes/", f"{b}bgppeers/"]
    with etcd_cluster.members[0].client() as c:
        c.put(f"{b}nodes/n1", b"1")
    rec = Recorder()
    cluster_key = registration_key(RR_IP)
    prefixes.append(RR_V4_PREFIX)
    store = make_store(etcd_cluster.urls, rec, etcd_tls_files, prefixes)
    store.register(cluster_key, b"{}", ttl=5)

    async def body() -> None:
        await store.start()
        try:
            await rec.until("connected", lambda: store.status.startswith("connected"))
            await rec.until("registered", lambda: cluster_key in rec.state)
            assert store.endpoint is not None
            talked_to = etcd_cluster.member(store.endpoint)
            others = [m for m in etcd_cluster if m is not talked_to]
            # Busy elsewhere, quiet here, then compacted: progress notifications must have
            # moved the resume point past the compaction, or the failover would re-list.
            with others[0].client() as c:
                for i in range(30):
                    c.put(f"/t/elsewhere/{i % 3}", str(i))
                await asyncio.sleep(2.5)  # progress notifications come every second
                c.compact(c.put("/t/elsewhere/x", b"x").header.revision, physical=True)
            await asyncio.to_thread(talked_to.stop)
            await asyncio.to_thread(wait_writable, others[0], "/t/writable")
            with others[0].client() as c:
                lease = c.get(cluster_key)[1].lease_id
                c.put(f"{b}nodes/n2", b"2")
                c.delete(f"{b}nodes/n1")
            await rec.until("changes via another member", lambda: f"{b}nodes/n2" in rec.state)
            await rec.until("n1 deleted", lambda: f"{b}nodes/n1" not in rec.state)
            assert store.endpoint is not None and store.endpoint != talked_to.url
            assert len(rec.snapshots) == 1 and store.stats.snapshots == 1
            assert store.stats.failovers == 1 and store.stats.disconnects == 0
            assert not rec.disconnected()
            with others[1].client() as c:
                c.put(f"{b}bgppeers/p1", b"p")
                # The registration's lease lives on across the failover.
                assert c.get(cluster_key)[1].lease_id == lease
            await rec.until("p1", lambda: f"{b}bgppeers/p1" in rec.state)
            assert rec.state == etcd_state(others[1], prefixes)
        finally:
            await store.stop()
        # Every thread the store started has ended.
        deadline = time.monotonic() + 5
        while any(t.name.startswith(("pyrr-etcd", "pyetcd_watch")) for t in threading.enumerate()):
            assert time.monotonic() < deadline, [t.name for t in threading.enumerate()]
            await asyncio.sleep(0.05)

    run(body)


def test_compacted_revision_forces_relist(
    etcd_cluster: EtcdCluster, etcd_tls_files: TlsFiles
) -> None:
    """The member we watch hangs; the others move on and compact; resuming needs a re-list."""
    b = base()
    prefixes = [f"{b}nodes/"]
    rec = Recorder()
    # A slow probe, so the writes and the compaction happen before the hang is noticed.
    store = make_store(etcd_cluster.urls, rec, etcd_tls_files, prefixes, probe_interval=4.0)

    async def body() -> None:
        await store.start()
        try:
            await rec.until("connected", lambda: store.status.startswith("connected"))
            assert store.endpoint is not None
            hung = etcd_cluster.member(store.endpoint)
            others = [m for m in etcd_cluster if m is not hung]
            hung.pause()
            try:
                # If the hung member led, the others need a moment to elect a new leader.
                await asyncio.to_thread(wait_writable, others[0], "/t/writable")
                with others[0].client() as c:
                    for i in range(50):
                        c.put(f"{b}nodes/a", str(i).encode())
                    rev = c.put(f"{b}nodes/b", b"b").header.revision
                    c.compact(rev, physical=True)
                await rec.until("re-list", lambda: len(rec.snapshots) == 2, timeout=20)
            finally:
                hung.resume()
            assert rec.snapshots[1][0] == {f"{b}nodes/a": b"49", f"{b}nodes/b": b"b"}
            assert store.stats.compactions == 1 and store.stats.disconnects == 0
            assert not any(k == f"{b}nodes/a" for k, _, _ in rec.changes)  # no replay
            assert rec.state == etcd_state(others[0], prefixes)
            with others[1].client() as c:
                c.put(f"{b}nodes/c", b"c")
            await rec.until("c", lambda: f"{b}nodes/c" in rec.state)
        finally:
            await store.stop()

    run(body)


def has(rec: Recorder, key: str) -> bool:
    return key in rec.state


def test_user_password_auth(tmp_path: Path) -> None:
    """etcd auth over plain HTTP (pyetcd's call credentials need dropping there)."""
    from .server import etcd_unavailable_reason

    if (reason := etcd_unavailable_reason()) is not None:
        pytest.fail(f"{reason}: run scripts/setup.sh")
    server = EtcdServer(tmp_path / "etcd")
    server.start()
    try:
        server.ctl("user", "add", "root:rootpw")
        server.ctl("auth", "enable")

        async def body() -> None:
            for password, ok in (("rootpw", True), ("wrong", False)):
                rec = Recorder()
                store = EtcdStore(
                    [server.url],
                    user="root",
                    password=password,
                    prefixes=["/auth/"],
                    on_snapshot=rec.on_snapshot,
                    on_change=rec.on_change,
                    on_status=rec.on_status,
                    **FAST,
                )
                store.register("/auth/reg", b"me", ttl=3)
                await store.start()
                try:
                    if ok:
                        await rec.until("registered", functools.partial(has, rec, "/auth/reg"))
                    else:
                        await rec.until("refused", rec.disconnected)
                        assert "authentication failed" in rec.statuses[-1]
                        assert not rec.snapshots
                finally:
                    await store.stop()

        run(body)
    finally:
        server.remove()


def test_history_tells_a_restored_cluster_from_the_one_watched() -> None:
    @dataclass
    class Header:
        cluster_id: int
        revision: int
        raft_term: int

    h = History()
    assert h.breaks(Header(7, 1, 1)) is None  # nothing seen yet: anything continues it
    h.restart(Header(7, 40, 5))
    h.note(Header(7, 44, 6))
    assert h.breaks(Header(7, 44, 6)) is None  # another member of the same cluster
    assert h.breaks(Header(7, 50, 8)) is None  # ... that has moved on
    assert "cluster id" in (h.breaks(Header(8, 50, 8)) or "")
    assert "revision 30 is behind 44" in (h.breaks(Header(7, 30, 6)) or "")
    # A restored cluster that has caught up on revisions starts its raft terms again.
    assert "raft term 2 is behind 6" in (h.breaks(Header(7, 60, 2)) or "")
    h.restart(Header(8, 3, 2))  # listed again: the new cluster is the history now
    assert h.breaks(Header(8, 3, 2)) is None


def test_restore_behind_a_hung_member_is_listed_again(
    etcd_cluster: EtcdCluster, etcd_tls_files: TlsFiles, tmp_path: Path
) -> None:
    """The cluster is rebuilt from a backup while the member the store watches hangs: the
    store notices only by its probe's deadline, when the rebuilt members already answer on
    the other endpoints with the backup's older revisions. Resuming the watches there would
    miss the restore and every change until the revision caught up: it must list again."""
    b = base()
    prefixes = [f"{b}nodes/"]
    rec = Recorder()
    # The probe's deadline longer than the restore takes, so the hang is noticed only once
    # the rebuilt members answer (as when the member is cut off by a partition).
    store = make_store(
        etcd_cluster.urls, rec, etcd_tls_files, prefixes, probe_interval=1.0, rpc_timeout=20.0
    )
    snap = tmp_path / "backup.db"

    async def body() -> None:
        await store.start()
        try:
            await rec.until("connected", lambda: store.status.startswith("connected"))
            assert store.endpoint is not None
            hung = etcd_cluster.member(store.endpoint)
            others = [m for m in etcd_cluster if m is not hung]
            with others[0].client() as c:
                c.put(f"{b}nodes/a", b"backed up")
            await asyncio.to_thread(others[0].ctl, "snapshot", "save", str(snap))
            with others[0].client() as c:
                for i in range(20):
                    c.put(f"{b}nodes/a", f"after {i}".encode())
                c.put(f"{b}nodes/b", b"after the backup")
            await rec.until("b", lambda: f"{b}nodes/b" in rec.state)
            hung.pause()
            try:
                # Two of the three members rebuilt from the backup: a quorum of the restored
                # cluster, while the hung one keeps its old data and its sockets.
                for m in others:
                    await asyncio.to_thread(m.stop)
                for m in others:
                    await asyncio.to_thread(m.restore, snap)
                for m in others:
                    m.launch()
                for m in others:
                    await asyncio.to_thread(m.wait_healthy)
                await rec.until(
                    "the backup's state", lambda: rec.state == {f"{b}nodes/a": b"backed up"}, 50
                )
            finally:
                # It belongs to the old cluster: killed while still stopped, so that it never
                # speaks to the rebuilt members.
                await asyncio.to_thread(hung.kill)
            assert store.stats.history_breaks == 1 and store.stats.disconnects == 0
            assert len(rec.snapshots) == 2
            with others[1].client() as c:
                c.put(f"{b}nodes/c", b"after the restore")
            await rec.until("c", lambda: f"{b}nodes/c" in rec.state)
            assert rec.state == etcd_state(others[1], prefixes)
        finally:
            await store.stop()

    run(body, timeout=80)
