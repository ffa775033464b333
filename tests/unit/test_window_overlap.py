"""A page of a window answered before the page above it, with contacts deleted above in
between: the page above, read later, moved up onto this page's first records, without
those of them deleted meanwhile. The order check goes on after the last record both
pages hold, and still finds a list that is not newest first. (Checked from the first
record, such a page seemed to go back in time: under load, 3 deletions a page, the run
said "the API does not list newest createdAt first" and dropped its windows.)"""

from __future__ import annotations

from typing import Any

import pytest

from runner.fetch.windows.open_window import OpenWindow
from runner.fetch.windows.plan import CREATED, OutOfOrder, Window, shared_head, text

TOP = 1_764_028_800_000  # 2025-11-25T00:00:00.000Z
SIZE = 50


def contacts(count: int) -> list[dict[str, Any]]:
    """Newest first, a minute apart: contact n is the list's n-th."""
    return [{"_id": n, CREATED: text(TOP - n * 60_000)} for n in range(1, count + 1)]


def page(listed: list[dict[str, Any]], number: int) -> list[dict[str, Any]]:
    return listed[(number - 1) * SIZE : number * SIZE]


def read_in_order(pages: list[list[dict[str, Any]]]) -> list[Any]:
    """Every page through the first window's checks, in page order; the ids passed on."""
    window = OpenWindow(Window(None, TOP), depth=8)
    out: list[Any] = []
    for records in pages:
        ids = [r["_id"] for r in records]
        window.check(records, ids)
        kept = [r for r in records if r["_id"] not in set(out)]
        window.passed(records, ids, kept)
        out += [r["_id"] for r in kept]
    return out


@pytest.mark.parametrize(
    "deleted",
    [
        {2, 3, 4, 102},  # one of the three pages share deleted before page 2 was read
        {2, 3, 101},  # page 3's first record deleted: it is not on page 2
        {10, 20, 30, 101, 102},  # its first two
        {5, 6, 7, 8, 9, 103, 104},  # two of the seven shared
    ],
)
def test_a_page_answered_before_deletions_above_it_reads_on_in_order(deleted: set[int]) -> None:
    before = contacts(200)
    early = page(before, 3)  # answered first
    after = [c for c in before if c["_id"] not in deleted]
    out = read_in_order([page(after, 1), page(after, 2), early])
    # Nothing taken for out of order; every contact of the three pages not deleted is
    # read, once (those deleted after page 3 came were read there: after the shared ones
    # page 2 holds, as page numbers pass them on).
    assert len(out) == len(set(out))
    assert {c["_id"] for c in before[:150]} - deleted <= set(out)


def test_contacts_created_since_push_a_page_down_onto_the_one_above() -> None:
    before = contacts(200)
    new = [{"_id": -n, CREATED: text(TOP + n)} for n in range(1, 4)]  # three, newest
    after = sorted(new, key=lambda c: c[CREATED], reverse=True) + before
    out = read_in_order([page(before, 1), page(before, 2), page(after, 3)])
    assert out == [c["_id"] for c in before[:147]]  # page 3 holds the list's 98th to 147th


@pytest.mark.parametrize("at", [5, 20, 49])
def test_a_page_out_of_order_after_the_shared_records_is_still_found(at: int) -> None:
    before = contacts(200)
    deleted = {2, 3, 4, 102}
    early = [dict(c) for c in page(before, 3)]
    early[at][CREATED] = text(TOP - 60_000)  # contact 1's instant: newer than those above
    after = [c for c in before if c["_id"] not in deleted]
    with pytest.raises(OutOfOrder, match="later than the record before it"):
        read_in_order([page(after, 1), page(after, 2), early])


@pytest.mark.parametrize("turn", [1, 10, 49])
def test_the_page_above_handed_round_in_another_order_is_out_of_order(turn: int) -> None:
    # An API that rotates instead of paging: page 2 holds page 1's records, turned.
    first = page(contacts(200), 1)
    with pytest.raises(OutOfOrder, match="later than the record before it"):
        read_in_order([first, first[turn:] + first[:turn]])


def test_pages_with_records_of_the_page_above_past_its_last_are_out_of_order() -> None:
    before = contacts(200)
    second = page(before, 2)
    # page 2 again, but holding two of page 1's records after its own first ones
    mixed = second[:10] + page(before, 1)[20:22] + second[12:]
    with pytest.raises(OutOfOrder, match="later than the record before it"):
        read_in_order([page(before, 1), mixed])


def test_records_of_the_page_above_mid_page_are_out_of_order_even_as_its_tail() -> None:
    # page 2's own first ten, then page 1's last two (its tail, in its order), then the
    # rest of page 2: contact 49 after contact 60 is out of order wherever it comes from
    before = contacts(200)
    second = page(before, 2)
    mixed = second[:10] + page(before, 1)[48:50] + second[12:]
    with pytest.raises(OutOfOrder, match="later than the record before it"):
        read_in_order([page(before, 1), mixed])


@pytest.mark.parametrize("where", [0, 25, 49])
def test_contacts_without_an_id_on_both_pages_match_none(where: int) -> None:
    # An id-less contact on each page (a blank email): None is no record both hold.
    before = contacts(200)
    new = [{"_id": -n, CREATED: text(TOP + n)} for n in range(1, 4)]
    after = sorted(new, key=lambda c: c[CREATED], reverse=True) + before
    first, pushed = page(before, 1), page(after, 2)  # page 2 read after three arrived
    first[where] = {**first[where], "_id": None}
    pushed[20] = {**pushed[20], "_id": None}
    window = OpenWindow(Window(None, TOP), depth=8)
    for records in (first, pushed):
        ids = [r["_id"] for r in records]
        window.check(records, ids)  # in order: no OutOfOrder
        window.passed(records, ids, records)
    assert shared_head([c["_id"] for c in first], [c["_id"] for c in pushed]) in (2, 3)
