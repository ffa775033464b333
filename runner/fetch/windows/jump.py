"""The check for contacts outside every window in a few rounds: positions, not every
page (issue 23).

:class:`~runner.fetch.windows.outside.Outside` reads the segment's own list (without
the range) past the windows' count one page at a time: safe while contacts are put in,
but where the list holds much more than the range (an ``--as-of`` inside the data puts
every contact created after it above the range) or many contacts without createdAt, it
reads all of it again, a round trip a page (63 s where page numbers took 8.9). A list
sorted newest first has a known layout: ``A`` contacts created after the as-of, the
range's ``count`` records side by side, then contacts without a createdAt (where a
database sorting newest first puts them). :class:`Jump` checks that layout in a few
rounds of pages at once:

1. the list's last page ``L`` (:class:`~runner.fetch.end.EndProbe`, from the last page
   the check read one at a time, which has records: a list that ends there is found too);
2. pages ``L``, ``L - 1`` ... a round at a time, down to the one holding the range's
   last record, at position ``last``: what follows it lies outside every window, held
   (at most :data:`HOLD` pages) and passed on in the list's order once step 4 holds;
3. the range's first record must then be at ``first = last - count + 1`` (no record
   between the range's that no window read): that record is one of the range's, the one
   before it was created after the as-of, and so are page 1's before it (no contact
   without createdAt listed first);
4. page ``L`` again, the same ids in the same order, the page after it still empty, and
   page 1 as it was when the rounds began: nothing moved while the pages were read (a
   contact put in or deleted above page ``L``: the net move shows, as for page numbers'
   own check; a contact put in on top, whatever was deleted below).

Anything else (a page of another length, records out of that layout, the list moved):
``failed``, and :class:`Outside` reads on one page at a time as before: nothing was
passed on yet, so it passes on everything in the list's order.

>>> from runner.fetch.redact import Redactor
>>> from runner.fetch.records import Deduplicator
>>> records = NewRecords(Deduplicator("_id"), Redactor(""))
>>> def made(key, day):  # day 0: no createdAt
...     return {"_id": key, "createdAt": f"2026-11-{day}T00:00:00.000Z"} if day else {"_id": key}
>>> new = [made(f"n{i}", 28) for i in range(5)]  # after the as-of
>>> ours = [made(f"r{i}", 20 - i // 4) for i in range(8)]  # the range, read by the windows
>>> _ = records.keep_new(ours, [r["_id"] for r in ours])
>>> listed = new + ours + [made("u1", 0), made("u2", 0)]  # 15 records, pages of 4
>>> pages = {n: listed[4 * n - 4 : 4 * n] for n in range(1, 6)}
>>> jump = Jump({"q": 1}, records, "2026-11-25T00:00:00.000Z", count=8, size=4, start=3)
>>> passed = []
>>> while (request := jump.next()) is not None:
...     while request is not None:
...         kept = jump.read(request, pages.get(request.number, []))
...         passed += kept if isinstance(kept, list) else []
...         request = jump.next()
>>> [r["_id"] for r in passed], jump.done, jump.after, jump.rounds
(['u1', 'u2'], True, 5, 3)
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Container, Mapping
from typing import Any

from runner.fetch.end import WIDTH, EndProbe
from runner.fetch.paging import Aside, NewRecords, PageRequest
from runner.fetch.windows.plan import CREATED, created_after, ms

HOLD = 100  # pages after the range's last record held, at most, until that record is found
MAX_PAGES = 1 << 24  # where the probe for the list's end gives up (the run's max_pages holds)


class _Step(enum.Enum):
    END = "the list's last page"
    BACK = "pages from the last one down to the range's last record"
    TOP = "pages 1 to where the range's first record must be"
    AGAIN = "the last page again, and the one after it: nothing moved"


class Kinds:
    """What a record of the segment's own list is, to the check: one of the range's
    (read by the windows, created up to the as-of: ``ours``), or created after the
    as-of (``newer``: listed above the range)."""

    def __init__(self, as_of: str, seen: Container[Any], passed: Container[Any]) -> None:
        self.as_of, self._seen, self.passed = as_of, seen, passed  # passed: by the check

    def windows(self, key: Any) -> bool:
        return key is not None and key in self._seen and key not in self.passed

    def ours(self, record: Any, key: Any) -> bool:
        value = record.get(CREATED)
        return self.windows(key) and ms(value) is not None and not created_after(value, self.as_of)

    def newer(self, record: Any) -> bool:
        value = record.get(CREATED)
        return ms(value) is not None and created_after(value, self.as_of)


Pages = dict[int, tuple[list[Any], list[Any]]]  # page number: its records, their ids
Held = tuple[int, list[Any], list[Any]]  # records no window saw: page number, records, ids


class Top:
    """Pages 1 to the one holding the range's first record (at position ``first``), read
    in order as they come: before it, records created after the as-of (``newer``,
    counted once each) and records no window could see (``outside``: contacts without
    a createdAt listed first, or among the newer ones, held), none of the range's; at it,
    one of the range's; full pages of ``size``."""

    def __init__(self, first: int, size: int, kinds: Kinds) -> None:
        self.first, self.size, self.kinds = first, size, kinds
        self.pages = list(range(1, first // size + 2))
        self.newer: set[Any] = set()
        self.outside: list[Held] = []
        self.held = 0

    def fits(self, number: int, records: list[Any], ids: list[Any]) -> bool:
        if number < self.pages[-1] and len(records) != self.size:
            return False
        start, kinds = (number - 1) * self.size, self.kinds
        out: Held = (number, [], [])
        fits = number < self.pages[-1]  # (the page where the first must be: below)
        for position, record, key in zip(
            range(start, start + len(records)), records, ids, strict=True
        ):
            if position == self.first:
                fits = kinds.ours(record, key)
                break
            if kinds.ours(record, key):
                return False  # one of the range's above where its first must be
            if kinds.newer(record):
                self.newer.add(key if key is not None else ("no id", position))
            else:
                out[1].append(record)
                out[2].append(key)
        self.outside += [out] if out[1] else []
        self.held += len(out[1])
        return fits and self.held <= HOLD * self.size


def holds(page: tuple[list[Any], list[Any]], kinds: Kinds) -> list[int]:
    """Where the range's records are on ``page`` (its records, their ids)."""
    records, ids = page
    return [i for i, (r, key) in enumerate(zip(records, ids, strict=True)) if kinds.ours(r, key)]


def following(pages: Pages, page: int, index: int, last: int, kinds: Kinds) -> list[Held] | None:
    """The records after record ``index`` of ``page``, to page ``last``, by page; None
    where one was created after the as-of (below the range: not sorted newest first)."""
    records, ids = pages[page]
    after = [(page, records[index + 1 :], ids[index + 1 :])]
    after += [(n, *pages[n]) for n in range(page + 1, last + 1)]
    if any(kinds.newer(r) for _, rs, _ in after for r in rs):
        return None
    return after


def pass_on(
    top: list[Held], held: list[Held], began: int, start: int, jump: Jump
) -> tuple[list[Any], int]:
    """What no window saw, once each, in the order page by page passes it on: from the
    page where it began (``began``) to the end, then from page 1 down to there; and how
    many of them page by page passed on already, on the pages it read before the rounds
    (``began`` to ``start``): its own re-reads, not the API's duplicates."""
    parts = [h for h in top if h[0] >= began], held, [h for h in top if h[0] < began]
    passed: list[Any] = []
    again = 0
    for number, records, ids in (h for part in parts for h in part):
        if began <= number < start:
            again += sum(key in jump.kinds.passed for key in ids)
        passed += jump.records.keep_new(records, ids)
    return passed, again


class Jump:
    """The check in the module docstring. ``next`` and ``read`` as an ordered strategy
    (a round's pages at once: ``ahead``); ``read`` returns the records outside every
    window, once, in the list's order. ``after``: contacts created after the as-of,
    listed above the range (once ``done``); ``rechecked``: the windows' records read
    again; ``failed``: not the layout (:class:`Outside` reads on page by page), or
    ``moved`` while it was read."""

    def __init__(
        self,
        body: Mapping[str, Any],
        records: NewRecords,
        as_of: str,
        *,
        count: int,
        size: int,
        start: int,
        width: Callable[[], int] = lambda: 8,
        passed: Container[Any] = frozenset(),
        hint: int = 0,
        tail: int = 0,
    ) -> None:
        self.body, self.records, self.count, self.size = body, records, count, size
        self.after = self.rechecked = self.rounds = 0
        self.done = self.failed = self.moved = False
        self.kinds = Kinds(as_of, records.dedupe.seen, passed)
        self._top: Top | None = None
        self._step = _Step.END
        self._width, at_once = width, max(1, min(WIDTH, width()))
        self._probe = EndProbe(max(1, start - 1), MAX_PAGES, at_once, near=True)  # (see above)
        self._came: Pages = {}  # this round's: records, ids
        self._pages: Pages = {}  # kept for later steps
        self._held: list[Held] = []  # what follows the range, by page
        self._queue: list[int] = []
        self._wire = 0
        self._last: tuple[int, list[Any]] = (0, [])  # page L, its ids as first read
        self._hint = hint  # a page read before that held the range's records
        self._start, self._began = start, tail or start  # where page by page began
        self._back = self._first = 0  # the next page down to ask; the range's first record's place
        self._opening: list[Any] | None = None  # page 1's ids, read with the first round
        self._plan([1, *self._probe.round])

    @property
    def ahead(self) -> int:
        return max(1, min(len(self._queue) + self._wire, self._width()))

    def next(self) -> PageRequest | None:
        if not self._queue:
            return None
        number = self._queue.pop(0)
        self._wire += 1
        return PageRequest(number, {**self.body, "page": number})

    def read(self, request: PageRequest, records: list[Any]) -> list[Any] | Aside | None:
        self._wire -= 1
        ids = self.records.ids(request.number, records) if records else []
        if self._top is not None and self._step is _Step.TOP:
            if not self._top.fits(request.number, records, ids):
                self._fail()
                return None  # the pages still on their way are dropped
            if self._wire or self._queue:
                return Aside.PAGE
            self._step = _Step.AGAIN
            self._plan([1, self._last[0], self._last[0] + 1])
            return Aside.PAGE
        if self._step is _Step.END and request.number == 1 and self._opening is None:
            self._opening = ids  # (read again at the end: a contact put in on top shows)
        self._came[request.number] = (records, ids)
        if self._wire or self._queue:
            return Aside.PAGE  # the round's other pages are on their way
        came, self._came = self._came, {}
        self._pages.update(came)
        step = {
            _Step.END: self._ended,
            _Step.BACK: self._back_read,
            _Step.AGAIN: self._again_read,
        }[self._step]
        passed = step(came)
        return passed if passed else Aside.PAGE

    def _plan(self, pages: list[int]) -> None:
        self._queue = pages
        self.rounds += bool(pages)

    def _fail(self) -> None:
        self.failed, self._queue, self._pages, self._held = True, [], {}, []

    def _ended(self, came: Pages) -> list[Any]:
        for number in self._probe.round:
            self._probe.read(number, came[number][1])
        if self._probe.round:
            self._plan(list(self._probe.round))
            return []
        end, seen = self._probe.end, self._pages
        if end is None or any(len(rs) != self.size for n, (rs, _) in seen.items() if n < end[0]):
            self._fail()  # no end found, or pages of another length than the windows' size
            return []
        # Page L as first read opens what page L read again closes: the pages below it
        # are read after it (those the probe read with it or before only say how far).
        self._last, self._pages = end, {end[0]: seen[end[0]]}
        self._step, self._back = _Step.BACK, end[0]
        held = [n for n, page in seen.items() if holds(page, self.kinds)]
        hint = max((n for n in [*held, self._hint] if n < end[0]), default=0)
        return self._back_read({}, hint)

    def _back_read(self, came: Pages, hint: int = 0) -> list[Any]:
        last = self._last[0]
        while self._back in self._pages:
            if self._back < last and len(self._pages[self._back][0]) != self.size:
                self._fail()
                return []
            if ours := holds(self._pages[self._back], self.kinds):
                return self._tail(self._back, ours[-1])
            self._back -= 1
        lowest = hint or self._back - max(1, self._width()) + 1
        if self._back < 1 or last - lowest >= HOLD:
            self._fail()  # no record of the range, or too many pages after it to hold
            return []
        self._plan(list(range(self._back, max(0, lowest - 1), -1)))
        return []

    def _tail(self, page: int, index: int) -> list[Any]:
        """The range's last record is record ``index`` of ``page``: what follows it (pages
        ``page`` to L) is held until nothing moved, and where its first record must be
        is asked."""
        last = self._last[0]
        after = following(self._pages, page, index, last, self.kinds)
        first = self._first = (page - 1) * self.size + index - self.count + 1
        if after is None or first < 0:
            self._fail()  # not newest first; or fewer of the range's records than it holds
            return []
        self._held, self._pages = after, {last: self._pages[last]}
        self._top, self._step = Top(first, self.size, self.kinds), _Step.TOP
        self._plan(list(self._top.pages))
        return []

    def _again_read(self, came: Pages) -> list[Any]:
        number, ids = self._last
        if came[number][1] != ids or came[number + 1][0] or came[1][1] != self._opening:
            # The list moved while it was read (or grew past a full last page; or a
            # contact was put in on top and one deleted below: page 1 shows the first):
            # tried again once (Outside).
            self._fail()
            self.moved = True
            return []
        assert self._top is not None, "read again after the top"
        self.after, self.done, self._pages = len(self._top.newer), True, {}
        passed, again = pass_on(self._top.outside, self._held, self._began, self._start, self)
        self.rechecked, self._held = self.rechecked + again, []
        return passed
