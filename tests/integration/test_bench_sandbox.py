"""The benchmarks' one way to start the sandbox (bench.common.SandboxProcess): its own
process on a free port, with the options a benchmark gives, ended by SIGTERM with the
count of what it served (bench/deep.py and bench/shapes.py read that count)."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import orjson
import pytest

from bench import common
from bench.common import TOKEN, SandboxProcess
from tests.conftest import full_body


def _page_sizes(url: str) -> list[int]:
    """Every page's size, page 1 first, until the empty one."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    headers = {"Authorization": f"Bearer {TOKEN}", "authtype": "Key"}
    sizes: list[int] = []
    try:
        while not sizes or sizes[-1]:
            body = full_body(isContact=False, applicableFilters=[], page=len(sizes) + 1)
            conn.request("POST", "/inbox/users", orjson.dumps(body), headers)
            sizes.append(len(orjson.loads(conn.getresponse().read())["data"]))
    finally:
        conn.close()
    return sizes


@pytest.mark.parametrize(
    ("users", "page_size", "extra", "sizes"),
    [
        (25, 10, (), [10, 10, 5, 0]),
        (7, 50, ("--capacity", "2"), [7, 0]),
        (12, 4, ("--shape", "growth", "--anchor", "2026-11-25T00:00:00Z"), [4, 4, 4, 0]),
    ],
)
def test_the_bench_sandbox_serves_its_options_and_counts_its_requests(
    users: int, page_size: int, extra: tuple[str, ...], sizes: list[int]
) -> None:
    api = SandboxProcess(users, page_size=page_size, extra=extra)
    try:
        served = _page_sizes(api.url)
    finally:
        counts = api.stop()
    assert served == sizes
    assert counts == {"requests": len(sizes), "turned_away": 0}
    assert api.proc.returncode == 0  # SIGTERM is its normal end


def test_a_stopped_sandbox_gives_its_count_without_waiting_out_its_teardown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A million contacts took minutes to free after the count line at load 13: the
    count is read as it comes, and a sandbox still tearing down after that is ended."""
    monkeypatch.setattr(common, "TEARDOWN_S", 0)
    api = SandboxProcess(3000, page_size=100)
    try:
        served = _page_sizes(api.url)
    finally:
        counts = api.stop()
    assert len(served) == 31
    assert counts == {"requests": 31, "turned_away": 0}
    assert api.proc.returncode is not None  # not left running
