"""What a segment template may do, checked before and while it renders.

Templates come from pull requests. A template is plain text and ``{{ ... }}``
expressions: no ``{% %}`` statements (loops, macros, ``set``), no calls but
``var(...)``, only the filters and tests listed here, and none of Jinja's
``range``, ``lipsum``, ``cycler``, ``joiner`` or ``namespace``. :func:`check`
walks the parsed template and names the first thing that is not allowed, so a
bad template is a problem at validation, before anything runs.

Without statements each node of a template runs once, so its cost is bounded
by its length (at most ``MAX_SOURCE`` characters). On top of that every
operation the sandbox sees (operators, filters, ``var()``, attribute and item
lookups) goes through one :class:`Budget`: it refuses a string over
``MAX_STRING`` characters *before* allocating it, more than ``MAX_WORK``
characters produced in all, more than ``MAX_OPS`` operations, or a render past
``MAX_SECONDS`` (checked between operations: no signals, no threads).

>>> check(jinja2.Environment().parse("{{ 'a'.ljust(10**9) }}"))  # doctest: +ELLIPSIS
Traceback (most recent call last):
runner.errors.TemplateError: calling 'ljust' is not allowed in a template; ...
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import operator
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.filters import do_default
from jinja2.sandbox import SandboxedEnvironment

from runner.errors import TemplateError

MAX_SOURCE = 4096  # characters of one template
MAX_DEPTH = 48  # nesting of expressions
MAX_STRING = 64 * 1024  # characters of any one string a template makes
MAX_WORK = 256 * 1024  # characters made by one template in all
MAX_OPS = 10_000
MAX_SECONDS = 1.0
MAX_BITS = 4096  # of any integer a template makes

STATEMENT_TAGS = {"Assign": "set", "AssignBlock": "set", "CallBlock": "call", "ExprStmt": "do"}
# Jinja's globals, and the names it gives meaning inside statements.
FORBIDDEN_NAMES = frozenset(
    "range lipsum cycler joiner namespace dict self loop caller super varargs kwargs".split()
)
ALLOWED_TESTS = frozenset(
    "defined undefined none string number integer float true false in".split()
    + "eq ne lt le gt ge == != < <= > >=".split()
)
EXPRESSIONS = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Const,
    nodes.Name,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Filter,
    nodes.Test,
    nodes.Call,
    nodes.Keyword,
    nodes.Concat,
    nodes.BinExpr,  # + - * / // % ** and, or: guarded by call_binop
    nodes.UnaryExpr,
    nodes.Compare,
    nodes.Operand,
    nodes.CondExpr,
    nodes.Tuple,
    nodes.List,
    nodes.Dict,
    nodes.Pair,
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> str | None:
    """The first lone surrogate in ``text`` as an escape (``'\\udc80'``), or None."""
    found = _SURROGATE.search(text)
    return None if found is None else ascii(found.group())


class TemplateFunction:
    """Base class of the callables a template may call (only ``var`` today)."""


@dataclass
class Budget:
    """Time, operations and characters one render may use."""

    # CPU time of this thread: what a hostile template spends, whatever the machine's load
    # (a wall clock failed ordinary templates on a loaded 2-core CI machine).
    started: float = field(default_factory=time.thread_time)
    work: int = 0
    ops: int = 0

    def allow(self, size: int, what: str) -> None:
        """Refuse, before allocating, a string of ``size`` characters."""
        if size > MAX_STRING:
            raise TemplateError(
                f"{what} would make a string of {size} characters (at most {MAX_STRING})"
            )
        if self.work + size > MAX_WORK:
            raise TemplateError(f"template makes more than {MAX_WORK} characters of text in all")

    def spend(self, value: Any, what: str) -> Any:
        self.ops += 1
        if self.ops > MAX_OPS:
            raise TemplateError(f"template takes more than {MAX_OPS} operations")
        if time.thread_time() - self.started > MAX_SECONDS:
            raise TemplateError(f"template takes longer than {MAX_SECONDS:g} s to render")
        if isinstance(value, str):
            self.allow(len(value), what)
            self.work += len(value)
        return value


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("budget", default=None)


def current() -> Budget:
    """The budget of the render in progress (a throwaway one outside :func:`budget`)."""
    return _BUDGET.get() or Budget()


@contextlib.contextmanager
def budget() -> Iterator[Budget]:
    """A fresh budget for everything rendered inside the block."""
    fresh = Budget()
    token = _BUDGET.set(fresh)
    try:
        yield fresh
    finally:
        _BUDGET.reset(token)


def check(tree: nodes.Template, filters: frozenset[str] | None = None) -> None:
    """Raise :class:`TemplateError` naming the first part of ``tree`` not allowed."""
    stack: list[tuple[nodes.Node, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TemplateError(f"template is nested more than {MAX_DEPTH} levels deep")
        _check_node(node, filters)
        children = list(node.iter_child_nodes())
        stack.extend((child, depth + 1) for child in reversed(children))  # in source order


def _check_node(node: nodes.Node, filters: frozenset[str] | None) -> None:
    if not isinstance(node, EXPRESSIONS):
        kind = type(node).__name__
        if isinstance(node, nodes.Stmt):
            tag = STATEMENT_TAGS.get(kind, kind.lower())
            raise TemplateError(
                f"'{{% {tag} %}}' statements are not allowed in a template; "
                "write {{ ... }} expressions with the documented filters"
            )
        raise TemplateError(f"{kind} is not allowed in a template")
    name = node.node if isinstance(node, nodes.Call) else node
    if isinstance(name, nodes.Name) and name.name in FORBIDDEN_NAMES:
        raise TemplateError(f"'{name.name}' is not allowed in a template")
    if isinstance(node, nodes.Call) and not (
        isinstance(node.node, nodes.Name) and node.node.name == "var"
    ):
        raise TemplateError(
            f"calling {_callee(node.node)} is not allowed in a template; "
            "the only function is var(name, default)"
        )
    if isinstance(node, nodes.Filter) and filters is not None and node.name not in filters:
        raise TemplateError(
            f"filter '{node.name}' is not allowed in a template; "
            f"available: {', '.join(sorted(filters))}"
        )
    if isinstance(node, nodes.Const) and not _small_number(node.value):
        raise TemplateError(f"number {node.value!r:.40} is out of range in a template")
    if isinstance(node, nodes.Test) and node.name not in ALLOWED_TESTS:
        raise TemplateError(f"test '{node.name}' is not allowed in a template")


def _small_number(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return not isinstance(value, int) or value.bit_length() <= MAX_BITS


def _callee(node: nodes.Expr) -> str:
    if isinstance(node, nodes.Getattr):
        return f"'{node.attr}'"
    if isinstance(node, nodes.Name):
        return f"'{node.name}'"
    return "a value"


def _is_sequence(value: Any) -> bool:
    return isinstance(value, list | tuple | dict)


def _check_binop(op: str, left: Any, right: Any, spent: Budget) -> None:
    what = f"'{op}'"
    if op in ("+", "*") and (_is_sequence(left) or _is_sequence(right)):
        raise TemplateError(f"{what} on a list is not allowed in a template")
    if op == "%" and isinstance(left, str):
        raise TemplateError(
            "'%' string formatting is not allowed in a template; use fmt('%Y-%m-%d') for dates"
        )
    if op == "*" and isinstance(left, str) != isinstance(right, str):
        text, count = (left, right) if isinstance(left, str) else (right, left)
        if isinstance(count, int):
            spent.allow(len(text) * max(count, 0), what)
    elif op == "+" and isinstance(left, str) and isinstance(right, str):
        spent.allow(len(left) + len(right), what)
    elif isinstance(left, int) and isinstance(right, int):
        if op == "*" and left.bit_length() + right.bit_length() > MAX_BITS:
            raise TemplateError(f"number too large in template ('*' result over {MAX_BITS} bits)")
        if op == "**" and (abs(right) > 64 or left.bit_length() * abs(right) > MAX_BITS):
            raise TemplateError(f"number too large in template ('**' result over {MAX_BITS} bits)")


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}


class GuardedSandbox(SandboxedEnvironment):
    """Jinja's sandbox with every operator, call and lookup counted against the budget."""

    intercepted_binops = frozenset(_BINOPS)

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        spent = current()
        _check_binop(operator_, left, right, spent)
        return spent.spend(_BINOPS[operator_](left, right), f"'{operator_}'")

    def getattr(self, obj: Any, attribute: str) -> Any:
        return current().spend(super().getattr(obj, attribute), f"'.{attribute}'")

    def getitem(self, obj: Any, argument: Any) -> Any:
        return current().spend(super().getitem(obj, argument), "'[...]'")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(__obj, TemplateFunction):
            raise TemplateError("calling that is not allowed in a template")
        return current().spend(__context.call(__obj, *args, **kwargs), "var()")


def counted(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as a filter whose result is counted against the budget."""

    @functools.wraps(function)
    def filter_(*args: Any, **kwargs: Any) -> Any:
        return current().spend(function(*args, **kwargs), f"filter '{name}'")

    return filter_


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TemplateError(f"filter '{name}' needs text, got {type(value).__name__}")
    return value


def replace(value: Any, old: Any, new: Any, count: int | None = None) -> str:
    text, before, after = (_text(v, "replace") for v in (value, old, new))
    times = text.count(before) if before else len(text) + 1
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    current().allow(len(text) + times * (len(after) - len(before)), "filter 'replace'")
    return text.replace(before, after, -1 if count is None else count)


def join(items: Any, separator: str = "") -> str:
    if not isinstance(items, list | tuple):
        raise TemplateError(f"filter 'join' needs a list, got {type(items).__name__}")
    parts = []
    for item in items:
        if not isinstance(item, str | int | float):
            raise TemplateError(f"filter 'join' joins text and numbers, got {type(item).__name__}")
        parts.append(str(item))
    size = sum(map(len, parts)) + len(_text(separator, "join")) * max(len(parts) - 1, 0)
    current().allow(size, "filter 'join'")
    return separator.join(parts)


def length(value: Any) -> int:
    if not isinstance(value, str | list | tuple | dict):
        raise TemplateError(f"filter 'length' needs text or a list, got {type(value).__name__}")
    return len(value)


TEXT_FILTERS: dict[str, Callable[..., Any]] = {
    "default": do_default,
    "d": do_default,
    "lower": lambda value: _text(value, "lower").lower(),
    "upper": lambda value: _text(value, "upper").upper(),
    "trim": lambda value: _text(value, "trim").strip(),
    "replace": replace,
    "join": join,
    "length": length,
}


def compile_checked(env: jinja2.Environment, text: str) -> jinja2.Template:
    """Check the source and the parsed tree of ``text``, then compile it."""
    bad = lone_surrogate(text)
    if bad is not None:
        raise TemplateError(f"template has a lone surrogate {bad}: not valid Unicode text")
    if len(text) > MAX_SOURCE:
        raise TemplateError(f"template is longer than {MAX_SOURCE} characters")
    try:
        tree = env.parse(text)
    except RecursionError as exc:
        raise TemplateError(f"template is nested more than {MAX_DEPTH} levels deep") from exc
    check(tree, frozenset(env.filters))
    return env.from_string(tree)
