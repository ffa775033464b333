"""The mapped form's first task: ``segments list SELECTORS --format json`` at run time.

A project whose segments come and go often need not be re-parsed: this task asks the
runner which segments the selectors pick *now* (``state:modified`` included), and the
export task is mapped over the names it returns.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from runner_airflow.task import find_segments


class SegmentListOperator(BaseOperator):
    """Return the names of the segments ``selectors`` pick (a list: the mapped tasks)."""

    def __init__(
        self,
        *,
        project: str | Path,
        selectors: Sequence[str] = (),
        exclude: Sequence[str] = (),
        segments_bin: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project = str(project)
        self.selectors = list(selectors)
        self.exclude = list(exclude)
        self.segments_bin = segments_bin

    def execute(self, context: Context) -> list[str]:
        command = [find_segments(self.segments_bin), "-C", self.project, "list"]
        command += [*self.selectors, "--format", "json"]
        command += [arg for x in self.exclude for arg in ("--exclude", x)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        for line in done.stderr.splitlines():
            self.log.warning("%s", line)  # problems in files: their segments are not listed
        if done.returncode == 2 or not done.stdout.strip():
            raise AirflowFailException(
                done.stderr.strip() or f"segments list exited {done.returncode}"
            )
        return [row["name"] for row in json.loads(done.stdout)]
