"""The container image, built from the Dockerfile and run: no Docker engine, no registry.

The base is Debian bookworm from Debian's packages (image.py), the image is the project's
Dockerfile built on it with podman, and it runs with `podman run` as the field report ran
calico/routereflector: `--net=host`, IP, ETCD_ENDPOINTS=https://..., the three ETCD_*_FILE
paths in /etc/calico/ssl mounted from the host, against a real TLS etcd holding the Calico
resources. Two simulated Calico nodes (SimPeer, over loopback) get each other's pod routes
through it, the image's HEALTHCHECK passes, and `podman stop` ends it with exit 0. Then the
image's port-179 scheme under the Kubernetes manifest's settings (read-only root, every
capability dropped but NET_BIND_SERVICE) and without NET_BIND_SERVICE.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyrr.bgp.constants import State
from tests.calico.resources import (
    SEED_AS,
    bgpconfig,
    bgpconfig_key,
    bgppeer,
    bgppeer_key,
    node,
    node_key,
)
from tests.etcd.server import EtcdServer, TlsFiles, etcd_unavailable_reason, make_tls

from ..peer_sim import SimPeer, free_port, wait_for
from .image import (
    CONTAINER_PREFIX,
    Built,
    Podman,
    ensure_base,
    ensure_image,
    missing_tools,
    ulimits,
)
from .test_docker import FINAL, env_of, exec_form, healthcheck_cmd

# A cold build is bounded by image.BASE_TIMEOUT + BUILD_TIMEOUT (46 s measured here).
pytestmark = [pytest.mark.image, pytest.mark.timeout(1500)]

ME = "127.0.0.1"
NODES = {"n1": "127.0.2.1", "n2": "127.0.2.2"}
BLOCKS = {"n1": "10.10.1.0/26", "n2": "10.10.2.0/26"}
UID = 10179
# Bounds: a built image must not grow unnoticed.
MAX_IMAGE_MB = 400
MAX_PYRR_LAYERS_MB = 120

_names = itertools.count()


@pytest.fixture(scope="module")
def podman() -> Podman:
    reason = missing_tools()
    if reason is not None:
        pytest.fail(reason, pytrace=False)
    p = Podman()
    p.remove_stale_containers()
    return p


@pytest.fixture(scope="module")
def image(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> tuple[Built, Built]:
    base = ensure_base(podman, tmp_path_factory.mktemp("base"))
    built = ensure_image(podman, base)
    print(
        f"\nbase {base.tag}: {base.size / 1e6:.0f} MB ({base.seconds:.0f} s);"
        f" image {built.tag}: {built.size / 1e6:.0f} MB ({built.seconds:.0f} s)"
    )
    return base, built


def container_name() -> str:
    return f"{CONTAINER_PREFIX}{os.getpid()}-{next(_names)}"


@pytest.fixture
def container(podman: Podman) -> Iterator[str]:
    """A container name; whatever runs under it is removed afterwards."""
    name = container_name()
    try:
        yield name
    finally:
        podman("rm", "--force", "--time", "2", name, check=False, timeout=60)


# --- the image ------------------------------------------------------------------------------------


def test_the_image_is_the_dockerfile_built_on_a_debian_base(
    podman: Podman, image: tuple[Built, Built]
) -> None:
    base, built = image
    info = podman.inspect(built.tag)
    config = info["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == exec_form(FINAL.last("ENTRYPOINT"))
    assert not config.get("Cmd")
    # Kept because the build is in Docker format (OCI images have no HEALTHCHECK).
    assert info["Healthcheck"]["Test"] == ["CMD", *healthcheck_cmd(FINAL)]
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["PYRR_CONTROL_SOCKET"] == env_of(FINAL)["PYRR_CONTROL_SOCKET"]
    assert "179/tcp" in config["ExposedPorts"] and config["StopSignal"] == "SIGTERM"

    with podman.mounted(built.tag) as root:
        python = Path(os.path.realpath(root / "usr/local/bin/python3"))
        if not python.is_relative_to(root):  # an absolute symlink: resolve inside the image
            target = os.readlink(root / "usr/local/bin/python3")
            python = Path(os.path.realpath(root / target.lstrip("/")))
        # setcap cap_net_bind_service=+ep: the xattr, and libcap2-bin purged again.
        assert os.getxattr(python, "security.capability")
        assert not (root / "usr/sbin/setcap").exists()
        run_pyrr = root / "run/pyrr"
        st = run_pyrr.stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (UID, UID, 0o750)

    size_mb = built.size / 1e6
    pyrr_mb = (built.size - base.size) / 1e6
    assert size_mb < MAX_IMAGE_MB, f"image is {size_mb:.0f} MB"
    assert pyrr_mb < MAX_PYRR_LAYERS_MB, f"pyrr's layers are {pyrr_mb:.0f} MB"


# --- the field report's docker run line -----------------------------------------------------------


def seed_ssl_dir(tls: TlsFiles, where: Path) -> Path:
    """/etc/etcd/ssl of the field report, made readable by the image's user as
    docs/operations.md says (chgrp 10179 + chmod 0640 on the key)."""
    where.mkdir(mode=0o755)
    shutil.copy(tls.ca, where / "etcd-root-ca.pem")
    shutil.copy(tls.client_cert, where / "etcd.pem")
    shutil.copy(tls.client_key, where / "etcd-key.pem")
    for f in where.iterdir():
        f.chmod(0o644)
    os.chown(where / "etcd-key.pem", 0, UID)
    (where / "etcd-key.pem").chmod(0o640)
    return where


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EtcdServer, TlsFiles]]:
    reason = etcd_unavailable_reason()
    if reason is not None:
        pytest.fail(f"{reason}: run scripts/setup.sh", pytrace=False)
    tls = make_tls(tmp_path_factory.mktemp("image-tls"))
    server = EtcdServer(tmp_path_factory.mktemp("image-etcd"), tls=tls)
    server.start()
    try:
        c = server.client()
        try:
            c.put(bgpconfig_key(), bgpconfig())
            c.put(bgppeer_key("bgppeer-global"), bgppeer("bgppeer-global", ME))
            for name, address in NODES.items():
                c.put(node_key(name), node(name, address))
        finally:
            c.close()
        yield server, tls
    finally:
        server.remove()


def wait(pred: object, timeout: float, what: str) -> None:
    assert callable(pred)
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def test_the_seed_docker_run_line_reflects_between_calico_nodes(
    podman: Podman,
    image: tuple[Built, Built],
    etcd: tuple[EtcdServer, TlsFiles],
    container: str,
    tmp_path: Path,
) -> None:
    _base, built = image
    server, tls = etcd
    ssl = seed_ssl_dir(tls, tmp_path / "ssl")
    port = free_port(ME)
    # The field report's line; PYRR_PORT because port 179 of the host's loopback may be taken
    # (the port-179 path is the next test's). Podman logs that it cannot set up the periodic
    # health check without systemd; the check itself is run below.
    podman(
        "run", "--privileged", "--net=host", "-d", f"--name={container}",
        "-e", f"IP={ME}",
        "-e", f"ETCD_ENDPOINTS={server.url}",
        "-v", f"{ssl}:/etc/calico/ssl",
        "-e", "ETCD_CA_CERT_FILE=/etc/calico/ssl/etcd-root-ca.pem",
        "-e", "ETCD_CERT_FILE=/etc/calico/ssl/etcd.pem",
        "-e", "ETCD_KEY_FILE=/etc/calico/ssl/etcd-key.pem",
        "-e", f"PYRR_PORT={port}",
        *ulimits(),
        built.tag,
    )  # fmt: skip

    def logs() -> str:
        r = podman("logs", container, check=False)
        return r.stdout + r.stderr

    def healthy() -> bool:
        if podman("healthcheck", "run", container, check=False).returncode == 0:
            return True
        running = podman("inspect", "--format", "{{.State.Running}}", container, check=False)
        if running.stdout.strip() != "true":
            raise AssertionError("the container stopped")
        return False

    try:
        wait(healthy, 30, "the image's HEALTHCHECK to pass")
    except AssertionError:
        raise AssertionError(f"not healthy; pyrr's log:\n{logs()[-4000:]}") from None

    async def converge() -> None:
        sims = {n: SimPeer(a, SEED_AS, (ME, port)) for n, a in NODES.items()}
        try:
            for sim in sims.values():
                await sim.connect()
            await wait_for(
                lambda: all(s.state == State.ESTABLISHED for s in sims.values()),
                timeout=10, what="both nodes Established",
            )  # fmt: skip
            for name, sim in sims.items():
                sim.announce([BLOCKS[name]])
                sim.send_eor()
            await wait_for(
                lambda: BLOCKS["n2"] in sims["n1"].prefixes()
                and BLOCKS["n1"] in sims["n2"].prefixes(),
                timeout=10, what="each node to learn the other's block",
            )  # fmt: skip
            # The health check still passes, and `pyrr status` inside sees both nodes up.
            check = await asyncio.to_thread(podman, "exec", container, *healthcheck_cmd(FINAL))
            assert "2/2 peers established" in check.stdout, check.stdout
            status = await asyncio.to_thread(podman, "exec", container, "pyrr", "status", "--json")
            reply = json.loads(status.stdout)
            assert reply["asn"] == SEED_AS and reply["router_id"] == ME
            assert {p["address"] for p in reply["peers"] if p["up"]} == set(NODES.values())
            # `docker stop`: SIGTERM, a Cease to every node, exit 0.
            await asyncio.to_thread(podman, "stop", "--time", "10", container, timeout=60)
            await wait_for(
                lambda: all(s.notification_received() is not None for s in sims.values()),
                timeout=5, what="Cease notifications",
            )  # fmt: skip
        finally:
            for sim in sims.values():
                sim.close()

    try:
        asyncio.run(asyncio.wait_for(converge(), 60))
    except AssertionError as err:
        raise AssertionError(f"{err}\npyrr's log:\n{logs()[-4000:]}") from None
    state = podman("inspect", "--format", "{{.State.ExitCode}} {{.State.Running}}", container)
    assert state.stdout.split() == ["0", "false"], logs()[-4000:]
    top = [json.loads(line) for line in logs().splitlines() if line.startswith("{")]
    events = [e["event"] for e in top]
    assert "Calico datastore read" in events, events
    started = next(e for e in top if e["event"] == "pyrr started")
    assert started["router_id"] == ME and started["port"] == port


# --- port 179 as the image's user -----------------------------------------------------------------


def test_port_179_under_the_kubernetes_security_settings(
    podman: Podman, image: tuple[Built, Built], container: str, tmp_path: Path
) -> None:
    """The DaemonSet's container settings (deploy/kubernetes): read-only root, /run/pyrr a
    volume, every capability dropped but NET_BIND_SERVICE; its own network namespace, so port
    179 is free. pyrr binds 179 as uid 10179 and the probe passes."""
    _base, built = image
    conf = tmp_path / "pyrr.toml"
    conf.write_text('[bgp]\nasn = 64512\nrouter_id = "127.0.0.1"\nlisten = ["127.0.0.1"]\n')
    conf.chmod(0o644)
    # The pod's emptyDir: a directory of the host's, root-owned, mode 0777 (a tmpfs mounted by
    # the runtime would take the image directory's mode, 0750, without its owner).
    run = tmp_path / "run"
    run.mkdir()
    run.chmod(0o777)
    podman(
        "run", "-d", f"--name={container}", "--net=none", "--read-only",
        "-v", f"{run}:/run/pyrr", "--cap-drop=ALL", "--cap-add=NET_BIND_SERVICE",
        "-v", f"{conf}:/etc/pyrr/pyrr.toml:ro", *ulimits(),
        built.tag, "--config", "/etc/pyrr/pyrr.toml",
    )  # fmt: skip

    def probe() -> bool:
        if podman("exec", container, *healthcheck_cmd(FINAL), check=False).returncode == 0:
            return True
        running = podman("inspect", "--format", "{{.State.Running}}", container, check=False)
        if running.stdout.strip() != "true":
            raise AssertionError("the container stopped")
        return False

    try:
        wait(probe, 30, "the probe")
    except AssertionError as err:
        log = podman("logs", container, check=False)
        raise AssertionError(f"{err}; pyrr's log:\n{(log.stdout + log.stderr)[-4000:]}") from None
    dial = (
        "import socket; s = socket.create_connection(('127.0.0.1', 179), 2); "
        "print(s.getpeername()[1])"
    )
    r = podman("exec", container, "python3", "-c", dial)
    assert r.stdout.strip() == "179"
    ids = podman("exec", container, "id", "-u").stdout.strip()
    assert ids == str(UID)
    podman("stop", "--time", "10", container, timeout=60)
    code = podman("inspect", "--format", "{{.State.ExitCode}}", container).stdout.strip()
    assert code == "0", podman("logs", container, check=False).stderr[-3000:]


def test_without_net_bind_service_the_kernel_refuses_to_start_python(
    podman: Podman, image: tuple[Built, Built], container: str
) -> None:
    """`--cap-drop ALL` alone: python's file capability cannot be granted, so exec fails, as
    docs/operations.md warns."""
    _base, built = image
    r = podman(
        "run", f"--name={container}", "--net=none", "--cap-drop=ALL", *ulimits(),
        built.tag, "--version",
        check=False, timeout=60,
    )  # fmt: skip
    assert r.returncode != 0
    assert "operation not permitted" in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
