"""Calico mode under etcd faults (etcd_lab.py has the lab): a three-member cluster over TLS,
each member in its own namespace, three calico-node BIRD 1.6 nodes that must notice nothing,
and node3, whose Node resource is added or removed during every fault.

In order, on one lab:

1. the member pyrr watches is killed (SIGKILL) while node3 is added through another one;
2. pyrr is cut off from the member it watches (silent partition) while node3 is removed;
3. the member it watches gets slow (1 kbit/s towards pyrr) while node3 is added;
4. it hangs (SIGSTOP) while node3 is removed and history is compacted past that change;
5. the whole cluster is rebuilt from a snapshot taken with node3 present, after node3 was
   removed: the datastore goes back in time (lower revisions), then node3 is removed again.

Through each: no session of the stable nodes is reset and none of their routes is lost or
withdrawn; within seconds after the fault pyrr's peers are the datastore's, and node3 is up
or gone as the datastore says. The figures (how long each change took to reach pyrr, and to
match the datastore after the fault) go to lab-logs/reliability/etcd.json; the bounds are
generous, the figures are recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.calico.conftest import require_lab
from tests.calico.lab import (
    RR4,
    RR6,
    CalicoLab,
    Node,
    Pyrr,
    Watch,
    calico_env,
    calico_lab,
    start_cluster,
)
from tests.calico.resources import node_key
from tests.etcd.server import make_tls
from tests.lab.fixtures import lab_logs_root

from .etcd_lab import (
    ETCD_IPS,
    LabEtcd,
    datastore_peers,
    lab_etcd_cluster,
    partition,
    revision,
    slow_towards,
    wait_equal,
)

pytestmark = [pytest.mark.lab, pytest.mark.reliability, pytest.mark.timeout(300)]

APPLY_TIMEOUT = 60.0  # a change written during a fault reaches pyrr within this (bound)
SYNC_TIMEOUT = 30.0  # after the fault, pyrr's peers equal the datastore's within this
SLOW_FOR = 8.0  # seconds the member is slow before the change is written


@dataclass
class Faults:
    cl: CalicoLab
    pyrr: Pyrr
    members: list[LabEtcd]
    stable: list[Node]
    n3: Node
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)

    def watched(self) -> LabEtcd:
        url = self.pyrr.etcd_endpoint()
        return next(m for m in self.members if m.url == url)

    def other(self, than: LabEtcd) -> LabEtcd:
        return next(m for m in self.members if m is not than and m.running())

    def n3_known(self) -> bool:
        return {self.n3.ip4, self.n3.ip6} <= set(self.pyrr.peers())

    def n3_gone(self) -> bool:
        return {self.n3.ip4, self.n3.ip6}.isdisjoint(self.pyrr.peers())

    def count(self, event: str) -> int:
        return len(self.pyrr.events(event))


@pytest.fixture(scope="module")
def faults(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Faults]:
    require_lab()
    tls = make_tls(tmp_path_factory.mktemp("reliability-tls"), server_ips=ETCD_IPS)
    with calico_lab(request, tls) as cl:
        members = lab_etcd_cluster(cl, tls)
        cl.etcd = list(members)
        start_cluster(members)
        cl.write_seed()
        stable = [
            cl.add_node(host, n, i)
            for host, n, i in (("master", 101, 1), ("node1", 102, 2), ("node2", 103, 3))
        ]
        for nd in stable:
            cl.register_node(nd)
        n3 = cl.add_node("node3", 106, 4)  # calico-node runs; its Node comes and goes
        env = calico_env(RR4, RR6, [m.url for m in members], tls)
        pyrr = cl.start_pyrr("pyrr", env)
        cl.wait_converged(stable, timeout=60)
        f = Faults(cl, pyrr, members, stable, n3)
        try:
            yield f
        finally:
            out = lab_logs_root() / "reliability"
            out.mkdir(parents=True, exist_ok=True)
            (out / "etcd.json").write_text(json.dumps(f.figures, indent=1) + "\n")
            print(json.dumps(f.figures, indent=1))


class Through:
    """The stable nodes across one fault: their sessions (TCP connections) and routes."""

    def __init__(self, f: Faults) -> None:
        self.f = f
        self.before = f.cl.snapshot(f.stable)
        self.watch = Watch(f.cl, f.stable)
        self.failovers = f.count("etcd failed over; watches resumed")
        self.snapshots = f.count("datastore snapshot")

    def until(self, what: str, pred: Any, timeout: float) -> float:
        t0 = time.monotonic()

        def check() -> object:
            self.f.pyrr.alive()
            return pred()

        self.watch.until(what, check, timeout)
        return time.monotonic() - t0

    def done(self, name: str, **figures: Any) -> None:
        f = self.f
        f.pyrr.alive()
        sync = wait_equal(f.pyrr.peers, f.cl.any_etcd(), SYNC_TIMEOUT)
        nodes = [*f.stable, f.n3] if f.n3_known() else f.stable
        converge = self.until("the nodes to converge", lambda: not f.cl.converged(nodes), 60)
        self.watch.check()
        assert not self.watch.lost, f"{name}: routes lost: {sorted(self.watch.lost)}"
        # node3's block comes or goes on each stable node (one withdrawal per family when it
        # goes); nothing else is withdrawn.
        gone = {k: v for k, v in self.watch.withdrawn().items() if v}
        assert all(v == 1 for v in gone.values()), f"{name}: withdrawals {gone}"
        assert f.cl.snapshot(f.stable) == self.before, f"{name}: a stable session was reset"
        assert "Traceback" not in f.pyrr.log_text()
        f.figures[name] = {
            **figures,
            "sync_after_s": round(sync, 3),
            "converged_after_s": round(converge, 3),
            "failovers": f.count("etcd failed over; watches resumed") - self.failovers,
            "relists": f.count("datastore snapshot") - self.snapshots,
            "withdrawn": gone,
        }


def test_lab_converges(faults: Faults) -> None:
    f = faults
    assert set(f.pyrr.peers()) == datastore_peers(f.members[0])
    assert all(p["up"] for p in f.pyrr.peers().values())


def test_member_killed_while_node_added(faults: Faults) -> None:
    f = faults
    m = f.watched()
    t = Through(f)
    m.kill()  # SIGKILL: the watch stream breaks at once
    t0 = time.monotonic()
    f.other(m).put(node_key(f.n3.name), f.n3.resource())
    applied = t.until("node3 configured", f.n3_known, APPLY_TIMEOUT)
    assert f.watched() is not m, "pyrr must have left the dead member"
    m.start()  # back on its data directory: it rejoins the cluster
    back = time.monotonic() - t0
    t.done(
        "member killed (SIGKILL), node3 added", applied_s=round(applied, 3), down_s=round(back, 3)
    )


def test_partition_while_node_removed(faults: Faults) -> None:
    f = faults
    m = f.watched()
    t = Through(f)
    with partition(f.cl.rr, m.host):
        t0 = time.monotonic()
        f.other(m).delete(node_key(f.n3.name))
        applied = t.until("node3 removed", f.n3_gone, APPLY_TIMEOUT)
        assert f.watched() is not m, "pyrr must have left the member it cannot reach"
        held = time.monotonic() - t0
    t.done(
        "partition from the watched member, node3 removed",
        applied_s=round(applied, 3),
        partition_s=round(held, 3),
    )


def test_slow_member_while_node_added(faults: Faults) -> None:
    f = faults
    m = f.watched()
    t = Through(f)
    with slow_towards(m.host, RR4):
        time.sleep(SLOW_FOR)  # the slow path fills up (progress notifications) before the change
        f.other(m).put(node_key(f.n3.name), f.n3.resource())
        applied = t.until("node3 configured", f.n3_known, APPLY_TIMEOUT)
    t.done(
        "slow member (1 kbit/s towards pyrr), node3 added",
        applied_s=round(applied, 3),
        left_member=f.watched() is not m,
    )


def test_hung_member_and_compaction_while_node_removed(faults: Faults) -> None:
    f = faults
    m = f.watched()
    t = Through(f)
    compactions = f.count("etcd watch revision compacted; listing again")
    m.pause()  # SIGSTOP: sockets open, nothing answered
    try:
        writer = f.other(m)
        writer.delete(node_key(f.n3.name))
        writer.compact(writer.put("/pyrr-test/after-delete", "x"))
        applied = t.until("node3 removed", f.n3_gone, APPLY_TIMEOUT)
    finally:
        m.resume()
    relisted = f.count("etcd watch revision compacted; listing again") - compactions
    assert relisted >= 1, "the resume revision was compacted: pyrr must have listed again"
    t.done("hung member (SIGSTOP) and compaction, node3 removed", applied_s=round(applied, 3))


def backup_then_move_on(f: Faults) -> tuple[Path, int]:
    """A backup taken while node3 is a Calico node; then node3 leaves and history moves on
    past the backup. Returns the backup and the revision reached."""
    cl = f.cl
    cl.any_etcd().put(node_key(f.n3.name), f.n3.resource())
    f.pyrr.wait("node3 configured", f.n3_known, APPLY_TIMEOUT)
    cl.wait_converged([*f.stable, f.n3], timeout=60)
    snap = cl.lab.workdir / f"backup-{len(f.figures)}.db"
    cl.any_etcd().ctl("snapshot", "save", str(snap), timeout=30)
    cl.any_etcd().delete(node_key(f.n3.name))
    f.pyrr.wait("node3 removed", f.n3_gone, APPLY_TIMEOUT)
    for i in range(20):
        cl.any_etcd().put(f"/pyrr-test/filler/{i}", "x")
    return snap, revision(cl.any_etcd())


def restore(f: Faults, snap: Path) -> int:
    """Disaster recovery: every member stopped and rebuilt from the backup, then started;
    returns the revision the cluster is back at."""
    for m in f.members:
        m.stop()
    for m in f.members:
        m.restore(snap)
    start_cluster(f.members)
    return revision(f.cl.any_etcd())


def test_snapshot_restore_goes_back_in_time(faults: Faults) -> None:
    f = faults
    snap, rev_before = backup_then_move_on(f)
    t = Through(f)
    t0 = time.monotonic()
    rev_after = restore(f, snap)
    assert rev_after < rev_before, (rev_after, rev_before)
    restored = t.until("node3 back from the backup", f.n3_known, APPLY_TIMEOUT)
    # A change at revisions pyrr has already seen once, before the restore.
    t1 = time.monotonic()
    f.cl.any_etcd().delete(node_key(f.n3.name))
    applied = t.until("node3 removed after the restore", f.n3_gone, APPLY_TIMEOUT)
    t.done(
        "cluster restored from a snapshot (revision back from %d to %d), node3 back then removed"
        % (rev_before, rev_after),
        restored_s=round(restored, 3),
        outage_s=round(t1 - t0, 3),
        applied_s=round(applied, 3),
    )


def test_snapshot_restore_behind_a_partition(faults: Faults) -> None:
    """The restore happens while pyrr is cut off from the member it watches: it sees no
    connection close, only its probe's deadline, and by then the rebuilt cluster answers on
    the other members. It must not resume its watches there as if nothing had happened."""
    f = faults
    snap, rev_before = backup_then_move_on(f)
    t = Through(f)
    m = f.watched()
    t0 = time.monotonic()
    with partition(f.cl.rr, m.host):
        rev_after = restore(f, snap)
        assert rev_after < rev_before, (rev_after, rev_before)
        restored = t.until("node3 back from the backup", f.n3_known, APPLY_TIMEOUT)
    t1 = time.monotonic()
    f.cl.any_etcd().delete(node_key(f.n3.name))
    applied = t.until("node3 removed after the restore", f.n3_gone, APPLY_TIMEOUT)
    t.done(
        "cluster restored from a snapshot behind a partition (revision back from %d to %d),"
        " node3 back then removed" % (rev_before, rev_after),
        restored_s=round(restored, 3),
        outage_s=round(t1 - t0, 3),
        applied_s=round(applied, 3),
    )
