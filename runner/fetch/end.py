"""Where a list ends: its last page with records, found in about 2 x log2(pages) requests.

Pages ``start``, ``start + 1``, ``start + 3``, ``start + 7`` ... (galloping) up to the
first empty one, then halving the gap between the last page with records and the
first without. Page numbers use it to see whether the list lost contacts while it was
read (:class:`~runner.fetch.paging.PageNumbers`), an incremental run to find where
undated contacts begin (:mod:`runner.fetch.undated`).

>>> probe = EndProbe(1, max_pages=100)
>>> pages = {n: [f"{n}a"] for n in range(1, 6)}  # a list of 5 pages
>>> while probe.page is not None:
...     probe.read(probe.page, pages.get(probe.page, []))
>>> probe.end, probe.asked
((5, ['5a']), [1, 2, 4, 8, 6, 5])
"""

from __future__ import annotations

from typing import Any


class EndProbe:
    """``page``: the page to ask next (None: done); :meth:`read` takes its ids. ``end``:
    the last page with records and its ids, None when the list is empty, or where the
    probe gave up (past ``max_pages``, or a page equal to the one before: an API that
    ignores the page number, which the pages read next will say)."""

    def __init__(self, start: int, max_pages: int) -> None:
        self.start = start
        self.max_pages = max_pages
        self.page: int | None = start
        self.end: tuple[int, list[Any]] | None = None
        self.asked: list[int] = []
        self._low, self._high, self._step = start - 1, 0, 1
        self._low_ids: list[Any] = []

    def read(self, number: int, ids: list[Any]) -> None:
        self.asked.append(number)
        if ids and ids == self._low_ids:
            self.page = None  # the same page twice: not paging
            return
        if ids:
            self._low, self._low_ids = number, ids
        else:
            self._high = number
        if not self._high:
            self._step *= 2
            self.page = self.start - 1 + self._step
            if self.page > self.max_pages + 1:
                self.page = None
        elif self._high - self._low > 1:
            self.page = (self._low + self._high) // 2
        else:
            self.page = None
            self.end = (self._low, self._low_ids) if self._low >= self.start else None
