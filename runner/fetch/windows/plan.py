"""Closed ``createdAt`` windows: a deep list read as many shallow ones.

Page-number paging makes page N cost O(N) on a database (it skips N x page-size rows
before it answers), so a long list costs O(N^2). The API lists newest ``createdAt``
first and filters on a ``createdAt`` range, so the list can be cut into windows a few
pages deep instead, each paged from page 1:

- The whole range ends at the run's as-of (and inside the segment's own
  ``createdAt`` range, when the segment applies one): a contact created during the
  run is in no window, so the export is a snapshot (:func:`closed_range`).
- :class:`WindowPlan` opens the next window with page 1 of "created before F" (F:
  where the windows so far end). That page tells the density of the list at F: the
  oldest ``createdAt`` on a full page 1 is one page below F, so ``depth`` times that
  distance is about ``depth`` pages. The page is also the new window's page 1;
  its pages 2, 3 ... follow with the window's own bounds, and the next window
  opens at once below it. The first window is the exception (:meth:`WindowPlan.first`):
  the whole range, read by page number until it is cut where its pages end
  (:meth:`WindowPlan.resume`), or read to the end where windows do not pay.
- Bounds are inclusive, at millisecond precision, and windows overlap by their edge
  (a window ends where the one above starts): contacts on an edge are read twice and
  de-duplicated, never missed, however many share that instant. A page 1 entirely
  on one instant F becomes the window [F, F], and the next one ends 1 ms below.
- :class:`Order` checks every page: records newest first and inside their window.
  An API that does not keep that order or ignores the range cannot be windowed; the
  caller falls back to plain paging and says why.

Instants are whole milliseconds since the epoch (``int``); the API's own text form
(``2026-11-20T12:00:00.000Z``) sorts like the instant, so records in that form are
checked by comparing text, without parsing each one.

>>> plan = WindowPlan(Range(None, ms("2026-11-25T00:00:00Z")), depth=4)
>>> probe = plan.probe()
>>> probe.start is None and text(probe.end)
'2026-11-25T00:00:00.000Z'
>>> opened = plan.opened(probe, 50, oldest=ms("2026-11-24T22:00:00Z"))  # a full page 1
>>> text(opened.start), text(plan.probe().end)  # 4 x 2 hours below the as-of
('2026-11-24T16:00:00.000Z', '2026-11-24T16:00:00.000Z')
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CREATED = "createdAt"
DEPTH = 16  # pages a window is sized to, by default
RECORDS = 1600  # records a window is sized to hold at least (32 pages of 50): its deepest
# page skips that many rows, and each window costs a page or two more than page numbers
# (window_pages: pages larger than 50 make deeper windows)
HOLD = 2_500  # records come early (a page above them late) held before no more requests
# go out: about 13 MB of full contacts, enough for pages of windows further down
HOLD_RETRYING = 10_000  # while a page waits out a 429's Retry-After: seconds of paging
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FLOOR = 0  # no window edge before the epoch: a list that old is read as one window


def window_pages(size: int) -> int:
    """Pages a window is sized to when pages hold ``size`` records: ``RECORDS`` records,
    and for pages larger than 50 records, 32 x sqrt(50 / size) pages.

    A page at depth d of a window costs a request (L) and the rows it skips (c x size x d);
    a window of D pages costs one request more than page numbers (its empty last page).
    Per record that is L / (size x D) + c x D / 2, least at D = sqrt(2 L / (c x size)):
    the best depth in pages falls with the square root of the page size, so in records
    it grows with it. 32 pages of 50 is where the deep-list benchmark (10 us a skipped
    row, 20 ms a request) is fastest; at 200 a page that is 16 pages (3,200 records), half
    the extra requests of 8 pages where skipped rows cost nothing.

    >>> [window_pages(n) for n in (10, 50, 100, 200, 1000)]
    [160, 32, 23, 16, 8]
    """
    size = max(1, size)
    return max(RECORDS // size, math.ceil(RECORDS // 50 * math.sqrt(50 / size)))


def ms(value: Any) -> int | None:
    """An ISO-8601 instant (or a datetime) as whole milliseconds since the epoch, rounded
    down; None when it is not one. A time without an offset is UTC, as the API reads it."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def text(instant: int) -> str:
    """The API's form of an instant: ``2026-11-20T12:00:00.000Z``."""
    moment = EPOCH + dt.timedelta(milliseconds=instant)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant % 1000:03d}Z"


def canonical(value: Any) -> bool:
    """Whether ``value`` is in the API's own form, where text order is time order."""
    return (
        isinstance(value, str)
        and len(value) == 24
        and value[23] == "Z"
        and value[19] == "."
        and value[10] == "T"
    )


# Instants in the API's form back to back: what :func:`canonical` checks, 24 characters each.
_CANONICAL_RUN = re.compile(r"(?:.{10}T.{8}\..{3}Z)*", re.DOTALL)


def all_canonical(values: Sequence[Any]) -> bool:
    """Whether every value is in the API's own form (:func:`canonical`), in a few C calls
    for a whole page instead of a Python call a record (issue 23: a page's CPU is a
    zero-latency export's speed).

    >>> all_canonical(["2026-11-20T12:00:00.000Z", "2026-11-20T11:59:59.999Z"])
    True
    >>> all_canonical(["2026-11-20T12:00:00.000Z", None]), all_canonical(["2026-11-20"])
    (False, False)
    """
    try:
        joined = "".join(values)  # TypeError: a value is not text
    except TypeError:
        return False
    if len(joined) != 24 * len(values) or set(map(len, values)) - {24}:
        return False
    return _CANONICAL_RUN.fullmatch(joined) is not None


def created_after(value: Any, as_of: str) -> bool:
    """Whether a ``createdAt`` value is a readable instant after ``as_of`` (API form).
    A contact without one is not: no window sees it, and it is not left out for it."""
    if canonical(value):
        return bool(value > as_of)
    instant = ms(value)
    return instant is not None and text(instant) > as_of


@dataclass(frozen=True)
class Range:
    """``createdAt`` from ``start`` to ``end``, both inclusive; ``start`` None: no lower
    bound (the API's ``startAt: ""``)."""

    start: int | None
    end: int


@dataclass(frozen=True)
class Window(Range):
    """A range the API is asked for, page 1 first. ``probe``: a "created before" request
    whose page 1 sizes the window it opens."""

    probe: bool = False

    @functools.cached_property
    def bounds(self) -> tuple[str, str]:
        """``startAt`` ("" for no lower bound) and ``endsAt``, as the API writes them."""
        return ("" if self.start is None else text(self.start), text(self.end))

    @property
    def label(self) -> str:
        start, end = self.bounds
        return f"createdAt {start or '...'} to {end}"

    def body(self, base: Mapping[str, Any], page: int) -> dict[str, Any]:
        """``base`` with this window's range applied (``createdAt`` in applicableFilters)."""
        applicable = list(base.get("applicableFilters") or [])
        if CREATED not in applicable:
            applicable.append(CREATED)
        start, end = self.bounds
        return {
            **base,
            "applicableFilters": applicable,
            CREATED: {"startAt": start, "endsAt": end},
            "page": page,
        }


def closed_range(body: Mapping[str, Any], as_of: dt.datetime) -> Range | None:
    """The range to window: up to ``as_of``, inside the segment's own ``createdAt`` range
    when the segment applies one. None when that leaves nothing, or the segment's bounds
    cannot be read (then the caller pages as the segment says)."""
    end = ms(as_of)
    assert end is not None
    start = None
    if CREATED in (body.get("applicableFilters") or []):
        own = body.get(CREATED) or {}
        if not isinstance(own, Mapping):
            return None
        low, high = own.get("startAt") or "", own.get("endsAt") or ""
        start, until = ms(low) if low else None, ms(high) if high else None
        if (low and start is None) or (high and until is None):
            return None
        if until is not None:
            end = min(end, until)
    if start is not None and start > end:
        return None
    return Range(start, end)


class WindowPlan:
    """Which window comes next, newest first (see the module docstring).

    :meth:`probe` gives the "created before F" request that opens the next window,
    :meth:`opened` takes the size of its page 1 and the oldest ``createdAt`` on it and
    returns the window that page belongs to. ``windows`` lists the windows opened.
    """

    def __init__(self, whole: Range, depth: int = DEPTH) -> None:
        self.whole = whole
        self.depth = max(1, depth)
        self.frontier: int | None = whole.end  # None: every window is open
        self.page_size = 0  # the longest page seen: a page this long is full
        self.windows: list[Window] = []
        # Windows open above this instant only, for now (None: down to the range's
        # start): contacts created before it wait for the list's end (EndWatch.floor).
        self.floor: int | None = None

    @property
    def done(self) -> bool:
        return self.frontier is None

    def probe(self) -> Window | None:
        """Page 1 of this window opens the next one; None when the range is covered, or
        what is left is below the ``floor`` (for now)."""
        if self.frontier is None:
            return None
        start = self.whole.start
        if self.floor is not None and (start is None or self.floor > start):
            if self.frontier < self.floor:
                return None
            start = self.floor
        return Window(start, self.frontier, probe=True)

    def first(self) -> Window:
        """The run's first window: the whole range, read by page number (its pages are
        the list's own) until :meth:`resume` cuts it. No other window opens meanwhile.
        The caller lists it in ``windows`` once its page 1 shows records."""
        self.frontier = None
        return Window(self.whole.start, self.whole.end)

    def resume(self, below: int) -> None:
        """The first window was cut where the records passed on end, at ``below``:
        windows go on from there (inclusive: the records on that instant are read
        again and de-duplicated, never missed)."""
        self.frontier = below

    def opened(
        self, probe: Window, count: int, oldest: int | None, newest: int | None = None
    ) -> Window | None:
        """The window ``probe``'s page 1 opens, given its number of records and the oldest
        and newest instants on it; None when the page is empty: nothing is left below the
        frontier.

        The window is sized from the records' own span (newest to oldest on the page),
        not from the frontier: the stretch between the frontier and the newest record
        (the as-of and a list whose newest contact is weeks old) holds no record, and
        sizing from it made one window of the whole list."""
        self.page_size = max(self.page_size, count)
        top, start = probe.end, probe.start
        if not count or oldest is None:
            floored = start is not None and start != self.whole.start
            self.frontier = start - 1 if floored and start is not None else None  # (below)
            return None
        newest = top if newest is None else min(newest, top)
        if count < self.page_size:  # not full: everything left is on this page
            window, self.frontier = Window(start, top), None
        elif oldest >= newest:  # a full page on one instant: down to that instant alone
            window = Window(newest, top)
            below = newest - 1
            self.frontier = None if start is not None and below < start else below
        else:
            edge = newest - self.depth * (newest - oldest)
            if edge <= (FLOOR if start is None else start):  # all that is left: one window
                window, self.frontier = Window(start, top), None
            else:
                window, self.frontier = Window(edge, top), edge
        if self.frontier is None and start is not None and start != self.whole.start:
            self.frontier = start - 1  # (opened above the floor: the rest waits below it)
        self.windows.append(window)
        return window


class OutOfOrder(Exception):
    """A page that cannot be windowed: its message says why (records not newest first,
    outside their window, or without a readable ``createdAt``). ``above``: only its
    first record is newer than the page above's last (the page in order in itself), as
    a page pushed down by contacts put in while pages are read in parallel can be."""

    def __init__(self, message: str, above: bool = False) -> None:
        super().__init__(message)
        self.above = above


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


class Order:
    """Checks the pages of one window, in page order: each record's ``createdAt`` inside
    the window and no newer than the one before (across pages too)."""

    def __init__(self, window: Window, last: str | None = None) -> None:
        self.window = window
        self.low, self.high = window.bounds
        self.last = last  # the oldest instant read so far in this window, API form
        self.spans = False  # the last page checked holds more than one instant

    def check(self, number: int, records: Sequence[Any], repeated: int = 0) -> int | None:
        """The oldest instant on the page (None when empty); raises :class:`OutOfOrder`.
        Its first ``repeated`` records were the page above's last ones (live data moved
        them, :func:`~runner.fetch.windows.open_window.shared_head`): the page is then not
        compared with the page above's last record (it may be one deleted since), but
        still checked in itself from its first record, under the window's upper edge."""
        try:  # (records are objects: no test a record)
            raw: list[Any] = [r.get(CREATED) for r in records]
        except AttributeError:
            raw = [r.get(CREATED) if isinstance(r, dict) else None for r in records]
        values: list[str] = (
            raw if all_canonical(raw) else [self._normal(number, i, v) for i, v in enumerate(raw)]
        )
        previous = self.high if repeated else self.last or self.high
        newest_first = [previous, *values]
        values_left: list[str] = []
        if all(map(operator.ge, newest_first, newest_first[1:])):  # no Python step a record
            previous = newest_first[-1]
        else:
            values_left = values
        for index, value in enumerate(values_left):
            if value > previous:
                if value > self.high:
                    raise OutOfOrder(self._outside(number, index, value))
                raise OutOfOrder(
                    f"page {number} of {self.window.label}: record {index} was created at "
                    f"{value}, later than the record before it ({previous}): the API does "
                    "not list newest createdAt first",
                    above=not index and not repeated and all(map(operator.ge, values, values[1:])),
                )
            previous = value
        if values and self.low and values[-1] < self.low:
            raise OutOfOrder(self._outside(number, len(values) - 1, values[-1]))
        self.last = previous
        self.spans = (
            bool(values) and values[0] != values[-1]
        )  # (the API's form: one instant, one text)
        return ms(values[-1]) if values else None

    def _normal(self, number: int, index: int, value: Any) -> str:
        instant = ms(value)
        if instant is None:
            shown = "no createdAt" if value is None else f"createdAt {str(value)[:40]!r}"
            raise OutOfOrder(f"page {number} of {self.window.label}: record {index} has {shown}")
        return text(instant)

    def _outside(self, number: int, index: int, value: str) -> str:
        return (
            f"page {number} of {self.window.label}: record {index} was created at {value}, "
            "outside the window: the API does not apply the createdAt range"
        )
