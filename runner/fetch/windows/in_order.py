"""The pages of open ``createdAt`` windows, passed on in the list's own order.

:class:`InOrder` keeps the windows being read (:class:`OpenWindow`), oldest first, and
passes their pages on one at a time: window after window, each page after the one
above it, whatever order the replies came in. A page that comes early waits for its
turn, as its reply's bytes when it is large (:data:`Later`: decoded in its turn, a
fifth of the memory of its records), so that the memory a run holds is about one
decoded page however many pages wait. :class:`Repage` re-cuts what is passed on into
pages of the API's page size. :mod:`runner.fetch.windows.strategy` drives them.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.errors import PagingError
from runner.fetch.end import moved_up
from runner.fetch.paging import Later, NewRecords
from runner.fetch.transport import Retryable
from runner.fetch.windows.plan import CREATED, Order, Window, ms

# A page that came early waits as its bytes (Later) and is decoded in its turn; bytes
# that are not a page (Retryable) read its window again from page 1, in order (asked
# again so late, that page alone would come from a list live data may have moved since).
SMALL_REPLY = 4096  # bytes: a reply this small is decoded as it comes (an empty page)


class Phase(enum.Enum):
    FIRST = "pages asked ahead, passed on in order"
    AGAIN = "it moved: the window once more, one page at a time"
    CHECK = "every page passed on: its last page read again, to see it did not move up"
    DONE = "every record passed on"


def shared_head(above: list[Any], ids: list[Any]) -> int:
    """How many of a page's first records (ids ``ids``) the page above (``above``) ended
    with, checked there: pushed down by contacts created since, or (this page answered
    first, contacts above deleted before the page above was) the page above moved up
    onto them, without those of them deleted meanwhile (r1 r2 r3 here, r3 last there).
    The page is then not compared with the page above's last record: checked against
    it, such a page seemed to go back in time, and the run took the API for one that
    does not list newest first. (It is still checked in itself from its first record.)
    They must be the page above's last ones in its order: an API that hands the same
    records round in another order is not paging (0: checked from the first, it fails).

    >>> shared_head([7, 8, 1, 3], [1, 2, 3, 4]), shared_head([1, 2], [2, 1, 5])
    (3, 0)
    """
    seen = set(above)
    if seen.isdisjoint(ids):  # two C calls a page: the usual answer
        return 0
    above = [one for one in above if one is not None]  # contacts without an id match none
    seen.discard(None)
    shared = [i for i, one in enumerate(ids) if one in seen]
    tail = above[len(above) - len(shared) :]
    return shared[-1] + 1 if shared and [ids[i] for i in shared] == tail else 0


@dataclass
class OpenWindow:
    """A window being read: pages asked, pages come and waiting, pages passed on."""

    window: Window
    depth: int  # pages it was sized to: asked ahead up to one past that
    phase: Phase = Phase.FIRST
    pages: dict[int, tuple[list[Any] | Later, list[Any], int]] = field(default_factory=dict)
    asked: int = 1  # the highest page asked (page 1 came with the request that opened it)
    came: set[int] = field(default_factory=lambda: {1})  # pages answered
    out: int = 1  # the next page to pass on
    end: int | None = None  # the first empty page
    parallel: bool = False  # a page past 1 was asked before the one above it came
    moved: bool = False  # a record repeated inside the window (not on its upper edge)
    waiting: bool = False  # a request of this window is on its way (AGAIN)
    generation: int = 0  # how many times it was read from page 1 again
    first: bool = False  # opened by the run's first request: its pages are the list's
    deep: bool = False  # past its depth and not to be cut (one instant): read ahead freely
    spread: bool = False  # (the first window) its last page passed on: full, on two instants
    closing: bool = False  # (the first window) to end once the pages asked are passed on
    scale: float = 0.0  # the stretch its range was sized with (0: not sized from a page 1)
    previous: list[Any] = field(default_factory=list)
    tail: list[Any] | None = None  # its last page's ids read again (CHECK), once they came
    checked: int = -1  # the generation whose last page was read again
    order: Order = field(init=False)

    def __post_init__(self) -> None:
        self.order = Order(self.window)

    def ask(self, ahead: int) -> int | None:
        """The next page to ask for, or None for now. Past its depth, a window waits until
        the page above is passed on (it may be cut there: :meth:`InOrder.cut`); one that
        cannot be cut is read ``ahead`` pages past the highest page answered, the run's
        full concurrency."""
        # (once a reply came, not again before it is passed on: the fetcher sends before)
        came = self.out in self.pages if self.phase is Phase.AGAIN else self.tail is not None
        if self.phase in (Phase.AGAIN, Phase.CHECK) and not self.waiting and not came:
            self.waiting = True
            return self.out if self.phase is Phase.AGAIN else self.out - 1
        if self.phase is not Phase.FIRST or self.closing:
            return None
        page = self.asked + 1
        if page > self.depth + 1:
            past = page <= max(self.came, default=0) + ahead if self.deep else page <= self.out
            if not past:
                return None
        if self.end is not None and page >= self.end:
            return None
        self.asked = page
        self.parallel = self.parallel or (page > 1 and page - 1 not in self.came)
        return page

    @property
    def left(self) -> int:
        """Pages it will still ask for ahead of their turn (up to one past its depth)."""
        if self.phase is not Phase.FIRST or self.end is not None:
            return 0
        return max(0, self.depth + 1 - self.asked)

    def again(self) -> None:
        """The window moved: read it once more from page 1, in order."""
        self.phase, self.pages, self.out, self.end = Phase.AGAIN, {}, 1, None
        self.previous, self.waiting = [], False
        self.order = Order(self.window)
        self.generation += 1

    def file(self, number: int, records: list[Any] | Later, ids: list[Any], size: int) -> int:
        """Page ``number`` came (``records`` still to decode: ``size`` a page's records):
        kept until its turn. The records held now more than before (fewer when an empty
        page ends the window below pages asked ahead)."""
        if self.phase is Phase.CHECK:  # replies asked ahead past the end are dropped
            if number == self.out - 1 and self.waiting and isinstance(records, list):
                self.tail, self.waiting = ids, False
            return 0
        if self.phase is Phase.FIRST and self.end is not None and number >= self.end:
            return 0  # past the end
        self.came.add(number)
        self.waiting = False
        if isinstance(records, list) and not records:
            return self.ends(number)
        held = 0 if self.phase is not Phase.FIRST else size if callable(records) else len(records)
        self.pages[number] = (records, ids, held)
        return held

    def ends(self, number: int) -> int:
        """Page ``number`` is empty (or the window is cut there): the window ends, pages
        asked from it on are dropped. The records held now more than before (zero or
        fewer)."""
        self.end = number
        late = [n for n in self.pages if n >= number]
        return -sum(self.pages.pop(n)[2] for n in late)

    def take_turn(
        self,
        records: list[Any],
        ids: list[Any],
        keep: Callable[[list[Any], list[Any]], list[Any]],
        size: int,
    ) -> list[Any]:
        """Page ``out``, in its turn: checked before any of it is passed on, then its
        records not read before (``keep``). ``size``: a full page's records."""
        self.check(records, ids)
        kept = keep(records, ids)
        if self.first:  # where it may stop
            spans = ms(records[0].get(CREATED)) != ms(self.order.last)
            self.spread = len(records) >= size and spans
        self.passed(records, ids, kept)
        return kept

    def stop(self) -> tuple[int, int] | None:
        """End the first window (read by page number) at the page just passed on, for
        windows to read the rest: the oldest instant passed on, where they begin, and
        the records held now more than before (:meth:`ends`). None while it cannot end
        there: a short page (the end is near) or one on a single instant (the windows
        below would read its ties again from their page 1); it is tried again at the
        next page."""
        oldest = ms(self.order.last) if self.order.last else None
        if oldest is None or not self.spread:
            return None
        return oldest, self.ends(self.out)

    def check(self, records: list[Any], ids: list[Any]) -> None:
        """Page ``out`` in order, inside the window, not the page above once more; its
        first records may be the page above's last ones (:func:`shared_head`)."""
        repeated = shared_head(self.previous, ids)
        self.order.check(self.out, records, repeated)
        if ids == self.previous:
            raise PagingError(
                f"{label(self, self.out)} returned exactly the records of page "
                f"{self.out - 1}: the API seems to ignore the page number (check "
                "api.path and api.base_url)"
            )

    def passed(self, records: list[Any], ids: list[Any], kept: list[Any]) -> None:
        """Page ``out`` passed on (``kept``: its records not read before); a record read
        before inside the window (not on its upper edge) marks the window moved."""
        if len(kept) < len(records) and not self.moved:  # some read before: where?
            edge, new = self.window.bounds[1], {id(r) for r in kept}
            self.moved = any(r.get(CREATED) != edge for r in records if id(r) not in new)
        self.previous, self.out = ids, self.out + 1


@dataclass
class Repage:
    """Records passed on, handed over as numbered pages of the API's page size."""

    records: list[Any] = field(default_factory=list)
    handed: int = 0  # pages handed over

    def pages(self, size: int, done: bool) -> list[tuple[int, list[Any]]]:
        """Whole pages (and, ``done``, the shorter last one); the rest waits."""
        cut = len(self.records) if done else len(self.records) - len(self.records) % size
        pages = []
        for start in range(0, cut, size):
            self.handed += 1
            pages.append((self.handed, self.records[start : min(start + size, cut)]))
        del self.records[:cut]
        return pages


def cut_here(state: OpenWindow, number: int) -> bool:
    """Whether page ``number`` of ``state``, as it comes, is where it is cut: one past its
    depth (decoded as it comes, so that the windows below open while the pages above it
    are still on their way, not once they are all passed on: :meth:`InOrder.cut`)."""
    fresh = state.phase is Phase.FIRST and state.end is None and not state.first
    return fresh and not state.deep and number == state.depth + 1


def moved(state: OpenWindow, tail: list[Any]) -> tuple[int, bool]:
    """How the last page of ``state`` moved from when it came to ``tail`` (its ids read
    again, every page passed on): up by how many places (contacts deleted above it: the
    record at a page boundary below them is never read, even in order), and whether,
    read in parallel, it is not as it came (contacts put in above it, between a page
    and the one above it answered after it, skip the record at their boundary, and none
    need repeat where pages come bottom up). As sets: ties may come in another order.

    >>> window = OpenWindow(Window(None, 0), 4, previous=["c", "d"], parallel=True)
    >>> moved(window, ["d"]), moved(window, ["b", "c"]), moved(window, ["c", "d"])
    ((1, True), (0, True), (0, False))
    """
    pushed = state.parallel and not state.generation and set(tail) != set(state.previous)
    return moved_up(state.previous, tail), pushed


def label(state: OpenWindow, number: int) -> str:
    """``page 3``, or ``page 3 of createdAt A to B`` past the first window."""
    return f"page {number}" if state.first else f"page {number} of {state.window.label}"


class InOrder:
    """The open windows, oldest first (the head is passed on next), and the records of
    pages that came before their turn (``held``, a full page's worth for a page still
    to decode). ``moved``: a window read in parallel moved and is read once more."""

    def __init__(self, records: NewRecords) -> None:
        self.records, self.open = records, deque[OpenWindow]()
        self.held, self.moved = 0, False
        self.out = Repage()
        self.size = 1  # the API's page size, as far as seen (a full page holds this many)
        self.cuts = 0  # windows opened below windows cut
        self.count = 0  # records passed on
        self.scale = 1.0  # how much longer than page 1 says the next window spans
        self.depth = 1  # pages the last window opened was sized to

    @property
    def left(self) -> int:
        """Pages the open windows will still ask for ahead of their turn."""
        return sum(state.left for state in self.open)

    def add(self, state: OpenWindow, records: list[Any], ids: list[Any]) -> None:
        """A window opened by its page 1 (``records``)."""
        state.pages[1] = (records, ids, len(records))
        self.held += len(records)
        self.open.append(state)

    def later(self, state: OpenWindow, number: int, generation: int) -> bool:
        """Whether page ``number`` of ``state`` (asked in ``generation``) waits for its
        turn if it comes now (not next in the list, not stale)."""
        up_next = bool(self.open) and state is self.open[0] and number == state.out
        return state.phase is Phase.FIRST and generation == state.generation and not up_next

    def pass_one(self) -> bool:
        """Pass on the page next in the list's order, if it came: the head window's, or
        the next window's once the head is done. True when a page was passed on.
        Raises :class:`~runner.fetch.windows.plan.OutOfOrder` for a page out of order."""
        while self.open:
            state = self.open[0]
            if state.out in state.pages and self._turn(state):
                return True
            if state.end is None or state.out < state.end:
                return False
            if state.phase is Phase.FIRST and state.parallel and state.moved:
                self.read_again(state)
                return False
            if not self._still(state):
                return False
            state.phase = Phase.DONE
            self._learn(state)
            self.open.popleft()
        return False

    def _learn(self, state: OpenWindow) -> None:
        """A window sized from its page 1 ended short of its depth: the list thins out
        below its top (more contacts recently: growth), so the next windows span that
        much more time. One that went deeper was cut, and so spans less."""
        if state.scale and state.end is not None and not state.deep and state.window.start:
            pages = max(1, state.end - 1)
            self.scale = min(16.0, max(1.0, state.scale * state.depth / pages))

    def _still(self, state: OpenWindow) -> bool:
        """Whether ``state``, every page passed on, did not move while it was read: its
        last page is read again (one request; none for a one-page window) and compared
        (:func:`moved`). Moved, the window is read once more, in order; moved up again,
        the run fails. False while that page is on its way, or the window is read again."""
        if state.out <= 2 or state.checked == state.generation:
            return True
        if state.phase is not Phase.CHECK:
            state.phase, state.tail, state.waiting = Phase.CHECK, None, False
            return False
        if state.tail is None:
            return False
        state.checked, (up, pushed) = state.generation, moved(state, state.tail)
        if up and state.generation:
            where = "its first window" if state.first else state.window.label
            raise PagingError(
                "contacts were deleted while the list was read, and again while it was read "
                f"a second time ({where}: its last page moved up by {up:,}): contacts "
                "listed below a deleted one may have been skipped; nothing published (run it "
                "again)"
            )
        if up or pushed:
            self.read_again(state)
        return not (up or pushed)

    def read_again(self, state: OpenWindow) -> None:
        """Read ``state`` once more from page 1, in order: what it passed on already is
        dropped by de-duplication."""
        self.held -= sum(held for _, _, held in state.pages.values())
        self.moved = True
        state.again()

    def _turn(self, state: OpenWindow) -> bool:
        """Page ``state.out``, in its turn: decoded if it waited as its bytes; False when
        that shows it empty (the window ends there)."""
        records, ids, held = state.pages.pop(state.out)
        self.held -= held
        if not isinstance(records, list):
            try:
                records = records()
            except Retryable:
                # Not a page (a reply cut short): asked again now, it would come from a
                # list live data may have moved since the pages below it were read.
                self.read_again(state)
                return False
            if not records:
                self.held += state.ends(state.out)
                return False
            ids = self.records.ids(state.out, records)
        # Straight out: a later page failing its check must not lose these.
        kept = state.take_turn(records, ids, self.records.keep_new, self.size)
        self.out.records += kept
        self.count += len(kept)
        deeper = state.out > state.depth + 1 and state.end is None  # (not cut as it came)
        if deeper and not state.deep and state.phase is Phase.FIRST:
            self.cut(state, len(records))
        return True

    def cut(self, state: OpenWindow, count: int, last: Any = None, pages: int = 0) -> None:
        """``state`` is read past its depth: deeper than planned (sparser records above, or
        a bulk import inside). Its pages skip more rows the deeper they go, and only one
        goes out at a time there: so it ends at page ``pages`` (``count`` records, the
        last created at ``last``) as it comes (:func:`cut_here`), or else at the page just
        passed on, and the rest of its range becomes windows of ``depth`` pages each at
        the density it showed. Ties at the cut instant are read again by the window below
        and de-duplicated. A window whose pages so far are all on its upper instant cannot
        be cut: it is read on, ``ahead`` pages at a time (``deep``)."""
        top, start = state.window.end, state.window.start
        last, pages = (last, pages) if pages else (state.order.last, state.out - 1)
        oldest = ms(last) if last else None
        if count < self.size or oldest is None or oldest >= top:
            state.deep = True  # a short page (the end is near) or one instant
            return
        self.held += state.ends(pages + 1)
        passed = pages
        self.scale = max(1.0, self.scale / 2)
        below = [Window(start, oldest)]
        if start is not None:
            per_page = (top - oldest) / passed
            pieces = max(1, min(64, math.ceil((oldest - start) / per_page / state.depth)))
            edges = [oldest - (oldest - start) * i // pieces for i in range(pieces + 1)]
            below = [Window(low, high) for high, low in itertools.pairwise(edges)]
        at = self.open.index(state) + 1
        for offset, window in enumerate(below):
            self.open.insert(at + offset, OpenWindow(window, state.depth, asked=0, came=set()))
        self.cuts += len(below)
