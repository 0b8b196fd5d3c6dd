"""The conformance lab against pyrr: every check must pass for every client."""

from __future__ import annotations

import pytest

from tests.lab.netns import Lab

from .lab import ConformanceLab, failures
from .reflectors import PyrrReflector

pytestmark = pytest.mark.lab


def test_pyrr_conformance(lab: Lab) -> None:
    conf = ConformanceLab(lab, PyrrReflector(), with_frr_gobgp=WITH_FRR_GOBGP)
    results = conf.run()
    bad = list(failures(results))
    assert conf.reflector.alive(), conf.reflector.log()[-3000:]
    assert not bad, "\n".join(f"{r.client}: {r.check}: {r.detail}" for r in bad)
    assert len(results) >= 20


WITH_FRR_GOBGP = True
