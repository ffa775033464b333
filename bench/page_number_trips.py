"""Round trips and requests of one read by page number (``windows: false``) of lists of
1, 4, 10 and 30 pages of 50 at 100 ms a reply, at auto, 4 and 8 at once (`python -m
bench.page_number_trips`; not part of `make bench`). Round trips are counted, not timed
(:meth:`bench.traced.Traced.round_trips`); each read is checked against the sandbox's
truth."""

from __future__ import annotations

import sys
from typing import Any, Literal

from bench.traced import Traced
from runner.fetch.fetcher import PageFetcher
from runner.fetch.transport import UrllibTransport
from runner.sandbox import Sandbox, SandboxOptions
from runner.spec import schema
from runner.spec.project import ApiSettings

BODY: dict[str, Any] = {"page": 1, "isExport": "none", "isContact": False, "applicableFilters": []}


def one(api: Sandbox, concurrency: int | Literal["auto"]) -> tuple[int, int]:
    """Round trips and requests of one read of everyone."""
    settings = ApiSettings(base_url=api.url, concurrency=concurrency, windows=False)
    traced = Traced(UrllibTransport(settings, api.headers, settings.max_concurrency + 1))
    body = {**schema.filter_defaults(), **BODY}
    fetcher = PageFetcher(settings, api.options.token, body, transport=traced)
    try:
        ids = [r["_id"] for page in fetcher.pages() for r in page.records]
    finally:
        fetcher.close()
    if ids != api.truth(body):
        raise SystemExit("the read is not the sandbox's list")
    return traced.round_trips(), len(traced.log)


def main() -> int:
    print("| pages | at once | round trips | requests |\n|---|---|---|---|")
    for pages in (1, 4, 10, 30):
        options = SandboxOptions(users=50 * pages - 10, page_size=50, latency_ms=100, token="t")
        with Sandbox(options) as api:
            at_once: tuple[int | Literal["auto"], ...] = ("auto", 4, 8)
            for concurrency in at_once:
                trips, requests = one(api, concurrency)
                print(f"| {pages} | {concurrency} | {trips} | {requests} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
