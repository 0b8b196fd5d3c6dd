"""The real readers the monitoring tests check pyrr's output with: `bgpdump` (MRT, RFC 6396) and
pmacct's `pmbmpd` (a BMP station, RFC 7854), both Debian packages scripts/setup.sh installs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


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
