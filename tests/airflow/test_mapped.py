"""The mapped form, with the runner in a virtual environment of its own: the segment list
is read when the DAG runs, so a segment added between two runs is exported by the second
with no change to the DAG."""

from __future__ import annotations

import runpy
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.sandbox import Sandbox
from tests.airflow.conftest import DAGS, HOME, OTHER_SEGMENTS, scaffold, segment
from tests.airflow.test_dag_runs import csv_rows, run_dag

DAG_FILE = """\
from pathlib import Path

from runner_airflow.dag import mapped_segments_dag

dag = mapped_segments_dag(
    Path({project!r}), dag_id="segments_mapped", select=["label:daily"], segments_bin={bin!r}
)
"""


def test_the_mapped_dag_exports_what_the_list_holds_when_it_runs(
    migrated: Path, sandbox: Callable[..., Sandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert OTHER_SEGMENTS.exists(), f"{OTHER_SEGMENTS}: run through `make test-airflow`"
    assert OTHER_SEGMENTS.parent != Path(sys.executable).parent  # another environment
    called = tmp_path / "called.log"
    wrapper = tmp_path / "segments"  # the given path is what runs: it logs, then runs it
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {called}\nexec {OTHER_SEGMENTS} "$@"\n')
    wrapper.chmod(0o755)
    project = scaffold(
        HOME / "mapped",
        {
            "one": segment("one"),
            "two": segment("two", tags="[gold]"),
            "weekly": segment("weekly", labels="[weekly]"),
        },
    )
    (DAGS / "segments_mapped.py").write_text(
        DAG_FILE.format(project=str(project), bin=str(wrapper)), "utf-8"
    )
    api = sandbox(users=300)
    monkeypatch.setenv("FLOWMATIX_API_URL", api.url)
    monkeypatch.setenv("FLOWMATIX_TOKEN", api.options.token)
    dag = runpy.run_path(str(DAGS / "segments_mapped.py"))["dag"]
    first = run_dag(dag)
    (project / "segments" / "three.yaml").write_text(segment("three", tags="[lead]"), "utf-8")
    second = run_dag(dag)  # the same DAG object: nothing parsed again

    for run, names in ((first, {"one", "two"}), (second, {"one", "two", "three"})):
        assert run.states["list"] == "success"
        assert run.returned["list"] == sorted(names)
        exports = {k: v for k, v in run.results.items() if k.startswith("export[")}
        assert {r["segment"] for r in exports.values()} == names
        for key, result in exports.items():
            assert run.states[key] == "success"
            assert result["rows"] == csv_rows(project / result["destination"]) > 0
    lines = called.read_text("utf-8").splitlines()
    assert sum(" list " in f" {line} " for line in lines) == 2
    assert sum(" export " in f" {line} " for line in lines) == 5
