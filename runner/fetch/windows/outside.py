"""Contacts no ``createdAt`` window can see, found after the windows (issue 22 item 7).

A contact without a ``createdAt`` (or with one the API cannot compare) matches no
``createdAt`` range, so a list read as windows never sees it. The platform does not
say every contact has one. So once the closed range is read (``count`` records in
pages of ``size``), :class:`Outside` asks the segment's own list, without the range,
by page number from the page where that count ends (page ``count // size + 1``) to its
first empty page, one page at a time (its first round asked early: :class:`Early`):

- a record read before: the range's own tail (or one pushed down by contacts created
  since the as-of, or by contacts listed first that lack a ``createdAt``);
- a record not read before, created after the as-of: live data, not in the snapshot
  (windows leave it out too);
- any other record not read before lies outside every window: passed on (where the API
  lists such contacts last, as a database sorting newest first does, they come where
  page numbers put them: the file is the same byte for byte).

The pages past the count should hold exactly the range's last ``count % size``
records. More read-before records there mean the list holds more above: then page 1,
2 ... are read while they hold records not read before, counting contacts created
since the as-of and passing on the others; what is still unexplained is refused,
naming the count, rather than published short.

Once :data:`JUMP_AFTER` pages past the count are read (two, where both hold only the
range's records, pushed down) and the list goes on (contacts
created after an ``--as-of`` inside the data listed above the range, or many without
createdAt after it), the rest is checked in a few rounds of pages at once
(:class:`~runner.fetch.windows.jump.Jump`);
where the list is not laid out as that check needs, one page at a time on from there.

>>> from runner.fetch.redact import Redactor
>>> from runner.fetch.records import Deduplicator
>>> records = NewRecords(Deduplicator("_id"), Redactor(""))
>>> records.keep_new([{"_id": 1}, {"_id": 2}, {"_id": 3}], [1, 2, 3])  # the windows' reads
[{'_id': 1}, {'_id': 2}, {'_id': 3}]
>>> check = Outside({"q": 1}, records, as_of="2026-11-25T00:00:00.000Z", count=3, size=2)
>>> request = check.next()
>>> request  # the page where the 3 records end, without the range
PageRequest(number=2, body={'q': 1, 'page': 2})
>>> check.read(request, [{"_id": 3}, {"_id": 9}])  # 9 has no createdAt
[{'_id': 9}]
>>> check.read(check.next(), []), check.next(), check.found
(None, None, 1)
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from runner.errors import PagingError
from runner.fetch.paging import Aside, NewRecords, PageRequest
from runner.fetch.refusals import ignored
from runner.fetch.windows.jump import Jump
from runner.fetch.windows.plan import CREATED, created_after, ms

JUMP_AFTER = 6  # pages past the count read one at a time before the rest is checked in rounds
# (or two, where both hold only the range's records pushed down: the list holds two pages
# or more above, read again from page 1 one at a time; the rounds cost about five)
# (about the round trips the rounds take: a shorter rest costs fewer one at a time)


class _Phase(enum.Enum):
    TAIL = "the pages past the count"
    TOP = "the pages above, while they hold records not read before"
    DONE = "checked"


class Outside:
    """The check described in the module docstring: a paging strategy of one request
    at a time (``ahead`` 1), or a round of ``width()`` pages at once while it jumps;
    ``found``: records passed on that no window saw."""

    reread = False
    probing = False  # it reads from where the windows' count ends: nothing to find first

    def __init__(
        self,
        body: Mapping[str, Any],
        records: NewRecords,
        as_of: str,
        count: int,
        size: int,
        width: Callable[[], int] = lambda: 1,
    ) -> None:
        self.body, self.records, self.as_of = body, records, as_of
        self.count, self.size, self.width = count, size, width
        self.page, self.expected = past_count(count, size)  # the range's records there
        self.began = self.page  # where it began: the page where the count ends
        self._jump: Jump | None = None  # the rest checked in rounds (tried once)
        self._jumps = 2  # tries: a list that moved while the rounds were read is tried again
        self.jumped: bool | None = None  # the rest checked in rounds (True), or given up
        self._lost: set[Any] = set()  # ids of the records this check passed on
        # after: records created after the as-of (the next run's); dated: found, with one
        self.found = self.after = self.dated = 0
        self.excess = -self.expected  # read-before records past the count, beyond those
        self.arrived = 0  # records created after the as-of, seen on the way
        self.above = 0  # records no window saw, found above the count (listed first)
        self.rechecked = 0  # records the windows passed on, read again here
        self._phase = _Phase.TAIL
        self._wire = False
        self._met: set[Any] = set()  # ids on the pages this check read
        self._longest = 0  # the longest page this check read
        self._previous: list[Any] = []  # the ids of the page it read before
        self.held = 0  # the last page this check read that held records the windows read
        self.tail_pages: list[int] = []  # past the count, read one at a time, with records

    @property
    def done(self) -> bool:
        return self._phase is _Phase.DONE

    @property
    def tail(self) -> bool:
        """Reading the pages past the count (:meth:`request` gives them; see :class:`Early`)."""
        return self._phase is _Phase.TAIL

    @property
    def ahead(self) -> int:
        return self._jump.ahead if self._jump is not None else 1

    def request(self, number: int) -> PageRequest:
        return PageRequest(number, {**self.body, "page": number})

    def next(self) -> PageRequest | None:
        # One page at a time: read in parallel, a contact created meanwhile would push the
        # last record of a page read later onto one read before (the jump checks for it).
        if self._phase is _Phase.DONE or self._wire:
            return None
        if self._jump is None and self._jumps and self.tail and _due(self) and self.width() > 1:
            self._jumps, self._jump = self._jumps - 1, _jump(self, self._longest, self._lost)
        if self._jump is not None:
            return self._jump.next()
        self._wire = True
        return self.request(self.page)

    def read(self, request: PageRequest, records: list[Any]) -> list[Any] | Aside | None:
        if self._jump is not None:
            return self._jumped(request, records)
        self._wire = False
        self._longest = max(self._longest, len(records))
        self.page += 1
        if not records:
            self._previous = []
            self._end()
            return None
        ids = self.records.ids(request.number, records)
        if ids == self._previous:  # (a list that ends does not repeat its last page)
            raise ignored(request.number)
        self._previous = ids
        read, again = self._read_before(request.number, ids)
        new = self.records.keep_new(records, ids)
        self.rechecked += len(read) + again  # the runner's own re-reading, not the API's
        later = [r for r in new if self._after_as_of(r.get(CREATED))]
        lost = [r for r in new if not self._after_as_of(r.get(CREATED))]
        self.arrived += len(later)
        self.after += len(later)
        self.found, self.dated = self.found + len(lost), self.dated + _dated(lost)
        self._lost.update(self.records.dedupe.ids(lost))
        self.above += len(lost) if self._phase is _Phase.TOP else 0
        if self._phase is _Phase.TAIL:
            self.tail_pages.append(request.number)
            self.excess += len(read)
            self.held = request.number if read else self.held
        elif not new or self._windows_read(records, ids, read):  # the top the windows read
            self._end()
        return lost

    def _jumped(self, request: PageRequest, records: list[Any]) -> list[Any] | Aside | None:
        """A page of the rounds' (:class:`Jump`); failed, one page at a time from here."""
        jump = self._jump
        assert jump is not None
        kept = jump.read(request, records)
        if isinstance(kept, list):
            ids = self.records.dedupe.ids(kept)
            self.found, self.dated = self.found + len(kept), self.dated + _dated(kept)
            self._lost.update(ids)
            self._met.update(ids)
        if jump.done or jump.failed:
            self._jump, self.jumped = None, jump.done
            self._jumps *= jump.moved  # laid out otherwise: page by page from here
            self.rechecked += jump.rechecked
        if jump.done:
            self._phase, self.after = _Phase.DONE, jump.after
        return kept

    def _read_before(self, number: int, ids: list[Any]) -> tuple[set[Any], int]:
        """The ids on a page that the windows read, seen before this check began (a
        repeat, or this check's own read pushed down a page, counted as the range's made
        the list look longer and the run fail); and how many this check read before."""
        seen, met = self.records.dedupe.seen, self._met
        read = {key for key in ids if key is not None and key not in met and key in seen}
        again = sum(1 for key in ids if key is not None and key in met and key in seen)
        met.update(key for key in ids if key is not None)
        # (a page read before: from page 1 again, down to where it began past the count)
        return read, again * (self._phase is _Phase.TOP and number >= self.began)

    def _windows_read(self, records: list[Any], ids: list[Any], read: set[Any]) -> bool:
        """Whether ``records`` hold one the windows read (dated, up to the as-of): the
        top of the list as they saw it."""
        return any(
            key in read and ms(r.get(CREATED)) is not None and not self._after_as_of(r.get(CREATED))
            for r, key in zip(records, ids, strict=True)
        )

    def _after_as_of(self, value: Any) -> bool:
        return created_after(value, self.as_of)

    def _end(self) -> None:
        if self._phase is _Phase.TAIL and self.excess > 0:
            # More read-before records past the count than the range's tail: the list
            # holds more above them. Contacts created since the as-of explain some.
            self._phase, self.page = _Phase.TOP, 1
            self.arrived = 0
            return
        unexplained = self.excess - self.arrived - self.above if self._phase is _Phase.TOP else 0
        self._phase = _Phase.DONE
        if unexplained > 0:
            raise _unexplained(unexplained)


def pages_read_alone(check: Outside) -> list[int]:
    """The pages past the count ``check`` read one at a time, with records, for
    :class:`~runner.fetch.windows.tail.TailCheck` to read again; and, where the count
    ends on a page's end (nothing of the range on the first of them), the page above
    too: a deletion before that first page was read pulls its first record onto it.
    (Found by review: a contact without createdAt lost there.)"""
    above = [check.began - 1] if check.expected == 0 and check.began > 1 else []
    return above + check.tail_pages if check.tail_pages else []


def _dated(records: list[Any]) -> int:
    return sum(ms(r.get(CREATED)) is not None for r in records)


def _due(check: Outside) -> bool:
    """Whether the rest past the count is checked in rounds now (:data:`JUMP_AFTER`)."""
    read = check.page - check.began  # pages past the count read
    goes_on = len(check._previous) >= check.size  # the last one read was full
    pushed = check.excess + check.expected >= 2 * check.size  # both pages the range's
    return goes_on and (read >= JUMP_AFTER or (read >= 2 and pushed))


def _jump(check: Outside, longest: int, lost: set[Any]) -> Jump:
    """The rest of ``check`` in rounds, from its page (pages of the longest seen)."""
    size = max(check.size, longest)
    return Jump(
        check.body,
        check.records,
        check.as_of,
        count=check.count,
        size=size,
        start=check.page,
        width=check.width,
        passed=lost,
        hint=check.held or check.began - 1,
        tail=check.began,
    )


def _unexplained(count: int) -> PagingError:
    """The refusal for ``count`` records the list holds past the range's that the check
    could not find."""
    # Three causes look alike from here: contacts the API lists among the others
    # with no createdAt it can compare; contacts imported with a past createdAt
    # while the run went, into a window read before they came (a blind
    # stand-in's imports got the first cause alone named in 30 of 44 runs); an
    # API that hands ties round in another order on each request (the same
    # stand-in's 1,000 contacts on one instant: 353 "outside"). And a fourth, from a
    # third stand-in: contacts created after the as-of deleted while the check read
    # (one every 5 requests): fewer above the range than it was pushed down by.
    return PagingError(
        f"{count:,} contacts match the segment but no createdAt window read "
        "them, and page numbers could not find them: contacts imported with a past "
        "createdAt while the export ran, or without a createdAt the API can "
        "compare, or listed in another order on each request where they share an "
        "instant, or contacts deleted while the export ran (then the list moved under "
        "it); nothing published. Run the export again; if this repeats, "
        "api.windows: false reads the list by page number only"
    )


def past_count(count: int, size: int) -> tuple[int, int]:
    """The page where ``count`` records in pages of ``size`` end, and how many of them it
    holds. ``size`` is the longest page seen: a range no longer than that was one page,
    maybe short, so the API's page size is not known and contacts listed after it may
    share its page: from page 1 then.

    >>> past_count(140, 50), past_count(150, 50), past_count(31, 31), past_count(0, 0)
    ((3, 40), (4, 0), (1, 31), (1, 0))
    """
    if count <= size:
        return 1, count
    return count // size + 1, count % size


class Early:
    """The check's first round, asked before it starts: while the last window's last page
    is read again (:meth:`InOrder._still <runner.fetch.windows.in_order.InOrder>`, one
    round trip), the page where the count ends goes out beside it, and the page after it
    when that one should be short (it holds the range's last ``count % size`` records):
    a check that finds nothing then costs no round trip of its own. The page after is
    used only when the first is short, or is page 1 with nothing new on it: read in
    parallel with a full page, it could have been read before contacts created meanwhile
    pushed that page's last record onto it (then it is asked again, after). Kept for the
    count they were asked for (a window read again changes it; then they are not used)."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.count: int | None = None
        self.wire = 0  # requests on their way
        self._size = 1
        self._ask: list[int] = []
        self._came: dict[int, list[Any]] = {}

    def next(self, count: int, size: int) -> PageRequest | None:
        """The next early page for a range of ``count`` records in pages of ``size``."""
        if count != self.count:
            page, tail = past_count(count, size)
            self.count, self._size, self._came = count, max(1, size), {}
            self._ask = [page, page + 1] if tail else [page]
        if not self._ask:
            return None
        self.wire += 1
        number = self._ask.pop(0)
        return PageRequest(number, {**self.body, "page": number})

    def answered(self, count: int) -> bool:
        """Whether the early pages for ``count`` records were all asked and came."""
        return count == self.count and not self._ask and not self.wire

    def file(self, count: int | None, number: int, records: list[Any]) -> None:
        """Page ``number``, asked for ``count``, came."""
        self.wire -= 1
        if count == self.count:
            self._came[number] = records

    def feed(self, check: Outside, count: int) -> Iterator[tuple[int, list[Any]]]:
        """Read the pages that came into ``check`` (started for ``count`` records), in
        order, as far as it reads past the count: the records it passes on, by page."""
        first = True
        while count == self.count and check.tail and check.page in self._came:
            number = check.page
            records = self._came.pop(number)
            if not first and records:
                return  # (the page before was short, this one is not: asked again, after)
            first, seen = False, check.found + check.after
            kept = check.read(check.request(number), records)
            if isinstance(kept, list) and kept:
                yield number, kept
            # A full page: the next one is asked after it. But page 1 with nothing new on
            # it (a range of one page) did not move: anything put in would be on it.
            still = number == 1 and check.found + check.after == seen
            if len(records) >= self._size and not still:
                return
