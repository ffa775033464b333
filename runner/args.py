"""Command-line values, checked as argparse reads them: a bad one is a usage error (exit 2).

Every number has a range, every text a clean alphabet, so nothing the user types
can run unbounded, crash later or inject a line into output:

>>> whole(1, 64)("8")
8
>>> instant("2026-11-25T09:00:00Z")
'2026-11-25T09:00:00Z'
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable

MAX_CONCURRENCY = 64  # the same cap as runner.yaml api.concurrency
YEARS = (1970, 2999)  # --as-of outside is a typo, and date arithmetic stays far from year 1/9999
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_B64TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")  # RFC 6750 section 2.1


def _shown(text: str) -> str:
    """``text`` quoted for a message, shortened: a 5,000-digit number is not a message."""
    quoted = repr(text)
    return quoted if len(quoted) <= 40 else quoted[:36] + "...'"


def bad_character(text: str) -> str | None:
    """Where ``text`` has a control character or a lone surrogate (undecodable bytes)."""
    for index, char in enumerate(text):
        if unicodedata.category(char) in ("Cc", "Cs"):
            return f"character U+{ord(char):04X} at position {index + 1}"
    return None


def whole(low: int, high: int, why: str = "") -> Callable[[str], int]:
    """A whole number from ``low`` to ``high``; ``why`` explains the bound."""
    because = f" ({why})" if why else ""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected a whole number from {low:,} to {high:,}{because}, got {_shown(text)}"
            )
        return value

    return parse


def number(low: float, high: float) -> Callable[[str], float]:
    """A finite number from ``low`` to ``high`` (no nan, no inf)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(
                f"expected a number from {low:,} to {high:,}, got {_shown(text)}"
            )
        return value

    return parse


def text(value: str) -> str:
    """Any text without control characters or undecodable bytes."""
    bad = bad_character(value)
    if bad:
        raise argparse.ArgumentTypeError(f"{_shown(value)} has a {bad}")
    return value


def var(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` for ``--var``: a plain name, a value without control characters."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {_shown(text)}")
    if not _VAR_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(
            f"name {_shown(name)}: use letters, digits, '_', '.' or '-', "
            "starting with a letter or '_'"
        )
    bad = bad_character(value)
    if bad:
        raise argparse.ArgumentTypeError(f"the value of {name} has a {bad}")
    return name, value


def token(text: str) -> str:
    """A bearer token as RFC 6750 spells one (it is printed as a shell line, too)."""
    if not _B64TOKEN.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{_shown(text)}: use letters, digits and - . _ ~ + / (then = padding) only"
        )
    return text


def instant(text: str) -> str:
    """An ISO-8601 date or date-time from 1970 to 2999, returned as typed.

    A date means its midnight, and a time without an offset is read in the
    project's time zone (:meth:`runner.spec.templating.Clock.parse` does that).
    """
    example = "for example 2026-11-25 or 2026-11-25T09:00:00Z"
    bad = bad_character(text)
    try:
        if bad:
            raise ValueError(bad)
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is not an ISO-8601 date or date-time ({example})"
        ) from None
    # The year as written: a time zone moves it by at most a day, still in range.
    if not YEARS[0] <= moment.year <= YEARS[1]:
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is outside the years {YEARS[0]} to {YEARS[1]} ({example})"
        )
    return text
