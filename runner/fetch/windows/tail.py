"""The pages past the windows' count that the check read one at a time, read again once
it is done (:class:`TailCheck`, after :class:`~runner.fetch.windows.outside.Outside`).

A contact deleted above the page being read moves every page below it up one place,
and the record at the next boundary is never read, even in order (page numbers find
their end before they read, and read it again after: :mod:`runner.fetch.end`; the
check reads from where the windows' count ends, and did not). Read again once the check
is done, a page that then holds a record this run never read shows one: the check is
refused, and nothing published. A contact put in above only pushes records down onto
pages read after (read twice, never lost): pages that moved down hold records read
before (or created after the as-of, not the audience's), and pass. A blind fuzz (one
contact deleted at a chosen request) lost a contact this way in 10 of 199 runs. One
page alone has no boundary to lose a record at: a check of one page is not read again,
so the usual check costs nothing more. Two deletions timed between this read and the
check's can still hide a record.

>>> from runner.errors import PagingError
>>> from runner.fetch.redact import Redactor
>>> from runner.fetch.records import Deduplicator
>>> records = NewRecords(Deduplicator("_id"), Redactor(""))
>>> records.keep_new([{"_id": i} for i in range(1, 6)], [1, 2, 3, 4, 5])  # read before
[{'_id': 1}, {'_id': 2}, {'_id': 3}, {'_id': 4}, {'_id': 5}]
>>> again = TailCheck({"q": 1}, records, [3, 4], "2026-11-25T00:00:00.000Z", size=1)
>>> again.next().number, again.next().number, again.next()
(3, 4, None)
>>> again.read(again.request(3), [{"_id": 4}]), again.done  # moved down: read before
(<Aside.PAGE: 'a page read for the strategy alone'>, False)
>>> try:
...     again.read(again.request(4), [{"_id": 9}])  # 9: never read
... except PagingError as refused:
...     print(str(refused)[:60])
contacts were deleted while the check for contacts outside e
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from runner.errors import PagingError
from runner.fetch.paging import Aside, NewRecords, PageRequest
from runner.fetch.windows.plan import CREATED, created_after


class TailCheck:
    """A paging strategy: ``pages`` read again, ``width()`` at once, each refused if it
    holds a record never read (see the module docstring); nothing passed on."""

    reread = False
    probing = False

    def __init__(
        self,
        body: Mapping[str, Any],
        records: NewRecords,
        pages: list[int],
        as_of: str,
        size: int,
        width: Callable[[], int] = lambda: 1,
    ) -> None:
        self.body, self.records, self.width, self.as_of = body, records, width, as_of
        self.size = size  # a full page's records
        self._ask, self._left = sorted(set(pages)), len(set(pages))

    @property
    def ahead(self) -> int:
        return max(1, self.width())

    @property
    def done(self) -> bool:
        return self._left == 0

    def request(self, number: int) -> PageRequest:
        return PageRequest(number, {**self.body, "page": number})

    def next(self) -> PageRequest | None:
        return self.request(self._ask.pop(0)) if self._ask else None

    def read(self, request: PageRequest, records: list[Any]) -> Aside:
        self._left -= 1
        # A deletion above pulls the first record of the page below onto the end of a
        # full page read before: the last record, never read, shows it. (A contact put
        # in lands where its date or the list's order puts it, not at a page's end as a
        # rule; one created after the as-of is not the audience's either.)
        if not records or len(records) < self.size:
            return Aside.PAGE
        last = records[-1]
        key = self.records.ids(request.number, [last])[0]
        seen = self.records.dedupe.seen
        if key is not None and key not in seen and not created_after(last.get(CREATED), self.as_of):
            raise PagingError(
                "contacts were deleted while the check for contacts outside every "
                f"createdAt window read the list (its page {request.number} now holds a "
                "contact it never read): a contact listed below a deleted one was "
                "skipped; nothing published. Run the export again; api.windows: false "
                "reads such a list again instead"
            )
        return Aside.PAGE
