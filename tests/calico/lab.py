"""The Calico lab: the field report's cluster in network namespaces, with etcd and pyrr.

    rr      198.18.0.104  2001:db8::104   pyrr (`pyrr run`, environment only) and etcd (TLS,
                                          on the namespace's own 127.0.0.1)
            198.18.0.105  2001:db8::105   a second pyrr, for the RR-cluster tests
    master  198.18.0.101  2001:db8::101   calico-node (BIRD 1.6 bird + bird6), k8s-master
    node1   198.18.0.102  2001:db8::102   k8s-node1
    node2   198.18.0.103  2001:db8::103   k8s-node2
    node3   198.18.0.106  2001:db8::106   k8s-node3, added and removed live

etcd runs inside the rr namespace (`ip netns exec`), listening on that namespace's loopback:
pyrr reaches it at https://127.0.0.1:PORT as the field report's RR reached its etcd, and no
socket ever opens in the root namespace. etcdctl runs there too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from pyrr.control.server import request
from tests.etcd.server import HOST, EtcdServer, TlsFiles, free_ports
from tests.lab.bird import CalicoBird, Family, Protocol, Route
from tests.lab.confd import CalicoPeer
from tests.lab.fixtures import lab_logs_root
from tests.lab.netns import GiveUp, Host, Lab, LabProcess, wait_until

from .conftest import FAILED_MODULES, pyrr_exe
from .resources import SEED_AS, bgpconfig, bgpconfig_key, bgppeer, bgppeer_key, node, node_key

_ADDR_PORT = re.compile(r"(\[[0-9a-f:.]+\]|[0-9.]+):[0-9]+")
_WITHDRAWS = re.compile(r"Import withdraws:\s+(\d+)")

RR4, RR6 = "198.18.0.104", "2001:db8::104"
RR2_4, RR2_6 = "198.18.0.105", "2001:db8::105"
FAMILIES: tuple[Family, Family] = ("ipv4", "ipv6")
TIMEOUT = 30.0


# --- etcd inside a namespace ------------------------------------------------------------------


class NetnsEtcd(EtcdServer):
    """An EtcdServer whose process and etcdctl run in a lab host's namespace."""

    def __init__(self, host: Host, tmpdir: Path, **kw: Any) -> None:
        super().__init__(tmpdir, **kw)
        self.host = host

    def command(self) -> list[str]:
        return self.host.exec_argv(super().command())

    def ctl_args(self, endpoints: str | None = None) -> list[str]:
        return self.host.exec_argv(super().ctl_args(endpoints))

    def ctl_retry(self, *args: str, timeout: float = 15.0) -> str:
        """etcdctl, retried while the cluster elects a leader (a member was just stopped or
        hung): a write needs a leader, and an election takes a moment."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.ctl(*args)
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def put(self, key: str, value: str) -> int:
        """etcdctl put; returns the revision of the write."""
        out = self.ctl_retry("put", key, value, "-w", "json")
        return int(json.loads(out)["header"]["revision"])

    def delete(self, key: str) -> int:
        out = self.ctl_retry("del", key, "-w", "json")
        return int(json.loads(out)["header"]["revision"])

    def compact(self, revision: int) -> None:
        self.ctl_retry("compaction", "--physical", str(revision))


def netns_etcd_cluster(host: Host, tmpdir: Path, n: int, tls: TlsFiles) -> list[NetnsEtcd]:
    """n members forming one cluster in `host`'s namespace (ports free there: a new netns)."""
    ports = free_ports(2 * n)
    token = f"pyrr-test-{uuid.uuid4().hex[:8]}"
    names = [f"etcd{i}" for i in range(n)]
    initial = ",".join(f"{nm}=http://{HOST}:{ports[2 * i + 1]}" for i, nm in enumerate(names))
    return [
        NetnsEtcd(
            host,
            tmpdir,
            name=nm,
            client_port=ports[2 * i],
            peer_port=ports[2 * i + 1],
            tls=tls,
            cluster=initial,
            cluster_token=token,
        )
        for i, nm in enumerate(names)
    ]


def start_cluster(members: Sequence[NetnsEtcd]) -> None:
    for m in members:
        m.launch()
    deadline = time.monotonic() + 30
    for m in members:
        m.wait_healthy(max(1.0, deadline - time.monotonic()))


# --- pyrr ------------------------------------------------------------------------------------


@dataclass
class Pyrr:
    """One `pyrr run` in a lab host, configured by the environment alone."""

    host: Host
    name: str
    env: dict[str, str]
    proc: LabProcess | None = None
    expect_alive: bool = True  # False once a test kills it on purpose

    @property
    def socket(self) -> Path:
        return self.host.dir / self.name / "pyrr.sock"

    @property
    def log_path(self) -> Path:
        return self.host.dir / f"{self.name}.log"

    def start(self) -> Pyrr:
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        # What the image's ENV adds to the user's -e variables (Dockerfile), and a PATH.
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYRR_CONTROL_SOCKET": str(self.socket),
            **self.env,
        }
        self.proc = self.host.popen([*pyrr_exe(), "run"], log=self.log_path, env=env)
        return self

    def alive(self) -> None:
        if self.proc is None or not self.proc.alive():
            code = self.proc.returncode if self.proc else None
            raise GiveUp(f"{self.name} exited ({code}):\n{self.log_text()[-4000:]}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """pyrr's JSON log lines (it logs JSON when not on a terminal), optionally one event."""
        out: list[dict[str, Any]] = []
        for line in self.log_text().splitlines():
            if not line.startswith("{"):
                continue
            with contextlib.suppress(ValueError):
                e = json.loads(line)
                if name is None or e.get("event") == name:
                    out.append(e)
        return out

    def status(self) -> dict[str, Any]:
        return request(str(self.socket), {"cmd": "status"})

    def peers(self) -> dict[str, dict[str, Any]]:
        return {str(p["address"]): p for p in self.status()["peers"]}

    def wait(self, what: str, pred: Callable[[], object], timeout: float = TIMEOUT) -> None:
        def check() -> object:
            self.alive()
            return pred()

        wait_until(check, timeout, 0.05, f"{self.name}: {what}")

    def etcd_endpoint(self) -> str:
        """The etcd member pyrr watches from now (its last "etcd watching" log line)."""
        watching = self.events("etcd watching")
        assert watching, f"{self.name} never watched etcd"
        return str(watching[-1]["endpoint"])


def etcd_variables(etcd: EtcdServer, tls: TlsFiles) -> dict[str, str]:
    """The ETCD_* variables of a pyrr (or `pyrr init-node`) that uses `etcd`."""
    return {
        "ETCD_ENDPOINTS": etcd.url,
        "ETCD_CA_CERT_FILE": str(tls.ca),
        "ETCD_CERT_FILE": str(tls.client_cert),
        "ETCD_KEY_FILE": str(tls.client_key),
    }


def init_node(
    host: Host, variables: dict[str, str], name: str, ip4: str, ip6: str, cluster_id: str
) -> str:
    """`pyrr init-node NAME --ip --ip6 --cluster-id` in `host`'s namespace (the default label
    route-reflector=true); '' when it created the Node, else what it said."""
    cp = host.run(
        [
            "env", *(f"{k}={v}" for k, v in variables.items()), *pyrr_exe(), "init-node", name,
            "--ip", ip4, "--ip6", ip6, "--cluster-id", cluster_id,
        ],
        check=False,
    )  # fmt: skip
    if cp.returncode != 0 or "created" not in cp.stdout:
        return f"exit {cp.returncode}: {cp.stdout.strip()} {cp.stderr.strip()}"
    return ""


def calico_env(
    ip: str, ip6: str | None, endpoints: Sequence[str], tls: TlsFiles, **extra: str
) -> dict[str, str]:
    """calico/routereflector's `docker run -e` variables (plus pyrr's own in `extra`)."""
    env = {
        "IP": ip,
        "ETCD_ENDPOINTS": ",".join(endpoints),
        "ETCD_CA_CERT_FILE": str(tls.ca),
        "ETCD_CERT_FILE": str(tls.client_cert),
        "ETCD_KEY_FILE": str(tls.client_key),
        **extra,
    }
    if ip6 is not None:
        env["IP6"] = ip6
    return env


# --- Calico nodes ----------------------------------------------------------------------------


@dataclass
class Node:
    """A calico-node: its Node resource name, host, BIRD 1.6 pair and pod blocks."""

    name: str  # the Node resource's name, e.g. k8s-node1
    host: Host
    bird: CalicoBird
    blocks: dict[Family, list[str]] = field(default_factory=dict)

    @property
    def ip4(self) -> str:
        return self.host.ip4

    @property
    def ip6(self) -> str:
        return self.host.ip6

    def resource(self) -> str:
        return node(self.name, f"{self.ip4}/24", f"{self.ip6}/64")

    def sessions(self) -> dict[str, Protocol]:
        """BIRD protocol name -> its `show protocols` row, both daemons."""
        return {f"{d.family}/{p.name}": p for d in self.bird.daemons for p in d.bgp_protocols()}

    def established(self) -> bool:
        s = self.sessions()
        return len(s) == len(self.bird.peers) and all(p.established for p in s.values())

    def learned(self, family: Family) -> dict[str, Route]:
        """BGP routes (best paths) this node learned, by prefix."""
        return {r.prefix: r for r in self.bird.routes(family) if r.is_bgp and r.primary}

    def connections(self) -> dict[str, str]:
        """The node's established TCP connections to BGP peers (port 179 at either end), by
        peer address: a session that is reset comes back on a new connection."""
        out: dict[str, list[str]] = {}
        text = self.host.run(["ss", "-tnH", "state", "established"], timeout=10).stdout
        for line in text.splitlines():
            ends = [t for t in line.split() if _ADDR_PORT.fullmatch(t)]
            if len(ends) < 2:
                continue
            local, peer = ends[0], ends[1]
            if not (local.endswith(":179") or peer.endswith(":179")):
                continue
            address = peer.rsplit(":", 1)[0].strip("[]")
            out.setdefault(address, []).append(f"{local}<->{peer}")
        return {k: " ".join(sorted(v)) for k, v in out.items()}

    def withdraws_received(self) -> dict[Family, int]:
        """BIRD's "Import withdraws: received" summed over each daemon's BGP sessions."""
        total: dict[Family, int] = {}
        for d in self.bird.daemons:
            text = d.birdc("show", "protocols", "all")
            total[d.family] = sum(int(m) for m in _WITHDRAWS.findall(text))
        return total

    def last_error(self, family: Family, peer: str) -> str:
        text = self.bird.birdc(
            "show", "protocols", "all", self.bird.peer_protocol(peer), family=family
        )
        for line in text.splitlines():
            if "Last error" in line:
                return line.split(":", 1)[1].strip()
        return ""


class CalicoLab:
    """The lab of the module docstring; `close()` stops everything in order."""

    def __init__(self, lab: Lab, tls: TlsFiles, rr_peers: Sequence[str] = (RR4, RR6)) -> None:
        self.lab = lab
        self.tls = tls
        self.rr_peers = list(rr_peers)
        self.rr = lab.add_host("rr", f"{RR4}/24", f"{RR6}/64")
        self.etcd: list[NetnsEtcd] = []
        self.nodes: dict[str, Node] = {}
        self.pyrrs: list[Pyrr] = []

    # -- building --

    def add_rr_address(self, ip4: str, ip6: str) -> None:
        self.rr.ip("addr", "add", f"{ip4}/24", "dev", "eth0")
        self.rr.ip("-6", "addr", "add", f"{ip6}/64", "dev", "eth0", "nodad")

    def start_etcd(self, members: int = 1) -> list[NetnsEtcd]:
        tmp = self.lab.workdir / "etcd"
        if members == 1:
            server = NetnsEtcd(self.rr, tmp, tls=self.tls, client_port=2379, peer_port=2380)
            server.start()
            self.etcd = [server]
        else:
            self.etcd = netns_etcd_cluster(self.rr, tmp, members, self.tls)
            start_cluster(self.etcd)
        return self.etcd

    def write(self, key: str, value: str) -> int:
        return self.any_etcd().put(key, value)

    def remove(self, key: str) -> int:
        return self.any_etcd().delete(key)

    def any_etcd(self, exclude: Sequence[str] = ()) -> NetnsEtcd:
        for m in self.etcd:
            if m.running() and m.url not in exclude:
                return m
        raise AssertionError("no etcd member running")

    def write_seed(self, rr_addresses: Sequence[str] = (RR4, RR6)) -> None:
        """The field report's BGPConfiguration and global BGPPeer(s) (one per RR address)."""
        self.write(bgpconfig_key(), bgpconfig(asn=SEED_AS))
        for address in rr_addresses:
            name = "bgppeer-global" + (
                "" if address == RR4 else "-" + address.replace(":", "-").replace(".", "-")
            )
            self.write(bgppeer_key(name), bgppeer(name, address, SEED_AS))

    def add_node(
        self,
        host_name: str,
        n: int,
        index: int,
        start: bool = True,
        peers: Sequence[str | CalicoPeer] | None = None,
        confd: Literal["3.1", "3.29"] = "3.1",
    ) -> Node:
        """A calico-node peering with `peers` (default: the lab's RR addresses), its BIRD
        configured as calico-node `confd` renders it."""
        host = self.lab.add_host(host_name, f"198.18.0.{n}/24", f"2001:db8::{n}/64")
        blocks: dict[Family, list[str]] = {
            "ipv4": [f"10.10.{index}.0/26"],
            "ipv6": [f"2001:db8:1{index:03x}::/122"],
        }
        name = "k8s-master" if host_name == "master" else f"k8s-{host_name}"
        bird = CalicoBird(
            host,
            self.rr_peers if peers is None else peers,
            [*blocks["ipv4"], *blocks["ipv6"]],
            asn=SEED_AS,
            confd=confd,
            name=name,
        )
        nd = Node(name, host, bird, blocks)
        self.nodes[name] = nd
        if start:
            bird.start()
        return nd

    def register_node(self, nd: Node) -> int:
        return self.write(node_key(nd.name), nd.resource())

    def start_pyrr(self, name: str, env: dict[str, str]) -> Pyrr:
        p = Pyrr(self.rr, name, env).start()
        self.pyrrs.append(p)
        return p

    # -- observing --

    def expected(self, me: Node, family: Family, among: Sequence[Node] | None = None) -> set[str]:
        others = among if among is not None else list(self.nodes.values())
        return {b for nd in others if nd is not me for b in nd.blocks[family]}

    def converged(self, nodes: Sequence[Node]) -> dict[str, str]:
        """node/family -> problem, for each node among `nodes` that lacks the others' blocks
        (or has blocks of nodes not in `nodes`)."""
        out: dict[str, str] = {}
        for nd in nodes:
            if not nd.established():
                out[nd.name] = f"sessions {[(k, p.info) for k, p in nd.sessions().items()]}"
                continue
            for fam in FAMILIES:
                want = self.expected(nd, fam, nodes)
                have = set(nd.learned(fam))
                if have != want:
                    out[f"{nd.name}/{fam}"] = (
                        f"missing {sorted(want - have)}, extra {sorted(have - want)}"
                    )
        return out

    def wait_converged(self, nodes: Sequence[Node], timeout: float = TIMEOUT) -> None:
        last: dict[str, str] = {}

        def ok() -> bool:
            nonlocal last
            for p in self.pyrrs:
                if p.expect_alive:
                    p.alive()
            last = self.converged(nodes)
            if last:
                raise LookupError(last)
            return True

        wait_until(ok, timeout, 0.25, "the nodes to converge")

    def snapshot(self, nodes: Sequence[Node]) -> dict[str, str]:
        """The TCP connection of every BGP session of `nodes`, "node->peer": a session that is
        reset comes back on another connection. (BIRD 1.6's `since` column is rounded from a
        monotonic clock and wobbles by a second between queries: useless for this.)"""
        snap: dict[str, str] = {}
        for nd in nodes:
            conns = nd.connections()
            for peer in nd.bird.peers:
                snap[f"{nd.name}->{peer}"] = conns.get(peer, "none")
        return snap

    # -- teardown --

    def close(self, request: pytest.FixtureRequest) -> None:
        failed = request.node.nodeid.split("::")[0] in FAILED_MODULES
        if failed:
            self.lab.collect_diagnostics()
        for m in self.etcd:
            m.stop()
        try:
            self.lab.stop()
        finally:
            if failed:
                dest = lab_logs_root() / request.node.nodeid.split("::")[0].replace("/", "_")
                self.lab.save_logs(dest)
                for m in self.etcd:
                    with contextlib.suppress(OSError):
                        (dest / f"{m.name}.log").write_text(m.log_tail(200))
            for m in self.etcd:
                m.remove()
            self.lab.close()


class Watch:
    """Routes that must not go missing while something else happens (a flap detector).

    Polls the watched nodes' tables (a prefix absent even once is a loss) and counts the
    withdrawals their BIRDs receive (a withdraw followed by a re-announcement between two
    polls still shows there): `withdrawn()` must match what the test removed on purpose.
    """

    def __init__(
        self,
        lab: CalicoLab,
        nodes: Sequence[Node],
        exclude: Sequence[Node] = (),
        families: Sequence[Family] = FAMILIES,
    ) -> None:
        self.lab = lab
        self.families = tuple(families)
        self.nodes = [nd for nd in nodes if nd not in exclude]
        self.want = {
            (nd.name, fam): lab.expected(nd, fam, self.nodes)
            for nd in self.nodes
            for fam in self.families
        }
        self.lost: set[tuple[str, str]] = set()
        self.check()
        self.withdraws0 = {nd.name: nd.withdraws_received() for nd in self.nodes}

    def check(self) -> None:
        for nd in self.nodes:
            for fam in self.families:
                try:
                    have = nd.learned(fam)
                except Exception:  # a query that fails is not a loss
                    continue
                self.lost |= {(nd.name, p) for p in self.want[(nd.name, fam)] if p not in have}

    def withdrawn(self) -> dict[str, int]:
        """ "node/family" -> withdrawals received since the watch began (non-zero only)."""
        out: dict[str, int] = {}
        for nd in self.nodes:
            now = nd.withdraws_received()
            for fam in self.families:
                delta = now[fam] - self.withdraws0[nd.name][fam]
                if delta:
                    out[f"{nd.name}/{fam}"] = delta
        return out

    def until(self, what: str, pred: Callable[[], object], timeout: float = TIMEOUT) -> None:
        """Check every ~0.25 s until pred() holds."""
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            self.check()
            try:
                if pred():
                    self.check()
                    return
            except GiveUp:
                raise
            except Exception as exc:
                last = exc
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
            time.sleep(0.25)

    def during(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.check()
            time.sleep(0.5)


@contextlib.contextmanager
def calico_lab(
    request: pytest.FixtureRequest, tls: TlsFiles, rr_peers: Sequence[str] = (RR4, RR6)
) -> Iterator[CalicoLab]:
    lab = Lab(prefix="pyrrc")
    cl = CalicoLab(lab, tls, rr_peers)
    try:
        yield cl
    finally:
        cl.close(request)
