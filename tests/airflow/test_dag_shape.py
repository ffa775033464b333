"""The DAG as Airflow parses it: tasks, pools, retries and concurrency checked statically
(a test run does not enforce pools), the pool command Airflow accepts, and parse time."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from runner.spec.workspace import Workspace
from runner_airflow.plan import TokenShare
from tests.airflow.conftest import AIRFLOW, airflow_env, scaffold, segment
from tests.conftest import FAST_RETRY, run_cli

PARSE_BUDGET = 5.0  # seconds, 1,000 segments (issue 27)


def dagbag(dags: Path) -> object:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags))  # AIRFLOW__CORE__LOAD_EXAMPLES=False: ours only
    assert not bag.import_errors, bag.import_errors
    return bag


def export_tasks(project: Path) -> list[object]:
    bag = dagbag(project / "dags")
    dag = bag.dags["segments"]  # type: ignore[attr-defined]
    return list(dag.tasks)


@pytest.mark.parametrize(
    ("settings", "pool", "budget"),
    [
        ("", "FLOWMATIX_TOKEN", 16),  # the defaults: auto, at most 16 at once
        ("  token_env: TENANT_B_TOKEN\n  max_concurrency: 10\n", "TENANT_B_TOKEN", 10),
        ("  token_env: ACME_TOKEN\n  concurrency: 6\n", "ACME_TOKEN", 6),  # a fixed number
    ],
)
def test_every_task_in_its_tokens_pool_within_its_budget_retried_at_most_once(
    tmp_path: Path, settings: str, pool: str, budget: int
) -> None:
    names = ["alpha", "beta-2", "gamma-three"]
    segments = {name: segment(name) for name in names}
    segments["not-daily"] = segment("not-daily", labels="[weekly]")
    project = scaffold(tmp_path, segments, FAST_RETRY.replace("api:\n", "api:\n" + settings))
    tasks = export_tasks(project)
    ws = Workspace.open(project, env={})
    assert sorted(t.task_id for t in tasks) == sorted(  # type: ignore[attr-defined]
        s.name for s in ws.select(["label:daily"])
    )
    for task in tasks:
        assert task.pool == pool  # type: ignore[attr-defined]
        assert task.retries == 1  # type: ignore[attr-defined]
        assert task.segment == task.task_id  # type: ignore[attr-defined]
        # the scaffolded DAG asks for 4 slots: 4 tasks x --concurrency within the budget
        assert 4 * task.concurrency <= budget  # type: ignore[attr-defined]
        assert task.concurrency == budget // 4  # type: ignore[attr-defined]


def test_the_pool_command_creates_the_pool_airflow_then_holds(tmp_path: Path) -> None:
    share = TokenShare("ACME_TOKEN", budget=12, slots=3)
    env = {**os.environ, **airflow_env(tmp_path / "home", tmp_path / "dags")}
    env["PATH"] = f"{AIRFLOW.parent}{os.pathsep}{env['PATH']}"  # the command says `airflow`
    done = subprocess.run(
        ["bash", "-c", f"{AIRFLOW} db migrate >/dev/null && {share.pool_command()}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    shown = subprocess.run(
        [str(AIRFLOW), "pools", "get", "ACME_TOKEN", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    (pool,) = json.loads(shown.stdout)
    assert pool["pool"] == "ACME_TOKEN" and int(pool["slots"]) == 3


def many_segments(root: Path, count: int) -> Path:
    return scaffold(root, {f"seg-{n:04d}": segment(f"seg-{n:04d}") for n in range(count)})


def timed_parse(dags: Path) -> tuple[float, int]:
    """A DagBag load of ``dags``, timed as Airflow's DAG processor pays it: Airflow itself
    already imported (its processes preload it), this DAG file and what it imports not."""
    from airflow.sdk import DAG, BaseOperator

    assert DAG and BaseOperator  # imported before the clock starts
    empty = dags.parent / "no-dags"
    empty.mkdir(exist_ok=True)
    dagbag(empty)
    start = time.perf_counter()
    bag = dagbag(dags)
    seconds = time.perf_counter() - start
    return seconds, len(bag.dags["segments"].tasks)  # type: ignore[attr-defined]


def test_a_thousand_segments_parse_in_seconds_from_a_saved_list(tmp_path: Path) -> None:
    project = many_segments(tmp_path, 1000)
    saved = run_cli("-C", str(project), "list", "--format", "json")
    assert saved.returncode == 0, saved.stderr
    (project / "segments.json").write_text(saved.stdout, "utf-8")
    dag_file = project / "dags" / "segments_dag.py"
    text = dag_file.read_text("utf-8").replace(
        "SAVED_LIST = None", 'SAVED_LIST = PROJECT / "segments.json"'
    )
    dag_file.write_text(text, "utf-8")
    for segment_file in (project / "segments").iterdir():
        segment_file.unlink()  # proof the parse reads the list, not the files
    seconds, tasks = timed_parse(project / "dags")
    print(f"1,000 segments from a saved list: DagBag load {seconds:.2f} s")
    assert tasks == 1000
    assert seconds < PARSE_BUDGET


def test_a_thousand_segments_parse_in_seconds_once_their_list_is_cached(tmp_path: Path) -> None:
    project = many_segments(tmp_path, 1000)
    cold, tasks = timed_parse(project / "dags")  # lists the project, keeps the list
    warm, again = timed_parse(project / "dags")
    print(f"1,000 segments: first DagBag load {cold:.2f} s, then {warm:.2f} s")
    assert tasks == again == 1000
    assert warm < PARSE_BUDGET
    # a changed file is seen at the next parse
    (project / "segments" / "seg-0007.yaml").write_text(segment("seg-0007", labels="[]"))
    _, fewer = timed_parse(project / "dags")
    assert fewer == 999


@pytest.mark.parametrize("retries", [2, 3, -1])
def test_more_than_one_retry_is_refused_at_parse_time(tmp_path: Path, retries: int) -> None:
    from runner_airflow.dag import mapped_segments_dag, segments_dag
    from runner_airflow.operator import SegmentExportOperator
    from runner_airflow.plan import PlanError

    project = scaffold(tmp_path, {"alpha": segment("alpha")})
    for factory in (segments_dag, mapped_segments_dag):
        with pytest.raises(PlanError, match=f"retries={retries}: give 0 or 1"):
            factory(project, retries=retries)
    if retries > 1:
        with pytest.raises(ValueError, match="at most 1"):
            SegmentExportOperator(
                task_id="alpha", segment="alpha", project=project, concurrency=1, retries=retries
            )


def test_the_dag_page_shows_the_pool_command(tmp_path: Path) -> None:
    api = "api:\n  token_env: TENANT_B_TOKEN\n  max_concurrency: 10\n"
    project = scaffold(tmp_path, {"alpha": segment("alpha")}, FAST_RETRY.replace("api:\n", api))
    dag = dagbag(project / "dags").dags["segments"]  # type: ignore[attr-defined]
    assert TokenShare("TENANT_B_TOKEN", 10, 4).pool_command() in dag.doc_md
    assert "airflow pools set TENANT_B_TOKEN 4 " in dag.doc_md


# What segment-runner needs and Apache Airflow does not: absent from Airflow's environment
# when the runner lives in its own (`pip install --no-deps segment-runner` there).
RUNNER_ONLY = ("pyarrow", "boto3", "botocore", "xlsxwriter", "apprise", "orjson")
BLOCK = """\
import json, sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}")
sys.meta_path.insert(0, Absent())
"""
PARSE = """\
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
tasks = {dag_id: len(dag.tasks) for dag_id, dag in bag.dags.items()}
print(json.dumps({"errors": list(map(str, bag.import_errors.values())), "tasks": tasks}))
"""


@pytest.mark.parametrize("saved", [False, True])
def test_the_dag_parses_without_the_runners_own_dependencies(tmp_path: Path, saved: bool) -> None:
    """A new process: the blocked modules must never have been imported in it."""
    import sys

    project = scaffold(tmp_path, {n: segment(n) for n in ("alpha", "beta", "gamma")})
    if saved:
        listed = run_cli("-C", str(project), "list", "--format", "json")
        (project / "segments.json").write_text(listed.stdout, "utf-8")
        dag_file = project / "dags" / "segments_dag.py"
        text = dag_file.read_text("utf-8")
        dag_file.write_text(
            text.replace("SAVED_LIST = None", 'SAVED_LIST = PROJECT / "segments.json"')
        )
    block = BLOCK.format(blocked=set(RUNNER_ONLY))
    checks = {"parse": block + PARSE, "pyarrow": block + "import pyarrow\n"}
    done = {
        name: subprocess.run(
            [sys.executable, "-c", code, str(project / "dags")],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        for name, code in checks.items()
    }
    assert "No module named 'pyarrow'" in done["pyarrow"].stderr  # the block does block
    assert done["parse"].returncode == 0, done["parse"].stderr[-3000:]
    parsed = json.loads(done["parse"].stdout.splitlines()[-1])
    assert parsed == {"errors": [], "tasks": {"segments": 3}}
