"""The round trips of a default read (createdAt windows, the first one by page number)
against the sandbox over a socket (issue 23): on a list of 1, 3 and 10 pages, on every
data shape, as many in sequence as a plain loop that sends pages 1..k at once, and one
more for the checks (the last page read again, the pages past the count without the
range). Counted, not timed: a request is a round trip after another when it went out
after that one's reply came; 150 ms a reply, so that a round's requests all go out
before the first of them is answered."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import pytest

from bench.traced import Traced
from runner.fetch.fetcher import PageFetcher
from runner.fetch.transport import UrllibTransport
from runner.sandbox import Sandbox
from runner.sandbox.shapes import SHAPES, segment_filter
from runner.spec.project import ApiSettings
from tests.conftest import ANCHOR, full_body

Start = Callable[..., Sandbox]
AS_OF = dt.datetime.fromisoformat(ANCHOR.replace("Z", "+00:00"))


def read(api: Sandbox, concurrency: int, body: dict[str, Any]) -> tuple[list[Any], Traced]:
    settings = ApiSettings(base_url=api.url, concurrency=concurrency)
    transport = Traced(UrllibTransport(settings, api.headers, concurrency + 1))
    fetcher = PageFetcher(settings, api.options.token, body, transport=transport, as_of=AS_OF)
    try:
        ids = [r["_id"] for page in fetcher.pages() for r in page.records]
    finally:
        fetcher.close()
    return ids, transport


def everyone() -> dict[str, Any]:
    return full_body(isContact=False, applicableFilters=[])


def trips(api: Sandbox, concurrency: int, body: dict[str, Any]) -> list[int]:
    """Round trips of five reads of the same list, each checked against the truth.
    Replies come back in any order: a page answered before the empty one makes the
    reader ask the next page, past the end, and while it is on its way the checks may
    wait for a seat (as a loop's thread that asked it waits for its reply): so the
    fewest of five is what the strategy costs. The most is two more at worst: the
    first empty page, asked before the page above it came, is read again with the last
    page (a contact put in between would have been pushed onto it), and then the page
    past the count without the range waits for a seat behind them and the pages asked
    past the end (traced under load: pages 5, 6, 7 and 3 in the second round trip, the
    empty page 4 twice in the third; [2, 2, 3, 3, 4] in a loaded run)."""
    counts = []
    for _ in range(5):
        ids, transport = read(api, concurrency, body)
        assert ids == api.truth(body)
        counts.append(transport.round_trips())
        # Requests: a page each and the empty one, those asked past the end in the last
        # round, the last page again and the check's two pages.
        pages = math.ceil(len(ids) / 50)
        assert len(transport.log) <= pages + 1 + concurrency + 3, transport.show()
    return sorted(counts)


@pytest.mark.parametrize("concurrency", [4, 8])
@pytest.mark.parametrize("pages", [1, 3, 10])
def test_a_short_list_costs_a_plain_loops_round_trips_and_one_for_its_checks(
    sandbox: Start, pages: int, concurrency: int
) -> None:
    api = sandbox(users=50 * pages - 10, page_size=50, latency_ms=150, anchor=ANCHOR)
    counts = trips(api, concurrency, everyone())
    loop = math.ceil((pages + 1) / concurrency)  # pages 1..k at once until an empty one
    # Where the short last page is not the first of its round, a full page of that round
    # may come first, as a reader would wish: it sends the next page at once, past the
    # end, into a seat the checks then wait for (on a machine whose CPU is saturated, it
    # always comes first: 10 pages at 4 counted 5 in every read). A loop pays no checks.
    first = (pages - 1) // concurrency * concurrency + 1  # of the round with the last page
    bound = loop + 1 + (pages != first)
    # (before: page 1 alone, then the rest, then three checks one after another: 3, 5
    # and 7 at 4 at once)
    assert counts[0] <= bound and counts[-1] <= bound + 1, counts


@pytest.mark.parametrize(("concurrency", "best", "worst"), [(8, 2, 3), (4, 3, 4)])
@pytest.mark.parametrize("shape", SHAPES)
def test_a_list_of_three_pages_or_fewer_of_every_shape_costs_two_round_trips(
    sandbox: Start, shape: str, concurrency: int, best: int, worst: int
) -> None:
    # 150 contacts (the sparse shape's segment matches a few dozen of 2,000, the past
    # shape's 99 of 400): pages 1-4 and more in one round, the checks in the next. At 8
    # at once the pages past the end all go in the first round and the checks find
    # seats: two round trips whatever order the replies come in. At 4, a full page
    # answered before the empty one sends page 5 (6, 7) into the seats the checks then
    # wait for: on a loaded machine every read of five took three ([3, 3, 3, 3, 3] in 4
    # of 12 loaded runs), on an idle one the empty page often comes first and it is two.
    users = {"sparse": 2000, "past": 400}.get(shape, 150)
    api = sandbox(users=users, latency_ms=150, shape=shape, anchor=ANCHOR)
    body = full_body(
        **{"isContact": False, "applicableFilters": [], **segment_filter(shape, AS_OF)}
    )
    assert 0 < len(api.truth(body)) <= 150
    counts = trips(api, concurrency, body)
    assert counts[0] <= best and counts[-1] <= worst, counts


def page_numbers(api: Sandbox, concurrency: int | str) -> Traced:
    """One read of everyone by page number (``windows: false``), checked against the truth."""
    settings = ApiSettings(base_url=api.url, concurrency=concurrency, windows=False)
    transport = Traced(UrllibTransport(settings, api.headers, settings.max_concurrency + 1))
    fetcher = PageFetcher(settings, api.options.token, everyone(), transport=transport)
    try:
        ids = [r["_id"] for page in fetcher.pages() for r in page.records]
    finally:
        fetcher.close()
    assert ids == api.truth(everyone())
    return transport


def pages_of(transport: Traced) -> list[int]:
    return [int(r.label.rsplit(" ", 1)[-1]) for r in sorted(transport.log, key=lambda r: r.began)]


def test_the_end_probes_rounds_go_out_as_wide_as_the_limit_has_grown(sandbox: Start) -> None:
    """Auto starts at 2 at once and doubles after a flat round; the probe for the list's
    end asks its second round that wide (pages 4, 8, 16 and 32 together). Before, the
    threads that send were as many as the probe's first round (2) until the pass: every
    later round of the probe went out two at a time, a round trip more each."""
    api = sandbox(users=1_200, page_size=50, latency_ms=150, anchor=ANCHOR)
    transport = page_numbers(api, "auto")
    asked = pages_of(transport)
    probe = asked[: asked.index(1, 1)]  # up to the pass, which starts at page 1 again
    assert probe[:6] == [1, 2, 4, 8, 16, 32], asked
    second = [r for r in transport.log if r.label.endswith((" 4", " 8", " 16", " 32"))][:4]
    # (two threads: the third went out when a reply had freed one)
    assert max(r.began for r in second) < min(r.ended for r in second), transport.show()


def test_the_checks_after_a_parallel_pass_go_out_together(sandbox: Start) -> None:
    """The last page and the first page read again after a parallel pass are asked at
    once: one round trip, not two (a list of 4 pages at 4 at once: 5 round trips, the
    probe's three, the pass and the checks; before, 6)."""
    api = sandbox(users=190, page_size=50, latency_ms=150, anchor=ANCHOR)
    transport = page_numbers(api, 4)
    *_, one, other = sorted(transport.log, key=lambda r: r.began)
    assert sorted(pages_of(transport)[-2:]) == [1, 4], transport.show()  # (either first)
    assert other.began < one.ended, transport.show()  # on the wire together
    assert transport.round_trips() <= 5, transport.show()
