"""Rows: records -> cells, by the segment's columns or a stable flattening.

Without ``output.columns`` a CSV gets every field of the platform's contact
object, flattened to dotted names in a fixed order (so the header is known
before the first page arrives), plus ``_extra``: the JSON of any field the
platform adds that is not in that list. Nothing is lost and the column order
never depends on the data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

from runner.columns import compile_many, formula_safe
from runner.spec import Column

KNOWN_FIELDS: tuple[str, ...] = (
    "_id",
    "_customer",
    "_bot",
    "_agentAssigned",
    "platform",
    "secondaryPlatform",
    "isOnline",
    "userInteracted",
    "isContact",
    "isLiveChatActive",
    "isSubscriber",
    "status",
    "profile.userDetails.name",
    "profile.userDetails.userProvidedName",
    "profile.userDetails.contact.email",
    "profile.userDetails.contact.phone.prefix",
    "profile.userDetails.contact.phone.number",
    "profile.userDetails.tags",
    "profile.userDetails.attributes",
    "profile.userDetails.country",
    "profile.userDetails.city",
    "profile.userDetails.gender",
    "profile.notes",
    "lastMessage.by",
    "lastMessage.at",
    "lastMessage.text",
    "segments",
    "hasOrdered.status",
    "hasOrdered.lastAt",
    "lastSeenAt",
    "createdAt",
    "updatedAt",
    "__v",
)
EXTRA = "_extra"


def _tree(paths: Sequence[str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = None  # a leaf: taken whole
    return tree


_KNOWN_TREE = _tree(KNOWN_FIELDS)


def extra_fields(record: Any, tree: dict[str, Any] = _KNOWN_TREE) -> dict[str, Any]:
    """The parts of ``record`` that no known column covers."""
    if not isinstance(record, dict):
        return {}
    extra: dict[str, Any] = {}
    for key, value in record.items():
        if key not in tree:
            extra[key] = value
        elif tree[key] is not None:
            inner = extra_fields(value, tree[key])
            if inner:
                extra[key] = inner
    return extra


class RowBuilder:
    """Turn a page of records into one list of plain values (not yet strings) per column."""

    def __init__(self, columns: Sequence[Column] | None) -> None:
        if columns:
            self.header = [c.name for c in columns]
            self.manys = [compile_many(c.source) for c in columns]
            self.defaults = [c.default for c in columns]
            # A default is user text: it may need the guard even where the values do not.
            self.formula_safe = [formula_safe(c.source) and not c.default for c in columns]
            self.extra = False
        else:
            self.header = [*KNOWN_FIELDS, EXTRA]
            self.manys = [compile_many(p) for p in KNOWN_FIELDS]
            self.defaults = [""] * len(KNOWN_FIELDS)
            self.formula_safe = [False] * (len(KNOWN_FIELDS) + 1)
            self.extra = True

    def columns(self, records: list[Any]) -> list[list[Any]]:
        cols: list[list[Any]] = []
        for many, default in zip(self.manys, self.defaults, strict=True):
            col = many(records)
            if default:
                col = [default if v is None or v == "" else v for v in col]
            cols.append(col)
        if self.extra:
            cols.append([extra_fields(r) or None for r in records])
        return cols


# -- text cells (CSV) -----------------------------------------------------
_DANGER = frozenset("=+-@\t\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_PHONE = re.compile(r"\+\d[\d ]{4,}")


def guard_formula(text: str) -> str:
    """Neutralise a cell Excel would run as a formula; keep numbers and phone numbers.

    >>> guard_formula("=1+1"), guard_formula("+447911123456"), guard_formula("-12.5")
    ("'=1+1", '+447911123456', '-12.5')
    """
    if text and text[0] in _DANGER and not (_NUMBER.fullmatch(text) or _PHONE.fullmatch(text)):
        return "'" + text
    return text


def to_text(value: Any, list_separator: str) -> str:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return ""
    if kind is list:
        try:
            return list_separator.join(value)  # the common case: a list of strings
        except TypeError:
            if all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
                return list_separator.join(str(v) for v in value)
            return orjson.dumps(value).decode("utf-8")
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int or kind is float:
        return str(value)
    return orjson.dumps(value).decode("utf-8")
