"""Issue 22, the as-of rule against the sandbox over a real socket: contacts created after
the run's as-of are left out, and counted, whether the list is read as createdAt windows
or by page number (the two publish the same file byte for byte); the API's clock, read
from its Date header, is compared with ours."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, api_env, full_body, make_project, run_cli

Start = Callable[..., Sandbox]
SEGMENT = """\
version: 1
name: everyone
filter: {isContact: false, applicableFilters: []}
output: {path: out/everyone.csv, columns: [{name: _id, path: _id}, {name: c, path: createdAt}]}
"""
RUNNER = """\
version: 1
api:
  windows: %s
  retry: {max_attempts: 12, backoff_initial: 0.01, backoff_max: 0.05, retry_after_cap: 0.05}
  timeout: {connect: 2, read: 5}
timezone: UTC
"""


def export(project: Path, api: Sandbox, as_of: str) -> tuple[int, str, dict[str, Any]]:
    result = run_cli(
        "export", "--as-of", as_of, "--results", "results.json", cwd=project, env=api_env(api)
    )
    entry = json.loads((project / "results.json").read_text())["results"][0]
    return result.returncode, result.stdout + result.stderr, entry


@pytest.mark.parametrize(
    ("users", "after", "deep"),
    [
        (2000, 7, 0.0),  # inside the list's first page
        (3000, 130, 0.0),  # more than two pages of it
        (6000, 700, 50.0),  # many pages, on a server where windows pay (kept to the end)
    ],
)
def test_both_ways_of_reading_leave_out_what_was_created_after_the_as_of_and_count_it(
    sandbox: Start, tmp_path: Path, users: int, after: int, deep: float
) -> None:
    deep_api = api = sandbox(users=users, page_size=50, seed=users, skip_cost_us=deep)
    dates = sorted((f.created_at for f in api.population.facts), reverse=True)
    assert dates[after] < dates[after - 1]  # the as-of falls between two instants
    as_of = dates[after]
    window = {"startAt": "", "endsAt": as_of}
    truth = api.truth(full_body(isContact=False, applicableFilters=["createdAt"], createdAt=window))
    assert len(truth) == users - after
    files = []
    for windows in ("false", "true"):  # page numbers first: what main got wrong
        # page numbers read the same contacts from a server where depth is free (they
        # pay it n²: half a minute here, and nothing this test checks)
        free = windows == "false"
        api = sandbox(users=users, page_size=50, seed=users) if free else deep_api
        project = make_project(tmp_path / windows, {"everyone": SEGMENT}, RUNNER % windows)
        code, out, entry = export(project, api, as_of)
        assert code == 0, out
        data = (project / "out" / "everyone.csv").read_bytes()
        ids = [line.split(",")[0] for line in data.decode("utf-8-sig").splitlines()[1:]]
        assert ids == truth, windows
        assert entry["after_as_of"] == after, (windows, out)
        assert f"{after:,} contacts created after the as-of, left for the next run" in out
        manifest = json.loads((project / "out" / "everyone.csv.manifest.json").read_text())
        assert manifest["after_as_of"] == after
        files.append(data)
    assert files[0] == files[1]


@pytest.mark.parametrize("skew", [180.0, -120.0, 3600.0])
def test_an_api_clock_apart_from_ours_is_measured_and_said(
    sandbox: Start, tmp_path: Path, skew: float
) -> None:
    api = sandbox(users=300, page_size=50, clock_skew_s=skew)
    project = make_project(tmp_path, {"everyone": SEGMENT}, RUNNER % "true")
    code, out, entry = export(project, api, ANCHOR)
    assert code == 0, out
    # The Date header has whole seconds: ours and theirs each lose up to one.
    assert abs(entry["api_clock_skew"] - skew) <= 1, entry
    side = "ahead of" if skew > 0 else "behind"
    said = re.search(rf"the API's clock is ([\d,]+) s {side} this machine's", out)
    assert said and abs(int(said[1].replace(",", "")) - abs(skew)) <= 1, out
    manifest = json.loads((project / "out" / "everyone.csv.manifest.json").read_text())
    assert abs(manifest["api_clock_skew_seconds"] - skew) <= 1


def test_an_api_clock_that_agrees_with_ours_says_nothing(sandbox: Start, tmp_path: Path) -> None:
    api = sandbox(users=300, page_size=50)
    project = make_project(tmp_path, {"everyone": SEGMENT}, RUNNER % "false")
    code, out, entry = export(project, api, ANCHOR)
    assert code == 0, out
    assert abs(entry["api_clock_skew"]) <= 1 and "clock" not in out
