"""The contact's documented shape, and the column paths that stay inside it.

``schemas/contact.schema.json`` is the one description of a contact (the object
docs/flowmatix-api.md shows). A column path that leaves it reads nothing, so the
column would be empty in every row of every export: :func:`path_problem` says so
when the segment is validated, with the nearest documented path. A path that
goes into a list needs an item number (``platform.0``, ``profile.notes.0.title``);
a path past a leaf (``...contact.email.address``) reads nothing either. A column
that reads a field the documentation does not list says ``unchecked: true``.

>>> path_problem("profile.userDetails.contact.email") is None
True
>>> print(path_problem("profile.userDetails.contact.emial").split(" (")[0])
'profile.userDetails.contact' has no field 'emial'
>>> print(path_problem("platform.first"))
'platform' is a list: pick an item by its number, such as 'platform.0'
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterator, Mapping
from typing import Any

from runner.spec import schema
from runner.spec.expressions import Call, ExprError, Node, PathRef, parse_expr

CONTACT_SCHEMA = "contact.schema.json"
UNCHECKED = "unchecked"  # the column key that lets a path leave the documented shape

Shape = Mapping[str, Any]


@functools.cache
def _root() -> Shape:
    return schema.load_schema(CONTACT_SCHEMA)


def _resolve(node: Shape) -> Shape:
    """``node`` with a local ``$ref`` (``#/$defs/name``) followed."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: Shape = _root()["$defs"][ref.removeprefix("#/$defs/")]
        return resolved
    return node


def _kind(node: Shape) -> str:
    """``object``, ``array``, ``any`` (no type: anything may lie under it) or the leaf's type."""
    if "properties" in node:
        return "object"
    kind = node.get("type")
    if kind is None:
        return "any"
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    return str(kind)


def _walk(parts: list[str]) -> tuple[int, Shape, str | None]:
    """How far ``parts`` go into the shape: (parts matched, the node reached, why it stopped)."""
    node = _resolve(_root())
    for done, part in enumerate(parts):
        kind = _kind(node)
        where = ".".join(parts[:done])
        if kind == "any":
            return len(parts), node, None
        if kind == "array":
            if not part.isdigit():
                return (
                    done,
                    node,
                    (f"'{where}' is a list: pick an item by its number, such as '{where}.0'"),
                )
            node = _resolve(node.get("items", {}))
            continue
        if kind == "object":
            fields: Mapping[str, Any] = node["properties"]
            if part not in fields:
                owner = f"'{where}'" if where else "the contact"
                return done, node, f"{owner} has no field '{part}'"
            node = _resolve(fields[part])
            continue
        return done, node, f"'{where}' is a {kind} value: there is nothing under it"
    return len(parts), node, None


def documented_paths() -> Iterator[str]:
    """Every documented field as a dotted path (a list's items as ``.0``)."""

    def visit(node: Shape, prefix: str) -> Iterator[str]:
        node = _resolve(node)
        kind = _kind(node)
        if prefix:
            yield prefix
        if kind == "object":
            for name, inner in node["properties"].items():
                yield from visit(inner, f"{prefix}.{name}" if prefix else name)
        elif kind == "array":
            yield from visit(node.get("items", {}), f"{prefix}.0")

    return visit(_root(), "")


def _nearest(path: str) -> str | None:
    """The documented path most like ``path`` (case and spelling), or None."""
    known = list(documented_paths())
    lowered = {p.lower(): p for p in known}
    if path.lower() in lowered:
        return lowered[path.lower()]
    close = difflib.get_close_matches(path, known, n=1, cutoff=0.8)
    if close:
        return close[0]
    last = path.rsplit(".", 1)[-1].lower()  # 'tags' -> 'profile.userDetails.tags'
    same_name = [p for p in known if p.rsplit(".", 1)[-1].lower() == last]
    return same_name[0] if len(same_name) == 1 else None


def path_problem(path: str) -> str | None:
    """Why ``path`` reads nothing from a documented contact, with the nearest path; or None."""
    parts = path.split(".")
    _, node, why = _walk(parts)
    if why is None:
        return None
    near = _nearest(path)
    hint = f" (did you mean '{near}'?)" if near and near != path else ""
    fields = ""
    if _kind(node) == "object":
        fields = "; its fields: " + ", ".join(node["properties"])
    return f"{why}{hint}{fields}"


def paths_of(node: Node) -> Iterator[str]:
    """The paths an expression reads, in order."""
    if isinstance(node, PathRef):
        yield node.path
    elif isinstance(node, Call):
        for arg in node.args:
            yield from paths_of(arg)


def source_problem(source: str, *, unchecked: bool = False) -> str | None:
    """Why a column's path or expression cannot be used, or reads nothing from a documented
    contact (unless ``unchecked``); None when it is fine.

    >>> print(source_problem("e164(profile.userDetails.contact.fone)").split(": ")[0])
    'profile.userDetails.contact.fone' reads nothing
    """
    try:
        node = parse_expr(source)
    except ExprError as exc:
        return str(exc)
    except (RecursionError, MemoryError):  # the parser's own stack, not a bug of ours
        return "the expression is nested too deeply"
    if unchecked:
        return None
    for path in paths_of(node):
        why = path_problem(path)
        if why:
            return (
                f"{path!r} reads nothing: {why}; a field the documented contact "
                f"(docs/flowmatix-api.md) does not list needs '{UNCHECKED}: true' on the column"
            )
    return None
