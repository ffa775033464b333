"""DAG factories: the project's segments as Airflow tasks, sharing their token's pool.

``dag = segments_dag(Path("/srv/segments"), select=["label:daily"])`` in a DAG file.

:func:`segments_dag` builds one task per selected segment at parse time (task id = the
segment's name, so ids are stable whatever is added or removed); :func:`mapped_segments_dag`
reads the list at run time and maps one export task over it. In both, every export task
is in the pool named after ``api.token_env`` with ``--concurrency`` pinned so that the
pool's slots x concurrency stays within the token's budget (:mod:`runner_airflow.plan`),
retries at most once, and depends on no other export: one failing never stops the rest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from runner_airflow.listing import SegmentListOperator
from runner_airflow.operator import SegmentExportOperator
from runner_airflow.plan import (
    DEFAULT_SLOTS,
    MAX_RETRIES,
    PlanError,
    TokenShare,
    make_plan,
    share_of,
    token_fields,
)

RETRY_DELAY = dt.timedelta(minutes=5)


def segments_dag(
    project: Path,
    *,
    dag_id: str = "segments",
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    saved_list: Path | str | None = None,
    segments_bin: str | None = None,
    pool_slots: int = DEFAULT_SLOTS,
    budget: int | None = None,
    retries: int = MAX_RETRIES,
    retry_delay: dt.timedelta = RETRY_DELAY,
    out: str | None = None,
    as_of: str | None = None,
    **dag_args: Any,
) -> DAG:
    """One export task per segment ``select`` picks, from the project or a saved list.

    ``saved_list``: a ``segments list --format json`` saved beforehand (by CI, say), read
    instead of the segment files. ``segments_bin``: the runner's executable when it lives
    in its own virtual environment. ``pool_slots`` and ``budget``: see the module doc.
    """
    plan = make_plan(
        project, select, exclude, saved_list=saved_list, slots=pool_slots, budget=budget
    )
    share = plan.share
    tasks = _export_tasks(project, share, segments_bin, out, as_of, retries, retry_delay)
    with _dag(dag_id, share.pool_command(), dag_args) as dag:
        for seg in plan.segments:
            SegmentExportOperator(
                task_id=seg.name,
                segment=seg.name,
                doc_md=f"`segments export {seg.name}` ({seg.file})",
                **tasks,
            )
    return dag


def mapped_segments_dag(
    project: Path,
    *,
    dag_id: str = "segments",
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    segments_bin: str | None = None,
    pool_slots: int = DEFAULT_SLOTS,
    budget: int | None = None,
    retries: int = MAX_RETRIES,
    retry_delay: dt.timedelta = RETRY_DELAY,
    out: str | None = None,
    as_of: str | None = None,
    **dag_args: Any,
) -> DAG:
    """A ``list`` task, then ``export`` mapped over the names it returns (one instance per
    segment, named after it). Parsing reads ``runner.yaml`` only, for the pool."""
    share = share_of([_api_row(project)], pool_slots, budget)
    tasks = _export_tasks(project, share, segments_bin, out, as_of, retries, retry_delay)
    with _dag(dag_id, share.pool_command(), dag_args) as dag:
        names = SegmentListOperator(
            task_id="list",
            project=project,
            selectors=select,
            exclude=exclude,
            segments_bin=segments_bin,
            retries=_retries(retries),
        )
        SegmentExportOperator.partial(
            task_id="export", map_index_template="{{ task.segment }}", **tasks
        ).expand(segment=names.output)
    return dag


def _export_tasks(
    project: Path,
    share: TokenShare,
    segments_bin: str | None,
    out: str | None,
    as_of: str | None,
    retries: int,
    retry_delay: dt.timedelta,
) -> dict[str, Any]:
    """What every export task of a DAG is given, one task a segment or one mapped over
    them: the project, the token's pool and its concurrency, the retries."""
    return {
        "project": project,
        "concurrency": share.concurrency,
        "segments_bin": segments_bin,
        "out": out,
        "as_of": as_of,
        "pool": share.pool,
        "retries": _retries(retries),
        "retry_delay": retry_delay,
    }


def _dag(dag_id: str, pool_command: str, dag_args: dict[str, Any]) -> DAG:
    args = {"schedule": None, "catchup": False, "tags": ["segments"], **dag_args}
    doc = f"segment-runner exports. Create their pool once:\n\n    {pool_command}\n"
    return DAG(dag_id, doc_md=args.pop("doc_md", doc), **args)


def _retries(retries: int) -> int:
    if not 0 <= retries <= MAX_RETRIES:
        raise PlanError(
            f"retries={retries}: give 0 or {MAX_RETRIES}; segments export already retries "
            "every page, and a drift guard is never retried"
        )
    return retries


def _api_row(project: Path) -> dict[str, Any]:
    """``runner.yaml``'s token settings, as a list row has them."""
    from runner.errors import ProjectFileError
    from runner.spec.project import load_project

    settings, problems = load_project(project)
    if problems:
        raise PlanError(str(ProjectFileError(problems)))
    return token_fields(settings.api)
