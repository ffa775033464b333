"""The column expression language: its grammar, checked when a segment is loaded.

A column is a dotted path (``profile.userDetails.contact.email``; a number
picks a list item: ``platform.0``) or a call of one of :data:`SIGNATURES`, whose
arguments are paths, quoted strings, numbers or other calls. :func:`parse_expr`
turns the text into a tree of :class:`Literal`, :class:`PathRef` and
:class:`Call` (or raises :class:`ExprError`); :mod:`runner.rows.columns`
compiles that tree into functions of records.

>>> parse_expr('attr("zip")')
Call(name='attr', args=(PathRef(path='profile.userDetails.attributes'), Literal(value='zip')))
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from runner.problems import did_you_mean

ATTRIBUTES_PATH = "profile.userDetails.attributes"
COUNTRY_PATH = "profile.userDetails.country"  # where e164() reads a number without a code

# name: (fewest, most arguments); what each does is in runner.rows.columns.FUNCTIONS.
SIGNATURES: dict[str, tuple[int, int]] = {
    "e164": (1, 2),
    "attr": (1, 2),
    "join": (2, 2),
    "first": (1, 1),
    "count": (1, 1),
    "coalesce": (1, 16),
    "lower": (1, 1),
    "upper": (1, 1),
    "json": (1, 1),
}


class ExprError(ValueError):
    """An expression that does not parse or calls an unknown function."""


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class PathRef:
    path: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]


Node = Literal | PathRef | Call


def path_parts(path: str) -> list[str | int]:
    """A dotted path's keys (a number is a list index); ExprError for an empty part."""
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in path.split(".")]
    if any(p == "" for p in parts):
        raise ExprError(f"path {path!r} has an empty part")
    return parts


_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d+)?(?![\w.]))"""
    r"""|(?P<name>[A-Za-z_$][\w$]*(?:\.[\w$]+)*)|(?P<punct>[(),]))"""
)


@dataclass
class _Parser:
    text: str
    pos: int = 0

    def token(self) -> tuple[str, str] | None:
        match = _TOKEN.match(self.text, self.pos)
        if not match or match.end() == self.pos:
            if self.text[self.pos :].strip():
                raise ExprError(f"unexpected text at {self.text[self.pos:].strip()!r}")
            return None
        self.pos = match.end()
        kind = match.lastgroup or ""
        return kind, match.group(kind)

    def peek(self) -> tuple[str, str] | None:
        saved = self.pos
        try:
            return self.token()
        finally:
            self.pos = saved

    def expect(self, char: str) -> None:
        tok = self.token()
        if tok != ("punct", char):
            raise ExprError(f"expected '{char}' in expression {self.text!r}")

    def parse(self) -> Node:
        tok = self.token()
        if tok is None:
            raise ExprError("empty expression")
        kind, value = tok
        if kind == "str":
            try:
                return Literal(ast.literal_eval(value))  # a quoted string, nothing else
            except (ValueError, SyntaxError) as exc:
                raise ExprError(f"bad string {value} in expression {self.text!r}") from exc
        if kind == "num":
            return Literal(float(value) if "." in value else int(value))
        if kind != "name":
            raise ExprError(f"unexpected {value!r} in expression {self.text!r}")
        if self.peek() != ("punct", "("):
            path_parts(value)  # checks the path now, not at the first record
            return PathRef(value)
        return self._call(value)

    def _call(self, name: str) -> Node:
        if name not in SIGNATURES:
            raise ExprError(
                f"unknown function {name!r}{did_you_mean(name, SIGNATURES)}; "
                f"available: {', '.join(SIGNATURES)}"
            )
        low, high = SIGNATURES[name]
        self.expect("(")
        args: list[Node] = []
        if self.peek() == ("punct", ")"):
            self.token()
        else:
            while True:
                args.append(self.parse())
                tok = self.token()
                if tok == ("punct", ")"):
                    break
                if tok != ("punct", ","):
                    raise ExprError(f"expected ',' or ')' in expression {self.text!r}")
        if not low <= len(args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            raise ExprError(f"{name}() takes {want} argument(s), got {len(args)}")
        if name == "attr" and len(args) == 1:
            args.insert(0, PathRef(ATTRIBUTES_PATH))
        if name == "e164" and len(args) == 1:
            args.append(PathRef(COUNTRY_PATH))
        return Call(name, tuple(args))


def parse_expr(text: str) -> Node:
    """The tree of a column expression or path; ExprError says what is wrong with it."""
    parser = _Parser(text)
    node = parser.parse()
    if parser.peek() is not None:
        raise ExprError(f"unexpected text after expression {text!r}")
    return node
