"""Progress during real exports (the sandbox over a socket, the export in-process so the
status interval and clock can be the test's): a total and the time left once the last
run gives an estimate, and in log mode a status line at least every interval."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

from runner.report.progress import Progress
from runner.run import ExportOptions, ExportResult, export
from runner.sandbox import Sandbox
from runner.spec.workspace import Workspace
from tests.conftest import ANCHOR, api_env, make_project

Start = Callable[..., Sandbox]
SEGMENT = "version: 1\nname: slow\nfilter: {isContact: false, applicableFilters: []}\n"
SEGMENT += "output: {path: out/slow.csv}\n"
STATUS = re.compile(
    r"^\d\d:\d\d:\d\d slow: page (\d+), ([\d,]+)( of ~([\d,]+) rows \(last run\)| rows), ([\d,]+) rows/s"
)


def run(project: Path, api: Sandbox, progress: Progress) -> ExportResult:
    env = {k: v for k, v in api_env(api).items() if v is not None}
    ws = Workspace.open(project, as_of=ANCHOR, env=env)
    with progress:
        (result,) = export(
            ws.segments, ws, ExportOptions(concurrency=1), env=env, listener=progress
        )
    assert result.status == "success", result.error
    return result


def test_log_mode_writes_a_status_line_at_least_every_interval(
    sandbox: Start, tmp_path: Path
) -> None:
    """A slow API (150 ms a page, one request at a time): pages arrive, and between
    them the status thread writes pages, rows and rate every 0.3 s (10 s in real use)."""
    api = sandbox(users=600, page_size=50, latency_ms=150)
    project = make_project(tmp_path, {"slow": SEGMENT})
    out = io.StringIO()
    every = 0.3
    first = run(project, api, Progress(out, live=False, log_every=every))
    lines = out.getvalue().splitlines()
    status = [m for m in map(STATUS.match, lines) if m]
    # The run took first.seconds: a line every 0.3 s is at least seconds / 0.3 - 1 lines.
    assert first.seconds > 1.5
    assert len(status) >= int(first.seconds / every) - 1, lines
    pages = [int(m.group(1)) for m in status]
    assert pages == sorted(pages) and pages[-1] >= first.pages - 2
    assert all(m.group(3) == " rows" for m in status)  # no history yet: no total
    assert lines[-1].endswith(
        f"slow: success: {first.rows:,} rows, {first.pages} pages, 0 duplicates dropped, 0 retries, {first.seconds:.1f}s"
    )

    # The second run has the first in its history: its total, marked as an estimate.
    out = io.StringIO()
    run(project, api, Progress(out, live=False, log_every=every))
    status = [m for m in map(STATUS.match, out.getvalue().splitlines()) if m]
    assert status and all(m.group(4) == f"{first.rows:,}" for m in status)


class Clock:
    """A clock the test moves: 1 s a page."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_live_line_shows_the_total_and_the_time_left(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=300, page_size=50)
    project = make_project(tmp_path, {"slow": SEGMENT})
    out = io.StringIO()
    first = run(project, api, Progress(out, live=True, interval=0))
    assert " of ~" not in out.getvalue()  # nothing to estimate from yet

    clock = Clock()
    out = io.StringIO()
    progress = Progress(out, live=True, interval=0, clock=clock)

    def ticking(event: str, r: ExportResult) -> None:
        if event == "page":
            clock.now += 1.0  # each page one second after the last
        progress(event, r)

    env = {k: v for k, v in api_env(api).items() if v is not None}
    ws = Workspace.open(project, as_of=ANCHOR, env=env)
    with progress:
        export(ws.segments, ws, ExportOptions(concurrency=1), env=env, listener=ticking)
    frames = [f for f in out.getvalue().split("\r\x1b[K") if f.startswith("slow: page")]
    # Page 1: 50 of ~N rows after 1 s, 50 rows/s: (N - 50) / 50 seconds left.
    total = first.rows
    assert frames[0] == (
        f"slow: page 1, 50 of ~{total:,} rows (last run), 50 rows/s, about {(total - 50) // 50}s left"
    )
    assert frames[1].startswith(
        f"slow: page 2, 100 of ~{total:,} rows (last run), 50 rows/s, about "
    )
    assert "left" not in frames[-1]  # all the rows expected are in: no time left to guess
