"""A ``createdAt`` window being read (:class:`OpenWindow`): the pages asked, those come
and waiting for their turn, those passed on; and, once every page is passed on, the
pages it reads again to see that live data did not move it meanwhile (:class:`Recheck`,
:func:`moved`). :class:`~runner.fetch.windows.in_order.InOrder` keeps them in order.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.errors import PagingError
from runner.fetch.end import EndWatch, moved_up
from runner.fetch.paging import Later
from runner.fetch.windows.plan import CREATED, Order, Window, ms, shared_head
from runner.fetch.windows.recheck import Recheck

Keep = Callable[[list[Any], list[Any]], list[Any]]  # a page's records not read before


class Phase(enum.Enum):
    FIRST = "pages asked ahead, passed on in order"
    AGAIN = "it moved: the window once more, one page at a time"
    CHECK = "every page passed on: its last page read again, to see it did not move up"
    DONE = "every record passed on"


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
    early: set[int] = field(default_factory=set)  # pages asked before the page above came
    moved: bool = False  # a record repeated inside the window (not on its upper edge)
    waiting: bool = False  # a request of this window is on its way (AGAIN)
    empty_end: bool = False  # it ends at an empty page (not cut), asked in its first read
    generation: int = 0  # how many times it was read from page 1 again
    first: bool = False  # opened by the run's first request: its pages are the list's
    deep: bool = False  # past its depth and not to be cut (one instant): read ahead freely
    spread: bool = False  # (the first window) its last page passed on: full, on two instants
    full: bool = False  # (the first window) its last page passed on was a full one
    tied: int = 0  # (the first window) where its full pages of one instant began (0: none)
    closing: bool = False  # (the first window) to end once the pages asked are passed on
    scale: float = 0.0  # the stretch its range was sized with (0: not sized from a page 1)
    reach: int = 0  # pages asked at once from the start (0: to one past its depth: within)
    edged: int = 0  # records on its upper edge the window above passed on, read again
    previous: list[Any] = field(default_factory=list)
    recheck: Recheck = field(default_factory=lambda: Recheck({}))  # (CHECK) pages read again
    checked: int = -1  # the generation whose last page was read again
    reference: tuple[int, list[Any]] | None = None  # (AGAIN) a page and its ids, read first
    watch: EndWatch | None = None  # (the first window) where the list ended before its pass
    watching: int | None = None  # (CHECK) the watch's page it reads again (check_pages)
    whole: Window | None = None  # (the first window) its range then: the list the watch read
    order: Order = field(init=False)

    def __post_init__(self) -> None:
        self.order = Order(self.window)

    def ask(self, ahead: int) -> int | None:
        """The next page to ask for, or None for now (:func:`within`); past its depth, once
        the page above is passed on (to cut it there), or ``ahead`` past the highest come."""
        if self.phase is Phase.CHECK:
            return self.recheck.ask()
        # (once a reply came, not again before it is passed on: the fetcher sends before)
        if self.phase is Phase.AGAIN and not self.waiting and self.out not in self.pages:
            self.waiting = True
            reference = self.reference is not None and not self.reference[1]
            return self.reference[0] if self.reference is not None and reference else self.out
        if self.phase is not Phase.FIRST or self.closing:
            return None
        page = self.asked + 1
        if page > self.depth + 1:
            past = page <= max(self.came, default=0) + ahead if self.deep else page <= self.out
            if not past:
                return None
        elif page > within(self):
            return None
        if (self.end is not None and page >= self.end) or past_end(self.watch, page):
            return None
        self.asked = page
        if page > 1 and page - 1 not in self.came:
            self.early.add(page)  # (read in parallel: it may be answered first)
        return page

    @property
    def left(self) -> int:
        """Pages it will still ask for ahead of their turn (up to :func:`within`)."""
        if self.phase is not Phase.FIRST or self.end is not None:
            return 0
        return max(0, within(self) - self.asked)

    def again(self) -> None:
        """The window moved: read it once more from page 1, in order; its last page first
        (the reference, read again at the end, shows deletions above it: as EndWatch)."""
        last = self.out - 1 if self.end is not None and self.out >= self.end else 0
        self.reference = (last, []) if last >= 2 else None
        self.phase, self.pages, self.out, self.end = Phase.AGAIN, {}, 1, None
        self.previous, self.waiting = [], False
        self.order = Order(self.window)
        self.generation += 1

    def file(self, number: int, records: list[Any] | Later, ids: list[Any], size: int) -> int:
        """Page ``number`` came (``records`` still to decode: ``size`` a page's records):
        kept until its turn. The records held now more than before (fewer when an empty
        page ends the window below pages asked ahead)."""
        if self.phase is Phase.CHECK:  # replies asked ahead past the end are dropped
            self.recheck.file(number, records, ids)
            return 0
        if self.reference is not None and not self.reference[1] and self.waiting:
            self.waiting = False  # (AGAIN) the reference: none if the page is empty now
            self.reference = (number, ids) if ids else None
            return 0
        if self.phase is Phase.FIRST and self.end is not None and number >= self.end:
            return 0  # past the end
        self.came.add(number)
        self.waiting = False
        if isinstance(records, list) and not records:
            held = self.ends(number)
            self.empty_end = self.phase is Phase.FIRST
            return held
        held = 0 if self.phase is not Phase.FIRST else size if callable(records) else len(records)
        came_with_records(self.watch if self.phase is Phase.FIRST else None, number)
        self.pages[number], self.reach = (records, ids, held), wider(self.reach, number)
        return held

    def ends(self, number: int) -> int:
        """Page ``number`` is empty (or the window is cut there): the window ends, pages
        asked from it on are dropped. The records held now more than before (zero or
        fewer)."""
        self.end, self.empty_end = number, False
        late = [n for n in self.pages if n >= number]
        return -sum(self.pages.pop(n)[2] for n in late)

    def take_turn(self, records: list[Any], ids: list[Any], keep: Keep, size: int) -> list[Any]:
        """Page ``out``, in its turn: checked before any of it is passed on, then its
        records not read before (``keep``). ``size``: a full page's records."""
        before = self.order.last  # (the instant the page above ended on)
        self.check(records, ids)
        kept = keep(records, ids)
        if self.first:  # where it may stop
            self.full = len(records) >= size
            self.spread = self.full and self.order.spans
            self.tied = tie_began(self, before)
        self.passed(records, ids, kept)
        return kept

    def stop(self) -> tuple[int, int] | None:
        """End the first window at the page just passed on, for windows to read the rest:
        the oldest instant passed on (where they begin; its range ends there too) and
        the records held now more than before (:meth:`ends`). None (tried again at the
        next page) on a short page (the end is near) or inside a tie (:func:`tied_in`)."""
        oldest = ms(self.order.last) if self.order.last else None
        if oldest is None or not self.full or tied_in(self):
            return None
        self.window = Window(oldest, self.window.end)
        return oldest, self.ends(self.out)

    def check(self, records: list[Any], ids: list[Any]) -> None:
        """Page ``out`` in order, inside the window, not the page above once more; its
        first records may be the page above's last ones (:func:`shared_head`)."""
        repeated = shared_head(self.previous, ids)
        self.order.check(self.out, records, repeated)
        if ids == self.previous:
            raise same_page(self)

    def passed(self, records: list[Any], ids: list[Any], kept: list[Any]) -> None:
        """Page ``out`` passed on (``kept``: its records not read before); one read before
        inside the window marks it moved; on its upper edge (the window above's): edged."""
        if len(kept) < len(records):  # some read before: where?
            self.edged, self.moved = read_again(self, records, kept)
        self.previous, self.out = ids, self.out + 1


def read_again(state: OpenWindow, records: list[Any], kept: list[Any]) -> tuple[int, bool]:
    """``state``'s ``edged`` and ``moved`` once a page of ``records`` (``kept``: those not
    read before) is passed on: a record read before on its upper instant was the window
    above's (none above the first window); one anywhere else means the window moved."""
    top, new = state.window.end, {id(r) for r in kept}
    on_edge = [ms(r.get(CREATED)) == top for r in records if id(r) not in new]
    return state.edged + sum(on_edge) * (not state.first), state.moved or not all(on_edge)


def reach(before: int, state: OpenWindow) -> int:
    """Pages the next window asks at once (was ``before``), once ``state`` is read: as
    many as it held, a quarter more and its empty page, where it ended short of its
    depth; else (it was full, or cut) up to one past its depth (0). Only windows sized
    from a page 1, as ``in_order.learned`` (not the first, the list's own pages). With
    :func:`within` and :func:`wider`, all of how far a window asks at once.

    >>> from runner.fetch.windows.plan import Window
    >>> short = OpenWindow(Window(1, 9), 32, end=9, scale=1.0)  # 8 pages of 32
    >>> full = OpenWindow(Window(1, 9), 32, end=33, scale=1.0)
    >>> reach(0, short), reach(11, full), reach(11, OpenWindow(Window(1, 9), 32, end=9))
    (11, 0, 11)
    """
    if not state.scale or state.end is None or state.deep or not state.window.start:
        return before
    pages = state.end - 1
    return pages + 1 + max(2, pages // 4) if pages < state.depth else 0


def tie_began(first: OpenWindow, before: str | None) -> int:
    """Where the pages of one instant ``first`` (the first window) passes on began, page
    ``out`` just checked (``before``: the instant the page above ended on): none past a
    page that spans two instants, or a short one; this page where its instant is new (two
    imports, one ending on a page's last record, the other from the next page's first:
    counted as one, the second was judged by where the first began); the page above
    where that page ended on it.

    >>> from runner.fetch.windows.plan import Window
    >>> state = OpenWindow(Window(1, 9), 32, out=7, full=True, tied=3)
    >>> state.order.last = "b"
    >>> tie_began(state, "a"), tie_began(state, "b")
    (7, 3)
    >>> state.tied = 0
    >>> tie_began(state, "b")
    6
    """
    if first.spread or not first.full:
        return 0
    if first.order.last != before:
        return first.out
    return first.tied or max(1, first.out - 1)


def tied_in(first: OpenWindow) -> bool:
    """Whether ``first`` (the first window) passed on a full page of one instant last:
    the windows below would read its ties again from their page 1 (but :func:`tied_long`).
    It reads on, its pages asked ahead as before windows were found to pay (else a round
    at a time: 81 pages of a tie from page 2)."""
    return first.full and not first.spread and not tied_long(first)


def tied_long(first: OpenWindow) -> bool:
    """Whether ``first`` (the first window) has gone half its depth again past where it
    was to end, on pages of one instant (thousands of contacts imported at once) that
    began deep enough to pay for a window of their own. That window reads the instant
    from its own page 1: what was passed on of it again (shallow), and the rest as many
    pages shallower as the tie began deep (from page 26: 25), where reading on read
    every page of it at the list's depth, the dearest there are: on 20,000 contacts
    (imports, 10 us a skipped row, 20 ms) 2.7-2.8 s against 3.3-3.5 s
    (`python -m bench.conc_trace --shape imports --skip-cost-us 10`). Not where the
    pages read again would outnumber the pages each page is read shallower: a tie from
    the list's first page is read on (its window's pages are the list's own: 52 more
    requests where it began at page 1, and nothing saved).

    >>> from runner.fetch.windows.plan import Window
    >>> [tied_long(OpenWindow(Window(1, 9), 32, out=52, tied=b)) for b in (1, 24, 25, 60)]
    [False, False, True, True]
    """
    past = first.depth + first.depth // 2 + 1  # the first page it may stop at
    return first.out >= past and past - first.tied < first.tied


def within(state: OpenWindow) -> int:
    """The deepest page ``state`` asks now, up to one past its depth: with a ``reach``
    (the window before it ended short of its depth), that far, and half as far again
    each time the page there comes with records (:func:`wider`). On a list whose windows
    hold far fewer pages than they were sized to (contacts in weekly clusters: 8 pages of
    32), the pages asked at once past the end came back empty: 683 of 1,155 requests.

    >>> from runner.fetch.windows.plan import Window
    >>> state = OpenWindow(Window(1, 9), 32, reach=11)
    >>> within(state), within(OpenWindow(Window(1, 9), 32))
    (11, 33)
    >>> state.file(11, [{"_id": 1}], [1], 50), within(state)
    (1, 16)
    """
    return min(state.depth + 1, state.reach) if state.reach else state.depth + 1


def wider(reach: int, number: int) -> int:
    """The reach once page ``number`` came with records: half as far again when it is
    the page at the reach, so that the window's next pages go out together (worked out
    from the deepest page asked instead, it went one page a round trip past the reach).

    >>> wider(11, 11), wider(11, 7), wider(0, 40), wider(16, 17)
    (16, 11, 0, 25)
    """
    return number + max(2, number // 2) if reach and number >= reach else reach


def check_pages(state: OpenWindow) -> dict[int, list[Any] | None]:
    """The pages ``state`` reads again, every page passed on: read a second time, its
    reference (the page it ended on before, read first: :meth:`OpenWindow.again`); else
    its last page (none in a one-page window), and its first empty page when that was
    asked before the page above it came (it may have been answered first)."""
    state.watching = None
    if state.reference is not None:
        return {state.reference[0]: None}
    pages: dict[int, list[Any] | None] = {} if state.out <= 2 else {state.out - 1: None}
    if state.empty_end and state.end in state.early and not state.generation:
        pages[state.end] = None
    if (end := watched(state)) is not None:
        pages[end] = None  # (the watch's last page now: the end, or the page it holds)
    state.watching = end
    return pages


def same_page(state: OpenWindow) -> PagingError:
    """Page ``out`` holds exactly the records of the page above: not paging."""
    return PagingError(
        f"{label(state, state.out)} returned exactly the records of page "
        f"{state.out - 1}: the API seems to ignore the page number (check "
        "api.path and api.base_url)"
    )


def past_end(watch: EndWatch | None, number: int) -> bool:
    """Whether page ``number`` is past the page after where the list ended (the end
    probe's, ``watch``, while the list did not grow)."""
    return watch is not None and watch.past(number)


def came_with_records(watch: EndWatch | None, number: int) -> None:
    """Page ``number`` of the first window's pass came with records (past the end: the
    list grew, and pages past it are asked again)."""
    if watch is not None:
        watch.read(number)


def watched(state: OpenWindow) -> int | None:
    """The page where the list ended before the first window's pass (its end probe), to
    read again once the window is passed on; None for another window, a second read (its
    reference does this), or a list of one page (no boundary to skip a record at).

    A contact deleted above the page being read moves the pages below it up, and the
    record at the next boundary is never read: even in order, and the window's own last
    page, read again, shows nothing when it was first read after the deletion. That page,
    read before any page of the pass, moved up since, shows it: as page numbers' EndWatch.
    """
    last = state.watch.last if state.watch is not None and not state.generation else None
    return last[0] if last is not None and (last[0] >= 2 or state.out > 2) else None


def asked_of(state: OpenWindow, number: int) -> Window:
    """The range page ``number`` of ``state`` is asked in: its own, but for the page the
    end probe found, read again in the range the probe read (the first window stopped
    where windows begin ends its own range there: that page would be empty in it)."""
    whole = state.whole
    if whole is not None and state.phase is Phase.CHECK and number == state.watching:
        return whole
    return state.window


def cut_here(state: OpenWindow, number: int) -> bool:
    """Whether page ``number`` of ``state``, as it comes, is where it is cut: one past its
    depth (decoded as it comes, so that the windows below open while the pages above it
    are still on their way, not once they are all passed on: :meth:`InOrder.cut`)."""
    fresh = state.phase is Phase.FIRST and state.end is None and not state.first
    return fresh and not state.deep and number == state.depth + 1


def moved(state: OpenWindow) -> tuple[int, bool]:
    """How ``state`` moved while it was read, from the pages read again (:class:`Recheck`):
    up by how many places (contacts deleted above its last page: the record at a page
    boundary below them is never read, even in order; measured from its reference when
    it is read a second time), and whether, read in parallel, its last page is not as it
    came or its first empty page has records now (contacts put in above, between a page
    and the one above it answered after it, skip the record at their boundary, and none
    need repeat where pages come bottom up). As sets: ties may come in another order.

    >>> window = OpenWindow(Window(None, 0), 4, out=3, end=3, previous=["c", "d"], early={3})
    >>> def again(*pages): window.recheck = Recheck(dict(pages)); return moved(window)
    >>> again((2, ["d"])), again((2, ["b", "c"])), again((2, ["c", "d"]), (3, ["e"]))
    ((1, True), (0, True), (0, True))
    >>> again((2, ["c", "d"])), again((2, ["c", "d"]), (3, []))
    ((0, False), (0, False))
    """
    came = state.recheck.pages
    if state.reference is not None:
        number, before = state.reference
        return moved_up(before, came.get(number) or []), False
    up, pushed = 0, False
    if (tail := came.get(state.out - 1)) is not None:
        up = moved_up(state.previous, tail)
        pushed = bool(state.early) and not state.generation and set(tail) != set(state.previous)
    if (end := state.watching) is not None and (now := came.get(end)) is not None:
        assert state.watch is not None
        up = max(up, state.watch.moved(now, end))
    return up, pushed or bool(state.end is not None and came.get(state.end))


def label(state: OpenWindow, number: int) -> str:
    """``page 3``, or ``page 3 of createdAt A to B`` past the first window."""
    return f"page {number}" if state.first else f"page {number} of {state.window.label}"
