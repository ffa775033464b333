"""`segments init --orchestrator airflow`, in a new project and in an existing one, and the
token settings `segments list --format json` carries for it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from runner.cli import main
from runner.spec.workspace import Workspace
from tests.conftest import FAST_RETRY, make_project

PIN = ["--runner-source", "segment-runner==0.1.0"]
DAG = Path("dags") / "segments_dag.py"


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_new_project_gets_the_dag_beside_everything_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, airflow = tmp_path / "plain", tmp_path / "airflow"
    assert main(["init", str(plain), *PIN]) == 0
    assert main(["init", str(airflow), "--orchestrator", "airflow", *PIN]) == 0
    assert set(files(airflow)) == set(files(plain)) | {DAG.as_posix()}
    out = capsys.readouterr().out
    assert f"created {airflow / DAG}" in out and "airflow dags test segments" in out
    tree = ast.parse((airflow / DAG).read_text("utf-8"))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    dag_ids = [k.value.value for c in calls for k in c.keywords if k.arg == "dag_id"]  # type: ignore[attr-defined]
    assert dag_ids == ["segments"]
    text = (airflow / DAG).read_text("utf-8").lower()
    assert "airflow" in text and "dag" in text  # Airflow's safe mode parses only such files


@pytest.mark.parametrize(
    "existing",
    [
        {"runner.yaml": FAST_RETRY, "segments/a.yaml": "version: 1\nname: a\n"},  # hand-made
        {"runner.yaml": "version: 1\n"},  # no segments yet
        {"segments/a.yaml": "version: 1\nname: a\n"},  # no runner.yaml: the defaults
        None,  # made by `segments init`
    ],
)
def test_an_existing_project_gets_only_the_dag(
    tmp_path: Path, existing: dict[str, str] | None
) -> None:
    if existing is None:
        assert main(["init", str(tmp_path), *PIN]) == 0
    else:
        for name, text in existing.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(text, "utf-8")
    before = files(tmp_path)
    assert main(["init", str(tmp_path), "--orchestrator", "airflow", *PIN]) == 0
    after = files(tmp_path)
    assert set(after) - set(before) == {DAG.as_posix()}
    assert {k: v for k, v in after.items() if k in before} == before  # nothing else touched


def test_a_second_init_refuses_to_overwrite_the_dag_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path), "--orchestrator", "airflow", *PIN]) == 0
    (tmp_path / DAG).write_text("# edited by hand\n", "utf-8")
    capsys.readouterr()
    assert main(["init", str(tmp_path), "--orchestrator", "airflow", *PIN]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / DAG} already exists" in err and "--force" in err
    assert (tmp_path / DAG).read_text() == "# edited by hand\n"
    assert main(["init", str(tmp_path), "--orchestrator", "airflow", "--force", *PIN]) == 0
    assert "segments_dag" in (tmp_path / DAG).read_text()


@pytest.mark.parametrize("name", ["dagster", "Airflow", "prefect"])
def test_an_unknown_orchestrator_is_a_usage_error_naming_the_choice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert main(["init", str(tmp_path / "x"), "--orchestrator", name, *PIN]) == 2
    err = capsys.readouterr().err
    assert "--orchestrator" in err and "'airflow'" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("api", "expected"),
    [
        ("", ("FLOWMATIX_TOKEN", "auto", 16)),
        ("  token_env: TENANT_B\n  concurrency: 6\n", ("TENANT_B", 6, 16)),
        ("  token_env: ACME_KEY\n  max_concurrency: 9\n", ("ACME_KEY", "auto", 9)),
    ],
)
def test_list_json_carries_the_token_settings(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    api: str,
    expected: tuple[str, object, int],
) -> None:
    segment = "version: 1\nname: {n}\nlabels: [daily]\nfilter: {{tags: [vip]}}\n"
    project = make_project(
        tmp_path,
        {n: segment.format(n=n) for n in ("a", "b")},
        FAST_RETRY.replace("api:\n", "api:\n" + api),
    )
    assert main(["-C", str(project), "list", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    settings = Workspace.open(project, env={}).project.api  # the loader is the oracle
    assert expected == (settings.token_env, settings.concurrency, settings.max_concurrency)
    for row in rows:
        assert (row["token_env"], row["concurrency"], row["max_concurrency"]) == expected
