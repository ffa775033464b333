"""Where a list ends (runner.fetch.end), found a round of pages at a time: the same page
as one at a time, in a few round trips instead of 2 x log2(pages)."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from runner.fetch.end import EndProbe, EndWatch, moved_up


def find(pages: int, width: int, start: int = 1, max_pages: int = 100_000) -> EndProbe:
    """Probe a list of ``pages`` pages (each page's ids: its number), round by round."""
    probe = EndProbe(start, max_pages, width)
    while probe.round:
        asked = list(probe.round)
        for number in reversed(asked):  # the replies' order does not matter
            probe.read(number, [f"{number}"] if number <= pages else [])
    return probe


@pytest.mark.parametrize("width", [2, 3, 6, 8])
@pytest.mark.parametrize("pages", [0, 1, 2, 5, 37, 120, 129, 1000, 9999])
def test_a_round_of_pages_at_once_finds_the_same_end_in_a_few_round_trips(
    pages: int, width: int
) -> None:
    one, many = find(pages, 1), find(pages, width)
    assert many.end == one.end == ((pages, [f"{pages}"]) if pages else None)
    gallop = math.ceil(math.log2(pages + 1) / width) + 1  # rounds up to the first empty page
    split = math.ceil(math.log(max(2, pages), width + 1)) + 1  # then the gap, width + 1 parts
    assert many.rounds <= min(gallop + split, one.rounds)
    assert 2 * many.rounds <= one.rounds or pages < 37 or width < 3
    assert len(many.asked) <= width * many.rounds


def test_a_list_of_120_pages_takes_3_round_trips_at_8_and_14_one_at_a_time() -> None:
    assert (find(120, 8).rounds, find(120, 1).rounds) == (3, 14)
    assert len(find(120, 8).asked) <= 24  # 14 one at a time: the price of fewer waits


def test_a_page_that_repeats_the_one_before_it_gives_up_as_one_at_a_time_does() -> None:
    # An API that ignores the page number: every page is page 1.
    for width in (1, 4, 8):
        probe = EndProbe(1, 1000, width)
        while probe.round:
            for number in list(probe.round):
                probe.read(number, ["a", "b"])
        assert probe.end is None and probe.rounds == 1 + (width == 1)


def test_the_probe_stops_past_max_pages() -> None:
    probe = find(10_000, 8, max_pages=50)
    assert probe.end is None and max(probe.asked) <= 51 and probe.longer


@pytest.mark.parametrize("width", [1, 3, 8])
@pytest.mark.parametrize("max_pages", [17, 20, 21, 63, 64, 100])
def test_a_list_as_long_as_max_pages_has_its_end_found(max_pages: int, width: int) -> None:
    # The probe asks page max_pages + 1 instead of dropping the doubling past it: a list
    # of max_pages pages whose length lies between two doublings has an end to read again.
    for pages in (max_pages - 1, max_pages):
        probe = find(pages, width, max_pages=max_pages)
        assert probe.end == (pages, [f"{pages}"]) and not probe.longer
        assert max(probe.asked) <= max_pages + 1
    longer = find(max_pages + 1, width, max_pages=max_pages)
    assert longer.end is None and longer.longer and max(longer.asked) == max_pages + 1


@pytest.mark.parametrize("width", [1, 8])
def test_records_past_max_pages_read_before_are_not_a_longer_list(width: int) -> None:
    # An API that does not page (every page page 1's records, rotated): page max_pages + 1
    # holds records read before. The probe gives up; the pass names an API not paging.
    probe = EndProbe(1, 100, width)
    while probe.round:
        for number in list(probe.round):
            probe.read(number, [f"{(number + k) % 5}" for k in range(5)])
    assert probe.end is None and not probe.longer and 101 in probe.asked


def test_the_watch_hands_out_a_round_then_waits_for_all_of_it() -> None:
    widths = iter([4, 4, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    watch = EndWatch(1, 1000, lambda: next(widths))
    seen: list[list[int]] = []
    done = False
    while not done:
        asked = list(iter(watch.ask, None))
        seen.append(asked)
        for number in asked:
            records: list[Any] = [number] if number <= 20 else []
            done = watch.probed(number, records)
    assert seen[0] == [1, 2, 4, 8] and seen[1] == [16, 32]  # each round as wide as allowed
    assert watch.last == (20, [20])


@pytest.mark.parametrize("seed", range(6))
def test_a_page_read_again_with_its_records_in_another_order_did_not_move(seed: int) -> None:
    # An API that hands ties round differently each time: the first record's place in the
    # first read said the page moved up (and a second read then failed the run).
    rng = random.Random(seed)
    page = [f"r{n}" for n in range(25)]
    shuffled = rng.sample(page, len(page))
    assert moved_up(page, shuffled) == 0
    for gone in (1, 3, 24):  # deleted above it: the first `gone` leave, as many come below
        after = page[gone:] + [f"s{n}" for n in range(gone)]
        assert moved_up(page, rng.sample(after, len(after))) == gone
