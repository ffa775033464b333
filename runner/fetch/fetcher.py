"""Threads and order: the pages of one request body, fetched ahead and passed on in order."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from runner import __version__
from runner.errors import AuthError
from runner.fetch.paging import NewRecords, PageNumbers, PageRequest, Paging
from runner.fetch.redact import Redactor, token_problem
from runner.fetch.reply import Replies, Reply
from runner.fetch.retry import InFlight, Tries
from runner.fetch.transport import Transport, UrllibTransport
from runner.records import Deduplicator
from runner.spec.project import ApiSettings

USER_AGENT = f"segment-runner/{__version__}"

# A request on its way: the request, its retry deadline (None: set when it is read, in
# this thread) and its first try already under way in the pool (None: not sent yet).
_Sent = tuple[PageRequest, float | None, Future[Reply] | None]


@dataclass(frozen=True)
class Page:
    number: int
    records: list[Any]


def token_from_env(api: ApiSettings, env: Mapping[str, str]) -> str:
    token = env.get(api.token_env, "").strip()
    if not token:
        raise AuthError(
            f"environment variable {api.token_env} is not set: export your Flowmatix API token "
            f"there (or name another variable in runner.yaml api.token_env)"
        )
    problem = token_problem(api.token_env, token)
    if problem:
        raise AuthError(problem)
    return token


class PageFetcher:
    """Fetch every page of one request body; yield each page's records not seen before.

    ``duplicates`` and ``records_without_id`` count what was dropped and what could
    not be compared; ``retries`` the failed tries; ``reread`` whether the list was
    read a second time after it moved (see :class:`~runner.fetch.paging.PageNumbers`).
    ``transport`` replaces the HTTP client (by default a urllib3 pool).

    >>> fetcher = PageFetcher(api, token, body)  # doctest: +SKIP
    >>> for page in fetcher.pages(): ...  # doctest: +SKIP
    """

    def __init__(
        self,
        api: ApiSettings,
        token: str,
        body: Mapping[str, Any],
        *,
        concurrency: int | None = None,
        max_pages: int | None = None,
        on_retry: Callable[[int, str], None] | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.api = api
        self.body = dict(body)
        self.concurrency = max(1, concurrency or api.concurrency)
        self.max_pages = max_pages or api.max_pages
        self.in_flight = InFlight(self.concurrency)
        scrub = Redactor(token)
        headers = {
            **api.headers,
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": USER_AGENT,
        }
        self.transport = transport or UrllibTransport(api, headers, self.concurrency + 1)
        replies = Replies(api, scrub, self.in_flight.slow_down)
        self._tries = Tries(api, self.transport, replies, self.in_flight, on_retry)
        self._dedupe = Deduplicator(api.id_key)
        records = NewRecords(self._dedupe, scrub)
        self.paging: Paging = PageNumbers(self.body, records, self.concurrency, self.max_pages)
        self._pool: ThreadPoolExecutor | None = None

    @property
    def duplicates(self) -> int:
        """Records dropped because their id was already read."""
        return self._dedupe.dropped

    @property
    def records_without_id(self) -> int:
        """Records kept without de-duplication: no value at ``api.id_key``."""
        return self._dedupe.without_id

    @property
    def retries(self) -> int:
        return self._tries.retries

    @property
    def reread(self) -> bool:
        return self.paging.reread

    def pages(self) -> Iterator[Page]:
        """Pages in order until the paging strategy says the list is complete, each with
        its records not seen before. While this thread decodes a page, the first try of
        the next ``paging.ahead`` ones is on its way in the pool."""
        sent: deque[_Sent] = deque()
        try:
            while True:
                self._send_ahead(sent)
                if not sent:
                    return
                request, deadline, first = sent.popleft()
                records = self._tries.fetch(request, first, deadline)
                kept = self.paging.read(request, records)
                if kept is None:
                    self._drop(sent)
                    continue
                yield Page(request.number, kept)
        finally:
            self._drop(sent)

    def _send_ahead(self, sent: deque[_Sent]) -> None:
        ahead = self.paging.ahead
        while len(sent) < ahead and (request := self.paging.next()) is not None:
            if ahead == 1:
                # One page at a time in this thread: no hand-offs between threads.
                sent.append((request, None, None))
                continue
            if self._pool is None:
                self._pool = ThreadPoolExecutor(ahead, thread_name_prefix="page")
            deadline = time.monotonic() + self.api.retry.deadline
            sent.append((request, deadline, self._pool.submit(self._tries.send, request, deadline)))

    def _drop(self, sent: deque[_Sent]) -> None:
        """Forget the requests on their way; wait for those already on the wire."""
        pool, self._pool = self._pool, None
        if pool is not None:
            self._tries.stopped.set()
            for _, _, future in sent:
                if future is not None:
                    future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            self._tries.stopped.clear()
        sent.clear()

    def close(self) -> None:
        self._tries.stopped.set()
        self.transport.close()
