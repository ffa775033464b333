"""``segments overlap``: how much the selected segments' latest audiences overlap."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO

from runner.cli.commands import Outcome, Selection, open_workspace, report_problems
from runner.sinks import OutputRoot


@dataclass(frozen=True)
class OverlapOptions:
    selection: Selection = field(default_factory=Selection)
    format: str = "text"  # text | json
    out_root: OutputRoot | None = None  # --out the exports were run with


def overlap(options: OverlapOptions, out: TextIO, err: TextIO) -> Outcome:
    """Each pair's shared contacts and Jaccard index, from the id snapshots the selected
    segments last published (nothing is fetched). FAILED when a snapshot is damaged."""
    from runner.history.overlap import latest_audience, pairs
    from runner.report.overlap import render_json, render_text
    from runner.run.plan import store_for

    sel = options.selection
    ws = open_workspace(sel)
    report_problems(ws.problems, "text", err)
    id_key = ws.project.api.id_key
    audiences = [
        latest_audience(store_for(seg, ws.project, options.out_root), seg.name, id_key)
        for seg in ws.select(sel.selectors, sel.exclude)
    ]
    found = pairs(audiences)
    render = render_json if options.format == "json" else render_text
    out.write(render(audiences, found))
    if any(a.damaged for a in audiences):
        return Outcome.FAILED
    return Outcome.PROBLEMS if ws.problems else Outcome.OK
