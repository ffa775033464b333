"""A request of the windowed strategy: which page of which window, or of what else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.fetch.end import EndWatch, moved_up
from runner.fetch.paging import Later, NewRecords, PageRequest
from runner.fetch.windows.open_window import OpenWindow, label
from runner.fetch.windows.plan import CREATED, Window, ms


@dataclass(frozen=True)
class WindowRequest(PageRequest):
    """A page of a window (``window``), or the page 1 that opens one (``probe``), or a
    page of the end probe before the first window's pass (``end``), or the page it found
    read again once windows below the first are read (``last``: :class:`EndAgain`);
    none of them: a page of the page numbers windows handed over to."""

    window: OpenWindow | None = None
    probe: Window | None = None
    generation: int = 0  # the window's, when asked (a reply from before a re-read is stale)
    early: int | None = None  # a page of the check past the windows, asked for this count
    beside: int = 0  # page 1 again, timed beside deep pages: the Nth such (depth_cost)
    end: bool = False  # where the list ends, found before the first window reads it (a
    # page of the list, named as page numbers name their probe's: "page 3")
    last: bool = False

    @property
    def label(self) -> str:
        if self.beside:
            return f"page 1 again (timing {self.beside})"
        if self.window is not None:
            return label(self.window, self.number)
        if self.probe is None:
            return f"page {self.number}"
        return f"page {self.number} of {self.probe.label}"


def end_probe(look: EndAgain, body: Mapping[str, Any]) -> WindowRequest | None:
    """The end probe's next page (then its held page again: :class:`EndWatch`), in the
    range the probe reads; None while its round's pages are on their way, or done."""
    watch, whole = look.watch, look.whole
    if watch is None or whole is None or watch.done or (page := watch.ask()) is None:
        return None
    return WindowRequest(page, whole.body(body, page), end=True)


def end_probed(
    look: EndAgain, request: WindowRequest, records: list[Any] | Later, new: NewRecords
) -> int:
    """A page of the end probe came (new records past ``max_pages``: refused now): how
    far the held page moved up, when it was that page read again."""
    assert look.watch is not None
    decoded = records if isinstance(records, list) else []
    top = decoded[0].get(CREATED) if decoded and isinstance(decoded[0], dict) else None
    ids = new.ids(request.number, decoded) if decoded else []
    look.watch.probed(request.number, ids, ms(top))
    return look.watch.shifted


@dataclass
class EndAgain:
    """The page where the list ended before the first window's pass (its end probe's,
    ``watch``), read again in the range the probe read (``whole``) once every window below
    the first is read (``due``): moved up since the probe, contacts were deleted while
    they were read, and a window below the first, read once, has no page of its own read
    before its others to show it (a deletion above the page being read hides the record
    at the next boundary, even in order). Then page numbers read the list once more
    (:meth:`~runner.fetch.windows.handover.Handover.restart`; what was passed on is
    dropped the second time). One request, beside the check for contacts outside every
    window (no round trip of its own at two or more at once). On the sandbox, one
    contact deleted at a chosen request, deep pages dear, lost a contact this way at 5
    of 16 moments at 4 at once, 6 of 7 one at a time (2026-12-07)."""

    watch: EndWatch | None
    whole: Window | None
    due: bool = False  # windows below the first were opened
    asked: bool = False
    moved: int = 0  # how far it moved up (came: ``came``)
    came: bool = False

    @property
    def waiting(self) -> bool:
        """Whether it is due and not come yet (the list is not complete before)."""
        return self.due and self.page is not None and not self.came

    @property
    def page(self) -> int | None:
        found = self.watch.found if self.watch is not None else None
        return found[0] if found is not None and self.whole is not None else None

    def ask(self, body: Mapping[str, Any]) -> WindowRequest | None:
        """Its request, once (None: not due, or asked)."""
        if not self.due or self.asked or (page := self.page) is None:
            return None
        assert self.whole is not None
        self.asked = True
        return WindowRequest(page, self.whole.body(body, page), last=True)

    def file(self, ids: list[Any]) -> int:
        """It came (``ids``): how far it moved up since the probe read it."""
        assert self.watch is not None and self.watch.found is not None
        self.came, self.moved = True, moved_up(self.watch.found[1], ids)
        return self.moved
