"""Round trips a windowed read spends before, between and after its pages (issue 23):
the strategy driven as the fetcher drives it, a round at a time (every request it may
send at once, then every reply), against a list in memory. A plain loop that sends
pages 1..k at once needs ceil((pages + 1) / k) rounds: the default must stay level
with it, plus one round for its checks (the last page read again, and the pages past
the count without the range, for contacts no window can see), and ask no more than a
tenth more requests than page numbers would (one request a page, and the empty one)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from runner.fetch.paging import Aside, NewRecords, PageNumbers
from runner.fetch.records import Deduplicator
from runner.fetch.redact import Redactor
from runner.fetch.windows.plan import Range, text
from runner.fetch.windows.strategy import Windows
from tests.unit.test_depth_cost import END, listing, serve

Serve = Callable[[dict[str, Any]], list[Any]]


def windows(ahead: int) -> Windows:
    records = NewRecords(Deduplicator("_id"), Redactor(""))

    def plain(body: Any, start: int) -> PageNumbers:
        return PageNumbers(body, records, ahead, 10_000, start)

    return Windows({}, records, Range(None, END), plain, max_pages=10_000, ahead=lambda: ahead)


def rounds(
    paging: Windows,
    answer: Serve,
    ahead: int,
    seconds: Callable[[int], float] = lambda page: 0.02,
    log: list[list[Any]] | None = None,
) -> tuple[int, int, list[Any]]:
    """Rounds, requests and the records passed on: each round sends what the strategy
    gives (at most ``ahead``), then files every reply (in reverse, the deepest first),
    each answered in ``seconds(page)``. Once it reads in order, a page that ends a run
    drops the rest of its round, as the fetcher does. ``log``: each round's requests."""
    count, sent, handed = 0, 0, []
    while True:
        batch = []
        while len(batch) < (paging.ahead if paging.ordered else ahead):
            if (request := paging.next()) is None:
                break
            batch.append(request)
        if not batch:
            if not paging.ordered:
                handed += [r for _, rows in paging.passed() for r in rows]
            return count, sent, handed
        count, sent = count + 1, sent + len(batch)
        if log is not None:
            log.append(batch)
        ordered = paging.ordered
        for request in batch if ordered else reversed(batch):
            kept = paging.read(request, answer(dict(request.body)))
            if ordered and kept is None:
                break
            handed += kept if isinstance(kept, list) else []
            if not ordered:
                paging.timed(request, seconds(request.number))
                handed += [r for _, rows in paging.passed() for r in rows]
            if kept is Aside.PAGE:
                continue


@pytest.mark.parametrize("ahead", [4, 8])
@pytest.mark.parametrize("count", [40, 50, 140, 150, 480, 500])
def test_a_short_list_costs_a_plain_loops_round_trips_and_one_for_its_checks(
    count: int, ahead: int
) -> None:
    records = listing(count, seed=count)
    paging = windows(ahead)
    trips, sent, handed = rounds(paging, lambda body: serve(records, body, 50), ahead)
    assert [r["_id"] for r in handed] == [r["_id"] for r in records]
    pages = math.ceil(count / 50)
    loop = math.ceil((pages + 1) / ahead)  # pages 1..k at once, until an empty one
    assert trips <= loop + 1  # (before: page 1 alone, then a round for each check: +3 or +4)
    page_numbers = pages + 1  # each page once and the empty one, at the least
    assert sent <= page_numbers + ahead + 3  # asked past the end in a round, and the checks


def test_the_first_round_asks_as_many_pages_as_allowed_of_the_whole_range() -> None:
    paging = windows(6)
    first = [paging.next() for _ in range(6)]
    assert [r.number for r in first if r] == [1, 2, 3, 4, 5, 6]
    whole = {"startAt": "", "endsAt": text(END)}
    assert all(r and r.body["createdAt"] == whole for r in first)


@pytest.mark.parametrize("undated", [1, 9, 10, 49, 50, 120])
def test_contacts_outside_every_window_cost_the_checks_round_then_a_page_at_a_time(
    undated: int,
) -> None:
    # 140 dated contacts and some without createdAt, listed last. The check's first
    # round (the page where the 140 end, 40 records in, and the page after) goes out
    # with the last page read again; where the first is short, the list ended there.
    # Past a full one, the rest one page at a time (read in parallel, a contact created
    # meanwhile could push a record onto a page read before), and where two or more of
    # those held records, one round more: they are read again, as a contact deleted
    # meanwhile would have hidden one at a boundary (runner/fetch/windows/tail.py).
    records = listing(140, seed=3) + [{"_id": f"u{i}"} for i in range(undated)]

    def answer(body: dict[str, Any]) -> list[Any]:
        if "createdAt" in body:
            return serve(records[:140], body, 50)
        return records[(body["page"] - 1) * 50 : body["page"] * 50]

    paging = windows(8)
    trips, _, handed = rounds(paging, answer, 8)
    assert [r["_id"] for r in handed] == [r["_id"] for r in records]
    last = math.ceil(len(records) / 50)  # the last page with records
    after = 0 if last == 3 and len(records) % 50 else last - 3 + 1  # pages 4.. and the empty
    assert trips == 2 + after + (last > 3)


def test_a_window_deeper_than_planned_is_cut_as_its_page_past_its_depth_comes() -> None:
    # Depth costs (windows pay); the list is ten times denser below its first 4,000
    # contacts, so a window sized (by its page 1) in the sparse part that reaches into
    # the dense one is deeper than planned. One reply in seven comes a round late (a slow
    # page): a window past its depth is cut as its page past the depth comes, so the
    # windows below it go out while a slow page above it is still on its way, not once
    # every page above is passed on.
    sparse = [END - i * 600_000 for i in range(4000)]
    dense = [sparse[-1] - 1 - i * 60_000 for i in range(4000)]
    records = [{"_id": i, "createdAt": text(s)} for i, s in enumerate(sparse + dense)]
    paging = windows(8)
    late: list[Any] = []  # (request, reply) answered a round after it was sent
    sent_count, handed = 0, []
    cut_below_while_late = False
    while True:
        batch = []
        while not paging.ordered and len(batch) < 8 and (request := paging.next()) is not None:
            batch.append(request)
        if paging.ordered:
            break
        if not batch and not late:
            handed += [r for _, rows in paging.passed() for r in rows]
            break
        sent_count += len(batch)
        now, late = late, []
        for request in batch:
            reply = serve(records, dict(request.body), 50)
            (late if request.number % 7 == 3 else now).append((request, reply))
        for request, reply in now:
            before = paging.windows - len(paging.plan.windows)  # windows opened by cuts
            paging.timed(request, 0.02 + 0.0005 * request.number)
            paging.read(request, reply)
            handed += [r for _, rows in paging.passed() for r in rows]
            if paging.windows - len(paging.plan.windows) > before:  # cut: a page above late?
                above = [r for r, _ in late if r.window is request.window]
                cut_below_while_late = cut_below_while_late or bool(above)
    assert [r["_id"] for r in handed] == [r["_id"] for r in records]
    assert cut_below_while_late
