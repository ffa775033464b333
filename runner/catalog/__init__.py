"""``segments catalog``: a static site describing every segment, for people who never
open a terminal.

- :mod:`~runner.catalog.plain`: a rendered request body in plain English.
- :mod:`~runner.catalog.model`: the data the page embeds (one entry per segment).
- :mod:`~runner.catalog.page`: the site on disk: ``index.html`` with the data as
  JSON, and ``assets/`` (the page's script and style, and uPlot, vendored with its
  licence). It opens from ``file://`` and makes no network request.

:func:`build_site` reads each segment's history where ``segments history`` reads it
(beside the outputs, local or S3) and writes the site.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runner import __version__
from runner.catalog.model import CatalogData, SegmentEntry, segment_entry
from runner.catalog.page import write_site
from runner.errors import HistoryError
from runner.history import runs
from runner.history.freshness import judge, unreadable
from runner.history.record import RunRecord, RunStatus, utc_now
from runner.run.plan import store_for
from runner.sinks import OutputRoot, destination_for
from runner.spec.segment import Segment
from runner.spec.workspace import Workspace

__all__ = ["Site", "build_site", "catalog_data"]


@dataclass(frozen=True)
class Site:
    """What :func:`build_site` wrote."""

    index: Path
    segments: int
    runs: int
    bytes: int  # the whole site
    unreadable: list[str]  # "segment: why" for each history that could not be read

    def summary(self) -> str:
        """``catalog: 500 segments, 182135 runs, 19.7 MB -> catalog/index.html``"""
        size = f"{self.bytes / 1e6:.1f} MB"
        return f"catalog: {self.segments} segments, {self.runs} runs, {size} -> {self.index}"


def catalog_data(
    ws: Workspace, segments: Sequence[Segment], out: OutputRoot | None = None
) -> CatalogData:
    """The page's data: every segment in ``segments``, with its runs from its history."""
    now = ws.clock.now
    entries: list[SegmentEntry] = []
    for seg in segments:
        store = store_for(seg, ws.project, out)
        try:
            records = runs(store, seg.name)
            judgement = judge(_last_success(records), seg.fresh_within, now)
        except HistoryError as exc:  # shown on the segment; the rest of the catalog stands
            records, judgement = [], unreadable(seg.fresh_within, exc)
        display = destination_for(seg, ws.project, out).display
        entries.append(segment_entry(seg, display, store.where, records, judgement, now))
    return {
        "generated": utc_now(),
        "as_of": now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "runner_version": __version__,
        "project": ws.project.root.resolve().name,
        "segments": entries,
    }


def _last_success(records: Sequence[RunRecord]) -> RunRecord | None:
    return next((r for r in reversed(records) if r.status is RunStatus.SUCCESS), None)


def build_site(
    ws: Workspace, segments: Sequence[Segment], folder: Path, out: OutputRoot | None = None
) -> Site:
    """Write the catalog of ``segments`` into ``folder``; ``out``: the ``--out`` the
    exports were run with, if any (their history is there)."""
    data = catalog_data(ws, segments, out)
    index, size = write_site(folder, data)
    entries = data["segments"]
    total = sum(len(entry["runs"]) for entry in entries)
    unreadable = [
        f"{e['name']}: {e['freshness_text']}" for e in entries if e["freshness"] == "unknown"
    ]
    return Site(index, len(entries), total, size, unreadable)
