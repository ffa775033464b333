"""A page's ids and the checks after a read by page number. An object at ``api.id_key``
is refused with one line wherever a page's ids are read,
the checks at the end of a read by page number too (a reviewer's case: the last page
read again, a contact with an object id added meanwhile: a TypeError before)."""

from __future__ import annotations

import pytest

from runner.errors import PagingError
from runner.fetch.paging import NewRecords, PageNumbers, PageRequest
from runner.fetch.records import Deduplicator
from runner.fetch.redact import Redactor


def test_the_last_page_read_again_refuses_an_object_id() -> None:
    paging = PageNumbers({"q": 1}, NewRecords(Deduplicator("phone"), Redactor("")), 1, 5)
    for records in ([{"phone": "a"}], []):  # the probe: the list ends on page 1
        request = paging.next()
        assert request is not None
        paging.read(request, records)
    first = paging.next()
    assert first is not None and paging.read(first, [{"phone": "a"}]) == [{"phone": "a"}]
    assert paging.read(PageRequest(2, {}), []) is None  # the pass ends: page 1 again
    with pytest.raises(PagingError, match=r"page 1: record 1 has an object at 'phone'"):
        paging.read(PageRequest(1, {}), [{"phone": {"number": "1"}}, {"phone": "a"}])


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (["vip", "gold"], "an array"),  # a list of tags
        ({}, "an object"),  # an empty object: nothing inside to name
        ([{"number": "1"}], "an array"),  # an object inside an array
    ],
)
def test_any_object_or_array_at_the_id_key_is_refused_by_name(value: object, kind: str) -> None:
    records = NewRecords(Deduplicator("k"), Redactor(""))
    with pytest.raises(PagingError, match=rf"page 3: record 2 has {kind} at 'k'") as error:
        records.ids(3, [{"k": "a"}, {"k": value}])
    assert "such as" not in str(error.value)  # nothing inside to suggest, no value quoted


@pytest.mark.parametrize("value", ["a", 7, 7.5, True, 2**70])
def test_text_and_numbers_at_the_id_key_are_ids(value: object) -> None:
    records = NewRecords(Deduplicator("k"), Redactor(""))
    assert records.ids(1, [{"k": value}, {"k": "b"}]) == [value, "b"]


@pytest.mark.parametrize("pages", [1, 3])
def test_the_checks_after_a_parallel_pass_ask_each_page_once(pages: int) -> None:
    # The last page and page 1 read again go out together; on a one-page list they are
    # the same page: one request does both checks (the three-page list asks both).
    paging = PageNumbers({"q": 1}, NewRecords(Deduplicator("phone"), Redactor("")), 4, 50)
    listing = {n: [{"phone": f"{n}-{i}"} for i in range(3)] for n in range(1, pages + 1)}
    while paging.probing:
        request = paging.next()
        assert request is not None
        paging.read(request, listing.get(request.number, []))
    asked = []
    while (request := paging.next()) is not None:  # the pass, all at once
        asked.append(request)
    for request in asked:
        paging.read(request, listing.get(request.number, []))
    checks = []
    while (request := paging.next()) is not None:
        checks.append(request.number)
    assert sorted(checks) == sorted({pages, 1})
    for number in checks:
        paging.read(PageRequest(number, {}), listing[number])
    assert paging.done and not paging.reread
