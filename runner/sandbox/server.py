"""The sandbox HTTP server: one thread per connection, one write per reply."""

from __future__ import annotations

import datetime as dt
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from runner.sandbox import dataset, faults
from runner.sandbox.api import BadRequest, check_body, compile_filter, created_rows
from runner.sandbox.data import RECORDS
from runner.sandbox.dataset import Dataset, Recipe
from runner.sandbox.faults import ECHO_FORMS, FaultPlan, echo_text, envelope_body
from runner.sandbox.load import CHURN, Arrivals, Gate, MatchList
from runner.sandbox.options import PAGING, SandboxOptions
from runner.sandbox.saved import PATH, segments_reply

OK_MESSAGE = b"Users fetched successfully"
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
CUT_SHORT = b'{"success":true,"message":"Users fetched successfully","data":[{"_id":'
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


# Makes the contacts (runner.sandbox.dataset.build): a caller that starts many servers
# can pass one that keeps what it built.
Build = Callable[[Recipe], Dataset]


def envelope(success: bool, message: str, code: int, data: Any = None) -> bytes:
    body: dict[str, Any] = {"success": success, "message": message, "code": code}
    if data is not None:
        body["data"] = data
    return orjson.dumps(body)


class Sandbox:
    """A running sandbox. Use as a context manager, or :meth:`serve_forever`::

    with Sandbox(SandboxOptions(users=10)) as api:
        requests.post(api.url + "/inbox/users", json=body, headers=api.headers)
    """

    def __init__(self, options: SandboxOptions | None = None, build: Build = dataset.build) -> None:
        self.options = opts = options or SandboxOptions()
        anchor = (
            dt.datetime.fromisoformat(opts.anchor.replace("Z", "+00:00"))
            if opts.anchor
            else dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        )
        self.anchor = anchor
        for name, value, known in (
            ("paging", opts.paging, PAGING),
            ("records", opts.records, RECORDS),
            ("churn_at", opts.churn_at, CHURN),
            ("echo_form", opts.echo_form, ECHO_FORMS),
        ):
            if value not in known:
                raise ValueError(f"sandbox {name} {value!r}; choose one of {', '.join(known)}")
        missing = (opts.missing_created, opts.missing_form, opts.missing_at)
        data = build(Recipe(opts.users, opts.seed, anchor, opts.shape, missing, opts.records,
                            opts.ties, opts.tie_at, opts.paging == "scrambled"))  # fmt: skip
        self.population, self.missing_created = data.population, data.missing_created
        self.tie_instant = data.tie_instant
        self.faults = FaultPlan.parse(self.options.faults, self.options.seed)
        self.stats: Counter[str] = Counter()
        self.gate = Gate(self.options.capacity, self.stats)
        self.arrivals = Arrivals(self.population, anchor, self.options.seed)
        self.inserted: list[Any] = self.arrivals.inserted  # ids of contacts added by churn
        self.deleted: list[Any] = self.arrivals.deleted  # and deleted (churn_at="delete")
        self._cache: dict[bytes, MatchList] = {}
        self._cache_lock = threading.Lock()
        self._closing = threading.Event()
        self._bomb: bytes | None = None
        self._bomb_lock = threading.Lock()
        self._server = _Server((self.options.host, self.options.port), _Handler)
        self._server.sandbox = self
        self._thread: threading.Thread | None = None

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
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def matches(self, body: dict[str, Any]) -> MatchList:
        key = orjson.dumps(
            {k: v for k, v in body.items() if k != "page"}, option=orjson.OPT_SORT_KEYS
        )
        with self._cache_lock:
            found = self._cache.get(key)
            if found is None:
                if self.options.paging == "unfiltered":
                    applied = [f for f in body["applicableFilters"] if f != "createdAt"]
                    body = {**body, "applicableFilters": applied}
                facts, dated = self.population.facts, self.population.dated
                scrambled = self.options.paging == "scrambled"
                rows = range(len(facts)) if scrambled else created_rows(facts, body, dated)
                found = MatchList([], [], compile_filter(body), rows.start, rows.stop)
                self._cache[key] = found
        return found

    def truth(self, body: dict[str, Any]) -> list[str]:
        """Ids of the contacts that match ``body`` right now, in the order the API pages them."""
        found = self.matches(check_body(dict(body)))
        with self._cache_lock, found.lock:
            found.fill(self.population, sys.maxsize)
            return list(found.ids)

    # -- one request -----------------------------------------------------
    def page(self, body: dict[str, Any]) -> bytes:
        found = self.matches(body)
        size = self.options.page_size
        mode = "ignore" if self.options.ignore_page else self.options.paging
        number = body["page"]
        with self._cache_lock, found.lock:  # the lists are read as far as pages ask
            found.fill(self.population, max(number, 2) * size)
            blobs = found.blobs
            if mode == "ignore":
                chunk = blobs[:size]
            elif mode == "rotate":
                turn = (number - 1) % max(1, min(size, len(blobs)))
                chunk = blobs[turn:size] + blobs[:turn]
            elif mode == "alternate":
                chunk = blobs[:size] if number % 2 else blobs[size : 2 * size]
            else:
                chunk = blobs[(number - 1) * size : number * size]
                if not chunk and mode == "endless":
                    chunk = self.population.newcomers(number, size)
            skipped = min((number - 1) * size, len(blobs))
        if self.options.skip_cost_us:
            time.sleep(skipped * self.options.skip_cost_us / 1e6)
        if chunk and self.options.churn:
            self._churn(found)
        self.stats["pages"] += 1
        return b'{"success":true,"message":"%s","data":[%s],"code":200}' % (
            OK_MESSAGE,
            b",".join(chunk),
        )

    @property
    def closing(self) -> threading.Event:
        return self._closing

    def bomb(self) -> bytes:
        """A gzip body of about 1 KiB per MiB that inflates to ``bomb_mb`` MiB."""
        with self._bomb_lock:
            if self._bomb is None:
                self._bomb = faults.gzip_bomb(b'{"success":true,"data":[', self.options.bomb_mb)
            return self._bomb

    def backdate(self, count: int, index: int) -> list[Any]:
        """Contacts imported now with row ``index``'s createdAt: :meth:`Arrivals.backdate`."""
        with self._cache_lock:
            return self.arrivals.backdate(count, index, list(self._cache.values()))

    def _churn(self, found: MatchList) -> None:
        with self._cache_lock:  # see load.CHURN
            opts = self.options
            lists, size = self._cache.values(), opts.page_size
            self.arrivals.churn(opts.churn_at, opts.churn, found, lists, size)


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
        super().setup()  # and no Nagle: keep-alive replies stall ~40 ms on delayed ACKs
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stdout
        pass

    def _send(
        self,
        code: int,
        body: bytes,
        content_type: str = "application/json; charset=utf-8",
        extra: str = "",
        trickle: bool = False,
    ) -> None:
        head = (
            f"HTTP/1.1 {code} {REASONS.get(code, 'Error')}\r\n"
            f"X-Powered-By: Express\r\nContent-Type: {content_type}\r\n"
            f"Date: {faults.http_date(self.server.sandbox.options.clock_skew_s)}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n"
        ).encode("latin-1")
        self.server.sandbox.gate.leave()  # the work is done; given back after, it raced
        self._trickle(head + body) if trickle else self.wfile.write(head + body)

    def _trickle(self, reply: bytes) -> None:
        """One byte at a time, until the reply is out, the client leaves or the sandbox stops."""
        sandbox = self.server.sandbox
        self.close_connection = True
        for i in range(len(reply)):
            if sandbox.closing.wait(sandbox.options.trickle_ms / 1000):
                return
            try:
                self.wfile.write(reply[i : i + 1])
            except OSError:
                return

    def _error(self, code: int, message: str, extra: str = "") -> None:
        self._send(code, envelope(False, message, code), extra=extra)

    def _refused(self) -> bool:
        """Answer 401 unless the request carries the token and ``authtype: Key``."""
        sandbox = self.server.sandbox
        auth = self.headers.get("Authorization", "")
        if auth == f"Bearer {sandbox.options.token}" and self.headers.get("authtype") == "Key":
            return False
        sandbox.stats["unauthorized"] += 1
        self._error(401, "Unauthorized: invalid or missing token")
        return True

    def do_GET(self) -> None:
        """The saved segments (:mod:`runner.sandbox.saved`); faults count it as a request."""
        sandbox = self.server.sandbox
        if self.path.split("?")[0] != PATH:
            self._error(404, f"Cannot GET {self.path}")
            return
        fault = sandbox.faults.next()
        if fault and self._fault(fault):
            sandbox.stats[f"fault:{fault}"] += 1
        elif not self._refused():
            sandbox.stats[f"GET {PATH}"] += 1
            self._send(200, segments_reply(sandbox.options.saved))

    def _fault(self, fault: str) -> bool:
        """Serve ``fault`` if it replaces the reply; True when the request is answered."""
        opts = self.server.sandbox.options
        echo = echo_text(self.headers.get("Authorization", ""), opts.echo_form)
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif fault == "429":
            self._error(
                429,
                "Too many requests, please try again later.",
                extra=f"Retry-After: {opts.retry_after}\r\n",
            )
        elif fault == "html":
            self._send(502, HTML_502, "text/html")
        elif fault in ("500", "502", "503"):
            self._error(int(fault), "Something went wrong")
        elif fault in ("echo401", "echo500"):
            self._error(int(fault[4:]), echo)
        elif fault == "echohtml":
            page = f"<html><head><title>{echo}</title></head><body>{echo}</body></html>"
            self._send(502, page.encode(), "text/html")
        elif fault == "echotext":
            self._send(503, echo.encode(), "text/plain")
        elif fault == "badjson":
            self._send(200, CUT_SHORT)
        elif fault == "bomb":
            self._send(200, self.server.sandbox.bomb(), extra="Content-Encoding: gzip\r\n")
        elif (said := envelope_body(fault)) is not None:  # a failure in a 200's body
            wait = f"Retry-After: {opts.retry_after}\r\n" if fault.startswith("env429") else ""
            self._send(200, said, extra=wait)
        else:
            return False
        return True

    def do_POST(self) -> None:
        gate = self.server.sandbox.gate
        if not gate.admit():  # a gateway's answer: at once, no latency
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._fault("429")
            return
        try:
            self._serve()
        finally:
            gate.leave()

    def _serve(self) -> None:
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
            if self._fault(fault):
                return
            if fault == "slow":
                time.sleep(opts.slow_ms / 1000)
        if opts.latency_ms:
            time.sleep(opts.latency_ms / 1000)
        if self._refused():
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
        page = sandbox.page(body)
        self._send(
            200, page[: len(page) // 2] if fault == "cut" else page, trickle=fault == "trickle"
        )
