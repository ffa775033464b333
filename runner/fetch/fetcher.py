"""Threads and order: the pages of one request body, fetched ahead and passed on in order
(or, for a strategy that takes pages in any order, as they are answered). The strategy
says which (:meth:`~runner.fetch.paging.Paging.pages`): the fetcher never asks which
strategy it has."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from queue import SimpleQueue
from typing import Any, TypeAlias

from runner import __version__
from runner.errors import AuthError
from runner.fetch.asof import ApiClock, AsOfCut
from runner.fetch.client import transport_for
from runner.fetch.concurrency import Adaptive, Learned
from runner.fetch.end import AUTO_WIDTH, EndWatch
from runner.fetch.lanes import Lanes, Sent
from runner.fetch.paging import (
    AsAnswered,
    Aside,
    Later,
    NewRecords,
    Ordered,
    Page,
    PageNumbers,
    PageRequest,
    Paging,
    R,
)
from runner.fetch.records import Deduplicator
from runner.fetch.redact import Redactor, token_problem
from runner.fetch.reply import Replies, Reply
from runner.fetch.retry import InFlight, Slots, Tries
from runner.fetch.transport import Response, Retryable, Transport
from runner.fetch.windows.plan import Range, closed_range, text
from runner.fetch.windows.strategy import Windows
from runner.spec.project import ApiSettings

USER_AGENT = f"segment-runner/{__version__}"


def token_from_env(api: ApiSettings, env: Mapping[str, str]) -> str:
    token = env.get(api.token_env, "").strip()
    if not token:
        raise AuthError(
            f"environment variable {api.token_env} is not set: export your Flowmatix API token "
            f"there (or name another variable in runner.yaml api.token_env)"
        )
    problem = token_problem(api.token_env, token)
    if problem:
        raise AuthError(problem)
    return token


class PageFetcher:
    """Fetch every page of one request body; yield each page's records not seen before.

    ``duplicates`` counts what was dropped; ``retries`` the failed tries; ``reread``
    whether the list was read a second time after it moved (see
    :class:`~runner.fetch.paging.PageNumbers`).
    ``transport`` replaces the HTTP client (by default
    :func:`~runner.fetch.client.transport_for`'s).

    The list is read as closed ``createdAt`` windows ending at ``as_of`` (default now)
    unless ``api.windows`` is false (see :mod:`runner.fetch.windows.strategy`); ``note`` says
    why windowing stopped, if it did. ``concurrency`` (or ``api.concurrency``) fixes
    the requests at once; ``"auto"`` finds it (:mod:`runner.fetch.concurrency`), up to
    ``api.max_concurrency``, from ``learned`` if given; :attr:`settled`: where it settled.
    Used as in :mod:`runner.fetch`'s example.
    """

    def __init__(
        self,
        api: ApiSettings,
        token: str,
        body: Mapping[str, Any],
        *,
        concurrency: int | None = None,
        max_pages: int | None = None,
        on_retry: Callable[[int, str], None] | None = None,
        transport: Transport | None = None,
        as_of: dt.datetime | None = None,
        learned: Learned | None = None,
    ) -> None:
        self.api = api
        self.body = dict(body)
        fixed = concurrency or api.concurrency
        self.auto = fixed == "auto"
        self.concurrency = api.max_concurrency if fixed == "auto" else max(1, int(fixed))
        self.max_pages = max_pages or api.max_pages
        self.in_flight: Slots = (
            Adaptive(self.concurrency, learned=learned) if self.auto else InFlight(self.concurrency)
        )
        scrub = Redactor(token)
        headers = {
            **api.headers,
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": USER_AGENT,
        }
        self.transport = transport or transport_for(api, headers, self.concurrency + 1)
        self._stopwatch = Stopwatch(self.transport)
        self.clock = self._stopwatch.clock  # the API's clock, from its Date headers
        replies = Replies(api, scrub, self.in_flight.slow_down)
        self._tries = Tries(api, self._stopwatch, replies, self.in_flight, on_retry)
        self._dedupe = Deduplicator(api.id_key)
        self._again: Deduplicator | None = None  # a plain pass's own, after windows
        whole = closed_range(self.body, as_of or dt.datetime.now(dt.UTC))
        # Page numbers read contacts created after the as-of too: the same rule drops them.
        self._cut = AsOfCut(text(whole.end) if whole else None)
        self.paging = self._strategy(NewRecords(self._dedupe, scrub), whole)
        self.last_pass: Ordered[PageRequest] | None = None  # after the list (fetch.undated)

    def _strategy(self, records: NewRecords, whole: Range | None) -> Paging:
        def probe() -> int:  # the probe for the list's end: as many at once as allowed
            limit = self.in_flight.limit
            return min(AUTO_WIDTH, limit) if self.auto else limit

        def plain(records: NewRecords = records) -> PageNumbers:
            return PageNumbers(self.body, records, self.concurrency, self.max_pages, 1, probe)

        if not self.api.windows or whole is None:
            return plain()

        def fallback(body: Mapping[str, Any], start: int) -> PageNumbers:
            self._again = Deduplicator(self.api.id_key)
            again = NewRecords(self._again, records.scrub)
            return PageNumbers(body, again, self.concurrency, self.max_pages, start, probe)

        return Windows(
            self.body,
            records,
            whole,
            fallback,
            max_pages=self.max_pages,
            ahead=lambda: min(self.concurrency, self.in_flight.limit + 1),  # _send_answered
            depth=lambda: self.in_flight.limit,  # windows open one a round trip: as deep
            end=EndWatch(1, self.max_pages, probe, early=True),  # (deletions: strategy)
        )

    @property
    def settled(self) -> int:
        """Requests at once the run settled at: auto's median by time, else the number
        given (halved by any 429)."""
        return self.in_flight.settled

    @property
    def learned(self) -> Learned | None:  # None: no limit met, or a fixed concurrency
        return self.in_flight.learned

    @property
    def windows(self) -> int:
        """createdAt windows opened (0: paged by page number only)."""
        return self.paging.figures.windows

    @property
    def note(self) -> str:
        """Why windowing stopped, when it did ("" otherwise)."""
        return self.paging.figures.note

    @property
    def read_as(self) -> str:
        """How the list was read past its windows, for the summary ("" when only by
        windows or only by page numbers): page numbers after the first window, and
        contacts no window could see."""
        return self.paging.figures.read_as

    @property
    def after_as_of(self) -> int:
        """Contacts created after the as-of, left for the next run (whichever way read)."""
        return self._cut.after + self.paging.figures.after_as_of

    @property
    def duplicates(self) -> int:
        """Records dropped because their id was already read, but for those the paging's
        own checks read again (a windowed run's pages for contacts outside every window)."""
        again = self._again.dropped if self._again else 0
        return self._dedupe.dropped + again - self.paging.figures.rechecked

    @property
    def retries(self) -> int:
        return self._tries.retries

    @property
    def reread(self) -> bool:
        return self.paging.figures.reread

    def pages(self) -> Iterator[Page]:
        """Pages in order until the paging strategy says the list is complete, each with
        its records not seen before. While this thread decodes a page, the first try of
        the next ``paging.ahead`` ones is on its way in the pool."""
        pump = _Pump(self._tries, self.api.retry.deadline, self.concurrency)
        pump.seconds = self._stopwatch.seconds
        for page in self.paging.pages(pump):
            yield Page(page.number, self._cut.keep(page.records))
        if self.last_pass is not None:
            yield from pump.in_order(self.last_pass)

    def close(self) -> None:
        self._tries.stopped.set()
        self.transport.close()


# A request on its way: the request, its retry deadline (None: set when it is read, in
# this thread) and its first try already under way in the pool (None: not sent yet).
_Sent: TypeAlias = tuple[R, float | None, Sent[Reply] | None]


class Stopwatch:
    """A transport that times each request on the wire, from sending to the end of its
    reply (``seconds``, by label: the last try's): what the server took, without the
    time a request waited for a slot or a thread (:mod:`runner.fetch.windows.depth_cost`)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.seconds: dict[str, float] = {}
        self.clock = ApiClock()

    @contextlib.contextmanager
    def post(self, label: str, body: bytes, deadline: float) -> Iterator[Response]:
        began = time.monotonic()
        with self.transport.post(label, body, deadline) as response:
            self.clock.reply(response.headers)
            yield response
        self.seconds[label] = time.monotonic() - began

    def close(self) -> None:
        self.transport.close()


class _Pump:
    """Threads and order: the passes of a paging strategy over the pages' tries
    (:class:`~runner.fetch.paging.Threads`)."""

    def __init__(self, tries: Tries, deadline: float, concurrency: int) -> None:
        self._tries = tries
        self.deadline = deadline  # seconds a page's tries may take (api.retry.deadline)
        self.concurrency = concurrency
        self._pool: Lanes | None = None
        self.seconds: dict[str, float] = {}  # the last try's time on the wire, by label

    def in_order(self, paging: Ordered[R]) -> Iterator[Page]:
        """Pages in the order they were asked for; the first try of the next
        ``paging.ahead`` ones on its way in the pool while this thread decodes."""
        sent: deque[_Sent[R]] = deque()
        try:
            while True:
                self._send_ahead(paging, sent)
                if not sent:
                    return
                request, deadline, first = sent.popleft()
                records = self._tries.fetch(request, first, deadline)
                kept = paging.read(request, records)
                if kept is None:
                    self._drop(sent)
                    continue
                if kept is Aside.PAGE:  # read for the strategy alone (where the list ends)
                    continue
                yield Page(request.number, kept)
        finally:
            self._drop(sent)

    def as_answered(self, paging: AsAnswered[R]) -> Generator[Page, None, bool]:
        """Pages as they are answered, their first try in the pool and decoded in this
        thread; a page's further tries run in the pool, so one waiting out a
        ``Retry-After`` holds up no other. True when the strategy turns to pages in
        order (it fell back to page numbers)."""
        pool = Lanes(self.concurrency, "page")
        sent: dict[Sent[Any], tuple[R, float, bool]] = {}
        answered: SimpleQueue[Sent[Any]] = SimpleQueue()  # calls as they finish

        def submit(work: Callable[..., Any], *args: Any) -> Sent[Any]:
            return pool.submit(work, *args, done=answered)

        def send() -> None:  # replies that came first: one may end a window (asked past: waste)
            if answered.empty():
                self._send_answered(paging, sent, submit)

        try:
            while True:
                if paging.ahead == 1 and not sent:
                    # One page at a time in this thread, as page numbers do: no hand-offs.
                    if request := paging.next():
                        records = self._tries.fetch(request, None, None)
                        if took := self.seconds.pop(request.label, None):
                            paging.timed(request, took)
                        paging.file(request, records)
                    yield from (Page(n, records) for n, records in paging.passed())
                    if paging.ordered or request is None:
                        return paging.ordered
                    continue
                send()
                if not sent:
                    yield from (Page(n, records) for n, records in paging.passed())
                    return paging.ordered  # the check for contacts outside the windows
                future = answered.get()
                request, deadline, retried = sent.pop(future)
                if future.exception() is None and (took := self.seconds.pop(request.label, None)):
                    paging.timed(request, took)
                if not retried and isinstance(future.exception(), Retryable):
                    # Its further tries (and their waits) in the pool, the first counted.
                    again = submit(self._tries.fetch, request, future, deadline)
                    sent[again] = (request, deadline, True)
                    continue
                paging.file(request, self._records(paging, request, future, deadline, retried))
                # What this reply let go out goes now, not after its pages are written.
                send()
                # The pages next in the list's order (and the rest when windowing stops).
                yield from (Page(n, records) for n, records in paging.passed())
                if paging.ordered:
                    return True
        finally:
            self._tries.stopped.set()
            for future in sent:
                future.cancel()
            pool.shutdown()
            self._tries.stopped.clear()

    def _send_answered(
        self,
        paging: AsAnswered[R],
        sent: dict[Sent[Any], tuple[R, float, bool]],
        submit: Callable[..., Sent[Any]],
    ) -> None:
        """Up to ``paging.ahead`` requests on their way, as answered. The strategy asks
        for one more than the wire holds (auto can settle at 1 at zero latency), waiting
        for the slot the next reply frees: the wire is not left empty while this thread
        decodes a page and passes it on, as page numbers keep theirs waiting."""
        if paging.ordered:
            return  # page numbers took over: theirs go out in order (in_order)
        # A page waiting to try again holds no slot: it does not count.
        retrying = sum(1 for _, _, again in sent.values() if again)
        paging.retrying = retrying > 0
        while len(sent) - retrying < paging.ahead and (request := paging.next()):
            deadline = time.monotonic() + self.deadline
            future = submit(self._tries.send, request, deadline)
            sent[future] = (request, deadline, False)

    def _records(
        self,
        paging: AsAnswered[R],
        request: R,
        future: Sent[Any],
        deadline: float,
        retried: bool,
    ) -> list[Any] | Later:
        """A reply's records, decoded in this thread: one thread building objects beats
        several fighting for the GIL. A page that came before its turn is decoded in its
        turn (:meth:`Tries.decode`)."""
        if retried:
            return list(future.result())
        if future.exception() is None and paging.later(request, len(future.result().content)):
            return functools.partial(self._tries.decode, request, future.result())
        return self._tries.fetch(request, future, deadline)

    def _send_ahead(self, paging: Ordered[R], sent: deque[_Sent[R]]) -> None:
        ahead = paging.ahead
        while len(sent) < ahead and (request := paging.next()) is not None:
            if ahead == 1:
                # One page at a time in this thread: no hand-offs between threads.
                sent.append((request, None, None))
                continue
            if self._pool is None:  # as many threads as may ever be ahead (not this round's)
                self._pool = Lanes(self.concurrency, "page")
            deadline = time.monotonic() + self.deadline
            sent.append((request, deadline, self._pool.submit(self._tries.send, request, deadline)))

    def _drop(self, sent: deque[_Sent[R]]) -> None:
        """Forget the requests on their way; wait for those already on the wire."""
        pool, self._pool = self._pool, None
        if pool is not None:
            self._tries.stopped.set()
            for _, _, future in sent:
                if future is not None:
                    future.cancel()
            pool.shutdown()
            self._tries.stopped.clear()
        sent.clear()
