"""The conformance lab's Calico 3.3+ scenario against pyrr (calico33.py): two pyrr reflector
Nodes, calico-node 3.2x BIRD 1.6 nodes, a BIRD 2 top-of-rack router and TLS etcd; every check
must pass. `python -m tests.conformance --scenario calico33` writes the same results to
docs/conformance.md."""

from __future__ import annotations

import pytest

from tests.calico.conftest import require_lab
from tests.lab.netns import Lab

from .calico33 import Calico33Lab
from .lab import failures

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]


def test_calico33_scenario(lab: Lab) -> None:
    require_lab()
    scenario = Calico33Lab(lab)
    try:
        results = scenario.run()
    finally:
        scenario.close()
    bad = list(failures(results))
    assert not bad, "\n".join(f"{r.client}: {r.check}: {r.detail}" for r in bad)
    assert len(results) >= 30, [(r.client, r.check) for r in results]
