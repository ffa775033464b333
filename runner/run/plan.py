"""Step 1, plan: where this run's file goes, the history beside it, the window to read.

:func:`plan` reads the history once and returns a frozen :class:`Plan`; every later
step takes what it needs from it (the request body to page, the destination, the last
successful run to compare with) and none writes back to it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from runner.history import HistoryStore, RunRecord, last_success, open_history
from runner.history.record import utc_text
from runner.history.store import last_incremental
from runner.history.window import Window, next_window
from runner.sinks import Destination, OutputRoot, destination_for
from runner.spec.project import Project
from runner.spec.segment import OutputSpec, Segment
from runner.spec.targets import tagged_path
from runner.spec.templating import Clock
from runner.spec.workspace import Workspace


@dataclasses.dataclass(frozen=True)
class Plan:
    """One run's plan: what the steps after it read, never change."""

    seg: Segment  # with the path this run writes (dated when incremental)
    project: Project
    out: OutputRoot | None  # --out: the root every file of the run is placed under
    destination: Destination
    store: HistoryStore  # the history beside the destination
    previous: RunRecord | None  # the last successful run (the guard's, the deltas')
    window: Window | None  # mode: incremental: the createdAt range this run reads

    @property
    def body(self) -> dict[str, Any]:
        """The request body: the segment's, inside this run's window when incremental."""
        return dict(self.seg.body) if self.window is None else self.window.apply(self.seg.body)

    @property
    def fetch_needed(self) -> bool:
        """False when the incremental window is empty: nothing to ask the API."""
        return self.window is None or not self.window.empty

    @property
    def expected_rows(self) -> int | None:
        """Progress's estimate: the last successful run's rows (none when incremental)."""
        return self.previous.rows if self.previous and self.seg.mode == "full" else None

    def companion(self, tag: str, spec: OutputSpec) -> Destination:
        """Where a file published with the output goes: ``<name>.<tag>.<ext>`` beside it
        (a delta or holdout file), written as ``spec`` says."""
        path = tagged_path(self.seg.output.path, tag)
        return destination_for(with_path(self.seg, path, spec), self.project, self.out)

    def plain(self, path: str) -> Destination:
        """The one file ``path`` names (never split: a set's parts and manifest are its
        siblings), under this run's ``--out``."""
        spec = dataclasses.replace(self.seg.output, split=None)
        return destination_for(with_path(self.seg, path, spec), self.project, self.out)


def plan(seg: Segment, ws: Workspace, out: OutputRoot | None, since: str | None = None) -> Plan:
    """``seg``'s run in ``ws``: HistoryError if the history cannot be read. ``since``
    (``--since``) is where a first incremental run starts."""
    if seg.mode == "incremental":
        seg = with_path(seg, tagged_path(seg.output.path, stamp(ws.clock.now)))
    dest = destination_for(seg, ws.project, out)
    store = history_store(dest)
    window = None
    if seg.mode == "incremental":
        start = Clock.parse(since, ws.clock.tz.key).now if since else None  # as --as-of reads
        window = next_window(ws.clock.now, last_incremental(store, seg.name), seg.body, start)
    return Plan(seg, ws.project, out, dest, store, last_success(store, seg.name), window)


def stamp(moment: dt.datetime) -> str:
    """An instant as a file name part, UTC to the millisecond: ``20261125T000000000Z``."""
    return utc_text(moment).replace("-", "").replace(":", "").replace(".", "")


def with_path(seg: Segment, path: str, spec: OutputSpec | None = None) -> Segment:
    """``seg`` writing to ``path`` (with ``spec``'s format, if given)."""
    output = dataclasses.replace(spec or seg.output, path=path)
    return dataclasses.replace(seg, output=output)


def history_store(dest: Destination) -> HistoryStore:
    """The history beside ``dest``: under the output root (``--out`` or ``output_root``)
    for a local file; under the ``--out`` prefix, or at the top of the bucket, for S3
    (``dest`` was made under ``out``: it knows)."""
    root = dest.state_root()
    return open_history(root.where, client=root.client)


def store_for(seg: Segment, project: Project, out: OutputRoot | None) -> HistoryStore:
    """The history ``segments history`` reads for ``seg`` (where its exports record runs)."""
    return history_store(destination_for(seg, project, out))
