"""What each command does, callable from Python without the CLI.

One function per command: its typed options and the text streams it writes to
in, an :class:`Outcome` out. Errors a person can act on are raised
(:mod:`runner.errors`); ``runner.cli.main`` alone turns outcomes and errors into
exit codes, and sets what is process-wide (signals, the GC threshold).

>>> import io
>>> out = io.StringIO()
>>> validate(ValidateOptions(Selection(Path("no-such-folder"))), out, out)
Traceback (most recent call last):
runner.errors.UsageError: project folder no-such-folder does not exist
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from runner.errors import ProjectFileError, Terminated, UsageError
from runner.locations import public_url
from runner.problems import Problem
from runner.report.problems import REPORTERS, not_checked, validation_summary
from runner.report.render import render_text
from runner.report.table import format_table
from runner.spec.segment import Segment
from runner.spec.workspace import Workspace

if TYPE_CHECKING:
    from runner.run import ExportOptions, ExportResult
    from runner.sinks import OutputRoot


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


@dataclass(frozen=True)
class ValidateOptions:
    selection: Selection = field(default_factory=Selection)
    format: str = "text"  # a name in runner.report.REPORTERS


@dataclass(frozen=True)
class ShowOptions:
    """``render`` and ``list``: what to show, and where outputs would go."""

    selection: Selection = field(default_factory=Selection)
    format: str = "text"  # text | json
    out_root: OutputRoot | None = None  # --out: paths shown re-rooted under it


@dataclass(frozen=True)
class ExportJob:
    selection: Selection
    options: ExportOptions
    results: Path | None = None  # --results FILE: run results as JSON
    live: bool | None = None  # a live progress line; None: when the stream is a terminal


@dataclass(frozen=True)
class HistoryOptions:
    selection: Selection = field(default_factory=Selection)
    last: int | None = None  # only the newest N runs of each segment
    format: str = "text"  # text | json
    out_root: OutputRoot | None = None  # --out the exports were run with


@dataclass(frozen=True)
class FreshnessOptions:
    selection: Selection = field(default_factory=Selection)
    format: str = "text"  # text | json
    out_root: OutputRoot | None = None  # --out the exports were run with
    notify: bool = False  # send `on: [stale]` notifications for what is not fresh


@dataclass(frozen=True)
class CatalogOptions:
    selection: Selection = field(default_factory=Selection)
    folder: Path = Path("catalog")  # --out: where index.html goes
    out_root: OutputRoot | None = None  # --exports: the --out the exports were run with


@dataclass(frozen=True)
class DiffOptions:
    selection: Selection = field(default_factory=Selection)
    ref: str | None = None  # None: the merge base with the main branch
    format: str = "text"  # a name in runner.report.diff.DIFF_FORMATS
    count: bool = False  # also page both versions to count contacts


@dataclass(frozen=True)
class InitOptions:
    folder: Path = Path(".")
    force: bool = False
    ci: str = "github"  # github | gitlab
    runner_source: str | None = None  # what CI installs; None: where this runner came from
    orchestrator: str | None = None  # airflow: also dags/segments_dag.py (alone if a project)


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


def resolved_output(seg: Segment, ws: Workspace, out: OutputRoot | None = None) -> str:
    """Where a segment's file goes, as a user would type it."""
    from runner.sinks import destination_for

    return destination_for(seg, ws.project, out).display


def report_problems(problems: list[Problem], fmt: str, stream: TextIO) -> None:
    stream.write(REPORTERS[fmt]().render(problems))


def validate(options: ValidateOptions, out: TextIO, err: TextIO) -> Outcome:
    """Check the selected segment files; every problem, then the verdict, on ``out``."""
    sel, reporter = options.selection, REPORTERS[options.format]()
    try:
        ws = open_workspace(sel)
    except ProjectFileError as exc:  # segments are not checked against settings not understood
        out.write(reporter.render(exc.problems))
        if reporter.for_people:
            out.write(not_checked(exc.problems))
        return Outcome.PROBLEMS
    chosen = {s.file for s in ws.select(sel.selectors, sel.exclude)}
    problems = ws.problems
    if sel.state_ref or sel.selectors:
        # Files that failed to load cannot be matched by name: report them anyway.
        loaded = {s.file for s in ws.segments}
        problems = [p for p in problems if p.file in chosen or p.file not in loaded]
    out.write(reporter.render(problems))
    if reporter.for_people:
        count = len({s.file for s in ws.segments if s.file in chosen})
        out.write(validation_summary(problems, count))
    return Outcome.PROBLEMS if problems else Outcome.OK


def render(options: ShowOptions, out: TextIO, err: TextIO) -> Outcome:
    """The exact request body and output of each selected segment; no network unless a
    filter names a saved segment (``name:``: resolved with one request)."""
    from runner.fetch.saved import resolve_names

    ws = open_workspace(options.selection)
    report_problems(ws.problems, "text", err)  # first: a selector error must not hide them
    chosen = ws.select(options.selection.selectors, options.selection.exclude)
    chosen, unresolved = resolve_names(chosen, ws.project.api, os.environ)
    report_problems(unresolved, "text", err)
    items: list[dict[str, Any]] = [
        {
            "name": seg.name,
            "file": seg.file,
            "as_of": ws.clock.iso(),
            "url": public_url(ws.project.api.url),
            "output": resolved_output(seg, ws, options.out_root),
            "body": seg.body,
            **seg.compose.describe(),  # exclude, only, holdout: only those the file sets
        }
        | _came_from(seg)
        for seg in chosen
    ]
    if options.format == "json":
        out.write(json.dumps(items, indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(render_text(items))
    return Outcome.PROBLEMS if ws.problems or unresolved else Outcome.OK


def _came_from(seg: Segment) -> dict[str, Any]:
    """The saved segments ``seg``'s filter named, each name with its id (render shows them)."""
    if not seg.resolved:
        return {}
    return {"saved_segments": [{"name": name, "id": id_} for name, id_ in seg.resolved]}


def list_segments(options: ShowOptions, out: TextIO, err: TextIO) -> Outcome:
    """One line per selected segment: name, labels, format, output, file (and in JSON, the
    token's variable and concurrency settings of ``runner.yaml``'s ``api``)."""
    ws = open_workspace(options.selection)
    report_problems(ws.problems, "text", err)  # first: a selector error must not hide them
    # What an orchestrator needs to share the token fairly (runner_airflow's pool and
    # --concurrency), so a saved list is enough to plan a run without the project.
    api = {
        "token_env": ws.project.api.token_env,
        "concurrency": ws.project.api.concurrency,
        "max_concurrency": ws.project.api.max_concurrency,
    }
    rows: list[dict[str, Any]] = [
        {
            "name": s.name,
            "labels": list(s.labels),
            "format": s.output.format,
            "output": resolved_output(s, ws, options.out_root),
            "file": s.file,
            **api,
        }
        for s in ws.select(options.selection.selectors, options.selection.exclude)
    ]
    if options.format == "json":
        out.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    else:
        table: list[list[str]] = [["NAME", "LABELS", "FORMAT", "OUTPUT", "FILE"]] + [
            [r["name"], ",".join(r["labels"]) or "-", r["format"], r["output"], r["file"]]
            for r in rows
        ]
        out.write(format_table(table))
    return Outcome.PROBLEMS if ws.problems else Outcome.OK


def export(job: ExportJob, out: TextIO, err: TextIO) -> Outcome:
    """Export the selected segments: progress on ``err``, the summary table on ``out``."""
    from runner.fetch.saved import resolve_names
    from runner.report.progress import Progress
    from runner.run import DONE
    from runner.run import export as run_export

    sel = job.selection
    ws = open_workspace(sel)
    out, err = _masked(ws, out, err)
    report_problems(ws.problems, "text", err)  # first: a selector error must not hide them
    # A problem between files (an output on another's file, part or dated name) is in the
    # file that would write there: that segment does not run, the others do.
    blocked = {p.file for p in ws.problems}
    segments = [s for s in ws.select(sel.selectors, sel.exclude) if s.file not in blocked]
    ready, unresolved = resolve_names(segments, ws.project.api, os.environ)  # no export yet
    report_problems(unresolved, "text", err)
    # a segment referencing one of these says why it failed, not "export it in this run"
    ws.unresolved = {s.name: p.message for s in segments for p in unresolved if p.file == s.file}
    segments = ready
    if not segments:
        err.write("" if unresolved else "no segments selected\n")
        return Outcome.PROBLEMS if ws.problems or unresolved else Outcome.OK
    results: list[ExportResult] = []
    try:
        with Progress(err, live=job.live) as progress:
            run_export(segments, ws, job.options, listener=progress, results=results)
    except (KeyboardInterrupt, Terminated):
        if results:  # what ran, and which segment stopped; then on to 130 or 143
            _report_export(job, ws, results, out)
        raise
    _report_export(job, ws, results, out)
    failed = ws.problems or unresolved or any(r.status not in DONE for r in results)
    return Outcome.FAILED if failed else Outcome.OK


def _report_export(job: ExportJob, ws: Workspace, results: list[ExportResult], out: TextIO) -> None:
    """The summary table on ``out``, and the results file if ``--results`` asked for it."""
    from runner.fetch.redact import redactor_for
    from runner.report.summary import summary
    from runner.run.results import results_document, write_results

    out.write(summary(results))
    if job.results is not None:
        sel = job.selection
        args = {
            "selectors": list(sel.selectors),
            "exclude": list(sel.exclude),
            **job.options.as_args(),
        }
        scrub = redactor_for(ws.project.api.token_env, os.environ)
        write_results(job.results, scrub.document(results_document(ws, results, args)))


def _masked(ws: Workspace, out: TextIO, err: TextIO) -> tuple[TextIO, TextIO]:
    """``out`` and ``err`` through the export's redaction of the API token: whatever a
    command that talks to the API prints, the token in no form leaves with it."""
    from runner.fetch.redact import MaskedStream, redactor_for

    scrub = redactor_for(ws.project.api.token_env, os.environ)
    # MaskedStream has the part of TextIO the commands use (write, flush, isatty)
    return cast(TextIO, MaskedStream(out, scrub)), cast(TextIO, MaskedStream(err, scrub))


def history(options: HistoryOptions, out: TextIO, err: TextIO) -> Outcome:
    """The runs recorded for each selected segment: a table with a sparkline, or JSON."""
    from runner.history import RunRecord, runs
    from runner.report.history import render_json, render_text
    from runner.run.plan import store_for

    sel = options.selection
    ws = open_workspace(sel)
    report_problems(ws.problems, "text", err)
    found: dict[str, list[RunRecord]] = {}
    texts: list[str] = []
    for seg in ws.select(sel.selectors, sel.exclude):
        store = store_for(seg, ws.project, options.out_root)
        found[seg.name] = runs(store, seg.name, options.last)
        texts.append(render_text({seg.name: found[seg.name]}, store.where))
    out.write(render_json(found) if options.format == "json" else "\n".join(texts))
    return Outcome.PROBLEMS if ws.problems else Outcome.OK


def freshness(options: FreshnessOptions, out: TextIO, err: TextIO) -> Outcome:
    """Is each selected segment's last published export recent enough (expect.fresh_within)?
    FAILED when one is not; ``notify`` sends those to the ``on: [stale]`` targets."""
    from runner.freshness import judge_all, notify_stale
    from runner.report.freshness import render_json, render_text

    sel = options.selection
    ws = open_workspace(sel)
    report_problems(ws.problems, "text", err)
    chosen = ws.select(sel.selectors, sel.exclude)
    found = judge_all(chosen, ws.project, ws.clock.now, options.out_root)
    out.write(render_json(found) if options.format == "json" else render_text(found))
    if options.notify:
        for seg, item in zip(chosen, found, strict=True):
            for line in notify_stale(seg, item, ws.project, os.environ):
                err.write(f"warning: {seg.name}: {line}\n")
    if not all(item.judgement.ok for item in found):
        return Outcome.FAILED
    return Outcome.PROBLEMS if ws.problems else Outcome.OK


def catalog(options: CatalogOptions, out: TextIO, err: TextIO) -> Outcome:
    """Build the catalog site: ``index.html`` in ``options.folder``, opened from anywhere."""
    from runner.catalog import build_site

    sel = options.selection
    ws = open_workspace(sel)
    report_problems(ws.problems, "text", err)
    site = build_site(ws, ws.select(sel.selectors, sel.exclude), options.folder, options.out_root)
    err.writelines(f"warning: {line}\n" for line in site.unreadable)  # "unknown" on the page
    out.write(site.summary() + "\n")
    return Outcome.PROBLEMS if ws.problems else Outcome.OK


def diff(options: DiffOptions, out: TextIO, err: TextIO) -> Outcome:
    """Rendered request bodies before and after a git ref (and audience counts)."""
    from runner import review
    from runner.report.diff import render_changes

    sel = options.selection
    ws = open_workspace(sel)
    out, err = _masked(ws, out, err)
    report_problems(ws.problems, "text", err)
    base = options.ref or review.default_base(ws.project.root)
    selected = ws.select(sel.selectors, sel.exclude)
    found = review.changes(ws, base, selected)
    if options.count:
        review.count_audiences(ws, found, os.environ)
    out.write(render_changes(found, options.format, base))
    return Outcome.PROBLEMS if ws.problems else Outcome.OK


def init(options: InitOptions, out: TextIO, err: TextIO) -> Outcome:
    """Scaffold a segments repository with CI workflows; nothing is overwritten unless forced."""
    from runner.scaffold import init as scaffold

    scaffold(
        options.folder,
        force=options.force,
        ci=options.ci,
        runner_source=options.runner_source,
        orchestrator=options.orchestrator,
        out=out,
        err=err,
    )
    return Outcome.OK
