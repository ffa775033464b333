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


class EndWatch:
    """Where a list ends, found before a pass by page number and read again after it.

    A contact deleted above the page being read moves every page below it up one
    place, and the contact at the next boundary is never read: even in order. The
    page where the list ended before the pass, read again after it, tells: moved up,
    contacts above it were deleted meanwhile. (Contacts put in above it at the same
    time can hide that: the net move is what shows.)

    >>> watch = EndWatch(1, max_pages=10)
    >>> while (number := watch.ask()) is not None:
    ...     watch.probed(number, [f"{number}a", f"{number}b"] if number <= 3 else [])
    False
    False
    False
    True
    >>> watch.last, watch.moved(["3b"]), watch.moved(["3b"])
    ((3, ['3a', '3b']), 1, 0)
    """

    def __init__(self, start: int, max_pages: int) -> None:
        self.start = start
        self.max_pages = max_pages
        self.probe = EndProbe(start, max_pages)
        self.last: tuple[int, list[Any]] | None = None  # the last page: number, ids
        self._asked = False

    def ask(self) -> int | None:
        """The probe's next page; None while one is on its way, or when it is done."""
        if self._asked or self.probe.page is None:
            return None
        self._asked = True
        return self.probe.page

    def probed(self, number: int, ids: list[Any]) -> bool:
        """Take the ids of the probe's page ``number``; True when the end is found."""
        self._asked = False
        self.probe.read(number, ids)
        if self.probe.page is None:
            self.last = self.probe.end
        return self.probe.page is None

    def moved(self, ids: list[Any]) -> int:
        """The last page read again (its ``ids``): how far it moved up since it was last
        read; what it holds now is compared the next time."""
        assert self.last is not None
        number, before = self.last
        self.last = (number, ids)
        return moved_up(before, ids)

    def restart(self) -> None:
        """Find the end again (before a second pass)."""
        self.probe, self.last = EndProbe(self.start, self.max_pages), None


def moved_up(before: list[Any], after: list[Any]) -> int:
    """How many places a page's records moved up between two reads (``before`` and
    ``after``, their ids): records deleted above it. 0 when it did not move, or moved
    down (contacts put in above it: in order, that only repeats records).

    >>> moved_up(["c", "d", "e"], ["e"]), moved_up(["c", "d"], []), moved_up(["c"], ["b", "c"])
    (2, 2, 0)
    """
    if not after:
        return len(before)
    if after[0] is not None and after[0] in before:
        return before.index(after[0])
    return 0
