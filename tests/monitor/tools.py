"""The real readers the monitoring tests check pyrr's output with: `bgpdump` (MRT, RFC 6396) and
pmacct's `pmbmpd` (a BMP station, RFC 7854), both Debian packages scripts/setup.sh installs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    assert found, f"{name} is not installed: run scripts/setup.sh (Debian packages bgpdump, pmacct)"
    return found


def bgpdump(path: Path) -> list[list[str]]:
    """`bgpdump -m`: one line per route or event, fields split on '|'."""
    res = subprocess.run(
        [tool("bgpdump"), "-m", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # bgpdump says "logging to syslog" on stderr; every record is a line on stdout.
    return [line.split("|") for line in res.stdout.splitlines() if line]


@contextlib.contextmanager
def pmbmpd(workdir: Path, port: int) -> Iterator[Path]:
    """pmacct's BMP collector on 127.0.0.1:`port`, logging every message it parses as a JSON
    line to the file this yields. It ignores SIGTERM, so it is killed at the end."""
    msglog = workdir / "bmp.json"
    conf = workdir / "pmbmpd.conf"
    conf.write_text(
        "bmp_daemon_ip: 127.0.0.1\n"
        f"bmp_daemon_port: {port}\n"
        f"bmp_daemon_msglog_file: {msglog}\n"
        "bmp_daemon_msglog_output: json\n"
        f"logfile: {workdir / 'pmbmpd.log'}\n"
        f"pidfile: {workdir / 'pmbmpd.pid'}\n"
    )
    proc = subprocess.Popen(
        [tool("pmbmpd"), "-f", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, (workdir / "pmbmpd.log").read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "pmbmpd did not listen within 10 s"
            time.sleep(0.05)
        yield msglog
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def json_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # a line still being written
            out.append(json.loads(line))
    return out
