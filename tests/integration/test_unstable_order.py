"""An API whose sort has no tiebreak, against the sandbox over a real socket: contacts
that share a createdAt come in another order on every request (found by a blind
stand-in, which lost 110 to 370 of 2,000 contacts read by page number, exit 0). Contacts
put in or deleted only shift a list, so what repeats on a page is its first records; a
record read before after one not read before is the other order. The run must refuse,
not publish a file short."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from runner.errors import PagingError
from runner.fetch import PageFetcher
from runner.sandbox import Sandbox
from runner.spec.project import ApiSettings
from tests.conftest import full_body
from tests.integration.test_window_moves import AS_OF, FAST

Start = Callable[..., Sandbox]
BODY = full_body(isContact=False, applicableFilters=[])


class TiesShuffled:
    """Before each page is served, every run of contacts sharing one createdAt in the
    list it reads is shuffled (``seed``): the order among ties differs per request."""

    def __init__(self, api: Sandbox, seed: int) -> None:
        self.api, self.page = api, api.page
        self.lock, self.rng = threading.Lock(), random.Random(seed)
        self.groups: dict[str, list[range]] = {}  # a list's body: its runs of ties

    def __call__(self, body: dict[str, Any]) -> bytes:
        key = orjson.dumps({k: v for k, v in body.items() if k != "page"}).decode()
        with self.lock:
            found = self.api.matches(body)
            if key not in self.groups:
                self.api.truth(body)  # (the list filled: all of it)
                self.groups[key] = ties(found.blobs)
            with found.lock:
                for run in self.groups[key]:
                    order = self.rng.sample(list(run), len(run))
                    found.blobs[run.start : run.stop] = [found.blobs[i] for i in order]
                    found.ids[run.start : run.stop] = [found.ids[i] for i in order]
        reply: bytes = self.page(body)
        return reply


def ties(blobs: list[bytes]) -> list[range]:
    """The runs of two records or more that share a createdAt, by position."""
    stamps = [orjson.loads(blob).get("createdAt") for blob in blobs]
    runs, start = [], 0
    for i in range(1, len(stamps) + 1):
        if i == len(stamps) or stamps[i] != stamps[start]:
            if i - start > 1:
                runs.append(range(start, i))
            start = i
    return runs


@pytest.mark.parametrize(("concurrency", "seed"), [(1, 1), (4, 2), (8, 3)])
def test_ties_in_another_order_on_every_request_are_refused_by_page_numbers(
    sandbox: Start, monkeypatch: pytest.MonkeyPatch, concurrency: int, seed: int
) -> None:
    api = sandbox(users=3000, page_size=50, seed=seed, shape="imports")
    truth = api.truth(BODY)
    shuffled = TiesShuffled(api, seed)
    assert sum(len(run) for run in ties(api.matches(BODY).blobs)) > 1000  # ties to shuffle
    monkeypatch.setattr(api, "page", shuffled)
    config = ApiSettings(
        base_url=api.url, retry=FAST, max_pages=1000, concurrency=concurrency, windows=False
    )
    fetcher = PageFetcher(config, api.options.token, BODY, as_of=AS_OF)
    with pytest.raises(PagingError, match="does not list its records in the same order"):
        try:
            ids = [record["_id"] for page in fetcher.pages() for record in page.records]
        finally:
            fetcher.close()
        assert set(truth) <= set(ids)  # (what the run would have published: short)
