"""Problems in a user's files are values, reported together (like yamllint's LintProblem).

How they are printed is :mod:`runner.report.problems`.

>>> str(Problem("segments/vip.yaml", 4, 3, "unknown key 'tagz'"))
"segments/vip.yaml:4:3: unknown key 'tagz'"
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

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


def counted(count: int, one: str, many: str | None = None) -> str:
    """``count`` and the word, plural unless it is one: never "1 pages" or "page(s)".

    >>> counted(1, "page"), counted(1200, "segment"), counted(0, "retry", "retries")
    ('1 page', '1,200 segments', '0 retries')
    """
    return f"{count:,} {one if count == 1 else many or one + 's'}"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``."""
    options = list(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in options}
        if word.lower() in lowered:
            close = [lowered[word.lower()]]
    return f" (did you mean '{close[0]}'?)" if close else ""
