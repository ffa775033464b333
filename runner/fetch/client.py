"""The wire without a proxy: :class:`ClientTransport`, the standard library's
``http.client`` on keep-alive connections, with the rules of the urllib3 transport.

At zero latency a page's CPU is the export's speed, and urllib3's pool and response cost
about 0.2 ms a page more than ``http.client`` alone (README "Benchmarks"). What the
urllib3 transport guarantees holds the same way:

- the same deadlines (:class:`~runner.fetch.transport.Deadlines` shuts a request's
  socket at its deadline) and timeouts (``api.timeout.connect`` to connect,
  ``api.timeout.read`` for each wait for bytes);
- TLS verified against the CA bundle requests uses, a certificate or protocol failure
  final, a handshake cut short worth another try (:func:`tls_is_permanent`);
- a redirect is answered, not followed (``http.client`` never follows one);
- bodies decoded (gzip, deflate: what the request accepts) in bounded steps by urllib3's
  own decoders, so :func:`~runner.fetch.transport.read_capped` caps them as before;
- a connection the server closed while idle is replaced before it is used, not retried;
- the request's head and body leave in one ``send`` (urllib3 and ``http.client`` make
  two): on a loaded machine each send wakes the server, and a profile of a zero-latency
  export saw about a millisecond of wall time in each; ``TCP_NODELAY`` too, as urllib3
  sets it.

Through a proxy the urllib3 transport stays (:func:`transport_for`): it writes the
proxy's form of a request, with its credentials.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import requests
from urllib3.response import ContentDecoder, DeflateDecoder, GzipDecoder, MultiDecoder

from runner.errors import FetchError
from runner.fetch.transport import (
    Deadlines,
    Response,
    Retryable,
    Transport,
    UrllibTransport,
    cut_off,
    host_of,
    proxy_for,
    reason,
    ssl_is_permanent,
)

if TYPE_CHECKING:
    from runner.spec.project import ApiSettings

RAW_STEP = 1 << 16  # compressed bytes read at a time


def transport_for(api: ApiSettings, headers: Mapping[str, str], connections: int) -> Transport:
    """The transport for ``api``: :class:`ClientTransport`, or through the environment's
    proxy (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY) the urllib3 one."""
    if proxy_for(api.url):
        return UrllibTransport(api, headers, connections)
    return ClientTransport(api, headers, connections)


class _Reply:
    """An ``http.client`` reply as :class:`~runner.fetch.transport.Response`: its body
    decoded as it is read, at most ``amt`` bytes a read."""

    def __init__(self, raw: http.client.HTTPResponse) -> None:
        self.raw = raw
        self.status = raw.status
        self.reason: str | None = raw.reason
        self.headers = cast(Mapping[str, str], raw.headers)  # an email.message.Message
        encoding = raw.headers.get("Content-Encoding", "").strip().lower()
        self._decoder = _decoder(encoding) if encoding and encoding != "identity" else None
        self._ended = False
        self.reusable = False  # read to its end on a connection that stays open

    def close(self) -> None:
        """Done with it: its connection may carry another request only if this reply
        was read to its end (a reply the connection no longer tracks, such as one that
        says ``Connection: close``, holds the socket until it is closed here)."""
        self.reusable = self.raw.isclosed() and not self.raw.will_close
        self.raw.close()

    def read(self, amt: int | None = None) -> bytes:
        if self._decoder is None:
            return self.raw.read(amt)
        out = bytearray()
        while not self._ended and (want := -1 if amt is None else amt - len(out)):
            held = self._decoder.decompress(b"", max_length=want)  # left from the last chunk
            if held:
                out += held
                continue
            chunk = self.raw.read(RAW_STEP)
            if chunk:
                out += self._decoder.decompress(chunk, max_length=want)
            else:
                out += self._decoder.flush()
                self._ended = True
        return bytes(out)


_DECODED = {"gzip", "x-gzip", "deflate"}  # what urllib3 decodes of what the request accepts


def _decoder(encoding: str) -> ContentDecoder | None:
    """urllib3's decoder for a ``Content-Encoding``; None for one it would pass on as it
    came (the body then fails as JSON, and is tried again)."""
    parts = [part.strip() for part in encoding.split(",")]
    if not set(parts) <= _DECODED:
        return None
    if len(parts) > 1:
        return MultiDecoder(encoding)
    return GzipDecoder() if parts[0] != "deflate" else DeflateDecoder()


def _sent_whole(conn: Any, body: Any, encode_chunked: bool) -> bool:
    """Send ``conn``'s buffered request head and ``body`` in one ``send``, if the body is
    bytes (True), as ``http.client``'s ``_send_output`` would in two."""
    if type(body) is not bytes or encode_chunked:
        return False
    conn._buffer.extend((b"", b""))  # the blank line that ends the head
    head = b"\r\n".join(conn._buffer)
    del conn._buffer[:]
    conn.send(head + body)
    return True


class _Connection(http.client.HTTPConnection):
    """``http.client``'s connection, a request's head and body sent together.

    ``_send_output`` is the step of ``request`` that sends both (since Python 3.0; typeshed
    leaves it out, hence the ignores); anything but a body in bytes takes its own way."""

    def _send_output(self, message_body: Any = None, encode_chunked: bool = False) -> None:
        if not _sent_whole(self, message_body, encode_chunked):
            super()._send_output(message_body, encode_chunked)  # type: ignore[misc]


class _TLSConnection(http.client.HTTPSConnection):
    """:class:`_Connection` over TLS."""

    def _send_output(self, message_body: Any = None, encode_chunked: bool = False) -> None:
        if not _sent_whole(self, message_body, encode_chunked):
            super()._send_output(message_body, encode_chunked)  # type: ignore[misc]


class ClientTransport:
    """:class:`~runner.fetch.transport.Transport` over ``http.client``: up to
    ``connections`` idle keep-alive connections kept for the next request (a request
    takes one, or opens one when none is idle).

    For example (not run: it needs a server or a project)::

        transport = ClientTransport(api, headers, connections=5)
        with transport.post("page 1", b"{}", time.monotonic() + 30) as response:
            body = read_capped(response, 2**20)
    """

    def __init__(self, api: ApiSettings, headers: Mapping[str, str], connections: int) -> None:
        self.api = api
        self._headers = dict(headers)
        self._deadlines = Deadlines()
        parts = urlsplit(api.url)
        if parts.scheme not in ("http", "https"):
            raise FetchError(f"api.base_url {host_of(api.url)}: the scheme must be http or https")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname or "", parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._tls: ssl.SSLContext | None = None
        if self._https:
            self._tls = ssl.create_default_context(cafile=requests.utils.DEFAULT_CA_BUNDLE_PATH)
        self._idle: list[http.client.HTTPConnection] = []
        self._keep = connections
        self._lock = threading.Lock()
        self._closed = False

    @contextlib.contextmanager
    def post(self, label: str, body: bytes, deadline: float) -> Iterator[Response]:
        now = time.monotonic()
        allowed = min(self.api.request_timeout, deadline - now)
        with self._deadlines.watch(now + allowed) as watch:
            conn = self._take()
            watch.conn = conn  # the watcher shuts its socket at the deadline
            reply: _Reply | None = None
            try:
                with self._exchange(label, conn, body, allowed) as reply:
                    yield reply
            except Retryable as exc:
                if watch.expired:
                    raise Retryable(cut_off(label, allowed, self.api.request_timeout)) from exc
                raise
            finally:
                watch.conn = None
                self._give_back(conn, reply is not None and reply.reusable and not watch.expired)
            if watch.expired:  # shut mid-reply: an end that looked normal may be a cut
                raise Retryable(cut_off(label, allowed, self.api.request_timeout))

    @contextlib.contextmanager
    def _exchange(
        self, label: str, conn: http.client.HTTPConnection, body: bytes, allowed: float
    ) -> Iterator[_Reply]:
        """One request on ``conn`` and its reply; failures on the wire as Retryable or
        FetchError, with the urllib3 transport's words."""
        reply = None
        try:
            if conn.sock is None:
                conn.timeout = max(0.001, min(self.api.connect_timeout, allowed))
                conn.connect()
                assert conn.sock is not None
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            assert conn.sock is not None
            conn.sock.settimeout(max(0.001, min(self.api.read_timeout, allowed)))
            conn.request("POST", self._path, body, self._headers)
            reply = _Reply(conn.getresponse())
            yield reply
        except ssl.SSLError as exc:
            if ssl_is_permanent(exc):
                raise FetchError(f"TLS with {host_of(self.api.url)} failed: {reason(exc)}") from exc
            raise Retryable(f"{label}: TLS failed ({reason(exc)})") from exc
        except TimeoutError as exc:
            raise Retryable(f"{label}: timed out") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise Retryable(f"{label}: connection failed ({reason(exc)})") from exc
        except zlib.error as exc:
            raise Retryable(f"{label}: reply could not be decompressed ({reason(exc)})") from exc
        finally:
            if reply is not None:
                reply.close()

    def _take(self) -> http.client.HTTPConnection:
        """An idle connection still open at the other end, or a new one."""
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not _dropped(conn):
                    return conn
                conn.close()
        if self._https:
            return _TLSConnection(self._host, self._port, context=self._tls)
        return _Connection(self._host, self._port)

    def _give_back(self, conn: http.client.HTTPConnection, reusable: bool) -> None:
        """Keep a connection whose reply was read to its end; close any other (a reply
        left half read, or a socket the deadline shut, cannot carry another)."""
        with self._lock:
            if reusable and not self._closed and len(self._idle) < self._keep:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        self._deadlines.close()
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle connection was closed by the server (or holds bytes nobody asked
    for): readable before a request is sent means it cannot carry one."""
    if conn.sock is None:
        return False
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
