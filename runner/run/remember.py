"""Exports that remember: one export's use of the run history (:mod:`runner.history`).

:func:`runner.run.export.export_segment` drives a :class:`HistoryRun` through the run:

1. :meth:`HistoryRun.start`: the destination (a dated file for ``mode: incremental``),
   the history beside it, the last successful run and the ``createdAt`` window;
   :attr:`~HistoryRun.body` is the request body to page.
2. :meth:`~HistoryRun.open_deltas`: this run's id snapshot and (``output.delta``)
   ``<name>.added.<ext>`` and ``<name>.removed.<ext>`` beside the output, fed each page
   by :meth:`~HistoryRun.page`.
3. :meth:`~HistoryRun.check`: ``expect.max_change`` against the last successful run
   (:class:`~runner.errors.GuardError` unless ``--accept-change``).
4. :meth:`~HistoryRun.companions`: the delta files finished and this run's id snapshot
   stored; the uploads to publish with the file, all or none.
5. :meth:`~HistoryRun.remember`: the run's record (:class:`~runner.run.record.ExportResult`)
   becomes its history entry (whatever its status), old snapshots are pruned; returns
   the entry and the warnings. Nothing here changes the run's result once it has one,
   and :meth:`~HistoryRun.close` cleans up. Notifying is the next step, the export's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

from runner import __version__
from runner.errors import DestinationError, GuardError, HistoryError
from runner.history import (
    HistoryStore,
    RunRecord,
    RunStatus,
    last_success,
    new_run_id,
    open_history,
    prune_snapshots,
)
from runner.history.guard import (
    Baseline,
    RateBaseline,
    check_drift,
    check_rate,
    parse_max_change,
    window_ms,
)
from runner.history.record import body_fingerprint, git_commit, utc_now, utc_text
from runner.history.store import last_incremental
from runner.history.window import Window, next_window
from runner.run.deltas import Deltas
from runner.run.record import ExportResult
from runner.sinks import Destination, OutputRoot, Upload, destination_for
from runner.sinks.base import published_sha256
from runner.spec.project import Project
from runner.spec.segment import OutputSpec, Segment
from runner.spec.targets import tagged_path
from runner.spec.templating import Clock
from runner.spec.workspace import Workspace


def stamp(moment: dt.datetime) -> str:
    """An instant as a file name part, UTC to the millisecond: ``20261125T000000000Z``."""
    return utc_text(moment).replace("-", "").replace(":", "").replace(".", "")


def with_path(seg: Segment, path: str, spec: OutputSpec | None = None) -> Segment:
    output = dataclasses.replace(spec or seg.output, path=path)
    return dataclasses.replace(seg, output=output)


def history_store(dest: Destination, out: OutputRoot | None = None) -> HistoryStore:
    """The history beside ``dest``: under the output root (``--out`` or ``output_root``)
    for a local file; under the ``--out`` prefix, or at the top of the bucket, for S3
    (``dest`` was made under ``out``: it knows)."""
    root = dest.state_root()
    return open_history(root.where, client=root.client)


def store_for(seg: Segment, project: Project, out: OutputRoot | None) -> HistoryStore:
    """The history ``segments history`` reads for ``seg`` (where its exports record runs)."""
    return history_store(destination_for(seg, project, out), out)


@dataclasses.dataclass
class HistoryRun:
    """One export's history: see the module docstring for the order of the calls."""

    seg: Segment  # with the path this run writes (dated when incremental)
    ws: Workspace
    out: OutputRoot | None
    destination: Destination
    store: HistoryStore
    previous: RunRecord | None
    window: Window | None
    accept_change: bool = False
    dry_run: bool = False
    accepted_change: bool = False
    deltas: Deltas | None = None

    @classmethod
    def start(
        cls,
        seg: Segment,
        ws: Workspace,
        out: OutputRoot | None,
        *,
        accept_change: bool = False,
        since: str | None = None,
        dry_run: bool = False,
    ) -> HistoryRun:
        """Find the destination and the history; HistoryError if the history cannot be read."""
        if seg.mode == "incremental":
            seg = with_path(seg, tagged_path(seg.output.path, stamp(ws.clock.now)))
        dest = destination_for(seg, ws.project, out)
        store = history_store(dest, out)
        window = None
        if seg.mode == "incremental":
            start = _since(since, ws.clock) if since else None
            window = next_window(ws.clock.now, last_incremental(store, seg.name), seg.body, start)
        previous = last_success(store, seg.name)
        return cls(seg, ws, out, dest, store, previous, window, accept_change, dry_run)

    @property
    def body(self) -> dict[str, Any]:
        """The request body: the segment's, inside this run's window when incremental."""
        return dict(self.seg.body) if self.window is None else self.window.apply(self.seg.body)

    @property
    def fetch_needed(self) -> bool:
        """False when the incremental window is empty: nothing to ask the API."""
        return self.window is None or not self.window.empty

    def open_deltas(self) -> None:
        """Start this run's id snapshot (and delta files); not on a dry run, nor incremental
        (its file is one window's new contacts, not the audience a snapshot stands for)."""
        if not self.dry_run and self.window is None:
            self.deltas = Deltas.open(
                self.seg, self.ws.project, self.out, self.store, self.previous
            )

    def page(self, records: list[Any]) -> None:
        """Feed one de-duplicated page to the added file."""
        if self.deltas is not None:
            self.deltas.page(records)

    def check(self, rows: int, sha256: str) -> None:
        """``expect.max_change``: GuardError on a trip, unless ``--accept-change``; then
        an incremental run's dated file (DestinationError if another run's differs)."""
        self._guard(rows)
        if self.window is not None and not self.dry_run:
            self._keep_dated(sha256)

    def _keep_dated(self, sha256: str) -> None:
        """A dated file is one run's window: a run at the same as-of (which repeats that
        window) may publish the same bytes again, never others (a changed window, or a
        file that another output's template named the same)."""
        published = published_sha256(self.destination)
        if published is not None and published != sha256:
            raise DestinationError(
                f"{self.destination.display} holds another run's contacts (sha256 "
                f"{published[:12]}, this run's {sha256[:12]}): an incremental run never "
                "replaces another run's dated file; nothing was published"
            )

    def _guard(self, rows: int) -> None:
        if self.seg.max_change is None:
            return
        limit = parse_max_change(self.seg.max_change)
        if self.window is None:
            drift = check_drift(rows, Baseline.of(self.previous), limit)
        else:  # new contacts an hour of window, not rows (runner.history.guard)
            span = window_ms(self.window.created_at["startAt"], self.window.created_at["endsAt"])
            drift = check_rate(rows, span, RateBaseline.of(self.previous), limit)
        if not drift.tripped:
            return
        if not self.accept_change:
            raise GuardError(
                f"{drift.message}; the previous file is kept (--accept-change publishes this run)"
            )
        self.accepted_change = True

    def companions(self) -> list[Upload]:
        """Finish the delta files and store this run's id snapshot; the uploads to publish."""
        return [] if self.deltas is None else self.deltas.finish()

    def manifest_fields(self) -> dict[str, Any]:
        """What the manifest says about the history: mode, window, deltas, accepted change."""
        fields: dict[str, Any] = {"mode": self.seg.mode}
        if self.window is not None:
            fields["created_at"] = self.window.created_at
        if self.accepted_change:
            fields["accepted_change"] = True
        if self.deltas is not None and self.deltas.files and self.deltas.summary is not None:
            fields["delta"] = self.deltas.manifest_fields(self.previous)
        return fields

    def remember(
        self, result: ExportResult, redact: Callable[[str], str]
    ) -> tuple[RunRecord | None, list[str]]:
        """Step 6: record the finished run (whatever its status) and prune old snapshots;
        the entry as recorded (None on a dry run, which records nothing), and the
        warnings (never raises)."""
        if self.dry_run:
            return None, []
        record = masked(run_record(self, result), redact)
        warnings: list[str] = []
        try:
            record = self.store.append(record)
            prune_snapshots(self.store, self.seg.name)
        except HistoryError as exc:
            warnings.append(str(exc) + _lost(record))
        snapshot = self.deltas.snapshot if self.deltas is not None else None
        if result.status is not RunStatus.SUCCESS and snapshot:
            self.store.discard_snapshot(snapshot)
        return record, warnings

    def close(self) -> None:
        """Remove what the deltas left (their uploads abort unless published)."""
        if self.deltas is not None:
            self.deltas.close()


def expected_rows(run: HistoryRun) -> int | None:
    """Progress's estimate: the last successful run's rows (none when incremental)."""
    return run.previous.rows if run.previous and run.seg.mode == "full" else None


# The history entry's figures that the record carries under the same names.
_SHARED = {f.name for f in dataclasses.fields(RunRecord)} & {
    f.name for f in dataclasses.fields(ExportResult)
}


def run_record(run: HistoryRun, result: ExportResult) -> RunRecord:
    """The history entry of ``run``, whose record is ``result`` (its status set)."""
    ok, ended = result.status is RunStatus.SUCCESS, utc_now()
    window = run.window
    summary = run.deltas.summary if run.deltas is not None and run.deltas.files else None
    shared = {k: v for k, v in dataclasses.asdict(result).items() if k in _SHARED}
    if run.seg.compose.holdout is None:  # no holdout: none recorded, not 0
        shared["held_out"] = None
    return RunRecord(
        run_id=new_run_id(ended),
        ended=ended,
        as_of=utc_text(run.ws.clock.now),
        started=result.started_at,
        body_fingerprint=body_fingerprint(run.seg.body),
        runner_version=__version__,
        git_commit=git_commit(run.ws.project.root),
        accepted_change=ok and run.accepted_change,
        mode=run.seg.mode,
        watermark=window.watermark if ok and window is not None else None,
        window_start=window.created_at["startAt"] or None if window is not None else None,
        window_end=window.created_at["endsAt"] if window is not None else None,
        snapshot=run.deltas.snapshot if ok and run.deltas is not None else None,
        added=summary.added if summary is not None else None,
        removed=summary.removed if summary is not None else None,
        **shared,
    )


# The record's free text: what a server, an OS or a user's path put there. The other
# strings are the runner's own identifiers (name, run id, times, digests), checked by
# RunRecord: a token sharing six characters with a segment name must not mask it.
FREE_TEXT = ("error", "destination")


def masked(record: RunRecord, redact: Callable[[str], str]) -> RunRecord:
    """``record`` with its free text through ``redact``: the history is an output too."""
    fields = dataclasses.asdict(record)
    texts: dict[str, Any] = {k: redact(fields[k]) for k in FREE_TEXT if fields[k]}
    return dataclasses.replace(record, **texts)


def _since(text: str, clock: Clock) -> dt.datetime:
    """``--since`` read like ``--as-of`` (no offset: the project's time zone)."""
    return Clock.parse(text, clock.tz.key).now


def _lost(record: RunRecord) -> str:
    if record.watermark:
        return "; the next incremental run will export this run's contacts again"
    return ""


__all__ = ["HistoryRun", "history_store", "store_for"]
