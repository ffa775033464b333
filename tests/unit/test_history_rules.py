"""Pure rules of the run history: the record format, the drift guard, the incremental
window, and the ``segments history`` rendering."""

from __future__ import annotations

import itertools
import json
from fractions import Fraction

import pytest

from runner.errors import UsageError
from runner.history.guard import Baseline, check_drift, parse_max_change
from runner.history.record import RunRecord, RunStatus, body_fingerprint, new_run_id
from runner.history.window import incremental_window
from runner.report.history import render_json, render_text, sparkline

DAY = "2026-11-24T00:00:00+00:00"


def record(
    segment: str = "vip",
    status: str = "success",
    ended: str = "2026-11-25T00:00:00.000Z",
    **fields: object,
) -> RunRecord:
    return RunRecord(
        run_id=new_run_id(ended), segment=segment, status=RunStatus(status), ended=ended, **fields
    )  # type: ignore[arg-type]


# -- the record --------------------------------------------------------------


def test_a_record_round_trips_and_ignores_keys_a_later_version_adds() -> None:
    rec = record(rows=5, error="line one\nline two", watermark="2026-11-25T00:00:00.000Z")
    assert rec.error == "line one line two"  # an entry is one line
    data = json.loads(rec.to_json())
    assert data["v"] == 1 and data["status"] == "success"
    data["added_in_v2"] = {"x": 1}
    assert RunRecord.from_json(json.dumps(data)) == rec


@pytest.mark.parametrize(
    "text",
    [
        b"not json",
        b"[1]",
        b'{"segment": "vip", "status": "success", "ended": "x"}',  # no run id
        b'{"run_id": "20261125T000000.000Z-0123456789ab", "segment": "vip", "status": "done", "ended": "x"}',
        b'{"run_id": "20261125T000000.000Z-0123456789ab", "segment": "vip", "status": "success", "ended": "x", "rows": "5"}',
        b'{"run_id": "20261125T000000.000Z-0123456789ab", "segment": "vip", "status": "success", "ended": "x", "rows": true}',
        b'{"run_id": "../../etc", "segment": "vip", "status": "success", "ended": "x"}',
        b'{"run_id": "20261125T000000.000Z-0123456789ab", "segment": "../x", "status": "success", "ended": "x"}',
    ],
)
def test_what_is_not_a_record_is_a_value_error(text: bytes) -> None:
    with pytest.raises(ValueError):
        RunRecord.from_json(text)


def test_run_ids_sort_by_the_moment_the_run_ended() -> None:
    ends = [
        "2026-11-25T00:00:00.999Z",
        "2026-11-25T00:00:01.000+00:00",
        "2026-11-25T01:00:00.5+01:00",
    ]
    ids = [new_run_id(e) for e in ends]
    assert ids[0][:19] == "20261125T000000.999"
    assert ids[2][:19] == "20261125T000000.500"
    assert sorted(ids) == [ids[2], ids[0], ids[1]]
    assert len({new_run_id(ends[0]) for _ in range(50)}) == 50


def test_body_fingerprint_ignores_key_order_only() -> None:
    assert body_fingerprint({"a": 1, "b": [1, 2]}) == body_fingerprint({"b": [1, 2], "a": 1})
    assert body_fingerprint({"a": 1}) != body_fingerprint({"a": 2})


# -- the drift guard ------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "tripped"),
    [(700, False), (699, True), (1300, False), (1301, True), (1000, False), (0, True)],
)
def test_the_guard_trips_exactly_past_the_threshold(rows: int, tripped: bool) -> None:
    check = check_drift(rows, Baseline(1000, DAY), parse_max_change("30%"))
    assert check.tripped is tripped
    assert check.change == Fraction(rows - 1000, 1000)


def test_the_message_has_both_numbers_the_change_and_the_limit() -> None:
    check = check_drift(480, Baseline(1000, "2026-11-24T00:00:00.000Z"), parse_max_change("30%"))
    assert check.message == (
        "rows 480 vs 1000 at the last successful run (2026-11-24T00:00Z): -52.0%, "
        "above expect.max_change 30%"
    )


def test_the_guard_edge_cases() -> None:
    limit = parse_max_change("12.5%")
    first = check_drift(10, None, limit)
    assert not first.tripped and "no successful run before" in first.message
    assert not check_drift(0, Baseline(0, DAY), limit).tripped
    up = check_drift(5, Baseline(0, DAY), limit)
    assert up.tripped and up.change is None and "rows 5 vs 0" in up.message
    assert "above expect.max_change 12.5%" in up.message
    assert Baseline.of(None) is None
    assert Baseline.of(record(rows=3, as_of=DAY)) == Baseline(3, DAY)


@pytest.mark.parametrize("text", ["30", "-5%", "30 %%", "abc", "", "1e3%"])
def test_max_change_must_be_a_percentage(text: str) -> None:
    with pytest.raises(ValueError, match="is not a percentage such as '30%'"):
        parse_max_change(text)


# -- the incremental window -----------------------------------------------------------


def test_concatenated_windows_cover_every_millisecond_once() -> None:
    as_ofs = ["2026-11-24T00:00:00Z", "2026-11-24T06:00:00.5004Z", "2026-11-25T00:00:00+01:00"]
    mark, windows = None, []
    for as_of in as_ofs:
        window = incremental_window(as_of, mark, {})
        windows.append(window)
        mark = window.watermark
    assert windows[0].start is None
    assert windows[0].created_at["endsAt"] == "2026-11-23T23:59:59.999Z"
    assert windows[1].created_at == {
        "startAt": "2026-11-24T00:00:00.000Z",
        "endsAt": "2026-11-24T06:00:00.499Z",
    }
    assert windows[2].created_at["startAt"] == "2026-11-24T06:00:00.500Z"
    assert windows[2].watermark == "2026-11-24T23:00:00.000Z"
    for before, after in itertools.pairwise(windows):
        assert after.start is not None and (after.start - before.end).total_seconds() == 0.001


def test_the_window_meets_the_segments_own_range() -> None:
    body = {
        "applicableFilters": ["createdAt"],
        "createdAt": {"startAt": "2026-11-20T00:00:00.000Z", "endsAt": "2026-11-24T12:00:00.000Z"},
    }
    first = incremental_window("2026-11-24T00:00:00Z", None, body)
    assert first.created_at == {
        "startAt": "2026-11-20T00:00:00.000Z",
        "endsAt": "2026-11-23T23:59:59.999Z",
    }
    later = incremental_window("2026-11-26T00:00:00Z", "2026-11-24T00:00:00.000Z", body)
    assert later.created_at["endsAt"] == "2026-11-24T12:00:00.000Z"
    done = incremental_window("2026-11-27T00:00:00Z", "2026-11-26T00:00:00.000Z", body)
    assert done.empty and done.watermark == "2026-11-27T00:00:00.000Z"
    applied = first.apply({"applicableFilters": ["lastSeenAt"], "tags": ["vip"]})
    assert applied["applicableFilters"] == ["lastSeenAt", "createdAt"]
    assert applied["createdAt"] == first.created_at and applied["tags"] == ["vip"]


def test_since_starts_the_first_run_only() -> None:
    first = incremental_window("2026-11-24T00:00:00Z", None, {}, since="2026-11-01T00:00:00+01:00")
    assert first.created_at["startAt"] == "2026-10-31T23:00:00.000Z"
    with pytest.raises(UsageError, match="--since applies only to the first incremental run"):
        incremental_window(
            "2026-11-25T00:00:00Z", "2026-11-24T00:00:00.000Z", {}, since="2026-11-01T00:00:00Z"
        )
    with pytest.raises(UsageError, match="is not before the as-of"):
        incremental_window("2026-11-24T00:00:00Z", None, {}, since="2026-11-24T00:00:00Z")
    with pytest.raises(UsageError, match="is before the watermark"):
        incremental_window("2026-11-23T00:00:00Z", "2026-11-24T00:00:00.000Z", {})
    with pytest.raises(UsageError, match="--since 'yesterday' is not an ISO-8601 instant"):
        incremental_window("2026-11-24T00:00:00Z", None, {}, since="yesterday")
    same = incremental_window("2026-11-24T00:00:00Z", "2026-11-24T00:00:00.000Z", {})
    assert same.empty  # two runs at one as-of: the second asks for nothing


# -- segments history output ----------------------------------------------------------


def test_sparkline_scales_from_zero() -> None:
    assert sparkline([100, 50, None, 0, 13, 12]) == "█▄·▁▂▁"
    assert sparkline([None, None]) == "··"
    assert sparkline([0, 0]) == "▁▁"


def test_history_text_and_json() -> None:
    runs = {
        "vip": [
            record(ended="2026-11-23T00:00:00.000Z", rows=1000, pages=4),
            record(
                status="guard",
                ended="2026-11-24T00:00:00.000Z",
                rows=480,
                error="rows 480 vs 1000 …",
            ),
            record(
                status="failed", ended="2026-11-24T01:00:00.000Z", error="HTTP 500 after 6 attempts"
            ),
            record(
                ended="2026-11-25T00:00:00.000Z",
                rows=500,
                accepted_change=True,
                added=20,
                removed=520,
            ),
        ],
        "churn": [],
    }
    text = render_text(runs, "out/.segments/history")
    lines = text.splitlines()
    assert lines[0] == "vip  █▄·▄  (4 runs, 2 successful)"
    assert lines[1].split() == [
        "ended",
        "(UTC)",
        "status",
        "rows",
        "change",
        "pages",
        "retries",
        "seconds",
        "note",
    ]
    guard = next(line for line in lines if " guard " in line)
    assert "480" in guard and "-52.0%" in guard and "rows 480 vs 1000" in guard
    last = lines[5]
    assert "-50.0%" in last and "change accepted" in last and "+20 -520 ids" in last
    assert "churn: no runs recorded in out/.segments/history" in text
    data = json.loads(render_json(runs))
    assert [(r["segment"], r["status"], r["rows"]) for r in data] == [
        ("vip", "success", 1000),
        ("vip", "guard", 480),
        ("vip", "failed", 0),
        ("vip", "success", 500),
    ]
