"""The paging strategy that reads a list as closed ``createdAt`` windows (on by default;
``api.windows: false`` turns it off).

:class:`Windows` drives a :class:`~runner.fetch.windows.WindowPlan`: the request that
opens the next window ("created before F", page 1) goes first, so the next window
opens while the ones already open are paged; each window's pages 2, 3 ... follow one
at a time until its first empty page (in order, live data can only repeat a record
of a window, never skip one), many windows at once. Every page is checked
(:class:`~runner.fetch.windows.Order`): records newest first and inside their window.
When a page fails that check the strategy stops windowing, says why
(:attr:`Windows.note`) and hands over to plain page numbers for the whole list; the
records already passed on stay, and de-duplication drops them the second time.

The rules that tell an API which does not page stay: ``max_pages`` pages of records at
most, and a window's page equal to its previous page. An API that reorders pages
breaks the order check and goes to page numbers, whose rules catch the rest. (Pages
of nothing new are no sign here: the contacts on an edge are read by both windows.)

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

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.errors import PagingError
from runner.fetch.paging import NewRecords, PageRequest, Paging
from runner.fetch.windows import DEPTH, Order, OutOfOrder, Range, Window, WindowPlan


@dataclass
class _Open:
    """A window being paged: its next page, the order so far, its last page's ids."""

    window: Window
    order: Order
    next: int = 2
    previous: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class WindowRequest(PageRequest):
    """A page of a window (``window``), or the page 1 that opens one (``probe``)."""

    window: _Open | None = None
    probe: Window | None = None

    first: bool = False  # the run's first request: page 1 of the whole list

    @property
    def label(self) -> str:
        span = self.probe if self.window is None else self.window.window
        if span is None or self.first:
            return f"page {self.number}"
        return f"page {self.number} of {span.label}"


class Windows:
    """Closed ``createdAt`` windows over ``whole`` (see the module docstring).

    ``fallback`` makes the plain paging to hand over to (with de-duplication of its own,
    so that its rules see its own pages). ``ahead`` (asked each time): requests that
    may be on their way at once; the fetcher gives the requests allowed on the wire
    now, so none waits for a slot behind others and the one that opens the next window
    goes out as soon as it is made. ``depth`` (asked as each window opens): pages to
    size it to; the fetcher gives ``max(DEPTH, requests at once)``, as windows open
    one a round trip and are read a page a round trip, so about ``depth`` are read at
    once and keep that many requests busy. ``note`` says why windowing stopped, if it
    did; ``plan`` lists the windows opened.
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
        self._depth = depth
        self.max_pages = max_pages
        self.note = ""
        self._ahead = ahead
        self._fallback_factory = fallback
        self._fallback: Paging | None = None
        self._probe: Window | None = None  # the opening request on its way
        self._ready: deque[_Open] = deque()  # windows whose next page can be sent
        self._pages = 0  # pages with records, every window's

    @property
    def ordered(self) -> bool:
        """False while windowing: pages may be read as they come, any window's first."""
        return self._fallback is not None

    @property
    def ahead(self) -> int:
        return self._fallback.ahead if self._fallback else self._ahead()

    @property
    def reread(self) -> bool:
        return self._fallback.reread if self._fallback else False

    @property
    def windows(self) -> int:
        return len(self.plan.windows)

    def next(self) -> PageRequest | None:
        if self._fallback is not None:
            return self._fallback.next()
        if self._probe is None and (probe := self.plan.probe()) is not None:
            self._probe = probe
            first = not self.plan.windows
            return WindowRequest(1, probe.body(self.body, 1), probe=probe, first=first)
        if self._ready:
            state = self._ready.popleft()
            body = state.window.body(self.body, state.next)
            return WindowRequest(state.next, body, window=state)
        return None

    def read(self, request: PageRequest, records: list[Any]) -> list[Any] | None:
        if self._fallback is not None:
            # The plain pass checks its pages on its own records; what windows passed on
            # already is dropped here.
            kept = self._fallback.read(request, records)
            return (
                None if kept is None else self.records.keep_new(kept, self.records.dedupe.ids(kept))
            )
        assert isinstance(request, WindowRequest)
        try:
            if request.window is None:
                return self._opened(request, records)
            return self._paged(request, request.window, records)
        except OutOfOrder as exc:
            note = f"{exc}; paging by page number instead, without windows"
            self.note = self.records.scrub(note, 500)  # a record's text is the server's
            self._fallback = self._fallback_factory()
            return None  # the windows' requests on their way are dropped

    def _opened(self, request: WindowRequest, records: list[Any]) -> list[Any]:
        assert request.probe is not None
        self._probe = None
        ids = self.records.ids(request.number, records) if records else []
        order = Order(request.probe)
        oldest = order.check(1, records)
        self.plan.depth = self._depth()
        window = self.plan.opened(request.probe, len(records), oldest)
        if window is None:
            return []
        self._ready.append(_Open(window, Order(window, last=order.last), previous=ids))
        return self._keep(records, ids)

    def _paged(self, request: WindowRequest, state: _Open, records: list[Any]) -> list[Any]:
        if not records:
            return []  # the window is complete
        ids = self.records.ids(request.number, records)
        state.order.check(request.number, records)
        if ids == state.previous:
            raise PagingError(
                f"{request.label} returned exactly the records of page {request.number - 1}: "
                "the API seems to ignore the page number (check api.path and api.base_url)"
            )
        kept = self._keep(records, ids)
        state.previous = ids
        state.next += 1
        self._ready.append(state)
        return kept

    def _keep(self, records: list[Any], ids: list[Any]) -> list[Any]:
        self._pages += 1
        if self._pages > self.max_pages:
            raise PagingError(
                f"stopped at max_pages {self.max_pages} before the API's last page; "
                "nothing published (raise --max-pages or api.max_pages)"
            )
        return self.records.keep_new(records, ids)
