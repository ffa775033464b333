"""JSON Schema checks that speak the user's language.

The schemas in ``schemas/`` are the single source of truth for editors and for
the runner. Each has a stable ``$id`` (``SCHEMA_BASE`` + its file name) and
refers to the others by file name, so a ``$ref`` resolves the same way by
``$id`` (a registry, ajv) and relative to the file (an editor, check-jsonschema
with ``--base-uri``). Errors from :mod:`jsonschema` are turned into
:class:`Problem` values that name the key, the bad value and the allowed values.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from runner.problems import Problem, did_you_mean
from runner.spec.loader import Document, Path_, dotted

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
SCHEMA_BASE = "https://segment-runner.dev/schemas/"
FILTER_SCHEMA = "inbox-users-filter.schema.json"
SEGMENT_SCHEMA = "segment.schema.json"
RUNNER_SCHEMA = "runner.schema.json"
RUNNER_OWNED = {
    "page": "is set by the runner for every page",
    "isExport": 'is always "none" and is set by the runner',
}


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMA_DIR / name).read_text("utf-8"))
    return data


def schema_id(name: str) -> str:
    """The ``$id`` of schema file ``name``."""
    return SCHEMA_BASE + name


@functools.cache
def _registry() -> Registry[Any]:
    resources = [
        (
            schema_id(name),
            Resource.from_contents(load_schema(name), default_specification=DRAFT202012),
        )
        for name in (FILTER_SCHEMA, SEGMENT_SCHEMA, RUNNER_SCHEMA)
    ]
    return Registry().with_resources(resources)


@functools.cache
def validator(name: str, pointer: str = "") -> Draft202012Validator:
    schema: dict[str, Any] = (
        {"$ref": f"{schema_id(name)}#{pointer}"} if pointer else load_schema(name)
    )
    return Draft202012Validator(schema, registry=_registry())


def filter_defaults() -> dict[str, Any]:
    """The documented sample body: every field at its default."""
    props = load_schema(FILTER_SCHEMA)["properties"]
    return {key: json.loads(json.dumps(spec["default"])) for key, spec in props.items()}


def toggle_names() -> list[str]:
    names: list[str] = load_schema(FILTER_SCHEMA)["$defs"]["toggleName"]["enum"]
    return names


def show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_NAMES = {
    dict: "mapping",
    list: "list",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def _kind(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _schema_at(error: ValidationError) -> dict[str, Any]:
    return error.schema if isinstance(error.schema, dict) else {}


def _convert(doc: Document, base: Path_, error: ValidationError) -> Iterator[Problem]:
    path: Path_ = (*base, *error.absolute_path)
    kind = error.validator
    instance = error.instance
    if kind == "additionalProperties" and isinstance(instance, dict):
        yield from _unknown_keys(doc, path, error)
    elif kind == "required":
        missing = [k for k in error.validator_value if k not in instance]
        for key in missing:
            at = f" in {dotted(path)}" if path else ""
            yield doc.problem(path, f"missing required key '{key}'{at}")
    elif kind == "pattern" and "propertyNames" in error.relative_schema_path:
        what = _schema_at(error).get("description", f"match {error.validator_value}")
        yield doc.problem(
            (*path, instance),
            f"'{dotted(path)}' has invalid key {show(instance)}: expected {what}",
            key=True,
        )
    elif kind == "oneOf" and error.context:
        sub = _pick_branch(error)
        if sub is not None:
            yield from _convert(doc, base, sub)
        else:
            yield doc.problem(path, f"'{dotted(path)}' is not valid: {error.message}")
    else:
        yield doc.problem(path, f"'{dotted(path)}'{_wrong_value(error)}")


def _unknown_keys(doc: Document, path: Path_, error: ValidationError) -> Iterator[Problem]:
    allowed = sorted(_schema_at(error).get("properties", {}))
    if path == ("filter",):
        allowed = [k for k in allowed if k not in RUNNER_OWNED]
    for key in error.instance:
        if key in allowed:
            continue
        hint = did_you_mean(key, allowed)
        where_parent = f"in {dotted(path)}" if path else "at the top level"
        message = f"unknown key '{key}' {where_parent}{hint}"
        if not hint:
            message += f"; allowed keys: {', '.join(allowed)}"
        if path[:1] == ("filter",):
            message += " (the API ignores unknown filters, which would widen the audience)"
        yield doc.problem((*path, key), message, key=True)


def _wrong_value(error: ValidationError) -> str:
    """What is wrong with one value, as the end of a message that starts with its key."""
    kind, instance, expected = error.validator, error.instance, error.validator_value
    if kind == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        return f" must be {_article(wanted)}, got {_kind(instance)} {show(instance)}"
    if kind == "enum":
        choices = ", ".join(str(c) for c in expected)
        hint = did_you_mean(str(instance), [str(c) for c in expected])
        return f" has invalid value {show(instance)}{hint}; valid choices: {choices}"
    if kind == "const":
        return f" must be {show(expected)}, got {show(instance)}"
    if kind == "pattern":
        what = _schema_at(error).get("description", f"match {expected}")
        return f" has invalid value {show(instance)}: expected {what}"
    if kind in _BOUNDS:
        return f" is {show(instance)}: {_BOUNDS[kind]} {expected}"
    if kind == "minLength":
        return " must not be empty" if expected == 1 else f" must be at least {expected} characters"
    if kind == "uniqueItems":
        return f" lists the same value twice: {show(instance)}"
    return f": {error.message}"


_BOUNDS = {
    "minimum": "it must be at least",
    "maximum": "it must be at most",
    "exclusiveMinimum": "it must be more than",
    "exclusiveMaximum": "it must be less than",
}


def _pick_branch(error: ValidationError) -> ValidationError | None:
    instance = error.instance
    context = list(error.context or [])
    if isinstance(instance, dict):
        # Prefer the branch whose distinguishing key the user wrote.
        for marker in ("expr", "path"):
            if marker in instance:
                branch = [e for e in context if e.relative_schema_path[0] == _branch_index(marker)]
                if branch:
                    return best_match(branch)
    # A branch for another kind of value ("must be a string, got mapping") says nothing
    # about the value written: judge it by the branches of its own kind.
    fitting = [e for e in context if list(e.relative_schema_path)[1:] != ["type"]]
    branches = {e.relative_schema_path[0] for e in fitting}
    if isinstance(instance, str):
        return best_match(fitting) if len(branches) == 1 else None
    return best_match(fitting or context)


def _branch_index(marker: str) -> int:
    return {"path": 1, "expr": 2}[marker]


def _article(word: str) -> str:
    names = {"object": "mapping", "array": "list"}
    word = names.get(word, word)
    return ("an " if word[:1] in "aeiou" else "a ") + word


def check(doc: Document, schema: str, *, data: Any = None, base: Path_ = ()) -> list[Problem]:
    """Validate ``data`` (default: the document's data) and return problems, sorted."""
    instance = doc.data if data is None else data
    errors = validator(schema).iter_errors(instance)
    problems = {p for err in errors for p in _convert(doc, base, err)}
    return sorted(problems, key=lambda p: (p.line, p.col, p.message))
