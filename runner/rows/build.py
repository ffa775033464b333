"""Rows: records -> cells, by the segment's columns or a stable flattening.

Without ``output.columns`` a CSV gets every field of the platform's contact
object, flattened to dotted names in a fixed order (so the header is known
before the first page arrives), plus ``_extra``: the JSON of any field the
platform adds that is not in that list. Nothing is lost and the column order
never depends on the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from runner.rows.columns import Prefixes, compile_many, formula_safe, result_kind
from runner.rows.phones import Phones
from runner.spec.segment import Column

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

# What each known field holds, so typed formats (Parquet, XLSX) know a column's type
# before the first page: string, bool, int, float, timestamp (ISO-8601 text in the
# API), list (of strings) or json (objects and lists of objects, kept as JSON text).
KNOWN_KINDS: dict[str, str] = {
    **dict.fromkeys(KNOWN_FIELDS, "string"),
    **dict.fromkeys(("platform", "secondaryPlatform", "segments"), "list"),
    "profile.userDetails.tags": "list",
    **dict.fromkeys(
        ("isOnline", "userInteracted", "isContact", "isLiveChatActive", "isSubscriber"), "bool"
    ),
    "hasOrdered.status": "bool",
    **dict.fromkeys(
        ("lastMessage.at", "hasOrdered.lastAt", "lastSeenAt", "createdAt", "updatedAt"),
        "timestamp",
    ),
    "profile.userDetails.attributes": "json",
    "profile.notes": "json",
    "__v": "int",
    EXTRA: "json",
}


def path_kind(path: str) -> str:
    """The kind of a dotted path: a known field's, ``json`` for a known object, else ``any``.

    >>> path_kind("createdAt"), path_kind("profile.userDetails.contact.phone"), path_kind("x")
    ('timestamp', 'json', 'any')
    """
    if path in KNOWN_KINDS:
        return KNOWN_KINDS[path]
    if any(field.startswith(path + ".") for field in KNOWN_FIELDS):
        return "json"
    return "any"


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


class Rows(Protocol):
    """Records -> columns of plain values; what every format reads its cells from."""

    header: list[str]
    kinds: list[str]  # per column, see KNOWN_KINDS; "any" when only the data can tell
    formula_safe: list[bool]  # per column: no cell can start like a formula
    dropped: int  # records left out (a preset's rows with nothing to match on)

    @property
    def invalid_phones(self) -> int:
        """Phone numbers given but not valid (libphonenumber): left empty."""

    def columns(self, records: list[Any]) -> list[list[Any]]: ...


class RowBuilder:
    """Turn a page of records into one list of plain values (not yet strings) per column."""

    dropped = 0

    def __init__(self, columns: Sequence[Column] | None, phone_region: str = "") -> None:
        self.phones = Phones(phone_region)
        self.prefixes = Prefixes()
        if columns:
            self.header = [c.name for c in columns]
            self.manys = [compile_many(c.source, self.phones, self.prefixes) for c in columns]
            self.defaults = [c.default for c in columns]
            # A default is user text: it may need the guard even where the values do not.
            self.formula_safe = [formula_safe(c.source) and not c.default for c in columns]
            # A default is text: it makes a typed column hold strings as well.
            kinds = [result_kind(c.source, path_kind) for c in columns]
            self.kinds = [
                k if not c.default or k == "string" else "any"
                for k, c in zip(kinds, columns, strict=True)
            ]
            self.extra = False
        else:
            self.header = [*KNOWN_FIELDS, EXTRA]
            self.manys = [compile_many(p, prefixes=self.prefixes) for p in KNOWN_FIELDS]
            self.defaults = [""] * len(KNOWN_FIELDS)
            self.formula_safe = [False] * (len(KNOWN_FIELDS) + 1)
            self.kinds = [KNOWN_KINDS[name] for name in self.header]
            self.extra = True

    @property
    def invalid_phones(self) -> int:
        return self.phones.invalid

    def columns(self, records: list[Any]) -> list[list[Any]]:
        cols: list[list[Any]] = []
        self.prefixes.clear()
        for many, default in zip(self.manys, self.defaults, strict=True):
            col = many(records)
            if default:
                col = [default if v is None or v == "" else v for v in col]
            cols.append(col)
        if self.extra:
            cols.append([extra_fields(r) or None for r in records])
        self.prefixes.clear()  # the page's records are not kept past it
        return cols


# -- text cells (CSV, XLSX) ------------------------------------------------
def to_text(value: Any, list_separator: str) -> str:
    kind = type(value)
    if kind is str:
        text: str = value
        return text
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
