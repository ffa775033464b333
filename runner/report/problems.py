"""Problem reporters: one class per audience, looked up by name in :data:`REPORTERS`.

``segments validate --format NAME`` picks one. Adding a reporter is adding a class
here and naming it in :data:`REPORTERS`.

>>> from runner.problems import Problem
>>> print(REPORTERS["github"]().render([Problem("a.yaml", 2, 3, "bad")]), end="")
::error file=a.yaml,line=2,col=3::bad
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import ClassVar

from runner.problems import Problem, counted, printable


class Reporter:
    """How a list of problems is written for one reader."""

    name: ClassVar[str]
    for_people: ClassVar[bool] = False  # a person reads it: add counts on stderr

    def render(self, problems: Sequence[Problem]) -> str:
        raise NotImplementedError


class TextReporter(Reporter):
    """``file:line:col: message``, one a line (editors and terminals link them)."""

    name = "text"
    for_people = True

    def render(self, problems: Sequence[Problem]) -> str:
        return "".join(f"{p}\n" for p in problems)


class JsonReporter(Reporter):
    """A JSON list of ``{file, line, col, message}``; ``[]`` when nothing is wrong."""

    name = "json"

    def render(self, problems: Sequence[Problem]) -> str:
        items = [
            {k: printable(v) if isinstance(v, str) else v for k, v in asdict(p).items()}
            for p in problems
        ]
        return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


class GithubReporter(Reporter):
    """GitHub Actions workflow commands: each problem is an annotation on its line.

    https://docs.github.com/actions/reference/workflow-commands
    """

    name = "github"

    def render(self, problems: Sequence[Problem]) -> str:
        return "".join(
            f"::error file={_escape(p.file, prop=True)},line={p.line},col={p.col}::"
            f"{_escape(p.message)}\n"
            for p in problems
        )


def _escape(value: str, *, prop: bool = False) -> str:
    value = printable(value).replace("%", "%25")
    if prop:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


REPORTERS: dict[str, type[Reporter]] = {
    cls.name: cls for cls in (TextReporter, JsonReporter, GithubReporter)
}


def validation_summary(problems: Sequence[Problem], valid: int) -> str:
    """The line a person sees after ``segments validate``."""
    if problems:
        files = len({p.file for p in problems})
        return f"{counted(len(problems), 'problem')} in {counted(files, 'file')}\n"
    return f"{counted(valid, 'segment')} valid\n"


def not_checked(problems: Sequence[Problem]) -> str:
    """The line a person sees when ``runner.yaml`` has problems: nothing else was read."""
    return f"{counted(len(problems), 'problem')} in {problems[0].file}; segments not checked\n"
