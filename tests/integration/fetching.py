"""What the fetch tests share: retries that do not wait, the body of every contact, the
as-of the sandbox's anchor gives, and one fetch to its end (:func:`fetched`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from runner.fetch import PageFetcher
from runner.sandbox import Sandbox
from runner.spec.project import ApiSettings, RetryPolicy

FAST = RetryPolicy(
    max_attempts=12, backoff_initial=0.01, backoff_max=0.05, retry_after_cap=0.05, deadline=60
)
EVERYONE: dict[str, Any] = {"isContact": False, "applicableFilters": []}
AS_OF = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


def fetched(
    api: Sandbox, body: dict[str, Any], as_of: dt.datetime = AS_OF, **settings: Any
) -> tuple[list[Any], PageFetcher]:
    """The ids of every record a fetch of ``body`` from ``api`` passes on, in order
    (``settings``: :class:`ApiSettings`' fields, retries :data:`FAST` unless given), and
    the fetcher, closed (its figures and note kept). A paging error is raised as is."""
    config = ApiSettings(base_url=api.url, **{"retry": FAST, **settings})
    fetcher = PageFetcher(config, api.options.token, body, as_of=as_of)
    try:
        return [record["_id"] for page in fetcher.pages() for record in page.records], fetcher
    finally:
        fetcher.close()
