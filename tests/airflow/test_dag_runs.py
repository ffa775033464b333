"""The scaffolded DAG run by Airflow itself (``dag.test()``) against the sandbox API.

One project, two DAG runs: the first exports every selected segment (one of them cannot
be written and fails after its one retry); between them one segment's audience grows past
its drift guard, so in the second run that task fails at once, without a retry, while the
others succeed and the guarded segment's previous file stays as it was.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import runpy
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runner.sandbox import Sandbox
from tests.airflow.conftest import PROJECT, link_dag, scaffold, segment
from tests.conftest import FAST_RETRY

TOKEN_ENV = "ACME_TOKEN"
RUNNER_YAML = (
    FAST_RETRY.replace("api:\n", f"api:\n  token_env: {TOKEN_ENV}\n  max_concurrency: 12\n")
    + 'notify:\n  - {url: "json://127.0.0.1:${HOOK_PORT}/hook", on: [failure, guard]}\n'
)
SELECTED = ["seg-a", "seg-b", "seg-c", "seg-d"]


@dataclass
class Hook:
    """A JSON webhook on 127.0.0.1: what the runner's notifications post to it."""

    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture(scope="module")
def hook() -> Iterator[Hook]:
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.received.append(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class Run:
    states: dict[str, str]
    tries: dict[str, int]
    results: dict[str, dict[str, Any]]
    returned: dict[str, dict[str, Any]]
    added: int = -1  # rows in seg-a's delta file of added contacts after this run


def load_dag() -> Any:
    """The scaffolded DAG file, loaded as Airflow's parser does: by running it."""
    return runpy.run_path(str(PROJECT / "dags" / "segments_dag.py"))["dag"]


def run_dag(dag: Any = None) -> Run:
    """``dag.test()`` (the scaffolded DAG by default), then each task's state, tries, XComs."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    dag = dag or load_dag()
    for task in dag.tasks:  # retry now, not in 5 minutes: the test waits for it
        task.retry_delay = dt.timedelta(0)
    dagrun = dag.test()
    with create_session() as session:
        tis = dagrun.get_task_instances(session=session)
        query = XComModel.get_many(run_id=dagrun.run_id, dag_ids=dag.dag_id)
        found = session.scalars(query).all()
        values = {(_name(x), x.key): XComModel.deserialize_value(x) for x in found}
        names = {(ti.task_id, ti.map_index): _name(ti) for ti in tis}
        return Run(
            states={names[ti.task_id, ti.map_index]: str(ti.state) for ti in tis},
            tries={names[ti.task_id, ti.map_index]: ti.try_number for ti in tis},
            results={k[0]: v for k, v in values.items() if k[1] == "result"},
            returned={k[0]: v for k, v in values.items() if k[1] == "return_value"},
        )


def _name(row: Any) -> str:
    """A task's id, or for a mapped instance ``export[<index>]`` (the XCom rows know no more)."""
    return row.task_id if row.map_index < 0 else f"{row.task_id}[{row.map_index}]"


@pytest.fixture(scope="module")
def runs(migrated: Path, sandbox_module: Callable[..., Sandbox], hook: Hook) -> Iterator[list[Run]]:
    api = sandbox_module(users=600)
    segments = {name: segment(name) for name in ("seg-a", "seg-b")}
    segments["seg-a"] = segments["seg-a"].replace("output:\n", "output:\n  delta: true\n")
    segments["seg-c"] = segment("seg-c", tags="[gold]")
    segments["seg-d"] = segment("seg-d", path="blocked/seg-d.csv")  # blocked is a file
    segments["seg-e"] = segment("seg-e", labels="[]")  # not labelled daily: not selected
    scaffold(PROJECT, segments, RUNNER_YAML)
    link_dag(PROJECT / "dags" / "segments_dag.py", "segments_dag.py")
    (PROJECT / "blocked").write_text("a file where seg-d wants a folder\n", "utf-8")
    env = {"FLOWMATIX_API_URL": api.url, TOKEN_ENV: api.options.token}
    env["HOOK_PORT"] = str(hook.port)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        first = run_dag()
        first.added = csv_rows(PROJECT / "exports" / "seg-a.added.csv")
        kept = (PROJECT / "exports" / "seg-b.csv").read_bytes()
        # seg-b now asks for every contact: far more than 30 % above its last run.
        (PROJECT / "segments" / "seg-b.yaml").write_text(segment("seg-b", tags="[]"), "utf-8")
        second = run_dag()
        second.added = csv_rows(PROJECT / "exports" / "seg-a.added.csv")
        assert (PROJECT / "exports" / "seg-b.csv").read_bytes() == kept
    yield [first, second]


@pytest.fixture(scope="module")
def sandbox_module() -> Iterator[Callable[..., Sandbox]]:
    from runner.sandbox import SandboxOptions
    from tests.conftest import ANCHOR

    started: list[Sandbox] = []

    def start(**options: object) -> Sandbox:
        api = Sandbox(SandboxOptions(**{"anchor": ANCHOR, **options})).start()  # type: ignore[arg-type]
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()


def csv_rows(path: Path) -> int:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1  # the header


def test_one_task_per_selected_segment_each_file_and_manifest_exported(runs: list[Run]) -> None:
    first = runs[0]
    assert sorted(first.states) == SELECTED  # seg-e has no daily label
    for name in ("seg-a", "seg-b", "seg-c"):
        assert first.states[name] == "success", name
        result = first.results[name]
        assert result == first.returned[name]  # pushed as `result` and returned
        assert result["status"] == "success"
        file = PROJECT / result["destination"]
        manifest = json.loads((PROJECT / result["manifest"]).read_text("utf-8"))
        assert result["rows"] == manifest["rows"] == csv_rows(file) > 0
        assert manifest["sha256"] == result["sha256"]


def test_a_failing_segment_is_retried_once_and_stops_no_other(runs: list[Run]) -> None:
    for run in runs:
        assert run.states["seg-d"] == "failed"
        assert run.tries["seg-d"] == 2  # the first try and its one retry
        assert run.results["seg-d"]["status"] == "failed"
        assert "blocked" in run.results["seg-d"]["error"]
        assert run.states["seg-a"] == run.states["seg-c"] == "success"
        assert "seg-d" not in run.returned


def test_a_guard_trip_fails_its_task_without_a_retry_and_keeps_the_file(runs: list[Run]) -> None:
    second = runs[1]
    assert second.states["seg-b"] == "failed"
    assert second.tries["seg-b"] == 1  # retries=1, yet not retried
    result = second.results["seg-b"]
    assert result["status"] == "guard"
    assert result["rows"] > 1.3 * runs[0].results["seg-b"]["rows"]
    assert "max_change" in result["error"]
    history = (PROJECT / ".segments" / "history" / "seg-b" / "runs.jsonl").read_text("utf-8")
    assert [json.loads(line)["status"] for line in history.splitlines()] == ["success", "guard"]
    for name in ("seg-a", "seg-c"):
        assert second.states[name] == "success"
        assert second.results[name]["rows"] == runs[0].results[name]["rows"]


def test_deltas_and_notifications_work_as_under_the_cli(runs: list[Run], hook: Hook) -> None:
    assert runs[0].added == runs[0].results["seg-a"]["rows"]  # a first delta run: all added
    assert runs[1].added == 0  # the same audience the next time: nothing new
    assert csv_rows(PROJECT / "exports" / "seg-a.removed.csv") == 0
    told = [f"{m.get('title', '')} {m.get('message', '')}" for m in hook.received]
    guarded = [t for t in told if "seg-b" in t]
    assert len(guarded) == 1 and "guard" in guarded[0]  # the second run's trip, once
    assert sum("seg-d" in t for t in told) == 4  # two runs, each a try and its retry
    assert not any("seg-a" in t or "seg-c" in t for t in told)  # on: failure, guard only
