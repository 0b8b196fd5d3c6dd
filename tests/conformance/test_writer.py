"""The results writer's file handling (no lab): each scenario rewrites its own part of
docs/conformance.md and keeps the other's."""

from __future__ import annotations

from pathlib import Path

from .__main__ import CALICO33_HEADING, split_doc, write_part

REFLECTORS = "# Conformance results\n\nold table\n\nhand-written notes\n"
CALICO33 = f"{CALICO33_HEADING}\n\nold scenario table\n"


def test_each_scenario_keeps_the_others_part(tmp_path: Path) -> None:
    doc = tmp_path / "conformance.md"
    write_part(doc, REFLECTORS, "reflectors")
    assert doc.read_text() == REFLECTORS
    write_part(doc, CALICO33, "calico33")
    assert split_doc(doc.read_text()) == (REFLECTORS + "\n", CALICO33)
    new = f"{CALICO33_HEADING}\n\nnew scenario table\n"
    write_part(doc, new, "calico33")
    assert doc.read_text() == REFLECTORS + "\n" + new
    write_part(doc, "# Conformance results\n\nnew table\n", "reflectors")
    assert doc.read_text() == "# Conformance results\n\nnew table\n\n" + new
