"""Where the run history lives: the interface both stores share, and the queries on it.

A store holds, per segment, one immutable entry per run and the id snapshots of
delta segments. Entries are only ever added; a query reads them all and sorts
them by ``run_id`` (the moment each run ended), so "newest last" means the same
thing in every store. :func:`open_history` picks the store for an output root.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Protocol

from runner.errors import SnapshotGone
from runner.history.layout import HISTORY_DIR
from runner.history.record import RunRecord, RunStatus


class HistoryStore(Protocol):
    """What the export and ``segments history`` need from a history store."""

    @property
    def where(self) -> str:
        """The store's location, safe to print."""
        ...

    def append(self, record: RunRecord) -> RunRecord:
        """Add one entry; never loses or overwrites another writer's entry. Returns the
        entry as stored (an S3 store gives it a new run id if its key was taken)."""
        ...

    def newest(self, segment: str, status: RunStatus | None = None) -> Iterator[RunRecord]:
        """The readable entries of ``segment`` (only ``status`` ones if given), newest
        first; lazily, so a store that reads one object per entry stops early."""
        ...

    def segments(self) -> list[str]:
        """The segments with at least one entry, sorted."""
        ...

    def put_snapshot(self, segment: str, run_id: str, source: Path) -> str:
        """Store the id snapshot file ``source`` for a run; the reference to record."""
        ...

    def open_snapshot(self, ref: str) -> IO[bytes]:
        """A readable, seekable file with the snapshot ``ref`` (HistoryError if gone)."""
        ...

    def discard_snapshot(self, ref: str) -> None:
        """Remove a snapshot no entry will reference (its run failed after storing it)."""
        ...

    def snapshots(self, segment: str) -> list[str]:
        """The references of every snapshot stored for ``segment``, oldest first."""
        ...

    def publish_lock(
        self, target: str, said: Callable[[str], None]
    ) -> AbstractContextManager[None]:
        """Held while the output ``target`` (its URL, safe to print) is published, from
        reading its previous result to removing what the new one supersedes: one run at
        a time among those sharing this store (a local output has its own ``flock``:
        none here; S3 outputs: :mod:`runner.history.s3_lock`). ``said``: told once, in a
        line, that the run waits for another."""
        ...


def runs(store: HistoryStore, segment: str, last: int | None = None) -> list[RunRecord]:
    """The runs of ``segment``, oldest first; with ``last``, only the newest ``last``."""
    found = list(itertools.islice(store.newest(segment), last if last is None else max(last, 0)))
    found.reverse()
    return found


def last_success(store: HistoryStore, segment: str) -> RunRecord | None:
    """The newest run of ``segment`` that published its file, or None."""
    return next(store.newest(segment, RunStatus.SUCCESS), None)


def watermark(store: HistoryStore, segment: str) -> str | None:
    """Where the next incremental run starts: the watermark of the newest published
    incremental run, or None (the next run is the first)."""
    record = last_incremental(store, segment)
    return record.watermark if record is not None else None


def last_incremental(store: HistoryStore, segment: str) -> RunRecord | None:
    """The newest published incremental run (the one whose watermark counts), or None."""
    return next((r for r in store.newest(segment, RunStatus.SUCCESS) if r.watermark), None)


ORPHAN_AGE = dt.timedelta(days=1)  # a snapshot no entry references, this much older: removed
LOOK_BACK = 8  # successful runs past the kept ones whose snapshots a prune removes
OPEN_TRIES = 5  # newer runs may prune a snapshot between reading the history and opening it


def prune_snapshots(store: HistoryStore, segment: str, keep: int = 2) -> list[str]:
    """Remove the snapshots of the successful runs past the newest ``keep``, and those
    no entry references that are a day older than the oldest kept. Returns the
    references removed.

    A snapshot no entry references yet is a run's between storing it and recording
    itself, however its name sorts: that run may wait for its file's publish lock
    while newer runs publish and record, and then record itself as the newest. Only
    age removes such a snapshot (a run killed in between leaves it). A reader that
    opened an older one keeps reading it (POSIX keeps an open file; an S3 snapshot is
    copied whole when opened); one that had not opened it yet takes the newest
    (:func:`open_snapshot_of`).
    """
    if keep < 1:
        raise ValueError("keep at least one snapshot: the next delta run needs it")
    successes = (r.snapshot for r in store.newest(segment, RunStatus.SUCCESS) if r.snapshot)
    referenced = list(itertools.islice(successes, keep + LOOK_BACK))
    kept = referenced[:keep]
    if not kept:
        return []
    oldest = _snapshot_time(min(kept))
    stale = []
    for ref in store.snapshots(segment):
        if ref in kept:
            continue
        when = _snapshot_time(ref)
        orphan = oldest is not None and when is not None and when < oldest - ORPHAN_AGE
        if ref in referenced[keep:] or orphan:
            stale.append(ref)
    for ref in stale:
        store.discard_snapshot(ref)
    return stale


def open_snapshot_of(
    store: HistoryStore, segment: str, record: RunRecord
) -> tuple[RunRecord, IO[bytes]]:
    """``record``'s snapshot, open; if newer runs pruned it since ``record`` was read,
    the newest successful run's instead. Returns the run whose snapshot it is.
    SnapshotGone if the newest successful run's own is gone (removed by hand, or by an
    older runner that pruned it while that run was publishing)."""
    for _ in range(OPEN_TRIES):
        try:
            return record, store.open_snapshot(record.snapshot or "")
        except SnapshotGone:
            newer = last_success(store, segment)
            if newer is None or newer.run_id <= record.run_id or not newer.snapshot:
                raise
            record = newer
    raise SnapshotGone(f"the id snapshot of {segment}'s run {record.run_id} kept going")


def _snapshot_time(ref: str) -> dt.datetime | None:
    """When the run that stored ``ref`` stored it (its name's run id), or None."""
    try:
        return dt.datetime.strptime(ref.partition("/")[2][:19], "%Y%m%dT%H%M%S.%f")
    except ValueError:
        return None


def open_history(output_root: str | Path, client: object | None = None) -> HistoryStore:
    """The store beside ``output_root``: a folder, or an ``s3://bucket/prefix``.

    >>> open_history("/tmp/out").where
    '/tmp/out/.segments/history'
    """
    text = str(output_root)
    if text.startswith("s3://"):
        from runner.history.s3 import S3History
        from runner.locations import S3Location

        prefix = S3Location.parse(text, prefix=True).join(HISTORY_DIR)
        return S3History(prefix, client)
    from runner.history.local import LocalHistory

    return LocalHistory(Path(output_root) / HISTORY_DIR)
