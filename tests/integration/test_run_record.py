"""One record of a run's figures: the manifest, the history entry, the summary line and
``--results`` are all made from it, and the Python API returns it (runner.run).

Each export runs against the sandbox over a socket; the figures are read back from the
files the run left (manifest JSON, the history store, ``--results``) and from the
summary table the command printed."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.history import RunRecord, runs
from runner.run import ExportOptions, ExportResult, Workspace, export
from runner.run.plan import store_for
from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, ROOT, api_env, make_project, rendered_body, run_cli

Start = Callable[..., Sandbox]
NAME = "everyone"

# A split set with delta files, a column no contact fills (a warning) and retries.
PARTS_DELTA_WARNING = """\
version: 1
name: everyone
filter: {isContact: false, applicableFilters: []}
output:
  path: out/everyone.csv
  delta: true
  split: {max_rows: 70}
  columns:
    - _id
    - profile.userDetails.name
    - {name: tier, path: profile.userDetails.loyaltyTier, unchecked: true}
"""
# One JSONL file, one page at a time, through injected 429s.
ONE_FILE = """\
version: 1
name: everyone
filter: {isContact: false, applicableFilters: []}
output: {path: out/everyone.jsonl, format: jsonl}
"""
# Stopped by its guard: nothing published, no manifest; the history and summary say so.
GUARDED = """\
version: 1
name: everyone
filter: {isContact: false, applicableFilters: []}
output: {path: out/everyone.csv}
expect: {max_rows: 10}
"""

# The manifest's names for the figures the record names otherwise.
MANIFEST_NAMES = {
    "duplicates": "duplicates_dropped",
    "reread": "reread_after_churn",
    "windows": "created_at_windows",
    "note": "paging_note",
}
ON_EVERY_RECORD = ("rows", "pages", "duplicates", "retries", "bytes", "sha256", "destination")


def _history(project: Path, env: dict[str, str]) -> list[RunRecord]:
    ws = Workspace.open(project, as_of=ANCHOR, env=env)
    (seg,) = ws.segments
    return runs(store_for(seg, ws.project, None), seg.name)


def _summary_row(stdout: str) -> dict[str, str]:
    """The summary table's row for the segment, by column name."""
    lines = stdout.splitlines()
    header = lines[0].split()
    (row,) = [line.split() for line in lines[1:] if line.startswith("everyone ")]
    return dict(zip(header, row, strict=True))


def _agree_with_manifest(result: dict[str, Any], manifest: dict[str, Any]) -> None:
    for name in (*ON_EVERY_RECORD, "dropped_unmatchable", "invalid_phones", "started_at"):
        assert manifest[MANIFEST_NAMES.get(name, name)] == result[name], name
    for name in ("reread", "windows", "note", "empty_columns", "finished_at"):
        assert manifest[MANIFEST_NAMES.get(name, name)] == result[name], name
    assert manifest["concurrency"] == {
        "auto": result["auto_concurrency"],
        "settled": result["concurrency"],
    }
    assert manifest.get("part_count", 0) == result["parts"]


def _agree_with_history(result: dict[str, Any], entry: RunRecord) -> None:
    for name in (*ON_EVERY_RECORD, "seconds", "error"):
        assert getattr(entry, name) == result[name], name
    assert entry.status == result["status"]
    assert entry.started == result["started_at"]


def _agree_with_summary(result: dict[str, Any], stdout: str) -> None:
    row = _summary_row(stdout)
    assert row["ROWS"] == f"{result['rows']:,}"
    assert row["PAGES"] == str(result["pages"])
    assert row["DUPLICATES"] == str(result["duplicates"])
    assert row["RETRIES"] == str(result["retries"])
    assert row["SECONDS"] == f"{result['seconds']:.2f}"
    assert row["DESTINATION"] == result["destination"]
    assert row["STATUS"] == result["status"]
    warned = re.findall(r"^warning: everyone: (.*)$", stdout, re.M)
    assert warned == [*([result["note"]] if result["note"] else []), *result["warnings"]]
    errors = re.findall(r"^error: everyone: (.*)$", stdout, re.M)
    assert errors == ([result["error"]] if result["error"] else [])


@pytest.mark.parametrize(
    ("segment", "faults", "status"),
    [
        (PARTS_DELTA_WARNING, "429=0.3", "success"),
        (ONE_FILE, "429@2|3", "success"),
        (GUARDED, "", "guard"),
        (ONE_FILE, "env401@2", "failed"),
    ],
    ids=["parts-delta-warning", "one-file-retries", "guard", "failed-on-page-2"],
)
def test_manifest_history_summary_and_results_agree_on_every_figure(
    sandbox: Start, tmp_path: Path, segment: str, faults: str, status: str
) -> None:
    api = sandbox(users=300, page_size=50, faults=faults, seed=7)
    project = make_project(tmp_path, {"everyone": segment})
    env = {k: v for k, v in api_env(api).items() if v is not None}
    done = run_cli("export", "--as-of", ANCHOR, "--results", "r.json", cwd=project, env=env)
    assert done.returncode == (0 if status == "success" else 1), done.stderr
    (result,) = json.loads((project / "r.json").read_text("utf-8"))["results"]
    assert result["status"] == status
    (entry,) = _history(project, env)
    _agree_with_history(result, entry)
    _agree_with_summary(result, done.stdout)
    if status != "success":
        assert result["error"] and result["published"] is False and result["manifest"] == ""
        assert not list(project.rglob("*.manifest.json"))
        return
    manifest = json.loads((project / result["manifest"]).read_text("utf-8"))
    _agree_with_manifest(result, manifest)
    assert result["rows"] == len(api.truth(rendered_body(project, NAME)))
    if manifest["history"].get("delta"):  # the delta's counts: the manifest's and the entry's
        assert manifest["history"]["delta"]["added"]["rows"] == entry.added == result["rows"]
        assert entry.removed == 0
        assert result["parts"] == len(manifest["parts"]) > 1
        assert result["empty_columns"] == ["tier"] and result["warnings"]
    if faults:
        assert result["retries"] > 0


def test_the_python_api_returns_the_record_the_manifest_and_history_hold(
    sandbox: Start, tmp_path: Path
) -> None:
    """``runner.run.export`` in this process: typed, frozen records, equal figure for
    figure to the manifest and the history entry of the same run."""
    api = sandbox(users=240, page_size=40, faults="429=0.2", seed=3)
    project = make_project(tmp_path, {"everyone": PARTS_DELTA_WARNING})
    env = {k: v for k, v in api_env(api).items() if v is not None}
    ws = Workspace.open(project, as_of=ANCHOR, env=env)
    seen: list[tuple[str, ExportResult]] = []
    (result,) = export(
        ws.segments,
        ws,
        ExportOptions(out=str(project / "exports")),
        env=env,
        listener=lambda event, r: seen.append((event, r)),
    )
    assert isinstance(result, ExportResult) and result.status == "success"
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.rows = 0  # type: ignore[misc]
    assert seen[-1] == ("end", result)  # the listener's last record is the one returned
    pages = [r.pages for event, r in seen if event == "page"]
    assert pages == list(range(1, result.pages + 1))
    manifest = json.loads((Path(result.manifest)).read_text("utf-8"))
    _agree_with_manifest(result.as_json(), manifest)
    history = runs(
        store_for(ws.segments[0], ws.project, ExportOptions(out=str(project / "exports")).out),
        "everyone",
    )
    (entry,) = history
    _agree_with_history(result.as_json(), entry)
    assert result.rows == len(api.truth(rendered_body(project, NAME)))


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


def test_the_readme_python_api_example_runs_against_the_sandbox(
    sandbox: Start,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = sandbox(users=120, page_size=50)
    project = make_project(tmp_path, {"signups": ONE_FILE.replace("everyone", "signups")})
    for key, value in api_env(api).items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.chdir(project)
    exec(compile(_readme_example(), "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    manifest = json.loads((project / "exports/out/signups.jsonl.manifest.json").read_text())
    assert printed == [f"signups success {manifest['rows']} rows -> {manifest['destination']}"]
    assert manifest["rows"] == len(api.truth(rendered_body(project, "signups")))
