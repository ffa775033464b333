"""The ``http.client`` transport (runner/fetch/client.py) over real sockets: what it
costs a page (Python calls and ``send`` calls counted, not timed), and that it keeps the
urllib3 transport's rules: keep-alive, a connection the server closed replaced rather than
retried, compressed bodies decoded and capped, TLS verified, a proxy left to urllib3."""

from __future__ import annotations

import datetime as dt
import gzip
import socket
import ssl
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

import orjson
import pytest

from runner.errors import FetchError
from runner.fetch.client import ClientTransport, transport_for
from runner.fetch.transport import Retryable, UrllibTransport, read_capped
from runner.sandbox import Sandbox
from runner.spec.project import ApiSettings
from tests.conftest import collector_held, full_body

Start = Callable[..., Sandbox]
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)


def api_for(url: str) -> ApiSettings:
    return ApiSettings(base_url=url)


def post(transport: Any, body: bytes = b"{}", limit: int = 1 << 24) -> bytes | bytearray | None:
    with transport.post("page 1", body, time.monotonic() + 30) as response:
        return read_capped(response, limit)


def calls_and_sends(transport: Any, body: bytes) -> tuple[int, int, Any]:
    """Python calls one post and its reading make, the ``sendall`` calls among the C
    calls, and the page's records."""
    calls, sends = [0], [0]

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            calls[0] += 1
        elif event == "c_call" and getattr(arg, "__name__", "") == "sendall":
            sends[0] += 1

    with collector_held():
        sys.setprofile(profile)
        try:
            content = post(transport, body)
        finally:
            sys.setprofile(None)
    assert content is not None
    return calls[0], sends[0], orjson.loads(content)["data"]


def test_a_page_is_one_send_and_about_half_the_python_calls_of_urllib3(
    sandbox: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_proxies(monkeypatch)
    api = sandbox(users=120, page_size=50)
    settings = api_for(api.url)
    figures = {}
    for kind in (ClientTransport, UrllibTransport):
        transport = kind(settings, api.headers, 2)
        try:
            for page in (1, 2, 3):  # pages 2 and 3 on an open connection: a run's steady state
                body = orjson.dumps(full_body(isContact=False, applicableFilters=[], page=page))
                calls, sends, records = calls_and_sends(transport, body)
                assert len(records) == (50 if page < 3 else 20)
            figures[kind.__name__] = (calls, sends)
        finally:
            transport.close()
    calls, sends = figures["ClientTransport"]
    assert sends == 1  # the request's head and body leave together: one wake-up of the server
    assert figures["UrllibTransport"][1] == 2  # the head, then the body
    # 167 against urllib3's 330 (2.x as pinned): its pool, response object, header checks
    assert calls < 0.6 * figures["UrllibTransport"][0], figures


def test_without_a_proxy_the_http_client_transport_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    no_proxies(monkeypatch)
    settings = api_for("http://127.0.0.1:9")
    assert type(transport_for(settings, {}, 2)) is ClientTransport
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:8")
    proxied = transport_for(settings, {}, 2)
    assert type(proxied) is UrllibTransport  # the proxy's form of the request: urllib3's
    proxied.close()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert type(transport_for(settings, {}, 2)) is ClientTransport


class Counting(BaseHTTPRequestHandler):
    """A JSON page on HTTP/1.1 keep-alive; counts connections; with ``close_after`` set,
    drops each connection right after its reply (as a server whose keep-alive timeout
    ran out) without saying so in the reply."""

    protocol_version = "HTTP/1.1"
    connections: ClassVar[int] = 0
    requests: ClassVar[int] = 0
    close_after: ClassVar[bool] = False
    closed: ClassVar[threading.Event] = threading.Event()
    encoding: ClassVar[str] = ""

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests += 1
        body = orjson.dumps({"success": True, "data": [{"_id": str(i)} for i in range(40)]})
        extra = {}
        if self.encoding == "gzip":
            body, extra = gzip.compress(body), {"Content-Encoding": "gzip"}
        elif self.encoding == "gzip, gzip":  # encoded twice, listed in the order applied
            body, extra = gzip.compress(gzip.compress(body)), {"Content-Encoding": "gzip, gzip"}
        elif self.encoding == "br":  # not asked for: passed on as it came, as urllib3 does
            extra = {"Content-Encoding": "br"}
        elif self.encoding == "deflate":  # zlib's format, as RFC 9110 says
            body, extra = zlib.compress(body), {"Content-Encoding": "deflate"}
        elif self.encoding == "raw deflate":  # what some servers send as deflate
            packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
            body, extra = packer.compress(body) + packer.flush(), {"Content-Encoding": "deflate"}
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if self.close_after:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            type(self).closed.set()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve(
    handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None
) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def counting() -> Iterator[type[Counting]]:
    handler = type("Fresh", (Counting,), {"closed": threading.Event()})
    yield handler


def test_pages_share_one_keep_alive_connection(counting: type[Counting]) -> None:
    with serve(counting) as url:
        transport = ClientTransport(api_for(url), {}, 2)
        try:
            pages = [post(transport) for _ in range(5)]
        finally:
            transport.close()
    assert all(p and len(orjson.loads(p)["data"]) == 40 for p in pages)
    assert (counting.requests, counting.connections) == (5, 1)


def test_a_connection_the_server_closed_while_idle_is_replaced_not_retried(
    counting: type[Counting],
) -> None:
    counting.close_after = True
    with serve(counting) as url:
        transport = ClientTransport(api_for(url), {}, 2)
        try:
            first = post(transport)
            assert counting.closed.wait(10)  # the server has dropped the idle connection
            counting.closed.clear()
            second = post(transport)  # no Retryable: a fresh connection carries it
            assert counting.closed.wait(10)  # and has dropped that one too
            third = post(transport)
        finally:
            transport.close()
    assert first == second == third
    assert (counting.requests, counting.connections) == (3, 3)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw deflate", "gzip, gzip", "br"])
def test_compressed_replies_are_decoded_and_capped(counting: type[Counting], encoding: str) -> None:
    counting.encoding = encoding
    expected = orjson.dumps({"success": True, "data": [{"_id": str(i)} for i in range(40)]})
    with serve(counting) as url:
        transport = ClientTransport(api_for(url), {}, 2)
        try:
            assert post(transport) == expected
            assert post(transport, limit=len(expected)) == expected  # just fits
            assert post(transport, limit=len(expected) - 1) is None  # one byte past the cap
            assert post(transport) == expected  # a capped reply closes only its connection
        finally:
            transport.close()


def self_signed(tmp_path: Path) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 that no authority signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


def test_a_certificate_no_known_authority_signed_fails_at_once(
    counting: type[Counting], tmp_path: Path
) -> None:
    with serve(counting, tls=self_signed(tmp_path)) as url:
        transport = ClientTransport(api_for(url), {}, 2)
        try:
            with pytest.raises(FetchError) as failed:
                post(transport)
        finally:
            transport.close()
    assert str(failed.value) == f"TLS with {url} failed: SSLCertVerificationError"
    assert counting.requests == 0


def test_a_refused_connection_is_worth_another_try(counting: type[Counting]) -> None:
    with serve(counting) as url:
        pass  # stopped: its port now refuses
    transport = ClientTransport(api_for(url), {}, 2)
    try:
        with pytest.raises(Retryable, match=r"^page 1: connection failed \(Connection refused\)$"):
            post(transport)
    finally:
        transport.close()
