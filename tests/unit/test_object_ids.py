"""An object at ``api.id_key`` is refused with one line wherever a page's ids are read,
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
