"""Step 2, fetch: a segment's contacts, page by page, de-duplicated by id.

The seam between reading and writing: :func:`records` yields lists of records and
knows nothing of files; what comes after (:mod:`runner.run.rows`) takes any such
iterable, so a step that narrows an audience can stand between the two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from runner.errors import ConfigError
from runner.fetch import PageFetcher
from runner.fetch.learned import recall
from runner.locations import STATE_DIR
from runner.spec.segment import Segment
from runner.spec.workspace import Workspace

Records = list[Any]  # one page of de-duplicated records, as the API sent them


@dataclass(frozen=True)
class Fetched:
    """What reading the pages measured (names as in :class:`~runner.run.record.ExportResult`)."""

    pages: int
    duplicates: int
    retries: int
    reread: bool
    concurrency: int  # requests at once the run settled at
    auto_concurrency: bool
    windows: int
    note: str
    read_as: str
    after_as_of: int  # contacts created after the as-of: left for the next run
    api_clock_skew: float | None  # seconds the API's clock is ahead (Date header)

    @classmethod
    def of(cls, fetcher: PageFetcher, pages: int) -> Fetched:
        return cls(
            pages,
            fetcher.duplicates,
            fetcher.retries,
            fetcher.reread,
            fetcher.settled,
            fetcher.auto,
            fetcher.windows,
            fetcher.note,
            fetcher.read_as,
            fetcher.after_as_of,
            fetcher.clock.skew,
        )


def check_resolved(seg: Segment) -> None:
    """ConfigError unless ``seg`` names no saved segment left to resolve."""
    if seg.saved_names:  # the API would read "name:VIP list" as an id and match no one
        raise ConfigError(
            f"{seg.file}: filter.segments names saved segments that were not resolved "
            "(runner.fetch.saved.resolve_names); nothing was asked"
        )


def open_pages(
    ws: Workspace,
    token: str,
    body: Mapping[str, Any],
    *,
    concurrency: int | None = None,
    max_pages: int | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> PageFetcher:
    """The fetcher of ``body``'s pages (nothing is asked until :func:`records` runs),
    starting from what earlier runs learned of the API's concurrency."""
    fetcher = PageFetcher(
        ws.project.api,
        token,
        body,
        concurrency=concurrency,
        max_pages=max_pages,
        on_retry=None if on_retry is None else lambda _page, reason: on_retry(reason),
        as_of=ws.clock.now,
        learned=recall(ws.project.root / STATE_DIR, ws.project.api.url),
    )
    return fetcher


def records(fetcher: PageFetcher, wanted: bool = True) -> Iterator[Records]:
    """Each page's records not seen before; none at all when not ``wanted`` (an empty
    incremental window: nothing to ask). The fetcher is closed when this ends."""
    try:
        for page in fetcher.pages() if wanted else ():
            yield page.records
    finally:
        fetcher.close()
