"""The windows' depth decision on a loaded machine (issue 23), on a fake clock: the
strategy read a round at a time, each reply's time made from its depth, the round it
went out in (a burst of a CPU-starved machine) and the requests on the wire with it (a
server that queues). The first window's pages are read in order, so its deep pages are
also its latest, and at ``auto`` the ones sent with more on the wire: neither may read
as depth's cost. Page 1 asked again beside the deep pages meets the same burst and the
same queue, and tells them apart."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from runner.fetch.paging import NewRecords
from runner.fetch.records import Deduplicator
from runner.fetch.redact import Redactor
from runner.fetch.windows.depth_cost import BESIDE, Choice
from runner.fetch.windows.plan import Range, text
from runner.fetch.windows.strategy import WindowRequest, Windows
from tests.unit.test_depth_cost import END, listing, plain, serve

# A reply's seconds from its request, the round it went out in (0, 1, ...) and the
# requests that round sent (on the wire together).
Reply = Callable[[WindowRequest, int, int], float]
FREE = "deep pages cost no more than page 1"


def read(records: list[dict[str, Any]], reply: Reply, ahead: Callable[[int], int]) -> Windows:
    """The list read a round at a time: ``ahead(round)`` requests go out together and
    are answered, deepest first; every record passed on once, in order."""
    rounds = iter(range(1_000_000))
    paging = Windows({}, NewRecords(Deduplicator("_id"), Redactor("")), Range(None, END),
                     plain, max_pages=10_000, ahead=lambda: ahead(at))  # fmt: skip
    handed: list[Any] = []
    while True:
        at = next(rounds)
        batch = [r for _ in range(ahead(at)) if (r := paging.next()) is not None]
        if not batch:
            break
        for request in reversed(batch):
            if not paging.ordered:
                paging.timed(request, reply(request, at, len(batch)))
            kept = paging.read(request, serve(records, request.body, 50))
            handed += kept or []
            handed += [r for _, rows in paging.passed() for r in rows]
    assert [r["_id"] for r in handed] == [r["_id"] for r in records]
    return paging


def depth(request: WindowRequest) -> int:
    """Pages skipped: page 1 asked again beside deep pages skips none."""
    return 0 if request.beside else request.number - 1


def burst(first: int, last: int, pages: int) -> Callable[[int], bool]:
    """Whether round ``at`` is in a burst from the round that asks page ``first`` of the
    first window to the one that asks page ``last`` (``pages`` asked a round)."""
    return lambda at: (first - 1) // pages <= at <= (last - 1) // pages


@pytest.mark.parametrize(("base", "stall"), [(0.002, 0.030), (0.020, 0.030), (0.002, 0.100)])
@pytest.mark.parametrize(("first", "last"), [(22, 60), (20, 45), (15, 400)])
@pytest.mark.parametrize("count", [6000, 3400])
def test_a_burst_over_the_deep_pages_of_a_free_list_is_not_depth(
    base: float, stall: float, first: int, last: int, count: int
) -> None:
    # Every reply the same on the server; a stretch of rounds (the machine starved)
    # over the deep third of the first window (and past it, or to the end of the
    # list) adds ``stall`` to every reply that went out in it, page 1's too. (3,400:
    # the list ends, at page 68, while page 1 is asked beside the deep pages of the
    # second decision: the first one's answer holds.)
    busy = burst(first, last, 4)
    records = listing(count, seed=first)
    paging = read(records, lambda request, at, _: base + stall * busy(at), lambda _: 4)
    assert paging.then.switched.startswith(FREE) and paging.windows == 1


@pytest.mark.parametrize("queue", [0.0005, 0.001, 0.003])
@pytest.mark.parametrize("start", [1, 2])
def test_slow_start_queueing_on_a_free_list_is_not_depth(queue: float, start: int) -> None:
    # auto's slow start: 2, 4, 8, 16 requests a round, so the deep pages go out with
    # more on the wire than the shallow ones; the server takes ``queue`` more for each
    # other request on the wire, at 2 ms a reply.
    records = listing(6000, seed=start)
    paging = read(
        records,
        lambda request, at, wire: 0.002 + queue * wire,
        lambda at: min(16, start * 2**at),
    )
    assert paging.then.switched.startswith(FREE) and paging.windows == 1


@pytest.mark.parametrize("cost", [0.0005, 0.0025])  # 10 and 50 us a skipped row of 50
@pytest.mark.parametrize(("first", "last"), [(22, 60), (15, 400)])
def test_where_depth_costs_windows_are_kept_through_a_burst(
    cost: float, first: int, last: int
) -> None:
    busy = burst(first, last, 4)
    records = listing(6000, seed=7)
    paging = read(
        records,
        lambda request, at, _: 0.002 + cost * depth(request) + 0.030 * busy(at),
        lambda _: 4,
    )
    assert paging.then.switched == "" and paging.windows > 2


@pytest.mark.parametrize("cost", [0.0005, 0.0025])
def test_where_depth_costs_windows_are_kept_through_slow_start(cost: float) -> None:
    records = listing(6000, seed=8)
    paging = read(
        records,
        lambda request, at, wire: 0.002 + 0.001 * wire + cost * depth(request),
        lambda at: min(16, 2 * 2**at),
    )
    assert paging.then.switched == "" and paging.windows > 2


def test_page_1_is_asked_beside_deep_pages_only_where_they_look_dear() -> None:
    # A free list on a quiet machine asks nothing more; where the deep pages look dear,
    # page 1 again BESIDE times beside them, and the decision waits for them all.
    def noted(cost: float) -> tuple[Windows, list[WindowRequest]]:
        asked: list[WindowRequest] = []

        def reply(request: WindowRequest, at: int, _: int) -> float:
            asked.append(request)
            return 0.002 + cost * depth(request)

        return read(listing(6000, seed=1), reply, lambda _: 4), asked

    paging, asked = noted(0.0)
    assert paging.windows == 1 and len(asked) > 120 and not [r for r in asked if r.beside]
    paging, asked = noted(0.0005)
    assert paging.windows > 2  # 0.5 ms a page deeper: windows
    beside = [r for r in asked if r.beside]
    assert len(beside) == BESIDE and all(r.number == 1 for r in beside)
    labels = sorted(r.label for r in beside)
    assert labels == [f"page 1 again (timing {n})" for n in range(1, BESIDE + 1)]
    assert {r.body["createdAt"]["endsAt"] for r in beside} == {text(END)}


def test_a_first_window_read_again_decides_without_waiting_for_page_1_beside() -> None:
    # The deep pages look dear; page 1 is wanted beside the next 8 of them. One goes and
    # comes back; then the first window is read again from page 1 (a reply cut short) and
    # asks no deep page: the decision must not wait for the other 7 for ever (the list
    # was read by page number to its end, one page at a time, windows never used).
    choice = Choice()
    for page in range(1, 34):
        choice.timed(page, 0.020 + 0.0005 * page)  # 10 us a skipped row of 50
    assert choice.due(33, 32)
    assert choice.decide(32) is None and choice.asking  # first: page 1 beside them
    sent = choice.beside(34)
    choice.timed(1, 0.020, sent)
    choice.filed(sent)
    assert choice.asking and not choice.due(10_000, 32)  # 7 more wanted
    choice.no_more_beside()
    assert not choice.asking and choice.due(10_000, 32)
    assert choice.decide(32) is None and not choice.asking  # windows pay: decided
    assert not choice.deciding
