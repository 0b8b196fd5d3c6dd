"""A peer that stops reading, for real: pyrr as a process in a network namespace whose TCP
buffers are shrunk to a few KiB, peers driven from another process in the same namespace
(see tests/security/slow_reader.py for the scenario).

What must hold while one peer (S) has stopped reading and another (D) has stopped for good:
- A, which reads, converges after every round of churn and sees a single change promptly;
- pyrr's RSS stays bounded: it does not queue the churn for S (the shared stream leaves S at
  the high watermark, `UpdateGroup.pause`), though A received many times the bound meanwhile;
- D, stalled past its hold time, is dropped (`Peer._stalled`);
- S, once it reads again, converges to exactly the source's table: withdrawn routes gone,
  latest attributes, only the last marker (`UpdateGroup.resume`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.lab.netns import Lab, LabProcess, wait_until

pytestmark = pytest.mark.lab

REPO_ROOT = Path(__file__).resolve().parents[2]
HIGH_WATER = 64 * 1024
LOW_WATER = 16 * 1024
ROUTES, ROUNDS = 10000, 5


def config() -> str:
    lines = [
        "[bgp]",
        "asn = 64512",
        'router_id = "127.0.0.1"',
        'cluster_id = "198.18.0.250"',
        'listen = ["127.0.0.1"]',
        "port = 179",
    ]
    for last in (2, 3, 4, 5):
        lines += ["", "[[peer]]", f'address = "127.0.0.{last}"', "passive = true"]
    return "\n".join(lines) + "\n"


def test_never_reading_peer_is_bounded_dropped_and_resynchronised(lab: Lab) -> None:
    host = lab.add_host("rr", "198.18.0.104/24")
    # Small socket buffers in this namespace only: a few KiB unread, and the writer blocks.
    host.run(
        ["sysctl", "-q", "-w", "net.ipv4.tcp_wmem=4096 8192 8192",
         "net.ipv4.tcp_rmem=4096 8192 8192"]
    )  # fmt: skip
    cfg = host.dir / "pyrr.toml"
    cfg.write_text(config())
    sock = host.dir / "pyrr.sock"
    pyrr: LabProcess = host.popen(
        [sys.executable, "-m", "tests.security.slow_reader", "pyrr", str(cfg), str(sock),
         str(HIGH_WATER), str(LOW_WATER)],
        log="pyrr.log", cwd=REPO_ROOT,
    )  # fmt: skip
    wait_until(lambda: sock.exists() or not pyrr.alive(), 20, 0.1, "pyrr's control socket")
    assert pyrr.alive(), pyrr.log_text()
    out = host.dir / "result.json"
    driver = host.popen(
        [sys.executable, "-m", "tests.security.slow_reader", "drive", "--pid", str(pyrr.pid),
         "--sock", str(sock), "--out", str(out), "--routes", str(ROUTES),
         "--rounds", str(ROUNDS), "--deadline", "120"],
        log="driver.log", cwd=REPO_ROOT,
    )  # fmt: skip
    driver.wait(timeout=140)
    assert out.exists(), driver.log_text()
    r = json.loads(out.read_text())
    print(json.dumps(r))
    assert r["ok"], f"{r['error']}\n--- driver ---\n{driver.log_text()[-3000:]}"
    assert pyrr.alive()

    # A kept up: every round converged, and one change took well under a second.
    assert max(r["round_s"]) < 15.0, r["round_s"]
    assert max(r["marker_s"]) < 1.0, r["marker_s"]
    # pyrr did not queue the churn for S: its RSS grew by far less than what went to A
    # meanwhile (which S would otherwise have had buffered: with the watermarks out of the way
    # the growth is about 1.4 times that), and by less than a fixed bound. With them it grows
    # by the dirty-prefix sets and a few buffers, about 1 MiB here.
    growth_kib = max(r["rss_kib"]) - r["rss0_kib"]
    sent_kib = r["bytes_to_a_while_stalled"] // 1024
    assert sent_kib > 6 * 1024, f"too little churn to show anything: {sent_kib} KiB"
    assert growth_kib < sent_kib / 2, (growth_kib, sent_kib)
    assert growth_kib < 8 * 1024, growth_kib
    # S stayed up while stalled (its hold time is 90 s) and converged exactly.
    assert not r["s_lost_while_stalled"]
    assert r["s_exact"], r
    assert r["s_markers"] == [f"10.255.{ROUNDS}.0/24"]
    # D was dropped once stalled past its 3 s hold time (plus the time to fill its buffers).
    assert r["d_dropped_after_s"] < 15.0, r["d_dropped_after_s"]
    assert r["pyrr_states"]["127.0.0.4"] != "Established"
    assert r["pyrr_states"]["127.0.0.3"] == "Established"
    log = pyrr.log_text()
    assert "peer stopped reading: dropping the connection" in log
    assert "Traceback" not in log
