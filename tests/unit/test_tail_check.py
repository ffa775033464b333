"""The check's pages past the count read again (runner/fetch/windows/tail.py): a deletion
above pulls a record onto the end of a full page read before; a contact put in does not
land there as a rule, and is not refused (both found by review)."""

from __future__ import annotations

from typing import Any

import pytest

from runner.errors import PagingError
from runner.fetch.paging import Aside, NewRecords
from runner.fetch.records import Deduplicator
from runner.fetch.redact import Redactor
from runner.fetch.windows.outside import Outside, pages_read_alone
from runner.fetch.windows.tail import TailCheck

AS_OF = "2026-11-25T00:00:00.000Z"


def _read(*ids: str) -> NewRecords:
    records = NewRecords(Deduplicator("_id"), Redactor(""))
    records.keep_new([{"_id": i} for i in ids], list(ids))
    return records


def _page(*ids: str, created: str | None = None) -> list[Any]:
    return [{"_id": i, **({"createdAt": created} if created else {})} for i in ids]


def test_a_full_page_ending_with_a_contact_never_read_is_refused() -> None:
    check = TailCheck({}, _read("a", "b", "c", "d"), [3, 4], AS_OF, size=3)
    with pytest.raises(PagingError, match=r"its page 3 now holds a contact it never read"):
        check.read(check.request(3), _page("b", "c", "x"))  # a deleted above, x pulled up


@pytest.mark.parametrize(
    ("page", "size"),
    [
        (_page("b", "x", "c"), 3),  # put in among them (an import with a past createdAt)
        (_page("c", "d", "x"), 4),  # short: at the list's end (one without createdAt)
        (_page("b", "c", "x", created="2026-12-01T00:00:00.000Z"), 3),  # after the as-of
        (_page("a", "b", "c"), 3),  # as it was
    ],
)
def test_pages_that_moved_down_or_hold_a_contact_put_in_pass(page: list[Any], size: int) -> None:
    check = TailCheck({}, _read("a", "b", "c", "d"), [3, 4], AS_OF, size=size)
    assert check.read(check.request(3), page) is Aside.PAGE


@pytest.mark.parametrize(
    ("count", "tail", "expected"),
    [
        (8, [3, 4], [2, 3, 4]),  # the count ends on a page's end: the page above too
        (9, [3, 4], [3, 4]),  # page 3 holds the range's last record first
        (8, [], []),  # nothing past the count: nothing to read again
        (3, [1, 2], [1, 2]),  # a range of one page: the check began on page 1
    ],
)
def test_the_pages_read_again(count: int, tail: list[int], expected: list[int]) -> None:
    check = Outside({}, _read(), AS_OF, count=count, size=4)
    check.tail_pages = tail
    assert pages_read_alone(check) == expected
