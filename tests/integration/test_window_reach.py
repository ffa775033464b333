"""Windows that hold far fewer pages than they were sized to ask few pages past their
end (issue 23: a held-out stand-in whose contacts came in weekly batches got 683 empty
replies in 1,155 requests, about 16 a window; `OpenWindow.reach`). Against the sandbox
over a socket, its ``weekly`` shape (one two-hour batch a week) on a list where depth
costs (10 us a skipped row), so that windows are kept."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

from runner.fetch.fetcher import PageFetcher
from runner.sandbox import Sandbox
from runner.spec.project import ApiSettings
from tests.conftest import ANCHOR, full_body

Start = Callable[..., Sandbox]
AS_OF = dt.datetime.fromisoformat(ANCHOR.replace("Z", "+00:00"))


def test_windows_of_weekly_batches_ask_few_pages_past_their_end(sandbox: Start) -> None:
    api = sandbox(users=10_000, page_size=50, latency_ms=2, skip_cost_us=10, shape="weekly")
    empty: Counter[str] = Counter()  # empty replies, by window
    serve = api.page

    def counted(body: dict[str, Any]) -> bytes:
        reply = serve(body)
        window = body.get("createdAt") or {}
        if window.get("startAt") and window.get("endsAt") and not orjson.loads(reply)["data"]:
            empty[f"{window['startAt']} to {window['endsAt']}"] += 1
        return reply

    api.page = counted  # type: ignore[method-assign]
    body = full_body(isContact=False, applicableFilters=[])
    settings = ApiSettings(base_url=api.url)
    fetcher = PageFetcher(settings, api.options.token, body, as_of=AS_OF)
    try:
        ids = [r["_id"] for page in fetcher.pages() for r in page.records]
    finally:
        fetcher.close()
    assert ids == api.truth(body)
    windows = fetcher.paging.figures.windows
    assert windows >= 5, windows  # windows were kept: the list is read as windows
    # The first windows ask to one past their depth (nothing learned yet); then as many
    # pages as the window before held, a quarter more: a page or three past the end.
    # Before: a median of 15 empty replies a window.
    assert statistics.median(empty.values()) <= 4, empty
