"""Columns: dotted paths and small expressions, compiled once, applied per record.

A column is a dotted path (``profile.userDetails.contact.email``; a number
picks a list item: ``platform.0``) or an expression built from these
functions, whose arguments are paths, quoted strings or other calls:

``e164(path)`` / ``e164(path, region)``
    a phone ``{prefix, number}`` (or a number as text) as E.164, by libphonenumber
    (:mod:`runner.rows.phones`); a number without a country code is read in the
    contact's ``profile.userDetails.country`` (or ``region``: a path or ``"GB"``);
    an invalid one is empty and counted
``attr(key)`` / ``attr(path, key)``
    the value of a custom attribute (``profile.userDetails.attributes`` by default)
``join(path, sep)``, ``first(path)``, ``count(path)``
``coalesce(a, b, ...)``
    the first value that is not empty
``lower(x)``, ``upper(x)``, ``json(x)``

The grammar is :mod:`runner.spec.expressions` (a segment's columns are checked
when it loads); this module compiles the parsed tree, per record or per page.

>>> getter = compile_expr("e164(contact.phone)")
>>> getter({"contact": {"phone": {"prefix": "91", "number": "098765 43210"}}})
'+919876543210'
"""

from __future__ import annotations

import json as _json
from collections.abc import Callable, Mapping
from typing import Any

from runner.rows.phones import Phones
from runner.spec.expressions import (
    SIGNATURES,
    Call,
    Literal,
    Node,
    PathRef,
    parse_expr,
    path_parts,
)

Getter = Callable[[Any], Any]


def compile_path(path: str) -> Getter:
    parts = path_parts(path)

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
    return get


Many = Callable[[list[Any]], list[Any]]
_ERRORS = (KeyError, TypeError, IndexError)


class Prefixes:
    """The columns of path prefixes already taken out of one page, shared by the
    columns that start alike (``profile.userDetails.name`` and ``.email`` walk
    ``profile`` and ``userDetails`` once). :meth:`clear` before each page."""

    def __init__(self) -> None:
        self.columns: dict[tuple[str, ...], list[Any]] = {}

    def clear(self) -> None:
        self.columns.clear()


def _many_path(path: str, prefixes: Prefixes | None = None) -> Many:
    """One column of a page: subscripts in list comprehensions, no call per record.

    A page where a record lacks a part (or a part is a list index) falls back to
    the per-record getter, which returns None for what is missing.
    """
    one = compile_path(path)
    parts = path.split(".")
    if any(p.isdigit() for p in parts):
        return lambda records: [one(r) for r in records]
    keys = [tuple(parts[: i + 1]) for i in range(len(parts))]
    shared = prefixes.columns if prefixes is not None else None

    def many(records: list[Any]) -> list[Any]:
        try:
            column = records
            for part, key in zip(parts, keys, strict=True):
                if shared is None:
                    column = [value[part] for value in column]
                elif (known := shared.get(key)) is not None:
                    column = known
                else:
                    column = shared[key] = [value[part] for value in column]
            return column
        except _ERRORS:
            return [one(r) for r in records]

    return many


def attr(items: Any, key: Any) -> Any:
    if type(items) is list:
        for item in items:
            if type(item) is dict and item.get("key") == key:
                return item.get("value")
    return None


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


# Functions whose result is never text a spreadsheet runs (a + and digits, a count).
FORMULA_SAFE = frozenset({"e164", "count"})

# e164 is each compile's own (it counts what it leaves out): see _functions.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "attr": attr,
    "join": lambda v, sep: str(sep).join("" if x is None else str(x) for x in v)
    if isinstance(v, list)
    else v,
    "first": lambda v: (v[0] if v else None) if isinstance(v, list) else v,
    "count": lambda v: len(v) if isinstance(v, list | dict | str) else 0,
    "coalesce": lambda *vs: next((v for v in vs if not _empty(v)), None),
    "lower": lambda v: v.lower() if isinstance(v, str) else v,
    "upper": lambda v: v.upper() if isinstance(v, str) else v,
    "json": lambda v: _json.dumps(v, ensure_ascii=False, separators=(",", ":")),
}
assert FUNCTIONS.keys() | {"e164"} == SIGNATURES.keys()  # the grammar and the compiler agree
Functions = Mapping[str, Callable[..., Any]]


def _functions(phones: Phones | None) -> Functions:
    return {**FUNCTIONS, "e164": (phones or Phones()).e164}


def _one(node: Node, funcs: Functions) -> Getter:
    if isinstance(node, Literal):
        value = node.value
        return lambda _r: value
    if isinstance(node, PathRef):
        return compile_path(node.path)
    func, getters = funcs[node.name], [_one(arg, funcs) for arg in node.args]
    if len(getters) == 1:
        (only,) = getters
        return lambda r: func(only(r))
    return lambda r: func(*[get(r) for get in getters])


def _many(node: Node, funcs: Functions, prefixes: Prefixes | None) -> Many:
    if isinstance(node, Literal):
        value = node.value
        return lambda records: [value] * len(records)
    if isinstance(node, PathRef):
        return _many_path(node.path, prefixes)
    func, columns = funcs[node.name], [_many(arg, funcs, prefixes) for arg in node.args]
    if len(columns) == 1:
        (only,) = columns
        return lambda records: [func(v) for v in only(records)]
    first, second = node.args[:2] if len(node.args) == 2 else (None, None)
    if isinstance(second, Literal) and not isinstance(first, Literal):
        # attr(path, "key"), join(path, ", "): the constant bound once, not zipped per record.
        values, constant = columns[0], second.value
        return lambda records: [func(v, constant) for v in values(records)]
    return lambda records: [func(*row) for row in zip(*[c(records) for c in columns], strict=True)]


def compile_expr(text: str, phones: Phones | None = None) -> Getter:
    """Compile a column expression or path into a function of one record; ``phones``
    normalises (and counts) what ``e164()`` reads."""
    return _one(parse_expr(text), _functions(phones))


def compile_many(text: str, phones: Phones | None = None, prefixes: Prefixes | None = None) -> Many:
    """Like :func:`compile_expr`, for a whole page at once: records -> one column;
    ``phones`` as there. Columns compiled with one ``prefixes`` share the walk down
    common path prefixes (its owner clears it before each page); the lists they return
    are then shared too."""
    return _many(parse_expr(text), _functions(phones), prefixes)


# What each function returns: a kind (see ``runner.rows.KNOWN_KINDS``), or None when it
# depends on the arguments.
_RESULT_KINDS: dict[str, str | None] = {
    "e164": "string",
    "join": "string",
    "lower": "string",
    "upper": "string",
    "json": "string",
    "count": "int",
    "attr": "any",
    "first": None,
    "coalesce": None,
}


def _kind(node: Node, path_kind: Callable[[str], str]) -> str:
    if isinstance(node, Literal):
        return {str: "string", int: "int", float: "float"}.get(type(node.value), "any")
    if isinstance(node, PathRef):
        return path_kind(node.path)
    known = _RESULT_KINDS.get(node.name, "any")
    if known is not None:
        return known
    kinds = {_kind(arg, path_kind) for arg in node.args}
    if node.name == "first":
        # The first item of a list of strings is a string; of anything else, anything.
        return "string" if kinds <= {"list", "string"} else "any"
    return kinds.pop() if len(kinds) == 1 else "any"  # coalesce: the arguments agree


def result_kind(text: str, path_kind: Callable[[str], str]) -> str:
    """The kind of value an expression gives, known before any record is read.

    >>> result_kind("count(tags)", lambda p: "list"), result_kind("coalesce(a, b)", lambda p: "int")
    ('int', 'int')
    """
    return _kind(parse_expr(text), path_kind)


def formula_safe(text: str) -> bool:
    """Whether the expression's cells can never start like a spreadsheet formula."""
    node = parse_expr(text)
    return isinstance(node, Call) and node.name in FORMULA_SAFE
