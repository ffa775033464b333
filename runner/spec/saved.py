"""Flowmatix saved segments named in a filter: ``filter.segments: ["name:VIP list"]``.

A reviewer cannot check an opaque 24-hex id; a name they can. Loading a file only
notes where each ``name:`` item is (:func:`saved_names`: loading never fetches);
the command that sends the request resolves them with the account's saved
segments (``GET /inbox/segments``, :mod:`runner.fetch.saved`), once per run, and
puts the ids in the body. An unknown name, a name two saved
segments share, or a list that cannot be read is a ``file:line:col`` problem at
that item, and the segment is not exported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.problems import Problem

if TYPE_CHECKING:
    from runner.spec.loader import Document

PREFIX = "name:"


@dataclass(frozen=True)
class SavedName:
    """A ``name:`` item of ``filter.segments``: its index, the name, where it is."""

    index: int
    name: str
    line: int
    col: int

    def problem(self, file: str, message: str) -> Problem:
        shown = json.dumps(PREFIX + self.name, ensure_ascii=False)
        where = f"'filter.segments[{self.index}]' {shown}"
        return Problem(file, self.line, self.col, f"{where} {message}")


def saved_names(doc: Document, items: Sequence[Any]) -> tuple[SavedName, ...]:
    """The ``name:`` items of a rendered ``filter.segments``, with their positions."""
    return tuple(
        SavedName(i, item[len(PREFIX) :], *doc.where(("filter", "segments", i)))
        for i, item in enumerate(items)
        if isinstance(item, str) and item.startswith(PREFIX)
    )


ByName = Mapping[str, Sequence[str]]  # a saved segment's name -> the ids of that name
