"""Destinations are told apart by their interface only (:mod:`runner.sinks.base`): no
code in runner/ asks which kind of destination, upload or output root it holds, and
``type: ignore`` stays rare (issue 25's targets)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

# The kinds a caller could be tempted to tell apart.
KINDS = {
    "LocalDestination",
    "S3Destination",
    "PartsDestination",
    "LocalUpload",
    "S3Upload",
    "LocalParts",
    "S3Parts",
    "LocalRoot",
    "S3Root",
    "PartsUpload",
    "DiscardUpload",
    "PartSink",  # the formats' view of a set's upload: Upload.part_writer() says it
    "PartWriter",
}
# Attributes only one kind has: reading them by name is asking which kind it is.
ONE_KIND_ATTRIBUTES = {
    "scheme",
    "root",
    "bucket",
    "client",
    "target",
    "location",
    "parts",
    "shown_manifest",
}
MAX_TYPE_IGNORES = 3


def _names(node: ast.expr) -> set[str]:
    """Every name in ``node`` (``a.b.C | D``: a, b, C, D)."""
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            found.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            found.add(sub.attr)
    return found


def type_dispatches(source: str, name: str = "<source>", sinks: bool = True) -> list[str]:
    """``isinstance``/``issubclass`` on a destination kind and ``getattr`` of an attribute
    one kind has in ``source``; in a destination module (``sinks``) also ``getattr`` of
    a computed name and ``__getattr__`` forwarding: one line each."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if sinks and isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            found.append(f"{name}:{node.lineno}: __getattr__ forwards to another object")
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        func, args = node.func.id, node.args
        if func in ("isinstance", "issubclass") and len(args) == 2 and _names(args[1]) & KINDS:
            found.append(f"{name}:{node.lineno}: {func} on {ast.unparse(args[1])}")
        if func in ("getattr", "hasattr") and len(args) >= 2:
            key = args[1]
            computed = not isinstance(key, ast.Constant)
            if (computed and sinks) or (not computed and key.value in ONE_KIND_ATTRIBUTES):
                found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    return found


def _runner_sources() -> list[Path]:
    return sorted((ROOT / "runner").rglob("*.py"))


@pytest.mark.parametrize(
    "source",
    [
        "if isinstance(dest, LocalDestination): pass",
        "assert isinstance(up, sinks.s3.S3Upload)",
        "ok = isinstance(root, LocalRoot | S3Root)",
        "shown = getattr(dest, 'scheme', 'file')",
        "getattr(placement, action)()",
        "class P:\n    def __getattr__(self, name): return getattr(self.base, name)",
    ],
)
def test_the_check_finds_each_kind_of_dispatch(source: str) -> None:
    assert type_dispatches(source)


@pytest.mark.parametrize(
    "source",
    [
        "if isinstance(value, str): pass",
        "fields = getattr(self, 'rows')",
        "dest.open('text/csv')",
    ],
)
def test_the_check_leaves_other_code_alone(source: str) -> None:
    assert not type_dispatches(source)


def test_no_code_in_runner_tells_destinations_apart_by_type() -> None:
    found = []
    for path in _runner_sources():
        name = path.relative_to(ROOT).as_posix()
        sinks = name.startswith("runner/sinks/")
        found += type_dispatches(path.read_text("utf-8"), name, sinks)
    assert not found, "ask the Destination/Upload interface instead:\n" + "\n".join(found)


def test_type_ignores_in_runner_stay_at_most_three() -> None:
    marker = re.compile(r"#\s*type:\s*ignore")
    found = [
        f"{path.relative_to(ROOT).as_posix()}:{number}"
        for path in _runner_sources()
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if marker.search(line)
    ]
    assert len(found) <= MAX_TYPE_IGNORES, "type the code instead:\n" + "\n".join(found)
