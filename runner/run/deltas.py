"""``output.delta``: the added and removed files beside the output, and the id snapshot.

:func:`open_deltas` starts them from the plan; the export feeds each de-duplicated page
to :meth:`Deltas.page`; :meth:`Deltas.finish` finishes both files and stores this run's
ids with the history, before the files are published with the output, all or none, and
returns what it kept (:class:`Kept`: the uploads, the snapshot, the figures) for the
manifest and the history entry.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from runner.errors import SnapshotGone
from runner.formats import Encoder, content_type
from runner.history import HistoryStore, RunRecord, new_run_id, open_snapshot_of
from runner.history.delta import DeltaSummary, DeltaTracker
from runner.history.record import utc_now
from runner.history.snapshot import SnapshotBase
from runner.run.plan import Plan
from runner.sinks import Destination, Upload
from runner.spec.segment import Column, OutputSpec, Segment
from runner.spec.targets import DELTA_TAGS


def removed_spec(spec: OutputSpec, id_key: str) -> OutputSpec:
    """The removed file: the ids only, as JSON values (JSONL) or one column named ``id_key``."""
    columns = None if spec.format == "jsonl" else (Column(id_key, id_key),)
    return dataclasses.replace(spec, columns=columns, preset=None, hash=None, rename={})


def open_deltas(plan: Plan, dry_run: bool) -> Deltas | None:
    """This run's id snapshot (and delta files); none on a dry run, nor incremental (its
    file is one window's new contacts, not the audience a snapshot stands for)."""
    if dry_run or plan.window is not None:
        return None
    return Deltas.open(plan)


@dataclasses.dataclass(frozen=True)
class Kept:
    """What finishing the deltas gave: the delta files' uploads (published with the
    output), the stored snapshot's reference, and with ``output.delta`` the counts and
    the manifest's ``delta`` fields."""

    uploads: tuple[Upload, ...]
    snapshot: str
    added: int | None = None
    removed: int | None = None
    manifest: dict[str, Any] | None = None
    source: Path | None = None  # the snapshot's local file, until the deltas are closed


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
    previous: RunRecord | None  # what the removed file is against
    files: list[DeltaFile] = dataclasses.field(default_factory=list)

    @classmethod
    def open(cls, plan: Plan) -> Deltas:
        """With ``output.delta``, load the last snapshot (SnapshotError if damaged), open files."""
        seg, previous, id_key = plan.seg, plan.previous, plan.project.api.id_key
        base = None  # the first delta run: every row is added
        if previous and previous.snapshot and seg.output.delta:
            try:  # newer runs may have pruned it since the plan read the history
                previous, file = open_snapshot_of(plan.store, seg.name, previous)
            except SnapshotGone as exc:
                fix = f"export '{seg.name}' once without output.delta to keep a new one"
                raise SnapshotGone(f"{exc}: the removed file needs it; {fix}") from exc
            base = SnapshotBase(file, id_key, f"snapshot {previous.snapshot}")
        tracker = DeltaTracker(id_key, base, Path(tempfile.gettempdir()))
        deltas = cls(seg, plan.store, tracker, previous)
        for tag in DELTA_TAGS if seg.output.delta else ():
            spec = seg.output if tag == "added" else removed_spec(seg.output, id_key)
            spec = dataclasses.replace(spec, split=None)  # a delta file is never split
            dest = plan.companion(tag, spec)
            upload = dest.open(content_type(spec))
            deltas.files.append(DeltaFile(tag, dest, upload, Encoder(spec, upload)))
        return deltas

    def page(self, records: list[Any]) -> None:
        added = self.tracker.page(records)
        for file in self.files[:1]:  # the added file, with output.delta
            file.encoder.write_page(added)

    def finish(self) -> Kept:
        """Finish the delta files, if any, and store this run's snapshot."""
        summary = self.tracker.finish()
        for f in self.files:  # with output.delta: added, then removed (the ids that left)
            for page in self.tracker.removed_records() if f.tag == "removed" else ():
                f.encoder.write_page(page)
            f.encoder.finish()
        run_id = new_run_id(utc_now())
        snapshot = self.store.put_snapshot(self.seg.name, run_id, summary.snapshot)
        uploads = tuple(f.upload for f in self.files)
        if not self.files:
            return Kept(uploads, snapshot, source=summary.snapshot)
        fields = self._manifest_fields(summary)
        added, removed = summary.added, summary.removed
        return Kept(uploads, snapshot, added, removed, fields, source=summary.snapshot)

    def _manifest_fields(self, summary: DeltaSummary) -> dict[str, Any]:
        previous = self.previous
        return {
            "against": previous.run_id if previous and summary.had_base else None,
            **{f.tag: _file_fields(f) for f in self.files},
            "without_id": summary.without_id,
        }

    def close(self) -> None:
        """Abort the uploads (a published one is kept) and remove the temporary files."""
        for f in self.files:
            f.upload.abort()
        self.tracker.close()


def _file_fields(f: DeltaFile) -> dict[str, Any]:
    return {
        "destination": f.destination.display,
        "rows": f.encoder.rows,
        "bytes": f.encoder.size,
        "sha256": f.encoder.sha256,
    }
