"""Notifications from real exports (sandbox API, webhook server, `segments export` as a user
runs it): a delta run's message says what was added and removed, as the history recorded
it, and links the segment's catalog page from runner.yaml's catalog_url."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runner.history import open_history, runs
from runner.sandbox import Sandbox
from tests.conftest import FAST_RETRY, api_env, make_project, run_cli

Start = Callable[..., Sandbox]
SEGMENT = """\
version: 1
name: weekly-vip
filter: {isContact: false, applicableFilters: []}
output: {format: csv, path: out/weekly-vip.csv, delta: true}
"""


@pytest.fixture
def received() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """A webhook server on 127.0.0.1: its port, and the JSON bodies it was sent."""
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], bodies
    server.shutdown()
    server.server_close()


def test_a_delta_run_tells_what_was_added_and_removed_with_the_catalog_link(
    sandbox: Start, tmp_path: Path, received: tuple[int, list[dict[str, Any]]]
) -> None:
    port, bodies = received
    runner_yaml = FAST_RETRY + (
        "catalog_url: https://acme.github.io/segments/{segment}.html\n"
        f"notify:\n  - {{url: 'json://127.0.0.1:{port}/hook', on: [success]}}\n"
    )
    project = make_project(tmp_path, {"weekly-vip": SEGMENT}, runner_yaml)
    for users in (300, 260):  # the second run loses contacts: some removed
        run = run_cli("export", cwd=project, env=api_env(sandbox(users=users, churn=3)))
        assert run.returncode == 0, run.stdout + run.stderr
        assert "warning" not in run.stdout + run.stderr
    first, second = runs(open_history(project), "weekly-vip")
    assert second.removed and second.added is not None
    assert len(bodies) == 2
    lines = bodies[1]["message"].splitlines()
    assert f"delta: +{second.added:,} added, -{second.removed:,} removed" in lines
    assert (
        f"rows: {second.rows:,} now, {first.rows:,} at the last successful run ("
        in bodies[1]["message"]
    )
    assert "catalog: https://acme.github.io/segments/weekly-vip.html" in lines
    assert f"delta: +{first.added:,} added, -0 removed" in bodies[0]["message"].splitlines()
