"""Real etcd 3.4 servers for tests: loopback only, free ports, bounded waits, cleaned up.

- `make_tls(dir)` writes a throwaway CA, a server certificate (SAN IP:127.0.0.1), a client
  certificate, and a "rogue" client certificate signed by an unrelated CA, with `openssl`.
- `EtcdServer` runs one member (`start`, `stop`, `pause`/`resume` with SIGSTOP/SIGCONT to
  simulate a hung server, `kill`, `restore` from a snapshot, `remove`); restarting on the
  same data dir keeps the data.
- `EtcdCluster(n=3)` runs n members that form one cluster (`--initial-cluster`).

Every process is signalled by its own pid only, every wait is bounded, and data dirs are
removed by `remove()` (the fixtures in conftest.py call it). Peer traffic is plain HTTP on
loopback; client traffic is HTTPS with client-certificate auth when `tls` is given.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"
HOST = "127.0.0.1"

START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
CTL_TIMEOUT = 10.0


def etcd_unavailable_reason() -> str | None:
    """Why real-etcd tests cannot run here, or None if they can."""
    for tool in (ETCD, ETCDCTL):
        if not os.access(tool, os.X_OK):
            return f"{tool} not installed (Debian etcd-server/etcd-client; scripts/setup.sh)"
    if shutil.which("openssl") is None:
        return "openssl CLI not installed"
    return None


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on loopback (held open together so they differ)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _clean_env() -> dict[str, str]:
    # etcd and etcdctl read ETCD_* / ETCDCTL_* variables as flags: never inherit them.
    return {k: v for k, v in os.environ.items() if not k.startswith(("ETCD_", "ETCDCTL"))}


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    # A client certificate that etcd must reject: signed by a CA it does not trust.
    rogue_cert: Path
    rogue_key: Path


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(
        ["openssl", *map(str, args)],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=30,
        env=_clean_env(),
    )


def _new_key_and_csr(d: Path, name: str, cn: str) -> None:
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}",
        cwd=d,
    )  # fmt: skip


def _new_ca(d: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
        "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )  # fmt: skip


def _sign(d: Path, name: str, ca: str, ext: str) -> None:
    (d / f"{name}.ext").write_text(ext)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
        cwd=d,
    )  # fmt: skip


def make_tls(directory: Path, server_ips: Sequence[str] = ()) -> TlsFiles:
    """A CA, a server cert for 127.0.0.1 (and `server_ips`: members on lab addresses), a client
    cert, and a rogue client cert."""
    d = Path(directory)
    sans = ",".join(f"IP:{ip}" for ip in (HOST, *server_ips))
    d.mkdir(parents=True, exist_ok=True)
    _new_ca(d, "ca")
    _new_ca(d, "rogue-ca")
    _new_key_and_csr(d, "server", HOST)
    _sign(
        d, "server", "ca",
        "basicConstraints=CA:FALSE\n"
        f"subjectAltName={sans},DNS:localhost\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        # etcd uses its server certificate as a client too (gateway, grpc-gateway).
        "extendedKeyUsage=serverAuth,clientAuth\n",
    )  # fmt: skip
    client_ext = (
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n"
    )
    _new_key_and_csr(d, "client", "pyrr")
    _sign(d, "client", "ca", client_ext)
    _new_key_and_csr(d, "rogue", "pyrr")
    _sign(d, "rogue", "rogue-ca", client_ext)
    for key in d.glob("*.key"):
        key.chmod(0o600)
    return TlsFiles(
        ca=d / "ca.crt",
        server_cert=d / "server.crt",
        server_key=d / "server.key",
        client_cert=d / "client.crt",
        client_key=d / "client.key",
        rogue_cert=d / "rogue.crt",
        rogue_key=d / "rogue.key",
    )


class EtcdServer:
    """One etcd member on loopback. `cluster` is the `--initial-cluster` value (None: alone)."""

    def __init__(
        self,
        tmpdir: Path,
        name: str = "etcd0",
        client_port: int | None = None,
        peer_port: int | None = None,
        tls: TlsFiles | None = None,
        cluster: str | None = None,
        cluster_token: str | None = None,
    ) -> None:
        if client_port is None or peer_port is None:
            client_port, peer_port = free_ports(2)
        self.tmpdir = Path(tmpdir)
        self.name = name
        self.client_port = client_port
        self.peer_port = peer_port
        self.tls = tls
        self.data_dir = self.tmpdir / f"{name}.data"
        self.log_path = self.tmpdir / f"{name}.log"
        self.peer_url = f"http://{HOST}:{peer_port}"
        self.cluster = cluster or f"{name}={self.peer_url}"
        self.cluster_token = cluster_token or f"pyrr-test-{uuid.uuid4().hex[:8]}"
        self.proc: subprocess.Popen[bytes] | None = None

    # -- addresses and clients -------------------------------------------------------------
    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.client_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        cmd = [
            ETCD,
            "--name", self.name,
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.url,
            "--advertise-client-urls", self.url,
            "--listen-peer-urls", self.peer_url,
            "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", self.cluster,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", self.cluster_token,
            # Faster elections: a stopped leader is replaced in about a second.
            # Progress notifications every second instead of every 10 minutes.
            "--experimental-watch-progress-notify-interval", "1s",
            "--heartbeat-interval", "50",
            "--election-timeout", "500",
            "--logger", "zap",
            "--log-level", "warn",
        ]  # fmt: skip
        if self.tls:
            cmd += [
                "--cert-file", str(self.tls.server_cert),
                "--key-file", str(self.tls.server_key),
                "--client-cert-auth",
                "--trusted-ca-file", str(self.tls.ca),
            ]  # fmt: skip
        return cmd

    def ctl_args(self, endpoints: str | None = None) -> list[str]:
        args = [ETCDCTL, f"--endpoints={endpoints or self.url}", "--command-timeout=3s"]
        if self.tls:
            args += [
                f"--cacert={self.tls.ca}",
                f"--cert={self.tls.client_cert}",
                f"--key={self.tls.client_key}",
            ]
        return args

    def ctl(self, *args: str, check: bool = True, timeout: float = CTL_TIMEOUT) -> str:
        """Run etcdctl against this member; returns stdout."""
        env = _clean_env()
        env["ETCDCTL_API"] = "3"
        res = subprocess.run(
            [*self.ctl_args(), *args],
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
        )
        if check and res.returncode != 0:
            raise RuntimeError(
                f"etcdctl {' '.join(args)} failed ({res.returncode}): "
                f"{res.stderr.decode(errors='replace').strip()}"
            )
        return res.stdout.decode(errors="replace")

    def client(self, timeout: float = 5.0) -> Any:
        """A pyetcd client talking to this member only (the tests' "second client")."""
        import pyetcd

        kwargs: dict[str, Any] = {}
        if self.tls:
            kwargs = {
                "ca_cert": str(self.tls.ca),
                "cert_cert": str(self.tls.client_cert),
                "cert_key": str(self.tls.client_key),
            }
        return pyetcd.Etcd3Client(host=HOST, port=self.client_port, timeout=timeout, **kwargs)

    # -- lifecycle ---------------------------------------------------------------------------
    def launch(self) -> None:
        """Start the process without waiting for it to be healthy."""
        if self.running():
            raise RuntimeError(f"{self.name} already running (pid {self.pid})")
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_clean_env(),
                start_new_session=True,
            )

    def healthy(self) -> bool:
        if not self.running():
            return False
        env = _clean_env()
        env["ETCDCTL_API"] = "3"
        try:
            res = subprocess.run(
                [*self.ctl_args(), "--dial-timeout=1s", "endpoint", "health"],
                capture_output=True,
                timeout=5,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        return res.returncode == 0

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not healthy after {timeout}s:\n{self.log_tail()}")

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start (or restart on the same data dir) and wait until it answers."""
        self.launch()
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)

    def pause(self) -> None:
        """SIGSTOP: the member keeps its sockets but answers nothing (a hung server)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM by pid, bounded wait, then SIGKILL. Keeps the data dir."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal(signal.SIGCONT)  # a paused process would never see SIGTERM
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL by pid: no goodbye to clients. Keeps the data dir."""
        if self.proc is None:
            return
        self._signal(signal.SIGKILL)
        self.proc.wait(STOP_TIMEOUT)
        self.proc = None

    def restore(self, snapshot: Path) -> None:
        """Replace this stopped member's data with `snapshot` (`etcdctl snapshot save`), as
        `etcdctl snapshot restore` does when a cluster is rebuilt from a backup: same name,
        peer URL, cluster and token, older revisions."""
        if self.running():
            raise RuntimeError(f"{self.name} must be stopped to be restored")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        env = _clean_env()
        env["ETCDCTL_API"] = "3"
        subprocess.run(
            [ETCDCTL, "snapshot", "restore", str(snapshot), "--name", self.name,
             "--data-dir", str(self.data_dir), "--initial-cluster", self.cluster,
             "--initial-cluster-token", self.cluster_token,
             "--initial-advertise-peer-urls", self.peer_url],
            check=True, capture_output=True, timeout=30, env=env,
        )  # fmt: skip

    def remove(self) -> None:
        """Stop and delete the data dir."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


class EtcdCluster:
    """n members on loopback forming one cluster."""

    def __init__(self, tmpdir: Path, n: int = 3, tls: TlsFiles | None = None) -> None:
        ports = free_ports(2 * n)
        token = f"pyrr-test-{uuid.uuid4().hex[:8]}"
        names = [f"etcd{i}" for i in range(n)]
        initial = ",".join(
            f"{name}=http://{HOST}:{ports[2 * i + 1]}" for i, name in enumerate(names)
        )
        self.members = [
            EtcdServer(
                Path(tmpdir),
                name=name,
                client_port=ports[2 * i],
                peer_port=ports[2 * i + 1],
                tls=tls,
                cluster=initial,
                cluster_token=token,
            )
            for i, name in enumerate(names)
        ]

    @property
    def urls(self) -> list[str]:
        return [m.url for m in self.members]

    def member(self, url: str) -> EtcdServer:
        for m in self.members:
            if m.url == url or url.endswith(f":{m.client_port}"):
                return m
        raise KeyError(url)

    def start(self, timeout: float = START_TIMEOUT) -> None:
        # All members must be up before any of them can elect a leader.
        try:
            for m in self.members:
                m.launch()
            deadline = time.monotonic() + timeout
            for m in self.members:
                m.wait_healthy(max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.remove()
            raise

    def stop(self) -> None:
        for m in self.members:
            m.stop()

    def remove(self) -> None:
        for m in self.members:
            m.remove()

    def __iter__(self) -> Iterator[EtcdServer]:
        return iter(self.members)
