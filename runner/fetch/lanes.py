"""Threads for the requests a fetch sends ahead: what it used of a ThreadPoolExecutor,
with the hand-offs in C.

A ``ThreadPoolExecutor`` hands each call over through a ``Future`` (a ``Condition``
over an ``RLock``), a work item and a ``Semaphore`` written in Python: about 30 us a
request in the thread that decodes pages, 7 % of a zero-latency export's CPU (issue
23). Here a call's outcome comes back in a ``SimpleQueue`` of its own and the calls go
out through another, both C: the same order, cancelling and waiting, for a few
microseconds.

>>> lanes = Lanes(2, "page")
>>> sent = [lanes.submit(pow, 2, n) for n in range(5)]
>>> [s.result() for s in sent]
[1, 2, 4, 8, 16]
>>> failed = lanes.submit(int, "x")
>>> isinstance(failed.exception(), ValueError)
True
>>> lanes.shutdown()
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import CancelledError
from queue import SimpleQueue
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


class Sent(Generic[T]):
    """A call handed to the lanes: its outcome, once run (:meth:`result` waits)."""

    __slots__ = ("_box", "_cancelled", "_done", "_outcome", "_work")

    def __init__(
        self,
        call: Callable[..., T],
        args: tuple[Any, ...],
        done: SimpleQueue[Sent[Any]] | None,
    ) -> None:
        self._work: tuple[Callable[..., T], tuple[Any, ...]] | None = (call, args)
        self._done = done
        self._box: SimpleQueue[tuple[bool, Any]] = SimpleQueue()
        self._outcome: tuple[bool, Any] | None = None
        self._cancelled = False

    def cancel(self) -> None:
        """Not run if not started yet (its outcome is then a ``CancelledError``); a call
        already running goes on (the fetch's ``stopped`` event ends its waits)."""
        self._cancelled = True

    def run(self) -> None:
        """In a lane: the call, its outcome kept, then this put in ``done``. (A queue, not
        a callback: nothing that runs here can raise and end the lane.)"""
        work, self._work = self._work, None  # let go of the request once run
        if work is None or self._cancelled:
            self._box.put((False, CancelledError()))
        else:
            self._box.put(_outcome(*work))
        if self._done is not None:
            self._done.put(self)
        # A failure's traceback holds _outcome's frame, which holds this one (its
        # caller): let go of this Sent here, as a ThreadPoolExecutor's work item does.
        del self

    def _wait(self) -> tuple[bool, Any]:
        if self._outcome is None:
            self._outcome = self._box.get()
        return self._outcome

    def result(self) -> T:
        """The call's value, or its exception raised. One thread reads a call's outcome
        (the one that sent it: the outcome comes once out of its queue, then is kept)."""
        ok, value = self._wait()
        if ok:
            return cast(T, value)
        raise value

    def exception(self) -> BaseException | None:
        """The call's exception (None: it returned)."""
        ok, value = self._wait()
        return None if ok else value


class Lanes:
    """Up to ``threads`` threads running :class:`Sent` calls in the order submitted, a
    thread started with each call until there are ``threads``."""

    def __init__(self, threads: int, name: str) -> None:
        self._queue: SimpleQueue[Sent[Any] | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._most = max(1, threads)
        self._name = name

    def submit(
        self, call: Callable[..., T], *args: Any, done: SimpleQueue[Sent[Any]] | None = None
    ) -> Sent[T]:
        """``call(*args)`` in a lane; the :class:`Sent` put in ``done`` once it is done."""
        sent = Sent(call, args, done)
        self._queue.put(sent)
        if len(self._threads) < self._most:
            name = f"{self._name}_{len(self._threads)}"
            thread = threading.Thread(target=_lane, args=(self._queue,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return sent

    def shutdown(self) -> None:
        """Wait for every lane to finish what it has; cancel what waits first to skip it."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads.clear()


def _outcome(call: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
    """What ``call(*args)`` gave, or raised (its traceback holds this frame and, through
    it, :meth:`Sent.run`'s, which lets go of its Sent: no cycle for the collector)."""
    try:
        return True, call(*args)
    except BaseException as exc:  # handed to the thread that asked
        return False, exc


def _lane(queue: SimpleQueue[Sent[Any] | None]) -> None:
    while (sent := queue.get()) is not None:
        sent.run()
