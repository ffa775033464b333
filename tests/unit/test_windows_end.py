"""The first window finds where the list ends before it reads (``Windows(end=...)``, the
fetcher's always), as page numbers do, and reads that page again once it is passed on:
a contact deleted above the page being read moves the pages below it up and hides the
record at the next boundary, and that page, moved up, is the one sign of it. In memory,
one deletion at each moment of a read: before, the windows lost a contact at some of
them (a blind fuzz found it: 24 of 34 contacts lost with windows were the first
window's); with the probe, none. Over a socket: tests/integration/test_deletions.py."""

from __future__ import annotations

from typing import Any

import pytest

from runner.fetch.end import EndWatch
from runner.fetch.paging import NewRecords
from runner.fetch.records import Deduplicator
from runner.fetch.redact import Redactor
from runner.fetch.windows.plan import Range
from runner.fetch.windows.strategy import Windows
from tests.unit.test_depth_cost import END, listing, plain, serve


def read(records: list[dict[str, Any]], ahead: int, end: bool, delete_at: int) -> list[Any]:
    """The list read ``ahead`` requests at a time (answered in order), with the record
    at a quarter of the list deleted just before request ``delete_at`` is served: the
    ids passed on."""
    paging = Windows({}, NewRecords(Deduplicator("_id"), Redactor("")), Range(None, END),
                     plain, max_pages=10_000, ahead=lambda: ahead,
                     end=EndWatch(1, 10_000, lambda: ahead) if end else None)  # fmt: skip
    served, handed = 0, []
    while batch := [r for _ in range(ahead) if (r := paging.next()) is not None]:
        for request in batch:
            served += 1
            if served == delete_at:
                del records[len(records) // 4]
            paging.timed(request, 0.01)  # (depth costs nothing: the first window reads on)
            handed += paging.read(request, serve(records, request.body, 50)) or []
            handed += [r for _, rows in paging.passed() for r in rows]
    return [r["_id"] for r in handed]


@pytest.mark.parametrize("ahead", [1, 4])
def test_one_contact_deleted_at_any_moment_hides_no_survivor(ahead: int) -> None:
    lost = {True: [], False: []}
    for end in (True, False):
        for moment in range(2, 60, 3):
            records = listing(1200, seed=moment)  # 24 pages of 50
            before = [r["_id"] for r in records]
            ids = read(records, ahead, end, moment)
            deleted = set(before) - {r["_id"] for r in records}
            missing = set(before) - deleted - set(ids)
            assert len(ids) == len(set(ids))
            if missing:
                lost[end].append(moment)
    assert lost[True] == []  # with the end probe: none
    assert lost[False], "the deletions must be where the windows' first read loses one"


def test_no_page_of_the_pass_goes_out_before_the_end_is_found() -> None:
    records = listing(1200, seed=1)
    paging = Windows({}, NewRecords(Deduplicator("_id"), Redactor("")), Range(None, END),
                     plain, max_pages=10_000, ahead=lambda: 8,
                     end=EndWatch(1, 10_000, lambda: 8))  # fmt: skip
    order = []
    while batch := [r for _ in range(8) if (r := paging.next()) is not None]:
        for request in batch:
            order.append(request.end)
            paging.timed(request, 0.01)
            paging.read(request, serve(records, request.body, 50))
            list(paging.passed())
    first_pass = order.index(False)
    assert first_pass > 0 and not any(order[first_pass : first_pass + 20])
    assert all(order[:first_pass])  # the probe's rounds, then the pass
