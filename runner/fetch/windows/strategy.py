"""The paging strategy that reads a list as closed ``createdAt`` windows (``api.windows``).

:class:`Windows` drives a :class:`~runner.fetch.windows.plan.WindowPlan`. The first
window is the whole closed range read by page number, the list's own pages, as many at
once as the run allows (once it is known where the list ends: an end probe, as page
numbers find it, read again once the window is passed on, see below; or above a page
the probe holds while it finds a deep end, :class:`~runner.fetch.end.EndWatch`), until
it is as deep as a window is sized: its reply times then tell whether windows pay
(:mod:`~runner.fetch.windows.depth_cost`). If they do not, it reads on to the end of
the list: page numbers, with no request or round trip to switch.
If they do, it ends at the page just passed on, and windows read the rest from the
oldest instant passed on. The request that opens the next window ("created before F",
page 1) goes first, so windows open one a round trip while the open ones are paged;
each window's pages 2, 3 ... go out in parallel, the oldest window's first, until its
first empty page.

Records are passed on in the list's own order whatever order the replies come in:
window after window, newest first, each page after the one above it (pages that come
early wait: no request goes out while :data:`~runner.fetch.windows.plan.HOLD` records
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
edge, which the window above shares) is read once more, in order (``reread``); so is
one whose last page, read again, is not as it came (pages answered bottom up repeat
nothing: :func:`~runner.fetch.windows.open_window.moved`). A contact deleted above the
page being read moves the pages below it up, and the record at the next boundary is
never read, even in order: the page where the list ended before the first window's
pass, read again once it is passed on, shows that it moved up, and the window is read
once more (:func:`~runner.fetch.windows.open_window.watched`). A window's second read
reads its old last page first, for the same reason. Windows below the first have no
such page: that one is read again once they are read, and moved up, page numbers read
the list once more (:class:`~runner.fetch.windows.request.EndAgain`).

Every page is checked (:class:`~runner.fetch.windows.plan.Order`): records newest first and
inside their window. When a page fails that check the strategy stops windowing, says
why (:attr:`Windows.note`) and hands over to plain page numbers for the whole list;
the records already passed on stay, and de-duplication drops them the second time.
``max_pages`` pages at most, counted as a read by page number counts them (the pages
handed over), and a page equal to the one above it fails, as with page numbers.

>>> from runner.fetch.redact import Redactor
>>> from runner.fetch.paging import PageNumbers
>>> from runner.fetch.windows.plan import Range
>>> from runner.fetch.records import Deduplicator
>>> records = NewRecords(Deduplicator("_id"), Redactor(""))
>>> plain = lambda body, start: PageNumbers(body, records, 1, 10, start)
>>> paging = Windows({"q": 1}, records, Range(None, 0), plain, max_pages=10, ahead=lambda: 4)
>>> first = paging.next()
>>> first.label  # the run's first request is page 1 of the whole list
'page 1'
>>> first.body["createdAt"], first.body["applicableFilters"]
({'startAt': '', 'endsAt': '1970-01-01T00:00:00.000Z'}, ['createdAt'])
>>> paging.read(first, []), paging.next()  # nothing created before the as-of: done
([], None)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

from runner.fetch.end import EndWatch, past_max_pages
from runner.fetch.paging import Aside, Figures, Later, NewRecords, Page, Threads
from runner.fetch.windows.depth_cost import Choice
from runner.fetch.windows.handover import Handover, Plain
from runner.fetch.windows.in_order import SMALL_REPLY, InOrder
from runner.fetch.windows.open_window import OpenWindow, Phase, asked_of, cut_here, tied_in
from runner.fetch.windows.outside import Early
from runner.fetch.windows.plan import (
    CREATED,
    DEPTH,
    HOLD,
    HOLD_RETRYING,
    Order,
    OutOfOrder,
    Range,
    Window,
    WindowPlan,
    ms,
    window_pages,
)
from runner.fetch.windows.request import EndAgain, WindowRequest, end_probe, end_probed


class _Opening:
    """The request side of :class:`Windows`: which page of which window goes out next,
    and where each reply is filed. :class:`Windows` passes the pages on."""

    def __init__(
        self,
        body: Mapping[str, Any],
        records: NewRecords,
        whole: Range,
        fallback: Plain,
        *,
        max_pages: int,
        ahead: Callable[[], int],
        depth: Callable[[], int] = lambda: DEPTH,
        end: EndWatch | None = None,
    ) -> None:
        self.body, self.records, self.max_pages = body, records, max_pages
        self.plan = WindowPlan(whole, depth())
        self.note = ""
        self.retrying = False  # a page waits to try again
        self._ahead, self._depth = ahead, depth
        self.then = Handover(body, records, whole, fallback, ahead)
        self.early = Early(body)
        self.choice = Choice()
        self._probe: Window | None = None  # the opening request on its way
        self._turns = InOrder(records)
        self._wire = 0  # requests on their way
        self._pages = 0  # pages with records, every window's
        # The first window: the whole range by page number, its pages known before any
        # reply (its round asks as many as allowed, once ``end`` is found: Windows.next).
        first = OpenWindow(self.plan.first(), depth(), first=True, deep=True, asked=0, came=set())
        first.watch, first.whole = end, first.window
        self.look = EndAgain(end, first.window)  # that page again, once windows below read
        self._first: OpenWindow | None = first  # until it is passed on
        self._turns.open.append(first)

    @property
    def ordered(self) -> bool:
        """False while windowing: the fetcher hands pages over as they are answered."""
        return self.then.paging is not None

    @property
    def ahead(self) -> int:
        return self.then.ahead if self.ordered else self._ahead()

    @property
    def reread(self) -> bool:
        shifted = self.look.watch is not None and self.look.watch.shifted  # (held page)
        return self.then.reread or self._turns.moved or bool(self.look.moved or shifted)

    @property
    def windows(self) -> int:
        return len(self.plan.windows) + self._turns.cuts

    def next(self) -> WindowRequest | None:
        if self.ordered:
            handed = self.then.next()
            return None if handed is None else WindowRequest(handed.number, handed.body)
        ahead = self._ahead()
        held = self._turns.held < (HOLD_RETRYING if self.retrying else HOLD)
        room = self._wire < ahead and held
        # The next window opens when the open ones have few pages left to ask for: its
        # page 1 waits for its turn, and windows opened early hold many.
        wanted = self._turns.left < 2 * ahead and self._first is None
        if room and wanted and self._probe is None and (probe := self.plan.probe()):
            self._probe, self._wire = probe, self._wire + 1
            return WindowRequest(1, probe.body(self.body, 1), probe=probe)
        for index, state in enumerate(self._turns.open):
            if index and not room:
                break  # the head window's requests go out whatever is waiting
            if state is self._first and state.phase is Phase.FIRST and self.choice.holding:
                continue
            page = state.ask(ahead)
            if page is not None:
                self._wire += 1
                body = asked_of(state, page).body(self.body, page)
                return WindowRequest(page, body, window=state, generation=state.generation)
        if room and all_read(self._first, self.plan, self._turns.open):
            if (look := self.look.ask(self.body)) is not None:
                self._wire += 1
                return look
            count = self._turns.count
            if self.then.checks and (early := self.early.next(count, self._turns.size)):
                self._wire += 1
                return WindowRequest(early.number, early.body, early=count)
        return None

    def later(self, request: WindowRequest, size: int) -> bool:
        """Whether a reply of ``size`` bytes to ``request`` can wait for its turn
        undecoded (a window's page not next in the list; not small: an empty page ends
        its window, and the fetcher decodes it at once)."""
        if self.ordered or size <= SMALL_REPLY:
            return False
        state = request.window
        if state is None or cut_here(state, request.number):
            return False  # (where a window may be cut: read as it comes)
        return self._turns.later(state, request.number, request.generation)

    def _take(self, request: WindowRequest, records: list[Any] | Later) -> None:
        """File a reply: it opens a window, or waits its turn in its window."""
        self._wire -= 1
        if request.beside:
            self.choice.filed(request.beside)  # its time is all it was asked for
            return
        decoded = records if isinstance(records, list) else []
        ids = self.records.ids(request.number, decoded) if decoded else []
        # Requests too (edge pages twice, a moved window twice over; not its checks): one
        # never ending; told as the cap set (pages asked ahead may pass it first).
        state = request.window
        self._pages += bool(records) and not (state and state.phase is Phase.CHECK)
        if self._pages > 2 * (self.max_pages + len(self.plan.windows)):
            past_max_pages(self.max_pages + 1, self.max_pages)
        if request.early is not None:
            self.early.file(request.early, request.number, decoded)
            return
        if state is None:
            self._opened(request, decoded, ids)
            return
        if state is self._first and request.number == 1 and decoded:
            self._sized(state, len(decoded))
        if request.generation == state.generation:  # else asked before a re-read: stale
            self._turns.held += state.file(request.number, records, ids, self.plan.page_size)
            if decoded and cut_here(state, request.number):
                last = decoded[-1].get(CREATED)
                self._turns.cut(state, len(decoded), last, request.number)

    def _sized(self, first: OpenWindow, count: int) -> None:
        """The first window's page 1 came with ``count`` records: the page size, and the
        depth windows are sized to (the first one's too, where its reply times decide)."""
        self.plan.page_size = max(self.plan.page_size, count)
        first.depth = self._turns.depth = max(self._depth(), window_pages(self.plan.page_size))
        self.plan.depth = round(first.depth * self._turns.scale)
        self.plan.windows.insert(0, first.window)

    def _opened(self, request: WindowRequest, records: list[Any], ids: list[Any]) -> None:
        assert request.probe is not None
        self._probe = None
        oldest = Order(request.probe).check(1, records)
        newest = ms(records[0].get(CREATED)) if records else None
        size = max(self.plan.page_size, len(records), 1)
        depth = self._turns.depth = max(self._depth(), window_pages(size))
        self.plan.depth = round(depth * self._turns.scale)  # sized longer where it thins
        window = self.plan.opened(request.probe, len(records), oldest, newest)
        if window is not None:
            state = OpenWindow(window, depth, scale=self._turns.scale, reach=self._turns.reach)
            self._turns.add(state, records, ids)


class Windows(_Opening):
    """Closed ``createdAt`` windows over ``whole`` (see the module docstring).

    ``fallback`` makes page numbers over a body from a page, to hand over to
    (:mod:`runner.fetch.windows.handover`). ``ahead`` (asked each time): requests on their
    way at most (the fetcher gives the requests allowed on the wire, and sets
    ``retrying`` while a page waits to try again). ``depth`` (asked as each window
    opens): pages to size it to, at least ``window_pages`` of the page size. ``note``
    says why windowing stopped, if it did, ``then.switched`` why the first window read
    on by page number (windows do not pay); ``plan`` lists the windows opened.
    """

    def next(self) -> WindowRequest | None:
        """The end probe's pages, before the first window reads (``end``); page 1 again,
        timed, where the depth decision wants it beside the deep pages on the wire
        (:meth:`Choice.beside`); else :meth:`_Opening.next`."""
        first, watch = self._first, self.look.watch
        if watch is not None and not watch.done and not self.ordered:  # its pages first
            end = end_probe(self.look, self.body) if self._wire < self._ahead() else None
            self._wire += end is not None
            if end is not None or not watch.ready:
                return end  # (the pass waits for the end probe, or a page it holds)
        if first is not None and first.phase is not Phase.FIRST:
            self.choice.no_more_beside()  # read again from page 1: it asks no deep page now
        elif first is not None and not self.ordered and (sent := self.choice.beside(first.asked)):
            self._wire += 1
            return WindowRequest(1, first.window.body(self.body, 1), beside=sent)
        return super().next()

    def pages(self, threads: Threads) -> Iterator[Page]:
        """Windows take replies as answered; page numbers, if they take over, in order."""
        if (yield from threads.as_answered(self)):
            yield from threads.in_order(self)

    @property
    def figures(self) -> Figures:
        outside = self.then.outside
        after, again = (outside.after, outside.rechecked) if outside else (0, 0)
        again += self._turns.edged
        return Figures(self.windows, self.note, self.then.read_as, self.reread, after, again)

    def read(self, request: WindowRequest, records: list[Any]) -> list[Any] | Aside | None:
        """As :meth:`Ordered.read` once page numbers took over (:attr:`ordered`); while
        windowing, as :meth:`file`."""
        if self.ordered:
            return self.then.read(request, records)
        return self.file(request, records)

    def file(self, request: WindowRequest, records: list[Any] | Later) -> list[Any] | None:
        """As :meth:`AsAnswered.file`; ``records`` may be a reply still to decode (where
        :meth:`later` said so). Records are handed over by :meth:`passed`; None means
        windowing stopped (:attr:`ordered`)."""
        if request.end:  # the end probe's (the pass reads above the page it holds)
            self._wire -= 1
            if (up := end_probed(self.look, request, records, self.records)) and not self.ordered:
                self._stop(f"page {request.number} moved up by {up} while its end was found")
                return None
            self.plan.floor = self.look.watch.floor if self.look.watch else None
            return []
        if request.last:  # (records in it: decoded, as every page outside a window)
            self._wire -= 1
            decoded = records if isinstance(records, list) else []
            if self.look.file(self.records.ids(request.number, decoded) if decoded else []):
                self._stop(f"its last page moved up by {self.look.moved} while windows read it")
                return None
            return []
        try:
            self._take(request, records)
            return []
        except OutOfOrder as exc:
            self._stop(exc)
            return None  # the windows' requests on their way are dropped

    def passed(self) -> Iterator[tuple[int, list[Any]]]:
        """The pages now next in the list's order, as numbered pages of the API's page
        size (the last one shorter): the pages a read by page number gives, whatever the
        windows. One page is decoded at a time. The rest waits until the list is
        complete, or windowing stops (a page out of order). max_pages counts these."""
        more, size = True, max(1, self.plan.page_size)
        self._turns.size = size
        while more:
            try:
                more = not self.ordered and self._turns.pass_one()
            except OutOfOrder as exc:
                self._stop(exc)
                more = False
            self._decide()
            out = self._turns.out
            # The check's first pages go out before it starts, and are waited for.
            early = self.then.checks and not self.early.answered(self._turns.count)
            early = early or self.look.waiting
            done = self.ordered or (self.plan.done and not self._turns.open and not early)
            for page in out.pages(size, done):
                past_max_pages(page[0], self.max_pages)
                yield page
            if done and not self.ordered and self.then.check(self._turns.count, size):
                assert self.then.outside is not None
                yield from self.early.feed(self.then.outside, self._turns.count)

    def timed(self, request: WindowRequest, seconds: float) -> None:
        """``request`` was answered in ``seconds`` (at the first try): what depth costs
        (the first window's pages; not the end probe's, asked before it, while requests
        at once still grow)."""
        if not (request.end or request.last):
            self.choice.timed(request.number, seconds, request.beside)

    def _decide(self) -> None:
        """Once the first window (the list's own pages, by page number) has passed on
        the pages it was sized to: whether windows pay (:mod:`depth_cost`, from its
        reply times). They do: it ends at the page just passed on and windows read the
        rest from there. They do not: it reads on by page number, requests already on
        the wire, so the switch costs no request and no round trip; asked again each
        time it is twice as deep (:class:`Choice`)."""
        first = self._first
        if first is None or self.ordered or first.out == 1:
            return  # (nothing passed on yet: page 1, which sizes it, may still be on its way)
        if first.phase is Phase.DONE or first.end is not None:
            self._first = None  # the whole list fitted in it: nothing to decide
            return
        if self.choice.deciding:
            if not self.choice.due(first.out - 1, first.depth):
                return
            self.then.switched = self.choice.decide(first.depth) or ""
            if self.then.switched or self.choice.asking:
                return  # page numbers, until the next check (or page 1 beside deep pages)
        elif self.then.switched:
            return  # the last check (1,025 pages) said page numbers: to the end
        # Windows pay: the pages on their way are passed on first (deep ones: the
        # server's dearest), then it ends, where its last page spans two instants (or
        # inside a tie that began deep: tied_long); inside one it reads on, not closing.
        first.closing = first.out <= first.asked and not tied_in(first)
        if first.closing:
            return
        if (stopped := first.stop()) is not None:
            below, held = stopped
            self._turns.held += held
            self.plan.resume(below)
            self._first, self.look.due = None, True

    def _stop(self, exc: OutOfOrder | str) -> None:
        note = f"{exc}; paging by page number instead, without windows"
        self.note = self.records.scrub(note, 500)  # a record's text is the server's
        self.then.restart()


def all_read(first: OpenWindow | None, plan: WindowPlan, open_: Collection[OpenWindow]) -> bool:
    """Whether every record of the range is passed on (the last window's last page may
    be on its way again) and the check for contacts outside every window is to come: its
    first pages go out now (:class:`Early`; the end probe's page again: ``EndAgain``);
    beside the first window's page 1 when the end probe found the list empty (then it is
    all the pass asks)."""
    watch, asked = (first.watch, first.asked) if first is not None else (None, 0)
    if watch is not None and watch.probe.empty and watch.past(asked + 1) and len(open_) == 1:
        return True  # (else as any list: one at a time, page 1 came and closed it)
    if not plan.done or len(open_) > 1:
        return False
    return all(state.phase is Phase.CHECK for state in open_)
