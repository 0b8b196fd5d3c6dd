"""The restart state file: which peers were Established when pyrr last stopped for a graceful
restart (RFC 4724 §4.1), so that the next start waits for exactly those."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import structlog

log = structlog.get_logger("pyrr.recovery")


def load_state(path: Path, restart_time: int, now: float | None = None) -> set[str] | None:
    """The peers that were Established when pyrr last ran, if that was within restart_time."""
    try:
        data = json.loads(path.read_text())
        saved_at = float(data["time"])
        peers = {str(p) for p in data["established"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (now if now is not None else time.time()) - saved_at > restart_time:
        return None  # too old: the peers have flushed our routes long ago; a cold start
    return peers


def save_state(path: Path, established: list[str]) -> None:
    tmp = path.with_suffix(".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"time": time.time(), "established": sorted(established)}))
        os.replace(tmp, path)
    except OSError as err:
        log.warning("cannot write the restart state file", path=str(path), error=str(err))
