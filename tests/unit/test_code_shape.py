"""The code stays in pieces a reader can hold: no module over 400 lines, no function
over 60, no class over 150, in runner/ (sandbox included), runner_airflow/ and bench/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

MODULE_LINES = 400
FUNCTION_LINES = 60
CLASS_LINES = 150
FOLDERS = ("runner", "runner_airflow", "bench")


def _sources() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


def oversized(path: Path, root: Path = ROOT) -> list[tuple[str, str]]:
    """``(key, description)`` for each part of ``path`` over its limit."""
    text = path.read_text("utf-8")
    name = path.relative_to(root).as_posix()
    found = []
    lines = len(text.splitlines())
    if lines > MODULE_LINES:
        found.append((f"{name}: module", f"{name}: {lines} lines (at most {MODULE_LINES})"))
    for node in ast.walk(ast.parse(text, name)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            kind, limit = (
                ("class", CLASS_LINES)
                if isinstance(node, ast.ClassDef)
                else ("function", FUNCTION_LINES)
            )
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            if size > limit:
                found.append(
                    (
                        f"{name}: {kind} {node.name}",
                        f"{name}:{node.lineno}: {kind} {node.name} is {size} lines "
                        f"(at most {limit})",
                    )
                )
    return found


def test_the_sources_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in _sources()}
    assert {"runner/cli/main.py", "runner/sandbox/server.py", "bench/run.py"} <= names


def test_no_module_function_or_class_is_too_long() -> None:
    found = [text for path in _sources() for _, text in oversized(path)]
    assert not found, "split these:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n" + "    x = 1\n" * 60, ["t.py: function f"]),
        ("def f():\n" + "    x = 1\n" * 59, []),
        ("class C:\n" + "    x = 1\n" * 150, ["t.py: class C"]),
        ("x = 1\n" * 401, ["t.py: module"]),
    ],
)
def test_the_measure_counts_lines(tmp_path: Path, source: str, expected: list[str]) -> None:
    path = tmp_path / "t.py"
    path.write_text(source, "utf-8")
    assert [key for key, _ in oversized(path, tmp_path)] == expected
