"""Where the run history lives: the interface both stores share, and the queries on it.

A store holds, per segment, one immutable entry per run and the id snapshots of
delta segments. Entries are only ever added; a query reads them all and sorts
them by ``run_id`` (the moment each run ended), so "newest last" means the same
thing in every store. :func:`open_history` picks the store for an output root.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

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


def prune_snapshots(store: HistoryStore, segment: str, keep: int = 2) -> list[str]:
    """Remove the snapshots older than those of the newest ``keep`` successful runs.

    A snapshot newer than those (a run between storing it and recording itself)
    is never touched; a reader that opened an older one keeps reading it (POSIX
    keeps an open file; an S3 snapshot is copied whole when opened). Returns the
    references removed.
    """
    if keep < 1:
        raise ValueError("keep at least one snapshot: the next delta run needs it")
    referenced = (r.snapshot for r in store.newest(segment, RunStatus.SUCCESS) if r.snapshot)
    kept = list(itertools.islice(referenced, keep))
    if not kept:
        return []
    stale = [ref for ref in store.snapshots(segment) if ref < min(kept)]
    for ref in stale:
        store.discard_snapshot(ref)
    return stale


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
