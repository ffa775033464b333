"""Whether createdAt windows pay for this list, from what its first window showed.

Windows exist because page N of a list costs the server N pages of skipped rows: a
window's pages stay shallow. They cost requests of their own (each window's empty
last page, its short last page, pages asked past an end that came early): about a
tenth more than page numbers. Where skipped rows cost nothing those requests are all
they change, and page numbers are faster.

The first window is the list's own first pages, read by page number, so the reply
times of its pages show what depth costs: :func:`depth_cost` compares the fastest reply
of the deepest third of its pages with the fastest of the shallowest third. A busy
machine, a collector, threads starting and requests queueing only ever add time, to
some replies and not others; the cost of depth adds to every deep reply. So the fastest
reply of each third is the closest to the server's own work, however many others a
burst slowed down: medians, means and even lower quartiles moved with the bursts of a
machine at load 10-20, and sent a list that costs 10 us a skipped row to page numbers.
Windows are kept when a page at the window's depth costs the server clearly more than
page 1 (a tenth more: about what windows add in requests; and at least
:data:`FLOOR_S`: below that, the difference is this machine's noise, not the
server's work). Too few pages to tell: windows are kept (page numbers on a list where
depth costs lose far more than windows where it does not).

While the list goes on by page number, :class:`Choice` asks again each time it is
twice as deep (pages 65, 129, 257 ... for windows of 32): what depth costs grows with
depth and the noise does not, so a list sent to page numbers by a burst is found out
while page numbers have cost at most twice the pages read so far (up to 1,025 pages
deep, :data:`CHECKS`: past that, a list read by page number keeps no time per page).

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
CHECKS = 6  # decisions at most: at 33, 65, 129, 257, 513 and 1,025 pages of 50


def depth_cost(seconds: Mapping[int, float], depth: int) -> str | None:
    """Why page numbers beat windows for this list (None: windows pay, or too few pages
    to tell). ``seconds``: reply time by page number of the first window's pages."""
    if len(seconds) < PAGES:
        return None
    pages = sorted(seconds)
    third = max(2, len(pages) // 3)
    shallow, deep = pages[:third], pages[-third:]
    span = statistics.mean(deep) - statistics.mean(shallow)
    top = min(seconds[n] for n in shallow)
    bottom = min(seconds[n] for n in deep)
    extra = max(0.0, bottom - top) / span * depth if span > 0 else 0.0
    if extra > max(SHARE * top, FLOOR_S):
        return None
    return (
        f"deep pages cost no more than page 1 (a page {depth} deep: +{extra * 1000:.1f} ms "
        f"on {top * 1000:.1f} ms)"
    )


class Choice:
    """Reply times of the first window's pages by page number (``timed``: the fastest,
    where a page was asked twice), while it is read by page number: :meth:`due` when it
    is as deep as a window was sized, then twice as deep, four times ... up to
    :data:`CHECKS` times (see the module docstring); then no more is timed, so a list
    read by page number to its end holds no time per page."""

    def __init__(self) -> None:
        self.seconds: dict[int, float] = {}
        self.deciding = True
        self.check = 0  # pages passed on at the next decision (0: a window's depth + 1)
        self.checks = 0

    def timed(self, number: int, seconds: float) -> None:
        if self.deciding:
            self.seconds[number] = min(seconds, self.seconds.get(number, seconds))

    def due(self, passed: int, depth: int) -> bool:
        """Whether to decide, ``passed`` pages passed on of a window sized to ``depth``."""
        self.check = self.check or depth + 1
        return passed >= self.check

    def decide(self, depth: int) -> str | None:
        """Why page numbers beat windows (None: windows pay, or too few pages to tell:
        then no more is timed); asked again when twice as deep."""
        why = depth_cost(self.seconds, depth)
        self.checks += 1
        self.deciding = why is not None and self.checks < CHECKS
        self.check = 2 * self.check - 1
        if not self.deciding:
            self.seconds = {}
        return why
