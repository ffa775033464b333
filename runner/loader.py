"""Safe YAML loading that remembers where every value came from.

``load_yaml(text, file)`` returns a :class:`Document`: plain Python data plus a
map from each value's path (a tuple of keys and indexes) to its line and
column, so later checks can point at ``file:line:col``.

Only YAML's safe tags are understood; timestamps stay strings (the API wants
strings), duplicate keys are errors, merge keys are refused, and a document
that expands aliases into more than ``MAX_NODES`` values is refused before it
is built (the "billion laughs" attack).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from runner.problems import Problem

Path_ = tuple[str | int, ...]
MAX_NODES = 20_000
MAX_BYTES = 1_000_000


class _Loader(yaml.SafeLoader):
    """SafeLoader without the implicit timestamp type: dates stay strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class Document:
    file: str
    data: Any
    # path -> (line, col) of the value, and of the key for mapping entries
    value_pos: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_pos: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """Line and column for ``path``, falling back to the nearest parent."""
        table = self.key_pos if key else self.value_pos
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.value_pos:
                return self.value_pos[probe]
            probe = probe[:-1]
        return self.value_pos.get((), (1, 1))

    def problem(self, path: Path_, message: str, *, key: bool = False) -> Problem:
        line, col = self.where(path, key=key)
        return Problem(self.file, line, col, message)


class _Builder:
    def __init__(self, doc: Document, loader: _Loader) -> None:
        self.doc = doc
        self.loader = loader
        self.count = 0
        self.problems: list[Problem] = []

    def _at(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def build(self, node: yaml.Node, path: Path_, active: frozenset[int]) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(node)
        self.doc.value_pos[path] = self._at(node)
        if id(node) in active:
            raise _Recursive(node)
        if node.tag not in _STANDARD_TAGS:
            raise _BadTag(node)
        if isinstance(node, yaml.ScalarNode):
            return self.loader.construct_object(node, deep=True)
        active = active | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), active) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                line, col = self._at(key_node)
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.problems.append(
                        Problem(self.doc.file, line, col, "merge keys ('<<') are not supported")
                    )
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problems.append(
                        Problem(self.doc.file, line, col, "mapping keys must be plain strings")
                    )
                    continue
                key = str(key_node.value)
                if key in out:
                    first_line = self.doc.key_pos[(*path, key)][0]
                    self.problems.append(
                        Problem(
                            self.doc.file,
                            line,
                            col,
                            f"duplicate key '{key}' (first defined on line {first_line})",
                        )
                    )
                    continue
                self.doc.key_pos[(*path, key)] = (line, col)
                out[key] = self.build(value_node, (*path, key), active)
            return out
        raise _Unsupported(node)  # pragma: no cover - compose yields only these three


_STANDARD_TAGS = {
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "seq", "map", "binary")
} - {"tag:yaml.org,2002:binary"}


class _TooBig(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


class _Recursive(_TooBig):
    pass


class _Unsupported(_TooBig):
    pass


class _BadTag(_TooBig):
    pass


def load_yaml(text: str, file: str) -> tuple[Document | None, list[Problem]]:
    """Parse one YAML document; return it (or None) and the problems found.

    >>> doc, problems = load_yaml("name: vip\\n", "x.yaml")
    >>> doc.data, doc.where(("name",)), problems
    ({'name': 'vip'}, (1, 7), [])
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None, [Problem(file, 1, 1, f"file is larger than {MAX_BYTES} bytes")]
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        if "\t" in text and "cannot start any token" in (exc.problem or ""):
            message += " (tabs are not allowed for indentation; use spaces)"
        return None, [Problem(file, line, col, f"invalid YAML: {message}")]
    except yaml.YAMLError as exc:
        return None, [Problem(file, 1, 1, f"invalid YAML: {exc}")]
    finally:
        loader.dispose()
    if node is None:
        return None, [Problem(file, 1, 1, "file is empty: expected a mapping of segment keys")]
    doc = Document(file, None)
    builder = _Builder(doc, loader)
    try:
        doc.data = builder.build(node, (), frozenset())
    except _BadTag as exc:
        line, col = builder._at(exc.node)
        return None, [Problem(file, line, col, f"unsupported YAML tag {exc.node.tag!r}")]
    except _Recursive as exc:
        line, col = builder._at(exc.node)
        return None, [Problem(file, line, col, "recursive alias: an anchor refers to itself")]
    except _TooBig as exc:
        line, col = builder._at(exc.node)
        return None, [
            Problem(
                file,
                line,
                col,
                f"document expands to more than {MAX_NODES} values through aliases; "
                "anchors must not be used to build huge documents",
            )
        ]
    except yaml.YAMLError as exc:
        return None, [Problem(file, 1, 1, f"invalid YAML: {exc}")]
    return doc, builder.problems
