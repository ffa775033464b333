"""What reads the list once createdAt windows stop, in order, one strategy after another.

- :meth:`Handover.restart`: the API does not keep the windows' order or range: page
  numbers over the segment's own list from page 1 (what windows passed on is dropped
  the second time by de-duplication).
- :meth:`Handover.carry_on`: windows do not pay for this list
  (:mod:`runner.fetch.windows.depth_cost`): page numbers over the closed range (the
  as-of still ends it: a snapshot), from the page where the records passed on so far
  end. The first window is the range's own first pages, so nothing is read twice but
  the page that holds that boundary.
- :meth:`Handover.check`: the closed range is read; unless the segment applies its own
  ``createdAt`` range (a contact without one matches no range, so none is missing),
  :class:`~runner.fetch.windows.outside.Outside` finds the contacts no window could see.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from runner.fetch.paging import Aside, NewRecords, PageNumbers, PageRequest
from runner.fetch.windows.outside import Outside
from runner.fetch.windows.plan import CREATED, Range, Window, text

Plain = Callable[[Mapping[str, Any], int], PageNumbers]
"""Page numbers over a body from a page, with a de-duplicator of their own (so that
their rules see their own pages); records are then kept once across strategies."""


class Handover:
    """The strategies after windows (see the module docstring). ``paging`` is the one in
    use (None while windows read); ``switched`` says why page numbers replaced windows,
    ``outside`` the check, once it runs."""

    def __init__(
        self, body: Mapping[str, Any], records: NewRecords, whole: Range, plain: Plain
    ) -> None:
        self.body = body
        self.records = records
        self.whole = whole
        self.plain = plain
        self.paging: PageNumbers | Outside | None = None
        # What of a page the strategy in use keeps is passed on: page numbers have a
        # de-duplicator of their own (their rules see their own pages), so what the
        # windows passed on is dropped after them (_new); the check for contacts
        # outside every window reads the run's own, and its records pass as they are.
        self._passed: Callable[[list[Any] | None], list[Any] | None] = self._new
        self.switched = ""
        self.outside: Outside | None = None
        self._rest: PageNumbers | None = None  # page numbers over the closed range
        self._count = 0  # records the windows passed on, then page numbers
        self._size = 1
        # The windows' records of a short page at the switch: handed over with page
        # numbers' first page, which holds them, so that pages are the list's pages.
        self.leftover: list[Any] = []
        # A contact without createdAt is in no createdAt range: the segment's own
        # range leaves it out by itself.
        self._check = CREATED not in (body.get("applicableFilters") or [])

    @property
    def ahead(self) -> int:
        assert self.paging is not None
        return self.paging.ahead

    @property
    def reread(self) -> bool:
        return bool(self.paging and self.paging.reread)

    def restart(self) -> None:
        self.paging, self._check = self.plain(self.body, 1), False
        self._passed = self._new

    def carry_on(self, count: int, size: int, why: str) -> None:
        self.switched, self._count, self._size = why, count, max(1, size)
        closed = Window(self.whole.start, self.whole.end).body(self.body, 1)
        self.paging = self._rest = self.plain(closed, count // self._size + 1)
        self._passed = self._new

    def check(self, count: int, size: int) -> bool:
        """Start the check for contacts outside every window, if it applies; whether it
        does (``count`` records passed on, in pages of ``size``)."""
        if not self._check or self.outside is not None:
            return False
        as_of = text(self.whole.end)
        self.paging = self.outside = Outside(self.body, self.records, as_of, count, size)
        self._passed = _as_they_are
        return True

    def next(self) -> PageRequest | None:
        assert self.paging is not None
        request = self.paging.next()
        if request is None and self._rest is not None and self._rest.done:
            self._rest = None
            if self.check(self._count, self._size):
                return self.next()
        return request

    def read(self, request: PageRequest, records: list[Any]) -> list[Any] | Aside | None:
        assert self.paging is not None
        probing = self.paging.probing  # the windows' leftover waits for the first page
        kept = self.paging.read(request, records)
        return kept if probing or kept is Aside.PAGE else self._passed(kept)

    def _new(self, kept: list[Any] | None) -> list[Any] | None:
        """Page numbers' records not passed on before (by windows, or a page above),
        after the windows' leftover records that their page holds."""
        leftover, self.leftover = self.leftover, []
        if kept is None:
            return leftover or None
        new = self.records.keep_new(kept, self.records.dedupe.ids(kept))
        self._count += len(new)
        return leftover + new


def _as_they_are(kept: list[Any] | None) -> list[Any] | None:
    return kept
