"""`python -m bench.memory` (where a full table's bytes go) runs, and what it prints adds up: a
small table, so it takes a second."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench.memory", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_memory_tool_reports_structures_and_steps() -> None:
    res = _run("20000", "3", "--withdraw", "0.5")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "session established" not in out  # the speaker's log lines are kept out
    assert re.search(r"50% withdrawn \d+\.\d\d s CPU", out)
    assert re.search(r"the housekeeping after it \d+\.\d+ s CPU", out)
    sizes = dict(re.findall(r"^  (prefix keys|Loc-RIB table).*?(\d+) B/prefix$", out, re.M))
    assert 30 <= int(sizes["prefix keys"]) <= 60  # a /26 key: a 5-octet bytes object
    heap = re.search(r"full table announced\s*: Python heap ([\d.]+) MiB", out)
    assert heap and float(heap.group(1)) > 0


def test_memory_tool_rejects_bad_arguments_without_a_traceback() -> None:
    res = _run("10", "1", "--withdraw", "2")
    assert res.returncode == 2
    assert "--withdraw between 0 and 1" in res.stderr and "Traceback" not in res.stderr
