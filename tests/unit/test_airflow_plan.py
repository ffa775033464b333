"""runner_airflow.plan without Airflow: selection as the CLI selects, the pool rule, saved
lists, and the list cache that keeps DAG parsing fast."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.cli import main
from runner.errors import UsageError
from runner.spec.workspace import Workspace
from runner_airflow import plan
from runner_airflow.plan import PlanError, TokenShare, make_plan, project_rows, select
from tests.conftest import FAST_RETRY, make_project

SEGMENT = "version: 1\nname: {name}\nlabels: {labels}\nfilter: {{tags: [vip]}}\n"
LABELS = {
    "vip-daily": "[daily, vip]",
    "vip-weekly": "[weekly, vip]",
    "new-signups": "[daily]",
    "churned": "[]",
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # file paths as typed in the project, as the CLI reads them
    return make_project(
        tmp_path, {n: SEGMENT.format(name=n, labels=labels) for n, labels in LABELS.items()}
    )


@pytest.mark.parametrize(
    ("selectors", "exclude"),
    [
        ([], []),
        (["label:daily"], []),
        (["vip-*"], []),
        (["label:daily", "churned"], ["new-*"]),
        (["segments/churned.yaml"], []),
        ([], ["label:vip"]),
    ],
)
def test_selection_is_the_clis(project: Path, selectors: list[str], exclude: list[str]) -> None:
    ws = Workspace.open(project, env={})
    expected = [s.name for s in ws.select(selectors, exclude)]  # the CLI's own selection
    rows = project_rows(project, env={})
    assert [s.name for s in select(rows, selectors, exclude, project)] == expected


@pytest.mark.parametrize("selector", ["vip-dialy", "label:daliy", "label:monthly", "nothing"])
def test_a_selector_matching_nothing_says_what_the_cli_says(project: Path, selector: str) -> None:
    with pytest.raises(UsageError) as cli:
        Workspace.open(project, env={}).select([selector])
    with pytest.raises(PlanError) as planned:
        select(project_rows(project, env={}), [selector], project=project)
    assert str(planned.value) == str(cli.value)


def test_state_modified_is_refused_at_parse_time(project: Path) -> None:
    with pytest.raises(PlanError, match="mapped_segments_dag"):
        select(project_rows(project, env={}), ["state:modified"], project=project)


@pytest.mark.parametrize("budget", [1, 2, 3, 7, 16, 64])
def test_pool_slots_times_concurrency_stays_within_the_budget(budget: int) -> None:
    for slots in range(1, budget + 1):
        share = TokenShare("T", budget, slots)
        assert share.concurrency >= 1
        assert slots * share.concurrency <= budget < slots * (share.concurrency + 1)
        assert share.pool == "T" and f"pools set T {slots} " in share.pool_command()


@pytest.mark.parametrize(("budget", "slots"), [(4, 5), (1, 2), (16, 0), (8, -1)])
def test_more_slots_than_the_budget_is_refused(budget: int, slots: int) -> None:
    with pytest.raises(PlanError, match=f"pool_slots {slots}: give 1 to {budget}"):
        TokenShare("ACME_TOKEN", budget, slots)


@pytest.mark.parametrize(
    ("api", "budget", "given", "expected"),
    [
        ("", None, None, 16),  # auto: api.max_concurrency
        ("  max_concurrency: 10\n", None, None, 10),
        ("  concurrency: 6\n", None, None, 6),  # a fixed number is the budget
        ("  concurrency: 6\n", 12, 12, 12),  # given explicitly
    ],
)
def test_the_budget_comes_from_runner_yaml(
    tmp_path: Path, api: str, budget: int | None, given: int | None, expected: int
) -> None:
    project = make_project(
        tmp_path,
        {"a": SEGMENT.format(name="a", labels="[]")},
        FAST_RETRY.replace("api:\n", "api:\n" + api),
    )
    made = make_plan(project, slots=2, budget=given)
    assert made.share.budget == expected and made.share.concurrency == expected // 2


def save_list(project: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """`segments list --format json > segments.json`, run in the project."""
    assert main(["-C", str(project), "list", "--format", "json"]) == 0
    saved = project / "segments.json"
    saved.write_text(capsys.readouterr().out, "utf-8")
    return saved


def test_a_saved_list_plans_the_same_as_the_project(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = save_list(project, capsys)
    for selectors in ([], ["label:daily"], ["vip-*"]):
        from_files = make_plan(project, selectors)
        from_list = make_plan(project, selectors, saved_list=saved)
        assert from_list == from_files


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{}", "expected the JSON list"),
        ("[{", "cannot read a saved segments list"),
        ('[{"name": "a", "labels": [], "file": "a.yaml"}]', "entry 1 has no 'token_env'"),
        ('[{"name": "a", "file": "a.yaml", "token_env": "T"}]', "entry 1 has no 'labels'"),
    ],
)
def test_a_bad_saved_list_is_one_message_naming_it(tmp_path: Path, text: str, message: str) -> None:
    saved = tmp_path / "segments.json"
    saved.write_text(text, "utf-8")
    with pytest.raises(PlanError, match=message) as raised:
        make_plan(tmp_path, saved_list=saved)
    assert str(raised.value).startswith(f"{saved}: ")


def test_the_list_is_cached_until_a_file_changes(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = project_rows(project, env={})
    assert (project / plan.CACHE).is_file()
    calls: list[Path] = []
    real = plan.list_project

    def counted(root: Path, env: object = None) -> list[dict[str, object]]:
        calls.append(root)
        return real(root, env={})

    monkeypatch.setattr(plan, "list_project", counted)
    assert project_rows(project) == first and calls == []  # from the cache
    changes = [
        lambda: (project / "segments" / "churned.yaml").write_text(
            SEGMENT.format(name="churned", labels="[gone]")
        ),
        lambda: (project / "segments" / "extra.yaml").write_text(
            SEGMENT.format(name="extra", labels="[]")
        ),
        lambda: os.utime(project / "runner.yaml", ns=(1, 1)),
        lambda: (project / "segments" / "vip-weekly.yaml").unlink(),
    ]
    for number, change in enumerate(changes, 1):
        change()
        rows = project_rows(project)
        assert len(calls) == number
        assert project_rows(project) == rows and len(calls) == number  # cached again
    names = {r["name"]: r["labels"] for r in rows}
    assert names["churned"] == ["gone"] and "extra" in names and "vip-weekly" not in names


def test_a_file_with_problems_keeps_its_task(project: Path) -> None:
    (project / "segments" / "broken.yaml").write_text(
        "version: 1\nname: broken\nfilter: {tagz: []}\n"
    )
    names = [s.name for s in make_plan(project).segments]
    assert "broken" in names  # its task fails with the file's problems, visibly


def test_a_broken_runner_yaml_stops_the_plan_with_its_problems(project: Path) -> None:
    (project / "runner.yaml").write_text("version: 1\napi: {tokn_env: X}\n", "utf-8")
    with pytest.raises(PlanError, match=r"runner.yaml:2:\d+: .*tokn_env.*token_env"):
        make_plan(project)


@pytest.mark.parametrize(
    "blocker", [".segments", ".segments/airflow", ".segments/airflow/list.json/x"]
)
def test_a_cache_that_cannot_be_written_only_costs_time(project: Path, blocker: str) -> None:
    first = Path(project / blocker.split("/x")[0])
    first.parent.mkdir(parents=True, exist_ok=True)
    if blocker.endswith("/x"):
        first.mkdir()  # a folder where the cache file goes
    else:
        first.write_text("a file where a folder goes\n")
    before = sorted(p for p in project.rglob("*"))
    rows = project_rows(project, env={})
    assert [r["name"] for r in rows] == sorted(LABELS)
    assert sorted(p for p in project.rglob("*")) == before  # no temporary left behind


def test_a_saved_list_may_be_named_by_text(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = save_list(project, capsys)
    assert make_plan(project, saved_list=str(saved)) == make_plan(project, saved_list=saved)
