"""``diff --count``: how many contacts a segment selects, on the export's own path.

>>> count_contacts(seg, ws, token)  # doctest: +SKIP
1204
"""

from __future__ import annotations

from runner.run.compose import Audiences
from runner.run.export import ExportOptions, PageWatcher, SegmentResult, fetcher_for, write_rows
from runner.sinks import DiscardUpload
from runner.spec.segment import Segment
from runner.spec.workspace import Workspace


def _quiet(_event: str, _result: SegmentResult) -> None:
    pass


def count_contacts(
    seg: Segment, ws: Workspace, token: str, watch: PageWatcher | None = None
) -> int:
    """How many contacts ``seg`` selects: the export's path in dry-run mode (every page
    fetched, de-duplicated and turned into rows, nothing written), without its guards.
    A contact a preset leaves out is still counted, and so is a holdout (``exclude`` and
    ``only`` apply). Failures are raised. ``watch`` sees the records too."""
    result = SegmentResult(seg.name)
    router = Audiences(ws, token).router(seg, holdout=False, tap=False)
    fetcher = fetcher_for(seg, ws, ExportOptions(dry_run=True), token, result, _quiet)
    write_rows(fetcher, seg, DiscardUpload(), result, run=watch, router=router)
    return result.rows + result.dropped_unmatchable
