"""Calico's label selector language, as BGPPeer `nodeSelector` / `peerSelector` use it.

The grammar and the evaluation follow libcalico-go's `lib/selector` (tokenizer + parser) as
shipped with Calico 3.x:

    or-expr   := and-expr ( "||" and-expr )*
    and-expr  := operation ( "&&" operation )*
    operation := "!"* ( "all()" | "has(" KEY ")" | KEY "==" STRING | KEY "!=" STRING
                      | KEY "in" SET | KEY "not in" SET | "(" or-expr ")" )
    SET       := "{" [ STRING ( "," STRING )* [ "," ] ] "}"
    STRING    := '...' or "..." (no escapes; the other quote may appear inside)
    KEY       := 1 to 512 of [a-zA-Z0-9_./-]   (so "projectcalico.org/rr" is one key)

Whitespace between tokens is spaces and tabs only, as in Calico. `!` binds tighter than `&&`,
which binds tighter than `||`; a run of `!` collapses.

Evaluation, as Calico: `k == 'v'` and `k in {...}` are false when `k` is absent; `k != 'v'` and
`k not in {...}` are true when `k` is absent; `has(k)` tests presence only.

The empty string: Calico's parser turns an empty (or all-blank) selector into `all()`, and
`parse("")` does the same. Whether an empty *field* means "all" is the caller's decision: in a
BGPPeer an empty `nodeSelector`/`peerSelector` means "not set" (confd tests `!= ""` before it
ever parses), and pyrr.store.calico.resources follows that, so it never hands "" to this parser.

Nesting of parentheses is limited to MAX_NESTING levels: deeper input is a SelectorError, never a
RecursionError (the parser and the evaluator recurse once per level).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, auto
from typing import Final

__all__ = [
    "LABEL_KEY",
    "MAX_NESTING",
    "All",
    "And",
    "Eq",
    "Expr",
    "Has",
    "In",
    "Ne",
    "Not",
    "NotIn",
    "Or",
    "Selector",
    "SelectorError",
    "parse",
]

MAX_NESTING: Final = 64
# How much of a selector an error message quotes.
_MAX_SHOWN: Final = 80
_ELLIPSIS: Final = "..."

# libcalico-go tokenizer.LabelKeyMatcher.
_KEY: Final = r"[a-zA-Z0-9_./-]{1,512}"
# Go's RE2 \s is ASCII whitespace; re.ASCII keeps \b ASCII too, as in Go.
_WS: Final = r"[ \t\n\f\r]*"
LABEL_KEY: Final = re.compile(rf"{_KEY}\Z", re.ASCII)
_HAS: Final = re.compile(rf"has\({_WS}({_KEY}){_WS}\)", re.ASCII)
_ALL: Final = re.compile(rf"all\({_WS}\)", re.ASCII)
_NOT_IN: Final = re.compile(rf"not{_WS}in\b", re.ASCII)
_IN: Final = re.compile(r"in\b", re.ASCII)
_IDENT: Final = re.compile(_KEY, re.ASCII)
_BLANKS: Final = " \t"  # the tokenizer skips only these between tokens


class SelectorError(ValueError):
    """A selector that does not parse: `position` is a 0-based character offset into `text`."""

    def __init__(self, text: str, position: int, message: str) -> None:
        self.text = text
        self.position = position
        self.message = message
        cut = _MAX_SHOWN - len(_ELLIPSIS)
        shown = text if len(text) <= _MAX_SHOWN else text[:cut] + _ELLIPSIS
        super().__init__(f"{message} at position {position} in selector {shown!r}")


# --- the syntax tree --------------------------------------------------------------------------


# Each node evaluates itself (`matches`); recursion depth is bounded by the parser's MAX_NESTING.


@dataclass(frozen=True, slots=True)
class All:
    def matches(self, labels: Mapping[str, str]) -> bool:
        return True

    def __str__(self) -> str:
        return "all()"


@dataclass(frozen=True, slots=True)
class Has:
    key: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.key in labels

    def __str__(self) -> str:
        return f"has({self.key})"


@dataclass(frozen=True, slots=True)
class Eq:
    key: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.key in labels and labels[self.key] == self.value

    def __str__(self) -> str:
        return f"{self.key} == {_quote(self.value)}"


@dataclass(frozen=True, slots=True)
class Ne:
    key: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.key not in labels or labels[self.key] != self.value

    def __str__(self) -> str:
        return f"{self.key} != {_quote(self.value)}"


@dataclass(frozen=True, slots=True)
class In:
    key: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.key in labels and labels[self.key] in self.values

    def __str__(self) -> str:
        return f"{self.key} in {_set(self.values)}"


@dataclass(frozen=True, slots=True)
class NotIn:
    key: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.key not in labels or labels[self.key] not in self.values

    def __str__(self) -> str:
        return f"{self.key} not in {_set(self.values)}"


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr

    def matches(self, labels: Mapping[str, str]) -> bool:
        return not self.operand.matches(labels)

    def __str__(self) -> str:
        return f"!{self.operand}"


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Expr, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(op.matches(labels) for op in self.operands)

    def __str__(self) -> str:
        return "(" + " && ".join(map(str, self.operands)) + ")"


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Expr, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return any(op.matches(labels) for op in self.operands)

    def __str__(self) -> str:
        return "(" + " || ".join(map(str, self.operands)) + ")"


Expr = All | Has | Eq | Ne | In | NotIn | Not | And | Or


def _quote(value: str) -> str:
    # A string literal has no escapes, so pick the quote the value does not contain.
    return f"'{value}'" if '"' in value else f'"{value}"'


def _set(values: frozenset[str]) -> str:
    return "{" + ", ".join(_quote(v) for v in sorted(values)) + "}"


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed selector; `text` is what was parsed, `expr` its tree (str() of it is canonical)."""

    text: str
    expr: Expr

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.expr.matches(labels)

    def __str__(self) -> str:
        return str(self.expr)


# --- tokens -----------------------------------------------------------------------------------


class _Kind(Enum):
    LABEL = auto()
    STRING = auto()
    LBRACE = auto()
    RBRACE = auto()
    COMMA = auto()
    EQ = auto()
    NE = auto()
    IN = auto()
    NOT_IN = auto()
    NOT = auto()
    ALL = auto()
    HAS = auto()
    LPAREN = auto()
    RPAREN = auto()
    AND = auto()
    OR = auto()
    EOF = auto()


_SHOW: Final = {
    _Kind.LBRACE: "'{'",
    _Kind.RBRACE: "'}'",
    _Kind.COMMA: "','",
    _Kind.EQ: "'=='",
    _Kind.NE: "'!='",
    _Kind.IN: "'in'",
    _Kind.NOT_IN: "'not in'",
    _Kind.NOT: "'!'",
    _Kind.ALL: "'all()'",
    _Kind.LPAREN: "'('",
    _Kind.RPAREN: "')'",
    _Kind.AND: "'&&'",
    _Kind.OR: "'||'",
    _Kind.EOF: "the end of the selector",
}

_SINGLE: Final = {
    "(": _Kind.LPAREN,
    ")": _Kind.RPAREN,
    "{": _Kind.LBRACE,
    "}": _Kind.RBRACE,
    ",": _Kind.COMMA,
}
_QUOTES: Final = "'\""
# Operators written as a doubled character; the character alone is an error.
_DOUBLED: Final = {"=": _Kind.EQ, "&": _Kind.AND, "|": _Kind.OR}
# Tried in this order at a word; the group (None: no value) is the token's value.
_WORDS: Final = (
    (_HAS, _Kind.HAS, 1),
    (_NOT_IN, _Kind.NOT_IN, None),
    (_IN, _Kind.IN, None),
    (_ALL, _Kind.ALL, None),
    (_IDENT, _Kind.LABEL, 0),
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    position: int
    value: str = ""

    def describe(self) -> str:
        if self.kind is _Kind.LABEL:
            return f"label {self.value!r}"
        if self.kind is _Kind.STRING:
            return f"string {self.value!r}"
        if self.kind is _Kind.HAS:
            return f"'has({self.value})'"
        return _SHOW[self.kind]


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in _BLANKS:
            pos += 1
        if pos == len(text):
            tokens.append(_Token(_Kind.EOF, pos))
            return tokens
        token, pos = _next_token(text, pos)
        tokens.append(token)


def _next_token(text: str, pos: int) -> tuple[_Token, int]:
    """The token at `pos` (not a blank, not the end) and where the next one may start."""
    ch = text[pos]
    if ch in _SINGLE:
        return _Token(_SINGLE[ch], pos), pos + 1
    if ch in _QUOTES:
        close = text.find(ch, pos + 1)
        if close < 0:
            raise SelectorError(text, pos, f"unterminated string (no closing {ch})")
        return _Token(_Kind.STRING, pos, text[pos + 1 : close]), close + 1
    if ch in _DOUBLED:
        if not text.startswith(ch * 2, pos):
            raise SelectorError(text, pos, f"expected {ch * 2}")
        return _Token(_DOUBLED[ch], pos), pos + 2
    if ch == "!":
        if text.startswith("!=", pos):
            return _Token(_Kind.NE, pos), pos + 2
        return _Token(_Kind.NOT, pos), pos + 1
    for pattern, kind, group in _WORDS:
        if m := pattern.match(text, pos):
            return _Token(kind, pos, "" if group is None else m.group(group)), m.end()
    raise SelectorError(text, pos, f"unexpected character {ch!r}")


# --- the parser -------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind is not _Kind.EOF:
            self.index += 1
        return token

    def fail(self, token: _Token, expected: str) -> SelectorError:
        return SelectorError(
            self.text, token.position, f"expected {expected}, got {token.describe()}"
        )

    def or_expr(self, depth: int) -> Expr:
        operands = [self.and_expr(depth)]
        while self.peek().kind is _Kind.OR:
            self.take()
            operands.append(self.and_expr(depth))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self, depth: int) -> Expr:
        operands = [self.operation(depth)]
        while self.peek().kind is _Kind.AND:
            self.take()
            operands.append(self.operation(depth))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def operation(self, depth: int) -> Expr:
        negated = False
        while self.peek().kind is _Kind.NOT:
            self.take()
            negated = not negated
        token = self.take()
        expr: Expr
        if token.kind is _Kind.HAS:
            expr = Has(token.value)
        elif token.kind is _Kind.ALL:
            expr = All()
        elif token.kind is _Kind.LABEL:
            expr = self.comparison(token)
        elif token.kind is _Kind.LPAREN:
            if depth >= MAX_NESTING:
                raise SelectorError(
                    self.text, token.position, f"parentheses nested deeper than {MAX_NESTING}"
                )
            expr = self.or_expr(depth + 1)
            close = self.take()
            if close.kind is not _Kind.RPAREN:
                raise self.fail(close, "')' or an operator ('&&', '||')")
        else:
            raise self.fail(token, "a label, has(label), all(), '!' or '(' to start an expression")
        return Not(expr) if negated else expr

    def comparison(self, label: _Token) -> Expr:
        op = self.take()
        if op.kind in (_Kind.EQ, _Kind.NE):
            value = self.take()
            if value.kind is not _Kind.STRING:
                raise self.fail(value, f"a quoted string after {op.describe()}")
            if op.kind is _Kind.EQ:
                return Eq(label.value, value.value)
            return Ne(label.value, value.value)
        if op.kind in (_Kind.IN, _Kind.NOT_IN):
            values = self.set_literal()
            return In(label.value, values) if op.kind is _Kind.IN else NotIn(label.value, values)
        raise self.fail(op, f"'==', '!=', 'in' or 'not in' after label {label.value!r}")

    def set_literal(self) -> frozenset[str]:
        brace = self.take()
        if brace.kind is not _Kind.LBRACE:
            raise self.fail(brace, "a set like {'a', 'b'}")
        values: list[str] = []
        # As Calico: strings separated by commas, a trailing comma allowed, {} allowed.
        while self.peek().kind is _Kind.STRING:
            values.append(self.take().value)
            if self.peek().kind is not _Kind.COMMA:
                break
            self.take()
        close = self.take()
        if close.kind is not _Kind.RBRACE:
            raise self.fail(close, "a quoted string, ',' or '}' in the set")
        return frozenset(values)


def parse(text: str) -> Selector:
    """Parse a Calico selector; any syntax problem is a SelectorError with its position."""
    if not isinstance(text, str):
        raise SelectorError(
            repr(text), 0, f"a selector must be a string, got {type(text).__name__}"
        )
    tokens = _tokenize(text)
    if tokens[0].kind is _Kind.EOF:
        return Selector(text, All())  # Calico: an empty selector is all()
    parser = _Parser(text, tokens)
    expr = parser.or_expr(0)
    rest = parser.peek()
    if rest.kind is not _Kind.EOF:
        raise parser.fail(rest, "'&&', '||' or the end of the selector")
    return Selector(text, expr)
