"""Pages from the API: retries, back-off, rate limits, pages fetched ahead in parallel,
and the checks that a run read the whole list, each record once.

:class:`PageFetcher` yields the new records of page 1, 2, 3 ... in order and stops
at the first page with no records, while up to ``concurrency`` later pages are
already on their way. One :mod:`tenacity` loop per page covers sending, reading
and decoding: exponential back-off with jitter, ``Retry-After`` honoured but
capped, ``retry.max_attempts`` requests at most, and no request running past
``retry.deadline`` (each is also cut at ``timeout.total``, however slowly the
server trickles). A 429 also halves the number of requests in flight for the
rest of the run.

A run fails rather than publish a partial list: at ``max_pages`` pages with more
to come, on a page of records that are not objects or have no id, and when the
API does not page (a page holding only records already read, as when it ignores
``page`` or reorders).

Pages go over urllib3 (the transport under requests) directly, see
:mod:`runner.transport`: a ``requests.Session.post`` costs about twice the CPU of
the same ``urlopen`` (README "Benchmarks"), and at zero latency that CPU is the
export's speed. Text a server sends is passed through :class:`~runner.redact.Redactor`
before it reaches any message.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
import tenacity
import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, SSLError
from urllib3.exceptions import TimeoutError as HTTPTimeout

from runner import __version__
from runner.errors import AuthError, FetchError, PagingError
from runner.locations import public_url
from runner.pacing import InFlight, RateLimiter, Retryable, Schedule, retry_after
from runner.records import Deduplicator, first_non_object, json_type
from runner.redact import Redactor, token_problem
from runner.spec.project import ApiSettings
from runner.transport import (
    Deadlines,
    host_of,
    pool_manager,
    read_capped,
    reason,
    tls_is_permanent,
)

__all__ = ["Page", "PageFetcher", "tls_is_permanent", "token_from_env"]

USER_AGENT = f"segment-runner/{__version__}"
ERROR_BODY_LIMIT = 64 * 1024  # enough for any message worth showing


@dataclass(frozen=True)
class Page:
    number: int
    records: list[Any]


@dataclass(frozen=True)
class Reply:
    """A 2xx body, read (capped) but not decoded yet."""

    content: bytes | bytearray
    content_type: str


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


def _server_message(body: bytes, scrub: Redactor, fallback: str) -> str:
    """What an error reply says, masked (see :mod:`runner.redact`) and short."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict) and payload.get("message"):
        return scrub(str(payload["message"]), 300)
    text = body.decode("utf-8", "replace")
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        return f"(HTML page: {scrub(title.group(1), 100)})"
    return scrub(text, 200) or scrub(fallback, 100)


class PageFetcher:
    """Fetch every page of one request body; yield each page's records not seen before.

    ``duplicates`` and ``records_without_id`` count what was dropped and what could
    not be compared; ``retries`` the failed tries; ``reread`` whether the list was
    read a second time after it moved (see :meth:`pages`).

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
    ) -> None:
        self.api = api
        self.body = dict(body)
        self.concurrency = max(1, concurrency or api.concurrency)
        self.max_pages = max_pages or api.max_pages
        self.retries = 0
        self.reread = False
        self.in_flight = InFlight(self.concurrency)
        self.rate = RateLimiter(api.rate_limit)
        self._on_retry = on_retry
        self._headers = {
            **api.headers,
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": USER_AGENT,
        }
        self._scrub = Redactor(token)
        self._dedupe = Deduplicator(api.id_key)
        self._deadlines = Deadlines()
        self._http = pool_manager(api.url, self.concurrency + 1)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._first_ids: list[Any] | None = None

    @property
    def duplicates(self) -> int:
        """Records dropped because their id was already read."""
        return self._dedupe.dropped

    @property
    def records_without_id(self) -> int:
        """Records kept without de-duplication: no value at ``api.id_key``."""
        return self._dedupe.without_id

    # -- one request -----------------------------------------------------
    def _attempt(self, number: int, deadline: float) -> Reply:
        if self._stopped.is_set():
            raise FetchError("stopped")
        body = orjson.dumps({**self.body, "page": number})
        self.rate.wait()
        with self.in_flight.slot():
            now = time.monotonic()
            allowed = min(self.api.request_timeout, deadline - now)
            timeout = urllib3.Timeout(
                connect=max(0.001, min(self.api.connect_timeout, allowed)),
                read=max(0.001, min(self.api.read_timeout, allowed)),
            )
            with self._deadlines.watch(now + allowed) as watch:
                try:
                    reply = self._request(number, body, timeout)
                except (Retryable, HTTPError, OSError) as exc:
                    if watch.expired:
                        raise Retryable(self._cut_off(number, allowed)) from exc
                    raise
                if watch.expired:  # shut mid-reply: an end that looked normal may be a cut
                    raise Retryable(self._cut_off(number, allowed))
                return reply

    def _cut_off(self, number: int, allowed: float) -> str:
        if allowed >= self.api.request_timeout:
            return f"page {number}: no complete reply within {allowed:g}s (api.timeout.total)"
        return f"page {number}: no complete reply before the page's retry deadline"

    def _request(self, number: int, body: bytes, timeout: urllib3.Timeout) -> Reply:
        response = None
        try:
            response = self._http.urlopen(
                "POST",
                self.api.url,
                body=body,
                headers=self._headers,
                timeout=timeout,
                retries=False,
                redirect=False,
                preload_content=False,
            )
            return self._reply(number, response)
        except SSLError as exc:
            if tls_is_permanent(exc):
                raise FetchError(f"TLS with {host_of(self.api.url)} failed: {reason(exc)}") from exc
            raise Retryable(f"page {number}: TLS failed ({reason(exc)})") from exc
        except NewConnectionError as exc:  # before HTTPTimeout: urllib3 makes it a subclass
            raise Retryable(f"page {number}: connection failed ({reason(exc)})") from exc
        except HTTPTimeout as exc:
            raise Retryable(f"page {number}: timed out") from exc
        except ProtocolError as exc:
            raise Retryable(f"page {number}: connection failed ({reason(exc)})") from exc
        except HTTPError as exc:
            raise Retryable(f"page {number}: {type(exc).__name__}") from exc
        finally:
            if response is not None:
                response.close()  # a reply not read to its end takes its connection with it
                response.release_conn()

    def _reply(self, number: int, response: urllib3.BaseHTTPResponse) -> Reply:
        if response.status >= 300:
            self._refuse(number, response)
        content = read_capped(response, self.api.max_page_bytes)
        if content is None:
            size = f"{self.api.max_page_bytes / 2**20:g} MiB"
            raise FetchError(
                f"page {number}: reply is larger than {size} decompressed (api.max_page_mb)"
            )
        return Reply(content, response.headers.get("Content-Type", "unknown type"))

    def _decode(self, number: int, reply: Reply) -> Page:
        try:
            payload = orjson.loads(reply.content)
        except orjson.JSONDecodeError:
            if bytes(reply.content.lstrip()[:1]) not in (b"{", b"["):
                kind = self._scrub(reply.content_type, 100)
                raise Retryable(f"page {number}: response is not JSON ({kind})") from None
            raise Retryable(f"page {number}: response is not valid JSON") from None
        return Page(number, self._records(payload, number))

    def _refuse(self, number: int, response: urllib3.BaseHTTPResponse) -> None:
        """Raise what a reply other than 2xx means: retry, or fail at once."""
        status = response.status
        if status == 429:
            self.in_flight.slow_down()
            wait = retry_after(response.headers.get("Retry-After"), self.api.retry.retry_after_cap)
            raise Retryable(f"page {number}: HTTP 429 Too Many Requests", wait)
        if status < 400:
            where = self._scrub(public_url(response.headers.get("Location", "elsewhere")), 200)
            raise FetchError(
                f"the API answered HTTP {status}, a redirect to {where}: set api.base_url "
                "to the final address (a redirected POST may lose its body)"
            )
        head = read_capped(response, ERROR_BODY_LIMIT, keep_head=True) or b""
        message = _server_message(bytes(head), self._scrub, response.reason or f"HTTP {status}")
        if status >= 500 or status == 408:
            raise Retryable(f"page {number}: HTTP {status} {message}")
        if status in (401, 403):
            raise AuthError(
                f"the API refused the token (HTTP {status}): {message}; "
                f"check {self.api.token_env}"
            )
        raise FetchError(f"the API rejected the request (HTTP {status}): {message}")

    def _records(self, payload: Any, number: int) -> list[Any]:
        node = payload
        for i, key in enumerate(self.api.records_path.split(".")):
            if not key:
                continue
            if not isinstance(node, dict) or key not in node:
                if isinstance(payload, dict) and payload.get("success") is False:
                    message = self._scrub(str(payload.get("message")), 300)
                    raise FetchError(f"the API reported an error: {message}")
                where = ".".join(self.api.records_path.split(".")[:i]) or "the response"
                found = ", ".join(sorted(node)) if isinstance(node, dict) else json_type(node)
                raise PagingError(
                    f"page {number}: no '{key}' in {where} (api.records_path is "
                    f"'{self.api.records_path}'); found keys: {self._scrub(found, 200)}"
                )
            node = node[key]
        if not isinstance(node, list):
            raise PagingError(
                f"page {number}: '{self.api.records_path}' is {json_type(node)}, not a list "
                "of records; set api.records_path in runner.yaml"
            )
        return node

    # -- one page, with retries --------------------------------------------
    def fetch(
        self, number: int, first: Future[Reply] | None = None, deadline: float | None = None
    ) -> Page:
        """Page ``number``, decoded; tries again within ``api.retry``.

        Each try is sending, reading and decoding: a body that is not JSON counts
        like a 503. ``first`` is the first try's request, already under way in the
        pool (started at ``deadline - retry.deadline``); decoding and any further
        try happen in this thread, where one thread building Python objects beats
        several fighting over the GIL.
        """
        if deadline is None:
            deadline = time.monotonic() + self.api.retry.deadline
        started = [first] if first is not None else []

        def attempt() -> Page:
            reply = started.pop().result() if started else self._attempt(number, deadline)
            return self._decode(number, reply)

        try:
            return attempt()
        except Retryable as failure:
            # The common case pays no retry machinery; a failure enters tenacity with
            # that failure as its first attempt, so the limits stay exact.
            pending = [failure]

            def again() -> Page:
                if pending:
                    raise pending.pop()
                return attempt()

            return self._retry(number, again, deadline)

    def _sleep(self, seconds: float) -> None:
        self._stopped.wait(seconds)

    def _retry(self, number: int, attempt: Callable[[], Page], deadline: float) -> Page:
        policy = self.api.retry
        schedule = Schedule(policy, deadline)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            with self._lock:
                self.retries += 1
            exc = state.outcome.exception() if state.outcome else None
            if self._on_retry:
                self._on_retry(number, str(exc))

        retrying = tenacity.Retrying(
            stop=schedule.stop,
            wait=schedule.wait,
            retry=tenacity.retry_if_exception_type(Retryable),
            before_sleep=before_sleep,
            sleep=self._sleep,  # wakes at once when the run stops
            reraise=True,
        )
        try:
            return retrying(attempt)
        except Retryable as exc:
            raise FetchError(
                f"{exc} (gave up after {policy.max_attempts} attempts or {policy.deadline:g}s)"
            ) from exc

    # -- all pages -------------------------------------------------------
    def pages(self) -> Iterator[Page]:
        """Pages in order until the first empty one, each with its records not seen before.

        Live data shifts pages while we read them. In order, a shift only repeats
        records (dropped here by id). Fetched in parallel, a later page can be
        read before an earlier one and a shift in between skips records at that
        boundary. So after a parallel pass the runner reads page 1 again: if the
        top of the list moved, it reads the list once more, in order, and the
        duplicates are dropped. ``self.reread`` tells whether that happened.
        """
        yield from self._pass(self.concurrency, first=True)
        if self.concurrency == 1 or self._first_ids is None:
            return
        again = self.fetch(1)
        if self._dedupe.ids(again.records) != self._first_ids:
            self.reread = True
            yield from self._pass(1, first=False)

    def _pass(self, concurrency: int, *, first: bool) -> Iterator[Page]:
        pages = self._in_order(concurrency)
        previous: list[Any] | None = None
        stale = 0  # pages in a row with nothing new that are not a shrinking tail
        try:
            for page in pages:
                records = page.records
                if not records:
                    return
                if page.number > self.max_pages:
                    raise PagingError(
                        f"stopped at max_pages {self.max_pages} before the API's last page; "
                        "nothing published (raise --max-pages or api.max_pages)"
                    )
                ids = self._ids(page)
                if ids == previous:
                    raise self._ignored(page)
                if first and page.number == 1:
                    self._first_ids = ids
                kept = self._dedupe.keep_new(records, ids)
                if len(kept) > ids.count(None):
                    stale = 0
                elif first and len(records) >= len(previous or ()):
                    # Nothing new. Live data does this: new records on top push read
                    # ones down, by a page or more between two reads when pages are
                    # fetched in parallel, and the tail of a growing list is pages of
                    # pushed-down records that shrink. An API that ignores or reorders
                    # ``page`` does it for ever, in pages that do not shrink.
                    stale += 1
                    if stale > concurrency + 1:
                        raise self._not_paging(page, stale)
                previous = ids
                yield Page(page.number, kept)
        finally:
            pages.close()

    def _ids(self, page: Page) -> list[Any]:
        """The page's ids; fails on records that are not objects, or carry no id at all."""
        bad = first_non_object(page.records)
        if bad:
            index, value = bad
            shown = "" if value is None else f" ({self._scrub(orjson.dumps(value).decode(), 60)})"
            raise PagingError(
                f"page {page.number}: record {index} is {json_type(value)}{shown}, not an "
                "object; the API must return a list of JSON objects"
            )
        ids = self._dedupe.ids(page.records)
        if ids.count(None) == len(ids):
            keys = self._scrub(", ".join(page.records[0]), 200) or "no keys"
            raise PagingError(
                f"page {page.number}: none of its {len(ids)} records has an id at "
                f"'{self.api.id_key}' (api.id_key); the first record has: {keys}"
            )
        return ids

    def _in_order(self, concurrency: int) -> Generator[Page, None, None]:
        """Pages 1, 2, 3 ... up to one past ``max_pages``, the first request of the next
        ``concurrency`` pages in flight while this thread decodes and retries."""
        last = self.max_pages + 1
        if concurrency == 1:
            # One page at a time in this thread: no hand-offs between threads.
            for number in range(1, last + 1):
                yield self.fetch(number)
            return
        pool = ThreadPoolExecutor(concurrency, thread_name_prefix="page")
        queue: deque[tuple[int, float, Future[Reply]]] = deque()
        next_number = 1
        try:
            while True:
                while len(queue) < concurrency and next_number <= last:
                    deadline = time.monotonic() + self.api.retry.deadline
                    future = pool.submit(self._attempt, next_number, deadline)
                    queue.append((next_number, deadline, future))
                    next_number += 1
                if not queue:
                    return
                number, deadline, future = queue.popleft()
                yield self.fetch(number, future, deadline)
        finally:
            self._stopped.set()
            for _, _, future in queue:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            self._stopped.clear()

    def _ignored(self, page: Page) -> PagingError:
        return PagingError(
            f"page {page.number} returned exactly the records of page "
            f"{page.number - 1}: the API seems to ignore the page number "
            "(check api.path and api.base_url)"
        )

    def _not_paging(self, page: Page, stale: int) -> PagingError:
        return PagingError(
            f"pages {page.number - stale + 1} to {page.number} hold only records read on "
            "earlier pages: the API is not paging (it ignores or reorders 'page'), or the "
            "list grows by a page or more with every request; nothing published"
        )

    def close(self) -> None:
        self._stopped.set()
        self._deadlines.close()
        self._http.clear()
