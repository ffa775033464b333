"""When to send a request and when to try again, and THE one retry loop.

:class:`Tries` runs one page's tries in one :mod:`tenacity` loop that covers
sending, reading and decoding: exponential back-off with jitter, ``Retry-After``
honoured but capped, ``retry.max_attempts`` requests at most, and no request
running past ``retry.deadline`` (each is also cut at ``timeout.total``, however
slowly the server trickles). :class:`Slots` (:class:`InFlight`, or
:class:`~runner.fetch.concurrency.Adaptive`) and :class:`RateLimiter` pace the
requests: with :class:`InFlight` a 429 halves the number in flight for the rest of
the run.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import orjson
import tenacity

from runner.errors import FetchError
from runner.fetch.reply import Replies, Reply
from runner.fetch.rounds import Line
from runner.fetch.transport import Retryable, Transport

if TYPE_CHECKING:
    from runner.fetch.concurrency import Learned
    from runner.fetch.paging import PageRequest
    from runner.spec.project import ApiSettings, RetryPolicy


T_co = TypeVar("T_co", covariant=True)


class Pending(Protocol[T_co]):
    """A call under way in another thread (:class:`runner.fetch.lanes.Sent`)."""

    def result(self) -> T_co: ...


class Slots(Protocol):
    """Requests on the wire at once: what the tries and the fetcher ask of the limit."""

    @property
    def limit(self) -> int:
        """Requests allowed on the wire now."""

    @property
    def settled(self) -> int:
        """The limit the run settled at, for the summary and the manifest."""

    @property
    def learned(self) -> Learned | None:
        """The server's limit the run met, for the next run against it (None: none)."""

    def slot(self, depth: int = 0) -> contextlib.AbstractContextManager[None]:
        """Hold one while a request ``depth`` pages below the first is on the wire."""

    def slow_down(self) -> None:
        """The request in this thread's slot was answered 429."""


class InFlight:
    """How many requests may be on the wire at once; halves on a 429, once for the requests
    sent at one limit (8 at once against a server that serves 3 had five refused, halved
    five times and ran at 1), and never grows back. Slots go out first come, first served
    (:class:`~runner.fetch.concurrency.Line`).

    >>> import threading
    >>> gate, crowd = InFlight(8), threading.Barrier(5)
    >>> def refused() -> None:
    ...     with gate.slot():
    ...         crowd.wait()  # five on the wire at limit 8, each answered 429
    ...         gate.slow_down()
    >>> threads = [threading.Thread(target=refused) for _ in range(5)]
    >>> for t in threads: t.start()
    >>> for t in threads: t.join()
    >>> gate.limit
    4
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self._lock = threading.RLock()
        self._line = Line(self._lock)
        self._local = threading.local()  # the limit this thread's request went out at

    @contextlib.contextmanager
    def slot(self, depth: int = 0) -> Iterator[None]:
        del depth  # a number given does not move with the latency
        with self._lock:
            place = self._line.join()
            try:
                while self.active >= self.limit or not self._line.first(place):
                    place.wait()
            finally:
                self._line.leave(place)  # and the next in line may take a slot too
            self.active += 1
            self._local.sent_at = self.limit
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1
                self._line.wake()

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        with self._lock:
            return len(self._line)

    def slow_down(self) -> None:
        with self._lock:
            if getattr(self._local, "sent_at", self.limit) <= self.limit:  # none since it went
                self.limit = max(1, self.limit // 2)

    @property
    def settled(self) -> int:
        """The number given, halved by any 429."""
        return self.limit

    @property
    def learned(self) -> Learned | None:
        """Nothing: a number given is not a limit found (the next run may be auto)."""
        return None


class RateLimiter:
    """At most ``rate`` requests per second across threads (0: no limit)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock = clock

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class Schedule:
    """Back-off and stop for one page's tries: full-jitter exponential back-off or
    the server's capped Retry-After; stop at ``max_attempts``, or when the next try
    would start after the page's deadline.

    tenacity asks for the wait and the stop decision in either order (by version),
    so the wait is drawn once per attempt and kept.
    """

    def __init__(self, policy: RetryPolicy, deadline: float) -> None:
        self.policy = policy
        self.deadline = deadline
        self.backoff = tenacity.wait_random_exponential(
            multiplier=policy.backoff_initial, max=policy.backoff_max
        )
        self._drawn = (0, 0.0)

    def wait(self, state: tenacity.RetryCallState) -> float:
        if self._drawn[0] != state.attempt_number:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, Retryable) and exc.retry_after is not None:
                seconds = exc.retry_after
            else:
                seconds = float(self.backoff(state))
            self._drawn = (state.attempt_number, seconds)
        return self._drawn[1]

    def stop(self, state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self.policy.max_attempts:
            return True
        return time.monotonic() + self.wait(state) >= self.deadline


class Tries:
    """One page's tries within ``api.retry``: send, read and decode, again on a
    :class:`~runner.fetch.transport.Retryable` failure.

    ``stopped`` ends every wait and refuses new requests (the fetcher sets it
    while it drops pages it no longer needs); ``retries`` counts failed tries.
    """

    def __init__(
        self,
        api: ApiSettings,
        transport: Transport,
        replies: Replies,
        in_flight: Slots,
        on_retry: Callable[[int, str], None] | None = None,
    ) -> None:
        self.api = api
        self.transport = transport
        self.replies = replies
        self.in_flight = in_flight
        self.rate = RateLimiter(api.rate_limit)
        self.stopped = threading.Event()
        self.retries = 0
        self._lock = threading.Lock()
        self._on_retry = on_retry

    def send(self, request: PageRequest, deadline: float) -> Reply:
        """One try's request and reply, not decoded: what the pool runs ahead."""
        if self.stopped.is_set():
            raise FetchError("stopped")
        body = orjson.dumps(request.body)
        self.rate.wait()
        with (
            self.in_flight.slot(request.depth),
            self.transport.post(request.label, body, deadline) as response,
        ):
            return self.replies.read(request.label, response)

    def fetch(
        self,
        request: PageRequest,
        first: Pending[Reply] | None = None,
        deadline: float | None = None,
    ) -> list[Any]:
        """The records of ``request``'s reply; tries again within ``api.retry``.

        Each try is sending, reading and decoding: a body that is not JSON counts
        like a 503. ``first`` is the first try's request, already under way in the
        pool (started at ``deadline - retry.deadline``); decoding and any further
        try happen in this thread, where one thread building Python objects beats
        several fighting over the GIL.
        """
        if deadline is None:
            deadline = time.monotonic() + self.api.retry.deadline
        started = [first] if first is not None else []

        def attempt() -> list[Any]:
            reply = started.pop().result() if started else self.send(request, deadline)
            return self.replies.records(request.label, reply)

        try:
            return attempt()
        except Retryable as failure:
            # The common case pays no retry machinery; a failure enters tenacity with
            # that failure as its first attempt, so the limits stay exact.
            pending = [failure]

            def again() -> list[Any]:
                if pending:
                    raise pending.pop()
                return attempt()

            return self._retry(request.number, again, deadline)

    def decode(self, request: PageRequest, reply: Reply) -> list[Any]:
        """The records of a reply that waited for its turn, decoded once: a body that is
        not a page counts as a failed try and raises Retryable (the caller reads the
        page's window again rather than this page alone)."""
        try:
            return self.replies.records(request.label, reply)
        except Retryable as exc:
            with self._lock:
                self.retries += 1
            if self._on_retry:
                self._on_retry(request.number, str(exc))
            raise

    def _sleep(self, seconds: float) -> None:
        self.stopped.wait(seconds)

    def _retry(self, number: int, attempt: Callable[[], list[Any]], deadline: float) -> list[Any]:
        policy = self.api.retry
        schedule = Schedule(policy, deadline)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            with self._lock:
                self.retries += 1
            exc = state.outcome.exception() if state.outcome else None
            if self._on_retry:
                self._on_retry(number, str(exc))

        retrying = tenacity.Retrying(
            stop=schedule.stop,
            wait=schedule.wait,
            retry=tenacity.retry_if_exception_type(Retryable),
            before_sleep=before_sleep,
            sleep=self._sleep,  # wakes at once when the run stops
            reraise=True,
        )
        try:
            return retrying(attempt)
        except Retryable as exc:
            raise FetchError(
                f"{exc} (gave up after {policy.max_attempts} attempts or {policy.deadline:g}s)"
            ) from exc
