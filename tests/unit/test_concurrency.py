"""AIMD concurrency (runner.fetch.concurrency) on a fake clock, against simulated servers."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

import pytest

from runner.fetch.concurrency import FIRST_RETRY, Adaptive, Learned
from runner.fetch.retry import InFlight
from runner.fetch.rounds import Ticket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate(
    capacity: int,
    *,
    cap: int = 16,
    latency: float = 0.05,
    seconds: float = 30.0,
    queueing: bool = False,
    refused: list[float] | None = None,
    reached: dict[int, float] | None = None,
    learned: Learned | None = None,
    race: bool = False,
    skip_cost: float = 0.0,
    pages: int = 0,
) -> tuple[Adaptive, int, int, list[int]]:
    """Keep the limiter's slots full against a server that serves ``capacity`` at once:
    past it, a 429 at once (or, ``queueing``, replies slower in proportion).
    ``refused`` gets the instants of the 429s; ``reached``, by limit, the instant the
    limit first got there. ``race``: the requests sent together reach the server in
    the reverse order (on separate connections, the last sent can be the first in), so
    the ones turned away are those that went out with the fewest others on the wire.
    ``skip_cost``: seconds more a reply takes for each page above it (an API that skips
    the records above the page asked for), the pages read in order from the first, from
    the first again after ``pages`` (0: never; a list read by windows starts over)."""
    refused = [] if refused is None else refused
    reached = {} if reached is None else reached
    clock = Clock()
    limit = Adaptive(cap=cap, clock=clock, learned=learned)
    events: list[tuple[float, int, Ticket, bool]] = []
    order = itertools.count()
    serving = sent = turned = 0
    limits: list[int] = []
    while clock.now < seconds:
        burst = []
        while limit.active < limit.limit:
            page = sent + len(burst)
            burst.append(limit.begin((page % pages if pages else page) if skip_cost else 0))
        for ticket in reversed(burst) if race else burst:
            sent += 1
            deep = latency + skip_cost * ticket.depth
            if queueing:
                serving += 1
                slower = deep * max(1.0, serving / capacity)
                heapq.heappush(events, (clock.now + slower, next(order), ticket, False))
            elif serving < capacity:
                serving += 1
                heapq.heappush(events, (clock.now + deep, next(order), ticket, False))
            else:
                turned += 1
                refused.append(clock.now)
                heapq.heappush(events, (clock.now + 0.001, next(order), ticket, True))
        clock.now, _, ticket, overloaded = heapq.heappop(events)
        if not overloaded:
            serving -= 1
        limit.end(ticket, overloaded=overloaded)
        limits.append(limit.limit)
        reached.setdefault(limit.limit, clock.now)
    return limit, sent, turned, limits


@pytest.mark.parametrize("capacity", [2, 6, 12])
def test_settles_near_the_capacity_and_rarely_crosses_it(capacity: int) -> None:
    limit, sent, turned, limits = simulate(capacity)
    assert limit.settled == capacity
    assert max(limits) <= 2 * capacity  # slow start doubled past it once
    assert 0 < turned / sent < 0.01  # it had to find the limit; then it stays under
    assert limit.turned_away == turned


@pytest.mark.parametrize("capacity", [6, 9, 12])
def test_finds_the_capacity_in_its_first_round_trips_with_one_crowd_turned_away(
    capacity: int,
) -> None:
    # A short run is over before a climb of one a round gets there, and each 429 costs
    # its request a Retry-After: the 429s come together, early, so their waits overlap.
    refused: list[float] = []
    reached: dict[int, float] = {}
    limit, _, _, _ = simulate(
        capacity, seconds=1.0, refused=refused, reached=reached
    )  # < 32 rounds
    rounds = 5 if capacity > 8 else 4  # doublings from 2 up past it, and the 429s
    assert reached[capacity] <= rounds * 0.05
    assert refused and max(refused) - min(refused) < 0.05 and len(refused) < capacity
    assert min(refused) <= rounds * 0.05
    assert limit.settled == capacity and limit.ceiling == capacity + 1


def test_never_above_the_cap() -> None:
    limit, _, turned, limits = simulate(40, cap=16)
    assert max(limits) == 16 and limit.settled == 16 and turned == 0


def test_a_server_that_queues_instead_of_refusing_holds_it_near_its_capacity() -> None:
    limit, _, turned, limits = simulate(6, queueing=True)
    assert turned == 0
    # it grows while the latency stays within 1.5 times the fastest: up to 9 at once
    # (slow start doubled to 16 once: the round twice as slow sent it back to 8)
    assert 6 <= limit.settled <= 10 and max(limits) <= 16
    assert max(limits[len(limits) // 10 :]) <= 10


# 10 us a record skipped, 50 records a page: 0.5 ms a page deep, 20 ms a reply
OFFSET = {"latency": 0.02, "skip_cost": 0.0005}


@pytest.mark.parametrize("pages", [0, 240, 120])
def test_replies_slower_because_the_pages_are_deeper_are_not_overload(pages: int) -> None:
    # A tie of 12,000 contacts read by page numbers (pages 0), or lists read again from
    # the top every 240 or 120 pages (windows): page 200 takes 120 ms against 20 ms for
    # the first, at any concurrency. Judged against the first page, that looked like a
    # server queueing, and the limit halved down to 1.
    limit, sent, turned, limits = simulate(100, seconds=12.0, pages=pages, **OFFSET)
    assert turned == 0 and sent > 800  # 213 when it halved down to 1
    assert limit.settled == 16 and min(limits[len(limits) // 10 :]) >= 8


@pytest.mark.parametrize("capacity", [4, 6, 9])
def test_deeper_pages_still_settle_at_a_servers_capacity(capacity: int) -> None:
    limit, sent, turned, _ = simulate(capacity, seconds=12.0, **OFFSET)
    assert limit.settled == capacity and limit.ceiling == capacity + 1
    assert turned / sent < 0.02


def test_deeper_pages_on_a_server_that_queues_still_stop_the_doubling() -> None:
    # pages read again from the top every 100 (windows): the queue shows against the
    # depths met before (a band first met at 8 at once, 1.33 times slower than at 6,
    # lets it grow to 11: near, not at, the 6 a server that refuses is held to)
    limit, _, turned, limits = simulate(6, seconds=12.0, queueing=True, pages=100, **OFFSET)
    # (a saw-tooth: it climbs to 15-16 and two slow rounds in a row halve it)
    assert turned == 0 and 6 <= limit.settled <= 12 and min(limits[len(limits) // 2 :]) >= 4


def rounds(limit: Adaptive, clock: Clock, count: int, wait: float = 0.05) -> list[int]:
    """``count`` rounds at the limit, each answered after ``wait``: the limits after."""
    seen = []
    for _ in range(count):
        tickets = [limit.begin() for _ in range(limit.limit)]
        clock.now += wait
        for ticket in tickets:
            limit.end(ticket)
        seen.append(limit.limit)
    return seen


def test_doubles_from_two_until_a_429_then_grows_by_one_per_round() -> None:
    clock = Clock()
    limit = Adaptive(cap=40, clock=clock)
    assert rounds(limit, clock, 3) == [4, 8, 16]
    tickets = [limit.begin() for _ in range(16)]
    for ticket in tickets[12:]:  # sent while 12 to 15 others were on the wire
        limit.end(ticket, overloaded=True)
    assert (limit.limit, limit.ceiling) == (12, 13)
    for ticket in tickets[:12]:
        limit.end(ticket)
    limit.ceiling = None  # no ceiling in the way: by one a round
    assert rounds(limit, clock, 3) == [13, 14, 15]


def test_slow_start_ends_at_a_round_that_is_not_flat() -> None:
    clock = Clock()
    limit = Adaptive(cap=40, clock=clock)
    # 2 -> 4 -> 8; 8 at once queue at the server: back to 4, then by one a round
    assert rounds(limit, clock, 2) == [4, 8]
    assert rounds(limit, clock, 1, wait=0.1) == [4]
    assert rounds(limit, clock, 2) == [5, 6] and limit.ceiling is None


def test_does_not_grow_when_the_slots_are_not_used_in_full() -> None:
    clock = Clock()
    limit = Adaptive(cap=16, start=4, clock=clock)
    for _ in range(5):
        tickets = [limit.begin() for _ in range(2)]  # two at a time out of four
        clock.now += 0.05
        for ticket in tickets:
            limit.end(ticket)
    assert limit.limit == 4


def test_the_first_429_sets_the_limit_then_a_429_halves_once_per_round() -> None:
    clock = Clock()
    limit = Adaptive(cap=16, start=8, clock=clock)
    tickets = [limit.begin() for _ in range(8)]
    clock.now += 0.01
    for ticket in reversed(tickets[5:]):  # turned away: sent with 7, 6 then 5 on the wire
        limit.end(ticket, overloaded=True)
    assert limit.limit == 5 and limit.ceiling == 6 and limit.turned_away == 3
    for ticket in tickets[:5]:  # answered, but started before the cut: no round of 5
        limit.end(ticket)
    assert limit.limit == 5
    crowd = [limit.begin() for _ in range(5)]
    for ticket in crowd[:3]:  # three replies to the same crowd: one cut
        limit.end(ticket, overloaded=True)
    assert limit.limit == 2 and limit.ceiling == 5 and limit.turned_away == 6
    for ticket in crowd[3:]:
        limit.end(ticket)
    late = limit.begin()  # started after the cut: its 429 is news
    limit.end(late, overloaded=True)
    assert limit.limit == 1


def test_the_first_429_never_goes_below_the_limit_that_held() -> None:
    # A server that limits requests a second, not at once: a 429 can come to a request
    # sent with few others on the wire; the limit before the last doubling held.
    clock = Clock()
    limit = Adaptive(cap=16, clock=clock)
    assert rounds(limit, clock, 2) == [4, 8]
    limit.end(limit.begin(), overloaded=True)  # sent alone, turned away
    assert (limit.limit, limit.ceiling) == (4, 5)


def test_latency_that_stays_high_halves_and_one_pause_does_not() -> None:
    clock = Clock()
    limit = Adaptive(cap=16, start=6, clock=clock)
    seen = []
    for wait in (0.05, 0.2, 0.05, 0.05, 0.2, 0.05, 0.2, 0.2):
        seen += rounds(limit, clock, 1, wait)
    # 6 -> 12 (slow start); a round 4 times slower ends it: back to 6; 7, 8; a slow
    # round holds it; a normal one grows it; two slow rounds in a row halve it, with
    # no ceiling (the server did not refuse anything)
    assert seen == [12, 6, 7, 8, 8, 9, 9, 4] and limit.ceiling is None


def test_after_a_ceiling_it_waits_longer_and_longer_before_trying_it_again() -> None:
    refused: list[float] = []
    _, sent, turned, limits = simulate(6, seconds=600, refused=refused)
    tries = [i for i, (a, b) in enumerate(itertools.pairwise(limits)) if a == 6 and b == 7]
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert len(tries) >= 3 and gaps == sorted(gaps) and gaps[-1] > 2 * gaps[0]
    assert turned / sent < 0.001
    # each try turned away costs its page a Retry-After, which an in-order reader waits
    # out: 20 s between the first two, then 40, 80
    waits = [b - a for a, b in itertools.pairwise(sorted(set(refused)))]
    assert len(waits) >= 3 and all(w >= 20 for w in waits) and waits == sorted(waits)


@pytest.mark.parametrize("capacity", [3, 6, 12])
def test_a_run_shorter_than_twenty_seconds_never_tries_the_ceiling_it_learned(
    capacity: int,
) -> None:
    # 19 s of 50 ms rounds: 380 rounds, where 32 rounds alone would try it 3 times
    learned = Learned(capacity, capacity + 1)
    _, _, turned, limits = simulate(capacity, seconds=19.0, learned=learned)
    assert turned == 0 and set(limits) == {capacity}


def test_a_ceiling_that_lifts_is_forgotten() -> None:
    clock = Clock()
    limit = Adaptive(cap=16, start=6, clock=clock)
    tickets = [limit.begin() for _ in range(6)]
    limit.end(tickets[-1], overloaded=True)  # the sixth turned away: ceiling 6, limit 5
    for ticket in tickets[:-1]:
        limit.end(ticket)
    assert (limit.limit, limit.ceiling) == (5, 6)
    limit.end(limit.begin(), overloaded=True)  # 429 at 5: ceiling 5, half
    assert (limit.limit, limit.ceiling) == (2, 5)
    rounds = 0
    while limit.limit < 8 and rounds < 10 * FIRST_RETRY:
        tickets = [limit.begin() for _ in range(limit.limit)]
        clock.now += 0.5  # slow rounds: the try also waits FIRST_RETRY_SECONDS
        for ticket in tickets:
            limit.end(ticket)
        rounds += 1
    assert limit.limit == 8 and limit.ceiling is None


def test_settled_is_the_median_by_time() -> None:
    clock = Clock()
    limit = Adaptive(cap=16, start=2, clock=clock)
    clock.now = 10.0  # 10 s at 2
    tickets = [limit.begin() for _ in range(2)]
    for ticket in tickets:
        limit.end(ticket)  # -> 4 (slow start)
    clock.now = 12.0  # 2 s at 4
    assert limit.settled == 2 and limit.peak == 4


def test_threads_never_hold_more_slots_than_the_limit() -> None:
    limit = Adaptive(cap=5, start=2)
    most = [0]
    inside = [0]
    lock = threading.Lock()

    def work() -> None:
        for _ in range(40):
            with limit.slot():
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                    assert inside[0] <= limit.limit or limit.limit < limit.peak
                time.sleep(0.001)
                with lock:
                    inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 2 <= most[0] <= 5 and limit.active == 0
    assert limit.peak == 5  # it grew to the cap, with no 429 and flat latency


def test_slow_down_marks_the_request_in_this_threads_slot() -> None:
    limit = Adaptive(cap=16, start=8)
    with limit.slot():
        limit.slow_down()
    # the first 429, at 8 with none other on the wire: back to the limit that held
    assert limit.turned_away == 1 and limit.limit == 4
    limit.slow_down()  # outside a slot: nothing to mark
    assert limit.turned_away == 1


def test_a_try_at_the_ceiling_turned_away_goes_back_below_it_not_to_half() -> None:
    clock = Clock()
    limit = Adaptive(cap=16, start=12, clock=clock)
    tickets = [limit.begin() for _ in range(12)]
    limit.end(tickets[-1], overloaded=True)  # the twelfth turned away: ceiling 12
    for ticket in tickets[:-1]:
        limit.end(ticket)
    limit.end(limit.begin(), overloaded=True)  # then a 429 at 11: ceiling 11, half
    limit.ceiling = 12  # as if the 429 at 11 had been the one at 12: half of it
    assert (limit.limit, limit.ceiling) == (5, 12)
    rounds = 0
    while limit.limit < 12 and rounds < 10 * FIRST_RETRY:  # up to the try at the ceiling
        tickets = [limit.begin() for _ in range(limit.limit)]
        clock.now += 0.5  # slow rounds: the try also waits FIRST_RETRY_SECONDS
        for ticket in tickets:
            limit.end(ticket)
        rounds += 1
    assert limit.limit == 12 and limit.ceiling == 12
    limit.end(limit.begin(), overloaded=True)  # the try fails: 11 held before, so 11
    assert (limit.limit, limit.ceiling) == (11, 12)
    limit.end(limit.begin(), overloaded=True)  # a 429 below the ceiling: it came down
    assert (limit.limit, limit.ceiling) == (5, 11)


@pytest.mark.parametrize("capacity", [3, 6, 12])
def test_a_run_that_starts_from_what_the_last_one_learned_is_turned_away_by_none(
    capacity: int,
) -> None:
    cold, _, turned, _ = simulate(capacity, seconds=1.0)
    assert turned > 0 and cold.learned == Learned(capacity, capacity + 1)
    warm, _, turned, limits = simulate(capacity, seconds=1.0, learned=cold.learned)
    assert turned == 0 and set(limits) == {capacity} and warm.learned == cold.learned


def test_a_run_that_met_no_limit_learns_nothing() -> None:
    # its limit was the work it had, or the cap: the next run finds its own
    for capacity, cap in ((40, 8), (40, 16)):
        cold, _, turned, _ = simulate(capacity, cap=cap, seconds=1.0)
        assert turned == 0 and cold.learned is None and cold.settled == cap


@pytest.mark.parametrize("capacity", [3, 6, 12])
def test_a_request_that_lost_a_race_for_the_last_seat_does_not_lower_the_limit(
    capacity: int,
) -> None:
    # The requests sent together reach the server in another order: those turned away
    # went out with few others on the wire. The ones on the wire when the 429 came back
    # and then served were served together: the limit is theirs, and the next run's.
    refused: list[float] = []
    limit, sent, turned, _ = simulate(capacity, seconds=1.0, race=True, refused=refused)
    assert limit.settled == capacity and limit.learned == Learned(capacity, capacity + 1)
    assert 0 < turned < capacity and max(refused) - min(refused) < 0.05
    warm, _, turned, limits = simulate(capacity, seconds=1.0, race=True, learned=limit.learned)
    assert turned == 0 and set(limits) == {capacity}


def test_witnesses_that_are_turned_away_too_do_not_count() -> None:
    clock = Clock()
    limit = Adaptive(cap=16, clock=clock)
    assert rounds(limit, clock, 2) == [4, 8]
    tickets = [limit.begin() for _ in range(8)]
    clock.now += 0.001
    limit.end(tickets[0], overloaded=True)  # sent alone, turned away: the others witness
    assert (limit.limit, limit.ceiling) == (4, 5)  # what held before the last doubling
    for ticket in tickets[1:3]:  # two more turned away: not served, not counted
        limit.end(ticket, overloaded=True)
    clock.now += 0.05
    for ticket in tickets[3:]:  # five served together
        limit.end(ticket)
    assert (limit.limit, limit.ceiling) == (5, 6) and limit.turned_away == 3


def test_a_cut_after_the_first_429_keeps_the_witnesses_from_raising_the_limit() -> None:
    clock = Clock()
    limit = Adaptive(cap=16, start=8, clock=clock)
    tickets = [limit.begin() for _ in range(8)]
    limit.end(tickets[0], overloaded=True)  # sent alone, turned away: 4 (what held)
    for ticket in tickets[1:5]:
        limit.end(ticket)
    late = limit.begin()  # sent after the first 429, and turned away too: news
    limit.end(late, overloaded=True)
    assert (limit.limit, limit.ceiling) == (2, 4)
    for ticket in tickets[5:]:  # seven served together, but the server refused since
        limit.end(ticket)
    assert (limit.limit, limit.ceiling) == (2, 4)


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


@pytest.mark.parametrize("make", [lambda: Adaptive(cap=1, start=1), lambda: InFlight(1)])
def test_slots_go_out_in_the_order_they_were_asked_for(
    make: Callable[[], Adaptive | InFlight],
) -> None:
    # A reader that passes pages on in order waits for the oldest page: a page asked
    # for later must not take its slot.
    slots = make()
    order: list[int] = []
    holding = slots.slot()
    holding.__enter__()  # the one slot, taken
    threads = []

    def take(number: int) -> None:
        with slots.slot():
            order.append(number)

    for number in range(12):
        threads.append(threading.Thread(target=take, args=(number,)))
        threads[-1].start()
        wait_until(lambda: slots.waiting == len(threads))
    holding.__exit__(None, None, None)
    for thread in threads:
        thread.join()
    assert order == list(range(12)) and slots.waiting == 0


@pytest.mark.parametrize("cost", [0.001, 0.002])
def test_a_steep_depth_cost_does_not_end_slow_start(cost: float) -> None:
    # 5 ms a reply and 1 or 2 ms more a page deeper, read by page number from the top:
    # each round of slow start is twice as deep as the one before, and judged against
    # the band above it alone, a round at 8 (pages 6 to 13) was 1.8 times the round at
    # 4 and ended slow start at 4.
    reached: dict[int, float] = {}
    limit, sent, turned, limits = simulate(
        100, seconds=3.0, latency=0.005, skip_cost=cost, reached=reached
    )
    assert turned == 0 and reached.get(16, 99.0) < 0.5 and limit.settled == 16


def test_slower_replies_at_the_same_limit_and_depth_are_not_ours_to_halve() -> None:
    # The server slows down by itself (another client, a slower disk) while the limit
    # stays where it was: halving it would not make the server faster.
    clock = Clock()
    limit = Adaptive(cap=16, clock=clock, learned=Learned(6, 7))  # held below its ceiling
    assert rounds(limit, clock, 4) == [6, 6, 6, 6]
    assert rounds(limit, clock, 4, wait=0.2) == [6, 6, 6, 6]  # it halved to 3
