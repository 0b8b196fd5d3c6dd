"""Smoke test of the RR benchmark (bench/): `--quick` against pyrr and BIRD 2 over loopback.

It checks that every phase converges (bgpsim counted the right prefixes at every client) and
that the churn phase completes every change without a session lost, not how long anything
took. Needs gcc (bgpsim is C) and BIRD 2's `bird`, which scripts/setup.sh installs.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bench.run import FULL_CLIENTS, PhaseRecord, RunRecord, judge_churn, report
from bench.run import parse_args as bench_args
from bench.sim import parse_result

REPO_ROOT = Path(__file__).resolve().parents[2]
CHURN_RATE, CHURN_SECONDS = 200, 1
MAIN_PHASES = ["establish", "announce", "withdraw", "reannounce", f"churn-{CHURN_RATE}"]
FULL_PHASES = ["ft-establish", "fulltable", "ft-withdraw"]


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
    assert (args.churn, args.churn_seconds, args.churn_grace) == ([50, 200], 3, 10)


def test_churn_arguments() -> None:
    args = bench_args([])
    assert (args.clients, args.churn, args.churn_seconds) == (1000, [50, 500], 30)
    assert bench_args(["--churn", "0"]).churn == []
    assert bench_args(["--churn", "10,2000", "--churn-seconds", "5"]).churn == [10, 2000]
    for bad in (["--churn", "fast"], ["--churn", "50,50"], ["--churn", "-3"]):
        with pytest.raises(SystemExit):
            bench_args(bad)


CHURN_DONE = (
    "done churn wall=2.0 cpu=0.01 rate=200 seconds=2 changes=400 announces=200 withdraws=200"
    " completed=400 lost=0 skipped=0 p50_ms=0.3 p99_ms=0.9 max_ms=1.5 ann_p50_ms=0.3"
    " ann_p99_ms=0.8 wd_p50_ms=0.2 wd_p99_ms=0.9 lag_max_ms=1.1 drain=0.001 rx_msgs=9"
    " rx_updates=9 rx_bytes=9 tx_bytes=9 reconnects=0 closed=0 notifications=0 echoes=0"
    " ok=20/20 established=20/20"
)


def _churn_record(line: str) -> tuple[PhaseRecord, str | None]:
    res = parse_result(line)
    rec = PhaseRecord("churn-200", res.ok, res.wall, 0.2, 30.0, res.cpu, line)
    return rec, judge_churn(rec, res)


def test_judge_churn() -> None:
    rec, problem = _churn_record(CHURN_DONE)
    assert problem is None and rec.ok
    assert rec.metric("p99_ms") == 0.9 and rec.metric("rr_cpu") == 0.2
    assert rec.extra["rr_cpu_ms_per_change"] == pytest.approx(0.5)
    # Lost changes (bgpsim's `timeout churn`), or a session closed: failed, with the reason.
    late = CHURN_DONE.replace("done", "timeout").replace("lost=0", "lost=7")
    rec, problem = _churn_record(late)
    assert not rec.ok and problem is not None and "lost 7 of 400" in problem
    rec, problem = _churn_record(CHURN_DONE.replace("closed=0", "closed=1"))
    assert not rec.ok and problem is not None and "closed=1" in problem
    # Slots skipped because every prefix was in flight: the RR did not keep up with the rate.
    rec, problem = _churn_record(CHURN_DONE.replace("skipped=0", "skipped=12"))
    assert not rec.ok and problem is not None and "skipped=12" in problem


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
            "--churn",
            str(CHURN_RATE),
            "--churn-seconds",
            str(CHURN_SECONDS),
            "--churn-grace",
            "5",
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
            _check_churn(fields[f"churn-{CHURN_RATE}"])
        else:
            assert run["clients"] == FULL_CLIENTS
            assert int(fields["fulltable"]["rx_updates"]) > 0
    # The printed table has every phase, both RRs and the ratio section.
    for word in ("establish", "announce", "withdraw", "reannounce", "fulltable", "/bird"):
        assert word in res.stdout
    for word in (f"churn-{CHURN_RATE}", "latency p99 ms", "RR CPU ms/change"):
        assert word in res.stdout
    assert "latency p99" in res.stdout.split("pyrr / anchor", 1)[1]
    assert "FAIL" not in res.stdout


def _check_churn(f: dict[str, str]) -> None:
    """Every change made reached every other client; latencies positive and ordered."""
    changes = int(f["changes"])
    assert changes == CHURN_RATE * CHURN_SECONDS and int(f["skipped"]) == 0, f
    assert int(f["announces"]) + int(f["withdraws"]) == changes, f
    assert int(f["announces"]) > 0 and int(f["withdraws"]) > 0, f
    assert int(f["completed"]) == changes and int(f["lost"]) == 0, f
    p50, p99, top = float(f["p50_ms"]), float(f["p99_ms"]), float(f["max_ms"])
    assert 0 < p50 <= p99 <= top, f
    for key in ("reconnects", "closed", "notifications"):
        assert int(f[key]) == 0, f
    assert f["ok"] == "20/20", f


def test_report_marks_failed_runs() -> None:
    args = bench_args(["--quick", "--rr", "pyrr,bird", "--full-table", "0"])
    ok = PhaseRecord("establish", True, 0.5, 0.25, 30.0, 0.01, "done connect wall=0.5 cpu=0.01")
    records = [
        RunRecord("pyrr", 0, "main", 20, phases=[ok]),
        RunRecord("bird", 0, "main", 20, error="bird exited with status 1"),
    ]
    text = report(records, args, ["establish"])
    assert "FAIL" in text and "bird rep 1 main: bird exited with status 1" in text


def test_report_has_churn_latency_ratios() -> None:
    args = bench_args(["--quick", "--rr", "pyrr,bird", "--full-table", "0", "--churn", "200"])
    mine, _ = _churn_record(CHURN_DONE)
    theirs, _ = _churn_record(CHURN_DONE.replace("p99_ms=0.9", "p99_ms=1.8"))
    records = [
        RunRecord("pyrr", 0, "main", 20, phases=[mine]),
        RunRecord("bird", 0, "main", 20, phases=[theirs]),
    ]
    text = report(records, args, ["churn-200"])
    assert "churn 200 changes/s for 3 s" in text
    ratios = text.split("pyrr / anchor", 1)[1]
    p99_row = next(line for line in ratios.splitlines() if "latency p99" in line)
    assert p99_row.split()[-1] == "0.50x"


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
