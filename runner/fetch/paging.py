"""Which request comes next: paging strategies as small state machines.

A strategy hands the fetcher one request at a time (:meth:`Paging.next`) and is
handed back each page's records, in the order the requests were made
(:meth:`Paging.read`); it says which records to pass on and when the list is
complete. The fetcher keeps up to :attr:`Paging.ahead` requests on their way, so a
strategy whose next request depends on a page's content (a time window that
starts where the last one's records end) returns None from ``next`` until that
page is read, and one that can look ahead (page numbers) never does.

>>> paging = PageNumbers({"q": 1}, NewRecords(Deduplicator("_id"), Redactor("")), 1, 5)
>>> [paging.read(paging.next(), records) for records in ([{"_id": "a"}], [])]  # where it ends
[None, None]
>>> paging.next()  # the list ends on page 1: the pass begins
PageRequest(number=1, body={'q': 1, 'page': 1})
>>> paging.read(PageRequest(1, {}), [{"_id": "a"}]), paging.next().number
([{'_id': 'a'}], 2)
>>> paging.read(PageRequest(2, {}), []), paging.next()  # the first empty page ends the pass
(None, PageRequest(number=1, body={'q': 1, 'page': 1}))
>>> paging.read(PageRequest(1, {}), [{"_id": "a"}]), paging.next()  # its end did not move
(None, None)

:class:`PageNumbers` is the strategy in use; the rules that tell an API which
does not page from one that does (``max_pages``, the same page twice, pages of
records read already) are its own. :class:`NewRecords` is what every strategy
shares: records must be objects with ids, and each passes once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from runner.errors import PagingError
from runner.fetch.end import EndProbe
from runner.fetch.records import Deduplicator, first_non_object, json_type
from runner.fetch.redact import Redactor


def past_max_pages(pages: int, max_pages: int) -> None:
    """Refuse page ``pages`` of records past ``max_pages``: the list is not complete."""
    if pages > max_pages:
        raise PagingError(
            f"stopped at max_pages {max_pages} before the API's last page; "
            "nothing published (raise --max-pages or api.max_pages)"
        )


@dataclass(frozen=True)
class PageRequest:
    """One request: ``number`` names it in messages ("page 3"); ``body`` is what is sent."""

    number: int
    body: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"page {self.number}"


class Paging(Protocol):
    """A paging strategy: the state machine the fetcher drives (see the module docstring)."""

    @property
    def ahead(self) -> int:
        """Requests that may be on their way at once now (1: one by one, in order)."""

    @property
    def reread(self) -> bool:
        """The list moved while it was read, and was read again."""

    def next(self) -> PageRequest | None:
        """The next request to send; None until a page on its way is read, or when done."""

    def read(self, request: PageRequest, records: list[Any]) -> list[Any] | None:
        """Take ``request``'s records; return those to pass on (new ones), or None when
        this page ends a run of requests: the requests sent after it are dropped unread
        and :meth:`next` is asked again. Raises PagingError when the list cannot be
        trusted."""


class NewRecords:
    """The records of a page that were not read before; each must be an object with an id.

    ``scrub`` masks the token in the parts of records quoted in messages.
    """

    def __init__(self, dedupe: Deduplicator, scrub: Redactor) -> None:
        self.dedupe = dedupe
        self.scrub = scrub

    def ids(self, number: int, records: list[Any]) -> list[Any]:
        """The page's ids; fails on records that are not objects, or carry no id at all."""
        bad = first_non_object(records)
        if bad:
            index, value = bad
            shown = "" if value is None else f" ({self.scrub(orjson.dumps(value).decode(), 60)})"
            raise PagingError(
                f"page {number}: record {index} is {json_type(value)}{shown}, not an "
                "object; the API must return a list of JSON objects"
            )
        ids = self.dedupe.ids(records)
        if ids.count(None) == len(ids):
            keys = self.scrub(", ".join(records[0]), 200) or "no keys"
            raise PagingError(
                f"page {number}: none of its {len(ids)} records has an id at "
                f"'{self.dedupe.id_key}' (api.id_key); the first record has: {keys}"
            )
        return ids

    def keep_new(self, records: list[Any], ids: list[Any]) -> list[Any]:
        return self.dedupe.keep_new(records, ids)


class _Phase(enum.Enum):
    PROBE = "where the list ends, before the pass (EndProbe), one page at a time"
    FIRST = "the first pass, ``ahead`` pages at once"
    CHECK = "the first page again (page 1, or ``start``), to send"
    CHECKING = "the first page again, on its way"
    AGAIN = "the list once more, in order"
    TAIL = "the pass's last page again, to send"
    TAILING = "the pass's last page again, on its way"
    DONE = "complete"


class PageNumbers:
    """Page 1, 2, 3 ... with ``page`` in the body, until the first page with no records.

    Live data shifts pages while they are read. In order, a shift only repeats
    records (dropped by id). Fetched in parallel, a later page can be read before
    an earlier one and a shift in between skips records at that boundary. So after
    a parallel pass page 1 (or the pass's first page, ``start``) is read again: if
    the top of the list moved, the list is
    read once more, in order, and the duplicates are dropped (``reread``). A deletion
    above the page being read hides a contact even in order: so before the pass the
    list's last page is found (:class:`~runner.fetch.end.EndProbe`) and after it read
    again; moved up, the list is read once more, and if it moves up again the run
    fails (:meth:`_tail`).

    A list is refused rather than passed on partly: at ``max_pages`` pages with
    more to come, and when the API does not page (a page holding only records
    already read, as when it ignores ``page`` or reorders).
    """

    def __init__(
        self,
        body: Mapping[str, Any],
        records: NewRecords,
        concurrency: int,
        max_pages: int,
        start: int = 1,
    ) -> None:
        self.body = body
        self.records = records
        self.concurrency, self.ahead = concurrency, 1
        self.max_pages = max_pages
        self.reread = False
        self._phase = _Phase.PROBE
        self._probe = EndProbe(start, max_pages)
        self._start = self._next = start  # past 1: the pages above were read another way
        self._previous: list[Any] | None = None
        self._stale = 0  # pages in a row with nothing new that are not a shrinking tail
        self._first_ids: list[Any] | None = None
        self._last: tuple[int, list[Any]] | None = None  # the list's last page: number, ids
        self._asked = False  # the probe's request is on its way
        self._check_top = False  # the pass was parallel: page ``start`` is read again

    def next(self) -> PageRequest | None:
        if self._phase is _Phase.PROBE:
            if self._asked or self._probe.page is None:
                return None
            self._asked = True
            return self._request(self._probe.page)
        if self._phase is _Phase.CHECK:
            self._phase = _Phase.CHECKING
            return self._request(self._start)
        if self._phase is _Phase.TAIL and self._last:
            self._phase = _Phase.TAILING
            return self._request(self._last[0])
        waiting = (_Phase.CHECKING, _Phase.TAILING, _Phase.DONE)
        if self._phase in waiting or self._next > self.max_pages + 1:
            return None
        self._next += 1
        return self._request(self._next - 1)

    @property
    def done(self) -> bool:
        """The list is complete."""
        return self._phase is _Phase.DONE

    def _request(self, number: int) -> PageRequest:
        return PageRequest(number, {**self.body, "page": number})

    def read(self, request: PageRequest, records: list[Any]) -> list[Any] | None:
        if self._phase is _Phase.PROBE:
            self._probed(request.number, records)
            return None  # nothing to pass on: the pass reads these pages in their turn
        if self._phase is _Phase.CHECKING:
            self._check(records)
            return None
        if self._phase is _Phase.TAILING:
            self._tail(records)
            return None
        if not records:
            self._end_pass()
            return None
        past_max_pages(request.number, self.max_pages)
        ids = self.records.ids(request.number, records)
        if ids == self._previous:
            raise self._ignored(request.number)
        first = self._phase is _Phase.FIRST
        if first and request.number == self._start:
            self._first_ids = ids
        kept = self.records.keep_new(records, ids)
        if len(kept) > ids.count(None):
            self._stale = 0
        elif first and len(records) >= len(self._previous or ()):
            # Nothing new. Live data does this: new records on top push read ones
            # down, by a page or more between two reads when pages are fetched in
            # parallel, and the tail of a growing list is pages of pushed-down records
            # that shrink. An API that ignores or reorders ``page`` does it for ever,
            # in pages that do not shrink.
            self._stale += 1
            if self._stale > self.ahead + 1:
                raise self._not_paging(request.number)
        self._previous = ids
        return kept

    def _end_pass(self) -> None:
        parallel = self._phase is _Phase.FIRST and self.ahead > 1
        self._check_top = parallel and self._first_ids is not None
        self._phase = _Phase.TAIL if self._last else self._after_tail()
        self.ahead = 1

    def _after_tail(self) -> _Phase:
        return _Phase.CHECK if self._check_top else _Phase.DONE

    def _check(self, records: list[Any]) -> None:
        if self.records.dedupe.ids(records) == self._first_ids:
            self._phase = _Phase.DONE
            return
        self._again()

    @property
    def probing(self) -> bool:
        """Finding where the list ends: no page of the pass read yet."""
        return self._phase is _Phase.PROBE

    def _probed(self, number: int, records: list[Any]) -> None:
        self._asked = False
        if records:
            past_max_pages(number, self.max_pages)  # before the pass, not after it
        self._probe.read(number, self.records.ids(number, records) if records else [])
        if self._probe.page is None:
            self._last = self._probe.end
            self._phase = _Phase.AGAIN if self.reread else _Phase.FIRST
            self.ahead = 1 if self.reread else self.concurrency

    def _tail(self, records: list[Any]) -> None:
        """The list's last page as it was before the pass, read again: moved up,
        contacts above it were deleted while the pass went, and each deletion above
        the page being read hid one contact at its boundary. The list is read once
        more, in order; if it moves up again, the run fails rather than publish a list
        that may be short."""
        assert self._last is not None
        number, before = self._last
        after = self.records.dedupe.ids(records) if records else []
        moved, self._last = moved_up(before, after), (number, after)
        if not moved:
            self._phase = self._after_tail()
        elif self.reread:
            raise PagingError(
                f"contacts were deleted while the list was read, and again while it was read "
                f"a second time (page {number} moved up by {moved:,}): contacts listed below "
                "a deleted one may have been skipped; nothing published (run it again)"
            )
        else:
            self._again()

    def _again(self) -> None:
        """Read the list once more, in order, from where its end now is."""
        self.reread = True
        self._phase, self._probe = _Phase.PROBE, EndProbe(self._start, self.max_pages)
        self._next = self._start
        self._previous = None

    def _ignored(self, number: int) -> PagingError:
        return PagingError(
            f"page {number} returned exactly the records of page "
            f"{number - 1}: the API seems to ignore the page number "
            "(check api.path and api.base_url)"
        )

    def _not_paging(self, number: int) -> PagingError:
        return PagingError(
            f"pages {number - self._stale + 1} to {number} hold only records read on "
            "earlier pages: the API is not paging (it ignores or reorders 'page'), or the "
            "list grows by a page or more with every request; nothing published"
        )


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
