"""The transport's own work per page, over a real socket to the sandbox: a count of the
Python calls one ``post`` makes (deterministic, unlike a timing on a shared machine).

At zero latency a page's CPU is the export's speed; without a proxy every request goes
to one connection pool, so the transport asks that pool, not the manager that finds it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import orjson

from runner.fetch.transport import UrllibTransport, read_capped
from runner.sandbox import Sandbox
from runner.spec.project import ApiSettings
from tests.conftest import collector_held, full_body

Start = Callable[..., Sandbox]


def calls_per_post(transport: UrllibTransport, body: bytes) -> tuple[int, list[Any]]:
    """Python calls made by one post and its reading; the page's records."""
    count = [0]

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            count[0] += 1

    with collector_held():
        sys.setprofile(profile)
        try:
            with transport.post("page 1", body, time.monotonic() + 30) as response:
                content = read_capped(response, 1 << 24)
        finally:
            sys.setprofile(None)
    assert content is not None
    return count[0], orjson.loads(content)["data"]


def test_a_post_without_a_proxy_asks_the_one_pool_directly(
    sandbox: Start, monkeypatch: Any
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    api = sandbox(users=120, page_size=50)
    transport = UrllibTransport(ApiSettings(base_url=api.url), api.headers, 2)
    try:
        steady = []
        for page in (1, 2, 3, 2, 3, 2):
            body = orjson.dumps(full_body(isContact=False, applicableFilters=[], page=page))
            calls, records = calls_per_post(transport, body)
            assert len(records) == (50 if page < 3 else 20)  # the pages, whole
            steady += [calls] if len(steady) or page > 1 else []
        # The connection open: the steady state of a run. urllib3's pool and response,
        # the deadline watch: 320 calls with urllib3 2.x as pinned; the manager's urlopen
        # added 18 (parsing the URL, finding the pool by its key, copying the headers).
        # The fewest of five: a reply that comes in more reads on a loaded machine adds
        # calls of its own (330 once in a fresh-clone run).
        assert min(steady) < 330, steady
    finally:
        transport.close()
