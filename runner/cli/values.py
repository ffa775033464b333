"""Values of the command line, checked as argparse reads them: whole numbers, numbers and
text within bounds (:mod:`runner.cli.args` and :mod:`runner.cli.sandbox_args` use them)."""

from __future__ import annotations

import argparse
import math
import unicodedata
from collections.abc import Callable


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
