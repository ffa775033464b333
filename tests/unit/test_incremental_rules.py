"""Incremental runs' rules: which drift guard applies (a segment's own max_change, as new
contacts an hour of window), and the window of a run at the as-of it repeats."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from runner.errors import UsageError
from runner.history.guard import HOUR_MS, RateBaseline, check_rate, window_ms
from runner.history.record import RunRecord, RunStatus, new_run_id
from runner.history.window import next_window
from runner.spec.workspace import Workspace
from tests.conftest import make_project

LIMIT = Fraction(3, 10)
DAY = 24 * HOUR_MS
A1, A2 = "2026-11-02T00:00:00.000Z", "2026-11-03T00:00:00.000Z"


def published(start: str | None, end: str, watermark: str, rows: int = 10) -> RunRecord:
    return RunRecord(
        run_id=new_run_id("2026-11-25T00:00:00.000Z"),
        segment="signups",
        status=RunStatus.SUCCESS,
        ended="2026-11-25T00:00:00.000Z",
        as_of=watermark,
        rows=rows,
        mode="incremental",
        watermark=watermark,
        window_start=start,
        window_end=end,
    )


def test_window_length_is_inclusive_and_none_without_a_start_or_when_empty() -> None:
    assert window_ms(A1, "2026-11-02T23:59:59.999Z") == DAY
    assert window_ms(None, A2) is None
    assert window_ms(A2, "2026-11-02T23:59:59.999Z") is None  # start after end: empty


@pytest.mark.parametrize(
    ("rows", "span", "tripped"),
    [
        (200, 2 * DAY, False),  # a skipped day: twice the rows, the same rate
        (130, DAY, False),  # +30 % is not above 30 %
        (131, DAY, True),
        (70, DAY, False),
        (69, DAY, True),
        (0, HOUR_MS, True),
    ],
)
def test_the_rate_is_compared_strictly_past_the_limit(rows: int, span: int, tripped: bool) -> None:
    base = RateBaseline(100, DAY, A1)
    assert check_rate(rows, span, base, LIMIT).tripped is tripped


@pytest.mark.parametrize(
    "previous",
    [
        None,  # the first run
        published(None, "2026-11-01T23:59:59.999Z", A1),  # it had no start
        published(A1, "2026-11-02T23:59:59.999Z", A2, rows=0),  # nobody new then
    ],
)
def test_nothing_to_compare_passes(previous: RunRecord | None) -> None:
    assert not check_rate(500, DAY, RateBaseline.of(previous), LIMIT).tripped
    assert not check_rate(0, None, RateBaseline(100, DAY, A1), LIMIT).tripped  # empty window


def test_a_run_at_the_last_as_of_repeats_its_window() -> None:
    last = published("2026-11-01T00:00:00.000Z", "2026-11-02T23:59:59.999Z", A2)
    again = next_window(A2, last, {})
    assert again.created_at == {"startAt": last.window_start, "endsAt": last.window_end}
    assert again.watermark == A2 and not again.empty
    assert next_window("2026-11-04T00:00:00Z", last, {}).created_at["startAt"] == A2
    assert next_window(A2, last, {}, since="2026-11-01T00:00:00Z") == again
    with pytest.raises(UsageError, match="--since applies only to the first"):
        next_window(A2, last, {}, since="2026-10-01T00:00:00Z")
    with pytest.raises(UsageError, match="before the watermark"):
        next_window(A1, last, {})


def test_a_project_wide_max_change_does_not_reach_incremental_segments(tmp_path: Path) -> None:
    seg = "version: 1\nname: {name}\nfilter: {{}}\n{extra}"
    project = make_project(
        tmp_path,
        {
            "full": seg.format(name="full", extra=""),
            "inc": seg.format(name="inc", extra="mode: incremental\n"),
            "own": seg.format(name="own", extra="mode: incremental\nexpect: {max_change: 50%}\n"),
        },
        runner_yaml="version: 1\ndefaults:\n  expect: {max_change: 30%, min_rows: 1}\n",
    )
    ws = Workspace.open(project, as_of=A1, env={})
    found = {s.name: (s.max_change, s.min_rows) for s in ws.select([])}
    assert found == {"full": ("30%", 1), "inc": (None, 1), "own": ("50%", 1)}
