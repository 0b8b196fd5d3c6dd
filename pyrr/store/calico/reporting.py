"""What Calico mode tells the operator about the datastore, each thing once.

`Reporter` is CalicoSource's memory of what it has said: a problem or a skipped node is logged
when it appears (and, for problems, once more at info level when it is gone); a field pyrr does
not apply is logged once per (kind, field) for the life of the process, however many resources
carry it and however often they change; the node-to-node mesh warning once each time it turns
on; what pyrr's own Node asks for that needs a restart, once per distinct ask; why pyrr cannot
start yet, once per reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog

from .model import Desired

__all__ = ["Reporter"]

log = structlog.get_logger("pyrr.calico")


class Reporter:
    def __init__(self) -> None:
        self._reported: dict[tuple[str, str], str] = {}  # (key, message) -> its kind
        self._noted: set[tuple[str, str]] = set()  # (kind, field path)
        self._mesh = False
        self._restart: tuple[str, ...] = ()
        self._waiting = ""

    def datastore(self, unusable: Mapping[str, str], wanted: Desired) -> None:
        """Problems, unusable values and skipped nodes: each when it appears, and when gone."""
        now: dict[tuple[str, str], str] = {}
        for key, message in unusable.items():
            now[(key, message)] = "unusable"
        for problem in wanted.problems:
            now[(problem.key, problem.message)] = "problem"
        for skip in wanted.skipped:
            now[(skip.key, skip.message)] = "skipped"
        for (key, message), kind in now.items():
            if (key, message) in self._reported:
                continue
            if kind == "unusable":
                log.warning("datastore value skipped", key=key, problem=message)
            elif kind == "problem":
                log.warning("datastore problem", key=key, problem=message)
            else:
                log.info("no session for a node", key=key, reason=message)
        for (key, message), kind in self._reported.items():
            if (key, message) not in now and kind != "skipped":
                log.info("datastore problem resolved", key=key, problem=message)
        self._reported = now
        self.fields(wanted)
        self.mesh(wanted.mesh)

    def fields(self, wanted: Desired) -> None:
        for note in wanted.notes:
            if (note.kind, note.path) in self._noted:
                continue
            self._noted.add((note.kind, note.path))
            log.info(
                "field not applied", kind=note.kind, field=note.path, why=note.why, key=note.key
            )

    def mesh(self, on: bool) -> None:
        if on and not self._mesh:
            log.warning(
                "node-to-node mesh is on (bgpconfigurations/default spec.nodeToNodeMeshEnabled,"
                " true when unset): every calico-node also peers with every other, beside its"
                " reflectors",
                fix="calicoctl patch bgpconfiguration default -p"
                ' \'{"spec": {"nodeToNodeMeshEnabled": false}}\'',
            )
        self._mesh = on

    def restart_needed(self, differences: Sequence[str]) -> None:
        """What pyrr's Node now asks for that the running speaker keeps until a restart."""
        found = tuple(differences)
        if found and found != self._restart:
            log.warning(
                "pyrr's Node changed what a running pyrr cannot change: restart pyrr to apply it"
                " (every session restarts then)",
                changes=list(found),
            )
        self._restart = found

    def waiting(self, why: str) -> None:
        if why and why != self._waiting:
            log.warning("waiting for pyrr's Node", reason=why)
        self._waiting = why
