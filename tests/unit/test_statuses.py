"""One status enum says how each segment ended, in the same words everywhere: the
history, the results file, the summary, the progress log."""

from __future__ import annotations

import io

import pytest

from runner.history import RunStatus
from runner.history.record import RECORDED, RunRecord, new_run_id
from runner.report.progress import Progress
from runner.report.summary import summary
from runner.run import DONE, ExportResult

ENDED = "2026-11-25T00:00:00.000Z"


def test_the_words_are_the_documented_ones() -> None:
    assert [str(s) for s in RunStatus] == [
        "success",
        "failed",
        "guard",
        "interrupted",
        "dry-run",
        "skipped",
    ]
    assert sorted(DONE) == ["dry-run", "success"]
    assert sorted(RECORDED) == ["failed", "guard", "interrupted", "success"]


@pytest.mark.parametrize("status", ["dry-run", "skipped"])
def test_the_history_records_no_run_that_did_not_happen(status: str) -> None:
    with pytest.raises(ValueError, match=f"status {status}: the history records no such run"):
        RunRecord(run_id=new_run_id(ENDED), segment="vip", status=RunStatus(status), ended=ENDED)
    line = RunRecord(run_id=new_run_id(ENDED), segment="vip", status=RunStatus.GUARD, ended=ENDED)
    with pytest.raises(ValueError):  # a reader skips such an entry
        RunRecord.from_json(line.to_json().replace(b'"guard"', f'"{status}"'.encode()))


def test_the_summary_counts_each_way_a_segment_did_not_finish() -> None:
    results = [
        ExportResult("a", RunStatus.SUCCESS, rows=5),
        ExportResult("b", RunStatus.GUARD, error="rows 600 vs 1000: -40.0%"),
        ExportResult("c", RunStatus.FAILED, error="HTTP 500"),
        ExportResult("d", RunStatus.INTERRUPTED, error="interrupted"),
        ExportResult("e", RunStatus.SKIPPED),
        ExportResult("f", RunStatus.DRY_RUN, rows=3),
    ]
    text = summary(results)
    lines = text.splitlines()
    assert [line.split()[-1] for line in lines[1:7]] == [
        "success",
        "guard",
        "failed",
        "interrupted",
        "skipped",
        "dry-run",
    ]
    assert lines[7:] == [
        "error: b: rows 600 vs 1000: -40.0%",
        "error: c: HTTP 500",
        "2 of 6 segments exported, 1 failed, 1 guard, 1 interrupted, 1 skipped",
    ]


def test_the_progress_log_names_a_guard_and_an_interrupt() -> None:
    out = io.StringIO()
    progress = Progress(out, live=False)
    progress("end", ExportResult("b", RunStatus.GUARD, error="rows 600 vs 1000"))
    progress(
        "end",
        ExportResult("d", RunStatus.INTERRUPTED, rows=1200, pages=3, error="interrupted"),
    )
    lines = [line.split(" ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == [
        "b: GUARD: rows 600 vs 1000",
        "d: INTERRUPTED after 1,200 rows, 3 pages, 0 duplicates dropped, 0 retries, 0.0s",
    ]


def test_the_summary_says_how_each_segment_was_read() -> None:
    results = [
        ExportResult("a", RunStatus.SUCCESS, rows=5, concurrency=4, windows=1),
        ExportResult("b", RunStatus.SUCCESS, rows=9, concurrency=6, windows=1200),
        ExportResult("c", RunStatus.SUCCESS, rows=9, concurrency=2, auto_concurrency=True),
    ]
    lines = summary(results).splitlines()
    assert "a: concurrency settled at 4 (fixed), 1 createdAt window" in lines
    assert "b: concurrency settled at 6 (fixed), 1,200 createdAt windows" in lines
    assert "c: concurrency settled at 2 (auto), page numbers" in lines
