"""The createdAt window planner and its checks (runner.fetch.windows), on lists in memory."""

from __future__ import annotations

import datetime as dt
import doctest
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.fetch.paging import NewRecords, PageNumbers
from runner.fetch.records import Deduplicator
from runner.fetch.redact import Redactor
from runner.fetch.windows import plan as windows
from runner.fetch.windows import strategy as windowed
from runner.fetch.windows.plan import (
    Order,
    OutOfOrder,
    Range,
    Window,
    WindowPlan,
    closed_range,
    ms,
    text,
    window_pages,
)
from runner.fetch.windows.strategy import Windows

AS_OF = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


def listing(instants: list[int]) -> list[dict[str, Any]]:
    """Records newest first, ties in a fixed order, as the API lists them."""
    ordered = sorted(range(len(instants)), key=lambda i: (-instants[i], i))
    return [{"_id": i, "createdAt": text(instants[i])} for i in ordered]


def plain(body: Any, start: int) -> PageNumbers:
    """The page numbers windows hand over to (a de-duplicator of their own)."""
    return PageNumbers(body, NewRecords(Deduplicator("_id"), Redactor("")), 1, 10_000, start)


def page(records: list[dict[str, Any]], window: Window, number: int, size: int) -> list[Any]:
    low, high = window.start, window.end
    inside = [
        r
        for r in records
        if (low is None or ms(r["createdAt"]) >= low) and ms(r["createdAt"]) <= high  # type: ignore[operator]
    ]
    return inside[(number - 1) * size : number * size]


def export(
    records: list[dict[str, Any]], whole: Range, size: int, depth: int = 4
) -> tuple[list[Any], WindowPlan, list[int]]:
    """Every window paged to its first empty page, as the fetcher does; the ids read and
    the pages each window took."""
    plan = WindowPlan(whole, depth)
    ids: list[Any] = []
    depths = []
    while (probe := plan.probe()) is not None:
        first = page(records, probe, 1, size)
        oldest = Order(probe).check(1, first)
        window = plan.opened(probe, len(first), oldest)
        if window is None:
            break
        ids += [r["_id"] for r in first]
        order = Order(window, last=first[-1]["createdAt"])
        number = 2
        while rows := page(records, window, number, size):
            order.check(number, rows)
            ids += [r["_id"] for r in rows]
            number += 1
        depths.append(number - 1)
    return ids, plan, depths


def spread(count: int, seed: int = 1, days: int = 400) -> list[int]:
    rng = random.Random(seed)
    end = ms(AS_OF)
    assert end is not None
    return [end - rng.randrange(days * 86_400_000) for _ in range(count)]


def test_windows_cover_the_list_once_each_a_few_pages_deep() -> None:
    records = listing(spread(5000))
    ids, plan, depths = export(records, Range(None, ms(AS_OF) or 0), size=50, depth=4)
    assert sorted(set(ids)) == list(range(5000))
    assert len(ids) - 5000 < len(plan.windows)  # only edges are read twice
    assert sorted(depths)[len(depths) // 2] in (3, 4, 5, 6)  # most windows ~4 pages
    # newest first, each ending where the one above starts
    for upper, lower in zip(plan.windows, plan.windows[1:], strict=False):
        assert lower.end == upper.start
    assert plan.windows[0].end == ms(AS_OF) and plan.done  # "created before" the last: empty


def test_the_segments_own_range_bounds_the_windows() -> None:
    instants = spread(3000)
    records = listing(instants)
    low, high = ms("2026-03-01T00:00:00Z"), ms("2026-09-01T00:00:00Z")
    assert low is not None and high is not None
    ids, plan, _ = export(records, Range(low, high), size=40)
    assert sorted(set(ids)) == sorted(i for i, t in enumerate(instants) if low <= t <= high)
    assert plan.windows[0].end == high and plan.windows[-1].start == low


@pytest.mark.parametrize("tie", [30, 49, 50, 51, 175])
def test_contacts_sharing_an_edge_are_all_read(tie: int) -> None:
    # One contact per millisecond below the as-of: page 1 of "created before F" ends 9 ms
    # below F, so with depth 4 the first edge is 36 ms below F. Put `tie` contacts there.
    end = ms(AS_OF)
    assert end is not None
    instants = [end - i for i in range(400)] + [end - 36] * tie
    records = listing(instants)
    ids, plan, _ = export(records, Range(None, end), size=10, depth=4)
    assert plan.windows[0].start == end - 36 == plan.windows[1].end  # the tie is an edge
    assert sorted(set(ids)) == list(range(len(instants)))


def test_a_full_page_on_one_instant_is_a_window_of_its_own() -> None:
    end = ms(AS_OF)
    assert end is not None
    instants = [end] * 120 + [end - 5000 - i for i in range(60)]
    ids, plan, _ = export(listing(instants), Range(None, end), size=50)
    assert plan.windows[0] == Window(end, end)
    assert plan.windows[1].end == end - 1
    assert sorted(set(ids)) == list(range(180))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 2000), min_size=0, max_size=400),
    st.integers(1, 30),
    st.integers(1, 6),
    st.one_of(st.none(), st.integers(0, 1500)),
)
def test_any_list_any_page_size_nothing_missed(
    offsets: list[int], size: int, depth: int, low: int | None
) -> None:
    end = ms(AS_OF)
    assert end is not None
    instants = [end - o for o in offsets]
    start = None if low is None else end - 1500 + low
    ids, _, _ = export(listing(instants), Range(start, end), size=size, depth=depth)
    want = {i for i, t in enumerate(instants) if start is None or t >= start}
    assert set(ids) == want


def test_closed_range_ends_at_the_as_of_inside_the_segments_own_range() -> None:
    plain: dict[str, Any] = {"applicableFilters": []}
    assert closed_range(plain, AS_OF) == Range(None, ms(AS_OF) or 0)
    fine = dt.datetime(2026, 11, 25, 9, 30, 0, 123_999, tzinfo=dt.UTC)
    assert text(closed_range(plain, fine).end) == "2026-11-25T09:30:00.123Z"  # type: ignore[union-attr]
    ignored = {"applicableFilters": [], "createdAt": {"startAt": "2030-01-01", "endsAt": ""}}
    assert closed_range(ignored, AS_OF) == Range(None, ms(AS_OF) or 0)
    own = {
        "applicableFilters": ["createdAt"],
        "createdAt": {"startAt": "2026-01-01T00:00:00Z", "endsAt": "2026-06-01T00:00:00.000Z"},
    }
    assert closed_range(own, AS_OF) == Range(ms("2026-01-01"), ms("2026-06-01") or 0)
    later = {"applicableFilters": ["createdAt"], "createdAt": {"startAt": "2026-11-01"}}
    assert closed_range(later, AS_OF) == Range(ms("2026-11-01"), ms(AS_OF) or 0)
    future = {"applicableFilters": ["createdAt"], "createdAt": {"startAt": "2027-01-01"}}
    assert closed_range(future, AS_OF) is None
    unreadable = {"applicableFilters": ["createdAt"], "createdAt": {"startAt": "soon"}}
    assert closed_range(unreadable, AS_OF) is None


def test_window_body_applies_the_range_with_millisecond_bounds() -> None:
    base = {"applicableFilters": ["userInteracted"], "userInteracted": True, "page": 1}
    body = Window(ms("2026-11-01T00:00:00Z"), ms("2026-11-24T23:59:59.999Z") or 0).body(base, 3)
    assert body["applicableFilters"] == ["userInteracted", "createdAt"]
    assert body["createdAt"] == {
        "startAt": "2026-11-01T00:00:00.000Z",
        "endsAt": "2026-11-24T23:59:59.999Z",
    }
    assert body["page"] == 3 and base["applicableFilters"] == ["userInteracted"]
    assert Window(None, 0).body(base, 1)["createdAt"]["startAt"] == ""


def test_instants_round_trip_at_millisecond_precision() -> None:
    for value in (
        "2026-11-20T12:00:00.000Z",
        "1969-12-31T23:59:59.999Z",
        "2999-01-01T00:00:00.001Z",
    ):
        assert text(ms(value) or 0) == value
    assert ms("2026-11-20T14:00:00.0009+02:00") == ms("2026-11-20T12:00:00.000Z")
    assert ms("2026-11-20") == ms("2026-11-20T00:00:00Z")
    assert ms("") is None and ms("yesterday") is None and ms(5) is None


def records_at(*stamps: Any) -> list[dict[str, Any]]:
    return [{"_id": i, "createdAt": s} for i, s in enumerate(stamps)]


WINDOW = Window(ms("2026-11-01T00:00:00Z"), ms("2026-11-02T00:00:00Z") or 0)


def test_order_accepts_newest_first_inside_the_window_in_any_iso_form() -> None:
    order = Order(WINDOW)
    first = records_at(
        "2026-11-02T00:00:00.000Z", "2026-11-01T12:00:00+00:00", "2026-11-01T12:00:00Z"
    )
    assert order.check(1, first) == ms("2026-11-01T12:00")
    assert order.check(2, records_at("2026-11-01T12:00:00.000Z", "2026-11-01T00:00:00.000Z")) == ms(
        "2026-11-01"
    )
    assert order.check(3, []) is None


@pytest.mark.parametrize(
    ("pages", "message"),
    [
        (
            [["2026-11-01T10:00:00.000Z", "2026-11-01T11:00:00.000Z"]],
            "page 1 of createdAt 2026-11-01T00:00:00.000Z to 2026-11-02T00:00:00.000Z: "
            "record 1 was created at 2026-11-01T11:00:00.000Z, later than the record before "
            "it (2026-11-01T10:00:00.000Z): the API does not list newest createdAt first",
        ),
        (
            [["2026-11-01T10:00:00.000Z"], ["2026-11-01T10:00:00.001Z"]],
            "page 2 of createdAt 2026-11-01T00:00:00.000Z to 2026-11-02T00:00:00.000Z: "
            "record 0 was created at 2026-11-01T10:00:00.001Z, later than the record before",
        ),
        (
            [["2026-11-03T00:00:00.000Z"]],
            "record 0 was created at 2026-11-03T00:00:00.000Z, outside the window: the API "
            "does not apply the createdAt range",
        ),
        (
            [["2026-11-01T10:00:00.000Z", "2026-10-31T23:59:59.999Z"]],
            "record 1 was created at 2026-10-31T23:59:59.999Z, outside the window",
        ),
        ([["2026-11-01T10:00:00.000Z", None]], "record 1 has no createdAt"),
        ([["2026-11-01T10:00:00.000Z", "last tuesday"]], "record 1 has createdAt 'last tuesday'"),
    ],
)
def test_order_refuses_what_cannot_be_windowed(pages: list[list[Any]], message: str) -> None:
    order = Order(WINDOW)
    with pytest.raises(OutOfOrder) as caught:
        for number, stamps in enumerate(pages, 1):
            order.check(number, records_at(*stamps))
    assert message in str(caught.value)


def test_an_edge_before_the_epoch_makes_the_rest_one_window() -> None:
    # as-of in the year 3000, contacts in 2026: 8 x the gap would be thousands of years ago
    far = ms("3000-01-01T11:59:59Z")
    assert far is not None
    records = listing(spread(300))
    ids, plan, _ = export(records, Range(None, far), size=50, depth=8)
    assert plan.windows == [Window(None, far)] and sorted(ids) == list(range(300))


def test_pages_passed_on_before_a_page_out_of_order_are_never_lost() -> None:
    # Page 3 comes back before page 2, out of order; when page 2 comes, both are next in
    # turn: page 2 is passed on (its ids now seen), page 3 stops windowing. Page 2's
    # records must still be handed over: the plain pass that follows drops them as seen.
    records = listing(spread(300, seed=4))

    def serve(body: dict[str, Any]) -> list[Any]:
        bounds = body.get("createdAt") or {"startAt": "", "endsAt": AS_OF}  # or no range
        low = ms(bounds["startAt"]) if bounds["startAt"] else None
        window = Window(low, ms(bounds["endsAt"]))  # type: ignore[arg-type]
        return page(records, window, body["page"], 10)

    seen = NewRecords(Deduplicator("_id"), Redactor(""))
    paging = Windows({}, seen, Range(None, ms(AS_OF)), plain, max_pages=100, ahead=lambda: 8)
    first = paging.next()
    assert first is not None and paging.read(first, serve(first.body)) == []
    sent = []
    while (request := paging.next()) is not None:
        sent.append(request)
    second, third = (next(r for r in sent if r.number == n and r.window) for n in (2, 3))
    assert paging.read(third, serve(third.body)[::-1]) == []  # newest last: waits its turn
    assert paging.read(second, serve(second.body)) == [] and not paging.ordered
    handed = [r["_id"] for _, rows in paging.passed() for r in rows]  # page 3: out of order
    assert paging.ordered and "does not list newest createdAt first" in paging.note
    assert handed == [r["_id"] for r in records[:20]]  # pages 1 and 2, in order


def served(records: list[dict[str, Any]], size: int) -> Any:
    """A sandbox in memory: the page a request's body asks for (createdAt range, page)."""
    stamps = [ms(r["createdAt"]) or 0 for r in records]

    def serve(body: dict[str, Any]) -> list[Any]:
        bounds = body.get("createdAt") or {"startAt": "", "endsAt": AS_OF}  # or no range
        low, high = (ms(bounds[k]) for k in ("startAt", "endsAt"))
        assert high is not None
        inside = [
            r
            for r, s in zip(records, stamps, strict=True)
            if (low is None or s >= low) and s <= high
        ]
        return inside[(body["page"] - 1) * size : body["page"] * size]

    return serve


@pytest.mark.parametrize(("size", "pages"), [(50, 32), (200, 16), (1000, 8)])
def test_windows_are_deeper_in_records_for_larger_pages(size: int, pages: int) -> None:
    # One request more a window (its empty last page) against rows skipped deep in it:
    # the best depth falls with the square root of the page size (window_pages).
    now = ms(AS_OF) or 0
    # One a minute: the first window's pages, two full windows and what is left.
    records = listing([now - i * 60_000 for i in range(4 * window_pages(size) * size)])
    serve = served(records, size)
    seen = NewRecords(Deduplicator("_id"), Redactor(""))
    whole = Range(None, ms(AS_OF) or 0)
    four = lambda: 4  # noqa: E731 - requests at once, as the fetcher's depth
    paging = Windows({}, seen, whole, plain, max_pages=10_000, ahead=four, depth=four)
    handed = []
    while sent := list(iter(paging.next, None)):
        for request in sent:
            paging.read(request, serve(request.body))
        handed += [r["_id"] for _, rows in paging.passed() for r in rows]
    assert handed == [r["_id"] for r in records]
    assert window_pages(size) == pages
    # The first is the whole range read by page number, cut where it passed on its
    # depth; the last one holds what is left.
    full = paging.plan.windows[1:-1]
    per_window = {round((w.end - w.start) / 60_000) for w in full}  # type: ignore[operator]
    # Page 1 of a window spans size - 1 minutes (a contact a minute): pages x that.
    assert per_window == {pages * (size - 1)}


def test_the_fetch_modules_examples_hold() -> None:
    for module in (windows, windowed):
        failed, attempted = doctest.testmod(module)
        assert attempted and not failed, module.__name__


def test_pages_that_come_early_wait_undecoded_and_are_decoded_one_at_a_time() -> None:
    # Every window's pages answered last first: each page waits for the one above it. A
    # large reply that is not next waits as its bytes (a function that decodes it) and
    # is decoded in its turn, one page at a time as pages are handed over; a small one
    # (an empty page, which ends its window) is decoded as it comes.
    records = listing(spread(4000, seed=5))
    serve = served(records, 10)

    seen = NewRecords(Deduplicator("_id"), Redactor(""))
    paging = Windows({}, seen, Range(None, ms(AS_OF)), plain, max_pages=1000, ahead=lambda: 8)
    handed: list[Any] = []
    waiting = lazy = 0  # records decoded and not handed over yet; replies that waited
    most = 0

    def decode(rows: list[Any]) -> list[Any]:
        nonlocal waiting, most
        waiting += len(rows)
        most = max(most, waiting)
        return rows

    while sent := list(iter(paging.next, None)):
        for request in reversed(sent):
            rows = serve(request.body)
            if paging.later(request, 10_000 if rows else 60):
                assert rows  # an empty page (small) is decoded as it comes: its window ends
                lazy += 1
                paging.read(request, lambda rows=rows: decode(rows))  # type: ignore[misc]
            else:
                paging.read(request, decode(rows))
            for _, page_rows in paging.passed():
                waiting -= len(page_rows)
                handed += [r["_id"] for r in page_rows]
    assert handed == [r["_id"] for r in records]  # the list's own order, all of it
    assert lazy >= 10 and paging.note == "" and paging.windows > 2
    assert most <= 8 * 10  # the pages answered at once (8), never the pages that waited


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_list_where_depth_is_free_goes_on_by_page_number_and_loses_nothing(seed: int) -> None:
    # Every reply takes 10 ms whatever its depth: once the windows' pages reach deep
    # enough to tell, the rest of the list is read by page number over the closed
    # range, from the page where the records passed on end (a short page's records go
    # out with page numbers' next page). The list's pages, in order, nothing lost.
    # Most contacts recent (growth): the first windows are shallow, and the list goes on
    # by page number in the middle of a later one.
    rng, end = random.Random(seed), ms(AS_OF) or 0
    records = listing(
        sorted((end - int(rng.random() ** 3 * 400 * 86_400_000) for _ in range(4000)), reverse=True)
    )
    serve = served(records, 50)
    seen = NewRecords(Deduplicator("_id"), Redactor(""))
    paging = Windows({}, seen, Range(None, end), plain, max_pages=1000, ahead=lambda: 4)
    pages: list[tuple[int, list[Any]]] = []
    while sent := list(iter(paging.next, None)) if not paging.ordered else [paging.next()]:
        if sent == [None]:
            break  # page numbers: the list is complete
        for request in reversed(sent):  # the deepest first: pages wait for their turn
            assert request is not None
            windowing = not paging.ordered
            paging.timed(request, 0.01)
            kept = paging.read(request, serve(request.body))
            passed = not windowing and isinstance(kept, list) and kept  # not Aside: the probe
            pages += [(request.number, kept)] if passed else []
            pages += list(paging.passed())
            if windowing and paging.ordered:
                break  # the fetcher drops the windows' requests on their way
    assert paging.then.switched.startswith("deep pages cost no more than page 1")
    assert [r["_id"] for _, rows in pages for r in rows] == [r["_id"] for r in records]
    assert [number for number, _ in pages] == list(range(1, 81))  # 80 pages of 50
    assert all(len(rows) == 50 for _, rows in pages)
