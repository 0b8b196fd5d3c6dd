"""Route reflectors under test: pyrr, BIRD 2, GoBGP, or any command.

Each adapter starts its RR in the lab's `rr` host for a given list of client sessions.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.lab.bird import Bird2, Family, Neighbor
from tests.lab.netns import Host, LabProcess

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PeerSpec:
    """One client session the RR must accept: its address, AS and the families it carries."""

    address: str
    asn: int
    families: tuple[Family, ...]  # ("ipv4",), ("ipv6",) or both on one session


class Reflector(Protocol):
    name: str

    def start(self, host: Host, asn: int, peers: list[PeerSpec]) -> None: ...

    def stop(self) -> None: ...

    def restart(self) -> None: ...

    def alive(self) -> bool: ...

    def log(self) -> str: ...


class PyrrReflector:
    """pyrr through its CLI contract: `pyrr run --config FILE` (PYRR_BIN may override)."""

    name = "pyrr"

    def __init__(self) -> None:
        self.proc: LabProcess | None = None
        self.host: Host | None = None
        self.config: Path | None = None

    def argv(self) -> list[str]:
        override = os.environ.get("PYRR_BIN")
        exe = shlex.split(override) if override else [str(REPO_ROOT / ".venv" / "bin" / "pyrr")]
        assert self.config is not None and self.host is not None
        return [
            *exe,
            "run",
            "--config",
            str(self.config),
            "--control-socket",
            str(self.host.dir / "pyrr.sock"),
        ]

    def start(self, host: Host, asn: int, peers: list[PeerSpec]) -> None:
        self.host = host
        lines = [
            "[bgp]",
            f"asn = {asn}",
            f'router_id = "{host.ip4}"',
            f'listen = ["{host.ip4}", "{host.ip6}"]',
            "port = 179",
        ]
        for p in peers:
            lines += ["", "[[peer]]", f'address = "{p.address}"']
            if p.asn != asn:
                lines.append(f"asn = {p.asn}")
        self.config = host.dir / "pyrr.toml"
        self.config.write_text("\n".join(lines) + "\n")
        self._spawn()

    def _spawn(self) -> None:
        assert self.host is not None
        self.proc = self.host.popen(self.argv(), log="pyrr.log")

    def stop(self) -> None:
        if self.proc is not None and self.proc.alive():
            self.proc.signal(signal.SIGTERM)
            self.proc.wait(10)

    def restart(self) -> None:
        """An operator's restart without loss: SIGUSR2 (close sessions without NOTIFICATION,
        remember who was up), then start again."""
        if self.proc is not None and self.proc.alive():
            self.proc.signal(signal.SIGUSR2)
            self.proc.wait(10)
        self._spawn()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def log(self) -> str:
        return self.proc.log_text() if self.proc is not None else ""


class Bird2Reflector:
    """BIRD 2 as route reflector (`rr client` per neighbour, cluster id = router id)."""

    name = "bird2"

    def __init__(self) -> None:
        self.bird: Bird2 | None = None

    def start(self, host: Host, asn: int, peers: list[PeerSpec]) -> None:
        neighbors = [
            Neighbor(
                p.address, asn=p.asn, families=p.families, rr_client=True, graceful_restart=True
            )
            for p in peers
        ]
        self.bird = Bird2(host, neighbors, [], asn=asn, name="rr").start()

    def stop(self) -> None:
        if self.bird is not None:
            self.bird.stop()

    def restart(self) -> None:
        """BIRD's own restart without loss: `birdc graceful restart`, then start again."""
        assert self.bird is not None
        self.bird.recovery = True
        self.bird.graceful_restart()

    def alive(self) -> bool:
        return self.bird is not None and self.bird.running()

    def log(self) -> str:
        proc = self.bird.process if self.bird is not None else None
        return proc.log_text() if proc is not None else ""


class CommandReflector:
    """Any RR given as a command line, run in the rr host.

    `{peers}` in the command is replaced by the path of a JSON file describing the sessions
    (`{"asn": N, "router_id": "...", "peers": [{"address", "asn", "families"}]}`).
    """

    def __init__(self, command: str, name: str = "command") -> None:
        self.command = command
        self.name = name
        self.proc: LabProcess | None = None
        self.host: Host | None = None
        self.argv: list[str] = []

    def start(self, host: Host, asn: int, peers: list[PeerSpec]) -> None:
        self.host = host
        spec = host.dir / "peers.json"
        spec.write_text(
            json.dumps(
                {
                    "asn": asn,
                    "router_id": host.ip4,
                    "ip4": host.ip4,
                    "ip6": host.ip6,
                    "peers": [
                        {"address": p.address, "asn": p.asn, "families": list(p.families)}
                        for p in peers
                    ],
                }
            )
        )
        self.argv = shlex.split(self.command.replace("{peers}", str(spec)))
        self.proc = host.popen(self.argv, log=f"{self.name}.log")

    def stop(self) -> None:
        if self.proc is not None and self.proc.alive():
            self.proc.terminate(10)

    def restart(self) -> None:
        assert self.host is not None
        self.stop()
        self.proc = self.host.popen(self.argv, log=f"{self.name}.log")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def log(self) -> str:
        return self.proc.log_text() if self.proc is not None else ""


def make_reflector(spec: str) -> Reflector:
    if spec == "pyrr":
        return PyrrReflector()
    if spec == "bird2":
        return Bird2Reflector()
    if spec == "gobgp":
        from .gobgp_rr import GobgpReflector

        return GobgpReflector()
    if spec.startswith("cmd:"):
        return CommandReflector(spec[4:])
    raise ValueError(f"unknown route reflector {spec!r}: pyrr, bird2, gobgp or cmd:COMMAND")
