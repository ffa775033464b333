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

import itertools
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from runner.errors import PagingError
from runner.fetch.paging import NewRecords
from runner.fetch.transport import Retryable
from runner.fetch.windows.open_window import OpenWindow, Phase, check_pages, moved, reach
from runner.fetch.windows.plan import OutOfOrder, Window, ms
from runner.fetch.windows.recheck import Recheck

# A page that came early waits as its bytes (Later) and is decoded in its turn; bytes
# that are not a page (Retryable) read its window again from page 1, in order (asked
# again so late, that page alone would come from a list live data may have moved since).
SMALL_REPLY = 4096  # bytes: a reply this small is decoded as it comes (an empty page)


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


def learned(scale: float, state: OpenWindow) -> float:
    """How much longer than page 1 says the next window spans (was ``scale``), once
    ``state`` is read: a window sized from its page 1 that ended short of its depth
    shows the list thinning out below its top (growth), so the next windows span that
    much more time. One that went deeper was cut, and so spans less."""
    if state.scale and state.end is not None and not state.deep and state.window.start:
        return min(16.0, max(1.0, state.scale * state.depth / max(1, state.end - 1)))
    return scale


class InOrder:
    """The open windows, oldest first (the head is passed on next), and the records of
    pages that came before their turn (``held``, a full page's worth for a page still
    to decode). ``moved``: a window read in parallel moved and is read once more."""

    def __init__(self, records: NewRecords) -> None:
        self.records, self.open = records, deque[OpenWindow]()
        self.held, self.moved, self.out = 0, False, Repage()
        self.size = 1  # the API's page size, as far as seen (a full page holds this many)
        self.cuts = 0  # windows opened below windows cut
        self.count = 0  # records passed on
        self.scale, self.reach, self.edged = 1.0, 0, 0  # :func:`learned`, :func:`reach`; edged
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
            if state.phase is Phase.FIRST and state.early and state.moved:
                self.read_again(state)
                return False
            if not self._still(state):
                return False
            state.phase = Phase.DONE
            self.scale, self.reach = learned(self.scale, state), reach(self.reach, state)
            self.edged += state.edged
            self.open.popleft()
        return False

    def _still(self, state: OpenWindow) -> bool:
        """Whether ``state``, every page passed on, did not move while it was read: its
        last page is read again, and its first empty page if that came early (none in a
        one-page window; :func:`check_pages`), and compared (:func:`moved`). Moved, the
        window is read once more, in order (its old last page first, the reference);
        moved up again, the run fails. False while those pages are on their way, or the
        window is read again."""
        if state.checked == state.generation:
            return True
        if state.phase is not Phase.CHECK:
            if not (pages := check_pages(state)):
                return True
            state.phase, state.recheck = Phase.CHECK, Recheck(pages)
            return False
        if not state.recheck.came:
            return False
        state.checked, (up, pushed) = state.generation, moved(state)
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
        try:
            kept = state.take_turn(records, ids, self.records.keep_new, self.size)
        except OutOfOrder as exc:
            if not (exc.above and state.early and state.phase is Phase.FIRST):
                raise  # (read in order, or out of order inside the page: the API's own)
            self.read_again(state)  # (pushed down by more than a page between two answers)
            return False
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
        state.window = Window(oldest, top)  # (read again, it stops where those below begin)
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
            fresh = OpenWindow(window, state.depth, asked=0, came=set(), reach=self.reach)
            self.open.insert(at + offset, fresh)
        self.cuts += len(below)
