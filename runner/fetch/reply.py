"""What a reply means: records, another try, or a failure with the server's words.

A 2xx body is read whole up to ``api.max_page_mb`` and decoded later, in the
thread that consumes pages; any other status is judged here: 429, 5xx and 408
are worth another try, 401/403 are the token, a redirect or another 4xx fails
at once. Text the server sends goes through :class:`~runner.fetch.redact.Redactor`
before it reaches any message.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

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
    """A 2xx body, read (capped) but not decoded yet."""

    content: bytes | bytearray
    content_type: str


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

    def __init__(self, api: ApiSettings, scrub: Redactor, slow_down: Callable[[], None]) -> None:
        self.api = api
        self.scrub = scrub
        self._slow_down = slow_down

    def read(self, label: str, response: Response) -> Reply:
        """The body of a 2xx reply; any other raises what it means."""
        if response.status >= 300:
            self._refuse(label, response)
        content = read_capped(response, self.api.max_page_bytes)
        if content is None:
            size = f"{self.api.max_page_bytes / 2**20:g} MiB"
            raise FetchError(f"{label}: reply is larger than {size} decompressed (api.max_page_mb)")
        return Reply(content, response.headers.get("Content-Type", "unknown type"))

    def _refuse(self, label: str, response: Response) -> None:
        """Raise what a reply other than 2xx means: retry, or fail at once."""
        status = response.status
        if status == 429:
            self._slow_down()
            wait = retry_after(response.headers.get("Retry-After"), self.api.retry.retry_after_cap)
            raise Retryable(f"{label}: HTTP 429 Too Many Requests", wait)
        if status < 400:
            where = self.scrub(public_url(response.headers.get("Location", "elsewhere")), 200)
            raise FetchError(
                f"the API answered HTTP {status}, a redirect to {where}: set api.base_url "
                "to the final address (a redirected POST may lose its body)"
            )
        head = read_capped(response, ERROR_BODY_LIMIT, keep_head=True) or b""
        message = server_message(bytes(head), self.scrub, response.reason or f"HTTP {status}")
        if status >= 500 or status == 408:
            raise Retryable(f"{label}: HTTP {status} {message}")
        if status in (401, 403):
            raise AuthError(
                f"the API refused the token (HTTP {status}): {message}; "
                f"check {self.api.token_env}"
            )
        raise FetchError(f"the API rejected the request (HTTP {status}): {message}")

    def records(self, label: str, reply: Reply) -> list[Any]:
        """The list at ``api.records_path`` in a reply; a body that is not JSON is retried."""
        try:
            payload = orjson.loads(reply.content)
        except orjson.JSONDecodeError:
            if bytes(reply.content.lstrip()[:1]) not in (b"{", b"["):
                kind = self.scrub(reply.content_type, 100)
                raise Retryable(f"{label}: response is not JSON ({kind})") from None
            raise Retryable(f"{label}: response is not valid JSON") from None
        return self._at_path(payload, label)

    def _at_path(self, payload: Any, label: str) -> list[Any]:
        path = self.api.records_path
        node = payload
        for i, key in enumerate(path.split(".")):
            if not key:
                continue
            if not isinstance(node, dict) or key not in node:
                if isinstance(payload, dict) and payload.get("success") is False:
                    message = self.scrub(str(payload.get("message")), 300)
                    raise FetchError(f"the API reported an error: {message}")
                where = ".".join(path.split(".")[:i]) or "the response"
                found = ", ".join(sorted(node)) if isinstance(node, dict) else json_type(node)
                raise PagingError(
                    f"{label}: no '{key}' in {where} (api.records_path is "
                    f"'{path}'); found keys: {self.scrub(found, 200)}"
                )
            node = node[key]
        if not isinstance(node, list):
            raise PagingError(
                f"{label}: '{path}' is {json_type(node)}, not a list "
                "of records; set api.records_path in runner.yaml"
            )
        return node
