"""Page numbers find where the list ends before their pass (runner.fetch.end) a round of
pages at a time, as many as may be on the wire: against the sandbox, the requests are
counted in *waves* (a wave starts when a request goes out with none other on the wire),
not timed."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runner.fetch.fetcher import PageFetcher
from runner.fetch.transport import Response, UrllibTransport
from runner.sandbox import Sandbox
from runner.spec.project import ApiSettings
from tests.conftest import full_body

Start = Callable[..., Sandbox]


class Recording:
    """A transport that notes, for each request, its label and the requests on the wire
    when it went out (itself included)."""

    def __init__(self, inner: UrllibTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, int]] = []
        self._on_wire = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def post(self, label: str, body: bytes, deadline: float) -> Iterator[Response]:
        with self._lock:
            self._on_wire += 1
            self.sent.append((label, self._on_wire))
        try:
            with self.inner.post(label, body, deadline) as response:
                yield response
        finally:
            with self._lock:
                self._on_wire -= 1

    def close(self) -> None:
        self.inner.close()


def read(api: Sandbox, concurrency: int, windows: bool) -> tuple[list[Any], Recording]:
    settings = ApiSettings(base_url=api.url, concurrency=concurrency, windows=windows)
    transport = Recording(UrllibTransport(settings, api.headers, concurrency + 1))
    body = full_body(isContact=False, applicableFilters=[])
    fetcher = PageFetcher(settings, api.options.token, body, transport=transport)
    try:
        ids = [r["_id"] for page in fetcher.pages() for r in page.records]
    finally:
        fetcher.close()
    return ids, transport


def waves_before_the_pass(sent: list[tuple[str, int]], first_of_pass: str) -> int:
    """Waves of requests before the pass's first page (asked once the end is found)."""
    labels = [label for label, _ in sent]
    start = labels.index(first_of_pass, 1 if first_of_pass == "page 1" else 0)
    return sum(1 for _, on_wire in sent[:start] if on_wire == 1)


@pytest.mark.parametrize("users", [1_900, 6_000, 16_000])
def test_the_end_of_the_list_is_found_in_a_few_waves_at_concurrency_8(
    sandbox: Start, users: int
) -> None:
    # 38, 120 and 320 pages of 50: one page at a time, 12, 14 and 18 waves before the
    # pass; 8 at once, 3 or 4. 100 ms a reply: a wave's requests all go out before the
    # first of them is answered.
    api = sandbox(users=users, page_size=50, latency_ms=100)
    ids, transport = read(api, 8, windows=False)
    assert len(ids) == len(set(ids)) == users
    waves = waves_before_the_pass(transport.sent, "page 1")
    assert 2 <= waves <= 5, transport.sent[:40]
    probe = transport.sent[: [label for label, _ in transport.sent].index("page 1", 1)]
    assert len(probe) <= 8 * waves and max(n for _, n in probe) >= 6


def test_one_request_at_a_time_still_finds_it_one_page_at_a_time(sandbox: Start) -> None:
    api = sandbox(users=6_000, page_size=50, latency_ms=5)
    ids, transport = read(api, 1, windows=False)
    assert len(set(ids)) == 6_000
    assert all(on_wire == 1 for _, on_wire in transport.sent)
    labels = [label for label, _ in transport.sent]
    assert labels[:15] == [
        f"page {n}" for n in (1, 2, 4, 8, 16, 32, 64, 128, 96, 112, 120, 124, 122, 121, 1)
    ]


@pytest.mark.parametrize("users", [1_900, 6_000, 16_000])
def test_the_pass_asks_no_page_past_the_one_after_the_end(sandbox: Start, users: int) -> None:
    # Page numbers send `concurrency` pages ahead; past the end they are requests for
    # nothing that take slots from the pages that count. The probe knows the end.
    api = sandbox(users=users, page_size=50, latency_ms=20)
    ids, transport = read(api, 8, windows=False)
    assert len(set(ids)) == users
    labels = [label for label, _ in transport.sent]
    end = -(-users // 50)
    passed = labels[labels.index("page 1", 1) :]
    assert max(int(label.split()[1]) for label in passed) == end + 1
    assert len(passed) == end + 1 + 2  # and the last page and page 1 again, after it


def test_a_list_that_grows_while_it_is_read_is_read_past_the_end_found(sandbox: Start) -> None:
    # Contacts put in on top while the pass reads: the page after the probed end has
    # records, and the pass goes on to the first empty page; nothing is lost.
    api = sandbox(users=3_000, page_size=50, latency_ms=5, churn=3, churn_at="now")
    before = set(api.truth(full_body(isContact=False, applicableFilters=[])))
    ids, transport = read(api, 8, windows=False)
    assert before <= set(ids) and len(ids) == len(set(ids))
    labels = [label for label, _ in transport.sent]
    assert max(int(label.split()[1]) for label in labels[labels.index("page 1", 1) :]) > 61
