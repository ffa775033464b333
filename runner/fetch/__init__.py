"""Pages from the API: retries, back-off, rate limits, pages fetched ahead in parallel,
and the checks that a run read the whole list, each record once.

:class:`PageFetcher` yields the new records of page 1, 2, 3 ... in order and stops
at the first page with no records, while up to ``concurrency`` later pages are
already on their way. One stage per module, each importing only the ones above it:

- :mod:`~runner.fetch.transport`: the wire (one urllib3 pool, a deadline per
  request, bodies read with a cap); the plug point another HTTP client replaces.
- :mod:`~runner.fetch.redact`: THE one redaction: the token, in any form, never
  reaches a message, a file or a notification.
- :mod:`~runner.fetch.reply`: what a reply means (records, another try, a failure).
- :mod:`~runner.fetch.retry`: THE retry loop around sending, reading and decoding,
  and the pacing (requests in flight, rate limit).
- :mod:`~runner.fetch.paging`: which request comes next (page numbers today), and
  the rules that refuse a partial list.
- :mod:`~runner.fetch.fetcher`: threads and order.

>>> fetcher = PageFetcher(api, token_from_env(api, os.environ), body)  # doctest: +SKIP
>>> for page in fetcher.pages(): ...  # doctest: +SKIP
"""

from __future__ import annotations

from runner.fetch.fetcher import Page, PageFetcher, token_from_env

__all__ = ["Page", "PageFetcher", "token_from_env"]
