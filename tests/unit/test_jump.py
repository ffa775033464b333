"""The check for contacts outside every window in rounds (runner/fetch/windows/jump.py),
driven as the fetcher drives it (a round's pages sent, then read in order) over lists
laid out by hand: what it passes on is what the page-by-page check passes on, or the
same refusal, on every layout; it asks a few pages where that one read them all; and a
list that moves while it is read makes it read on page by page, losing nothing."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from runner.errors import PagingError
from runner.fetch.paging import NewRecords
from runner.fetch.records import Deduplicator
from runner.fetch.redact import Redactor
from runner.fetch.windows.handover import Handover
from runner.fetch.windows.outside import Outside

AS_OF = "2026-11-25T00:00:00.000Z"
SIZE = 10
Listing = list[dict[str, Any]]


def newer(n: int) -> Listing:
    """Contacts created after the as-of, newest first."""
    made = [f"2026-12-{1 + i // 100:02d}T00:{i % 60:02d}:00.000Z" for i in range(n)]
    return [{"_id": f"n{i}", "createdAt": at} for i, at in enumerate(made)][::-1]


def ours(n: int) -> Listing:
    """The range's records (read by the windows), newest first."""
    return [
        {"_id": f"r{i}", "createdAt": f"2026-{1 + i // 40:02d}-02T00:00:00.000Z"} for i in range(n)
    ][::-1]


def undated(n: int, tag: str = "u") -> Listing:
    return [
        {"_id": f"{tag}{i}"} if i % 2 else {"_id": f"{tag}{i}", "createdAt": None} for i in range(n)
    ]


def check_of(listing: Listing, jumps: bool = True) -> Outside:
    records = NewRecords(Deduplicator("_id"), Redactor(""))
    read = [r for r in listing if r["_id"].startswith("r")]
    records.keep_new(read, [r["_id"] for r in read])
    count = len({r["_id"] for r in read})
    check = Outside({}, records, AS_OF, count=count, size=SIZE, width=lambda: 16)
    check._jumps *= jumps
    return check


def drive(
    check: Outside, page: Callable[[int], Listing], backwards: bool = False
) -> tuple[list[Any], int]:
    """The ids passed on and the round trips taken: a round's pages sent (up to
    ``ahead``), then read in the order sent, as the fetcher's in-order pass does; the
    server answers them in that order, or the other way round (``backwards``)."""
    passed: list[Any] = []
    trips = 0
    while True:
        wire = []
        while len(wire) < check.ahead and (request := check.next()) is not None:
            wire.append(request)
        if not wire:
            return [r["_id"] for r in passed], trips
        trips += 1
        assert trips < 5000, "the check does not end"
        served = {r.number: page(r.number) for r in (wire[::-1] if backwards else wire)}
        for request in wire:
            kept = check.read(request, served[request.number])
            if kept is None:
                break  # the page-by-page check's end of a run: the rest dropped
            passed += kept if isinstance(kept, list) else []


def pages_of(listing: Listing) -> Callable[[int], Listing]:
    return lambda n: listing[(n - 1) * SIZE : n * SIZE]


def outcome(listing: Listing, jumps: bool) -> tuple[Any, ...]:
    check = check_of(listing, jumps)
    try:
        ids, trips = drive(check, pages_of(listing))
    except PagingError as exc:
        return ("refused", str(exc), check.jumped)
    duplicates = check.records.dedupe.dropped - check.rechecked  # the fetcher's figure
    return (ids, check.found, check.after, duplicates, trips, check.jumped)


ODD = [{"_id": "u-odd", "createdAt": "2026-11-27 (imported)"}]


def outside(listing: Listing) -> list[Any]:
    """The ids page by page passes on: from where the range's count ends to the end,
    then from page 1 down to there (those no window sees: u..., v...)."""
    count = len({r["_id"] for r in listing if r["_id"][0] == "r"})
    cut = (count // SIZE) * SIZE if count > SIZE else 0
    return [r["_id"] for r in listing[cut:] + listing[:cut] if r["_id"][0] in "uv"]


LAYOUTS = {
    "as-of inside, undated last": newer(230) + ours(400) + undated(75),
    "as-of inside, nothing undated": newer(95) + ours(400),
    "as-of inside, far": newer(1900) + ours(400) + undated(3),
    "undated last, many pages": ours(400) + undated(210),
    "count a whole number of pages": newer(40) + ours(400) + undated(40),
    "count mid-page": newer(47) + ours(403) + undated(53),
    # SQL's NULLS FIRST: above the newer ones, passed on after those listed last.
    "undated first": undated(25, "u") + newer(60) + ours(400) + undated(30, "v"),
    # a createdAt no range can match among the newer ones, on page 3 (found by review).
    "unreadable among the newer": newer(60)[:24] + ODD + newer(60)[24:] + ours(400) + undated(70),
    # on the page of the range's first record, above it; and among the newer ones below
    # where the range's count ends, passed on first (both found by a second review).
    "undated beside the range's first": newer(62) + undated(1, "v") + ours(400) + undated(70),
    "undated deep among the newer": newer(600)[:500]
    + undated(1, "v")
    + newer(600)[500:]
    + ours(400)
    + undated(4),
}


@pytest.mark.parametrize("name", LAYOUTS)
def test_the_rounds_pass_on_what_page_by_page_passes_on_in_fewer_round_trips(
    name: str,
) -> None:
    listing = LAYOUTS[name]
    ids, found, after, duplicates, trips, jumped = outcome(listing, jumps=True)
    slow_ids, slow_found, slow_after, slow_duplicates, slow_trips, _ = outcome(listing, False)
    assert jumped is True
    assert ids == slow_ids == outside(listing)
    assert found == slow_found == len(ids)
    assert after == slow_after == sum(r["_id"][0] == "n" for r in listing)
    assert duplicates == slow_duplicates == 0  # (the rounds' own reads: -30 by review)
    assert trips < slow_trips and (slow_trips < 20 or trips <= 0.6 * slow_trips), (
        trips,
        slow_trips,
    )


def test_a_contact_the_api_sends_twice_past_the_range_is_counted_a_duplicate() -> None:
    # (A second review: counted as the check's own re-read, it went unreported.)
    listing = ours(400) + undated(95)
    listing += [listing[-50]]
    fast, slow = outcome(listing, jumps=True), outcome(listing, jumps=False)
    assert fast[-1] is True and fast[:4] == slow[:4] and fast[3] == 1


@pytest.mark.parametrize("rest", [0, 9, 37])
def test_a_short_rest_is_read_page_by_page_as_before(rest: int) -> None:
    # Up to five pages past the count: fewer round trips one at a time than in rounds.
    listing = ours(400) + undated(rest)
    fast, slow = outcome(listing, jumps=True), outcome(listing, jumps=False)
    assert fast[:5] == slow[:5] and fast[-1] is None


LAID_OTHERWISE = {
    # the range's records not side by side: one the windows could not see among them.
    "undated among the range's": newer(60) + ours(400)[:200] + undated(1) + ours(400)[200:],
    # the API sends one of the range's records twice.
    "a record repeated": newer(60) + ours(400)[:200] + ours(400)[199:],
    # created after the as-of, listed after the range: not newest first.
    "newer below": ours(400) + newer(3) + undated(90),
}


@pytest.mark.parametrize("name", LAID_OTHERWISE)
def test_a_list_laid_out_otherwise_is_read_on_page_by_page_with_the_same_outcome(
    name: str,
) -> None:
    listing = LAID_OTHERWISE[name]
    fast, slow = outcome(listing, jumps=True), outcome(listing, jumps=False)
    assert fast[-1] is False  # the rounds gave up
    assert fast[:2] == slow[:2] if fast[0] == "refused" else fast[:4] == slow[:4]


class Moving:
    """The list, a contact put on top (``put``) or one created after the as-of deleted
    once page ``at`` was served (the first time only, unless ``every``)."""

    def __init__(self, listing: Listing, at: int, put: bool, every: bool = False) -> None:
        self.listing, self.at, self.put, self.every, self.moved = list(listing), at, put, every, 0

    def __call__(self, number: int) -> Listing:
        page = self.listing[(number - 1) * SIZE : number * SIZE]
        if number == self.at and (self.every or not self.moved):
            self.moved += 1
            if self.put:
                late = {"_id": f"late{self.moved}", "createdAt": "2026-12-24T00:00:00.000Z"}
                self.listing.insert(0, late)
            else:
                del self.listing[30]
        return page


@pytest.mark.parametrize(
    ("put", "past"), [(True, 0), (False, 0), (True, 1)], ids=["put-in", "deleted", "past-the-end"]
)
def test_a_list_that_moved_while_its_rounds_were_read_is_read_in_rounds_again(
    put: bool, past: int
) -> None:
    # Moved once the list's last page (70) is first read, before the pages below it
    # are: read in one round after it, the page above the last loses its last record to
    # the last page (put in) or the last page's first to it (deleted), or the other way
    # round; the last page read again at the end shows it, and the rounds start over.
    # Past the end: the last page is full, the server answers the empty page after it
    # first and the contact comes then: the last page's last record moves onto that
    # page, read empty (found by review; the page after the last is read again too).
    listing = newer(60) + ours(400) + undated(240 if past else 237)
    check = check_of(listing)
    moving = Moving(listing, -(-len(listing) // SIZE) + past, put)
    ids, _ = drive(check, moving, backwards=bool(past))
    assert moving.moved == 1 and check.jumped is True
    assert ids == [r["_id"] for r in listing if r["_id"][0] == "u"]
    assert check.after == 60 + (1 if put else -1)


def test_a_list_that_moves_each_time_is_read_page_by_page_losing_nothing() -> None:
    # A contact put in on top each time the last page is read: the rounds give up after
    # two tries; one page at a time, forwards, a contact put in above repeats a record
    # and loses none.
    listing = newer(60) + ours(400) + undated(237)
    check = check_of(listing)
    moving = Moving(listing, -(-len(listing) // SIZE), put=True, every=True)
    ids, _ = drive(check, moving)
    assert moving.moved >= 2 and check.jumped is False
    assert ids == [r["_id"] for r in listing if r["_id"][0] == "u"]


@pytest.mark.parametrize("jumps", [True, False], ids=["rounds", "page-by-page"])
def test_an_api_that_repeats_its_last_page_past_the_end_is_refused(jumps: bool) -> None:
    # Past its last page the API sends the last page again (it ignores the page number
    # there): one page at a time the check never met an empty page (found by review).
    listing = ours(400) + undated(95)

    def page(number: int) -> Listing:
        return pages_of(listing)(min(number, 50))

    with pytest.raises(PagingError, match="returned exactly the records of page"):
        drive(check_of(listing, jumps), page)


@pytest.mark.parametrize("jumps", [True, False], ids=["rounds", "page-by-page"])
@pytest.mark.parametrize(
    ("undated_n", "phrase"),
    [
        (95, "102 contacts outside every window (95 without createdAt, 7 dated, "),
        (0, "7 contacts outside every window (7 dated, "),
    ],
)
def test_dated_contacts_no_window_read_are_not_called_undated(
    jumps: bool, undated_n: int, phrase: str
) -> None:
    # An API whose createdAt range leaves out its ends (a blind stand-in's half-open
    # ranges): contacts with a createdAt, on a window's edge, found past the range. The
    # summary said "(no createdAt)" of all 4,552, 311 of them without one. (Listed after
    # the undated ones, past the pages read one at a time: the rounds count them.)
    edge = [{"_id": f"v{i}", "createdAt": "2026-01-01T00:00:00.000Z"} for i in range(7)]
    listing = newer(30) + ours(400) + undated(undated_n) + edge
    check = check_of(listing, jumps)
    ids, _ = drive(check, pages_of(listing))
    assert ids == outside(listing) and check.dated == 7 and check.found == undated_n + 7
    assert check.jumped is (True if jumps else None)
    then = SimpleNamespace(switched="", outside=check)
    said = Handover.read_as.fget(then)  # type: ignore[attr-defined]
    assert said == phrase + "outside every window's range)"


def test_the_rounds_never_take_more_round_trips_than_page_by_page() -> None:
    # Lists pushed down by 0 to 4 pages, 0 to 10 pages after the range (a review found
    # the rounds started after two pages costing two round trips more where the list
    # ended at the second: they start from the last page read now, and only where both
    # pages hold the range's records and the last was full).
    for above in (0, 5, 10, 15, 20, 25, 40):
        for rest in (0, 3, 15, 40, 100):
            for count in (400, 403):
                listing = newer(above) + ours(count) + undated(rest)
                fast, slow = outcome(listing, jumps=True), outcome(listing, jumps=False)
                assert fast[:4] == slow[:4] and fast[4] <= slow[4], (above, rest, count)
