"""Progress output, the summary, and local path safety (no server needed)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from runner.errors import PathEscapeError
from runner.export import SegmentResult
from runner.report import Progress, summary
from runner.sinks.local import TEMP_PREFIX, LocalDestination, clean_stale_temporaries


def test_live_progress_rewrites_one_line() -> None:
    out = io.StringIO()
    progress = Progress(out, live=True, interval=0)
    r = SegmentResult("vip", destination="exports/vip.csv")
    progress("start", r)
    r.pages, r.rows = 3, 150
    progress("page", r)
    r.status, r.seconds = "success", 0.5
    progress("end", r)
    text = out.getvalue()
    assert "\r\x1b[Kvip: page 3, 150 rows," in text
    assert text.rstrip().endswith(
        "vip: success: 150 rows, 3 pages, 0 duplicates dropped, 0 retries, 0.5s"
    )


def test_log_progress_is_one_line_per_event() -> None:
    out = io.StringIO()
    progress = Progress(out, live=False)
    r = SegmentResult("vip", destination="exports/vip.csv")
    progress("start", r)
    progress("page", r)
    progress("retry:page 2: HTTP 429 Too Many Requests", r)
    r.status, r.error = "failed", "boom"
    progress("end", r)
    lines = out.getvalue().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "vip: started -> exports/vip.csv",
        "vip: retrying page 2: HTTP 429 Too Many Requests",
        "vip: FAILED: boom",
    ]


def test_summary_table_and_errors() -> None:
    ok = SegmentResult(
        "a",
        "success",
        rows=1204,
        pages=25,
        duplicates=3,
        retries=1,
        seconds=1.5,
        destination="x.csv",
    )
    bad = SegmentResult("b", "failed", error="401")
    text = summary([ok, bad])
    header, first, second = text.splitlines()[:3]
    assert header.split() == [
        "SEGMENT",
        "ROWS",
        "PAGES",
        "DUPLICATES",
        "RETRIES",
        "SECONDS",
        "DESTINATION",
        "STATUS",
    ]
    assert first.split() == ["a", "1,204", "25", "3", "1", "1.50", "x.csv", "success"]
    assert second.split()[-1] == "failed"
    assert "error: b: 401" in text and text.endswith("1 of 2 segment(s) exported, 1 failed\n")


@pytest.mark.parametrize("relative", ["../x.csv", "a/../../x.csv", "/etc/passwd"])
def test_paths_cannot_escape_the_root(tmp_path: Path, relative: str) -> None:
    with pytest.raises(PathEscapeError, match="outside the output root"):
        LocalDestination.under(tmp_path / "root", relative)


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(PathEscapeError):
        LocalDestination.under(root, "link/x.csv")


def test_stale_temporaries_of_dead_runs_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f"{TEMP_PREFIX}999999999-x.csv"
    alive = tmp_path / f"{TEMP_PREFIX}{os.getpid()}-x.csv"
    other = tmp_path / "x.csv"
    for path in (dead, alive, other):
        path.write_text("data")
    assert clean_stale_temporaries(tmp_path) == [dead]
    assert alive.exists() and other.exists() and not dead.exists()
