"""The rules a JSON Schema cannot say about one segment file.

Each rule returns :class:`~runner.problems.Problem` values (or the text of one)
pointing at the key at fault; none raises. :func:`runner.spec.segment.load_segment`
runs them; the rules between files are :mod:`runner.spec.crosscheck`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runner.locations import S3_SCHEME
from runner.problems import Problem
from runner.spec import schema, targets

if TYPE_CHECKING:
    from runner.spec.loader import Document, Path_
    from runner.spec.project import Project

RANGE_FILTERS = ("lastSeenAt", "createdAt")


def parse_api_date(text: str) -> dt.datetime | None:
    """An ISO-8601 date-time with an offset, as the API reads one; None otherwise."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def runner_owned(doc: Document, rendered: dict[str, Any]) -> list[Problem]:
    """Remove, and report, the body fields that only the runner may set."""
    problems: list[Problem] = []
    filt = rendered.get("filter")
    if isinstance(filt, dict):
        for key, why in schema.RUNNER_OWNED.items():
            if key in filt:
                problems.append(
                    doc.problem(
                        ("filter", key),
                        f"'filter.{key}' {why}; remove it from the segment",
                        key=True,
                    )
                )
        rendered["filter"] = {k: v for k, v in filt.items() if k not in schema.RUNNER_OWNED}
    return problems


def check_filter(doc: Document, body: Mapping[str, Any], raw: Mapping[str, Any]) -> list[Problem]:
    """Rules the API enforces silently, by ignoring what it does not apply."""
    applicable = set(body.get("applicableFilters", []))
    problems = _toggles(doc, body, raw, applicable)
    for name in RANGE_FILTERS:
        problems += _date_range(doc, name, body[name], applicable)
    last_at = body["hasOrdered"].get("lastAt", "")
    if last_at and parse_api_date(last_at) is None:
        problems.append(
            doc.problem(
                ("filter", "hasOrdered", "lastAt"),
                f"'filter.hasOrdered.lastAt' is not a valid date-time: {schema.show(last_at)}",
            )
        )
    return problems


def _toggles(
    doc: Document, body: Mapping[str, Any], raw: Mapping[str, Any], applicable: set[str]
) -> list[Problem]:
    """A filter set away from its default that ``applicableFilters`` does not switch on."""
    defaults = schema.filter_defaults()
    return [
        doc.problem(
            ("filter", name),
            f"'filter.{name}' is set to {schema.show(body[name])} but 'applicableFilters' "
            f"does not list '{name}': the API would ignore it and widen the audience; "
            f"add '{name}' to filter.applicableFilters",
        )
        for name in schema.toggle_names()
        if name in raw and body[name] != defaults[name] and name not in applicable
    ]


def _date_range(
    doc: Document, name: str, rng: Mapping[str, Any], applicable: set[str]
) -> list[Problem]:
    problems: list[Problem] = []
    where: Path_ = ("filter", name)
    for end in ("startAt", "endsAt"):
        text = rng.get(end, "")
        if text and parse_api_date(text) is None:
            problems.append(
                doc.problem(
                    (*where, end),
                    f"'filter.{name}.{end}' is not a valid date-time: {schema.show(text)}",
                )
            )
    start, end_ = parse_api_date(rng.get("startAt", "")), parse_api_date(rng.get("endsAt", ""))
    if start and end_ and start > end_:
        problems.append(
            doc.problem(
                (*where, "startAt"),
                f"'filter.{name}.startAt' ({rng['startAt']}) is after endsAt ({rng['endsAt']})",
            )
        )
    if name in applicable and not rng.get("startAt") and not rng.get("endsAt"):
        problems.append(
            doc.problem(
                ("filter", "applicableFilters"),
                f"'applicableFilters' lists '{name}' but filter.{name} has neither "
                "startAt nor endsAt",
            )
        )
    return problems


def output_problem(project: Project, output: Mapping[str, Any]) -> str | None:
    """Why ``output.path`` may not be written (:mod:`runner.spec.targets`), or None."""
    path = output["path"]
    why = targets.path_problem(path, output["format"], output.get("compression", "none"))
    if why is None and not path.startswith(S3_SCHEME):
        why = targets.local_problem(project, path)
    shown = path if len(path) <= 80 else f"{path[:60]}...{path[-12:]}"
    return f"'output.path' {shown!r}: {why}" if why else None


def expect_problem(doc: Document, expect: Mapping[str, Any]) -> Problem | None:
    """``expect.min_rows`` above ``max_rows``: no run could pass."""
    low, high = expect.get("min_rows"), expect.get("max_rows")
    if low is not None and high is not None and low > high:
        return doc.problem(
            ("expect", "min_rows"), f"'expect.min_rows' ({low}) is above max_rows ({high})"
        )
    return None


def mode_problem(
    doc: Document, rendered: Mapping[str, Any], output: Mapping[str, Any]
) -> Problem | None:
    """``output.delta`` on an incremental segment: its rows are all new by construction."""
    if rendered.get("mode") == "incremental" and output.get("delta"):
        return doc.problem(
            ("output", "delta"),
            "'output.delta' compares full exports, but 'mode: incremental' exports only new "
            "contacts (every row would be added, every earlier id removed): remove one of them",
        )
    return None
