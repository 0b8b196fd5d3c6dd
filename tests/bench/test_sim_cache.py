"""bgpsim's build cache is shared by every checkout on the machine: building one source must not
remove another's binary while it may be running, only builds unused for a week."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bench import sim


def test_two_sources_keep_both_binaries_and_stale_builds_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYRR_BENCH_CACHE", str(tmp_path / "cache"))
    branch = tmp_path / "branch.c"
    branch.write_text(sim.SOURCE.read_text() + "\n/* a branch's edit */\n")
    theirs = sim.build(branch)
    ours = sim.build()
    assert theirs != ours and theirs.exists() and ours.exists()

    old = time.time() - sim.STALE_BUILD_SECONDS - 60
    os.utime(theirs, (old, old))
    assert sim.build() == ours  # a cached build: nothing to prune yet
    (tmp_path / "cache" / ours.name).unlink()
    sim.build()  # a fresh build prunes what has been unused for a week
    assert not theirs.exists()
