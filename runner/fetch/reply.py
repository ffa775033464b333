"""What a reply means: records, another try, or a failure with the server's words.

A 2xx body is read whole up to ``api.max_page_mb`` and decoded later, in the
thread that consumes pages; any other status is judged here: 429, 5xx and 408
are worth another try, 401/403 are the token, a redirect or another 4xx fails
at once. Text the server sends goes through :class:`~runner.fetch.redact.Redactor`
before it reaches any message.

The envelope rule: a decoded body can say failure too, whatever its status line
(``{"success": false, "code": 429, ...}`` in a 200). :func:`envelope_failure` says
when it does; the failure is then judged like the status its ``code`` names (the
status line's when it names none), so a ``code`` 429 waits out ``Retry-After`` and
a 401 fails at once. An empty list is the end of the list only under ``success:
true``: an Express-style API that answers a rate limit with ``data: []`` must not
end a run as if the list were complete.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, NoReturn

import orjson

from runner.errors import AuthError, FetchError, PagingError
from runner.fetch.records import json_type
from runner.fetch.redact import Redactor
from runner.fetch.transport import Response, Retryable, read_capped
from runner.locations import public_url

if TYPE_CHECKING:
    from runner.spec.project import ApiSettings

ERROR_BODY_LIMIT = 64 * 1024  # enough for any message worth showing


@dataclass(frozen=True)
class Reply:
    """A 2xx body, read (capped) but not decoded yet; ``status`` and ``retry_after``
    (the header) judge a body whose envelope says failure."""

    content: bytes | bytearray
    content_type: str
    status: int = 200
    retry_after: str | None = None


@dataclass(frozen=True)
class Failure:
    """What an envelope that says failure names: its ``code`` (None: none that is a
    number), how to show it, and its message (not masked yet)."""

    code: int | None
    said: str
    message: str


def _status_code(value: Any) -> int | None:
    """An envelope ``code`` as a number (``429`` or ``"429"``), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def envelope_failure(payload: Any, records_path: str) -> Failure | None:
    """The failure a decoded body reports, or None when it may hold a page.

    It says failure when ``success`` is there and not ``true``, when ``code`` is there
    and not a number from 200 to 299, or, with no ``success`` at all, when there is a
    ``message`` and no list at ``records_path``, or the list is empty: only an envelope
    that says success can end the list (a body without ``success`` is taken only for
    the records it holds).

    >>> envelope_failure({"success": False, "code": 429, "message": "slow", "data": []}, "data")
    Failure(code=429, said='code 429', message='slow')
    >>> envelope_failure({"success": True, "code": 200, "data": []}, "data") is None
    True
    >>> envelope_failure({"data": []}, "data").said
    'no "success": true with an empty list'
    """
    if not isinstance(payload, dict):
        return None
    message = payload.get("message")
    text = "" if message is None else str(message)
    raw_code = payload.get("code")
    code = _status_code(raw_code)
    said = f"code {code}" if code is not None else f"code {raw_code!r}"
    if "success" in payload and payload["success"] is not True:
        flag = orjson.dumps(payload["success"]).decode()
        return Failure(code, said if raw_code is not None else f'"success": {flag}', text)
    if raw_code is not None and (code is None or not 200 <= code <= 299):
        return Failure(code, said, text)
    if "success" not in payload:
        records: Any = payload
        for key in filter(None, records_path.split(".")):
            records = records.get(key) if isinstance(records, dict) else None
        if records is None and message is not None:
            return Failure(None, f'a message and no "{records_path}"', text)
        if isinstance(records, list) and not records:
            return Failure(None, 'no "success": true with an empty list', text)
    return None


def retry_after(value: str | None, cap: float) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date), capped."""
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


def server_message(body: bytes, scrub: Redactor, fallback: str) -> str:
    """What an error reply says, masked (see :mod:`runner.fetch.redact`) and short."""
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


class Replies:
    """Reads and judges the replies of one API.

    ``slow_down`` is called on every 429, before the failure is raised.
    """

    def __init__(
        self,
        api: ApiSettings,
        scrub: Redactor,
        slow_down: Callable[[], None],
        wanted: str = "a list of records; set api.records_path in runner.yaml",
    ) -> None:
        self.api = api
        self.scrub = scrub
        self._slow_down = slow_down
        self.wanted = wanted  # what the list at records_path should be, for a reply without one

    def read(self, label: str, response: Response) -> Reply:
        """The body of a 2xx reply; any other raises what it means."""
        if response.status >= 300:
            self._refuse(label, response)
        content = read_capped(response, self.api.max_page_bytes)
        if content is None:
            size = f"{self.api.max_page_bytes / 2**20:g} MiB"
            raise FetchError(f"{label}: reply is larger than {size} decompressed (api.max_page_mb)")
        headers = response.headers
        return Reply(
            content,
            headers.get("Content-Type", "unknown type"),
            response.status,
            headers.get("Retry-After"),
        )

    def _refuse(self, label: str, response: Response) -> None:
        """Raise what a reply other than 2xx means: retry, or fail at once."""
        status = response.status
        if status == 429:
            self._judge(
                label, 429, "HTTP 429", "Too Many Requests", response.headers.get("Retry-After")
            )
        if status < 400:
            where = self.scrub(public_url(response.headers.get("Location", "elsewhere")), 200)
            raise FetchError(
                f"the API answered HTTP {status}, a redirect to {where}: set api.base_url "
                "to the final address (a redirected POST may lose its body)"
            )
        head = read_capped(response, ERROR_BODY_LIMIT, keep_head=True) or b""
        message = server_message(bytes(head), self.scrub, response.reason or f"HTTP {status}")
        self._judge(label, status, f"HTTP {status}", message, None)

    def _judge(
        self,
        label: str,
        status: int,
        said: str,
        message: str,
        wait_header: str | None,
        failed: str = "the API rejected the request",
    ) -> NoReturn:
        """Raise what a failure that names ``status`` means (``said`` shows where it was
        named: ``HTTP 503``, or ``HTTP 200, code 429`` for an envelope's): 429 waits out
        ``Retry-After`` and slows the run down, 5xx and 408 are tried again, 401/403
        refuse the token at once, anything else fails at once. ``message`` is masked."""
        if status == 429:
            self._slow_down()
            wait = retry_after(wait_header, self.api.retry.retry_after_cap)
            raise Retryable(f"{label}: {said} {message}", wait)
        if status >= 500 or status == 408:
            raise Retryable(f"{label}: {said} {message}")
        if status in (401, 403):
            raise AuthError(
                f"{label}: the API refused the token ({said}): {message}; "
                f"check {self.api.token_env}"
            )
        raise FetchError(f"{label}: {failed} ({said}): {message}")

    def records(self, label: str, reply: Reply) -> list[Any]:
        """The list at ``api.records_path`` in a reply; a body that is not JSON is retried."""
        try:
            payload = orjson.loads(reply.content)
        except orjson.JSONDecodeError:
            if bytes(reply.content.lstrip()[:1]) not in (b"{", b"["):
                kind = self.scrub(reply.content_type, 100)
                raise Retryable(f"{label}: response is not JSON ({kind})") from None
            raise Retryable(f"{label}: response is not valid JSON") from None
        failure = envelope_failure(payload, self.api.records_path)
        if failure is not None:
            self._envelope(label, reply, failure)
        return self._at_path(payload, label)

    def _envelope(self, label: str, reply: Reply, failure: Failure) -> NoReturn:
        """Raise what a body that says failure means, by the code it names (else by
        its status line)."""
        status = reply.status if failure.code is None else failure.code
        message = self.scrub(failure.message, 300) or "no message"
        said = f"HTTP {reply.status}, {self.scrub(failure.said, 100)}"
        self._judge(label, status, said, message, reply.retry_after, "the reply says it failed")

    def _at_path(self, payload: Any, label: str) -> list[Any]:
        path = self.api.records_path
        node = payload
        for i, key in enumerate(path.split(".")):
            if not key:
                continue
            if not isinstance(node, dict) or key not in node:
                where = ".".join(path.split(".")[:i]) or "the response"
                found = ", ".join(sorted(node)) if isinstance(node, dict) else json_type(node)
                raise PagingError(
                    f"{label}: no '{key}' in {where} (api.records_path is "
                    f"'{path}'); found keys: {self.scrub(found, 200)}"
                )
            node = node[key]
        if not isinstance(node, list):
            keys = ", ".join(sorted(node)) if isinstance(node, dict) else ""
            held = f" (keys: {self.scrub(keys, 200)})" if keys else ""
            raise PagingError(
                f"{label}: '{path}' is {json_type(node)}{held}, " f"not {self.wanted}"
            )
        return node
