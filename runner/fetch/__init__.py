"""Pages from the API: retries, back-off, rate limits, pages fetched ahead in parallel,
and the checks that a run read the whole list, each record once.

:class:`PageFetcher` yields the new records of page 1, 2, 3 ... in order and stops
at the first page with no records, while up to ``concurrency`` later pages are
already on their way. One stage per module, each importing only the ones above it:

- :mod:`~runner.fetch.transport`: the wire (a deadline per request, bodies read with
  a cap, urllib3 through a proxy); the plug point another HTTP client replaces.
- :mod:`~runner.fetch.client`: the wire without a proxy, ``http.client``.
- :mod:`~runner.fetch.redact`: THE one redaction: the token, in any form, never
  reaches a message, a file or a notification.
- :mod:`~runner.fetch.reply`: what a reply means (records, another try, a failure).
- :mod:`~runner.fetch.retry`: THE retry loop around sending, reading and decoding,
  and the pacing (requests in flight, rate limit).
- :mod:`~runner.fetch.paging`: the paging interface (which request comes next, how a
  reply is read, in order or as answered, the figures for the summary), page numbers,
  and the rules that refuse a partial list.
- :mod:`~runner.fetch.windows`: the strategy that reads a long list as closed
  ``createdAt`` windows.
- :mod:`~runner.fetch.fetcher`: threads and order; it drives any strategy through the
  interface alone.

For example (not run: it needs a server or a project)::

    fetcher = PageFetcher(api, token_from_env(api, os.environ), body)
    for page in fetcher.pages(): ...
"""

from __future__ import annotations

from runner.fetch.fetcher import PageFetcher, token_from_env
from runner.fetch.paging import Page

__all__ = ["Page", "PageFetcher", "token_from_env"]
