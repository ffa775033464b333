"""When to send a request and when to try again: requests in flight, a rate limit,
``Retry-After``, and the back-off and stop rules of one page's tries."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime

import tenacity

from runner.spec.project import RetryPolicy


class Retryable(Exception):
    """A failure worth another try (429, 5xx, dropped connection, timeout, bad body)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InFlight:
    """How many requests may be on the wire at once; halves on every 429, never grows back."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            while self.active >= self.limit:
                self._cond.wait()
            self.active += 1
        try:
            yield
        finally:
            with self._cond:
                self.active -= 1
                self._cond.notify_all()

    def slow_down(self) -> None:
        with self._cond:
            self.limit = max(1, self.limit // 2)


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


def retry_after(value: str | None, cap: float) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), cap)


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
