"""The check for contacts outside every createdAt window (runner/fetch/windows/outside.py) on
replies driven by hand: what it passes on, what it counts as live data, and the count
it fails with when page numbers cannot find what the list holds more."""

from __future__ import annotations

from typing import Any

import pytest

from runner.errors import PagingError
from runner.fetch.paging import NewRecords
from runner.fetch.records import Deduplicator
from runner.fetch.redact import Redactor
from runner.fetch.windows.outside import Outside

AS_OF = "2026-11-25T00:00:00.000Z"
OLD, NEW = "2026-11-20T00:00:00.000Z", "2026-12-01T00:00:00.000Z"


def windows_read(count: int) -> NewRecords:
    """The records the windows passed on: ids 0 .. count - 1."""
    records = NewRecords(Deduplicator("_id"), Redactor(""))
    records.keep_new([{"_id": i} for i in range(count)], list(range(count)))
    return records


def run(check: Outside, pages: dict[int, list[dict[str, Any]]]) -> list[Any]:
    passed: list[Any] = []
    while (request := check.next()) is not None:
        kept = check.read(request, pages.get(request.number, []))
        passed += kept if isinstance(kept, list) else []
    return [r["_id"] for r in passed]


def dated(*ids: Any, at: str = OLD) -> list[dict[str, Any]]:
    return [{"_id": i, "createdAt": at} for i in ids]


def test_records_past_the_count_that_no_window_read_are_passed_on() -> None:
    check = Outside({}, windows_read(5), AS_OF, count=5, size=2)
    tail = {3: [*dated(4), {"_id": "x"}], 4: [{"_id": "y", "createdAt": None}]}
    assert run(check, tail) == ["x", "y"] and check.found == 2


@pytest.mark.parametrize("arrived", [1, 3])
def test_contacts_created_since_the_as_of_explain_records_pushed_down(arrived: int) -> None:
    # Arrivals on top push the range's tail past the count; the first pages show them.
    check = Outside({}, windows_read(4), AS_OF, count=4, size=2)
    news = dated(*(f"n{i}" for i in range(arrived)), at=NEW)
    listing = news + dated(0, 1, 2, 3)
    pages = {n: listing[(n - 1) * 2 : n * 2] for n in range(1, 5)}
    assert run(check, pages) == []  # nothing outside; the arrivals are not in the snapshot
    assert check.arrived == arrived


def test_contacts_listed_first_without_created_at_are_passed_on() -> None:
    check = Outside({}, windows_read(4), AS_OF, count=4, size=2)
    listing = [{"_id": "a"}, {"_id": "b", "createdAt": ""}, *dated(0, 1, 2, 3)]
    pages = {n: listing[(n - 1) * 2 : n * 2] for n in range(1, 5)}
    assert run(check, pages) == ["a", "b"]


@pytest.mark.parametrize(("hidden", "unexplained"), [(1, 1), (2, 2), (5, 3)])
def test_more_in_the_list_than_page_numbers_can_find_fails_naming_the_count(
    hidden: int, unexplained: int
) -> None:
    # The API lists `hidden` contacts without a usable createdAt in the middle of the
    # list: they push the range's tail past the count, and the first pages do not show
    # them. Those that reach the pages past the count are passed on; the rest fail the
    # run, counted.
    check = Outside({}, windows_read(6), AS_OF, count=6, size=3)
    listing = [
        *dated(0, 1, 2),
        *dated(*(f"h{i}" for i in range(hidden)), at="bad"),
        *dated(3, 4, 5),
    ]
    pages = {n: listing[(n - 1) * 3 : n * 3] for n in range(1, 6)}
    with pytest.raises(PagingError, match=rf"^{unexplained:,} contacts match the segment but") as e:
        run(check, pages)
    # both causes named, and what to do: imports during the run go away on a second run
    assert "imported with a past createdAt while the export ran" in str(e.value)
    assert "without a createdAt" in str(e.value) and "Run the export again" in str(e.value)
    assert "contacts deleted while the export ran" in str(e.value)  # a third stand-in's cause
    assert check.found == hidden - unexplained
