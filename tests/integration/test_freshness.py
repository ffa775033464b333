"""`segments freshness` against history written by real exports to the sandbox: fresh,
stale by time, never run, a failed last run; `notify` `on: [stale]` to a webhook server
started here; and `expect.fresh_within` values the schema refuses."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from runner.cli import main
from runner.history import open_history, runs
from runner.history.record import parse_time
from runner.sandbox import Sandbox
from tests.conftest import FAST_RETRY, api_env, make_project, run_cli
from tests.integration.test_notify import Hook, hook  # noqa: F401 (the webhook fixture)

RUNNER = FAST_RETRY + "defaults:\n  expect: {fresh_within: 26h}\n"


def segment(name: str, extra: str = "") -> str:
    return (
        f"version: 1\nname: {name}\nowner: {name}@example.com\n"
        "filter: {isContact: false, applicableFilters: []}\n"
        f"output: {{path: out/{name}.csv}}\n{extra}"
    )


def export(project: Path, api: Sandbox, name: str) -> int:
    done = run_cli("-C", str(project), "export", name, env=api_env(api))
    return done.returncode


def freshness(
    project: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, list[dict[str, Any]]]:
    capsys.readouterr()
    code = main(["-C", str(project), "freshness", "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


def ended(project: Path, name: str) -> dt.datetime:
    (record,) = runs(open_history(project / "out"), name, last=1)
    return parse_time(record.ended)


@pytest.fixture
def exported(tmp_path: Path, sandbox: Any) -> Path:
    """published and late-failure exported fine; late-failure then failed; only-failed
    only failed; never-run never ran; slow-ok may be two days old (its own fresh_within)."""
    project = make_project(
        tmp_path,
        {
            "published": segment("published"),
            "late-failure": segment("late-failure"),
            "only-failed": segment("only-failed"),
            "never-run": segment("never-run"),
            "slow-ok": segment("slow-ok", "expect: {fresh_within: 2d}\n"),
        },
        RUNNER.replace("timezone: UTC\n", "timezone: UTC\noutput_root: out\n"),
    )
    good, broken = sandbox(users=120), sandbox(users=120, faults="500=1")
    for name in ("published", "late-failure", "slow-ok"):
        assert export(project, good, name) == 0
    assert export(project, broken, "late-failure") == 1
    assert export(project, broken, "only-failed") == 1
    return project


def test_fresh_never_and_a_failed_last_run(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = freshness(exported, capsys)
    states = {r["name"]: r["freshness"] for r in rows}
    assert states == {
        "published": "fresh",
        "late-failure": "fresh",  # its last *published* export is recent: the data is fresh
        "only-failed": "never",  # a failed run publishes nothing
        "never-run": "never",
        "slow-ok": "fresh",
    }
    assert code == 1
    late = next(r for r in rows if r["name"] == "late-failure")
    assert late["last_run"]["status"] == "failed"
    assert late["fresh_within"] == "26h"  # from defaults.expect
    assert late["last_success"] == ended_success(exported, "late-failure")
    # Only fresh ones selected: 0.
    code, _ = freshness(exported, capsys, "published", "late-failure", "slow-ok")
    assert code == 0
    assert main(["-C", str(exported), "freshness", "only-failed"]) == 1


def ended_success(project: Path, name: str) -> str:
    records = [r for r in runs(open_history(project / "out"), name) if r.ok]
    return records[-1].ended


def test_stale_by_time(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    last = ended(exported, "published")
    selected = ("published", "slow-ok")

    def at(hours: float) -> dict[str, str]:
        moment = (last + dt.timedelta(hours=hours)).isoformat().replace("+00:00", "Z")
        code, rows = freshness(exported, capsys, *selected, "--as-of", moment)
        states = {r["name"]: r["freshness"] for r in rows}
        states["exit"] = str(code)
        return states

    assert at(25) == {"published": "fresh", "slow-ok": "fresh", "exit": "0"}
    assert at(27) == {"published": "stale", "slow-ok": "fresh", "exit": "1"}
    assert at(49) == {"published": "stale", "slow-ok": "stale", "exit": "1"}


def test_the_table_says_what_and_why(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    later = (ended(exported, "published") + dt.timedelta(hours=30)).isoformat()
    capsys.readouterr()
    code = main(["-C", str(exported), "freshness", "--as-of", later.replace("+00:00", "Z")])
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:-1]}
    assert code == 1
    assert lines["published"].split()[1:3] == ["stale", "26h"]
    assert " 1d 6h " in lines["published"] or " 1d 5h " in lines["published"]
    assert lines["never-run"].split()[1:] == ["never", "26h", "-", "-", "-"]
    assert "failed" in lines["late-failure"] and "HTTP 500" in lines["late-failure"]
    assert out.splitlines()[-1] == "5 segments: 1 fresh, 2 stale, 2 never published"


def test_stale_segments_page_their_stale_targets_only(
    tmp_path: Path,
    sandbox: Any,
    hook: Hook,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    targets = (
        "notify:\n"
        "  - {url: 'json://127.0.0.1:${HOOK_PORT}/ok/stale-hook', on: [stale]}\n"
        "  - {url: 'json://127.0.0.1:${HOOK_PORT}/ok/failure-hook', on: [failure]}\n"
    )
    project = make_project(
        tmp_path,
        {"daily": segment("daily"), "weekly": segment("weekly", "expect: {fresh_within: 8d}\n")},
        RUNNER + "output_root: out\n" + targets,
    )
    api = sandbox(users=50)
    assert export(project, api, "daily") == 0
    assert export(project, api, "weekly") == 0
    later = (ended(project, "daily") + dt.timedelta(days=2)).isoformat().replace("+00:00", "Z")
    monkeypatch.setenv("HOOK_PORT", str(hook.port))
    assert main(["-C", str(project), "freshness", "--as-of", later]) == 1
    assert hook.received == []  # looking is not paging
    assert main(["-C", str(project), "freshness", "--as-of", later, "--notify"]) == 1
    assert [path for path, _ in hook.received] == ["/ok/stale-hook"]
    message = hook.received[0][1]
    assert message["title"] == "segments: daily stale"
    assert "last published 2d 0h ago, over 26h" in message["message"]
    assert "HOOK_PORT" not in capsys.readouterr().err


@pytest.mark.parametrize("value", ["26 hours", "0h", "26", "1w", "-3d", "1000000d"])
def test_a_bad_fresh_within_names_the_key_the_value_and_the_form(
    tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path, {"x": segment("x", f"expect: {{fresh_within: '{value}'}}\n")})
    capsys.readouterr()
    assert main(["-C", str(project), "validate"]) == 1
    out = capsys.readouterr().out
    assert out.split("/segments/x.yaml:", 1)[1].startswith(
        f"6:24: 'expect.fresh_within' has invalid value \"{value}\": "
        "expected a duration such as '26h', '90m' or '2d'"
    ), out


@pytest.mark.parametrize("value", ["26h", "90m", "2d", " 7 d "])
def test_good_fresh_within_values_pass(
    tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path, {"x": segment("x", f"expect: {{fresh_within: '{value}'}}\n")})
    assert main(["-C", str(project), "validate"]) == 0
