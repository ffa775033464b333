"""A request of the windowed strategy: which page of which window, or of what else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.fetch.paging import Later, NewRecords, PageRequest, past_max_pages
from runner.fetch.windows.open_window import OpenWindow, label
from runner.fetch.windows.plan import Window


@dataclass(frozen=True)
class WindowRequest(PageRequest):
    """A page of a window (``window``), or the page 1 that opens one (``probe``), or a
    page of the end probe before the first window's pass (``end``); none of them: a page
    of the page numbers windows handed over to."""

    window: OpenWindow | None = None
    probe: Window | None = None
    generation: int = 0  # the window's, when asked (a reply from before a re-read is stale)
    early: int | None = None  # a page of the check past the windows, asked for this count
    beside: int = 0  # page 1 again, timed beside deep pages: the Nth such (depth_cost)
    end: bool = False  # where the list ends, found before the first window reads it (a
    # page of the list, named as page numbers name their probe's: "page 3")

    @property
    def label(self) -> str:
        if self.beside:
            return f"page 1 again (timing {self.beside})"
        if self.window is not None:
            return label(self.window, self.number)
        if self.probe is None:
            return f"page {self.number}"
        return f"page {self.number} of {self.probe.label}"


def finding_end(first: OpenWindow | None) -> bool:
    """Whether ``first`` (the first window) waits for its end probe (``watch``)."""
    return first is not None and first.watch is not None and bool(first.watch.probe.round)


def end_probe(first: OpenWindow | None, body: Mapping[str, Any]) -> WindowRequest | None:
    """The end probe's next page, or None while its round's pages are on their way."""
    assert first is not None and first.watch is not None
    page = first.watch.ask()
    return None if page is None else WindowRequest(page, first.window.body(body, page), end=True)


def end_probed(
    first: OpenWindow | None,
    request: WindowRequest,
    records: list[Any] | Later,
    new: NewRecords,
    max_pages: int,
) -> None:
    """A page of the end probe came (records past ``max_pages``: refused now)."""
    assert first is not None and first.watch is not None
    decoded = records if isinstance(records, list) else []
    past_max_pages(request.number if decoded else 0, max_pages)
    first.watch.probed(request.number, new.ids(request.number, decoded) if decoded else [])
