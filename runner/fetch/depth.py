"""The fastest reply seen, by how deep the pages were: what a round's latency is judged by.

On some APIs a deeper page costs more (the server skips the records above it: 10 us a
record is 20 ms more at page 40 of 50 records). A round of deep pages that is slower
than the first round, of shallow ones, is then the list, not a server queueing: judged
against the fastest round ever, every round of a deep read looked overloaded and
``auto`` concurrency halved down to 1 (a tie of 10,000 contacts read by page numbers
at 10 us a record: x0.3 of a 4-thread loop). So the fastest is kept by depth, in
bands 1.25 times deeper than the one above: within a band the depth, so its cost,
differs by at most 25 %, under :data:`~runner.fetch.concurrency.FLAT`. A round in a
band not seen yet is judged against the nearest shallower band seen (the round before,
when a read goes down the list), so slow start's doubling and a rise that follows it
are still seen on the way down.

>>> fastest = Fastest()
>>> fastest.judge(0.020, pages=1)  # nothing before: the baseline is itself
0.02
>>> fastest.judge(0.060, pages=200)  # deeper, not seen: against page 1's band
0.02
>>> fastest.judge(0.070, pages=210)  # the same band as page 200: against it
0.06
"""

from __future__ import annotations

import math

BAND = 1.25  # each band of depths this many times deeper than the one above it


def band(pages: int) -> int:
    """The band of a request ``pages`` pages below the first (0: the first page)."""
    return 0 if pages <= 0 else 1 + int(math.log(pages) / math.log(BAND))


class Fastest:
    """The fastest round's latency by depth band; the caller holds the lock."""

    def __init__(self) -> None:
        self._by_band: dict[int, float] = {}

    def judge(self, latency: float, pages: int) -> float:
        """The baseline ``latency`` (a round's, its median depth ``pages``) is judged
        against, and remember it: the fastest in its band, else in the nearest
        shallower band seen, else itself."""
        here = band(pages)
        shallower = [b for b in self._by_band if b <= here]
        baseline = self._by_band[max(shallower)] if shallower else latency
        baseline = min(baseline, latency)
        self._by_band[here] = min(self._by_band.get(here, latency), latency)
        return baseline
