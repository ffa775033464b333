"""The incremental run's scan for contacts without createdAt (runner/fetch/undated.py)
finds where the dated list ends in rounds of pages at once when the run sends several
(driven as the fetcher's in-order pass drives it), one page at a time otherwise, and
finds the same contacts either way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from runner.errors import PagingError
from runner.fetch.paging import NewRecords, PageRequest
from runner.fetch.records import Deduplicator
from runner.fetch.redact import Redactor
from runner.fetch.undated import Undated

AS_OF = "2026-11-25T00:00:00.000Z"
SIZE = 10
DATED = [{"_id": f"d{i}", "createdAt": "2026-11-01T00:00:00.000Z"} for i in range(1195)]
WHOLE = DATED + [{"_id": f"u{i}"} for i in range(23)]  # listed last, as MongoDB sorts them


def scan_of(width: Callable[[], int]) -> Undated:
    records = NewRecords(Deduplicator("_id"), Redactor(""))
    return Undated({"q": "closed"}, {"q": "whole"}, records, AS_OF, include=True, width=width)


def page(request: PageRequest, last: int = 1 << 30) -> list[Any]:
    """The closed list's page, or the whole list's (its page ``last`` for any past it)."""
    closed = request.body["q"] == "closed"
    number = request.number if closed else min(request.number, last)
    return (DATED if closed else WHOLE)[(number - 1) * SIZE : number * SIZE]


def drive(width: int, scan: Undated | None = None) -> tuple[list[Any], int, int]:
    """The contacts passed on, the round trips and the requests."""
    scan = scan or scan_of(lambda: width)
    passed: list[Any] = []
    trips = asked = 0
    while True:
        wire = []
        while len(wire) < scan.ahead and (request := scan.next()) is not None:
            wire.append(request)
        if not wire:
            return [r["_id"] for r in passed], trips, asked
        trips, asked = trips + 1, asked + len(wire)
        for request in wire:
            passed += scan.read(request, page(request)) or []


@pytest.mark.parametrize("width", [4, 8, 16])
def test_the_end_of_the_dated_list_is_found_in_rounds(width: int) -> None:
    one_ids, one_trips, one_asked = drive(1)
    ids, trips, asked = drive(width)
    assert ids == one_ids == [r["_id"] for r in WHOLE[1195:]]
    # 120 pages: 14 requests one at a time; the tail (pages 120-123) and page 1 after.
    assert one_trips == one_asked and trips <= one_trips - 8, (trips, one_trips)


def test_a_last_page_repeated_past_the_end_is_refused() -> None:
    # The whole list's last page sent again for every page past it: read one page at a
    # time to its first empty page, the scan never met one.
    scan = scan_of(lambda: 8)
    last = -(-len(WHOLE) // SIZE)
    with pytest.raises(PagingError, match="returned exactly the records of page"):
        for _ in range(5000):
            request = scan.next()
            assert request is not None, "the scan ended"
            scan.read(request, page(request, last))


def test_the_probe_takes_as_many_at_once_as_the_run_reached_by_then() -> None:
    # The scan is made before the run's first request, at auto's start (2 at once); by
    # the time it reads, the run reached 8 (found by a second review: it kept 2).
    reached = [2]
    scan = scan_of(lambda: reached[0])
    reached[0] = 8
    assert drive(8, scan)[1] == drive(8)[1] < drive(2)[1]
