"""PageFetcher against the sandbox: rate limit, slowing down on 429, retry accounting."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from runner.errors import FetchError
from runner.fetch import PageFetcher
from runner.fetch.retry import InFlight
from runner.sandbox import Sandbox
from runner.spec.project import ApiSettings, RetryPolicy
from tests.conftest import full_body

Start = Callable[..., Sandbox]
FAST = RetryPolicy(max_attempts=20, backoff_initial=0.001, backoff_max=0.01, retry_after_cap=0.01)


def settings(api: Sandbox, **kw: object) -> ApiSettings:
    return ApiSettings(base_url=api.url, retry=kw.pop("retry", FAST), **kw)  # type: ignore[arg-type]


def test_rate_limit_spaces_requests(sandbox: Start) -> None:
    api = sandbox(users=200, page_size=20)  # 10 pages + the empty one
    fetcher = PageFetcher(
        settings(api, rate_limit=20.0, concurrency=4, windows=False),  # page numbers only
        api.options.token,
        full_body(isContact=False, applicableFilters=[]),
    )
    start = time.monotonic()
    pages = list(fetcher.pages())
    elapsed = time.monotonic() - start
    fetcher.close()
    assert len(pages) == 10
    # 11+ requests at 20/s cannot finish in less than half a second, however fast the machine.
    assert api.stats["pages"] >= 11
    assert elapsed >= (api.stats["pages"] - 1) / 20.0


def test_429_halves_requests_in_flight_for_the_rest_of_the_run(sandbox: Start) -> None:
    # The second 429 on request 20: at most 8 on the wire, it goes out after 12 replies,
    # at the limit the first one halved (a crowd sent at one limit halves once: request
    # 9 could go out at 8 before request 3's 429 came back, and the limit stayed at 4).
    api = sandbox(users=400, page_size=20, faults="429@3|20")
    fetcher = PageFetcher(
        settings(api, concurrency=8),
        api.options.token,
        full_body(isContact=False, applicableFilters=[]),
    )
    ids = [r["_id"] for page in fetcher.pages() for r in page.records]
    fetcher.close()
    assert len(ids) == 400
    assert fetcher.in_flight.limit == 2  # 8 -> 4 -> 2
    assert fetcher.retries == 2


def test_in_flight_never_below_one() -> None:
    gate = InFlight(3)
    for _ in range(5):
        gate.slow_down()
    assert gate.limit == 1


def test_attempts_are_capped(sandbox: Start) -> None:
    api = sandbox(users=50, faults="503=1")
    policy = RetryPolicy(max_attempts=3, backoff_initial=0.001, backoff_max=0.001)
    fetcher = PageFetcher(
        settings(api, retry=policy, concurrency=1), api.options.token, full_body()
    )
    with pytest.raises(FetchError, match="HTTP 503 Something went wrong .gave up after 3 attempts"):
        list(fetcher.pages())
    fetcher.close()
    assert api.stats["fault:503"] == 3 and fetcher.retries == 2


def test_read_timeout_is_retried(sandbox: Start) -> None:
    api = sandbox(users=30, faults="slow@1", slow_ms=800)
    fetcher = PageFetcher(
        settings(api, concurrency=1, read_timeout=0.3), api.options.token, full_body()
    )
    pages = list(fetcher.pages())
    fetcher.close()
    assert pages and fetcher.retries == 1 and api.stats["fault:slow"] == 1


def test_total_deadline_stops_retrying(sandbox: Start) -> None:
    api = sandbox(users=30, faults="503=1")
    policy = RetryPolicy(max_attempts=50, backoff_initial=0.05, backoff_max=0.05, deadline=0.3)
    fetcher = PageFetcher(
        settings(api, retry=policy, concurrency=1), api.options.token, full_body()
    )
    with pytest.raises(FetchError, match="gave up after 50 attempts or 0.3s"):
        list(fetcher.pages())
    fetcher.close()
    assert 2 <= api.stats["fault:503"] < 50


def test_400_fails_at_once_with_the_server_message(sandbox: Start) -> None:
    api = sandbox(users=30)
    body = {k: v for k, v in full_body().items() if k != "tags"}
    fetcher = PageFetcher(settings(api, concurrency=1), api.options.token, body)
    with pytest.raises(
        FetchError, match=r"rejected the request \(HTTP 400\): Missing required field: tags"
    ):
        list(fetcher.pages())
    fetcher.close()
    assert fetcher.retries == 0 and api.stats["bad_request"] == 1
