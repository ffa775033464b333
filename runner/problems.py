"""Problems in a user's files are values, reported together (like yamllint's LintProblem).

>>> str(Problem("segments/vip.yaml", 4, 3, "unknown key 'tagz'"))
"segments/vip.yaml:4:3: unknown key 'tagz'"
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` on one line and encodable as UTF-8: control characters and lone
    surrogates (from a file name or a value) become escapes such as ``\\n``."""
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], text)


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return printable(f"{self.file}:{self.line}:{self.col}: {self.message}")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    options = list(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in options}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return f" (did you mean '{close[0]}'?)" if close else ""


def _text(problems: list[Problem]) -> str:
    return "".join(f"{p}\n" for p in problems)


def _json(problems: list[Problem]) -> str:
    items = [
        {k: printable(v) if isinstance(v, str) else v for k, v in asdict(p).items()}
        for p in problems
    ]
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"


def _escape_github(value: str, *, prop: bool = False) -> str:
    value = printable(value).replace("%", "%25")
    if prop:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def _github(problems: list[Problem]) -> str:
    # Workflow commands: https://docs.github.com/actions/reference/workflow-commands
    return "".join(
        f"::error file={_escape_github(p.file, prop=True)},line={p.line},col={p.col}::"
        f"{_escape_github(p.message)}\n"
        for p in problems
    )


REPORTERS: dict[str, Callable[[list[Problem]], str]] = {
    "text": _text,
    "json": _json,
    "github": _github,
}
