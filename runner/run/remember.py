"""Step 6, remember: the run's record becomes its history entry.

:func:`run_record` makes the entry from the one record of the run's figures
(:class:`~runner.run.record.ExportResult`), as the manifest is made: the figures under
their own names, and what the steps before gave (the plan's mode and window, the
guards' accepted change, the deltas' snapshot and counts). :func:`remember` appends it
whatever the run's status and prunes old snapshots; it never raises and never changes
the run's result: what goes wrong is a warning. Notifying is the next step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner import __version__
from runner.errors import HistoryError
from runner.history import HistoryStore, RunRecord, RunStatus, new_run_id, prune_snapshots
from runner.history.layout import split_snapshot_ref
from runner.history.record import body_fingerprint, git_commit, utc_now, utc_text
from runner.run.deltas import Kept
from runner.run.plan import Plan
from runner.run.record import ExportResult
from runner.spec.workspace import Workspace

# The history entry's figures that the record carries under the same names.
_SHARED = {f.name for f in dataclasses.fields(RunRecord)} & {
    f.name for f in dataclasses.fields(ExportResult)
}


def run_record(
    result: ExportResult, plan: Plan, ws: Workspace, kept: Kept | None, accepted_change: bool
) -> RunRecord:
    """The history entry of the run whose record is ``result`` (its status set)."""
    ok, ended = result.status is RunStatus.SUCCESS, utc_now()
    seg, window = plan.seg, plan.window
    shared = {k: v for k, v in dataclasses.asdict(result).items() if k in _SHARED}
    if seg.compose.holdout is None:  # no holdout: none recorded, not 0
        shared["held_out"] = None
    return RunRecord(
        run_id=new_run_id(ended),
        ended=ended,
        as_of=utc_text(ws.clock.now),
        started=result.started_at,
        body_fingerprint=body_fingerprint(seg.body),
        runner_version=__version__,
        git_commit=git_commit(ws.project.root),
        accepted_change=ok and accepted_change,
        mode=seg.mode,
        watermark=window.watermark if ok and window is not None else None,
        window_start=window.created_at["startAt"] or None if window is not None else None,
        window_end=window.created_at["endsAt"] if window is not None else None,
        snapshot=kept.snapshot if ok and kept is not None else None,
        added=kept.added if kept is not None else None,
        removed=kept.removed if kept is not None else None,
        output_path=seg.output.path,
        output_template=seg.output.template or None,
        **shared,
    )


def remember(
    plan: Plan, record: RunRecord, kept: Kept | None, redact: Callable[[str], str]
) -> tuple[RunRecord, list[str]]:
    """Append ``record`` to the plan's history (its free text through ``redact``) and
    prune old snapshots; the entry as recorded and the warnings (never raises). A run
    that did not succeed leaves no snapshot behind."""
    record = masked(record, redact)
    warnings: list[str] = []
    try:
        if record.ok and kept is not None and kept.source is not None:
            record = still_stored(plan.store, record, kept.source)
        record = plan.store.append(record)
        prune_snapshots(plan.store, plan.seg.name)
    except HistoryError as exc:
        warnings.append(str(exc) + _lost(record))
    if not record.ok and kept is not None:
        plan.store.discard_snapshot(kept.snapshot)
    return record, warnings


def still_stored(store: HistoryStore, record: RunRecord, source: Path) -> RunRecord:
    """``record``, its snapshot stored again under a new name if it is gone. A snapshot
    no entry references is removed by another run's prune once it is a day older than
    the ones kept: a run that waited that long for its publish lock, kept only as the
    newest entry, would leave the next delta run a reference to nothing."""
    segment, _ = split_snapshot_ref(record.snapshot or "")
    if record.snapshot in store.snapshots(segment):
        return record
    ref = store.put_snapshot(segment, new_run_id(utc_now()), source)
    return dataclasses.replace(record, snapshot=ref)


# The record's free text: what a server, an OS or a user's path put there. The other
# strings are the runner's own identifiers (name, run id, times, digests), checked by
# RunRecord: a token sharing six characters with a segment name must not mask it.
FREE_TEXT = ("error", "destination", "output_path", "output_template")


def masked(record: RunRecord, redact: Callable[[str], str]) -> RunRecord:
    """``record`` with its free text through ``redact``: the history is an output too."""
    fields = dataclasses.asdict(record)
    texts: dict[str, Any] = {k: redact(fields[k]) for k in FREE_TEXT if fields[k]}
    return dataclasses.replace(record, **texts)


def _lost(record: RunRecord) -> str:
    if record.watermark:
        return "; the next incremental run will export this run's contacts again"
    return ""
