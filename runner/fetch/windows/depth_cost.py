"""Whether createdAt windows pay for this list, from what its first window showed.

Windows exist because page N of a list costs the server N pages of skipped rows: a
window's pages stay shallow. They cost requests of their own (each window's empty
last page, its short last page, pages asked past an end that came early): about a
tenth more than page numbers. Where skipped rows cost nothing those requests are all
they change, and page numbers are faster.

The first window is the list's own first pages (it ends at the as-of and starts at
the top of the list), read as page numbers would read them, so the reply times of its
pages by page number show what depth costs: :func:`depth_cost` compares the deepest
third of its pages with the shallowest third, by their lower quartiles and by their
medians, and takes the smaller difference: the cost of depth adds to every reply and
moves both, while a busy machine, threads starting and requests queueing slow some
replies down and seldom move both.
Windows are kept when a page at the window's depth costs the server clearly more than
page 1 (a tenth more: about what windows add in requests; and at least
:data:`FLOOR_S`: below that, the difference is this machine's noise, not the
server's work).

>>> depth_cost({n: 0.05 for n in range(1, 34)}, 32)  # flat: page numbers
'deep pages cost no more than page 1 (a page 32 deep: +0.0 ms on 50.0 ms)'
>>> depth_cost({n: 0.02 + n * 0.0005 for n in range(1, 34)}, 32) is None  # 10 us a row
True
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping

SHARE = 0.1  # a page at the window's depth this much slower than page 1: windows pay
FLOOR_S = 0.003  # and at least this much slower (seconds): less is noise here
PAGES = 6  # pages of the first window needed to tell anything


def depth_cost(seconds: Mapping[int, float], depth: int) -> str | None:
    """Why page numbers beat windows for this list (None: windows pay, or too few pages
    to tell). ``seconds``: reply time by page number of the first window's pages."""
    if len(seconds) < PAGES:
        return None
    pages = sorted(seconds)
    third = max(2, len(pages) // 3)
    shallow, deep = pages[:third], pages[-third:]
    span = statistics.mean(deep) - statistics.mean(shallow)
    extra, top = float("inf"), 0.0
    for level in (_low, statistics.median):  # depth moves both; noise seldom does
        top = level([seconds[n] for n in shallow])
        bottom = level([seconds[n] for n in deep])
        extra = min(extra, max(0.0, bottom - top) / span * depth if span > 0 else 0.0)
    # Depth lifts every deep reply: their lower quartile clears the shallow median.
    apart = _low([seconds[n] for n in deep]) > statistics.median(seconds[n] for n in shallow)
    if apart and extra > max(SHARE * top, FLOOR_S):
        return None
    return (
        f"deep pages cost no more than page 1 (a page {depth} deep: +{extra * 1000:.1f} ms "
        f"on {top * 1000:.1f} ms)"
    )


def _low(values: list[float]) -> float:
    """The lower quartile."""
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 4]


class Choice:
    """Reply times of window pages by page number (``timed``), until :meth:`decide`
    has enough of them: the first window passed on, and pages at least
    ``2 x PAGES`` deep (a list that thins out makes shallow windows first)."""

    def __init__(self) -> None:
        self.seconds: dict[int, list[float]] = {}
        self.deciding = True

    def timed(self, number: int, seconds: float) -> None:
        if self.deciding:
            self.seconds.setdefault(number, []).append(seconds)

    def decide(self, depth: int, complete: bool = False) -> str | None:
        """Why page numbers beat windows (None: windows pay, or not known yet);
        ``complete``: the windows so far hold the whole list, nothing to decide."""
        if not self.deciding:
            return None
        pages = {n: statistics.median(times) for n, times in self.seconds.items()}
        if complete or (len(pages) >= PAGES and max(pages) >= 2 * PAGES):
            self.deciding = False
            return depth_cost(pages, depth)
        return None
