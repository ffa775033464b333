"""Column paths, end to end against the sandbox: a path outside the contact's documented
shape stops `validate` and `export` before any request; a column that is empty in every
row of a non-empty export is a warning in the summary, the results and the manifest."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, api_env, full_body, make_project, run_cli

Start = Callable[..., Sandbox]

SEGMENT = """\
version: 1
name: {name}
filter: {filter}
output:
  path: out/{name}.csv
  columns:
{columns}
"""
EVERYONE = "{isContact: false, applicableFilters: []}"
NEVER_ORDERED = (
    "{isContact: false, applicableFilters: [hasOrdered], hasOrdered: {status: false, lastAt: ''}}"
)


def segment(name: str, columns: list[str], filter: str = EVERYONE) -> str:
    lines = "\n".join(f"    - {c}" for c in columns)
    return SEGMENT.format(name=name, filter=filter, columns=lines)


def export(project: Path, api: Sandbox, *args: str) -> Any:
    return run_cli("export", "--as-of", ANCHOR, *args, cwd=project, env=api_env(api), timeout=180)


def test_a_misspelt_path_stops_validate_and_export_before_any_request(
    sandbox: Start, tmp_path: Path
) -> None:
    api = sandbox(users=120, seed=4)
    bad = segment(
        "typo",
        ["{ name: id, path: _id }", "{ name: email, path: profile.userDetails.contact.emial }"],
    )
    project = make_project(tmp_path, {"typo": bad})
    checked = run_cli("validate", cwd=project)
    assert checked.returncode == 1
    assert checked.stdout.startswith("segments/typo.yaml:8:28: 'output.columns[1].path': ")
    assert "did you mean 'profile.userDetails.contact.email'?" in checked.stdout
    run = export(project, api)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "did you mean 'profile.userDetails.contact.email'?" in run.stderr
    assert not (project / "out").exists()
    assert api.stats["requests"] == 0


def test_columns_empty_in_every_row_are_warnings_in_the_summary_results_and_manifest(
    sandbox: Start, tmp_path: Path
) -> None:
    """Three kinds: an undocumented field read on purpose (unchecked), a documented field
    this audience never has, a custom attribute no contact carries."""
    api = sandbox(users=150, seed=6)
    columns = [
        "{ name: id, path: _id }",
        "{ name: tier, path: profile.userDetails.loyaltyTier, unchecked: true }",
        "{ name: ordered_at, path: hasOrdered.lastAt }",
        "{ name: email, path: profile.userDetails.contact.email }",
        '{ name: loyalty, expr: attr("loyalty"), default: "none" }',
    ]
    project = make_project(tmp_path, {"quiet": segment("quiet", columns, NEVER_ORDERED)})
    assert run_cli("validate", cwd=project).returncode == 0
    run = export(project, api, "--results", "results.json")
    assert run.returncode == 0, run.stdout + run.stderr
    truth = api.truth(
        full_body(
            isContact=False,
            applicableFilters=["hasOrdered"],
            hasOrdered={"status": False, "lastAt": ""},
        )
    )
    with (project / "out" / "quiet.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(truth) > 0
    empty = [name for name in rows[0] if all(row[name] in ("", "none") for row in rows)]
    assert empty == ["tier", "ordered_at", "loyalty"]  # the file itself is the oracle
    manifest = json.loads((project / "out" / "quiet.csv.manifest.json").read_text("utf-8"))
    assert manifest["empty_columns"] == empty
    (result,) = json.loads((project / "results.json").read_text("utf-8"))["results"]
    assert result["empty_columns"] == empty
    (line,) = [w for w in result["warnings"] if "empty in all" in w]
    assert line.startswith(
        f"column(s) 'tier', 'ordered_at', 'loyalty' empty in all {len(rows)} rows"
    )
    assert f"warning: quiet: {line}" in run.stderr + run.stdout


def test_no_warning_when_every_column_has_a_value_or_the_export_is_empty(
    sandbox: Start, tmp_path: Path
) -> None:
    api = sandbox(users=150, seed=6)
    columns = [
        "{ name: id, path: _id }",
        "{ name: phone, expr: e164(profile.userDetails.contact.phone) }",
    ]
    nobody = "{isContact: false, applicableFilters: [], searchText: 'no such contact anywhere'}"
    project = make_project(
        tmp_path,
        {
            "full": segment("full", columns),
            "nobody": segment("nobody", ["profile.notes.0.title"], nobody),
        },
    )
    run = export(project, api, "--results", "results.json")
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads((project / "results.json").read_text("utf-8"))["results"]
    assert {r["segment"]: (r["rows"] > 0, r["empty_columns"]) for r in results} == {
        "full": (True, []),
        "nobody": (False, []),
    }
    assert "empty in all" not in run.stderr + run.stdout
    for name in ("full", "nobody"):
        manifest = json.loads((project / "out" / f"{name}.csv.manifest.json").read_text("utf-8"))
        assert manifest["empty_columns"] == []
