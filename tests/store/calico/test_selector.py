"""Calico's selector language: syntax, evaluation as libcalico-go does it, errors, nesting."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrr.store.calico.selector import (
    LABEL_KEY,
    MAX_NESTING,
    All,
    And,
    Eq,
    Has,
    In,
    Ne,
    Not,
    NotIn,
    Or,
    SelectorError,
    parse,
)

RR = {"projectcalico.org/rr": "true", "zone": "a", "rack": "r1"}
NODE = {"zone": "b", "rack": "r2"}
BARE: dict[str, str] = {}


# --- what parses to what ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expr"),
    [
        ("all()", All()),
        ("  all( )  ", All()),
        ("has(projectcalico.org/rr)", Has("projectcalico.org/rr")),
        ("has( a-b_c.d/e )", Has("a-b_c.d/e")),
        ("!has(rr)", Not(Has("rr"))),
        ("zone == 'a'", Eq("zone", "a")),
        ('zone=="a"', Eq("zone", "a")),
        ("zone != 'a'", Ne("zone", "a")),
        ("zone in {'a', \"b\"}", In("zone", frozenset({"a", "b"}))),
        ("zone in {'a',}", In("zone", frozenset({"a"}))),
        ("zone in {}", In("zone", frozenset())),
        ("zone not in {'a'}", NotIn("zone", frozenset({"a"}))),
        ("zone notin {'a'}", NotIn("zone", frozenset({"a"}))),  # Calico: not\s*in
    ],
)
def test_parse_forms(text: str, expr: object) -> None:
    assert parse(text).expr == expr


def test_quotes_may_hold_the_other_quote() -> None:
    assert parse("""a == "it's" """).expr == Eq("a", "it's")
    assert parse("""a == 'say "hi"'""").expr == Eq("a", 'say "hi"')


def test_precedence_and_grouping() -> None:
    # && binds tighter than ||; ! binds to one operation.
    sel = parse("a == '1' || b == '2' && c == '3'")
    assert sel.expr == Or((Eq("a", "1"), And((Eq("b", "2"), Eq("c", "3")))))
    sel = parse("(a == '1' || b == '2') && c == '3'")
    assert sel.expr == And((Or((Eq("a", "1"), Eq("b", "2"))), Eq("c", "3")))
    assert parse("!a == '1' && b == '2'").expr == And((Not(Eq("a", "1")), Eq("b", "2")))


def test_runs_of_not_collapse() -> None:
    assert parse("!!has(a)").expr == Has("a")
    assert parse("!!!has(a)").expr == Not(Has("a"))
    assert parse("!" * 100_001 + "has(a)").expr == Not(Has("a"))


def test_keywords_need_a_word_boundary() -> None:
    # "input" and "notice" are label keys, not `in` / `not in`.
    assert parse("input == 'x'").expr == Eq("input", "x")
    assert parse("notice == 'x'").expr == Eq("notice", "x")
    assert parse("hasty == 'x'").expr == Eq("hasty", "x")


def test_empty_selector_is_all_as_calico() -> None:
    for text in ("", "   ", "\t"):
        sel = parse(text)
        assert sel.expr == All()
        assert sel.matches({}) and sel.matches(RR)


def test_str_is_canonical_and_reparses() -> None:
    sel = parse("!has(x) && (zone in {'b','a'} || rack != \"r1\")")
    assert str(sel) == '(!has(x) && (zone in {"a", "b"} || rack != "r1"))'
    assert parse(str(sel)).expr == sel.expr
    assert sel.text == "!has(x) && (zone in {'b','a'} || rack != \"r1\")"


# --- evaluation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rr", "node", "bare"),
    [
        ("all()", True, True, True),
        ("has(projectcalico.org/rr)", True, False, False),
        ("!has(projectcalico.org/rr)", False, True, True),
        ("zone == 'a'", True, False, False),  # absent label: == is false
        ("zone != 'a'", False, True, True),  # absent label: != is true
        ("zone in {'a', 'c'}", True, False, False),  # absent label: in is false
        ("zone not in {'a', 'c'}", False, True, True),  # absent label: not in is true
        ("zone in {}", False, False, False),
        ("zone not in {}", True, True, True),
        ("has(zone) && zone != 'a'", False, True, False),
        ("zone == 'a' || rack == 'r2'", True, True, False),
        ("!(zone == 'a' || rack == 'r2')", False, False, True),
        ("projectcalico.org/rr == 'true' && rack in {'r1'}", True, False, False),
    ],
)
def test_matches(text: str, rr: bool, node: bool, bare: bool) -> None:
    sel = parse(text)
    assert (sel.matches(RR), sel.matches(NODE), sel.matches(BARE)) == (rr, node, bare)


def test_values_compare_exactly() -> None:
    sel = parse("zone == 'a'")
    assert not sel.matches({"zone": "A"})
    assert not sel.matches({"zone": "a "})
    assert parse("zone == ''").matches({"zone": ""})


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("zone == a", 8, "expected a quoted string"),
        ("zone = 'a'", 5, "expected =="),
        ("has(a) & has(b)", 7, "expected &&"),
        ("has(a) | has(b)", 7, "expected ||"),
        ("zone == 'a", 8, "unterminated string"),
        ('zone == "a', 8, "unterminated string"),
        ("(has(a)", 7, "expected ')'"),
        ("has(a))", 6, "expected '&&', '||' or the end"),
        ("has(a) has(b)", 7, "expected '&&', '||' or the end"),
        ("zone", 4, "expected '==', '!=', 'in' or 'not in'"),
        ("zone in 'a'", 8, "a set like"),
        ("zone in {'a' 'b'}", 13, "in the set"),
        ("zone in {,}", 9, "in the set"),
        ("&& has(a)", 0, "to start an expression"),
        ("has(a) &&", 9, "to start an expression"),
        ("!", 1, "to start an expression"),
        ("()", 1, "to start an expression"),
        ("zone == 'a' $", 12, "unexpected character '$'"),
        ("zone\n== 'a'", 4, "unexpected character"),  # Calico skips only blanks and tabs
        ("zone contains 'a'", 5, "expected '==', '!=', 'in' or 'not in'"),
        ("all", 3, "expected '==', '!=', 'in' or 'not in'"),
    ],
)
def test_errors_say_where_and_what(text: str, position: int, words: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse(text)
    err = info.value
    assert err.text == text
    assert err.position == position
    assert words in err.message
    assert f"position {position}" in str(err)


def test_not_a_string() -> None:
    with pytest.raises(SelectorError, match="must be a string"):
        parse(42)  # type: ignore[arg-type]


def test_nesting_up_to_the_limit_parses() -> None:
    text = "(" * MAX_NESTING + "has(a)" + ")" * MAX_NESTING
    assert parse(text).matches({"a": "1"})
    deep_not = "!(" * MAX_NESTING + "has(a)" + ")" * MAX_NESTING
    assert parse(deep_not).matches({"a": "1"}) is (MAX_NESTING % 2 == 0)


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 10_000, 200_000])
def test_deep_nesting_is_a_selector_error_not_recursion(depth: int) -> None:
    text = "(" * depth + "has(a)" + ")" * depth
    with pytest.raises(SelectorError, match="nested deeper") as info:
        parse(text)
    assert info.value.position == MAX_NESTING
    with pytest.raises(SelectorError):
        parse("!(" * depth + "all()" + ")" * depth)


def test_long_flat_chains_are_fine() -> None:
    text = " && ".join(f"has(k{i})" for i in range(5000))
    labels = {f"k{i}": "" for i in range(5000)}
    assert parse(text).matches(labels)
    assert not parse(text).matches({})


def test_label_key_pattern() -> None:
    assert LABEL_KEY.match("projectcalico.org/route-reflector_1")
    assert not LABEL_KEY.match("a b")
    assert not LABEL_KEY.match("")
    assert not LABEL_KEY.match("k" * 513)


# --- properties -------------------------------------------------------------------------------

_ALPHABET = st.sampled_from([*list("ab.-/_ ()!=&|{},'\"\tinothasl"), "in", "not", "has(", "all()"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join), st.dictionaries(st.text(), st.text()))
def test_any_text_parses_or_is_a_selector_error(text: str, labels: dict[str, str]) -> None:
    try:
        sel = parse(text)
    except SelectorError as err:
        assert 0 <= err.position <= len(text)
        return
    assert isinstance(sel.matches(labels), bool)
    # The canonical form means the same thing.
    assert parse(str(sel)).matches(labels) == sel.matches(labels)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_unicode_never_crashes(text: str) -> None:
    with contextlib.suppress(SelectorError):
        parse(text)


_KEYS = st.sampled_from(["a", "b", "x.io/c"])
_VALUES = st.sampled_from(["1", "2", ""])
_LEAF = st.one_of(
    st.just("all()"),
    _KEYS.map(lambda k: f"has({k})"),
    st.tuples(_KEYS, st.sampled_from(["==", "!="]), _VALUES).map(
        lambda t: f"{t[0]} {t[1]} '{t[2]}'"
    ),
    st.tuples(_KEYS, st.sampled_from(["in", "not in"]), st.lists(_VALUES, max_size=3)).map(
        lambda t: f"{t[0]} {t[1]} {{{', '.join(repr(v) for v in t[2])}}}"
    ),
)
_EXPR = st.recursive(
    _LEAF,
    lambda inner: st.one_of(
        inner.map(lambda e: f"!({e})"),
        st.tuples(inner, st.sampled_from(["&&", "||"]), inner).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"
        ),
    ),
    max_leaves=12,
)


def _reference(text: str, labels: dict[str, str]) -> bool:
    """The same selector evaluated by Python itself, after a textual translation."""
    import re

    def leaf(m: re.Match[str]) -> str:
        key, op, rest = m.group(1), m.group(2), m.group(3)
        got = f"labels.get({key!r})"
        if op == "==":
            return f"({got} == {rest})"
        if op == "!=":
            return f"({got} != {rest})"
        values = f"{{{rest[1:-1]}}}" if rest != "{}" else "set()"
        if op == "in":
            return f"({got} is not None and {got} in {values})"
        return f"({got} is None or {got} not in {values})"

    py = re.sub(r"has\(([^)]+)\)", lambda m: f"({m.group(1)!r} in labels)", text)
    py = re.sub(r"([a-z./]+) (==|!=|not in|in) ('[^']*'|\{[^}]*\})", leaf, py)
    py = py.replace("all()", "True").replace("&&", " and ").replace("||", " or ")
    py = re.sub(r"!\(", " not (", py)
    return bool(eval(py, {"labels": labels}))


@settings(max_examples=300, deadline=None)
@given(_EXPR, st.dictionaries(_KEYS, _VALUES))
def test_evaluation_agrees_with_a_reference(text: str, labels: dict[str, str]) -> None:
    assert parse(text).matches(labels) == _reference(text, labels)
