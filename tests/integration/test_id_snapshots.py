"""Every full export keeps the ids it published with the history (issue 28, item 0), not
only `output.delta` runs: `segments overlap` and `exclude ... from last published` read
them. Proven against the sandbox over a socket, the ids read back from the files the
export wrote (CSV, JSON Lines, split CSV parts)."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.history import open_history, runs
from runner.sandbox import Sandbox
from tests.conftest import api_env, make_project, run_cli

Start = Callable[..., Sandbox]

SEGMENT = """\
version: 1
name: {name}
filter: {{isContact: false, applicableFilters: [], tags: [{tag}]}}
output:
  format: {fmt}
  path: out/{name}.{fmt}
  columns: [_id, profile.userDetails.name]
{extra}"""

INCREMENTAL = """\
version: 1
name: signups
mode: incremental
filter: {isContact: false, applicableFilters: []}
output: {format: jsonl, path: out/signups.jsonl, columns: [_id]}
"""


def segment(name: str, fmt: str = "csv", tag: str = "vip", extra: str = "") -> str:
    return SEGMENT.format(name=name, fmt=fmt, tag=tag, extra=extra)


def snapshot_ids(project: Path, ref: str) -> list[str]:
    """The ids a stored snapshot holds, read as a gzip of JSON lines after the header."""
    with open_history(project).open_snapshot(ref) as raw, gzip.open(raw) as lines:
        header = json.loads(next(lines))
        assert header == {"format": "segment-runner/ids", "version": 1, "id_key": "_id"}
        return [json.loads(line) for line in lines]


def file_ids(path: Path) -> list[str]:
    """The ids an exported file holds: every CSV part, or the JSON Lines."""
    if path.suffix == ".jsonl":
        return [json.loads(line)["_id"] for line in path.read_text("utf-8").splitlines()]
    parts = sorted(path.parent.glob(f"{path.stem}-*{path.suffix}")) or [path]
    ids: list[str] = []
    for part in parts:
        with part.open(newline="", encoding="utf-8") as fh:
            ids += [row["_id"] for row in csv.DictReader(fh)]
    return ids


def export(project: Path, api: Sandbox, *args: str, token: str | None = None) -> None:
    done = run_cli("export", *args, cwd=project, env=api_env(api, token))
    assert done.returncode == (0 if token is None else 1), done.stdout + done.stderr


@pytest.mark.parametrize(
    ("fmt", "extra"),
    [("csv", ""), ("jsonl", ""), ("csv", "  split: {max_rows: 40}\n")],
    ids=["csv", "jsonl", "csv-parts"],
)
def test_a_full_export_without_delta_keeps_the_ids_it_published(
    sandbox: Start, tmp_path: Path, fmt: str, extra: str
) -> None:
    api = sandbox(users=400, seed=5)
    project = make_project(tmp_path, {"vip": segment("vip", fmt, extra=extra)})
    export(project, api)
    (record,) = runs(open_history(project), "vip")
    assert record.snapshot, "a run without output.delta recorded no snapshot"
    published = file_ids(project / "out" / f"vip.{fmt}")
    assert len(published) == record.rows > 40
    stored = snapshot_ids(project, record.snapshot)
    assert sorted(stored) == sorted(published) and len(set(stored)) == len(stored)
    manifest = json.loads(next((project / "out").glob("*.manifest.json")).read_text())
    assert "delta" not in manifest["history"], "no delta files were asked for"


def test_the_newest_two_are_kept_and_a_failed_run_keeps_them(
    sandbox: Start, tmp_path: Path
) -> None:
    project = make_project(tmp_path, {"vip": segment("vip")})
    sizes = (300, 350, 420)
    for users in sizes:
        export(project, sandbox(users=users, seed=7))
    export(project, sandbox(users=500, seed=7), token="wrong-token")
    recorded = runs(open_history(project), "vip")
    assert [r.status for r in recorded] == ["success"] * 3 + ["failed"]
    assert recorded[3].snapshot is None
    assert open_history(project).snapshots("vip") == [r.snapshot for r in recorded[1:3]]
    newest = recorded[2]
    assert newest.snapshot is not None
    assert sorted(snapshot_ids(project, newest.snapshot)) == sorted(
        file_ids(project / "out" / "vip.csv")
    )


def test_dry_runs_and_incremental_runs_keep_no_snapshot(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=300, seed=9)
    project = make_project(tmp_path, {"vip": segment("vip"), "signups": INCREMENTAL})
    export(project, api, "vip", "--dry-run")
    export(project, api, "signups")
    store = open_history(project)
    assert store.snapshots("vip") == [] and store.snapshots("signups") == []
    (record,) = runs(store, "signups")
    assert record.status == "success" and record.rows > 0 and record.snapshot is None


@pytest.mark.parametrize("users", [6000, 9000])
def test_a_full_disk_while_storing_the_snapshot_keeps_the_previous_run(
    sandbox: Start, tmp_path: Path, users: int
) -> None:
    from tests.integration.test_os_errors import one_line, run_limited

    # parts of 200 rows and their manifest fit under 16 KiB; the snapshot (9 bytes an id) not
    project = make_project(tmp_path, {"vip": segment("vip", extra="  split: {max_rows: 200}\n")})
    export(project, sandbox(users=300, seed=3))
    before = {p.name: p.read_bytes() for p in (project / "out").iterdir()}
    (kept,) = runs(open_history(project), "vip")
    assert kept.snapshot
    stored = snapshot_ids(project, kept.snapshot)
    api = sandbox(users=users, seed=4, page_size=500)
    run = run_limited(project, api, "export", fsize=16 * 1024)
    assert run.returncode == 1
    one_line(run, "cannot write the id snapshot in ")
    assert "File too large" in run.stdout + run.stderr
    assert {p.name: p.read_bytes() for p in (project / "out").iterdir()} == before
    recorded = runs(open_history(project), "vip")
    assert [r.status for r in recorded] == ["success", "failed"]
    assert open_history(project).snapshots("vip") == [kept.snapshot]
    assert snapshot_ids(project, kept.snapshot) == stored
