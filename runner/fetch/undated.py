"""Contacts without a ``createdAt`` in an incremental run (issue 22).

An incremental run asks for a ``createdAt`` range, and a contact without a
``createdAt`` (or with one the API cannot compare) matches none: neither windows nor
page numbers over the range ever see it. :class:`Undated` finds such contacts after
the range is read, one request at a time:

1. the end of the segment's list up to the as-of (the range from the beginning of
   time, ``closed``): its last page with records, ``L``
   (:class:`~runner.fetch.end.EndProbe`, about 2 x log2 of the pages; in rounds of
   pages at once where the run sends several: 3 round trips for 120 pages at 8);
2. the segment's own list, without any range (``whole``), from page ``L`` to its
   first empty page: where the API lists undated contacts after the dated ones (as
   MongoDB sorts a missing field), they are there;
3. the same list from page 1 while its pages hold undated contacts (or contacts
   created after the as-of, listed above them): where the API lists them first.

``include``: the run passes them on (the first run of an incremental segment: it is
a full export); else they are only counted (``found``), since nothing tells when
such a contact arrived, and the run says so.

>>> from runner.fetch.redact import Redactor
>>> from runner.fetch.records import Deduplicator
>>> records = NewRecords(Deduplicator("_id"), Redactor(""))
>>> scan = Undated({"r": 1}, {"r": 0}, records, "2026-11-25T00:00:00.000Z", include=True)
>>> request = scan.next(); request.body  # page 1 of the list up to the as-of
{'r': 1, 'page': 1}
>>> scan.read(request, [])  # empty: no dated contact at all
[]
>>> request = scan.next(); request.body  # the whole list, from page 1 (where that ends)
{'r': 0, 'page': 1}
>>> scan.read(request, [{"_id": 7}, {"_id": 8, "createdAt": "2026-11-20T00:00:00.000Z"}])
[{'_id': 7}]
>>> scan.read(scan.next(), [])  # its end; then page 1 again, for contacts listed first
[]
>>> scan.read(scan.next(), [{"_id": 7}, {"_id": 8, "createdAt": "2026-11-20T00:00:00.000Z"}])
[]
>>> scan.next(), scan.found
(None, 1)
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

from runner.fetch.end import EndWatch
from runner.fetch.paging import NewRecords, PageRequest
from runner.fetch.records import Deduplicator, SeenIds
from runner.fetch.redact import Redactor
from runner.fetch.refusals import ignored
from runner.fetch.windows.plan import CREATED, created_after, ms


class _Phase(enum.Enum):
    END = "where the list up to the as-of ends"
    TAIL = "the whole list from there to its first empty page"
    TOP = "the whole list from page 1, while it holds undated contacts"
    DONE = "checked"


def undated(record: Any) -> bool:
    """Whether a record has no ``createdAt`` a range can match."""
    return ms(record.get(CREATED)) is None


class Undated:
    """The scan described in the module docstring: a paging strategy of one request at
    a time, but for the probe for the end, a round of up to ``width()`` pages at once
    (where the list ends moves nothing: page numbers probe it so). ``found``: the
    undated contacts found (passed on when ``include``)."""

    reread = False

    def __init__(
        self,
        closed: Mapping[str, Any],
        whole: Mapping[str, Any],
        records: NewRecords,
        as_of: str,
        *,
        include: bool,
        width: Callable[[], int] = lambda: 1,
    ) -> None:
        self.bodies = {_Phase.END: closed, _Phase.TAIL: whole, _Phase.TOP: whole}
        self.records = records
        self.as_of = as_of
        self.include = include
        self.found = 0
        self._seen = SeenIds()
        self._phase = _Phase.END
        # It stops at the first empty page; as many pages at once as the run reached by
        # each round (made when the scan starts: this is before the run's first request).
        self._width = width
        self._watch: EndWatch | None = None
        self._previous: list[Any] = []  # the ids of the page read before (past the probe)
        self._page = 1
        self.last: PageRequest | None = None  # the request on its way

    @property
    def ahead(self) -> int:
        return max(1, len(self._end().probe.round)) if self._phase is _Phase.END else 1

    def _end(self) -> EndWatch:
        if self._watch is None:
            self._watch = EndWatch(1, max_pages=2**31, width=self._width)
        return self._watch

    def next(self) -> PageRequest | None:
        if self._phase is _Phase.END:
            if (number := self._end().ask()) is None:
                return None
            return PageRequest(number, {**self.bodies[_Phase.END], "page": number})
        if self._phase is _Phase.DONE or self.last is not None:
            return None
        self.last = PageRequest(self._page, {**self.bodies[self._phase], "page": self._page})
        return self.last

    def read(self, request: PageRequest, records: list[Any]) -> list[Any] | None:
        self.last = None
        if self._phase is _Phase.END:
            ids = self.records.ids(request.number, records) if records else []
            if self._end().probed(request.number, ids):  # found (or given up: from page 1)
                end = self._end().last
                self._phase, self._page = _Phase.TAIL, end[0] if end else 1
            return []
        ids = self.records.ids(request.number, records) if records else []
        if ids and ids == self._previous:  # (a list that ends does not repeat its last page)
            raise ignored(request.number)
        self._previous = ids
        found = [r for r, key in zip(records, ids, strict=True) if undated(r) and self._new(key)]
        self.found += len(found)
        self._page += 1
        later = any(created_after(r.get(CREATED), self.as_of) for r in records)
        if self._phase is _Phase.TAIL and not records:
            self._phase, self._page = _Phase.TOP, 1
        elif self._phase is _Phase.TOP and not (found or later):
            self._phase = _Phase.DONE
        return found if self.include else []

    def _new(self, key: Any) -> bool:
        return key is None or self._seen.add(key)


def undated_scan(
    own: Mapping[str, Any],
    ranged: Mapping[str, Any],
    id_key: str,
    scrub: Redactor,
    first: bool,
    width: Callable[[], int] = lambda: 1,
) -> Undated | None:
    """The scan after an incremental run's ``ranged`` body (the segment's ``own`` inside
    its window); ``first``: the run's window has no start (passed on, else counted).
    None when the segment applies its own createdAt range: that leaves them out."""
    if CREATED in (own.get("applicableFilters") or []):
        return None
    end = ranged[CREATED]["endsAt"]
    closed = {**ranged, CREATED: {"startAt": "", "endsAt": end}}
    records = NewRecords(Deduplicator(id_key), scrub)
    return Undated(closed, own, records, end, include=first, width=width)
