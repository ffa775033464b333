"""The export's steps as typed values (runner.run): the plan of a run is read from the
history the run before left, the guards take the plan and what writing measured, and
the history entry is made from the run's record and those values.

Every history here is written by a real export against the sandbox over a socket;
the steps are then called in this process on what it left.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.errors import DestinationError, GuardError
from runner.history import RunStatus, runs
from runner.run import ExportOptions, ExportResult, Workspace, export
from runner.run.guards import check_guards
from runner.run.plan import plan
from runner.run.remember import run_record
from runner.run.rows import Written
from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, FAST_RETRY, api_env, make_project

Start = Callable[..., Sandbox]
FULL = """\
version: 1
name: everyone
filter: {{isContact: false, applicableFilters: []}}
output: {{path: out/everyone.csv, columns: [_id]}}
expect: {{max_change: 30%{bounds}}}
"""
INCREMENTAL = """\
version: 1
name: signups
mode: incremental
filter: {isContact: false, applicableFilters: []}
output: {format: jsonl, path: out/signups.jsonl, columns: [_id, createdAt]}
expect: {max_change: 30%}
"""
LATER = "2026-11-26T00:00:00Z"


def _exported(
    sandbox: Start, root: Path, segment: dict[str, str], users: int
) -> tuple[Path, Workspace, ExportResult]:
    """A project of ``segment`` (name: text), exported once at ANCHOR from a sandbox of ``users``; the
    project, its workspace a day later and the run's record."""
    api = sandbox(users=users, page_size=50)
    project = make_project(root, segment, FAST_RETRY)
    env = {k: v for k, v in api_env(api).items() if v is not None}
    ws = Workspace.open(project, as_of=ANCHOR, env=env)
    (result,) = export(ws.segments, ws, ExportOptions(), env=env)
    assert result.status == RunStatus.SUCCESS, result.error
    return project, Workspace.open(project, as_of=LATER, env=env), result


def _written(rows: int, sha256: str = "") -> Written:
    return Written(rows, 0, sha256, 0, 0, 0, (), ())


def test_the_plan_reads_the_last_run_and_is_frozen(sandbox: Start, tmp_path: Path) -> None:
    project, ws, result = _exported(sandbox, tmp_path, {"everyone": FULL.format(bounds="")}, 230)
    planned = plan(ws.segments[0], ws, None)
    (entry,) = runs(planned.store, "everyone")
    assert planned.previous == entry and planned.expected_rows == result.rows == 230
    assert planned.destination.display == result.destination
    assert result.destination == str(project / "out" / "everyone.csv")
    assert planned.window is None and planned.fetch_needed
    assert planned.body == dict(ws.segments[0].body)
    with pytest.raises(dataclasses.FrozenInstanceError):
        planned.previous = None  # type: ignore[misc]


def test_an_incremental_plan_starts_where_the_last_run_ended(
    sandbox: Start, tmp_path: Path
) -> None:
    _, ws, result = _exported(sandbox, tmp_path, {"signups": INCREMENTAL}, 120)
    planned = plan(ws.segments[0], ws, None)
    assert planned.previous is not None and planned.window is not None
    assert planned.window.start is not None
    assert planned.window.created_at["startAt"] == planned.previous.watermark
    assert planned.expected_rows is None  # no estimate for a window's new contacts
    # this run's file is dated, beside the last run's: never the same name
    assert planned.seg.output.path != ws.segments[0].output.path
    assert planned.destination.display != result.destination
    assert planned.body["createdAt"] == planned.window.created_at


@pytest.mark.parametrize(
    ("bounds", "rows", "held_out", "tripped"),
    [
        ("", 230, 0, None),
        ("", 230 - 69, 0, None),  # -30%: at the limit, not above it
        ("", 230 - 70, 0, "-30.4%, above expect.max_change 30%"),
        ("", 100, 130, None),  # a holdout's rows are part of the audience compared
        ("", 300, 0, "[+]30.4%, above expect.max_change 30%"),
        (", min_rows: 200", 199, 31, "below expect.min_rows [(]200[)]"),  # the published rows
        (", max_rows: 229", 230, 0, "above expect.max_rows [(]229[)]"),
    ],
)
def test_the_guards_take_the_plan_and_the_written_figures(
    sandbox: Start,
    tmp_path: Path,
    bounds: str,
    rows: int,
    held_out: int,
    tripped: str | None,
) -> None:
    project, _, _ = _exported(sandbox, tmp_path, {"everyone": FULL.format(bounds="")}, 230)
    (project / "segments" / "everyone.yaml").write_text(FULL.format(bounds=bounds), "utf-8")
    ws = Workspace.open(project, as_of=LATER, env={})
    planned = plan(ws.segments[0], ws, None)

    def guards(accept_change: bool) -> bool:
        return check_guards(
            planned, _written(rows), held_out, accept_change=accept_change, dry_run=False
        )

    if tripped is None:  # nothing tripped: nothing accepted either
        assert guards(False) is False and guards(True) is False
        return
    with pytest.raises(GuardError, match=tripped):
        guards(False)
    if "max_change" in tripped:  # --accept-change lets it through, and says so
        assert guards(True) is True
    else:  # a row bound is no change to accept
        with pytest.raises(GuardError, match=tripped):
            guards(True)


def test_an_incremental_run_never_replaces_another_runs_dated_file(
    sandbox: Start, tmp_path: Path
) -> None:
    project, _, result = _exported(sandbox, tmp_path, {"signups": INCREMENTAL}, 120)
    again = Workspace.open(project, as_of=ANCHOR, env={})  # the same as-of: the same file
    planned = plan(again.segments[0], again, None)
    assert planned.destination.display == result.destination
    same, other = _written(0, result.sha256), _written(0, "0" * 64)
    assert check_guards(planned, same, 0, accept_change=False, dry_run=False) is False
    assert check_guards(planned, other, 0, accept_change=False, dry_run=True) is False
    with pytest.raises(DestinationError, match="holds another run's contacts"):
        check_guards(planned, other, 0, accept_change=True, dry_run=False)


@pytest.mark.parametrize("status", [RunStatus.SUCCESS, RunStatus.GUARD, RunStatus.FAILED])
def test_the_history_entry_is_made_from_the_record_and_the_steps_values(
    sandbox: Start, tmp_path: Path, status: RunStatus
) -> None:
    _, ws, first = _exported(sandbox, tmp_path, {"signups": INCREMENTAL}, 90)
    planned = plan(ws.segments[0], ws, None)
    assert planned.window is not None
    record = dataclasses.replace(first, status=status, rows=7, retries=2, error="why")
    entry = run_record(record, planned, ws, None, accepted_change=True)
    for name in ("segment", "rows", "pages", "retries", "bytes", "sha256", "error", "seconds"):
        assert getattr(entry, name) == getattr(record, name), name
    assert (entry.status, entry.started, entry.mode) == (status, record.started_at, "incremental")
    assert entry.as_of == "2026-11-26T00:00:00.000Z"
    assert entry.window_end == planned.window.created_at["endsAt"]
    assert entry.held_out is None  # no holdout: none recorded, not 0
    succeeded = status is RunStatus.SUCCESS  # only a published run moves the watermark
    assert entry.accepted_change is succeeded
    assert entry.watermark == (planned.window.watermark if succeeded else None)
