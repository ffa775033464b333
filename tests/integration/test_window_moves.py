"""A createdAt window that live data moves while it is read, against the sandbox over a
real socket, with the replies and the changes put in the order that hides them: what
the window reads again once every page is passed on (its last page, its first empty
page when that came first, and, read a second time, the page it ended on before) must
show the move, or the run must fail. Each test fails on the code before these checks."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from runner.errors import PagingError
from runner.fetch import PageFetcher
from runner.sandbox import Sandbox
from runner.spec.project import ApiSettings
from tests.conftest import RunsList, full_body
from tests.integration.fetching import FAST

Start = Callable[..., Sandbox]
AS_OF = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
SIZE = 25
# The segment's own createdAt range: no check for contacts outside every window (which
# reads past the list's end by page number, and would find a pushed record there).
TOP = "2026-11-24T23:59:59.999Z"  # where the segment's own range ends
BODY = full_body(
    isContact=False,
    applicableFilters=["createdAt"],
    createdAt={"startAt": "", "endsAt": TOP},
)


def fetch(api: Sandbox, concurrency: int, max_pages: int = 1000) -> tuple[list[Any], PageFetcher]:
    config = ApiSettings(
        base_url=api.url, retry=FAST, max_pages=max_pages, concurrency=concurrency, windows=True
    )
    fetcher = PageFetcher(config, api.options.token, BODY, as_of=AS_OF)
    try:
        return [record["_id"] for page in fetcher.pages() for record in page.records], fetcher
    finally:
        fetcher.close()


def delete(api: Sandbox, body: dict[str, Any], index: int) -> Any:
    """The contact at ``index`` of ``body``'s list deleted, as the API would (from every
    list); its id."""
    found = api.matches(body)
    with found.lock:
        gone = found.ids.pop(index)
        del found.blobs[index]
    api.population.gone.add(gone)
    return gone


class Pass:
    """Tells the first window's pass from the end probe before it, server side: the probe
    asks each page once (1, 2, 4 ... then the gap split), and the pass begins with the
    first page asked again. Called with each request's page, as it arrives."""

    def __init__(self) -> None:
        self.probed: set[int] | None = set()

    def __call__(self, number: int) -> bool:
        """Whether this request is the pass's (or a later one's), not the probe's."""
        if self.probed is not None and number not in self.probed:
            self.probed.add(number)
            return False
        self.probed = None
        return True


class EndFirst:
    """The page past the list's end answered first, then a contact put in on top of the
    list, then its pages with records (held until then, 10 s at most)."""

    def __init__(self, api: Sandbox, pages: int) -> None:
        self.api, self.page, self.pages = api, api.page, pages
        self.lock, self.gate = threading.Lock(), threading.Event()
        self.ours, self.inserted, self.passing = RunsList(), False, Pass()

    def __call__(self, body: dict[str, Any]) -> bytes:
        with self.lock:
            ours = self.ours(body) and self.passing(body["page"])
        if ours and body["page"] <= self.pages and not self.inserted:
            self.gate.wait(10)
        reply: bytes = self.page(body)
        with self.lock:
            if ours and body["page"] == self.pages + 1 and not self.inserted:
                self.api.arrivals.copy_top(1, self.api.matches(body))
                self.inserted = True
                self.gate.set()
        return reply


@pytest.mark.parametrize("pages", [1, 2, 3])
def test_an_empty_page_answered_before_the_last_while_a_contact_is_put_in_loses_nothing(
    sandbox: Start, monkeypatch: pytest.MonkeyPatch, pages: int
) -> None:
    # The last record is pushed onto the page already read empty: nothing repeats, and
    # the last page, read after the contact came, is as it came. The empty page read
    # again has a record now: the window is read once more (a one-page list too, which
    # was never checked).
    api = sandbox(users=pages * SIZE, page_size=SIZE, seed=8)
    truth = api.truth(BODY)
    end_first = EndFirst(api, pages)
    monkeypatch.setattr(api, "page", end_first)
    ids, fetcher = fetch(api, concurrency=8)
    assert end_first.inserted and fetcher.note == ""
    assert set(truth) <= set(ids) and len(ids) == len(set(ids))
    assert fetcher.reread


class Deletions:
    """The contact at ``first`` deleted once page ``last`` (the list's last) is served the
    first time: the last page moves up, and the window is read a second time. With
    ``again``: the contact at ``again`` deleted once page 2 is served in that second
    read, above the pages still to read, and nothing after (its own last page is as it
    came)."""

    def __init__(self, api: Sandbox, last: int, first: int, again: int | None = None) -> None:
        self.api, self.page, self.last, self.first, self.again = api, api.page, last, first, again
        self.lock, self.served, self.gone = threading.Lock(), Counter[int](), list[Any]()
        self.passing = Pass()

    def __call__(self, body: dict[str, Any]) -> bytes:
        with self.lock:
            passing = self.passing(body["page"])
        reply: bytes = self.page(body)
        with self.lock:
            number = body["page"]
            if not passing:
                return reply
            self.served[number] += 1
            if number == self.last and self.served[number] == 1:
                self.gone.append(delete(self.api, body, self.first))
            elif number == 2 and self.served[2] == 2 and self.again is not None:
                self.gone.append(delete(self.api, body, self.again))
        return reply


@pytest.mark.parametrize("index", [5, 30, 45])
def test_a_contact_deleted_while_a_window_is_read_a_second_time_fails_the_run(
    sandbox: Start, monkeypatch: pytest.MonkeyPatch, index: int
) -> None:
    # Read in order, a deletion above the next page skips the record at that boundary,
    # and the last page, read after it, does not show it. The page the window ended on
    # before, read first, shows it at the end, as page numbers' end probe does: a list
    # that moves through its second read fails the run rather than be published short.
    api = sandbox(users=3 * SIZE + 10, page_size=SIZE, seed=8)
    second = Deletions(api, last=4, first=30, again=index)
    monkeypatch.setattr(api, "page", second)
    with pytest.raises(PagingError, match="again while it was read a second time"):
        fetch(api, concurrency=1)
    assert len(second.gone) == 2 and second.served[1] == 2  # read twice, deleted twice


class PushedDown:
    """Page 7 of the run's list answered once page 6 was, after ``count`` contacts put in
    on top of the list in between: page 7 holds only records of the pages above it."""

    def __init__(self, api: Sandbox, count: int) -> None:
        self.api, self.page, self.count = api, api.page, count
        self.changed, self.served = threading.Condition(), Counter[int]()
        self.ours, self.pushed = RunsList(), False

    def __call__(self, body: dict[str, Any]) -> bytes:
        with self.changed:
            ours = self.ours(body)
            if ours and body["page"] == 7 and not self.pushed:
                self.pushed = self.changed.wait_for(lambda: self.served[6] > 0, 10)
                self.api.arrivals.copy_top(self.count, self.api.matches(body))
        reply: bytes = self.page(body)
        with self.changed:
            self.served[body["page"]] += ours
            self.changed.notify_all()
        return reply


@pytest.mark.parametrize("count", [26, 40, 75])
def test_a_page_pushed_down_by_more_than_a_page_is_read_again_not_taken_for_disorder(
    sandbox: Start, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    # Contacts put in while pages are answered in parallel push page 7 down past page 6's
    # last record: its first record is newer than that one. Read in order, the window
    # gives every record; the API was not out of order (before, the run stopped
    # windowing and said the API does not list newest createdAt first).
    api = sandbox(users=3000, page_size=SIZE, seed=8)
    truth = api.truth(BODY)
    pushed = PushedDown(api, count)
    monkeypatch.setattr(api, "page", pushed)
    ids, fetcher = fetch(api, concurrency=8)
    assert pushed.pushed and fetcher.note == "" and fetcher.reread
    assert set(truth) <= set(ids) and len(ids) == len(set(ids))


class TopMoved:
    """A contact put in on top of the list's first window (the requests that end at the
    list's own top) when one of its pages past 1 is asked a second time: the check of
    its last page once its pages are passed on. ``asked``: its pages, in the order
    asked; ``moved_at``: how many were asked before the contact was put in."""

    def __init__(self, api: Sandbox) -> None:
        self.api, self.page, self.lock = api, api.page, threading.Lock()
        self.asked: list[int] = []
        self.moved_at: int | None = None
        self.passing = Pass()

    def __call__(self, body: dict[str, Any]) -> bytes:
        with self.lock:
            ends = (body.get("createdAt") or {}).get("endsAt") == TOP
            # (not the end probe's last pages, asked while the pass reads: far past it)
            if (
                ends
                and self.passing(body["page"])
                and body["page"] <= max(self.asked, default=0) + 16
            ):
                number = body["page"]
                if self.moved_at is None and number > 1 and number in self.asked:
                    self.api.truth(body)  # (its list, as far as read: all of it)
                    self.api.arrivals.copy_top(1, self.api.matches(body))
                    self.moved_at = len(self.asked)
                self.asked.append(number)
        reply: bytes = self.page(body)
        return reply


@pytest.mark.parametrize(("users", "size", "cost"), [(8000, 100, 20.0), (6000, 50, 50.0)])
def test_a_first_window_read_again_stops_where_the_windows_below_begin(
    sandbox: Start, monkeypatch: pytest.MonkeyPatch, users: int, size: int, cost: float
) -> None:
    # Deep pages cost: the first window ends where windows pay and they read the rest.
    # Moved, it is read again in order: down to where they begin, not to the end of
    # the list (before, its range still ran to the list's end: the second read went on
    # one page at a time through every page, and each window below then read again).
    api = sandbox(users=users, page_size=size, seed=8, skip_cost_us=cost)
    truth = api.truth(BODY)
    moved = TopMoved(api)
    monkeypatch.setattr(api, "page", moved)
    ids, fetcher = fetch(api, concurrency=8)
    assert moved.moved_at is not None and fetcher.reread and fetcher.windows > 1
    first, again = moved.asked[: moved.moved_at], moved.asked[moved.moved_at :]
    # (the page where the list ends, found before the pass, is read again once in the
    # first window's check, in either list: not the first window's pages)
    # (nor the end probe's pages asked while the pass read above the page it held: the
    # list's deep pages, and that page again)
    watch = fetcher.paging.look.watch  # type: ignore[attr-defined]
    late = {watch.handed, *watch.probe.asked[watch.held_at :]} if watch.handed else set()
    skip = {-(-users // size), *late}
    first, again = ([n for n in pages if n not in skip] for pages in (first, again))
    # (one page more for the contact put in, and the empty page after it)
    assert max(again) <= max(first) + 2 < users // size  # not down to the list's end
    assert set(truth) <= set(ids) and len(ids) == len(set(ids))


@pytest.mark.parametrize("index", [5, 30, 55])
def test_a_list_of_max_pages_read_a_second_time_is_not_refused(
    sandbox: Start, monkeypatch: pytest.MonkeyPatch, index: int
) -> None:
    # The pages a window reads again to check it (its last page twice, the page it ended
    # on) counted against the guard on requests: a 4-page list read twice at max_pages 4
    # was refused ("stopped at max_pages 10", not even the cap set).
    api = sandbox(users=3 * SIZE + 10, page_size=SIZE, seed=8)
    truth = api.truth(BODY)
    deleted = Deletions(api, last=4, first=index)
    monkeypatch.setattr(api, "page", deleted)
    ids, fetcher = fetch(api, concurrency=1, max_pages=4)
    assert deleted.gone and fetcher.reread
    assert set(truth) - set(deleted.gone) <= set(ids)
