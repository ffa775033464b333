"""Exports that remember: one export's use of the run history (:mod:`runner.history`).

:func:`runner.run.export.export_segment` drives a :class:`HistoryRun` through the run:

1. :meth:`HistoryRun.start`: the destination (a dated file for ``mode: incremental``),
   the history beside it, the last successful run and the ``createdAt`` window;
   :attr:`~HistoryRun.body` is the request body to page.
2. :meth:`~HistoryRun.open_deltas` (``output.delta``): ``<name>.added.<ext>`` and
   ``<name>.removed.<ext>`` beside the output, fed each page by :meth:`~HistoryRun.page`.
3. :meth:`~HistoryRun.check`: ``expect.max_change`` against the last successful run
   (:class:`~runner.errors.GuardError` unless ``--accept-change``).
4. :meth:`~HistoryRun.companions`: the delta files finished and this run's id snapshot
   stored; the uploads to publish with the file, all or none.
5. :meth:`~HistoryRun.end`: the run recorded whatever its status, old snapshots pruned,
   notifications sent; the warnings returned, the result never changed. Then ``close``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from runner import __version__
from runner.errors import DestinationError, GuardError, HistoryError
from runner.formats import Encoder, content_type
from runner.history import (
    HistoryStore,
    RunRecord,
    RunStatus,
    last_success,
    new_run_id,
    open_history,
    prune_snapshots,
)
from runner.history.delta import DeltaSummary, DeltaTracker, id_record
from runner.history.guard import (
    Baseline,
    RateBaseline,
    check_drift,
    check_rate,
    parse_max_change,
    window_ms,
)
from runner.history.record import body_fingerprint, git_commit, utc_now, utc_text
from runner.history.snapshot import SnapshotBase
from runner.history.store import last_incremental
from runner.history.window import Window, next_window
from runner.run.notify import catalog_link, notify_run
from runner.sinks import Destination, OutputRoot, Upload, destination_for
from runner.sinks.base import published_sha256
from runner.spec.project import Project
from runner.spec.segment import Column, OutputSpec, Segment
from runner.spec.targets import DELTA_TAGS, tagged_path
from runner.spec.templating import Clock
from runner.spec.workspace import Workspace


class Figures(Protocol):
    """What a finished run measured (:class:`runner.run.export.SegmentResult` has these)."""

    rows: int
    pages: int
    duplicates: int
    retries: int
    seconds: float
    bytes: int
    sha256: str
    destination: str
    error: str
    held_out: int


def stamp(moment: dt.datetime) -> str:
    """An instant as a file name part, UTC to the millisecond: ``20261125T000000000Z``."""
    return utc_text(moment).replace("-", "").replace(":", "").replace(".", "")


def with_path(seg: Segment, path: str, spec: OutputSpec | None = None) -> Segment:
    return dataclasses.replace(seg, output=dataclasses.replace(spec or seg.output, path=path))


def history_store(dest: Destination, out: OutputRoot | None = None) -> HistoryStore:
    """The history beside ``dest``: under the output root (``--out`` or ``output_root``)
    for a local file; under the ``--out`` prefix, or at the top of the bucket, for S3
    (``dest`` was made under ``out``: it knows)."""
    root = dest.state_root()
    return open_history(root.where, client=root.client)


def store_for(seg: Segment, project: Project, out: OutputRoot | None) -> HistoryStore:
    """The history ``segments history`` reads for ``seg`` (where its exports record runs)."""
    return history_store(destination_for(seg, project, out), out)


def removed_spec(spec: OutputSpec, id_key: str) -> OutputSpec:
    """The removed file: the ids only, as JSON values (JSONL) or one column named ``id_key``."""
    columns = None if spec.format == "jsonl" else (Column(id_key, id_key),)
    return dataclasses.replace(spec, columns=columns, preset=None, hash=None, rename={})


@dataclasses.dataclass
class DeltaFile:
    tag: str
    destination: Destination
    upload: Upload
    encoder: Encoder


@dataclasses.dataclass
class Deltas:
    """This run's id snapshot (every full export stores one with the history before it
    publishes) and, with ``output.delta``, the added and removed files, fed page by page."""

    seg: Segment
    store: HistoryStore
    tracker: DeltaTracker
    files: list[DeltaFile] = dataclasses.field(default_factory=list)
    summary: DeltaSummary | None = None
    snapshot: str | None = None  # the stored snapshot's reference

    @classmethod
    def open(cls, run: HistoryRun) -> Deltas:
        """With ``output.delta``, load the last snapshot (SnapshotError if damaged), open files."""
        seg, project = run.seg, run.ws.project
        ref = run.previous.snapshot if run.previous and seg.output.delta else None
        base = None  # the first delta run: every row is added
        if ref:
            base = SnapshotBase(run.store.open_snapshot(ref), project.api.id_key, f"snapshot {ref}")
        deltas = cls(
            seg, run.store, DeltaTracker(project.api.id_key, base, Path(tempfile.gettempdir()))
        )
        for tag in DELTA_TAGS if seg.output.delta else ():
            spec = seg.output if tag == "added" else removed_spec(seg.output, project.api.id_key)
            spec = dataclasses.replace(spec, split=None)  # a delta file is never split
            dest = destination_for(
                with_path(seg, tagged_path(seg.output.path, tag), spec), project, run.out
            )
            upload = dest.open(content_type(spec))
            deltas.files.append(DeltaFile(tag, dest, upload, Encoder(spec, upload)))
        return deltas

    def page(self, records: list[Any]) -> None:
        added = self.tracker.page(records)
        for file in self.files[:1]:  # the added file, with output.delta
            file.encoder.write_page(added)

    def finish(self) -> list[Upload]:
        """Finish the delta files, if any, and store this run's snapshot; the uploads."""
        self.summary = self.tracker.finish()
        for f in self.files:  # with output.delta: added, then removed (the ids that left)
            for ids in self.tracker.removed() if f.tag == "removed" else ():
                f.encoder.write_page([id_record(self.tracker.id_key, v) for v in ids])
            f.encoder.finish()
        run_id = new_run_id(utc_now())
        self.snapshot = self.store.put_snapshot(self.seg.name, run_id, self.summary.snapshot)
        return [f.upload for f in self.files]

    def manifest_fields(self, previous: RunRecord | None) -> dict[str, Any]:
        assert self.summary is not None
        return {
            "against": previous.run_id if previous and self.summary.had_base else None,
            **{f.tag: _file_fields(f) for f in self.files},
            "without_id": self.summary.without_id,
        }

    def close(self) -> None:
        """Abort the uploads (a published one is kept) and remove the temporary files."""
        for f in self.files:
            f.upload.abort()
        self.tracker.close()


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
    started: str = dataclasses.field(default_factory=utc_now)
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
            self.deltas = Deltas.open(self)

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

    def end(
        self,
        status: RunStatus,
        figures: Figures,
        env: Mapping[str, str],
        redact: Callable[[str], str],
    ) -> list[str]:
        """Record the run, prune old snapshots and notify; the warnings (never raises)."""
        if self.dry_run:
            return []
        record = masked(run_record(self, status, figures), redact)
        warnings: list[str] = []
        try:
            record = self.store.append(record)
            prune_snapshots(self.store, self.seg.name)
        except HistoryError as exc:
            warnings.append(str(exc) + _lost(record))
        snapshot = self.deltas.snapshot if self.deltas is not None else None
        if status is not RunStatus.SUCCESS and snapshot:
            self.store.discard_snapshot(snapshot)
        project = self.ws.project
        return warnings + notify_run(
            self.seg.notify,
            record,
            self.previous,
            env=env,
            redact=redact,
            timeout=project.notify_timeout,
            catalog=catalog_link(project.catalog_url, self.seg.name),
        )

    def close(self) -> None:
        """Remove what the deltas left (their uploads abort unless published)."""
        if self.deltas is not None:
            self.deltas.close()


def expected_rows(run: HistoryRun) -> int | None:
    """Progress's estimate: the last successful run's rows (none when incremental)."""
    return run.previous.rows if run.previous and run.seg.mode == "full" else None


def run_record(run: HistoryRun, status: RunStatus, r: Figures) -> RunRecord:
    """The history entry of ``run``, which ended with ``status`` and measured ``r``."""
    ok, ended = status is RunStatus.SUCCESS, utc_now()
    window = run.window
    summary = run.deltas.summary if run.deltas is not None and run.deltas.files else None
    return RunRecord(
        run_id=new_run_id(ended),
        segment=run.seg.name,
        status=status,
        ended=ended,
        as_of=utc_text(run.ws.clock.now),
        started=run.started,
        seconds=r.seconds,
        rows=r.rows,
        pages=r.pages,
        duplicates=r.duplicates,
        retries=r.retries,
        bytes=r.bytes,
        sha256=r.sha256,
        destination=r.destination,
        body_fingerprint=body_fingerprint(run.seg.body),
        runner_version=__version__,
        git_commit=git_commit(run.ws.project.root),
        accepted_change=ok and run.accepted_change,
        error=r.error,
        mode=run.seg.mode,
        watermark=window.watermark if ok and window is not None else None,
        window_start=window.created_at["startAt"] or None if window is not None else None,
        window_end=window.created_at["endsAt"] if window is not None else None,
        snapshot=run.deltas.snapshot if ok and run.deltas is not None else None,
        added=summary.added if summary is not None else None,
        removed=summary.removed if summary is not None else None,
        held_out=r.held_out if run.seg.compose.holdout is not None else None,
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


def _file_fields(f: DeltaFile) -> dict[str, Any]:
    return {
        "destination": f.destination.display,
        "rows": f.encoder.rows,
        "bytes": f.encoder.size,
        "sha256": f.encoder.sha256,
    }


def _lost(record: RunRecord) -> str:
    again = "; the next incremental run will export this run's contacts again"
    return again if record.watermark else ""


__all__ = ["HistoryRun", "history_store", "store_for"]
