"""Columns that stayed empty: a path the data never has (a field the documentation lists
but this account never fills, or an ``unchecked`` path that is wrong) gives a column
with no value in any row. :class:`EmptyColumns` watches an export's pages for that, so
the run can say so (a ``warning:`` line and ``empty_columns`` in the manifest) instead
of handing off a file with a blank column as a success.

>>> from runner.spec.segment import Column
>>> watch = EmptyColumns([Column("id", "_id"), Column("email", "profile.email")])
>>> watch.page([{"_id": "a"}, {"_id": "b", "profile": {"email": ""}}])
>>> watch.names
['email']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runner.rows.columns import compile_many
from runner.spec.segment import Column


def _filled(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


class EmptyColumns:
    """The columns (by name, in order) that no record has had a value for yet.

    A column is read only until its first value, so a normal export pays for about
    one page per column.
    """

    def __init__(self, columns: Sequence[Column]) -> None:
        self._order = [c.name for c in columns]
        self._pending = {c.name: compile_many(c.source) for c in columns}

    def page(self, records: list[Any]) -> None:
        for name, many in list(self._pending.items()):
            if any(_filled(value) for value in many(records)):
                del self._pending[name]

    @property
    def names(self) -> list[str]:
        return [name for name in self._order if name in self._pending]

    def warning(self, rows: int) -> str | None:
        """The line to show when a non-empty export left columns empty, else None."""
        if not rows or not self.names:
            return None
        shown = ", ".join(repr(name) for name in self.names)
        return (
            f"column(s) {shown} empty in all {rows} rows: check the path"
            " (segments validate; an 'unchecked' path may name a field this account lacks)"
        )
