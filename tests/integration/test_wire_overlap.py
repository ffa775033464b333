"""While the export holds a page (decoding it, writing its rows), the next request is on
the wire, whatever auto concurrency settled at. At zero latency the client itself is the
slow side: auto can settle at one request at a time, and windows then read one page at
a time with nothing on the wire between (the blind stand-in's 40,000-contact list: the
default export 0.70 of `api.windows: false`); page numbers kept their next requests
waiting for the slot."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runner.fetch import PageFetcher
from runner.fetch.client import transport_for
from runner.fetch.concurrency import Learned
from runner.fetch.transport import Response, Transport
from runner.sandbox import Sandbox
from runner.spec.project import ApiSettings
from tests.conftest import full_body
from tests.integration.fetching import EVERYONE, FAST

Start = Callable[..., Sandbox]
AS_OF = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


class Watched:
    """A transport that counts the requests started and those on the wire."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.started = 0
        self.on_wire = 0
        self.most = 0  # the most on the wire at once
        self.changed = threading.Condition()

    @contextlib.contextmanager
    def post(self, label: str, body: bytes, deadline: float) -> Iterator[Response]:
        with self.changed:
            self.started += 1
            self.on_wire += 1
            self.most = max(self.most, self.on_wire)
            self.changed.notify_all()
        try:
            with self.inner.post(label, body, deadline) as response:
                yield response
        finally:
            with self.changed:
                self.on_wire -= 1
                self.changed.notify_all()

    def sent_since(self, started: int, timeout: float) -> bool:
        """Whether a request is on the wire, or one started after ``started`` were
        (waits up to ``timeout`` seconds for it)."""
        with self.changed:
            return self.changed.wait_for(
                lambda: self.on_wire > 0 or self.started > started, timeout
            )

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize(
    ("shape", "windows"),
    [
        ({}, True),  # depth is free: the first window reads on by page number
        ({"skip_cost_us": 50.0}, True),  # page 32 costs 80 ms more than page 1: windows
        ({"shape": "imports"}, True),  # thousands of contacts on one instant
        ({"shape": "growth"}, True),  # most contacts recent
        ({}, False),  # page numbers asked for
    ],
)
def test_the_next_request_is_on_the_wire_while_a_page_is_held_at_one_at_once(
    sandbox: Start, shape: dict[str, Any], windows: bool
) -> None:
    # 50 ms a reply: the next request, sent as the slot frees, is still on the wire when
    # the page is handed over (unless this thread was kept from running for 100 ms).
    api = sandbox(users=2500, page_size=50, latency_ms=50, **shape)
    body = full_body(**EVERYONE)
    config = ApiSettings(base_url=api.url, retry=FAST, windows=windows, max_pages=10_000)
    watched = Watched(transport_for(config, api.headers, config.max_concurrency + 1))
    # Auto, from a limit of 1 learned earlier (its ceiling, 2, is tried again only after
    # 32 rounds and 20 s): one request at a time on the wire, about all this run.
    fetcher = PageFetcher(
        config, api.options.token, body, as_of=AS_OF, transport=watched, learned=Learned(1, 2)
    )
    pages, idle = 0, []
    try:
        for page in fetcher.pages():
            pages += 1
            # Near the end there may be nothing left to ask: the first 45 of 50 pages.
            if pages <= 45 and not watched.sent_since(watched.started, timeout=1):
                idle.append(page.number)  # nothing went out while this page was held
            # One at a time, as auto settled (its ceiling, 2, is tried once 20 s went by).
            assert watched.most <= 2 and len(idle) < 4
    finally:
        fetcher.close()
    # Before: every page (one request at a time in this thread, sent once the page before
    # was written). Two allowed for a machine that stalls this thread for 100 ms.
    assert len(idle) <= 2, f"nothing on the wire while pages {idle} were held"
    assert pages == 50 and fetcher.settled == 1
    if shape.get("skip_cost_us"):
        assert fetcher.windows > 1  # read by windows, not by page number
