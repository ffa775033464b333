"""How many requests to keep on the wire when nobody knows: found while the run goes.

``api.concurrency: auto`` (the default) uses :class:`Adaptive`, the rules TCP uses
for its congestion window: slow start, then AIMD (additive increase, multiplicative
decrease). A *round* is as many requests as the limit allows, started at this limit
and answered; a round is *flat* when its median latency stayed within 1.5 times the
lowest seen at its depth (:mod:`runner.fetch.depth`: on some APIs deeper pages cost
more, and that is not the server queueing: a shallower band's fastest counts plus what
a page deeper was measured to cost); more requests at once then still means more
throughput; when it rises the server is queueing. Replies on a connection opened for
them are not judged (the connection's set-up is not the server's time: against a
server that starts a thread per connection, the 8 opened by a doubling from 8 to 16
took 60 to 75 ms where the others took 45).

- start low (2 requests at once) and *double* after each flat round that used the
  limit in full (slow start: a run of 60 pages is over before a climb of one a round
  reaches 6, and every round spent below the server's limit is lost for good);
- slow start ends at the first round that is not flat (back to the limit before it,
  whose rounds were; a round deeper than any seen, judged by a shallower band and the
  cost so far, must be not flat twice in a row) or at the first 429: then the server
  turned away requests sent while N were already on the wire (N counted here when each
  one went out), so it serves fewer than N + 1 at once: the limit goes to N, at least
  the limit before the last doubling (that one held), and N + 1 is the ceiling
  (below). Found at once, in the run's first round trips, so that the ``Retry-After``
  waits of the requests turned away overlap instead of adding up. N is counted as
  requests went out, and requests race: one sent just after the refused one can take
  the seat first, so N can be one short. The requests on the wire when the 429 came
  back that are then served were in service together
  (:class:`~runner.fetch.rounds.Witnesses`): as many as that is a limit the server
  showed it holds, and the limit goes up to it;
- after slow start, grow by one after each flat round that used the limit in full;
- on a 429 (once per round: the replies already on their way to the same crowd do
  not count twice), or when two rounds in a row take twice the fastest at their depth
  and that fastest ran with fewer at once (one slow round is a pause; slower at the
  limit it was measured at is the server or the depth, which halving does not help),
  halve;
- slow start adds at most :data:`STEP` requests (connections) a round;
- never above ``max_concurrency`` (16 by default).

A run can start from what an earlier one against the same API learned
(:class:`Learned`, kept by :mod:`runner.fetch.learned`): one below the ceiling it met,
without slow start: each request turned away costs a ``Retry-After`` (a second or more).

A 429 also marks a *ceiling*: the limit climbs back to one below it, doubling each
round up to half of it (TCP's slow start back to its threshold), and stays there,
trying the ceiling again after 32 rounds and 20 seconds, then 64 and 40, 128 and 80 ...
as long as it fails (a server that turns requests away keeps doing so, and each try
costs a request and its ``Retry-After``, which a reader that passes pages on in order
waits out: on a 50 ms API, 32 rounds alone would be a try every 1.6 s); a try that
is turned away goes back to one below the ceiling, not to half (the limit below it
held). :attr:`Adaptive.settled` is what the run settled at (the limit it spent the most
time at, the median by time), for the summary and the manifest.

Slots are handed out first come, first served (:class:`Line`): a request that waited
for a slot goes out before one asked for later, so a reader that passes pages on in
order never waits for a page still queued behind the pages after it.

Thread-safe; the clock is injectable, so the rules are tested on a fake one
(tests/unit/test_concurrency.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from runner.fetch.depth import DepthCost, Fastest
from runner.fetch.rounds import Line, Log, Round, Ticket, Witnesses

START = 2
CAP = 16
# Most seats (connections) added in one round trip. Each request on the wire past the
# most there ever were opens a connection, and a server whose accept queue is short
# (Python's http.server listens with 5) drops the connections past it: the client's
# TCP waits a second to try again, and the reader waits for that page. Sixteen
# opened at once stalled a second in most bursts against such a server, 8 in none
# when it was idle (README "Benchmarks").
STEP = 8
RISE = 2.0  # a round this many times slower than the fastest is a server queueing
FLAT = 1.5  # up to this many times slower: more at once still means more throughput
FIRST_RETRY = 32  # rounds spent below a ceiling before trying it again (doubles)
# Seconds below a ceiling before trying it again (doubles). A try turned away costs its
# page a Retry-After (a second or more), and a reader that passes pages on in order
# waits that long for it: tried every 32 rounds of 50 ms, that is a third of the run.
# Twenty seconds between tries keeps it near 5 %.
FIRST_RETRY_SECONDS = 20.0


@dataclass(frozen=True)
class Learned:
    """What a run found of a server's limit: the lowest limit a 429 answered that still
    held when it ended, and the limit below it, which held."""

    limit: int
    ceiling: int


class _Rules:
    """The limit and the rules that move it (see the module docstring), on the clock
    readings :class:`Adaptive` gives them."""

    def __init__(self, cap: int, limit: int, ceiling: int | None, now: float) -> None:
        self.cap = max(1, cap)
        self.limit = self.peak = limit
        self.ceiling = ceiling  # the lowest limit a 429 answered, while it holds
        self._round = Round(0, now)
        self._cut_round = 0  # requests from rounds before this one cannot cut again
        self._fastest = Fastest()
        self._cost = DepthCost()
        self.seats = 0  # the most requests ever on the wire at once (connections opened)
        self._slow = False  # the last round was more than RISE times the fastest
        self._unsure = False  # the last round, in slow start, not flat at a depth not seen
        self._below = 0  # rounds spent one below the ceiling
        self._below_since = now  # since the ceiling was met, or last tried
        self._retry_after_rounds = FIRST_RETRY
        self._retry_after_seconds = FIRST_RETRY_SECONDS
        self._log = Log(now, self.limit)
        self._starting = True  # slow start: doubling, until a 429 or a round not flat
        self._before = max(1, self.limit // 2)  # the limit before the last doubling: it held
        self._finding = False  # the last cut was slow start's first 429
        self._witnesses: Witnesses | None = None  # of that 429, while some are on the wire

    def _decide(self, now: float) -> None:
        latency = self._round.latency
        base = self._fastest.judge(latency, self._round.depth, self._cost.slope(), self.limit)
        flat = latency <= FLAT * base.seconds
        slow, self._slow = self._slow, latency > RISE * base.seconds
        self._unsure = self._unsure and not flat
        ours = base.limit < self.limit  # slower than with fewer at once, at this depth
        if self._starting and not flat and not base.seen and not self._unsure:
            # Slower than a shallower band made deeper by what depth cost so far: the
            # depth may explain it (slow start's rounds are twice as deep each, before
            # the cost is measured): once, hold the limit and see the next round.
            self._unsure = True
            self._next_round(now, self.limit)
        elif self._starting and not flat:
            # More at once stopped buying throughput: back to the limit whose rounds
            # were flat, and on by one from there.
            self._starting = False
            self._next_round(now, self._before)
        elif slow and self._slow and ours and self.limit > 1:
            # Two slow rounds in a row, slower than fewer at once were at this depth: a
            # server that slows with more at once, not one pause (a collector, a
            # neighbour); and not a limit it stated, so no ceiling. Slower than the same
            # number at once were is not ours to answer (another client, a server
            # slowing down): halving would not make it faster.
            self._cut(now, ceiling=None)
        elif self._round.full and flat and self.limit < self.cap:
            self._grow(now)
        else:
            self._next_round(now, self.limit)

    def _grow(self, now: float) -> None:
        if self._starting:
            self._before = self.limit
            self._next_round(now, min(self.cap, self.limit * 2, max(self.limit, self.seats) + STEP))
            return
        if self.ceiling is not None and self.limit * 2 < self.ceiling:
            self._next_round(now, self.limit * 2)  # back to where it was safe: doubling
            return
        if self.ceiling is not None and self.limit >= self.ceiling:
            self.ceiling = None  # a try at the ceiling went through: the server takes more
            self._retry_after_rounds = FIRST_RETRY
            self._retry_after_seconds = FIRST_RETRY_SECONDS
        elif self.ceiling is not None and self.limit + 1 >= self.ceiling:
            self._below += 1
            waited = now - self._below_since
            if self._below < self._retry_after_rounds or waited < self._retry_after_seconds:
                self._next_round(now, self.limit)
                return
            self._below, self._below_since = 0, now
            self._retry_after_rounds *= 2  # the next wait, if this try fails too
            self._retry_after_seconds *= 2
        self._next_round(now, self.limit + 1)

    def _found(self, now: float, active: int, wire: set[Ticket]) -> None:
        """The first 429, in slow start: a request sent while ``active - 1`` others were
        on the wire was turned away, so the server serves at most that many at once
        (``wire``: the requests on the wire now, witnesses of what it does serve)."""
        if self._starting:
            self._witnesses = Witnesses(set(wire))
        self._starting, self._finding = False, True
        held = max(1, self._before)  # the limit before the last doubling was not refused
        self.ceiling = max(held + 1, min(active, self.ceiling or active))
        self._below, self._below_since = 0, now
        self._next_round(now, self.ceiling - 1)
        self._cut_round = self._round.number

    def _witnessed(self, now: float, served: int) -> None:
        """The witnesses of slow start's first 429 have all ended, ``served`` of them
        served together: a limit that held. Raise the limit to it unless something cut
        it since (the server refused more, or slowed down)."""
        self._witnesses = None
        if self._finding and self.ceiling is not None and served >= self.ceiling:
            self.ceiling = min(served + 1, self.cap + 1)
            self._below, self._below_since = 0, now
            self._next_round(now, min(served, self.cap))
            self._cut_round = self._round.number

    def _cut(self, now: float, ceiling: int | None) -> None:
        limit = max(1, self.limit // 2)
        if ceiling is not None:
            # A try at the ceiling turned away: back to the limit that held, not half.
            tried = self.ceiling is not None and ceiling >= self.ceiling
            self.ceiling = ceiling if self.ceiling is None else min(self.ceiling, ceiling)
            self._below, self._below_since = 0, now
            limit = max(1, self.ceiling - 1) if tried else limit
        self._finding = False
        self._next_round(now, limit)
        self._cut_round = self._round.number

    def _next_round(self, now: float, limit: int) -> None:
        if limit != self.limit:
            self._log.change(now, limit)
        self.limit = limit
        self.peak = max(self.peak, limit)
        self._round = Round(self._round.number + 1, now)


class Adaptive(_Rules):
    """Requests on the wire at once, found by AIMD (see the module docstring).

    ``slot()`` holds one while a request is on the wire; ``slow_down()`` inside it
    says the server answered 429. ``begin()``/``end()`` are the same without the
    ``with`` (and what the unit tests drive).
    """

    def __init__(
        self,
        cap: int = CAP,
        start: int = START,
        clock: Callable[[], float] = time.monotonic,
        learned: Learned | None = None,
    ) -> None:
        limit = min(max(1, cap), max(1, learned.limit if learned else start))
        ceiling = learned.ceiling if learned and learned.ceiling > limit else None
        super().__init__(cap, limit, ceiling, clock())
        self._starting = learned is None  # slow start: doubling, until a 429 or a round not flat
        self.active = 0
        self.turned_away = 0  # 429s seen
        self._clock = clock
        self._lock = threading.RLock()  # guards the rules; held while in line
        self._local = threading.local()
        self._line = Line(self._lock)
        self._wire: set[Ticket] = set()

    # -- slots -------------------------------------------------------------
    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        with self._lock:
            return len(self._line)

    def begin(self, depth: int = 0) -> Ticket:
        """Wait for a free slot and take it, for a page ``depth`` pages below the first."""
        with self._lock:
            place = self._line.join()
            try:
                while self.active >= self.limit or not self._line.first(place):
                    self._round.full = self._round.full or self.active >= self.limit
                    place.wait()
            finally:
                self._line.leave(place)  # and the next in line may take a slot too
            self.active += 1
            if self.active >= self.limit:
                self._round.full = True
            ticket = Ticket(self._clock(), self._round.number, self.limit, self.active)
            ticket.depth = depth
            ticket.fresh = self.active > self.seats
            self.seats = max(self.seats, self.active)
            self._wire.add(ticket)
            return ticket

    def end(self, ticket: Ticket, overloaded: bool = False) -> None:
        """Give the slot back; ``overloaded``: the server answered 429."""
        with self._lock:
            self.active -= 1
            self._wire.discard(ticket)
            now = self._clock()
            overloaded = overloaded or ticket.overloaded
            witnesses = self._witnesses
            if witnesses is not None and witnesses.ended(ticket, overloaded):
                self._witnessed(now, witnesses.served)
            if overloaded:
                self.turned_away += 1
                if self._starting or (self._finding and ticket.round < self._cut_round):
                    self._found(now, ticket.active, self._wire)  # the crowd that ended slow start
                elif ticket.round >= self._cut_round:
                    self._cut(now, ceiling=ticket.limit)
                self._line.wake()
                return
            took = now - ticket.started
            if not ticket.fresh:  # what depth costs: from every reply, of any round
                self._cost.add((ticket.active, ticket.depth, took))
            if ticket.round == self._round.number:
                reply = (ticket.started, ticket.active, ticket.depth, took)
                (self._round.fresh if ticket.fresh else self._round.replies).append(reply)
                self._round.answered += 1
                if self._round.answered >= self.limit:
                    self._decide(now)
            self._line.wake()

    @contextlib.contextmanager
    def slot(self, depth: int = 0) -> Iterator[None]:
        ticket = self.begin(depth)
        self._local.ticket = ticket
        try:
            yield
        finally:
            self._local.ticket = None
            self.end(ticket)

    def slow_down(self) -> None:
        """The request in this thread's slot was answered 429."""
        ticket: Ticket | None = getattr(self._local, "ticket", None)
        if ticket is not None:
            ticket.overloaded = True

    # -- what the run settled at -------------------------------------------
    @property
    def learned(self) -> Learned | None:
        """What the next run against this API starts from: one below the ceiling met
        (it held, or the ceiling would be lower). None when the run met no server limit
        (or a try at it went through): the next one finds its own, and slow start costs
        a run without 429s a few round trips, where a limit learned from the work a run
        had (windows that did not fill the slots) would hold the next one back."""
        with self._lock:
            ceiling = self.ceiling
        return None if ceiling is None or ceiling < 2 else Learned(ceiling - 1, ceiling)

    @property
    def settled(self) -> int:
        """The limit the run spent most of its time at or around: the median by time."""
        with self._lock:
            seconds = dict(self._log.seconds)
            held = self._clock() - self._log.since
            seconds[self.limit] = seconds.get(self.limit, 0.0) + held
        total = sum(seconds.values())
        if total <= 0:
            return self.limit
        running = 0.0
        for limit in sorted(seconds):
            running += seconds[limit]
            if running >= total / 2:
                return limit
        return self.limit
