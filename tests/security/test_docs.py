"""docs/security.md stays true: its RFC 7606 table is `_RULES`, and the tests it cites exist."""

from __future__ import annotations

import re
from pathlib import Path

from pyrr.bgp.constants import AttrCode
from pyrr.bgp.update import _RULES, Action

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC = REPO_ROOT / "docs" / "security.md"
ACTIONS = {
    Action.TREAT_AS_WITHDRAW: "treat-as-withdraw",
    Action.ATTRIBUTE_DISCARD: "attribute discard",
    Action.SESSION_RESET: "session reset",
}


def test_the_rfc_7606_table_is_the_codes_table() -> None:
    rows = re.findall(
        r"^\| ([A-Z0-9_]+) \((\d+)\) \| ([a-z -]+) \| (RFC [^|]+?) \|$",
        DOC.read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    documented = {int(code): (name, action, rfc) for name, code, action, rfc in rows}
    expected = {
        int(code): (AttrCode(code).name, ACTIONS[action], rfc)
        for code, (_check, action, rfc) in _RULES.items()
    }
    assert documented == expected


def test_every_cited_test_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    cited = re.findall(r"`(tests/[\w/]+(?:\.py)?)(?:::(\w+))?`", text)
    assert len(cited) > 10
    for path, func in cited:
        target = REPO_ROOT / path
        assert target.exists(), path
        if func:
            assert f"def {func}(" in target.read_text(encoding="utf-8"), f"{path}::{func}"
