"""The paging strategy that reads a list as closed ``createdAt`` windows (``api.windows``).

:class:`Windows` drives a :class:`~runner.fetch.windows.WindowPlan`. The request that
opens the next window ("created before F", page 1) goes first, so windows open one a
round trip while the open ones are paged; each window's pages 2, 3 ... go out in
parallel, the oldest window's first, until its first empty page.

Records are passed on in the list's own order whatever order the replies come in:
window after window, newest first, each page after the one above it (pages that come
early wait: no request goes out while :data:`~runner.fetch.windows.HOLD` records
wait, or ``HOLD_RETRYING`` while a page waits out a ``Retry-After``, so that one 429
does not stall the run), and handed over in pages of the API's page size
(:meth:`Windows.passed`).
So an export with windows holds the same rows in the same order, in the same pages,
as one paged by number, byte for byte, and de-duplication keeps the first copy of a
contact on an edge, the upper window's.

Live data moves while a window is read. A window closes before the run started, so
only a contact created with an earlier date (an import) or deleted moves it. In order,
a shift only repeats records; read in parallel, a later page can be read before an
earlier one and a shift in between skips records at that boundary. A contact put in
above pages already read pushes their last records into the next page, where they
repeat: so a window read in parallel in which a record repeats (one not on its upper
edge, which the window above shares) is read once more, in order (``reread``). A
deletion is seen as page numbers see it: not below page 1.

Every page is checked (:class:`~runner.fetch.windows.Order`): records newest first and
inside their window. When a page fails that check the strategy stops windowing, says
why (:attr:`Windows.note`) and hands over to plain page numbers for the whole list;
the records already passed on stay, and de-duplication drops them the second time.
``max_pages`` pages at most, counted as a read by page number counts them (the pages
handed over), and a page equal to the one above it fails, as with page numbers.

>>> from runner.fetch.redact import Redactor
>>> from runner.fetch.windows import Range
>>> from runner.records import Deduplicator
>>> records = NewRecords(Deduplicator("_id"), Redactor(""))
>>> paging = Windows({"q": 1}, records, Range(None, 0), list, max_pages=10, ahead=lambda: 4)
>>> first = paging.next()
>>> first.label  # the run's first request is page 1 of the whole list
'page 1'
>>> first.body["createdAt"], first.body["applicableFilters"]
({'startAt': '', 'endsAt': '1970-01-01T00:00:00.000Z'}, ['createdAt'])
>>> paging.read(first, []), paging.next()  # nothing created before the as-of: done
([], None)
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.errors import PagingError
from runner.fetch.paging import NewRecords, PageRequest, Paging, past_max_pages
from runner.fetch.windows import (
    CREATED,
    DEPTH,
    HOLD,
    HOLD_RETRYING,
    RECORDS,
    Order,
    OutOfOrder,
    Range,
    Window,
    WindowPlan,
)


class _Phase(enum.Enum):
    FIRST = "pages asked ahead, passed on in order"
    AGAIN = "it moved: the window once more, one page at a time"
    DONE = "every record passed on"


@dataclass
class _Open:
    """A window being read: pages asked, pages come and waiting, pages passed on."""

    window: Window
    depth: int  # pages it was sized to: asked ahead up to one past that
    phase: _Phase = _Phase.FIRST
    pages: dict[int, tuple[list[Any], list[Any]]] = field(default_factory=dict)
    asked: int = 1  # the highest page asked (page 1 came with the request that opened it)
    came: set[int] = field(default_factory=lambda: {1})  # pages answered
    out: int = 1  # the next page to pass on
    end: int | None = None  # the first empty page
    parallel: bool = False  # a page was asked before the one above it came
    moved: bool = False  # a record repeated inside the window (not on its upper edge)
    waiting: bool = False  # a request of this window is on its way (AGAIN)
    generation: int = 0  # how many times it was read from page 1 again
    first: bool = False  # opened by the run's first request: its pages are the list's
    previous: list[Any] = field(default_factory=list)
    order: Order = field(init=False)

    def __post_init__(self) -> None:
        self.order = Order(self.window)

    def ask(self) -> int | None:
        """The next page to ask for, or None for now."""
        if self.phase is _Phase.AGAIN and not self.waiting:
            self.waiting = True
            return self.out
        if self.phase is not _Phase.FIRST:
            return None
        page = self.asked + 1
        if (self.end is not None and page >= self.end) or (
            page > self.depth + 1 and page - 1 not in self.came  # past the estimate: in order
        ):
            return None
        self.asked = page
        self.parallel = self.parallel or page - 1 not in self.came
        return page

    def again(self) -> None:
        """The window moved: read it once more from page 1, in order."""
        self.phase, self.pages, self.out, self.end = _Phase.AGAIN, {}, 1, None
        self.previous, self.waiting = [], False
        self.order = Order(self.window)
        self.generation += 1

    def file(self, number: int, records: list[Any], ids: list[Any]) -> int:
        """Page ``number`` came: kept until its turn. The records held now more than
        before (fewer when an empty page ends the window below pages asked ahead)."""
        if self.phase is _Phase.FIRST and self.end is not None and number >= self.end:
            return 0  # past the end
        self.came.add(number)
        self.waiting = False
        if not records:
            self.end = number
            late = [n for n in self.pages if n > number]
            return -sum(len(self.pages.pop(n)[0]) for n in late)
        self.pages[number] = (records, ids)
        return len(records) if self.phase is _Phase.FIRST else 0

    def take_turn(
        self, records: list[Any], ids: list[Any], keep: Callable[[list[Any], list[Any]], list[Any]]
    ) -> list[Any]:
        """Page ``out``, in its turn: checked before any of it is passed on, then its
        records not read before (``keep``)."""
        self.check(records, ids)
        kept = keep(records, ids)
        self.passed(records, ids, kept)
        return kept

    def check(self, records: list[Any], ids: list[Any]) -> None:
        """Page ``out`` in order, inside the window, not the page above once more. Its
        first records may be the last ones of the page above, in their order, pushed
        down by live data: the order goes on after them."""
        above, repeated = self.previous, 0
        if ids and ids[0] in above:
            start = above.index(ids[0])
            repeated = len(above) - start if ids[: len(above) - start] == above[start:] else 0
        self.order.check(self.out, records, repeated)
        if ids == self.previous:
            raise PagingError(
                f"{_label(self, self.out)} returned exactly the records of page "
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
class _Repage:
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


@dataclass(frozen=True)
class WindowRequest(PageRequest):
    """A page of a window (``window``), or the page 1 that opens one (``probe``)."""

    window: _Open | None = None
    probe: Window | None = None
    first: bool = False  # the run's first request: page 1 of the whole list
    generation: int = 0  # the window's, when asked (a reply from before a re-read is stale)

    @property
    def label(self) -> str:
        if self.window is not None:
            return _label(self.window, self.number)
        if self.probe is None or self.first:
            return f"page {self.number}"
        return f"page {self.number} of {self.probe.label}"


def _label(state: _Open, number: int) -> str:
    """``page 3``, or ``page 3 of createdAt A to B`` past the first window."""
    return f"page {number}" if state.first else f"page {number} of {state.window.label}"


class Windows:
    """Closed ``createdAt`` windows over ``whole`` (see the module docstring).

    ``fallback`` makes the plain paging to hand over to (with de-duplication of its own,
    so that its rules see its own pages). ``ahead`` (asked each time): requests on their
    way at most (the fetcher gives the requests allowed on the wire, and sets
    ``retrying`` while a page waits to try again). ``depth`` (asked as each window
    opens): pages to size it to, at least ``RECORDS`` records' worth. ``note`` says why
    windowing stopped, if it did; ``plan`` lists the windows opened.
    """

    def __init__(
        self,
        body: Mapping[str, Any],
        records: NewRecords,
        whole: Range,
        fallback: Callable[[], Paging],
        *,
        max_pages: int,
        ahead: Callable[[], int],
        depth: Callable[[], int] = lambda: DEPTH,
    ) -> None:
        self.body = body
        self.records = records
        self.plan = WindowPlan(whole, depth())
        self.max_pages = max_pages
        self.note = ""
        self._ahead = ahead
        self._depth = depth
        self._fallback_factory = fallback
        self._fallback: Paging | None = None
        self._probe: Window | None = None  # the opening request on its way
        self._open: deque[_Open] = deque()  # oldest first: the head is passed on next
        self._wire = 0  # requests on their way
        self._held = 0  # records come but not passed on yet (pages above them are late)
        self.retrying = self._moved = False  # retrying: a page waits to try again
        self._pages = 0  # pages with records, every window's
        self._out = _Repage()

    @property
    def ordered(self) -> bool:
        """False while windowing: the fetcher hands pages over as they are answered."""
        return self._fallback is not None

    @property
    def ahead(self) -> int:
        return self._fallback.ahead if self._fallback else self._ahead()

    @property
    def reread(self) -> bool:
        return self._fallback.reread if self._fallback else self._moved

    @property
    def windows(self) -> int:
        return len(self.plan.windows)

    def next(self) -> PageRequest | None:
        if self._fallback is not None:
            return self._fallback.next()
        hold = HOLD_RETRYING if self.retrying else HOLD
        room = self._wire < self._ahead() and self._held < hold
        if room and self._probe is None and (probe := self.plan.probe()) is not None:
            self._probe, self._wire = probe, self._wire + 1
            first = not self.plan.windows
            return WindowRequest(1, probe.body(self.body, 1), probe=probe, first=first)
        for index, state in enumerate(self._open):
            if index and not room:
                break  # the head window's requests go out whatever is waiting
            page = state.ask()
            if page is not None:
                self._wire += 1
                body = state.window.body(self.body, page)
                return WindowRequest(page, body, window=state, generation=state.generation)
        return None

    def read(self, request: PageRequest, records: list[Any]) -> list[Any] | None:
        if self._fallback is not None:
            # The plain pass checks its pages on its own records; what windows passed on
            # already is dropped here.
            kept = self._fallback.read(request, records)
            return None if kept is None else self._keep(kept, self.records.dedupe.ids(kept))
        assert isinstance(request, WindowRequest)
        try:
            self._take(request, records)
            self._pass_on()
            return []  # handed over by passed(), a page size at a time
        except OutOfOrder as exc:
            note = f"{exc}; paging by page number instead, without windows"
            self.note = self.records.scrub(note, 500)  # a record's text is the server's
            self._fallback = self._fallback_factory()
            return None  # the windows' requests on their way are dropped

    def passed(self) -> list[tuple[int, list[Any]]]:
        """The records passed on so far, as numbered pages of the API's page size (the
        last one shorter): the pages a read by page number gives, whatever the windows.
        The rest waits until the list is complete, or windowing stops. max_pages counts these."""
        done = self._fallback is not None or (self.plan.done and not self._open)
        pages = self._out.pages(max(1, self.plan.page_size), done)
        past_max_pages(self._out.handed, self.max_pages)
        return pages

    def _take(self, request: WindowRequest, records: list[Any]) -> None:
        """File a reply: it opens a window, or waits its turn in its window."""
        self._wire -= 1
        ids = self.records.ids(request.number, records) if records else []
        # Requests too (edge pages twice, a moved window twice over): one never ending.
        self._pages += bool(records)
        past_max_pages(self._pages, 2 * (self.max_pages + len(self.plan.windows)))
        state = request.window
        if state is None:
            self._opened(request, records, ids)
            return
        if request.generation == state.generation:  # else asked before a re-read: stale
            self._held += state.file(request.number, records, ids)

    def _opened(self, request: WindowRequest, records: list[Any], ids: list[Any]) -> None:
        assert request.probe is not None
        self._probe = None
        oldest = Order(request.probe).check(1, records)
        size = max(self.plan.page_size, len(records), 1)
        self.plan.depth = max(self._depth(), RECORDS // size)
        window = self.plan.opened(request.probe, len(records), oldest)
        if window is not None:
            state = _Open(window, self.plan.depth, first=request.first)
            state.pages[1] = (records, ids)
            self._held += len(records)
            self._open.append(state)

    def _pass_on(self) -> None:
        """Pass on the pages now next in order: the head window's, then the next
        window's once the head is done."""
        while self._open:
            state = self._open[0]
            while state.out in state.pages:
                records, ids = state.pages.pop(state.out)
                self._held -= len(records) if state.phase is _Phase.FIRST else 0
                # Straight out: a later page failing its check must not lose these.
                self._out.records += state.take_turn(records, ids, self._keep)
            if state.end is not None and state.out >= state.end:
                if state.phase is _Phase.FIRST and state.parallel and state.moved:
                    self._moved = True
                    state.again()
                else:
                    state.phase = _Phase.DONE
            if state.phase is not _Phase.DONE:
                break
            self._open.popleft()

    def _keep(self, records: list[Any], ids: list[Any]) -> list[Any]:
        return self.records.keep_new(records, ids)
