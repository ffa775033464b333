"""Counts read as English: "1 page", "2 pages", never "1 pages" or "page(s)"."""

from __future__ import annotations

import io

from runner.history import RunStatus
from runner.problems import Problem
from runner.report.problems import not_checked, validation_summary
from runner.report.progress import Progress
from runner.report.summary import summary
from runner.run import ExportResult


def test_the_progress_end_line_counts_in_words() -> None:
    out = io.StringIO()
    with Progress(out, live=False) as progress:
        progress(
            "end", ExportResult("a", RunStatus.SUCCESS, rows=1, pages=1, duplicates=1, retries=1)
        )
        progress("end", ExportResult("b", RunStatus.SUCCESS, rows=0, pages=2, retries=3))
    lines = [line.split(" ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == [
        "a: success: 1 row, 1 page, 1 duplicate dropped, 1 retry, 0.0s",
        "b: success: 0 rows, 2 pages, 0 duplicates dropped, 3 retries, 0.0s",
    ]


def test_validate_and_export_verdicts_count_in_words() -> None:
    one = [Problem("a.yaml", 1, 1, "x")]
    two = [*one, Problem("b.yaml", 2, 1, "y"), Problem("b.yaml", 3, 1, "z")]
    assert validation_summary([], 1) == "1 segment valid\n"
    assert validation_summary([], 12) == "12 segments valid\n"
    assert validation_summary(one, 0) == "1 problem in 1 file\n"
    assert validation_summary(two, 0) == "3 problems in 2 files\n"
    assert not_checked(one) == "1 problem in a.yaml; segments not checked\n"
    assert summary([ExportResult("a", RunStatus.SUCCESS)]).endswith("1 of 1 segment exported\n")
    parts = summary([ExportResult("a", RunStatus.SUCCESS, parts=1, destination="x.csv")])
    assert "a: 1 part beside x.csv (output.split)" in parts
