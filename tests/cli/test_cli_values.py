"""Every command-line value is checked before anything runs: a bad one is one line, exit 2,
and not one request reaches the API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.sandbox import Sandbox
from tests.conftest import ANCHOR, FAST_RETRY, api_env, make_project, run_cli

Start = Callable[..., Sandbox]

SEGMENT = """\
version: 1
name: {name}
labels: [{label}]
filter:
  isContact: false
  applicableFilters: []
output:
  format: csv
  path: out/{name}.csv
"""
PROJECT = {
    "everyone": SEGMENT.format(name="everyone", label="daily"),
    "vips": SEGMENT.format(name="vips", label="vip"),
}
ONE_LINE = "expected a whole number from 1 to 64 (the cap of runner.yaml api.concurrency)"
ISO = "(for example 2026-11-25 or 2026-11-25T09:00:00Z)"

BAD_EXPORTS = [
    (["--concurrency", "10000"], f"argument --concurrency: {ONE_LINE}, got '10000'"),
    (["--concurrency", "65"], f"argument --concurrency: {ONE_LINE}, got '65'"),
    (["--concurrency", "0"], f"argument --concurrency: {ONE_LINE}, got '0'"),
    (["--concurrency", "4.5"], f"argument --concurrency: {ONE_LINE}, got '4.5'"),
    (
        ["--max-pages", "0"],
        "argument --max-pages: expected a whole number from 1 to 10,000,000, got '0'",
    ),
    (
        ["--max-pages", "9" * 5000],  # more digits than int() reads: still one short line
        "argument --max-pages: expected a whole number from 1 to 10,000,000, "
        "got '99999999999999999999999999999999999...'",
    ),
    (["label:typo"], "no segment has the label 'typo' (in use: daily, vip)"),
    (["label:dialy"], "no segment has the label 'dialy' (did you mean 'daily'?)"),
    (["everyone", "--select", "label:vpi"], "no segment has the label 'vpi' (did you mean 'vip'?)"),
    (
        ["--as-of", "0001-01-01T00:00:00+01:00"],
        f"argument --as-of: '0001-01-01T00:00:00+01:00' is outside the years 1970 to 2999 {ISO}",
    ),
    (
        ["--as-of", "9999-12-31T23:00:00-05:00"],
        f"argument --as-of: '9999-12-31T23:00:00-05:00' is outside the years 1970 to 2999 {ISO}",
    ),
    (
        ["--as-of", "3000-01-01"],
        f"argument --as-of: '3000-01-01' is outside the years 1970 to 2999 {ISO}",
    ),
    (
        ["--as-of", "garbage"],
        f"argument --as-of: 'garbage' is not an ISO-8601 date or date-time {ISO}",
    ),
    (
        ["--as-of", "2026-11-25T25:00:00Z"],
        f"argument --as-of: '2026-11-25T25:00:00Z' is not an ISO-8601 date or date-time {ISO}",
    ),
    (
        ["--as-of", "2026-11-25\n"],
        f"argument --as-of: '2026-11-25\\n' is not an ISO-8601 date or date-time {ISO}",
    ),
    (
        ["--var", "campaign=bf\x07"],
        "argument --var: the value of campaign has a character U+0007 at position 3",
    ),
    (
        ["--var", "campaign=a\x1b[2J"],
        "argument --var: the value of campaign has a character U+001B at position 2",
    ),
    # Bytes that are not UTF-8 reach Python as lone surrogates.
    (
        ["--var", "campaign=\udcff"],
        "argument --var: the value of campaign has a character U+DCFF at position 1",
    ),
    (
        ["--var", "camp aign=1"],
        "argument --var: name 'camp aign': use letters, digits, '_', '.' or '-', "
        "starting with a letter or '_'",
    ),
    (["--var", "=1"], "argument --var: expected NAME=VALUE, got '=1'"),
]


@pytest.mark.parametrize(("args", "message"), BAD_EXPORTS, ids=lambda v: repr(v)[:40])
def test_bad_export_value_is_one_line_exit_2_and_no_request(
    sandbox: Start, tmp_path: Path, args: list[str], message: str
) -> None:
    api = sandbox(users=100)
    project = make_project(tmp_path, PROJECT)
    result = run_cli("export", "--as-of", ANCHOR, *args, cwd=project, env=api_env(api))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last in (f"segments export: error: {message}", f"segments: error: {message}")
    assert sum(api.stats.values()) == 0
    assert not (project / "out").exists()


def test_limits_themselves_are_accepted(sandbox: Start, tmp_path: Path) -> None:
    """The counter above can count: the largest allowed values run and send requests."""
    api = sandbox(users=100)
    project = make_project(tmp_path, PROJECT)
    for as_of in ("1970-01-01", "2999-12-31T23:59:59-12:00"):
        args = ["--concurrency", "64", "--max-pages", "10000000", "--as-of", as_of]
        result = run_cli("export", "label:vip", *args, cwd=project, env=api_env(api))
        assert result.returncode == 0, result.stderr
    assert api.stats["pages"] >= 2
    assert (project / "out" / "vips.csv").exists()
    assert not (project / "out" / "everyone.csv").exists()


def test_missing_project_folder_is_a_usage_error(tmp_path: Path) -> None:
    for command in (["list"], ["validate"], ["render"], ["export"], ["diff", "HEAD"]):
        result = run_cli("-C", "/nonexistent", *command, cwd=tmp_path)
        assert (result.returncode, result.stderr) == (
            2,
            "segments: error: project folder /nonexistent does not exist\n",
        ), command
    (tmp_path / "file").write_text("x")
    result = run_cli("-C", "file", "list", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (
        2,
        "segments: error: project folder file is not a folder\n",
    )


def test_label_selector_that_matches_nothing_is_exit_2_everywhere(tmp_path: Path) -> None:
    project = make_project(tmp_path, PROJECT)
    for command in ("list", "render", "validate"):
        flag = ["--select"] if command == "validate" else []
        result = run_cli(command, *flag, "label:typo", "--as-of", ANCHOR, cwd=project)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert result.stderr.endswith(
            "segments: error: no segment has the label 'typo' (in use: daily, vip)\n"
        )
    # An --exclude that matches nothing is not an error: it leaves nothing out.
    result = run_cli("list", "label:vip", "--exclude", "label:none", cwd=project)
    assert result.returncode == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["NAME", "vips"]


def test_as_of_without_offset_is_project_time(tmp_path: Path) -> None:
    """A date-time without an offset is wall-clock time in runner.yaml's time zone;
    a date is its midnight there."""
    runner_yaml = FAST_RETRY.replace("timezone: UTC", "timezone: Asia/Kolkata")
    project = make_project(tmp_path, PROJECT, runner_yaml)
    seen = []
    for as_of in ("2026-11-25T09:00", "2026-11-25", "2026-11-25T09:00:00Z"):
        result = run_cli("render", "everyone", "--as-of", as_of, "--format", "json", cwd=project)
        assert result.returncode == 0, result.stderr
        seen.append(json.loads(result.stdout)[0]["as_of"])
    assert seen == [
        "2026-11-25T09:00:00+05:30",
        "2026-11-25T00:00:00+05:30",
        "2026-11-25T14:30:00+05:30",
    ]


BAD_SANDBOX = [
    (["--port", "99999"], "argument --port: expected a whole number from 0 to 65,535, got '99999'"),
    (["--port", "-1"], "argument --port: expected a whole number from 0 to 65,535, got '-1'"),
    (
        ["--users", "100000000000"],  # would generate contacts until memory runs out
        "argument --users: expected a whole number from 1 to 1,000,000, got '100000000000'",
    ),
    (["--users", "0"], "argument --users: expected a whole number from 1 to 1,000,000, got '0'"),
    (
        ["--page-size", "0"],
        "argument --page-size: expected a whole number from 1 to 10,000, got '0'",
    ),
    (
        ["--page-size", "10001"],
        "argument --page-size: expected a whole number from 1 to 10,000, got '10001'",
    ),
    (
        ["--latency-ms", "nan"],
        "argument --latency-ms: expected a number from 0 to 60,000, got 'nan'",
    ),
    (
        ["--latency-ms", "inf"],
        "argument --latency-ms: expected a number from 0 to 60,000, got 'inf'",
    ),
    (
        ["--latency-ms", "1e400"],
        "argument --latency-ms: expected a number from 0 to 60,000, got '1e400'",
    ),
    (["--latency-ms", "-5"], "argument --latency-ms: expected a number from 0 to 60,000, got '-5'"),
    (
        ["--seed", "-1"],
        "argument --seed: expected a whole number from 0 to 9,223,372,036,854,775,807, got '-1'",
    ),
    (["--churn", "-1"], "argument --churn: expected a whole number from 0 to 10,000, got '-1'"),
    (
        ["--token", "t\nexport PATH=/tmp"],  # printed as a shell line: no injection
        "argument --token: 't\\nexport PATH=/tmp': use letters, digits and - . _ ~ + / "
        "(then = padding) only",
    ),
    (
        ["--anchor", "0001-01-01"],
        f"argument --anchor: '0001-01-01' is outside the years 1970 to 2999 {ISO}",
    ),
    (
        ["--host", "local\x01host"],
        "argument --host: 'local\\x01host' has a character U+0001 at position 6",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_SANDBOX, ids=lambda v: repr(v)[:40])
def test_bad_sandbox_value_is_one_line_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_cli("sandbox", *args, cwd=tmp_path, timeout=30)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"segments sandbox: error: {message}"


def test_git_ref_that_reads_as_an_option_is_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path, PROJECT)
    for args in (
        ["diff", "--", "--output=x.tar"],
        ["list", "state:modified", "--state=--output=x"],
    ):
        result = run_cli(*args, cwd=project)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines()[-1].startswith("segments: error: '--output=")
        assert result.stderr.endswith("is not a git ref (a branch, tag or commit, e.g. HEAD~1)\n")
    assert not (project / "x.tar").exists() and not (project / "x").exists()
