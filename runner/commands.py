"""What each command does, callable from Python without the CLI.

Each function takes typed options and text streams and returns an :class:`Outcome`;
``runner.cli.main`` alone turns outcomes and errors into exit codes.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from runner.errors import ProjectFileError, UsageError
from runner.locations import public_url
from runner.problems import Problem
from runner.report.problems import REPORTERS, not_checked, validation_summary
from runner.report.table import format_table
from runner.spec.segment import Segment
from runner.spec.workspace import Workspace

if TYPE_CHECKING:
    from runner.export import ExportOptions


class Outcome(enum.Enum):
    """What a command found (errors are raised instead: :mod:`runner.errors`)."""

    OK = "ok"
    PROBLEMS = "problems"  # a file has problems; every other file was still handled
    FAILED = "failed"  # a segment failed to export, or a file has problems


@dataclass(frozen=True)
class Selection:
    """Which segments a command works on, and on which clock."""

    project: Path = Path(".")
    selectors: Sequence[str] = ()
    exclude: Sequence[str] = ()
    as_of: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    state_ref: str | None = None
    paths: Sequence[Path] = ()


def open_workspace(sel: Selection) -> Workspace:
    if not sel.project.is_dir():
        state = "is not a folder" if sel.project.exists() else "does not exist"
        raise UsageError(f"project folder {sel.project} {state}")
    ws = Workspace.open(
        sel.project, as_of=sel.as_of, variables=sel.variables, paths=list(sel.paths) or None
    )
    if sel.state_ref:
        from runner.review import modified_filter

        ws.state = modified_filter(ws, sel.state_ref)
    return ws


def resolved_output(seg: Segment, ws: Workspace, out: str | None = None) -> str:
    """Where a segment's file goes, as a user would type it."""
    from runner.sinks import destination_for

    return destination_for(seg, ws.project, out).display


def report_problems(problems: list[Problem], fmt: str, stream: TextIO) -> None:
    stream.write(REPORTERS[fmt]().render(problems))


def validate(sel: Selection, fmt: str, out: TextIO, err: TextIO) -> Outcome:
    try:
        ws = open_workspace(sel)
    except ProjectFileError as exc:  # segments are not checked against settings not understood
        reporter = REPORTERS[fmt]()
        out.write(reporter.render(exc.problems))
        if reporter.for_people:
            err.write(not_checked(exc.problems))
        return Outcome.PROBLEMS
    chosen = {s.file for s in ws.select(sel.selectors, sel.exclude)}
    problems = ws.problems
    if sel.state_ref or sel.selectors:
        # Files that failed to load cannot be matched by name: report them anyway.
        loaded = {s.file for s in ws.segments}
        problems = [p for p in problems if p.file in chosen or p.file not in loaded]
    reporter = REPORTERS[fmt]()
    out.write(reporter.render(problems))
    if reporter.for_people:
        count = len({s.file for s in ws.segments if s.file in chosen})
        err.write(validation_summary(problems, count))
    return Outcome.PROBLEMS if problems else Outcome.OK


def render(sel: Selection, fmt: str, out_root: str | None, out: TextIO, err: TextIO) -> Outcome:
    ws = open_workspace(sel)
    report_problems(ws.problems, "text", err)  # first: a selector error must not hide them
    segments = ws.select(sel.selectors, sel.exclude)
    items: list[dict[str, Any]] = []
    for seg in segments:
        items.append(
            {
                "name": seg.name,
                "file": seg.file,
                "as_of": ws.clock.iso(),
                "url": public_url(ws.project.api.url),
                "output": resolved_output(seg, ws, out_root),
                "body": seg.body,
            }
        )
    if fmt == "json":
        out.write(json.dumps(items, indent=2, ensure_ascii=False) + "\n")
    else:
        for item in items:
            out.write(f"# {item['name']} ({item['file']}) as of {item['as_of']}\n")
            out.write(f"# POST {item['url']}\n# output: {item['output']}\n")
            out.write(json.dumps(item["body"], indent=2, ensure_ascii=False) + "\n")
    return Outcome.PROBLEMS if ws.problems else Outcome.OK


def list_segments(
    sel: Selection, fmt: str, out_root: str | None, out: TextIO, err: TextIO
) -> Outcome:
    ws = open_workspace(sel)
    report_problems(ws.problems, "text", err)  # first: a selector error must not hide them
    segments = ws.select(sel.selectors, sel.exclude)
    rows: list[dict[str, Any]] = [
        {
            "name": s.name,
            "labels": list(s.labels),
            "format": s.output.format,
            "output": resolved_output(s, ws, out_root),
            "file": s.file,
        }
        for s in segments
    ]
    if fmt == "json":
        out.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    else:
        table: list[list[str]] = [["NAME", "LABELS", "FORMAT", "OUTPUT", "FILE"]] + [
            [r["name"], ",".join(r["labels"]) or "-", r["format"], r["output"], r["file"]]
            for r in rows
        ]
        out.write(format_table(table))
    return Outcome.PROBLEMS if ws.problems else Outcome.OK


def export(
    sel: Selection,
    options: ExportOptions,
    results_file: Path | None,
    live: bool | None,
    out: TextIO,
    err: TextIO,
) -> Outcome:
    from runner.export import export_all, results_document, write_results
    from runner.report.progress import Progress
    from runner.report.summary import summary

    ws = open_workspace(sel)
    report_problems(ws.problems, "text", err)  # first: a selector error must not hide them
    segments = ws.select(sel.selectors, sel.exclude)
    if not segments:
        err.write("no segments selected\n")
        return Outcome.PROBLEMS if ws.problems else Outcome.OK
    results = export_all(segments, ws, options, listener=Progress(err, live=live))
    out.write(summary(results))
    if results_file is not None:
        args = {"selectors": list(sel.selectors), "exclude": list(sel.exclude), **options.as_args()}
        write_results(results_file, results_document(ws, results, args))
    failed = ws.problems or any(r.status == "failed" for r in results)
    return Outcome.FAILED if failed else Outcome.OK


def diff(
    sel: Selection, ref: str | None, fmt: str, count: bool, out: TextIO, err: TextIO
) -> Outcome:
    from runner import review
    from runner.report.diff import render_changes

    ws = open_workspace(sel)
    report_problems(ws.problems, "text", err)
    base = ref or review.default_base(ws.project.root)
    selected = ws.select(sel.selectors, sel.exclude)
    found = review.changes(ws, base, selected)
    if count:
        review.count_audiences(ws, found, os.environ)
    out.write(render_changes(found, fmt, base))
    return Outcome.PROBLEMS if ws.problems else Outcome.OK
