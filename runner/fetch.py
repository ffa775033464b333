"""Pages from the API: retries, back-off, rate limits, and pages fetched ahead in parallel.

:class:`PageFetcher` yields the records of page 1, 2, 3 ... in order and stops at
the first page with no records, while up to ``concurrency`` later pages are
already on their way. Retries use :mod:`tenacity`: exponential back-off with
jitter, ``Retry-After`` honoured but capped, a cap on attempts and a total
deadline per page. A 429 also halves the number of requests in flight for the
rest of the run.

Pages go over urllib3 (the transport under requests) directly: one thread-safe
pool, no redirects, no library retries. A ``requests.Session.post`` costs about
twice the CPU of the same ``urlopen`` (about 1 ms against 0.45 ms per 50-contact
page, see README "Benchmarks"), and at zero latency that CPU is the export's
speed. requests still supplies the environment's proxy rules and CA bundle, so
behaviour matches a plain requests client.
"""

from __future__ import annotations

import contextlib
import re
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
import requests
import tenacity
import urllib3
from urllib3.exceptions import (
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ProxySchemeUnknown,
    SSLError,
)
from urllib3.exceptions import TimeoutError as HTTPTimeout

from runner import __version__
from runner.config import ApiSettings, RetryPolicy
from runner.errors import AuthError, FetchError, PagingError

USER_AGENT = f"segment-runner/{__version__}"


class Retryable(Exception):
    """A failure worth another try (429, 5xx, dropped connection, timeout, bad body)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Page:
    number: int
    records: list[Any]


@dataclass(frozen=True)
class RawPage:
    """A reply body, checked cheaply in the fetching thread and parsed in the main one."""

    number: int
    content: bytes


def token_from_env(api: ApiSettings, env: Mapping[str, str]) -> str:
    token = env.get(api.token_env, "").strip()
    if not token:
        raise AuthError(
            f"environment variable {api.token_env} is not set: export your Flowmatix API token "
            f"there (or name another variable in runner.yaml api.token_env)"
        )
    return token


class InFlight:
    """How many requests may be on the wire at once; halves on every 429, never grows back."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            while self.active >= self.limit:
                self._cond.wait()
            self.active += 1
        try:
            yield
        finally:
            with self._cond:
                self.active -= 1
                self._cond.notify_all()

    def slow_down(self) -> None:
        with self._cond:
            self.limit = max(1, self.limit // 2)


class RateLimiter:
    """At most ``rate`` requests per second across threads (0: no limit)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock = clock

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


def _retry_after(value: str | None, cap: float) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), cap)


def _server_message(response: urllib3.BaseHTTPResponse) -> str:
    try:
        body = orjson.loads(response.data)
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])[:300]
    except orjson.JSONDecodeError:
        pass
    text = response.data.decode("utf-8", "replace").strip()
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        return f"(HTML page: {title.group(1).strip()[:100]})"
    return " ".join(text.split())[:200] or response.reason or f"HTTP {response.status}"


class _Wait(tenacity.wait.wait_base):
    """Exponential back-off with full jitter, or the server's capped Retry-After."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.backoff = tenacity.wait_random_exponential(
            multiplier=policy.backoff_initial, max=policy.backoff_max
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome else None
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            return exc.retry_after
        return float(self.backoff(retry_state))


class PageFetcher:
    """Fetch every page of one request body.

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
        self._timeout = urllib3.Timeout(connect=api.connect_timeout, read=api.read_timeout)
        self._http = _pool_manager(api.url, self.concurrency + 1)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._record_path = [p for p in api.records_path.split(".") if p]
        self.reread = False

    # -- one request -----------------------------------------------------
    def _attempt(self, number: int) -> RawPage:
        if self._stopped.is_set():
            raise FetchError("stopped")
        body = orjson.dumps({**self.body, "page": number})
        self.rate.wait()
        try:
            with self.in_flight.slot():
                response = self._http.urlopen(
                    "POST",
                    self.api.url,
                    body=body,
                    headers=self._headers,
                    timeout=self._timeout,
                    retries=False,
                    redirect=False,
                )
        except SSLError as exc:
            if tls_is_permanent(exc):
                raise FetchError(f"TLS with {_host(self.api.url)} failed: {_reason(exc)}") from exc
            raise Retryable(f"page {number}: TLS failed ({_reason(exc)})") from exc
        except NewConnectionError as exc:  # before HTTPTimeout: urllib3 makes it a subclass
            raise Retryable(f"page {number}: connection failed ({_reason(exc)})") from exc
        except HTTPTimeout as exc:
            raise Retryable(f"page {number}: timed out") from exc
        except ProtocolError as exc:
            raise Retryable(f"page {number}: connection failed ({_reason(exc)})") from exc
        except HTTPError as exc:
            raise Retryable(f"page {number}: {type(exc).__name__}") from exc
        status = response.status
        if status == 429:
            self.in_flight.slow_down()
            wait = _retry_after(response.headers.get("Retry-After"), self.api.retry.retry_after_cap)
            raise Retryable(f"page {number}: HTTP 429 Too Many Requests", wait)
        if status >= 500 or status == 408:
            raise Retryable(f"page {number}: HTTP {status} {_server_message(response)}")
        if status in (401, 403):
            raise AuthError(
                f"the API refused the token (HTTP {status}): {_server_message(response)}; "
                f"check {self.api.token_env}"
            )
        if status >= 400:
            raise FetchError(
                f"the API rejected the request (HTTP {status}): {_server_message(response)}"
            )
        if status >= 300:
            where = response.headers.get("Location", "elsewhere")
            raise FetchError(
                f"the API answered HTTP {status}, a redirect to {where}: set api.base_url "
                "to the final address (a redirected POST may lose its body)"
            )
        content = response.data
        if content.lstrip()[:1] not in (b"{", b"["):
            kind = response.headers.get("Content-Type", "unknown type")
            raise Retryable(f"page {number}: response is not JSON ({kind})")
        # Parsing happens in the consuming thread: one thread building Python objects
        # beats several fighting over the GIL.
        return RawPage(number, content)

    def parse(self, raw: RawPage) -> Page:
        """Decode a page; a body that only looked like JSON is fetched again."""
        for _ in range(self.api.retry.max_attempts):
            try:
                payload = orjson.loads(raw.content)
            except orjson.JSONDecodeError:
                with self._lock:
                    self.retries += 1
                if self._on_retry:
                    self._on_retry(raw.number, f"page {raw.number}: response is not valid JSON")
                raw = self.fetch(raw.number)
                continue
            return Page(raw.number, self._records(payload, raw.number))
        raise FetchError(f"page {raw.number}: response is not valid JSON after retries")

    def _records(self, payload: Any, number: int) -> list[Any]:
        node = payload
        for i, key in enumerate(self._record_path):
            if not isinstance(node, dict) or key not in node:
                where = ".".join(self._record_path[:i]) or "the response"
                found = ", ".join(sorted(node)) if isinstance(node, dict) else type(node).__name__
                if isinstance(payload, dict) and payload.get("success") is False:
                    raise FetchError(f"the API reported an error: {payload.get('message')}")
                raise PagingError(
                    f"page {number}: no '{key}' in {where} (api.records_path is "
                    f"'{self.api.records_path}'); found keys: {found}"
                )
            node = node[key]
        if not isinstance(node, list):
            raise PagingError(
                f"page {number}: '{self.api.records_path}' is {type(node).__name__}, not a list "
                "of records; set api.records_path in runner.yaml"
            )
        return node

    def _sleep(self, seconds: float) -> None:
        self._stopped.wait(seconds)

    def fetch(self, number: int) -> RawPage:
        try:
            return self._attempt(number)
        except Retryable as first:
            # The common case pays no retry machinery; a failure enters tenacity with
            # that failure as its first attempt, so the limits stay exact.
            pending = [first]

            def attempt() -> RawPage:
                if pending:
                    raise pending.pop()
                return self._attempt(number)

            return self._retry(number, attempt)

    def _retry(self, number: int, attempt: Callable[[], RawPage]) -> RawPage:
        policy = self.api.retry

        def before_sleep(state: tenacity.RetryCallState) -> None:
            with self._lock:
                self.retries += 1
            exc = state.outcome.exception() if state.outcome else None
            if self._on_retry:
                self._on_retry(number, str(exc))

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(policy.max_attempts)
            | tenacity.stop_after_delay(policy.deadline),
            wait=_Wait(policy),
            retry=tenacity.retry_if_exception_type(Retryable),
            before_sleep=before_sleep,
            sleep=self._sleep,  # wakes at once when the run stops
            reraise=True,
        )
        try:
            return retrying(attempt)
        except Retryable as exc:
            raise FetchError(
                f"{exc} (gave up after {policy.max_attempts} attempts or " f"{policy.deadline:g}s)"
            ) from exc

    # -- all pages -------------------------------------------------------
    def pages(self) -> Iterator[Page]:
        """Pages in order until the first empty one; fails if the API ignores ``page``.

        Live data shifts pages while we read them. In order, a shift only repeats
        records (dropped later by id). Fetched in parallel, a later page can be
        read before an earlier one and a shift in between skips records at that
        boundary. So after a parallel pass the runner reads page 1 again: if the
        top of the list moved, it reads the list once more, in order, and the
        duplicates are dropped. ``self.reread`` tells whether that happened.
        """
        first: list[Any] | None = None
        for page in self._pass(self.concurrency):
            if first is None:
                first = self._ids(page)
            yield page
        if self.concurrency == 1 or first is None:
            return
        if self._ids(self.parse(self.fetch(1))) != first:
            self.reread = True
            yield from self._pass(1)

    def _ids(self, page: Page) -> list[Any]:
        key = self.api.id_key
        return [r.get(key) if isinstance(r, dict) else r for r in page.records]

    def _pass(self, concurrency: int) -> Iterator[Page]:
        raw = self._in_order(concurrency)
        previous_ids: list[Any] | None = None
        try:
            for item in raw:
                page = self.parse(item)
                if not page.records:
                    return
                ids = self._ids(page)
                if ids == previous_ids:
                    raise self._ignored(page)
                previous_ids = ids
                yield page
        finally:
            raw.close()

    def _in_order(self, concurrency: int) -> Generator[RawPage, None, None]:
        """Raw pages 1, 2, 3 ... in order, up to ``concurrency`` of them in flight."""
        if concurrency == 1:
            # One page at a time in this thread: no hand-offs between threads.
            for number in range(1, self.max_pages + 1):
                yield self.fetch(number)
            return
        pool = ThreadPoolExecutor(concurrency, thread_name_prefix="page")
        queue: deque[Future[RawPage]] = deque()
        next_number = 1
        try:
            while True:
                while len(queue) < concurrency and next_number <= self.max_pages:
                    queue.append(pool.submit(self.fetch, next_number))
                    next_number += 1
                if not queue:
                    return
                yield queue.popleft().result()
        finally:
            self._stopped.set()
            for future in queue:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            self._stopped.clear()

    def _ignored(self, page: Page) -> PagingError:
        return PagingError(
            f"page {page.number} returned exactly the records of page "
            f"{page.number - 1}: the API seems to ignore the page number "
            "(check api.path and api.base_url)"
        )

    def close(self) -> None:
        self._stopped.set()
        self._http.clear()


def _pool_manager(url: str, connections: int) -> urllib3.PoolManager:
    """Keep-alive connections for ``url``: through the environment's proxy if it names
    one (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY, as requests reads them), verified
    against the CA bundle requests uses."""
    options: dict[str, Any] = {
        "num_pools": 2,
        "maxsize": connections,
        "retries": False,
        "ca_certs": requests.utils.DEFAULT_CA_BUNDLE_PATH,
    }
    proxy = _proxy_for(url)
    if not proxy:
        return urllib3.PoolManager(**options)
    parsed = urllib3.util.parse_url(proxy)
    if parsed.auth:
        options["proxy_headers"] = urllib3.make_headers(proxy_basic_auth=unquote(parsed.auth))
    try:
        return urllib3.ProxyManager(proxy, **options)
    except ProxySchemeUnknown as exc:
        raise FetchError(
            f"proxy {_host(proxy)} for {_host(url)} has scheme {parsed.scheme!r}; "
            "supported: http, https"
        ) from exc


def _proxy_for(url: str) -> str | None:
    if requests.utils.should_bypass_proxies(url, no_proxy=None):
        return None
    proxies = requests.utils.get_environ_proxies(url)
    scheme = urlsplit(url).scheme
    return proxies.get(scheme) or proxies.get("all")


# A handshake that fails for one of these fails the same way on every try.
_PERMANENT_TLS = frozenset(
    {"WRONG_VERSION_NUMBER", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE"}
)


def tls_is_permanent(exc: SSLError) -> bool:
    """A bad certificate or a TLS/plain-HTTP mix-up (not worth retrying), rather than a
    handshake cut short by the network (worth retrying)."""
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, ssl.SSLCertVerificationError):
        return True
    return isinstance(inner, ssl.SSLError) and inner.reason in _PERMANENT_TLS


def _host(url: str) -> str:
    """scheme://host:port without credentials or path."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in (
        "Connection refused",
        "Name or service not known",
        "RemoteDisconnected",
        "Connection reset",
        "Connection aborted",
        "timed out",
    ):
        if marker in text:
            return marker
    return type(exc).__name__
