"""A fixed concurrency halves once for the requests refused from one crowd, and again
for a refusal of a request sent after that halving (TCP's one decrease a window)."""

from __future__ import annotations

import threading

import pytest

from runner.fetch.retry import InFlight


def refuse(gate: InFlight, count: int) -> None:
    """``count`` requests on the wire at once, each answered 429."""
    crowd = threading.Barrier(count)

    def refused() -> None:
        with gate.slot():
            crowd.wait()
            gate.slow_down()

    threads = [threading.Thread(target=refused) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.parametrize(("limit", "refused", "after"), [(16, 10, 8), (8, 8, 4), (2, 2, 1)])
def test_one_crowd_halves_once(limit: int, refused: int, after: int) -> None:
    gate = InFlight(limit)
    refuse(gate, refused)
    assert gate.limit == after


def test_a_crowd_sent_after_a_halving_halves_again() -> None:
    gate = InFlight(16)
    refuse(gate, 12)
    refuse(gate, 5)  # sent at 8
    assert gate.limit == 4
