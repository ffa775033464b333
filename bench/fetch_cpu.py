"""CPU per page of the fetch path, layer by layer, against the sandbox (zero latency).

.venv/bin/python -m bench.fetch_cpu [PAGES]

Each client posts pages 1..PAGES of 50 contacts and decodes them with orjson; the
figure is this process's CPU per page (process time: waiting for the server is not
counted), best of 5 rounds, the clients taking turns. From the plainest to the
runner's own path:

- http.client: one keep-alive connection (bench/bare_loop.py's client);
- urllib3 connection: urllib3's HTTPConnection used directly, no pool;
- urllib3 PoolManager.urlopen: what UrllibTransport called before (the manager finds
  the pool by the URL each time);
- urllib3 HTTPConnectionPool.urlopen: what UrllibTransport calls without a proxy (the
  one pool, asked directly: timeouts, checks);
- UrllibTransport.post, ClientTransport.post: the runner's two transports (through a
  proxy, and without one: http.client, head and body in one send), deadline watch and
  capped read included;
- PageFetcher: the runner's whole fetch path (transport, deadlines, retries loop,
  paging, de-duplication), ``api.windows: false``, concurrency 1.

The gaps say where a page's CPU goes before any row is built.
"""

from __future__ import annotations

import dataclasses
import functools
import http.client
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
import urllib3
from urllib3.connection import HTTPConnection

from bench.bare_loop import BODY
from bench.common import TOKEN, SandboxProcess
from runner.fetch import PageFetcher
from runner.fetch.client import ClientTransport
from runner.fetch.fetcher import USER_AGENT
from runner.fetch.transport import UrllibTransport, read_capped
from runner.spec.project import ApiSettings
from runner.spec.schema import filter_defaults

HEADERS = {
    "authtype": "Key",
    "Authorization": f"Bearer {TOKEN}",
    "Content-Type": "application/json",
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",
    "User-Agent": USER_AGENT,
}


def clients(url: str, pages: int) -> dict[str, Callable[[], None]]:
    parts = urlsplit(url)
    host, port, path = parts.hostname or "", parts.port, "/inbox/users"
    body = {**filter_defaults(), **BODY, "isExport": "none"}

    def plain() -> None:
        conn = http.client.HTTPConnection(host, port)
        for page in range(1, pages + 1):
            body["page"] = page
            conn.request("POST", path, body=orjson.dumps(body), headers=HEADERS)
            orjson.loads(conn.getresponse().read())
        conn.close()

    def connection() -> None:
        conn = HTTPConnection(host, port)
        for page in range(1, pages + 1):
            body["page"] = page
            conn.request("POST", path, orjson.dumps(body), HEADERS, preload_content=False)
            reply = conn.getresponse()
            orjson.loads(reply.read())
            reply.release_conn()
        conn.close()

    def fetcher() -> None:
        api = dataclasses.replace(
            ApiSettings(), base_url=url, windows=False, max_pages=pages, concurrency=1
        )
        fetch = PageFetcher(api, TOKEN, body)  # the sandbox holds exactly ``pages`` pages
        for _ in fetch.pages():
            pass
        fetch.close()

    def transport(kind: Callable[..., Any]) -> Callable[[], None]:
        def run() -> None:
            wire = kind(dataclasses.replace(ApiSettings(), base_url=url), HEADERS, 2)
            for page in range(1, pages + 1):
                body["page"] = page
                with wire.post("page", orjson.dumps(body), time.monotonic() + 60) as reply:
                    orjson.loads(read_capped(reply, 1 << 24) or b"")
            wire.close()

        return run

    return {
        "http.client": plain,
        "urllib3 connection": connection,
        "urllib3 PoolManager.urlopen": functools.partial(pooled, url, body, pages, False),
        "urllib3 HTTPConnectionPool.urlopen": functools.partial(pooled, url, body, pages, True),
        "UrllibTransport.post": transport(UrllibTransport),
        "ClientTransport.post (no proxy)": transport(ClientTransport),
        "PageFetcher (the runner)": fetcher,
    }


def pooled(url: str, body: dict[str, Any], pages: int, direct: bool) -> None:
    """urllib3 through its PoolManager, or (``direct``) the manager's one pool asked
    directly, as UrllibTransport does without a proxy."""
    manager = urllib3.PoolManager(retries=False)
    urlopen = manager.connection_from_url(url).urlopen if direct else manager.urlopen
    target = "/inbox/users" if direct else url + "/inbox/users"
    for page in range(1, pages + 1):
        body["page"] = page
        reply = urlopen(
            "POST", target, body=orjson.dumps(body), headers=HEADERS,
            retries=False, redirect=False, preload_content=False,
        )  # fmt: skip
        orjson.loads(reply.read())
        reply.release_conn()
    manager.clear()


def main(argv: list[str]) -> int:
    pages = int(argv[0]) if argv else 600
    api = SandboxProcess(pages * 50)
    try:
        runs = clients(api.url, pages)
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(5):
            for name, run in runs.items():
                start = time.process_time()
                run()
                best[name] = min(best[name], time.process_time() - start)
    finally:
        api.stop()
    for name, seconds in best.items():
        print(f"{name:36s} {seconds / pages * 1e3:.3f} ms CPU per page")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
