"""The README's way, as a user types it: a fresh ``AIRFLOW_HOME``, ``airflow db migrate``,
then ``airflow dags test segments`` on a scaffolded project of three segments against the
sandbox (issue 27's target: under 60 s in all, on an idle machine)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from runner.sandbox import Sandbox
from tests.airflow.conftest import AIRFLOW, airflow_env, scaffold, segment
from tests.airflow.test_dag_runs import csv_rows


def test_airflow_dags_test_exports_every_segment_in_a_fresh_home(
    tmp_path: Path, sandbox: Callable[..., Sandbox]
) -> None:
    names = ["north", "south", "west"]
    project = scaffold(tmp_path / "project", {n: segment(n) for n in names})
    api = sandbox(users=300)
    env = {**os.environ, **airflow_env(tmp_path / "home", project / "dags")}
    env.update(FLOWMATIX_API_URL=api.url, FLOWMATIX_TOKEN=api.options.token)
    start = time.perf_counter()
    for command in (["db", "migrate"], ["dags", "test", "segments"]):
        done = subprocess.run(
            [str(AIRFLOW), *command], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"airflow db migrate + dags test segments: {time.perf_counter() - start:.1f} s")
    assert "state=success" in done.stdout + done.stderr
    for name in names:
        file = project / "exports" / f"{name}.csv"
        manifest = json.loads(Path(f"{file}.manifest.json").read_text("utf-8"))
        assert manifest["rows"] == csv_rows(file) > 0
        history = project / ".segments" / "history" / name / "runs.jsonl"
        assert json.loads(history.read_text("utf-8"))["status"] == "success"
