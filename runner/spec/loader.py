"""Safe YAML loading that remembers where every value came from.

``load_file(path, display)`` reads one file (a regular file of at most
``MAX_BYTES``, UTF-8) and ``load_yaml(text, file)`` parses it into a
:class:`Document`: plain Python data plus a map from each value's path (a tuple
of keys and indexes) to its line and column, so later checks can point at
``file:line:col``.

Only YAML's safe tags are understood; timestamps stay strings (the API wants
strings), duplicate keys are errors, merge keys are refused, and a document
that expands aliases into more than ``MAX_NODES`` values or nests deeper than
``MAX_DEPTH`` is refused before it is built (the "billion laughs" attack, a
stack overflow). Every value must be one JSON can carry: no lone surrogates,
no NaN or infinity, integers within 64 bits.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import yaml

from runner.problems import Problem
from runner.spec.files import MAX_BYTES, line_col, read_text

Path_ = tuple[str | int, ...]
MAX_NODES = 20_000
MAX_DEPTH = 50
MAX_INT = 2**63 - 1


class _Marked(Protocol):
    @property
    def start_mark(self) -> yaml.Mark: ...


class _Events(Protocol):
    """The parser's look-ahead, as PyYAML has it (its stubs leave it untyped): a parsed
    event always knows where it starts."""

    def peek_event(self) -> _Marked: ...


class _Loader(yaml.SafeLoader):
    """SafeLoader without the implicit timestamp type: dates stay strings.

    Composing is recursive, so nesting is counted and cut at ``MAX_DEPTH``
    before Python's own recursion limit is reached.
    """

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _TooDeep(cast(_Events, self).peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# YAML 1.2 floats without a dot (``1e300``, ``2E-3``), which YAML 1.1 reads as text.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


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


def dotted(path: Path_) -> str:
    """``("filter", "tags", 0)`` -> ``filter.tags[0]``, as messages name a key."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def surrogate_problem(text: str) -> str | None:
    """Why ``text`` cannot be written as UTF-8 (a lone surrogate), or None."""
    for char in text:
        if "\ud800" <= char <= "\udfff":
            return (
                f"holds a lone surrogate {char!r}, which is not a character and cannot be "
                "written as UTF-8: remove it"
            )
    return None


class _Builder:
    def __init__(self, doc: Document, loader: _Loader) -> None:
        self.doc = doc
        self.loader = loader
        self.count = 0
        self.problems: list[Problem] = []
        self.built: set[int] = set()
        self.aliased = False  # a node built twice: an alias expanded it

    def _at(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def _report(self, node: yaml.Node, message: str) -> None:
        self.problems.append(Problem(self.doc.file, *self._at(node), message))

    def build(self, node: yaml.Node, path: Path_, active: frozenset[int]) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(node)
        self.doc.value_pos[path] = self._at(node)
        if id(node) in self.built:
            self.aliased = True
        self.built.add(id(node))
        if id(node) in active:
            raise _Recursive(node)
        if node.tag not in _STANDARD_TAGS:
            raise _BadTag(node)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        active = active | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), active) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self.key(key_node, path, out)
                if key is not None:
                    self.doc.key_pos[(*path, key)] = self._at(key_node)
                    out[key] = self.build(value_node, (*path, key), active)
            return out
        raise _Unsupported(node)  # pragma: no cover - compose yields only these three

    def key(self, node: yaml.Node, path: Path_, out: dict[str, Any]) -> str | None:
        if node.tag == "tag:yaml.org,2002:merge":
            self._report(node, "merge keys ('<<') are not supported")
            return None
        if not isinstance(node, yaml.ScalarNode):
            self._report(node, "mapping keys must be plain strings")
            return None
        key = str(node.value)
        bad = surrogate_problem(key)
        if bad:
            where = f"in {dotted(path)}" if path else "at the top level"
            self._report(node, f"key {key!r} {where} {bad}")
            return None
        if key in out:
            first_line = self.doc.key_pos[(*path, key)][0]
            self._report(node, f"duplicate key '{key}' (first defined on line {first_line})")
            return None
        return key

    def scalar(self, node: yaml.ScalarNode, path: Path_) -> Any:
        text = str(node.value)
        if node.tag == "tag:yaml.org,2002:int":
            digits = text.lstrip("+-").replace("_", "")
            # Parse only numbers that can fit: int() of 5,000 digits raises (or is slow).
            if len(digits) > 30:
                self._report(node, _int_range(path, text))
                return 0
        value = self.loader.construct_object(node, deep=True)
        if isinstance(value, str):
            bad = surrogate_problem(value)
            if bad:
                self._report(node, f"'{dotted(path)}' {bad}")
        elif isinstance(value, bool):
            pass
        elif isinstance(value, int) and not -MAX_INT - 1 <= value <= MAX_INT:
            self._report(node, _int_range(path, text))
            return 0
        elif isinstance(value, float) and not math.isfinite(value):
            self._report(
                node,
                f"'{dotted(path)}' is {text}, not a finite number "
                "(JSON has no NaN or infinity): write a number",
            )
            return 0.0
        return value


def _int_range(path: Path_, text: str) -> str:
    shown = text if len(text) <= 24 else f"{text[:12]}... ({len(text)} characters)"
    return f"'{dotted(path)}' is out of range: {shown}; integers are at most {MAX_INT} (64 bits)"


_STANDARD_TAGS = {
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")
}


class _TooBig(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


class _Recursive(_TooBig):
    pass


class _Unsupported(_TooBig):
    pass


class _BadTag(_TooBig):
    pass


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark) -> None:
        self.mark = mark


def _char_name(char: str) -> str:
    code = ord(char)
    names = {0: "NUL", 7: "BEL", 8: "BS", 0x1B: "ESC", 0x7F: "DEL", 0xFEFF: "BOM"}
    name = f" ({names[code]})" if code in names else ""
    return f"U+{code:04X}{name}"


def _parse(text: str, file: str) -> tuple[yaml.Node | None, _Loader | None, list[Problem]]:
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        line, col = line_col(text, exc.position)
        char = text[exc.position] if exc.position < len(text) else "\0"
        return (
            None,
            None,
            [
                Problem(
                    file,
                    line,
                    col,
                    f"invalid YAML: control character {_char_name(char)} is not allowed in a "
                    'YAML file; inside double quotes write it as an escape such as "\\t"',
                )
            ],
        )
    try:
        return loader.get_single_node(), loader, []
    except _TooDeep as exc:
        line, col = exc.mark.line + 1, exc.mark.column + 1
        message = f"values are nested more than {MAX_DEPTH} levels deep"
    except RecursionError:  # pragma: no cover - MAX_DEPTH stops it first
        line, col, message = 1, 1, "values are nested too deeply"
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        if "\t" in text and "cannot start any token" in (exc.problem or ""):
            message += " (tabs are not allowed for indentation; use spaces)"
        message = f"invalid YAML: {message}"
    except yaml.YAMLError as exc:
        line, col, message = 1, 1, f"invalid YAML: {exc}"
    finally:
        loader.dispose()
    return None, None, [Problem(file, line, col, message)]


def load_yaml(
    text: str, file: str, *, expected: str = "a mapping of segment keys"
) -> tuple[Document | None, list[Problem]]:
    """Parse one YAML document; return it (or None) and the problems found.

    >>> doc, problems = load_yaml("name: vip\\n", "x.yaml")
    >>> doc.data, doc.where(("name",)), problems
    ({'name': 'vip'}, (1, 7), [])
    """
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None, [Problem(file, 1, 1, f"file is larger than {MAX_BYTES} bytes (1 MiB)")]
    node, loader, problems = _parse(text, file)
    if problems or loader is None:
        return None, problems
    if node is None:
        return None, [Problem(file, 1, 1, f"file is empty: expected {expected}")]
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
        message = (
            f"document expands to more than {MAX_NODES} values through aliases; "
            "anchors must not be used to build huge documents"
            if builder.aliased
            else f"document has more than {MAX_NODES} values; a segment or runner.yaml needs "
            "far fewer"
        )
        return None, [Problem(file, line, col, message)]
    except (yaml.YAMLError, ValueError) as exc:
        return None, [Problem(file, 1, 1, f"invalid YAML: {exc}")]
    return doc, builder.problems


def load_file(
    path: Path, file: str, *, expected: str = "a mapping of segment keys"
) -> tuple[Document | None, list[Problem]]:
    """:func:`read_text` then :func:`load_yaml`."""
    text, problems = read_text(path, file)
    if text is None:
        return None, problems
    return load_yaml(text, file, expected=expected)
