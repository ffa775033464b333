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

from runner.loader import Document, Path_, dotted
from runner.problems import Problem, did_you_mean

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
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
    where = dotted(path)
    kind = error.validator
    schema = _schema_at(error)
    instance = error.instance
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(schema.get("properties", {}))
        if path == ("filter",):
            allowed = [k for k in allowed if k not in RUNNER_OWNED]
        for key in instance:
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
    elif kind == "required":
        missing = [k for k in error.validator_value if k not in instance]
        for key in missing:
            at = f" in {where}" if path else ""
            yield doc.problem(path, f"missing required key '{key}'{at}")
    elif kind == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        yield doc.problem(
            path, f"'{where}' must be {_article(wanted)}, got {_kind(instance)} {show(instance)}"
        )
    elif kind == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        hint = did_you_mean(str(instance), [str(c) for c in error.validator_value])
        yield doc.problem(
            path, f"'{where}' has invalid value {show(instance)}{hint}; valid choices: {choices}"
        )
    elif kind == "const":
        yield doc.problem(
            path, f"'{where}' must be {show(error.validator_value)}, got {show(instance)}"
        )
    elif kind == "pattern" and "propertyNames" in error.relative_schema_path:
        what = schema.get("description", f"match {error.validator_value}")
        yield doc.problem(
            (*path, instance),
            f"'{where}' has invalid key {show(instance)}: expected {what}",
            key=True,
        )
    elif kind == "pattern":
        what = schema.get("description", f"match {error.validator_value}")
        yield doc.problem(path, f"'{where}' has invalid value {show(instance)}: expected {what}")
    elif kind == "oneOf" and error.context:
        sub = _pick_branch(error)
        if sub is not None:
            yield from _convert(doc, base, sub)
        else:
            yield doc.problem(path, f"'{where}' is not valid: {error.message}")
    elif kind in _BOUNDS:
        yield doc.problem(
            path, f"'{where}' is {show(instance)}: {_BOUNDS[kind]} {error.validator_value}"
        )
    elif kind == "minLength":
        need = error.validator_value
        wanted = "must not be empty" if need == 1 else f"must be at least {need} characters"
        yield doc.problem(path, f"'{where}' {wanted}")
    elif kind == "uniqueItems":
        yield doc.problem(path, f"'{where}' lists the same value twice: {show(instance)}")
    else:
        yield doc.problem(path, f"'{where}': {error.message}")


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
    if isinstance(instance, str):
        return None
    return best_match(context)


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
