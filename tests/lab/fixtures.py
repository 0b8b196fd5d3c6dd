"""pytest plugin (registered in tests/conftest.py): the `lab` fixture.

The fixture always tears the lab down, pass or fail. When the test failed it first dumps
each host's network state and each daemon's `birdc` view, then copies logs, configs and
dumps to ``lab-logs/<test id>/`` in the repo root (gitignored; override with
PYRR_LAB_LOGS), and adds the daemons' log tails to the failure report.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from .netns import Lab, reap_stale_labs

REPO_ROOT = Path(__file__).resolve().parents[2]
LAB_PREFIX = "pyrr"
_reports_key = pytest.StashKey[dict[str, pytest.TestReport]]()


def lab_logs_root() -> Path:
    return Path(os.environ.get("PYRR_LAB_LOGS", str(REPO_ROOT / "lab-logs")))


def lab_unavailable_reason() -> str | None:
    """Why lab tests cannot run here, or None if they can."""
    if os.geteuid() != 0:
        return "lab tests need root (network namespaces)"
    if shutil.which("ip") is None:
        return "lab tests need iproute2 (`ip`): run scripts/setup.sh"
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    # Namespaces of an earlier run that was SIGKILLed (e.g. by a CI timeout) would otherwise
    # pile up; only ones whose owning process is gone and that hold no process are removed.
    if lab_unavailable_reason() is None:
        reap_stale_labs(LAB_PREFIX)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Keep each phase's report on the item so the fixture's teardown knows if the test failed.
    rep = yield
    item.stash.setdefault(_reports_key, {})[rep.when] = rep
    return rep


def _safe_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A fresh `Lab` (namespaces named pyrr<pid>-<host>), closed after the test."""
    reason = lab_unavailable_reason()
    if reason is not None:
        pytest.fail(f"{reason} (the lab tests need root and scripts/setup.sh)")
    the_lab = Lab(prefix=LAB_PREFIX)
    try:
        yield the_lab
    finally:
        reports = request.node.stash.get(_reports_key, {})
        failed = any(r.failed for r in reports.values())
        if failed:
            the_lab.collect_diagnostics()  # while the daemons still answer
        try:
            the_lab.stop()
        finally:
            if failed:
                dest = the_lab.save_logs(lab_logs_root() / _safe_name(request.node.nodeid))
                text = f"lab files saved in {dest}\n\n{the_lab.tails(40)}"
                # The call report is the one printed in the failure summary at the end of
                # the run; a section added to it shows there (output printed during
                # teardown would be lost).
                rep = reports.get("call") or reports.get("setup")
                if rep is not None:
                    rep.sections.append(("lab logs (tails)", text))
            the_lab.close()
