"""Smoke test of the RR benchmark (bench/): `--quick` against pyrr and BIRD 2 over loopback.

It checks that every phase converges (bgpsim counted the right prefixes at every client), not
how long anything took. Needs gcc (bgpsim is C) and BIRD 2's `bird`, which scripts/setup.sh
installs.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench.run import FULL_CLIENTS, report
from bench.run import parse_args as bench_args
from bench.sim import parse_result

REPO_ROOT = Path(__file__).resolve().parents[2]
MAIN_PHASES = ["establish", "announce", "withdraw", "reannounce"]
FULL_PHASES = ["ft-establish", "fulltable"]


def free_port_pair() -> int:
    """A port P on 127.0.0.1 with P and P+1 free (GoBGP's API would take P+1)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port >= 65535:
            continue
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    pytest.fail("no free pair of ports on 127.0.0.1")


def test_parse_result_reads_done_and_timeout_lines() -> None:
    done = parse_result("done announce wall=1.250 cpu=0.125 rx_msgs=10 rx_updates=9")
    assert done.ok and done.phase == "announce"
    assert (done.wall, done.cpu, done.fields["rx_updates"]) == (1.25, 0.125, "9")
    late = parse_result("timeout connect wall=300.001 cpu=0.5 held=0..0 ok=3/20")
    assert not late.ok and late.phase == "connect" and late.fields["ok"] == "3/20"


def test_quick_defaults() -> None:
    args = bench_args(["--quick", "--rr", "pyrr,bird"])
    assert (args.clients, args.repeat, args.full_table) == (20, 1, 2000)
    assert args.rr == ["pyrr", "bird"]


def test_quick_benchmark_converges_with_pyrr_and_bird(tmp_path: Path) -> None:
    for tool, why in (("gcc", "bgpsim is C"), ("bird", "the BIRD 2 anchor")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not installed ({why}): run scripts/setup.sh")
    out = tmp_path / "bench.json"
    port = free_port_pair()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--quick",
            "--rr",
            "pyrr,bird",
            "--port",
            str(port),
            "--settle",
            "0",
            "--phase-timeout",
            "30",
            "--json",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert res.returncode == 0, f"stdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    doc = json.loads(out.read_text())
    assert doc["params"]["clients"] == 20
    runs = doc["runs"]
    assert sorted((r["rr"], r["kind"]) for r in runs) == [
        ("bird", "fulltable"),
        ("bird", "main"),
        ("pyrr", "fulltable"),
        ("pyrr", "main"),
    ]
    for run in runs:
        assert run["error"] is None, run
        names = [p["phase"] for p in run["phases"]]
        assert names == (MAIN_PHASES if run["kind"] == "main" else FULL_PHASES), run
        for p in run["phases"]:
            assert p["ok"], p
            assert p["sim_line"].startswith("done "), p
        fields = {p["phase"]: parse_result(p["sim_line"]).fields for p in run["phases"]}
        if run["kind"] == "main":
            # 20 clients: every client heard from the 19 others (at least one UPDATE each).
            assert int(fields["announce"]["rx_updates"]) >= 20 * 19
            assert int(fields["announce"]["reconnects"]) == 0
        else:
            assert run["clients"] == FULL_CLIENTS
            assert int(fields["fulltable"]["rx_updates"]) > 0
    # The printed table has every phase, both RRs and the ratio section.
    for word in ("establish", "announce", "withdraw", "reannounce", "fulltable", "/bird"):
        assert word in res.stdout
    assert "FAIL" not in res.stdout


def test_report_marks_failed_runs() -> None:
    from bench.run import PhaseRecord, RunRecord

    args = bench_args(["--quick", "--rr", "pyrr,bird", "--full-table", "0"])
    ok = PhaseRecord("establish", True, 0.5, 0.25, 30.0, 0.01, "done connect wall=0.5 cpu=0.01")
    records = [
        RunRecord("pyrr", 0, "main", 20, phases=[ok]),
        RunRecord("bird", 0, "main", 20, error="bird exited with status 1"),
    ]
    text = report(records, args, ["establish"])
    assert "FAIL" in text and "bird rep 1 main: bird exited with status 1" in text


def test_join_benchmark_runs() -> None:
    """`python -m bench.join` (members joining a full group) keeps working; its timing is not
    checked, only that every member was handed the others' routes."""
    res = subprocess.run(
        [sys.executable, "-m", "bench.join", "50"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "50 members join one group of 200 prefixes from 50 sources" in res.stdout
    # Each member: the other 49 sources' 4 /26s in one UPDATE each (one path per source), at
    # least 49 * (19 + 4 + 4 * 5) octets, plus End-of-RIB.
    written = float(res.stdout.rsplit(" MB handed", 1)[0].rsplit(" ", 1)[1])
    assert written * 1e6 >= 50 * 49 * 43
