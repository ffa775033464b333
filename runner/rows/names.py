"""Names as the presets hand them on: first and last name from one free-text name.

Contacts type their name in one field (``Dr. Jane Smith``, ``MRS  jane doe``). Google's
Customer Match formatting guidelines (support.google.com/google-ads/answer/7476159 and
answer/7475964) say not to put prefixes such as ``Mrs.`` in the first name, and Meta
matches ``fn`` on the given name alone: for those two presets the titles in front of a
name are dropped (:func:`without_titles`).

>>> first_name(without_titles("Prof. Dr. Hans Müller")), last_name(without_titles("Mrs Jane Doe"))
('Hans', 'Doe')
"""

from __future__ import annotations

import re
from typing import Any

_SPACES = re.compile(r"\s+")

# Titles written before a name, lower case, without their full stop. English ones, and
# those of the languages the contacts' countries most often use where a title is part of
# how people write their name (German Herr/Frau, French Mme/Mlle, Spanish and Portuguese
# Sr/Sra/Srta/Dra, Italian Sig/Sig.ra/Dott/Dott.ssa, Dutch Dhr/Mevr, Hindi Shri/Smt).
# Left out on purpose: titles that are also given names or initials (Don, Dona, M., Sri,
# Kumari), which would cost real first names.
TITLES = frozenset(
    {
        *("mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "rev", "revd"),
        *("herr", "frau", "mme", "mlle", "sr", "sra", "srta", "dra"),
        *("sig", "sig.ra", "sig.na", "dott", "dott.ssa", "dhr", "mevr", "shri", "smt"),
    }
)
# A title is followed by its full stop (``Dr.Jane`` too) or by a space: never part of a
# word (``Drew``, ``Mrsa``).
_LONGEST_FIRST = sorted(TITLES, key=len, reverse=True)  # "mrs" before "mr"
_TITLE = re.compile(
    r"(?:" + "|".join(map(re.escape, _LONGEST_FIRST)) + r")(?:\.\s*|\s+)", re.IGNORECASE
)


def without_titles(value: Any) -> str:
    """The name without the titles in front of it, as long as a name is left.

    >>> without_titles("Dr. Jane Smith"), without_titles("Mr.John Doe"), without_titles("Dr.")
    ('Jane Smith', 'John Doe', 'Dr.')
    """
    if not isinstance(value, str):
        return ""
    text = value.strip()
    while (match := _TITLE.match(text)) and text[match.end() :].strip():
        text = text[match.end() :]
    return text


def first_name(value: Any) -> str:
    return _SPACES.split(value.strip(), 1)[0] if isinstance(value, str) else ""


def last_name(value: Any) -> str:
    parts = _SPACES.split(value.strip(), 1) if isinstance(value, str) else []
    return parts[1] if len(parts) > 1 else ""


def letters(text: str) -> str:
    """Lower-case letters only (any script, accents kept): Meta's rule for names and cities."""
    return "".join(ch for ch in text.lower() if ch.isalpha())


def lower_words(text: str) -> str:
    """Lower case, one space between words: Google's rule for hashed names."""
    return " ".join(text.lower().split())
