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

But pages read in order are deeper the later they go out, so the deep third is also the
latest third, and time passes over it: a burst of a CPU-starved machine that lasts
through it (at 2 ms a reply the whole third takes a few ms) reads as depth's cost. And
at ``auto`` concurrency slow start sends the deep pages with more requests on the wire
than the shallow ones, so the server's own queueing reads as depth's cost too. Both kept
windows on lists where depth costs nothing, and nothing undid that (measured: 10 of 60
exports of free lists beside a CPU hog, all at ``auto``). So where the pages say that
depth costs, that is checked before windows are kept (:class:`Choice`): page 1 is asked
again :data:`BESIDE` times, before any other request, as the deep pages on the wire
come back and free their slots (so spread over their round trip), and windows are kept
only when the deep pages cost clearly more than page 1 both ways, than the shallow third
read earlier and than page 1 asked beside them. Page 1 asked beside deep pages goes out
at the same moment, with as many on the wire: it meets the same burst and the same
queue, and only depth tells it from them. The first window reads on by page number
meanwhile (a round trip or two more on a list where depth costs). Those requests are
asked only where the pages looked dear: a free list on a quiet machine asks none, one
that looked dear four (a few per cent of a list deep enough to decide, within the tenth
that windows may add). They can only turn the answer to page numbers, the
direction that is asked again below, where a wrong answer is found out; windows kept
are kept to the end: the check comes before the one choice that is not undone (a way
back from windows would hand the list to page numbers mid-list, from a count of records
passed on, where a page can be lost or read twice).

While the list goes on by page number, :class:`Choice` asks again each time it is
twice as deep (pages 65, 129, 257 ... for windows of 32): what depth costs grows with
depth and the noise does not, so a list sent to page numbers by a burst is found out
while page numbers have cost at most twice the pages read so far (up to 1,025 pages
deep, :data:`CHECKS`: past that, a list read by page number keeps no time per page).

>>> depth_cost({n: 0.05 for n in range(1, 34)}, 32)  # flat: page numbers
'deep pages cost no more than page 1 (a page 32 deep: +0.0 ms on 50.0 ms)'
>>> depth_cost({n: 0.02 + n * 0.0005 for n in range(1, 34)}, 32) is None  # 10 us a row
True
>>> burst = {n: 0.002 + 0.030 * (n > 22) for n in range(1, 34)}  # 2 ms, deep ones late
>>> depth_cost(burst, 32) is None  # the deep third alone: it looks like depth
True
>>> depth_cost(burst, 32, beside=[(30, 0.032), (31, 0.033), (32, 0.034)])  # page 1 then too
'deep pages cost no more than page 1 asked beside them (a page 32 deep: +0.0 ms on 32.0 ms)'
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

SHARE = 0.1  # a page at the window's depth this much slower than page 1: windows pay
FLOOR_S = 0.003  # and at least this much slower (seconds): less is noise here
PAGES = 6  # pages of the first window needed to tell anything
CHECKS = 6  # decisions at most: at 33, 65, 129, 257, 513 and 1,025 pages of 50
BESIDE = 8  # page 1 asked again beside this many deep pages, where they look dear


def depth_cost(
    seconds: Mapping[int, float], depth: int, beside: Sequence[tuple[int, float]] = ()
) -> str | None:
    """Why page numbers beat windows for this list (None: windows pay, or too few pages
    to tell). ``seconds``: reply time by page number of the first window's pages;
    ``beside``: page 1 asked again, each just after a deep page (that page's number,
    page 1's reply time; none: not compared)."""
    if len(seconds) < PAGES:
        return None
    pages = sorted(seconds)
    third = max(2, len(pages) // 3)
    shallow, deep = pages[:third], pages[-third:]
    top = min(seconds[n] for n in shallow)
    span = statistics.mean(deep) - statistics.mean(shallow)
    extra = max(0.0, min(seconds[n] for n in deep) - top) / span * depth if span > 0 else 0.0
    said, floor = "", FLOOR_S
    pairs = [(page, again) for page, again in beside if page in seconds and page > 1]
    if extra > max(SHARE * top, floor) and pairs:
        # Each deep page against page 1 sent just after it: the same moment, as many on
        # the wire. What a burst or a queue adds to both cancels in the pair; depth shows
        # in nearly every pair, noise in some: three pairs in four must show it (the
        # lower quartile), not the fastest of each kind, where one lucky reply decides.
        # Twice the floor: page 1 read again can come from a server's cache where the
        # deep page is read for the first time (the sandbox's own pages do, and a busy
        # machine stretches that tenth of a ms to a few).
        top, said, floor = min(again for _, again in pairs), " asked beside them", 2 * FLOOR_S
        each = sorted((seconds[page] - again) / (page - 1) * depth for page, again in pairs)
        extra = max(0.0, each[len(each) // 4])
    if extra > max(SHARE * top, floor):
        return None
    return (
        f"deep pages cost no more than page 1{said} (a page {depth} deep: "
        f"+{extra * 1000:.1f} ms on {top * 1000:.1f} ms)"
    )


class Choice:
    """Reply times of the first window's pages by page number (``timed``: the fastest,
    where a page was asked twice), while it is read by page number: :meth:`due` when it
    is as deep as a window was sized, then twice as deep, four times ... up to
    :data:`CHECKS` times (see the module docstring); then no more is timed, so a list
    read by page number to its end holds no time per page.

    Where the pages say that depth costs, :meth:`decide` first asks for page 1 again
    just after each of the next :data:`BESIDE` pages the first window asks for
    (:meth:`beside`), and decides once they are all filed (:meth:`filed`), with their
    times (``aside``): they count for that decision alone, the moment they went out."""

    def __init__(self) -> None:
        self.seconds: dict[int, float] = {}
        self.aside: list[tuple[int, float]] = []  # (page it went after, page 1's seconds)
        self.deciding = True
        self.check = 0  # pages passed on at the next decision (0: a window's depth + 1)
        self.checks = 0
        self.sent = 0  # page 1 asked beside deep pages, in all
        self._wanted = 0  # times page 1 is still to be asked beside deep pages
        self._after: dict[int, int] = {}  # the page each went after, by its number in all
        self._filed = 0  # of this decision's, filed
        self._said: str | None = None  # the last decision's answer
        self._none = False  # page 1 is no more asked beside (the first window read again)

    @property
    def asking(self) -> bool:
        """Whether the decision waits for page 1 asked beside deep pages."""
        return self._wanted > 0 or self._filed < len(self._after)

    @property
    def holding(self) -> bool:
        """Whether the first window asks no deeper page now: page 1 went out beside each
        of the deep pages wanted, and the decision waits for them and for those pages to
        be passed on. Read on by page number meanwhile at 16 at once, it went 17 pages
        deeper (to page 73 on a list whose windows pay, each of them among the run's
        dearest pages) before windows took over."""
        return self._wanted <= 0 and bool(self._after) and not self._none

    def timed(self, number: int, seconds: float, beside: int = 0) -> None:
        """Page ``number`` came in ``seconds``; ``beside``: page 1 asked again so, the
        Nth (:meth:`beside`)."""
        if beside in self._after:
            self.aside.append((self._after[beside], seconds))
        elif self.deciding and not beside:
            self.seconds[number] = min(seconds, self.seconds.get(number, seconds))

    def beside(self, asked: int) -> int:
        """Whether page 1 goes out again now, the first window's deepest page asked
        being ``asked`` (0: no; else how many times it went so in all, this one too):
        once just after each page it asks while wanted, before that page's next."""
        if self._wanted <= 0 or asked in self._after.values():
            return 0
        self._wanted -= 1
        self.sent += 1
        self._after[self.sent] = asked
        return self.sent

    def no_more_beside(self) -> None:
        """The first window asks no more deep pages for page 1 to go beside (it is read
        again from page 1): this decision and the later ones are taken with the pairs
        filed, or without (the deep pages against the shallow ones alone)."""
        self._wanted, self._none = 0, True

    def filed(self, beside: int) -> None:
        """Page 1 asked beside a deep page, the Nth, came back (its time, if it came at
        the first try, is in ``aside``); one of an earlier decision counts for none."""
        self._filed += beside in self._after

    def due(self, passed: int, depth: int) -> bool:
        """Whether to decide, ``passed`` pages passed on of a window sized to ``depth``
        (and the pages page 1 was asked just after, with page 1 each time)."""
        self.check = self.check or depth + 1
        after = max(self._after.values(), default=0)
        return passed >= max(self.check, after) and not self.asking

    def decide(self, depth: int) -> str | None:
        """Why page numbers beat windows (None: windows pay, or too few pages to tell);
        asked again when twice as deep. While :attr:`asking` (page 1 is asked beside the
        next deep pages first, then due again), the answer before this one holds."""
        why = depth_cost(self.seconds, depth, self.aside)
        if why is None and not self._after and len(self.seconds) >= PAGES and not self._none:
            self._wanted = BESIDE
            return self._said
        self._said = why
        self.checks += 1
        self.deciding = why is not None and self.checks < CHECKS
        self.check = 2 * self.check - 1
        self.aside, self._after, self._filed = [], {}, 0
        if not self.deciding:
            self.seconds = {}
        return why
