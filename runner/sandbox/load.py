"""Load the sandbox models: a server that serves only so many requests at once, and
contacts that keep arriving while a list is paged.

- :class:`Gate` (``capacity``): at most N requests in service; one more is turned away
  at once with 429 and ``Retry-After``, as a gateway in front of a busy API does. It
  counts the requests and those turned away (``stats["requests"]``,
  ``stats["turned_away"]``) and sums them up in one line (:meth:`Gate.report`).
- :class:`Arrivals` (``churn``, N a page served): ``churn_at="top"`` copies the first contact of the
  list being paged on top of it (its createdAt: pages shift, windows too);
  ``churn_at="now"`` creates contacts now, each a millisecond or more after the last
  and never before the anchor, on top of every list they match, as a database's
  newest-first index would (a window closed before now never sees them);
  ``churn_at="delete"`` deletes contacts of the list being paged above the page just
  served (``deleted``: their ids), so that the pages below move up.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from runner.sandbox.data import Facts, Population, api_time, facts_of

CHURN = {
    "top": "copies of the list's first contact (its createdAt) on top of the list being paged",
    "now": "contacts created now (after the anchor), on top of every list they match",
    "delete": "contacts of the list being paged deleted below page 1, among those served",
}


class Gate:
    """Seats for ``capacity`` requests (0: no limit), and exact counts of what came."""

    def __init__(self, capacity: int, stats: Counter[str]) -> None:
        self.capacity = capacity
        self.stats = stats
        self._seats = threading.BoundedSemaphore(capacity or 1)
        self._lock = threading.Lock()
        self._held = threading.local()  # this thread (one a connection) holds a seat

    def count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def admit(self) -> bool:
        """Take a seat; False when all are taken (the caller answers 429)."""
        self.count("requests")
        if not self.capacity:
            return True
        if self._seats.acquire(blocking=False):
            self._held.seat = True
            return True
        self.count("turned_away")
        return False

    def leave(self) -> None:
        """Give back the seat :meth:`admit` took in this thread, if it still holds it.
        The server gives it back once the reply is made, before it is written: given back
        after, it raced the client's next request, which the reply let go (a 429 at the
        server's own capacity, on a loaded machine: the client then kept one below it)."""
        if getattr(self._held, "seat", False):
            self._held.seat = False
            self._seats.release()

    def report(self) -> str:
        """``sandbox: 1,234 requests, 12 turned away (1.0%) at capacity 6``."""
        total, away = self.stats["requests"], self.stats["turned_away"]
        share = f" ({100 * away / total:.1f}%)" if total else ""
        limit = f" at capacity {self.capacity}" if self.capacity else ""
        return f"sandbox: {total:,} requests, {away:,} turned away{share}{limit}"


@dataclass
class MatchList:
    """The contacts one request body matches, newest first, read from the population as
    far as pages ask (as a database reads an index: a page near the top of a large list
    costs what that page costs), and the filter that picks them (new contacts are tested
    with it). ``next_row``/``end_row``: the population rows still to read."""

    blobs: list[bytes]
    ids: list[Any]
    test: Callable[[Facts], bool]
    next_row: int = 0
    end_row: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fill(self, population: Population, count: int) -> None:
        """Read rows until ``count`` contacts are held or the rows run out; the caller
        holds the lock that guards the population, then :attr:`lock`."""
        facts, blobs, test = population.facts, population.blobs, self.test
        while len(self.blobs) < count and self.next_row < self.end_row:
            row = self.next_row
            self.next_row += 1
            if test(facts[row]) and facts[row].id not in population.gone:
                self.blobs.append(blobs[row])
                self.ids.append(facts[row].id)


class Arrivals:
    """New contacts created now: on top of the population and of each list they match."""

    def __init__(self, population: Population, anchor: dt.datetime, seed: int) -> None:
        self.population = population
        self.anchor = anchor
        self.inserted: list[Any] = []
        self.deleted: list[Any] = []
        self._copies = random.Random(seed + 1)
        self._rng = random.Random(seed + 2)
        self._last: dt.datetime | None = None

    def churn(
        self, kind: str, count: int, found: MatchList, lists: Iterable[MatchList], size: int
    ) -> None:
        """``count`` changes of ``kind`` (see CHURN) after a page of ``found`` is served
        (pages of ``size``); the caller holds the lock that guards ``lists`` and the
        population."""
        if kind == "top":
            self.copy_top(count, found)
        elif kind == "delete":
            self.delete(count, found, lists, size)
        else:
            self.arrive(count, lists)

    def delete(self, count: int, found: MatchList, lists: Iterable[MatchList], size: int) -> None:
        """``count`` contacts of ``found`` deleted, among those read so far (the pages
        served and the one below them) but not on page 1 (where page numbers look for
        a moving list at once): the rest of the list moves up. A deleted contact is
        gone from every list, as from the API (a createdAt window's list and the
        segment's own list are two lists of one population)."""
        with found.lock:
            for _ in range(min(count, len(found.ids) - size)):
                index = self._rng.randrange(size, len(found.ids))
                self.deleted.append(found.ids.pop(index))
                self.population.gone.add(self.deleted[-1])
                del found.blobs[index]
        for other in lists:
            if other is not found:
                with other.lock:
                    kept = [i for i, id_ in enumerate(other.ids) if id_ not in self.population.gone]
                    if len(kept) < len(other.ids):
                        other.ids = [other.ids[i] for i in kept]
                        other.blobs = [other.blobs[i] for i in kept]

    def copy_top(self, count: int, found: MatchList) -> None:
        """``count`` copies of the list's first contact, new ids, on top of that list only."""
        with found.lock:
            template = orjson.loads(found.blobs[0])
            for _ in range(count):
                template["_id"] = f"{self._copies.getrandbits(96):024x}"
                found.blobs.insert(0, orjson.dumps(template))
                found.ids.insert(0, template["_id"])
                self.inserted.append(template["_id"])

    def backdate(self, count: int, index: int, lists: Iterable[MatchList]) -> list[Any]:
        """``count`` contacts imported now with the ``createdAt`` of population row
        ``index`` (copies of it, new ids), put in beside it: in every list that holds it,
        at its place, as in the population its lists read later. Their ids."""
        pop = self.population
        contact, anchor_id = orjson.loads(pop.blobs[index]), pop.facts[index].id
        made = []
        for _ in range(count):
            contact["_id"] = f"{self._copies.getrandbits(96):024x}"
            made.append((orjson.dumps(contact), facts_of(contact)))
        pop.blobs[index:index] = [blob for blob, _ in made]
        pop.facts[index:index] = [facts for _, facts in made]
        if pop.dated.start <= index < pop.dated.stop:
            pop.dated = range(pop.dated.start, pop.dated.stop + count)
        elif index < pop.dated.start:  # above them: contacts without a createdAt listed first
            pop.dated = range(pop.dated.start + count, pop.dated.stop + count)
        for found in lists:
            with found.lock:
                if anchor_id in found.ids:  # read past it: the copies go in at its place
                    at = found.ids.index(anchor_id)
                    found.blobs[at:at] = [blob for blob, _ in made]
                    found.ids[at:at] = [facts.id for _, facts in made]
                if index < found.next_row:  # the rows it reads from move down
                    found.next_row += count
                if index < found.end_row:
                    found.end_row += count
        self.inserted += [facts.id for _, facts in made]
        return [facts.id for _, facts in made]

    def _stamp(self) -> str:
        now = max(dt.datetime.now(dt.UTC), self.anchor + dt.timedelta(milliseconds=1))
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if self._last is not None and now <= self._last:
            now = self._last + dt.timedelta(milliseconds=1)
        self._last = now
        return api_time(now)

    def arrive(self, count: int, lists: Iterable[MatchList]) -> None:
        """``count`` contacts; the caller holds the lock that guards ``lists`` and the
        population."""
        lists = list(lists)
        pop = self.population
        for _ in range(count):
            blob, facts = pop.arrival(self._stamp(), self._rng)
            pop.blobs.insert(0, blob)
            pop.facts.insert(0, facts)
            pop.dated = range(0 if not pop.dated.start else pop.dated.start + 1, pop.dated.stop + 1)
            self.inserted.append(facts.id)
            for found in lists:
                found.next_row += 1  # the rows below the new top moved down one
                found.end_row += 1
                if found.test(facts):
                    with found.lock:
                        found.blobs.insert(0, blob)
                        found.ids.insert(0, facts.id)
