"""The sandbox HTTP server: one thread per connection, one write per reply."""

from __future__ import annotations

import datetime as dt
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from runner.sandbox.api import BadRequest, check_body, compile_filter
from runner.sandbox.data import Population
from runner.sandbox.faults import FaultPlan

OK_MESSAGE = b"Users fetched successfully"
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class SandboxOptions:
    host: str = "127.0.0.1"
    port: int = 0
    users: int = 1000
    seed: int = 1
    token: str = "sandbox-token"
    page_size: int = 50
    latency_ms: float = 0.0
    faults: str = ""
    churn: int = 0
    anchor: str | None = None  # ISO instant the data is generated around; default today 00:00Z
    slow_ms: float = 1500.0
    retry_after: int = 1
    ignore_page: bool = False
    path: str = "/inbox/users"


@dataclass
class _Matches:
    blobs: list[bytes]
    ids: list[str]
    lock: threading.Lock = field(default_factory=threading.Lock)


def envelope(success: bool, message: str, code: int, data: Any = None) -> bytes:
    body: dict[str, Any] = {"success": success, "message": message, "code": code}
    if data is not None:
        body["data"] = data
    return orjson.dumps(body)


class Sandbox:
    """A running sandbox. Use as a context manager, or :meth:`serve_forever`.

    >>> with Sandbox(SandboxOptions(users=10)) as api:  # doctest: +SKIP
    ...     requests.post(api.url + "/inbox/users", json=body, headers=api.headers)
    """

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.options = options or SandboxOptions()
        anchor = (
            dt.datetime.fromisoformat(self.options.anchor.replace("Z", "+00:00"))
            if self.options.anchor
            else dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        )
        self.anchor = anchor
        self.population = Population.generate(self.options.users, self.options.seed, anchor)
        self.faults = FaultPlan.parse(self.options.faults, self.options.seed)
        self.stats: Counter[str] = Counter()
        self.inserted: list[str] = []
        self._cache: dict[bytes, _Matches] = {}
        self._cache_lock = threading.Lock()
        self._churn_rng = random.Random(self.options.seed + 1)
        self._server = _Server((self.options.host, self.options.port), _Handler)
        self._server.sandbox = self
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.options.token}", "authtype": "Key"}

    def start(self) -> Sandbox:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- ground truth ----------------------------------------------------
    def matches(self, body: dict[str, Any]) -> _Matches:
        key = orjson.dumps(
            {k: v for k, v in body.items() if k != "page"}, option=orjson.OPT_SORT_KEYS
        )
        with self._cache_lock:
            found = self._cache.get(key)
            if found is None:
                test = compile_filter(body)
                pop = self.population
                picked = [i for i, facts in enumerate(pop.facts) if test(facts)]
                found = _Matches([pop.blobs[i] for i in picked], [pop.facts[i].id for i in picked])
                self._cache[key] = found
        return found

    def truth(self, body: dict[str, Any]) -> list[str]:
        """Ids of the contacts that match ``body`` right now, in the order the API pages them."""
        found = self.matches(check_body(dict(body)))
        with found.lock:
            return list(found.ids)

    # -- one request -----------------------------------------------------
    def page(self, body: dict[str, Any]) -> bytes:
        found = self.matches(body)
        size = self.options.page_size
        page = 1 if self.options.ignore_page else body["page"]
        with found.lock:
            chunk = found.blobs[(page - 1) * size : page * size]
            if chunk and self.options.churn:
                self._churn(found)
        self.stats["pages"] += 1
        return b'{"success":true,"message":"%s","data":[%s],"code":200}' % (
            OK_MESSAGE,
            b",".join(chunk),
        )

    def _churn(self, found: _Matches) -> None:
        # New matching contacts arrive at the top, pushing everything down a page.
        template = orjson.loads(found.blobs[0])
        for _ in range(self.options.churn):
            template["_id"] = f"{self._churn_rng.getrandbits(96):024x}"
            found.blobs.insert(0, orjson.dumps(template))
            found.ids.insert(0, template["_id"])
            self.inserted.append(template["_id"])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    sandbox: Sandbox


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "Express"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Without this, keep-alive replies stall ~40 ms on delayed ACKs (Nagle).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(
        self,
        code: int,
        body: bytes,
        content_type: str = "application/json; charset=utf-8",
        extra: str = "",
    ) -> None:
        head = (
            f"HTTP/1.1 {code} {REASONS.get(code, 'Error')}\r\n"
            f"X-Powered-By: Express\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n"
        ).encode("latin-1")
        self.wfile.write(head + body)

    def _error(self, code: int, message: str, extra: str = "") -> None:
        self._send(code, envelope(False, message, code), extra=extra)

    def do_GET(self) -> None:
        self._error(404, f"Cannot GET {self.path}")

    def do_POST(self) -> None:
        sandbox = self.server.sandbox
        opts = sandbox.options
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.split("?")[0] != opts.path:
            self._error(404, f"Cannot POST {self.path}")
            return
        fault = sandbox.faults.next()
        if fault:
            sandbox.stats[f"fault:{fault}"] += 1
            if fault == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault == "429":
                self._error(
                    429,
                    "Too many requests, please try again later.",
                    extra=f"Retry-After: {opts.retry_after}\r\n",
                )
                return
            if fault == "html":
                self._send(502, HTML_502, "text/html")
                return
            if fault in ("500", "502", "503"):
                self._error(int(fault), "Something went wrong")
                return
            if fault == "slow":
                time.sleep(opts.slow_ms / 1000)
        if opts.latency_ms:
            time.sleep(opts.latency_ms / 1000)
        auth = self.headers.get("Authorization", "")
        if auth != f"Bearer {opts.token}" or self.headers.get("authtype") != "Key":
            sandbox.stats["unauthorized"] += 1
            self._error(401, "Unauthorized: invalid or missing token")
            return
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self._error(400, "Unexpected token in JSON body")
            return
        try:
            check_body(body)
        except BadRequest as exc:
            sandbox.stats["bad_request"] += 1
            self._error(400, str(exc))
            return
        self._send(200, sandbox.page(body))
