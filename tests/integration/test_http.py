"""The HTTP edges of `segments export`: a proxy from the environment, redirects, TLS.

Each test runs the CLI in a child process against servers on 127.0.0.1: the
sandbox, a small forwarding proxy, a server that only redirects.
"""

from __future__ import annotations

import csv
import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, api_env, make_project, run_cli
from tests.integration.test_export import ALL_CONTACTS, TOKEN

Start = Callable[..., Sandbox]
NO_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class ForwardingProxy(BaseHTTPRequestHandler):
    """A plain HTTP proxy: takes ``POST http://host:port/path`` and forwards it."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_POST(self) -> None:
        self.seen.append((self.path, self.headers.get("Proxy-Authorization")))
        target = urlsplit(self.path)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("proxy-authorization",)
        }
        upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=10)
        try:
            upstream.request("POST", target.path, body=body, headers=headers)
            reply = upstream.getresponse()
            data = reply.read()
        finally:
            upstream.close()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.getheader("Content-Type") or "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class Redirect(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(301)
        self.send_header("Location", "https://api.example.com/inbox/users")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _project(tmp_path: Path) -> Path:
    return make_project(tmp_path, {"everyone": ALL_CONTACTS.format(fmt="csv")})


def _no_proxies() -> dict[str, str | None]:
    return {name: None for var in NO_PROXY_VARS for name in (var, var.upper())}


def test_export_goes_through_the_proxy_the_environment_names(
    sandbox: Start, tmp_path: Path
) -> None:
    api = sandbox(users=230, page_size=50, token=TOKEN)
    project = _project(tmp_path)
    ForwardingProxy.seen = []
    with serve(ForwardingProxy) as proxy:
        proxied = proxy.replace("http://", "http://ops:p%40ss@")
        env = {**_no_proxies(), **api_env(api), "HTTP_PROXY": proxied}
        result = run_cli("export", "--concurrency", "1", "--as-of", ANCHOR, cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    with open(project / "out" / "everyone.csv", newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 230
    # every request the sandbox answered went through the proxy (how many depends on how
    # the list is read: windows, the check for contacts outside them), with its
    # credentials (user "ops", password "p@ss" percent-decoded): base64 of "ops:p@ss".
    assert api.stats["pages"] >= 6  # pages 1..5 and the empty page 6 at least
    assert [path for path, _ in ForwardingProxy.seen] == [api.url + "/inbox/users"] * api.stats[
        "pages"
    ]
    assert {auth for _, auth in ForwardingProxy.seen} == {"Basic b3BzOnBAc3M="}
    assert "p@ss" not in result.stdout + result.stderr


def test_no_proxy_bypasses_the_proxy(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=60, page_size=50, token=TOKEN)
    project = _project(tmp_path)
    ForwardingProxy.seen = []
    with serve(ForwardingProxy) as proxy:
        env = {**_no_proxies(), **api_env(api), "HTTP_PROXY": proxy, "NO_PROXY": "127.0.0.1"}
        result = run_cli("export", "--concurrency", "1", "--as-of", ANCHOR, cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert ForwardingProxy.seen == []
    assert api.stats["pages"] >= 3  # 50 + 10 + the empty page, straight to the sandbox


def test_unsupported_proxy_scheme_is_one_line(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=10, token=TOKEN)
    env = {**_no_proxies(), **api_env(api), "HTTP_PROXY": "socks5://127.0.0.1:9"}
    result = run_cli("export", "--as-of", ANCHOR, cwd=_project(tmp_path), env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "proxy socks5://127.0.0.1:9 for http://127.0.0.1" in result.stdout + result.stderr
    assert "supported: http, https" in result.stdout + result.stderr


def test_a_redirect_fails_at_once_naming_the_new_address(tmp_path: Path) -> None:
    with serve(Redirect) as url:
        env = {**_no_proxies(), "FLOWMATIX_API_URL": url, "FLOWMATIX_TOKEN": TOKEN}
        result = run_cli("export", "--as-of", ANCHOR, cwd=_project(tmp_path), env=env)
    out = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Traceback" not in out
    assert "HTTP 301, a redirect to https://api.example.com/inbox/users" in out
    assert "retry" not in out.lower()


def test_tls_failure_is_not_retried(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=10, token=TOKEN)
    https = api.url.replace("http://", "https://")  # the sandbox speaks plain HTTP
    env = {**_no_proxies(), "FLOWMATIX_API_URL": https, "FLOWMATIX_TOKEN": TOKEN}
    result = run_cli("export", "--as-of", ANCHOR, cwd=_project(tmp_path), env=env)
    out = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Traceback" not in out
    assert f"TLS with {https} failed" in out
    assert api.stats["pages"] == 0  # no request ever reached the API


class RedirectWithCredentials(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(307)
        self.send_header("Location", "https://ops:pw-SECRET-77@api.example.com/inbox/users")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_urls_are_shown_without_credentials(tmp_path: Path) -> None:
    with serve(RedirectWithCredentials) as url:
        with_user = url.replace("http://", "http://me:url-SECRET-88@")
        env = {**_no_proxies(), "FLOWMATIX_API_URL": with_user, "FLOWMATIX_TOKEN": TOKEN}
        result = run_cli("export", "--as-of", ANCHOR, cwd=_project(tmp_path), env=env)
    out = result.stdout + result.stderr
    assert result.returncode == 1
    assert "HTTP 307, a redirect to https://api.example.com/inbox/users" in out
    assert "SECRET" not in out
