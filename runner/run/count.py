"""``diff --count``: how many contacts a segment selects, on the export's own path
(steps 2 to 4 of :mod:`runner.run.export`, nothing written).

For example (not run: it needs a server or a project)::

    count_contacts(seg, ws, token)
    # -> 1204
"""

from __future__ import annotations

from typing import Any, Protocol

from runner.run.compose import Audiences
from runner.run.pages import check_resolved, open_pages, records
from runner.run.rows import write_rows
from runner.sinks import DiscardUpload
from runner.spec.segment import Segment
from runner.spec.workspace import Workspace


class PageWatcher(Protocol):
    """What sees the records besides the count (the id collector of ``diff --count``),
    and says whether to ask at all."""

    @property
    def fetch_needed(self) -> bool: ...

    def page(self, records: list[Any]) -> None: ...


def count_contacts(
    seg: Segment, ws: Workspace, token: str, watch: PageWatcher | None = None
) -> int:
    """How many contacts ``seg`` selects: every page fetched, de-duplicated and turned
    into rows, nothing written, without the guards. A contact a preset leaves out is
    still counted, and so is a holdout (``exclude`` and ``only`` apply). Failures are
    raised. ``watch`` sees the records too."""
    router = Audiences(ws, token).router(seg, holdout=False, tap=False)
    check_resolved(seg)
    fetcher = open_pages(ws, token, seg.body)
    wanted = watch is None or watch.fetch_needed
    on_page = None if watch is None else (lambda page, _rows: watch.page(page))
    try:
        pages = (router.route(page) for page in records(fetcher, wanted))
        written = write_rows(pages, seg, DiscardUpload(), on_page)
        router.finish()
    finally:
        fetcher.close()
    return written.rows + written.dropped_unmatchable
