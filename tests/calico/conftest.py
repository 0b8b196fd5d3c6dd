"""Fixtures for Calico mode: real etcd 3.4 (TLS client certificates), and failure tracking for
the module-scoped labs. A missing tool fails the test with the fix (scripts/setup.sh installs
everything); nothing here skips."""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.etcd.server import EtcdServer, TlsFiles, etcd_unavailable_reason, make_tls

REPO_ROOT = Path(__file__).resolve().parents[2]

# Modules (by node id of the module) with a failed test: their labs save logs at teardown.
FAILED_MODULES: set[str] = set()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    rep = yield
    if rep.failed:
        FAILED_MODULES.add(item.nodeid.split("::")[0])
    return rep


def require_etcd() -> None:
    reason = etcd_unavailable_reason()
    if reason is not None:
        pytest.fail(f"Calico-mode tests need real etcd: {reason}", pytrace=False)


def require_lab() -> None:
    require_etcd()
    if os.geteuid() != 0:
        pytest.fail("lab tests need root (network namespaces): run as root", pytrace=False)
    for tool in ("ip", "ss"):
        if shutil.which(tool) is None:
            pytest.fail(f"lab tests need `{tool}` (iproute2): run scripts/setup.sh", pytrace=False)
    bird16 = Path(os.environ.get("PYRR_BIRD16_DIR", "/opt/bird16")) / "usr" / "sbin" / "bird"
    if not bird16.exists():
        pytest.fail(f"BIRD 1.6 not found at {bird16}: run scripts/setup.sh", pytrace=False)


def pyrr_exe() -> list[str]:
    """The `pyrr` command (PYRR_BIN may name another, e.g. "python -m pyrr")."""
    import shlex

    override = os.environ.get("PYRR_BIN")
    if override:
        return shlex.split(override)
    exe = REPO_ROOT / ".venv" / "bin" / "pyrr"
    if not exe.exists():
        pytest.fail(f"pyrr executable not found at {exe}: run scripts/setup.sh", pytrace=False)
    return [str(exe)]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    require_etcd()
    return make_tls(tmp_path_factory.mktemp("calico-tls"))


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory, tls_files: TlsFiles) -> Iterator[EtcdServer]:
    """One TLS member with client-certificate auth on the root namespace's loopback."""
    server = EtcdServer(tmp_path_factory.mktemp("calico-etcd"), tls=tls_files)
    server.start()
    try:
        yield server
    finally:
        server.remove()
