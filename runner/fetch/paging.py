"""Which request comes next: paging strategies as small state machines, and the
interfaces through which the fetcher drives them without asking which one it has.

A strategy hands the fetcher's threads one request at a time (``next``) and is handed
back each page's records. :class:`Paging` is all the fetcher sees: the figures for
the summary (:class:`Figures`) and :meth:`Paging.pages`, where the strategy says how
it is read and what comes after: in the order asked (:class:`Ordered`: each page's
records go back in the order the requests were made, and ``read`` says which to pass
on), or as answered (:class:`AsAnswered`: replies are filed as they come, and
``passed`` hands pages over in the list's order), or one and then the other. The
threads keep up to ``ahead`` requests on their way, so a strategy whose next request
depends on a page's content (a time window that starts where the last one's records
end) returns None from ``next`` until that page is read, and one that can look ahead
(page numbers) never does.

>>> paging = PageNumbers({"q": 1}, NewRecords(Deduplicator("_id"), Redactor("")), 1, 5)
>>> [paging.read(paging.next(), records) for records in ([{"_id": "a"}], [])]  # where it ends
[<Aside.PAGE: 'a page read for the strategy alone'>, None]
>>> paging.next()  # the list ends on page 1: the pass begins
PageRequest(number=1, body={'q': 1, 'page': 1})
>>> paging.read(PageRequest(1, {}), [{"_id": "a"}]), paging.next().number
([{'_id': 'a'}], 2)
>>> paging.read(PageRequest(2, {}), []), paging.next()  # the first empty page ends the pass
(None, PageRequest(number=1, body={'q': 1, 'page': 1}))
>>> paging.read(PageRequest(1, {}), [{"_id": "a"}]), paging.next()  # its end did not move
(None, None)

:class:`PageNumbers` is the plain strategy; the rules that tell an API which does not
page from one that does (``max_pages``, the same page twice, pages of records read
already) are its own. :class:`NewRecords` is what every strategy shares: records must
be objects with ids, and each passes once. Time windows are
:mod:`runner.fetch.windows`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, TypeVar

import orjson

from runner.errors import PagingError
from runner.fetch.end import EndWatch, past_max_pages
from runner.fetch.records import Deduplicator, first_non_object, json_type
from runner.fetch.redact import Redactor
from runner.fetch.refusals import (
    deleted_twice,
    ignored,
    not_an_id,
    not_paging,
    read_before_after_new,
    reordered,
)


@dataclass(frozen=True)
class PageRequest:
    """One request: ``number`` names it in messages ("page 3"); ``body`` is what is sent."""

    number: int
    body: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"page {self.number}"

    @property
    def depth(self) -> int:  # pages the API skips to answer it: deeper can cost more
        return max(0, int(self.body.get("page", 1)) - 1)


R = TypeVar("R", bound=PageRequest)

Later: TypeAlias = Callable[[], list[Any]]
"""A page's reply not decoded yet: taken as answered, a page that came early may wait
as its bytes and be decoded in its turn (raises Retryable when they are not a page)."""


@dataclass(frozen=True)
class Page:
    """A page's records not seen before, numbered as a read by page number numbers it."""

    number: int
    records: list[Any]


@dataclass(frozen=True)
class Figures:
    """What a strategy tells the summary and the manifest about how the list was read."""

    windows: int = 0  # createdAt windows opened (0: paged by page number only)
    note: str = ""  # why windowing stopped, when it did
    read_as: str = ""  # how the list was read past its windows ("": no other way)
    reread: bool = False  # the list moved while it was read, and was read again
    after_as_of: int = 0  # contacts created after the as-of it saw, left out
    rechecked: int = 0  # records its own checks read again: not the API's duplicates


class Aside(enum.Enum):
    """What :meth:`Ordered.read` returns for a page the strategy read for itself (where
    the list ends): nothing to pass on, and the requests sent after it stay on their way."""

    PAGE = "a page read for the strategy alone"


class Ordered(Protocol[R]):
    """A strategy read in the order asked: each page's records come back in the order
    the requests were made."""

    @property
    def ahead(self) -> int:
        """Requests that may be on their way at once now (1: one by one, in order)."""

    def next(self) -> R | None:
        """The next request to send; None until a page on its way is read, or when done."""

    def read(self, request: R, records: list[Any]) -> list[Any] | Aside | None:
        """Take ``request``'s records; return those to pass on (new ones), or None when
        this page ends a run of requests: the requests sent after it are dropped unread
        and :meth:`next` is asked again, or :attr:`Aside.PAGE`: nothing to pass on, the
        requests after it go on. Raises PagingError when the list cannot be trusted."""


class AsAnswered(Protocol[R]):
    """A strategy that takes replies in the order they are answered and passes pages on
    in the list's own order (``passed``). ``retrying`` is set by the fetcher: a page
    waits to try again (it holds no slot)."""

    retrying: bool

    @property
    def ahead(self) -> int:
        """Requests that may be on their way at once now."""

    @property
    def ordered(self) -> bool:
        """True once the rest of the list is read in the order asked: the fetcher drops
        the replies on their way and turns to :class:`Ordered`."""

    def next(self) -> R | None:
        """The next request to send; None for now, or when done."""

    def later(self, request: R, size: int) -> bool:
        """Whether a reply of ``size`` bytes to ``request`` can wait undecoded for its
        turn (then it is filed as a :data:`Later`)."""

    def timed(self, request: R, seconds: float) -> None:
        """``request`` was answered in ``seconds`` on the wire (at its first try)."""

    def file(self, request: R, records: list[Any] | Later) -> list[Any] | None:
        """File ``request``'s reply (records, or a reply to decode in its turn); None
        when windowing stopped there (:attr:`ordered`)."""

    def passed(self) -> Iterator[tuple[int, list[Any]]]:
        """The pages now next in the list's order, numbered as page numbers would."""


class Threads(Protocol):
    """What the fetcher's threads offer a strategy: the two ways of reading it."""

    def in_order(self, paging: Ordered[R]) -> Iterator[Page]:
        """Pages in the order asked, until ``paging`` has no more requests."""

    def as_answered(self, paging: AsAnswered[R]) -> Generator[Page, None, bool]:
        """Pages in the list's order, replies taken as answered; True when ``paging``
        turned to pages in order (:attr:`AsAnswered.ordered`)."""


class Paging(Protocol):
    """A paging strategy as the fetcher uses it (see the module docstring)."""

    @property
    def figures(self) -> Figures:
        """How the list was read, for the summary (as far as read)."""

    def pages(self, threads: Threads) -> Iterator[Page]:
        """Every page of the list with its records not seen before, read by
        ``threads`` in the way (or ways, one after another) this strategy is read."""


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
        try:
            hash(tuple(ids))  # (one C loop: strings keep their hash)
        except TypeError:
            raise not_an_id(number, self.dedupe.id_key, ids) from None
        return ids

    def keep_new(self, records: list[Any], ids: list[Any]) -> list[Any]:
        return self.dedupe.keep_new(records, ids)


class _Phase(enum.Enum):
    PROBE = "where the list ends, before the pass (EndProbe), a round of pages at a time"
    FIRST = "the first pass, ``ahead`` pages at once"
    AGAIN = "the list once more, in order"
    CHECKS = "the pass's last page again, and after a parallel pass its first, at once"
    DONE = "complete"


class PageNumbers:
    """Page 1, 2, 3 ... with ``page`` in the body, until the first page with no records.

    Live data shifts pages while they are read. In order, a shift only repeats records
    (dropped by id). Read in parallel, a later page can be read before an earlier one
    and a shift in between skips records at that boundary. So after a parallel pass page
    1 (or ``start``) and the last page are read again, together: if either moved (or
    contacts above the page being read were deleted: :class:`~runner.fetch.end.EndWatch`)
    the list is read once more, in order, and the duplicates dropped (``reread``).

    A list is refused rather than passed on partly: at ``max_pages`` pages with more to
    come, and when the API does not page (it ignores ``page`` or reorders).
    """

    def __init__(
        self,
        body: Mapping[str, Any],
        records: NewRecords,
        concurrency: int,
        max_pages: int,
        start: int = 1,
        width: Callable[[], int] | None = None,
    ) -> None:
        self.body = body
        self.records = records
        self.concurrency, self._ahead = concurrency, 1
        self.max_pages = max_pages
        self.reread = False
        self._phase = _Phase.PROBE
        self._end = EndWatch(start, max_pages, width or (lambda: concurrency))
        self._start = self._next = start  # past 1: the pages above were read another way
        self._previous: list[Any] | None = None
        self._stale = 0  # pages in a row with nothing new that are not a shrinking tail
        self._first_ids: list[Any] | None = None
        self._check_top = False  # the pass was parallel: page ``start`` is read again
        self._checks, self._checked = list[int](), dict[int, list[Any]]()  # (CHECKS) sent, came

    @property
    def ahead(self) -> int:  # requests on their way at once: the probe's round, while it runs
        return max(1, len(self._end.probe.round)) if self.probing else self._ahead

    def next(self) -> PageRequest | None:
        if self._phase is _Phase.PROBE:
            return None if (number := self._end.ask()) is None else self._request(number)
        if self._phase is _Phase.CHECKS:
            return self._request(self._checks.pop(0)) if self._checks else None
        if (
            self._phase is _Phase.DONE
            or self._next > self.max_pages + 1
            or self._end.past(self._next)
        ):
            return None
        self._next += 1
        return self._request(self._next - 1)

    @property
    def done(self) -> bool:
        """The list is complete."""
        return self._phase is _Phase.DONE

    @property
    def figures(self) -> Figures:
        return Figures(reread=self.reread)

    def pages(self, threads: Threads) -> Iterator[Page]:
        return threads.in_order(self)

    def _request(self, number: int) -> PageRequest:
        return PageRequest(number, {**self.body, "page": number})

    def read(self, request: PageRequest, records: list[Any]) -> list[Any] | Aside | None:
        if self._phase is _Phase.PROBE:  # nothing to pass on: the pass reads these pages
            self._probed(request.number, records)
            return Aside.PAGE if self.probing else None  # the round's other pages go on
        if self._phase is _Phase.CHECKS:
            return self._check(request.number, records)
        if not records:
            self._end_pass()
            return None
        past_max_pages(request.number, self.max_pages)
        self._end.read(request.number)
        ids = self.records.ids(request.number, records)
        if ids == self._previous:
            raise ignored(request.number)
        if (first := self._phase is _Phase.FIRST) and request.number == self._start:
            self._first_ids = ids
        kept = self.records.keep_new(records, ids)
        shifted = not kept or kept[0] is records[len(records) - len(kept)]  # (the usual)
        if first and not shifted and read_before_after_new(records, ids, kept):
            raise reordered(request.number)  # (not a shift of the list: see refusals)
        if len(kept) > ids.count(None):
            self._stale = 0
        elif first and len(records) >= len(self._previous or ()):
            # Nothing new. Live data does this (records pushed down by a page or more,
            # a growing list's shrinking tail); an API that ignores or reorders ``page``
            # does it for ever, in pages that do not shrink.
            self._stale += 1
            if self._stale > self.ahead + 1:
                raise not_paging(request.number - self._stale + 1, request.number)
        self._previous = ids
        return kept

    def _end_pass(self) -> None:
        """The checks go out together: a contact put in above page 1 or deleted above the
        last page since the pass shows in one of them, in whichever order they are served."""
        parallel = self._phase is _Phase.FIRST and self.ahead > 1
        self._check_top = parallel and self._first_ids is not None
        last = [self._end.last[0]] if self._end.last else []
        top = [self._start] if self._check_top and self._start not in last else []
        self._checks, self._checked = last + top, {}
        self._phase = _Phase.CHECKS if self._checks else _Phase.DONE
        self._ahead = max(1, len(self._checks))

    def _check(self, number: int, records: list[Any]) -> Aside | None:
        """One of the checks came; when all have: done, or the list read again."""
        self._checked[number] = records
        if len(self._checked) < self._ahead:
            return Aside.PAGE  # (the other check is on its way: not to be dropped)
        last, top = self._end.last, self._checked.get(self._start, [])
        moved = last is not None and self._tail(last[0], self._checked[last[0]])
        if moved or (self._check_top and self.records.dedupe.ids(top) != self._first_ids):
            self._again()
        else:
            self._phase = _Phase.DONE
        return None

    @property
    def probing(self) -> bool:  # finding where the list ends: no page of the pass read yet
        return self._phase is _Phase.PROBE

    def _probed(self, number: int, records: list[Any]) -> None:
        if self._end.probed(number, self.records.ids(number, records) if records else []):
            self._phase = _Phase.AGAIN if self.reread else _Phase.FIRST
            self._ahead = 1 if self.reread else self.concurrency

    def _tail(self, number: int, records: list[Any]) -> bool:
        """Whether the last page read again moved (:class:`~runner.fetch.end.EndWatch`);
        after a parallel pass, whether it holds other records (a record skipped)."""
        ids, last = self.records.ids(number, records) if records else [], self._end.last
        moved, before = self._end.moved(ids), last[1] if last else []
        pushed = self._check_top and set(ids) != set(before)  # (ties may come reordered)
        if moved and self.reread:
            raise deleted_twice(moved)
        return bool(moved or pushed)

    def _again(self) -> None:
        """Read the list once more, in order, from where its end now is."""
        self.reread, self._phase, self._next, self._previous = True, _Phase.PROBE, self._start, None
        self._end.restart()
