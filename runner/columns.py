"""Columns: dotted paths and small expressions, compiled once, applied per record.

A column is a dotted path (``profile.userDetails.contact.email``; a number
picks a list item: ``platform.0``) or an expression built from these
functions, whose arguments are paths, quoted strings or other calls:

``e164(path)``
    a phone ``{prefix, number}`` as E.164: ``+`` prefix digits, number digits
    without a trunk ``0``
``attr(key)`` / ``attr(path, key)``
    the value of a custom attribute (``profile.userDetails.attributes`` by default)
``join(path, sep)``, ``first(path)``, ``count(path)``
``coalesce(a, b, ...)``
    the first value that is not empty
``lower(x)``, ``upper(x)``, ``json(x)``

>>> getter = compile_expr("e164(contact.phone)")
>>> getter({"contact": {"phone": {"prefix": "91", "number": "09876"}}})
'+919876'
"""

from __future__ import annotations

import json as _json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Getter = Callable[[Any], Any]
ATTRIBUTES_PATH = "profile.userDetails.attributes"


class ExprError(ValueError):
    """An expression that does not parse or calls an unknown function."""


def compile_path(path: str) -> Getter:
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in path.split(".")]
    if any(p == "" for p in parts):
        raise ExprError(f"path {path!r} has an empty part")

    def get(record: Any) -> Any:
        value = record
        for part in parts:
            if isinstance(value, dict):
                value = value.get(part) if isinstance(part, str) else value.get(str(part))
            elif isinstance(value, list) and isinstance(part, int):
                value = value[part] if part < len(value) else None
            else:
                return None
            if value is None:
                return None
        return value

    if len(parts) == 1:
        key = parts[0]
        return lambda r: r.get(key) if isinstance(r, dict) else None
    if all(isinstance(p, str) for p in parts):
        return _fast_path(tuple(str(p) for p in parts), get)
    return get


Many = Callable[[list[Any]], list[Any]]
_ERRORS = (KeyError, TypeError, IndexError)


def compile_many(source: str) -> Many:
    """Like :func:`compile_expr`, for a whole page: one list per column.

    A plain path is read with subscripts in a list comprehension (no call per
    record); a page where one record lacks a part falls back to the per-record
    getter, which returns None for what is missing.
    """
    one = compile_expr(source)
    parts = source.split(".")
    if "(" in source or not all(p and not p.isdigit() for p in parts) or len(parts) > 4:
        return lambda records: [one(r) for r in records]
    if len(parts) == 1:
        (a,) = parts

        def many1(records: list[Any]) -> list[Any]:
            try:
                return [r[a] for r in records]
            except _ERRORS:
                return [one(r) for r in records]

        return many1
    if len(parts) == 2:
        a, b = parts

        def many2(records: list[Any]) -> list[Any]:
            try:
                return [r[a][b] for r in records]
            except _ERRORS:
                return [one(r) for r in records]

        return many2
    if len(parts) == 3:
        a, b, c = parts

        def many3(records: list[Any]) -> list[Any]:
            try:
                return [r[a][b][c] for r in records]
            except _ERRORS:
                return [one(r) for r in records]

        return many3
    a, b, c, d = parts

    def many4(records: list[Any]) -> list[Any]:
        try:
            return [r[a][b][c][d] for r in records]
        except _ERRORS:
            return [one(r) for r in records]

    return many4


def _fast_path(parts: tuple[str, ...], slow: Getter) -> Getter:
    """Plain subscripts for the common case (all parts present); ``slow`` otherwise."""
    errors = (KeyError, TypeError, IndexError)
    if len(parts) == 2:
        a, b = parts

        def get2(r: Any) -> Any:
            try:
                return r[a][b]
            except errors:
                return slow(r)

        return get2
    if len(parts) == 3:
        a, b, c = parts

        def get3(r: Any) -> Any:
            try:
                return r[a][b][c]
            except errors:
                return slow(r)

        return get3
    if len(parts) == 4:
        a, b, c, d = parts

        def get4(r: Any) -> Any:
            try:
                return r[a][b][c][d]
            except errors:
                return slow(r)

        return get4
    return slow


_NON_DIGITS = re.compile(r"\D+")


def _digits(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text if text.isdigit() else _NON_DIGITS.sub("", text)


def e164(phone: Any) -> str:
    if not isinstance(phone, dict):
        return ""
    number = _digits(phone.get("number")).lstrip("0")
    if not number:
        return ""
    prefix = _digits(phone.get("prefix"))
    return f"+{prefix}{number}" if prefix else number


def attr(items: Any, key: Any) -> Any:
    if type(items) is list:
        for item in items:
            if type(item) is dict and item.get("key") == key:
                return item.get("value")
    return None


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


FUNCTIONS: dict[str, tuple[int, int, Callable[..., Any]]] = {
    # name: (min args, max args, function)
    "e164": (1, 1, e164),
    "attr": (1, 2, attr),
    "join": (
        2,
        2,
        lambda v, sep: str(sep).join("" if x is None else str(x) for x in v)
        if isinstance(v, list)
        else v,
    ),
    "first": (1, 1, lambda v: (v[0] if v else None) if isinstance(v, list) else v),
    "count": (1, 1, lambda v: len(v) if isinstance(v, list | dict | str) else 0),
    "coalesce": (1, 16, lambda *vs: next((v for v in vs if not _empty(v)), None)),
    "lower": (1, 1, lambda v: v.lower() if isinstance(v, str) else v),
    "upper": (1, 1, lambda v: v.upper() if isinstance(v, str) else v),
    "json": (1, 1, lambda v: _json.dumps(v, ensure_ascii=False, separators=(",", ":"))),
}

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

    def parse(self) -> Getter:
        tok = self.token()
        if tok is None:
            raise ExprError("empty expression")
        kind, value = tok
        if kind == "str":
            literal = _json.loads('"' + value[1:-1].replace('"', '\\"') + '"') if value else ""
            return lambda _r: literal
        if kind == "num":
            number = float(value) if "." in value else int(value)
            return lambda _r: number
        if kind != "name":
            raise ExprError(f"unexpected {value!r} in expression {self.text!r}")
        if self.peek() != ("punct", "("):
            return compile_path(value)
        return self._call(value)

    def _call(self, name: str) -> Getter:
        if name not in FUNCTIONS:
            from runner.problems import did_you_mean

            raise ExprError(
                f"unknown function {name!r}{did_you_mean(name, FUNCTIONS)}; "
                f"available: {', '.join(FUNCTIONS)}"
            )
        low, high, func = FUNCTIONS[name]
        self.expect("(")
        args: list[Getter] = []
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
            args.insert(0, compile_path(ATTRIBUTES_PATH))
        if len(args) == 1:
            (one,) = args
            return lambda r: func(one(r))
        if len(args) == 2:
            first, second = args
            return lambda r: func(first(r), second(r))
        return lambda r: func(*(a(r) for a in args))


def compile_expr(text: str) -> Getter:
    """Compile a column expression or path into a function of one record."""
    parser = _Parser(text)
    getter = parser.parse()
    if parser.peek() is not None:
        raise ExprError(f"unexpected text after expression {text!r}")
    return getter
