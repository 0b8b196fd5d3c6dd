"""The etcd fault lab: Calico mode with a three-member etcd cluster whose members each have a
network namespace of their own, so that pyrr can be cut off from one of them.

    rr      198.18.0.104  2001:db8::104   pyrr (`pyrr run`, calico/routereflector's variables)
    etcd0   198.18.0.11                   etcd member, TLS with client certificates
    etcd1   198.18.0.12                   ...
    etcd2   198.18.0.13                   ...
    master, node1, node2 (.101-.103)      calico-node: BIRD 1.6 bird + bird6, the stable ones
    node3   198.18.0.106                  calico-node, added and removed during the faults

Faults, each bounded and undone by the lab: SIGKILL of a member (restarted on its data),
a partition (iptables DROP both ways between pyrr's namespace and the member's), a slow member
(an htb class of 1 kbit/s on the member's egress towards pyrr), a hung member (SIGSTOP,
SIGCONT), a compaction past the revision pyrr would resume from, and a restore of the whole
cluster from an `etcdctl snapshot save` taken earlier (revisions go back in time).
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from pyrr.store.calico.model import RESOURCE_PREFIX
from tests.calico.lab import CalicoLab, NetnsEtcd
from tests.etcd.server import TlsFiles
from tests.lab.netns import Host

ETCD_IPS = ("198.18.0.11", "198.18.0.12", "198.18.0.13")
CLIENT_PORT, PEER_PORT = 2379, 2380
SLOW_RATE = "1kbit"


class LabEtcd(NetnsEtcd):
    """A member on its own lab host's address (clients and peers), run in its namespace."""

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host.ip4}:{self.client_port}"


def lab_etcd_cluster(cl: CalicoLab, tls: TlsFiles) -> list[LabEtcd]:
    hosts = [cl.lab.add_host(f"etcd{i}", f"{ip}/24") for i, ip in enumerate(ETCD_IPS)]
    token = f"pyrr-test-{uuid.uuid4().hex[:8]}"
    initial = ",".join(f"etcd{i}=http://{h.ip4}:{PEER_PORT}" for i, h in enumerate(hosts))
    members = []
    for i, h in enumerate(hosts):
        m = LabEtcd(
            h,
            cl.lab.workdir / "etcd",
            name=f"etcd{i}",
            client_port=CLIENT_PORT,
            peer_port=PEER_PORT,
            tls=tls,
            cluster=initial,
            cluster_token=token,
        )
        m.peer_url = f"http://{h.ip4}:{PEER_PORT}"
        members.append(m)
    return members


# -- faults ------------------------------------------------------------------------------------


def _iptables(host: Host, *args: str) -> None:
    host.run(["iptables", "-w", "5", *args], timeout=15)


@contextlib.contextmanager
def partition(a: Host, b: Host) -> Iterator[None]:
    """Every packet between a and b dropped on arrival, both ways (a silent partition: no
    RST, no ICMP); undone on exit."""
    rules = [(a, b.ip4), (b, a.ip4)]
    for host, other in rules:
        _iptables(host, "-I", "INPUT", "-s", other, "-j", "DROP")
    try:
        yield
    finally:
        for host, other in rules:
            _iptables(host, "-D", "INPUT", "-s", other, "-j", "DROP")


@contextlib.contextmanager
def slow_towards(member: Host, dest: str, rate: str = SLOW_RATE) -> Iterator[None]:
    """The member's packets to `dest` limited to `rate` (htb); the rest of its traffic (raft
    among the members) untouched; undone on exit."""
    tc = ["tc"]
    member.run([*tc, "qdisc", "add", "dev", "eth0", "root", "handle", "1:", "htb", "default", "10"])
    member.run(
        [
            *tc,
            "class",
            "add",
            "dev",
            "eth0",
            "parent",
            "1:",
            "classid",
            "1:10",
            "htb",
            "rate",
            "1gbit",
        ]
    )
    member.run(
        [
            *tc,
            "class",
            "add",
            "dev",
            "eth0",
            "parent",
            "1:",
            "classid",
            "1:20",
            "htb",
            "rate",
            rate,
            "ceil",
            rate,
        ]
    )
    member.run(
        [
            *tc,
            "filter",
            "add",
            "dev",
            "eth0",
            "parent",
            "1:",
            "protocol",
            "ip",
            "prio",
            "1",
            "u32",
            "match",
            "ip",
            "dst",
            f"{dest}/32",
            "flowid",
            "1:20",
        ]
    )
    try:
        yield
    finally:
        member.run([*tc, "qdisc", "del", "dev", "eth0", "root"], check=False)


# -- what the datastore says -------------------------------------------------------------------


def datastore_peers(m: NetnsEtcd) -> set[str]:
    """The sessions calico/routereflector's rules give pyrr: every Node with BGP addresses
    (the lab's global BGPPeer names pyrr's IP), both families."""
    out = json.loads(m.ctl_retry("get", RESOURCE_PREFIX + "nodes/", "--prefix", "-w", "json"))
    peers: set[str] = set()
    for kv in out.get("kvs", []):
        doc: dict[str, Any] = json.loads(base64.b64decode(kv["value"]))
        bgp = doc.get("spec", {}).get("bgp", {})
        for key in ("ipv4Address", "ipv6Address"):
            if bgp.get(key):
                peers.add(str(bgp[key]).split("/")[0])
    return peers


def revision(m: NetnsEtcd) -> int:
    out = json.loads(m.ctl_retry("get", "/pyrr-test/none", "-w", "json"))
    return int(out["header"]["revision"])


def wait_equal(pyrr_peers: Any, m: NetnsEtcd, timeout: float) -> float:
    """Seconds until pyrr's peers are the datastore's (its sessions up for every present node
    is judged apart, by the nodes)."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    last: object = None
    while True:
        try:
            want, have = datastore_peers(m), set(pyrr_peers())
            if want == have:
                return time.monotonic() - t0
            last = (sorted(want - have), sorted(have - want))
        except Exception as exc:  # etcdctl while the cluster elects a leader
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"pyrr's peers never matched the datastore: {last!r}")
        time.sleep(0.1)
