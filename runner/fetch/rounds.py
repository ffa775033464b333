"""The bookkeeping of :class:`~runner.fetch.concurrency.Adaptive`: a request's ticket,
a round's replies, the limit over time, places in line for a slot, and the witnesses
of slow start's first 429."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from runner.fetch.depth import Reply


@dataclass(eq=False)
class Ticket:
    """One request in a slot: when it started, at which round and limit."""

    started: float
    round: int
    limit: int
    active: int = 1  # requests on the wire as it went out, itself included
    overloaded: bool = False
    depth: int = 0  # pages below the first
    fresh: bool = False  # more on the wire than ever before: it opened a connection


@dataclass
class Round:
    number: int
    started: float
    answered: int = 0  # of its requests
    # (went out, on the wire, depth in pages, seconds) of those answered on a connection
    # used before, and on a new one
    replies: list[tuple[float, int, int, float]] = field(default_factory=list)
    fresh: list[tuple[float, int, int, float]] = field(default_factory=list)
    full: bool = False  # the limit was reached during the round

    @property
    def judged(self) -> list[Reply]:
        """(on the wire, depth, seconds) of the replies the round is judged by, in the
        order they went out: those on connections used before, whose time is the
        server's (a new connection's set-up is not the server queueing: a thread
        started for it, a TLS handshake); the new ones when there are no others (the
        run's first round)."""
        return [(wire, depth, took) for _, wire, depth, took in sorted(self.replies or self.fresh)]

    @property
    def latency(self) -> float:
        """The median: one slow reply (a pause, a deep page) is not the server queueing."""
        ordered = sorted(took for _, _, took in self.judged)
        return ordered[len(ordered) // 2]

    @property
    def depth(self) -> int:
        ordered = sorted(depth for _, depth, _ in self.judged)
        return ordered[len(ordered) // 2]


@dataclass
class Log:
    """The limit over time, for :attr:`Adaptive.settled`."""

    since: float
    current: int
    seconds: dict[int, float] = field(default_factory=dict)

    def change(self, now: float, limit: int) -> None:
        self.seconds[self.current] = self.seconds.get(self.current, 0.0) + now - self.since
        self.since, self.current = now, limit


class Line:
    """Places in line for a slot, first come, first served, under ``lock`` (the caller
    holds it). A place is a condition of its own on that lock, and only the first in
    line is woken (:meth:`wake`): it takes a slot when one is free, then wakes the next.
    Woken all at once on every reply, as they were, 16 threads in line switched in and
    out for nothing: a zero-latency export of 100,000 contacts spent 1.4-1.9 s of system
    time at auto concurrency, 0.7-1.0 s at a fixed one (``bench.cpu``)."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._waiting: deque[threading.Condition] = deque()

    def join(self) -> threading.Condition:
        place = threading.Condition(self._lock)
        self._waiting.append(place)
        return place

    def first(self, place: threading.Condition) -> bool:
        return self._waiting[0] is place

    def leave(self, place: threading.Condition) -> None:
        """Out of line: served, or gave up waiting; the next in line is woken."""
        self._waiting.remove(place)
        self.wake()

    def wake(self) -> None:
        """Wake the first in line: a slot may be free for it (the caller holds the lock)."""
        if self._waiting:
            self._waiting[0].notify()

    def __len__(self) -> int:
        return len(self._waiting)


@dataclass(eq=False)
class Witnesses:
    """The requests on the wire when slow start's first 429 came back. Those of them
    that are then served were in service at the same moment, at the server, as the
    one turned away: the server holds at least that many at once."""

    waiting: set[Ticket]
    served: int = 0

    def ended(self, ticket: Ticket, overloaded: bool) -> bool:
        """Count ``ticket`` if it is one of them; True when the last one has ended."""
        if ticket not in self.waiting:
            return False
        self.waiting.discard(ticket)
        self.served += not overloaded
        return not self.waiting
