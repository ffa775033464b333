"""No import cycles anywhere in runner/, counting every import a reader can see: those
at the top of a module, those inside functions, and those under ``TYPE_CHECKING``.

The layer contracts (``make imports``) keep the packages in order; this test keeps
the modules inside each package in order too, where those contracts do not look.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

Graph = dict[str, set[str]]


def import_graph(package: str = "runner") -> Graph:
    """Each module of ``package`` and the modules of ``package`` it imports."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=False, cache_dir=None)
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle per group of modules that import each other (a strongly connected
    component, found with Tarjan's algorithm), each as ``[a, b, ..., a]``, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:  # recursion depth: at most the number of modules
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(_one_cycle(graph, group) for group in groups)


def _one_cycle(graph: Graph, group: set[str]) -> list[str]:
    """A shortest way from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        reached = []
        for node in frontier:
            for nxt in sorted(graph.get(node, set()) & group):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    reached.append(nxt)
        frontier = reached
    raise AssertionError(f"{sorted(group)} holds no cycle")


def test_runner_has_no_import_cycles() -> None:
    graph = import_graph()
    assert {"runner.cli.main", "runner.history.s3", "runner.formats.csv"} <= graph.keys()
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_bench_has_no_import_cycles() -> None:
    """bench.run imports bench.deep and bench.xlsx_memory, which share bench.common."""
    graph = import_graph("bench")
    assert {"bench.run", "bench.deep", "bench.common"} <= graph.keys()
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_a_cycle_through_a_function_and_type_checking_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "cyclic_example"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text(
        "def late():\n    from cyclic_example.second import VALUE\n    return VALUE\n"
    )
    (package / "second.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from cyclic_example import first\n"
        "VALUE = 1\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = import_graph("cyclic_example")
    assert cycles(graph) == [
        ["cyclic_example.first", "cyclic_example.second", "cyclic_example.first"]
    ]


def test_cycles_are_found_and_listed() -> None:
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},
        "d": set(),
        "e": {"e"},
        "f": {"g"},
        "g": {"f", "d"},
    }
    assert cycles(graph) == [["a", "b", "c", "a"], ["e", "e"], ["f", "g", "f"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
