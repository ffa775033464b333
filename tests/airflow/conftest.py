"""Tests that need Apache Airflow: ``make test-airflow`` builds ``.venv-airflow`` (Airflow
pinned by the ``airflow`` extra) and runs them; ``tests/conftest.py`` leaves this folder
out of collection where Airflow is not installed.

Airflow reads ``AIRFLOW_HOME`` and its configuration when first imported, so this
module sets them before any test imports it: one fresh home per session, its database
migrated once (``airflow db migrate``), its DAG folder the session project's ``dags/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.scaffold import init_project
from tests.conftest import FAST_RETRY, ROOT

HOME = Path(tempfile.mkdtemp(prefix="segments-airflow-home-"))
DAGS = HOME / "dags"  # symlinks to the DAG files of the projects under test
PROJECT = HOME / "project"
AIRFLOW = Path(sys.executable).parent / "airflow"
# The runner in a virtual environment of its own (the project's .venv, which `make
# test-airflow` builds first), for the DAGs that take its path instead of Airflow's.
OTHER_SEGMENTS = Path(os.environ.get("SEGMENTS_RUNNER_BIN") or ROOT / ".venv" / "bin" / "segments")


def airflow_env(home: Path, dags: Path) -> dict[str, str]:
    """A fresh Airflow: its own home and database, no example DAGs, our DAG folder."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


os.environ.update(airflow_env(HOME, DAGS))


def link_dag(dag_file: Path, name: str) -> None:
    """Put a project's DAG file in Airflow's DAG folder as a symlink (as the README says)."""
    (DAGS / name).symlink_to(dag_file)


def scaffold(root: Path, segments: dict[str, str], runner_yaml: str = FAST_RETRY) -> Path:
    """``segments init --orchestrator airflow`` in ``root``, then these segments and settings."""
    init_project(root, orchestrator="airflow", runner_source="segment-runner==0.1.0")
    (root / "segments" / "recent-vip-contacts.yaml").unlink()
    (root / "runner.yaml").write_text(runner_yaml, "utf-8")
    for name, text in segments.items():
        (root / "segments" / f"{name}.yaml").write_text(text, "utf-8")
    return root


def segment(name: str, *, tags: str = "[vip]", labels: str = "[daily]", path: str = "") -> str:
    """A segment file: contacts with ``tags``, a CSV under exports/ (or ``path``)."""
    return f"""\
version: 1
name: {name}
labels: {labels}
filter:
  tags: {tags}
output:
  path: "{path or f'exports/{name}.csv'}"
expect:
  max_change: 30%
"""


@pytest.fixture(scope="session")
def migrated() -> Iterator[Path]:
    """The session's Airflow home, its database migrated."""
    DAGS.mkdir(exist_ok=True)
    done = subprocess.run(
        [str(AIRFLOW), "db", "migrate"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    yield HOME
    shutil.rmtree(HOME, ignore_errors=True)


# Airflow's in-process API (dag.test) imports starlette's test client, which warns that
# its httpx is deprecated: Airflow's dependency, not ours, and every other warning stays
# an error.
AIRFLOW_WARNINGS = "ignore::starlette.exceptions.StarletteDeprecationWarning"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.filterwarnings(AIRFLOW_WARNINGS))
