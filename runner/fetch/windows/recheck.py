"""The pages a window reads again once every page of it is passed on
(:func:`~runner.fetch.windows.open_window.check_pages`), and their ids as they come:
what :func:`~runner.fetch.windows.open_window.moved` compares with the first read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.fetch.paging import Later


@dataclass
class Recheck:
    """The pages a window reads again once every page is passed on, and their ids once
    they came (None until then): see
    :func:`~runner.fetch.windows.open_window.check_pages`."""

    pages: dict[int, list[Any] | None]
    asked: set[int] = field(default_factory=set)

    def ask(self) -> int | None:
        """The next of them to ask for (all at once), or None."""
        number = next((n for n in self.pages if n not in self.asked), None)
        if number is not None:
            self.asked.add(number)
        return number

    def file(self, number: int, records: list[Any] | Later, ids: list[Any]) -> None:
        if number in self.asked and self.pages.get(number, ()) is None:
            self.pages[number] = ids if isinstance(records, list) else [None]

    @property
    def came(self) -> bool:
        return None not in self.pages.values()
