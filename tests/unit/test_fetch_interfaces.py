"""The fetcher drives every paging strategy, concurrency limit and request through their
interfaces (runner/fetch/paging.py, retry.Slots): no code in runner/fetch asks which
kind of fetch object it holds (issue 25 item 3).

A *type dispatch* is ``isinstance``/``issubclass``/``type(x) is`` or a ``match`` class
pattern naming a class defined in runner.fetch, or ``getattr``/``hasattr`` reading an
attribute by name. Checks on data values (a reply's JSON is a dict, a failure is
Retryable) name builtins or exceptions and stay allowed.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import runner.fetch
from tests.conftest import ROOT

FETCH = ROOT / "runner" / "fetch"
CHECKS = {"isinstance", "issubclass"}
LOOKUPS = {"getattr", "hasattr"}
# getattr on objects that are not the fetch's own, where a missing attribute is the
# point: thread-local storage not set yet in this thread, urllib3's connection socket.
ALLOWED_LOOKUPS = {"self._local", "_current", "conn"}


def fetch_classes() -> set[str]:
    """The names of the classes runner.fetch defines, exceptions left out."""
    names = set()
    for info in pkgutil.walk_packages(runner.fetch.__path__, "runner.fetch."):
        module = importlib.import_module(info.name)
        for name, value in inspect.getmembers(module, inspect.isclass):
            if value.__module__ == module.__name__ and not issubclass(value, BaseException):
                names.add(name)
    return names


def _named(node: ast.AST) -> set[str]:
    """The class names an expression mentions (``A``, ``m.A``, ``(A, B)``, ``A | B``)."""
    return {
        n.id if isinstance(n, ast.Name) else n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Name | ast.Attribute)
    }


def _dispatches(node: ast.AST, classes: set[str]) -> bool:
    """Whether ``node`` asks which kind of fetch object it holds."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        called, args = node.func.id, node.args
        checked = called in CHECKS and len(args) == 2 and bool(_named(args[1]) & classes)
        looked_up = (
            called in LOOKUPS
            and len(args) >= 2
            and isinstance(args[1], ast.Constant)
            and ast.unparse(args[0]) not in ALLOWED_LOOKUPS
        )
        return checked or looked_up
    if isinstance(node, ast.Compare) and isinstance(node.left, ast.Call):
        left = node.left.func
        typed = isinstance(left, ast.Name) and left.id == "type"
        return typed and any(_named(c) & classes for c in node.comparators)
    return isinstance(node, ast.MatchClass) and bool(_named(node.cls) & classes)


def type_dispatches(source: str, classes: set[str], name: str = "t.py") -> list[str]:
    """``name:line: what`` for each type dispatch on a fetch object in ``source``."""
    return [
        f"{name}:{getattr(node, 'lineno', 0)}: {ast.unparse(node)}"
        for node in ast.walk(ast.parse(source, name))
        if _dispatches(node, classes)
    ]


def test_the_fetch_classes_are_found_and_exceptions_left_out() -> None:
    classes = fetch_classes()
    expected = {"Windows", "PageNumbers", "PageRequest", "WindowRequest", "Adaptive", "InFlight"}
    assert expected <= classes
    assert not {"Retryable", "OutOfOrder"} & classes


def test_no_code_in_fetch_asks_which_kind_of_object_it_holds() -> None:
    classes = fetch_classes()
    found = [
        hit
        for path in sorted(FETCH.rglob("*.py"))
        for hit in type_dispatches(
            path.read_text("utf-8"), classes, path.relative_to(ROOT).as_posix()
        )
    ]
    assert not found, "say it in the interface instead:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "count"),
    [
        ("isinstance(self.paging, Windows)", 1),
        ("assert isinstance(request, (WindowRequest, PageRequest))", 1),
        ("isinstance(x, strategy.Windows | int)", 1),
        ("issubclass(kind, PageNumbers)", 1),
        ("getattr(self.paging, 'ordered', True)", 1),
        ("hasattr(paging, 'passed')", 1),
        ("type(self.in_flight) is Adaptive", 1),
        ("match paging:\n    case Windows(): pass", 1),
        ("isinstance(value, dict) and isinstance(key, str | int)", 0),
        ("isinstance(future.exception(), Retryable)", 0),
        ("getattr(self._local, 'ticket', None)", 0),
        ("type(value) is list", 0),
    ],
)
def test_the_check_tells_a_type_dispatch_from_a_data_check(source: str, count: int) -> None:
    classes = {"Windows", "PageNumbers", "PageRequest", "WindowRequest", "Adaptive"}
    assert len(type_dispatches(source, classes)) == count


def test_the_check_reads_the_tree_it_is_given(tmp_path: Path) -> None:
    # What the fetcher did before: a paging object asked whether it was windows.
    path = tmp_path / "fetcher.py"
    path.write_text("if not getattr(self.paging, 'ordered', True):\n    pass\n", "utf-8")
    assert type_dispatches(path.read_text("utf-8"), set(), "fetcher.py") == [
        "fetcher.py:1: getattr(self.paging, 'ordered', True)"
    ]
