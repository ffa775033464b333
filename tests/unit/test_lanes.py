"""Lanes: the fetch's threads for requests sent ahead (runner/fetch/lanes.py)."""

from __future__ import annotations

import gc
import threading
import weakref
from concurrent.futures import CancelledError
from queue import SimpleQueue
from typing import Any

import pytest

from runner.fetch.lanes import Lanes, Sent


def test_a_call_cancelled_before_it_starts_never_runs_and_every_call_reports_done() -> None:
    lanes, release, ran = Lanes(1, "t"), threading.Event(), []
    done: SimpleQueue[Sent[Any]] = SimpleQueue()
    first = lanes.submit(lambda: release.wait(10) and ran.append("first"), done=done)
    second = lanes.submit(ran.append, "second", done=done)
    second.cancel()
    release.set()
    lanes.shutdown()
    assert ran == ["first"]
    assert first.exception() is None and isinstance(second.exception(), CancelledError)
    with pytest.raises(CancelledError):
        second.result()
    assert {done.get(), done.get()} == {first, second}


def test_calls_run_at_most_threads_at_once_and_each_outcome_is_its_own() -> None:
    lanes, lock, now, most = Lanes(3, "t"), threading.Lock(), [0], [0]
    gate = threading.Barrier(3, timeout=10)  # three must be running at once to pass

    def call(n: int) -> int:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        if n < 3:
            gate.wait()
        with lock:
            now[0] -= 1
        if n == 5:
            raise KeyError(n)
        return n * n

    sent = [lanes.submit(call, n) for n in range(8)]
    assert [s.result() for s in sent if s is not sent[5]] == [0, 1, 4, 9, 16, 36, 49]
    assert isinstance(sent[5].exception(), KeyError)
    assert sent[5].exception() is sent[5].exception()  # read again: the same outcome
    lanes.shutdown()
    assert most[0] == 3 and not [t for t in threading.enumerate() if t.name.startswith("t_")]


def test_a_failed_call_is_freed_without_the_cycle_collector() -> None:
    """Its exception's traceback holds the frame that caught it: that frame must not
    hold the Sent (as a ThreadPoolExecutor's work item lets go of itself)."""

    class Refused(Exception):  # (a class of ours: a weak reference can follow it)
        pass

    def fail() -> None:
        raise Refused("no")

    lanes = Lanes(1, "t")
    gc.disable()
    try:
        sent = lanes.submit(fail)
        error = sent.exception()
        assert isinstance(error, Refused)
        gone = weakref.ref(error)  # held by the Sent's outcome, and by nothing else
        del sent, error
        lanes.shutdown()
        assert gone() is None
    finally:
        gc.enable()
