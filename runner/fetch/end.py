"""Where a list ends: its last page with records, found in about 2 x log2(pages) requests,
or in a few round trips when several pages may be asked at once.

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

With ``width`` pages at once (a *round*: all of them are read before the next), a
round gallops ``width`` steps, then splits the gap in ``width + 1``: one request at a
time, finding the end of a list of 120 pages takes 14 round trips; 8 at once, 3.

>>> probe = EndProbe(1, max_pages=1000, width=8)
>>> pages = {n: [f"{n}a"] for n in range(1, 121)}
>>> while probe.round:
...     for number in probe.round:
...         probe.read(number, pages.get(number, []))
>>> probe.end[0], probe.rounds, len(probe.asked)
(120, 3, 23)

With ``early`` (windows, whose pass reads more than the list's own pages), the pass of
:class:`EndWatch` need not wait for the probe's last rounds. Once the probe has a page
with records and an empty one far past it, that page is ``held``: the pass reads every
page above it (and windows every contact created after its first record, ``top``)
while the probe goes on; nothing from it down until the end is found and the held page
is read once more (:meth:`EndWatch.ask`). That read, after the end's, is where
watching passes from one page to the other: moved up (``shifted``), contacts above it
were deleted while the pages above it were read, and the end, found after, cannot show
it. Where deep pages cost 10 us a skipped row, the probe's last rounds were a third of
an export of 20,000 contacts (`python -m bench.conc_trace --skip-cost-us 10`).

>>> watch = EndWatch(1, max_pages=1000, width=lambda: 4, early=True)
>>> pages = {n: [f"{n}a"] for n in range(1, 301)}  # 300 pages
>>> while watch.held is None:
...     _ = watch.probed(number := watch.ask(), pages.get(number, []), top=-number)
>>> watch.held, watch.top, watch.past(255), watch.past(256), watch.floor
((256, ['256a']), -256, False, True, -255)
>>> while (number := watch.ask()) is not None:
...     _ = watch.probed(number, pages.get(number, []))
>>> watch.last, watch.held, watch.shifted, watch.done, watch.past(300), watch.floor
((300, ['300a']), None, 0, True, False, None)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from runner.errors import PagingError

WIDTH = 8  # pages at most that the probe asks at once (a round gallops that many doublings)
# ... with auto concurrency (runner.fetch.fetcher), 4: the probe before a pass goes out
# while auto is still in slow start (2, 4, 8 at once), and a round at 8 against a server
# that serves 6 had a request turned away whose Retry-After (a second) the whole run
# waited out: a first run at capacity 6 reached 0.61 of a fixed 6, 0.92 at 4
# (`python -m bench.capacity`). A fixed concurrency is the server's known to take.
AUTO_WIDTH = 4
HELD_ALL = 2**62  # EndWatch.floor when the held page's first record has no createdAt


def past_max_pages(pages: int, max_pages: int) -> None:
    """Refuse page ``pages`` of records past ``max_pages``: the list is not complete."""
    if pages > max_pages:
        raise PagingError(
            f"stopped at max_pages {max_pages} before the API's last page; "
            "nothing published (raise --max-pages or api.max_pages)"
        )


class EndProbe:
    """``round``: the pages to ask now, all of them read (:meth:`read`) before the next
    round (empty: done); ``page``: the first of them not read yet (None: done). ``end``:
    the last page with records and its ids, None when the list is empty, or where the
    probe gave up (past ``max_pages``, or a page equal to the one before: an API that
    ignores the page number, which the pages read next will say). ``longer``: page
    ``max_pages + 1`` holds records none of the probe's pages held: the list is longer
    than ``max_pages`` (records there that were read before are an API that does not
    page: the probe gives up, and the pass names it). ``near``: the end is
    likely within a few times ``start`` (where a range read before ends): a round
    gallops to twice the deepest page with records, not ``width`` doublings.

    >>> probe = EndProbe(253, max_pages=10_000, width=8, near=True)
    >>> probe.round
    [283, 315, 346, 378, 409, 441, 472, 504]
    >>> while probe.round:
    ...     for number in probe.round:
    ...         probe.read(number, [number] if number <= 500 else [])
    >>> probe.end[0], probe.rounds
    (500, 3)
    """

    def __init__(self, start: int, max_pages: int, width: int = 1, near: bool = False) -> None:
        self.start = start
        self.near = near
        self.max_pages = max_pages
        self.width = max(1, width)
        self.end: tuple[int, list[Any]] | None = None
        self.asked: list[int] = []
        self.rounds = 0
        self.round: list[int] = []
        self._read: dict[int, list[Any]] = {}
        self._low, self._high, self._step = start - 1, 0, 0
        self._low_ids: list[Any] = []
        self._seen: set[Any] = set()  # ids on the probe's pages (a few pages' worth)
        self.longer = False
        self.empty = False  # page ``start`` was empty: no page of the list has records
        self._next_round()

    @property
    def page(self) -> int | None:
        return next((n for n in self.round if n not in self._read), None)

    def read(self, number: int, ids: list[Any]) -> None:
        self.asked.append(number)
        self._read[number] = ids
        if len(self._read) < len(self.round):
            return
        read, self._read = self._read, {}
        if self._past_max_pages(read):
            self.round = []
            return
        empty = [n for n, got in read.items() if not got]
        self._high = min([*empty, *([self._high] if self._high else [])], default=0)
        for number in sorted(n for n, got in read.items() if got):
            if self._high and number > self._high:
                break  # past an empty page (the list moved): the gap is below it
            if read[number] == self._low_ids:
                self.round = []  # the same page twice: not paging
                return
            self._low, self._low_ids = number, read[number]
        self._next_round()

    @property
    def bracket(self) -> tuple[int, list[Any]] | None:
        """The deepest page with records read and its ids, once a page past it came empty
        and two rounds or more are to come, several pages at once (the end is between,
        far enough to be worth a page read again: :meth:`EndWatch.probed`); else None."""
        far = self._high - self._low > 2 * (self.width + 1) and self.width > 1
        return (self._low, self._low_ids) if self._high and far else None

    def _past_max_pages(self, read: dict[int, list[Any]]) -> bool:
        """Whether the round read records past ``max_pages`` (the probe is done: ``longer``
        when they are new, or gave up when they were read before: not paging)."""
        within = (i for n, got in read.items() if n <= self.max_pages for i in got)
        self._seen.update(i for i in within if i is not None)
        over = [i for n, got in read.items() if n > self.max_pages for i in got]
        self.longer = bool(over) and not self._seen.intersection(over)
        return bool(over)

    def _within(self, pages: Iterable[int]) -> list[int]:
        """``pages`` past the deepest read, capped at ``max_pages + 1`` (not dropped: a
        list as long as ``max_pages`` has an end to find, or the pass has no page to read
        again after it)."""
        capped = {min(n, self.max_pages + 1) for n in pages}
        return sorted(n for n in capped if n > self._low)

    def _next_round(self) -> None:
        if not self._high and self.near:  # as far again as the deepest page with records
            span = max(self._low, self.width)
            far = {self._low + span * k // self.width for k in range(1, self.width + 1)}
            self.round = self._within(far)
        elif not self._high:  # galloping: start, start + 1, start + 3, start + 7 ...
            steps = range(self._step, self._step + self.width)
            self._step += self.width
            self.round = self._within(self.start - 1 + 2**i for i in steps)
        elif 1 < self._high - self._low <= self.width + 1:  # every page left, at once
            self.round = list(range(self._low + 1, self._high))
        elif self._high - self._low > 1:
            gap, parts = self._high - self._low, self.width + 1
            cuts = {self._low + gap * j // parts for j in range(1, parts)}
            self.round = sorted(n for n in cuts if self._low < n < self._high)
        else:
            self.round = []
            self.end = (self._low, self._low_ids) if self._low >= self.start else None
            self.empty = self.end is None
        self.rounds += bool(self.round)


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

    ``early``: the pass may start before the end is found (the module docstring).
    """

    def __init__(
        self,
        start: int,
        max_pages: int,
        width: Callable[[], int] = lambda: 1,
        early: bool = False,
    ) -> None:
        self.start = start
        self.max_pages = max_pages
        self.early = early  # the pass may start before the end is found (see ``held``)
        self._wanted = width  # pages at once, asked as each round is planned
        self.probe = EndProbe(start, max_pages, self.width())
        self.last: tuple[int, list[Any]] | None = None  # the last page: number, ids
        self.found: tuple[int, list[Any]] | None = None  # the same, as the probe read it
        self._asked: list[int] = []  # of the probe's round
        self._grew = False  # a page past the end had records
        self.held: tuple[int, list[Any]] | None = None  # the page the pass stops above
        self.top: int | None = None  # createdAt (ms) of its first record, None: unknown
        self._tops: dict[int, int | None] = {}  # of the probe's pages with records
        self._again = False  # ``held`` asked again, the end found (the hand-over)
        self.shifted = 0  # ``held`` moved up by then: contacts deleted meanwhile
        self.handed, self.held_at = 0, 0  # the page held, and the probe's pages asked then

    def width(self) -> int:
        return max(1, min(WIDTH, self._wanted()))

    @property
    def ready(self) -> bool:
        """Whether the pass may read (the end found, or a page ``held``)."""
        return not self.probe.round or self.held is not None

    @property
    def done(self) -> bool:
        """Whether the end is found and nothing is held."""
        return not self.probe.round and self.held is None

    @property
    def floor(self) -> int | None:
        """While a page is held: windows read only contacts created at this instant (ms)
        or after (none, when its first record has no readable createdAt)."""
        if self.held is None:
            return None
        return HELD_ALL if self.top is None else self.top + 1

    def ask(self) -> int | None:
        """The probe's next page (then the held page again); None while its round's
        pages are on their way, or when it is done."""
        waiting = [n for n in self.probe.round if n not in self._asked]
        if waiting:
            self._asked.append(waiting[0])
            return waiting[0]
        if self.held is not None and not self.probe.round and not self._again:
            self._again = True
            return self.held[0]
        return None

    def probed(self, number: int, ids: list[Any], top: int | None = None) -> bool:
        """Take the ids of the probe's page ``number`` (``top``: its first record's
        createdAt, ms); True when the end is found (and nothing held). New records past
        ``max_pages`` refuse the list now, before the pass."""
        if self._again and self.held is not None and number == self.held[0]:
            self.shifted = moved_up(self.held[1], ids)  # (its ids as first read)
            self.held = self.top = None
            return True
        before = self.probe.rounds
        self.probe.width = max(1, self.width())
        self._tops[number] = top
        self.probe.read(number, ids)
        if self.probe.longer:
            past_max_pages(self.max_pages + 1, self.max_pages)
        if self.probe.rounds != before or not self.probe.round:
            self._asked = []  # a new round (or none): its pages are to ask
        if not self.probe.round:
            self.last = self.found = self.probe.end
            if self.held is not None and self.held == self.probe.end:
                self.held = self.top = None  # it was the end: nothing to hand over
        elif self.early and self.held is None and not self._again and self.probe.bracket:
            self.held = self.last = self.probe.bracket
            self.top, self.handed = self._tops.get(self.held[0]), self.held[0]
            self.held_at = len(self.probe.asked)
        return self.done

    def past(self, number: int) -> bool:
        """Whether page ``number`` is past the page after the end (while none past the
        end had records: the list grew). A pass asks no such page ahead: requests for
        nothing, that take slots from the pages that count."""
        if self.held is not None:  # (for now: until the end is found and handed over)
            return number >= self.held[0]
        if self._grew:
            return False
        if self.last is None:  # an empty list: its first page is the one to read
            return self.probe.empty and number > self.start
        return number > self.last[0] + 1

    def read(self, number: int) -> None:
        """The pass read page ``number``, with records."""
        end = self.last[0] if self.last is not None else self.start - 1
        self._grew = self._grew or (bool(self.last or self.probe.empty) and number > end)

    def moved(self, ids: list[Any], number: int | None = None) -> int:
        """The last page (or page ``number``, a page it was) read again (its ``ids``):
        how far it moved up since it was last read; what it holds now is compared the
        next time (0: not a page this watch read)."""
        assert self.last is not None
        if number is not None and number != self.last[0]:
            was = next((p for p in (self.held, self.found) if p and p[0] == number), None)
            return moved_up(was[1], ids) if was is not None else 0
        number, before = self.last
        self.last = (number, ids)
        return moved_up(before, ids)

    def restart(self) -> None:
        """Find the end again (before a second pass)."""
        self.probe, self.last = EndProbe(self.start, self.max_pages, self.width()), None
        self.found = self.held = self.top = None
        self._asked, self._grew, self._again, self._tops = [], False, False, {}


def moved_up(before: list[Any], after: list[Any]) -> int:
    """How many places a page's records moved up between two reads (``before`` and
    ``after``, their ids): records deleted above it, the first ones gone from it. 0 when
    it did not move, moved down (contacts put in above it: in order, that only repeats
    records), or holds the same records in another order (an API that hands ties round
    differently each time: the page did not move; the first one's place said it did).

    >>> moved_up(["c", "d", "e"], ["e"]), moved_up(["c", "d"], []), moved_up(["c"], ["b", "c"])
    (2, 2, 0)
    >>> moved_up(["c", "d", "e"], ["d", "c", "e"]), moved_up(["c", "d", "e"], ["e", "d", "f"])
    (0, 1)
    """
    if not after:
        return len(before)
    still = set(after)
    still.discard(None)
    # (none of them there: moved a page or more either way; down is the usual, so 0)
    return next((i for i, one in enumerate(before) if one in still), 0)
