"""What reads the list once createdAt windows stop, in order, one strategy after another.

- :meth:`Handover.restart`: the API does not keep the windows' order or range: page
  numbers over the segment's own list from page 1 (what windows passed on is dropped
  the second time by de-duplication).
- :meth:`Handover.check`: the closed range is read; unless the segment applies its own
  ``createdAt`` range (a contact without one matches no range, so none is missing),
  :class:`~runner.fetch.windows.outside.Outside` finds the contacts no window could see.

Where windows do not pay (:mod:`runner.fetch.windows.depth_cost`) nothing is handed
over: the first window is the closed range read by page number, and it reads on to the
end of the list (``switched`` says why).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from runner.fetch.paging import Aside, NewRecords, PageNumbers, PageRequest
from runner.fetch.windows.outside import Outside, pages_read_alone
from runner.fetch.windows.plan import CREATED, Range, text
from runner.fetch.windows.tail import TailCheck

Plain = Callable[[Mapping[str, Any], int], PageNumbers]
"""Page numbers over a body from a page, with a de-duplicator of their own (so that
their rules see their own pages); records are then kept once across strategies."""


class Handover:
    """The strategies after windows (see the module docstring). ``paging`` is the one in
    use (None while windows read); ``switched`` says why page numbers replaced windows,
    ``outside`` the check, once it runs."""

    def __init__(
        self,
        body: Mapping[str, Any],
        records: NewRecords,
        whole: Range,
        plain: Plain,
        width: Callable[[], int] = lambda: 1,
    ) -> None:
        self.body = body
        self.width = width  # requests at once the check may send
        self.records = records
        self.whole = whole
        self.plain = plain
        self.paging: PageNumbers | Outside | TailCheck | None = None
        # What of a page the strategy in use keeps is passed on: page numbers have a
        # de-duplicator of their own (their rules see their own pages), so what the
        # windows passed on is dropped after them (_new); the check for contacts
        # outside every window reads the run's own, and its records pass as they are.
        self._passed: Callable[[list[Any] | None], list[Any] | None] = self._new
        self.switched = ""
        self.outside: Outside | None = None
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

    @property
    def read_as(self) -> str:
        """How the list was read past its windows, for the summary ("" when only by
        windows): page numbers after the first window, and contacts no window could
        see."""
        parts = [f"then page numbers: {self.switched}"] if self.switched else []
        if self.outside and self.outside.found:
            found, dated = self.outside.found, self.outside.dated
            why = [f"{found - dated:,} without createdAt"] if found > dated else []
            why += [f"{dated:,} dated, outside every window's range"] if dated else []
            what = "no createdAt" if not dated else ", ".join(why)
            parts.append(f"{found:,} contact{'s' * (found != 1)} outside every window ({what})")
        return "; ".join(parts)

    def restart(self) -> None:
        self.paging, self._check = self.plain(self.body, 1), False
        self._passed = self._new

    @property
    def checks(self) -> bool:
        """Whether :meth:`check` will start the check (it has not yet)."""
        return self._check and self.outside is None

    def check(self, count: int, size: int) -> bool:
        """Start the check for contacts outside every window, if it applies; whether it
        does (``count`` records passed on, in pages of ``size``)."""
        if not self._check or self.outside is not None:
            return False
        as_of = text(self.whole.end)
        self.paging = self.outside = Outside(
            self.body, self.records, as_of, count, size, self.width
        )
        self._passed = _as_they_are
        return True

    def next(self) -> PageRequest | None:
        assert self.paging is not None
        request = self.paging.next()
        outside = self.outside
        if request is not None or outside is None or self.paging is not outside:
            return request
        # The check done: its pages past the count, read one at a time, read again (two
        # or more: one page has no boundary to lose a record at: pages_read_alone).
        pages = pages_read_alone(outside) if outside.done else []
        if len(pages) > 1:
            as_of, size = outside.as_of, outside.size
            self.paging = TailCheck(self.body, self.records, pages, as_of, size, self.width)
            request = self.paging.next()
        return request

    def read(self, request: PageRequest, records: list[Any]) -> list[Any] | Aside | None:
        assert self.paging is not None
        kept = self.paging.read(request, records)
        return kept if kept is Aside.PAGE else self._passed(kept)

    def _new(self, kept: list[Any] | None) -> list[Any] | None:
        """Page numbers' records not passed on before (by windows, or a page above)."""
        if kept is None:
            return None
        return self.records.keep_new(kept, self.records.dedupe.ids(kept))


def _as_they_are(kept: list[Any] | None) -> list[Any] | None:
    return kept
