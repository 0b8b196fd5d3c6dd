"""The reliability runs on loopback, short versions (docs/reliability.md has the full-size
commands and the figures): pyrr and bgpsim's 300 clients on 127.0.0.0/8, no root needed.

1. soak: churn at 100 changes/s for 60 s; RSS and open fds flat after warm-up, no session
   lost, every change complete, every table exact, every counter true;
2. flap storm, twice: 30 of the 300 clients go through a session a second for 15 s, 6 of
   them by sending garbage; the stable 270 lose no route and no session and keep hearing
   KEEPALIVEs; after each storm pyrr's fds are back to their count at rest and its RSS near
   it, and the second storm takes no more memory than the first; its CPU is recorded;
3. kill -9 of pyrr under churn (clients with graceful restart): no client loses a route, every
   change completes, every table is exact with no stale route left.

Each writes its whole report to lab-logs/reliability/<name>.json (gitignored), and pyrr's logs
beside it when it fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.sim import SOURCE
from tests.lab.fixtures import lab_logs_root

from . import scenarios
from .__main__ import brief, jsonable
from .harness import growth

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(300)]


def out_dir() -> Path:
    d = lab_logs_root() / "reliability"
    d.mkdir(parents=True, exist_ok=True)
    return d


def record(name: str, report: dict[str, Any]) -> None:
    (out_dir() / f"{name}.json").write_text(json.dumps(jsonable(report), indent=1) + "\n")
    print(json.dumps(brief(report), indent=1))
    assert not report["failures"], "\n".join(report["failures"])


def require_gcc() -> None:
    if shutil.which("gcc") is None:
        pytest.fail("bgpsim is C: install gcc (scripts/setup.sh)", pytrace=False)


def test_bgpsim_builds_without_warnings(tmp_path: Path) -> None:
    require_gcc()
    res = subprocess.run(
        ["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(tmp_path / "bgpsim"), str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr


def test_growth_judges_the_end_against_the_start() -> None:
    flat = growth([100.0] * 5 + [101.0] * 5 + [100.0] * 5)
    assert flat["growth"] == 0 and flat["peak_growth"] == pytest.approx(0.01)
    leak = growth([float(100 + i) for i in range(60)])
    assert leak["growth"] == pytest.approx(157 / 102 - 1) and leak["slope_per_hour"] == 3600


def test_soak() -> None:
    require_gcc()
    record("soak", scenarios.soak(clients=300, seconds=60, rate=100, keep=out_dir() / "soak"))


def test_flap_storm() -> None:
    require_gcc()
    record(
        "flap",
        scenarios.flap(clients=300, flappers=30, seconds=15, storms=2, keep=out_dir() / "flap"),
    )


def test_rr_kill_under_churn() -> None:
    require_gcc()
    record(
        "rrkill",
        scenarios.rrkill(clients=300, rate=100, seconds=20, kill_at=6, keep=out_dir() / "rrkill"),
    )
