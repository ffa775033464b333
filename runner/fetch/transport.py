"""The wire under :mod:`runner.fetch`: the transport interface, a deadline per request,
reply bodies read with a cap, and the urllib3 transport (used through a proxy).

- :class:`Transport`: the plug point. It sends one body and hands back the open
  reply; a test or another HTTP client swaps it (``PageFetcher(..., transport=)``).
  Without a proxy the one in use is :class:`~runner.fetch.client.ClientTransport`
  (``http.client``: at zero latency a page's CPU is the export's speed);
  :class:`UrllibTransport` through one (a ``requests.Session.post`` costs about twice
  the CPU of the same ``urlopen``, README "Benchmarks").
- :func:`pool_manager`: keep-alive connections, through the environment's proxy
  (as requests reads it), verified against the CA bundle requests uses.
- :class:`Deadlines`: a socket read timeout bounds each wait for bytes, not a
  whole reply; a server sending one byte every half second never trips it. One
  watcher thread shuts the socket of any request past its deadline, whatever
  phase it is in (headers or body), and the blocked read fails at once.
- :func:`read_capped`: a reply body, decompressed in bounded steps and refused
  past a size (a gzip bomb of 1 MB that inflates to 1 GiB never gets past it).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

import requests
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ProxySchemeUnknown,
    SSLError,
)
from urllib3.exceptions import TimeoutError as HTTPTimeout
from urllib3.response import BaseHTTPResponse

from runner.errors import FetchError

if TYPE_CHECKING:
    from runner.spec.project import ApiSettings

READ_STEP = 1 << 20  # decompressed bytes per read: the most held beyond the cap


class Retryable(Exception):
    """A failure worth another try (429, 5xx, dropped connection, timeout, bad body)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Response(Protocol):
    """A reply whose head has arrived; its body is read from it (urllib3's response is one)."""

    status: int
    reason: str | None

    @property
    def headers(self) -> Mapping[str, str]: ...

    def read(self, amt: int | None = None) -> bytes: ...


class Transport(Protocol):
    """Sends one request body; what a test or another HTTP client replaces.

    ``post`` is a context manager: the reply is read and judged inside it, and a
    failure on the wire, there or while sending, leaves it as :class:`Retryable`
    (another try may do) or :class:`~runner.errors.FetchError` (it will not).
    ``label`` names the request in those messages ("page 3").
    """

    def post(self, label: str, body: bytes, deadline: float) -> AbstractContextManager[Response]:
        """Send ``body``; no part of it (connecting, sending, reading) runs past ``deadline``."""

    def close(self) -> None: ...


class Watch:
    """One request under watch: its deadline, its connection once known."""

    __slots__ = ("conn", "deadline", "expired", "shut")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.conn: http.client.HTTPConnection | None = None
        self.expired = False
        self.shut = False


_current = threading.local()  # the Watch of the request this thread is making


def _attach(conn: HTTPConnection) -> None:
    watch: Watch | None = getattr(_current, "watch", None)
    if watch is not None:
        watch.conn = conn


class _WatchedHTTP(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self)
        super().request(*args, **kwargs)


class _WatchedHTTPS(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTP


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPS


class Deadlines:
    """Cut requests off at their deadlines (see the module docstring).

    For example (not run: it needs a server or a project)::

        deadlines = Deadlines()
        with deadlines.watch(time.monotonic() + 5) as watch:
            response = pool.urlopen(...)
        watch.expired
    """

    RECHECK = 0.05  # a request past its deadline with no socket yet (connecting)

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active: set[Watch] = set()
        self._wake_at = float("inf")
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextlib.contextmanager
    def watch(self, deadline: float) -> Iterator[Watch]:
        entry = Watch(deadline)
        with self._cond:
            self._active.add(entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            elif deadline < self._wake_at:
                self._cond.notify()
        _current.watch = entry
        try:
            yield entry
        finally:
            _current.watch = None
            with self._cond:
                self._active.discard(entry)
                entry.conn = None  # the connection may go back to the pool now

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                self._wake_at = float("inf")
                for entry in self._active:
                    if entry.deadline <= now and not entry.shut:
                        entry.expired = True
                        entry.shut = _shut(entry.conn)
                        wake = now + self.RECHECK if not entry.shut else float("inf")
                    else:
                        wake = entry.deadline if not entry.shut else float("inf")
                    self._wake_at = min(self._wake_at, wake)
                timeout = None if self._wake_at == float("inf") else self._wake_at - now
                self._cond.wait(timeout)


def _shut(conn: http.client.HTTPConnection | None) -> bool:
    sock = conn.sock if conn is not None else None
    if sock is None:
        return False
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    return True


def read_capped(
    response: Response, limit: int, *, keep_head: bool = False
) -> bytes | bytearray | None:
    """The decoded body, or None as soon as it grows past ``limit`` bytes (with
    ``keep_head``, its first ``limit`` bytes instead: enough of an error page)."""
    headers = response.headers
    length = headers.get("Content-Length", "")
    if length.isdigit() and "Content-Encoding" not in headers:
        if int(length) <= limit:  # the usual page: one read, its size known
            return response.read()
        if not keep_head:
            return None
    body = bytearray()
    while True:
        chunk = response.read(min(READ_STEP, limit + 1 - len(body)))
        if not chunk:
            return body
        body += chunk
        if len(body) > limit:
            return body[:limit] if keep_head else None


def cut_off(label: str, allowed: float, request_timeout: float) -> str:
    """What a request cut off at its deadline says: the whole-request timeout when
    ``allowed`` was all of it, else the page's retry deadline (both transports)."""
    if allowed >= request_timeout:
        return f"{label}: no complete reply within {allowed:g}s (api.timeout.total)"
    return f"{label}: no complete reply before the page's retry deadline"


class UrllibTransport:
    """:class:`Transport` over one urllib3 pool of ``connections`` keep-alive connections.

    For example (not run: it needs a server or a project)::

        transport = UrllibTransport(api, headers, connections=5)
        with transport.post("page 1", b"{}", time.monotonic() + 30) as response:
            body = read_capped(response, 2**20)
    """

    method = "POST"  # GET for the saved segments' list (runner.fetch.saved), body empty

    def __init__(self, api: ApiSettings, headers: Mapping[str, str], connections: int) -> None:
        self.api = api
        self._headers = dict(headers)
        self._deadlines = Deadlines()
        self._http = pool_manager(api.url, connections)
        # Without a proxy every request goes to one pool: asked directly, it skips the
        # manager's per-request work (parsing the URL, finding the pool by its key,
        # copying headers): about a tenth of the transport's CPU per page. Through a
        # proxy the manager's urlopen writes the proxy's form of the request.
        self._urlopen: Callable[..., BaseHTTPResponse] = self._http.urlopen
        self._target = api.url
        if self._http.proxy is None:
            self._urlopen = self._http.connection_from_url(api.url).urlopen
            self._target = urllib3.util.parse_url(api.url).request_uri

    @contextlib.contextmanager
    def post(self, label: str, body: bytes, deadline: float) -> Iterator[Response]:
        now = time.monotonic()
        allowed = min(self.api.request_timeout, deadline - now)
        timeout = urllib3.Timeout(
            connect=max(0.001, min(self.api.connect_timeout, allowed)),
            read=max(0.001, min(self.api.read_timeout, allowed)),
        )
        with self._deadlines.watch(now + allowed) as watch:
            try:
                with self._open(label, body, timeout) as response:
                    yield response
            except (Retryable, HTTPError, OSError) as exc:
                if watch.expired:
                    raise Retryable(cut_off(label, allowed, self.api.request_timeout)) from exc
                raise
            if watch.expired:  # shut mid-reply: an end that looked normal may be a cut
                raise Retryable(cut_off(label, allowed, self.api.request_timeout))

    @contextlib.contextmanager
    def _open(self, label: str, body: bytes, timeout: urllib3.Timeout) -> Iterator[Response]:
        response = None
        try:
            response = self._urlopen(
                self.method,
                self._target,
                body=body,
                headers=self._headers,
                timeout=timeout,
                retries=False,
                redirect=False,
                preload_content=False,
            )
            yield response
        except SSLError as exc:
            if tls_is_permanent(exc):
                raise FetchError(f"TLS with {host_of(self.api.url)} failed: {reason(exc)}") from exc
            raise Retryable(f"{label}: TLS failed ({reason(exc)})") from exc
        except NewConnectionError as exc:  # before HTTPTimeout: urllib3 makes it a subclass
            raise Retryable(f"{label}: connection failed ({reason(exc)})") from exc
        except HTTPTimeout as exc:
            raise Retryable(f"{label}: timed out") from exc
        except ProtocolError as exc:
            raise Retryable(f"{label}: connection failed ({reason(exc)})") from exc
        except HTTPError as exc:
            raise Retryable(f"{label}: {type(exc).__name__}") from exc
        finally:
            if response is not None:
                response.close()  # a reply not read to its end takes its connection with it
                response.release_conn()

    def close(self) -> None:
        self._deadlines.close()
        self._http.clear()


def pool_manager(url: str, connections: int) -> urllib3.PoolManager:
    """Keep-alive connections for ``url``: through the environment's proxy if it names
    one (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY, as requests reads them), verified
    against the CA bundle requests uses."""
    options: dict[str, Any] = {
        "num_pools": 2,
        "maxsize": connections,
        "retries": False,
        "ca_certs": requests.utils.DEFAULT_CA_BUNDLE_PATH,
    }
    proxy = proxy_for(url)
    manager: urllib3.PoolManager
    if not proxy:
        manager = urllib3.PoolManager(**options)
    else:
        parsed = urllib3.util.parse_url(proxy)
        if parsed.auth:
            options["proxy_headers"] = urllib3.make_headers(proxy_basic_auth=unquote(parsed.auth))
        try:
            manager = urllib3.ProxyManager(proxy, **options)
        except ProxySchemeUnknown as exc:
            raise FetchError(
                f"proxy {host_of(proxy)} for {host_of(url)} has scheme {parsed.scheme!r}; "
                "supported: http, https"
            ) from exc
    manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return manager


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (as requests reads it), if any."""
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
    return ssl_is_permanent(exc.args[0] if exc.args else None)


def ssl_is_permanent(inner: object) -> bool:
    """:func:`tls_is_permanent` for the ``ssl`` module's own error."""
    if isinstance(inner, ssl.SSLCertVerificationError):
        return True
    return isinstance(inner, ssl.SSLError) and inner.reason in _PERMANENT_TLS


def host_of(url: str) -> str:
    """scheme://host:port without credentials or path."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def reason(exc: Exception) -> str:
    """A few words for a network failure, never the library's text (it may hold a URL)."""
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
