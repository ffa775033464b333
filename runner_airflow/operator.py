"""``SegmentExportOperator``: one segment's ``segments export`` as an Airflow task.

``SegmentExportOperator(task_id="vip", segment="vip", project="/srv/segments",
concurrency=4, pool="FLOWMATIX_TOKEN", retries=1)``, as :mod:`runner_airflow.dag` makes them.

The run itself is :func:`runner_airflow.task.run_export`; this class only turns its
:class:`~runner_airflow.task.Verdict` into what Airflow understands: a return value (the
XCom ``return_value``), ``AirflowException`` (may be retried) or ``AirflowFailException``
(never retried). The result is also pushed as the XCom ``result`` before a failure, so a
downstream task or a person sees the status and error of a failed or guarded run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from runner_airflow.plan import MAX_RETRIES
from runner_airflow.task import ExportCall, Verdict, run_export


class SegmentExportOperator(BaseOperator):
    """Export one segment with the runner in a child process; at most one retry."""

    template_fields: Sequence[str] = ("segment", "out", "as_of")
    ui_color = "#e8f4ea"

    def __init__(
        self,
        *,
        segment: str,
        project: str | Path,
        concurrency: int,
        segments_bin: str | None = None,
        out: str | None = None,
        as_of: str | None = None,
        extra_args: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if self.retries > MAX_RETRIES:  # pages are retried inside the runner already
            raise ValueError(
                f"{self.task_id}: retries={self.retries}: at most {MAX_RETRIES}, since "
                "segments export retries each page itself"
            )
        self.segment = segment
        self.project = str(project)
        self.concurrency = concurrency
        self.segments_bin = segments_bin
        self.out = out
        self.as_of = as_of
        self.extra_args = tuple(extra_args)

    def execute(self, context: Context) -> dict[str, Any] | None:
        call = ExportCall(
            self.segment,
            Path(self.project),
            self.concurrency,
            self.segments_bin,
            self.out,
            self.as_of,
            self.extra_args,
        )
        try:
            finished = run_export(call, self.log.info)
        except FileNotFoundError as exc:
            raise AirflowFailException(str(exc)) from exc
        figures = finished.xcom()
        if figures is not None:
            context["ti"].xcom_push(key="result", value=figures)
        verdict, message = finished.verdict()
        if verdict is Verdict.FAIL:
            raise AirflowFailException(message)
        if verdict is Verdict.RETRY:
            raise AirflowException(message)
        self.log.info("%s", message)
        return figures
