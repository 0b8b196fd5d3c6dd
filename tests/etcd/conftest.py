"""Fixtures running real etcd 3.4 on loopback (see server.py). Without etcd they fail, saying
to run scripts/setup.sh (never a skip)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import EtcdCluster, EtcdServer, TlsFiles, etcd_unavailable_reason, make_tls


def _require_etcd() -> None:
    reason = etcd_unavailable_reason()
    if reason is not None:
        pytest.fail(f"{reason}: run scripts/setup.sh")


@pytest.fixture(scope="module")
def etcd_tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    _require_etcd()
    return make_tls(tmp_path_factory.mktemp("etcd-tls"))


@pytest.fixture(scope="module")
def etcd_tls(
    tmp_path_factory: pytest.TempPathFactory, etcd_tls_files: TlsFiles
) -> Iterator[EtcdServer]:
    """One TLS member with client-certificate auth, shared by a module's gentle tests."""
    server = EtcdServer(tmp_path_factory.mktemp("etcd-shared"), tls=etcd_tls_files)
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def fresh_etcd(
    tmp_path_factory: pytest.TempPathFactory, etcd_tls_files: TlsFiles
) -> Iterator[EtcdServer]:
    """A TLS member of its own, for tests that stop, pause or compact it."""
    server = EtcdServer(tmp_path_factory.mktemp("etcd-fresh"), tls=etcd_tls_files)
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def etcd_cluster(
    tmp_path_factory: pytest.TempPathFactory, etcd_tls_files: TlsFiles
) -> Iterator[EtcdCluster]:
    """Three TLS members forming one cluster."""
    cluster = EtcdCluster(tmp_path_factory.mktemp("etcd-cluster"), n=3, tls=etcd_tls_files)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.remove()
