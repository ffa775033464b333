"""What a round's reply time is judged by: the fastest seen at its depth and above it,
and what depth costs per page.

On some APIs a deeper page costs more (the server skips the records above it: 10 us a
record is 20 ms more at page 40 of 50 records). A round of deep pages that is slower
than the first round, of shallow ones, is then the list, not a server queueing: judged
against the fastest round ever, every round of a deep read looked overloaded and
``auto`` concurrency halved down to 1 (a tie of 10,000 contacts read by page numbers
at 10 us a record: x0.3 of a 4-thread loop). So the fastest is kept by depth, in
bands 1.25 times deeper than the one above, and a round is judged against the fastest
of its band and of every band above it, each made deeper by what a page costs
(:class:`DepthCost`, measured between replies sent with as many on the wire). Judged
against the nearest band above alone, without the cost, the depth between two rounds
of slow start (each about twice as deep as the one before, read by page number from
the top) made a round 1.4 to 2 times slower than the one before and ended slow start at
8 or 16 on a server that serves any number; and a band first met with many at once,
queueing, was the baseline of every later round in it.

>>> fastest = Fastest()
>>> fastest.judge(0.020, pages=1, limit=2)  # nothing before: the baseline is itself
Baseline(seconds=0.02, limit=2, seen=False)
>>> fastest.judge(0.060, pages=200, limit=8)  # no cost known: page 1's, 3 times faster
Baseline(seconds=0.02, limit=2, seen=False)
>>> fastest.judge(0.115, pages=300, cost=0.0005, limit=16)  # 0.5 ms a page: page 200's + 50
Baseline(seconds=0.11, limit=8, seen=False)
>>> fastest.judge(0.070, pages=210, cost=0.0005, limit=16)  # page 200's band, seen at 8
Baseline(seconds=0.065, limit=8, seen=True)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TypeAlias

BAND = 1.25  # each band of depths this many times deeper than the one above it
KEPT = 32  # replies the depth cost is measured on: the latest of each number on the wire
SPREAD = 10.0  # pages squared: a group whose depths differ less says nothing
GROUPS = 5  # groups whose slopes are taken (the median), the fewest on the wire first

Reply: TypeAlias = tuple[int, int, float]  # requests on the wire as it went out, depth, seconds


def band(pages: int) -> int:
    """The band of a request ``pages`` pages below the first (0: the first page)."""
    return 0 if pages <= 0 else 1 + int(math.log(pages) / math.log(BAND))


class DepthCost:
    """Seconds a reply takes more for each page deeper, from replies
    ``(on the wire, depth, seconds)`` (the last :data:`KEPT` of each number on the
    wire); the caller holds the lock.

    Replies are compared only with replies that went out with as many requests on the
    wire: a server that queues made those wait alike, so what differs between them is
    their depth. Comparing a round with the one before, or a round's deep requests with
    its shallow ones, mixes the two: the deeper requests of a page-number read are also
    the ones sent with more on the wire. And the fewest on the wire first: a server that
    serves N at once more slowly makes each page deeper cost N times more too, so the
    cost measured with many on the wire would excuse the queue. The slope of the line
    through each group whose depths spread over :data:`SPREAD` (least squares), the
    median of the :data:`GROUPS` with the fewest on the wire (one or two groups can be
    pages past the list's end, which cost no more than its last); never below 0.

    >>> cost = DepthCost()
    >>> for depth in range(16):  # 20 ms at the top, 0.5 ms a page, 1 or 2 on the wire
    ...     cost.add((1 + depth % 2, depth, 0.020 + 0.0005 * depth))
    >>> round(cost.slope(), 6)
    0.0005
    >>> queue = DepthCost()
    >>> for depth in range(16):  # no depth cost; twice as slow with 2 on the wire
    ...     queue.add((1 + depth % 2, depth, 0.050 * (1 + depth % 2)))
    >>> queue.slope()
    0.0
    """

    def __init__(self) -> None:
        self._groups: dict[int, deque[tuple[int, float]]] = {}

    def add(self, reply: Reply) -> None:
        wire, depth, took = reply
        self._groups.setdefault(wire, deque(maxlen=KEPT)).append((depth, took))

    def slope(self) -> float:
        slopes = []
        for wire in sorted(self._groups):
            replies = self._groups[wire]
            depth = sum(d for d, _ in replies) / len(replies)
            took = sum(y for _, y in replies) / len(replies)
            spread = sum((d - depth) ** 2 for d, _ in replies)
            if len(replies) >= 3 and spread >= SPREAD:
                slopes.append(sum((d - depth) * (y - took) for d, y in replies) / spread)
            if len(slopes) == GROUPS:
                break
        slopes.sort()
        return max(0.0, slopes[len(slopes) // 2]) if slopes else 0.0


class Fastest:
    """The fastest round's latency by depth band, and the limit it ran at; the caller
    holds the lock."""

    def __init__(self) -> None:
        self._by_band: dict[int, tuple[float, int, int]] = {}  # band: (seconds, depth, limit)

    def judge(self, latency: float, pages: int, cost: float = 0.0, limit: int = 1) -> Baseline:
        """The baseline ``latency`` (a round's at ``limit``, its median depth ``pages``)
        is judged against, and remember it: the fastest of its band and of every
        shallower band, each plus ``cost`` seconds a page for the pages between
        (:class:`DepthCost`), or itself if faster. A band first met with many at once
        was slow from the start; a shallower one met with fewer shows the queue."""
        here = band(pages)
        seconds, then, seen = latency, limit, here in self._by_band
        for b, (fastest, at, ran) in self._by_band.items():
            if b <= here and fastest + cost * max(0, pages - at) < seconds:
                seconds, then = fastest + cost * max(0, pages - at), ran
        if not seen or latency < self._by_band[here][0]:
            self._by_band[here] = (latency, pages, limit)
        return Baseline(seconds, then, seen)


@dataclass(frozen=True)
class Baseline:
    """What a round is judged against: the fastest reply time at its depth, the limit
    that round ran at (fewer at once than now: a rise since may be the cause), and
    whether a round of the same band was seen (else the baseline is a shallower band's
    made deeper by a cost measured so far, which the depth may yet explain)."""

    seconds: float
    limit: int
    seen: bool = True
