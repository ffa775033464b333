"""Run history beside the outputs: what each export did, the ids it published, and
the rules that compare one run with the last (drift guard, deltas, incremental windows).

- :mod:`~runner.history.record`: :class:`RunRecord`, one immutable entry per run.
- :mod:`~runner.history.store`: the :class:`HistoryStore` interface, queries and
  :func:`open_history`; :mod:`~runner.history.local` (a folder) and
  :mod:`~runner.history.s3` (an S3 prefix: its objects in
  :mod:`~runner.history.s3_objects`, writes that never replace an entry in
  :mod:`~runner.history.s3_claim`) implement it, with the names both use
  (segment folders, snapshot references) from :mod:`~runner.history.layout`.
- :mod:`~runner.history.snapshot`, :mod:`~runner.history.delta`: id snapshots and
  the :class:`DeltaTracker` that makes ``added``/``removed`` files.
- :mod:`~runner.history.guard`: ``expect.max_change``.
- :mod:`~runner.history.window`: the ``createdAt`` window of an incremental run.
- :mod:`~runner.report.history`: ``segments history`` output.
"""

from __future__ import annotations

from runner.history.record import RunRecord, RunStatus, new_run_id
from runner.history.store import (
    HistoryStore,
    last_success,
    open_history,
    open_snapshot_of,
    prune_snapshots,
    runs,
    watermark,
)

__all__ = [
    "HistoryStore",
    "RunRecord",
    "RunStatus",
    "last_success",
    "new_run_id",
    "open_history",
    "open_snapshot_of",
    "prune_snapshots",
    "runs",
    "watermark",
]
