"""Issue 22 against the sandbox over a real socket: an incremental segment's runs ask
for createdAt ranges, which a contact without a createdAt (absent, null or empty;
listed after the dated ones or first) never matches. The first run, a full export,
has every one of them; a later run cannot tell when one arrived and counts them in
the summary, the manifest and the results, with windows and with page numbers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, WINDOWS_RUNNER, api_env, full_body, make_project, run_cli

Start = Callable[..., Sandbox]
RUNNER = WINDOWS_RUNNER
INCREMENTAL = """\
version: 1
name: everyone
mode: incremental
filter: {isContact: false, applicableFilters: []}
output: {format: jsonl, path: out/everyone.jsonl}
"""
NEXT_DAY = "2026-11-26T00:00:00Z"


def run(project: Path, api: Sandbox, as_of: str) -> tuple[list[Any], str, dict[str, Any]]:
    """The ids in the run's dated file, its output and its results entry."""
    done = run_cli("export", "--as-of", as_of, "--results", "r.json", cwd=project, env=api_env(api))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    entry: dict[str, Any] = json.loads((project / "r.json").read_text())["results"][0]
    data = Path(project / entry["destination"]).read_text("utf-8")
    manifest = json.loads(Path(project / (entry["destination"] + ".manifest.json")).read_text())
    assert manifest["without_created_at"] == {
        "count": entry["undated"],
        "exported": entry["undated_included"],
    }
    return [json.loads(line)["_id"] for line in data.splitlines()], out, entry


@pytest.mark.parametrize(
    ("users", "share", "form", "at"),
    [
        (3000, 0.02, "absent", "end"),  # as MongoDB lists a missing field: last
        (2000, 0.01, "null", "start"),  # as SQL's NULLS FIRST lists them
        (1500, 0.001, "empty", "end"),  # one or two, on the last page
    ],
)
@pytest.mark.parametrize("windows", ["true", "false"])
def test_an_incremental_segment_loses_no_contact_without_created_at(
    sandbox: Start, tmp_path: Path, users: int, share: float, form: str, at: str, windows: str
) -> None:
    api = sandbox(
        users=users, page_size=50, seed=users, missing_created=share, missing_form=form,
        missing_at=at,
    )  # fmt: skip
    undated = {f.id for f in api.population.facts if not f.created_at}
    assert undated and len(undated) < users
    everyone = api.truth(full_body(isContact=False, applicableFilters=[]))
    project = make_project(tmp_path, {"everyone": INCREMENTAL}, RUNNER % windows)
    # The first run is a full export: every contact, the undated ones too, once.
    ids, out, entry = run(project, api, ANCHOR)
    assert len(ids) == len(set(ids)) and set(ids) == set(everyone)
    assert entry["undated"] == len(undated) and entry["undated_included"]
    assert f"{len(undated):,} contact" in out and "exported, as a first run" in out
    # The next day: nothing was created since, and the undated contacts cannot be placed
    # in a day: not exported again, but counted.
    ids, out, entry = run(project, api, NEXT_DAY)
    assert ids == []
    assert entry["undated"] == len(undated) and not entry["undated_included"]
    assert "are not in this incremental run" in out
