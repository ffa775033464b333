"""Issue 23 items 1-2 against the sandbox over a real socket: every data shape
(``segments sandbox --shape``) read by the default export gives the file page numbers
give, byte for byte, on a server where skipped rows cost nothing (the first window
hands over to page numbers) and on one where they cost (windows are kept); windows
never ask for more than a tenth more pages than page numbers where depth is free; and
the equality tests of issue 17 (a snapshot while contacts arrive, ties on a window
edge, a window that moves) hold on every shape."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from runner.fetch import PageFetcher
from runner.fetch.windows.plan import ms, text
from runner.fetch.windows.strategy import Windows
from runner.sandbox import Sandbox
from runner.sandbox.shapes import RARE, SHAPES, segment_filter
from runner.spec.project import ApiSettings
from tests.conftest import (
    ANCHOR,
    WINDOWS_RUNNER,
    RunsList,
    export_ok,
    full_body,
    make_project,
)
from tests.integration.fetching import FAST

Start = Callable[..., Sandbox]
AS_OF = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
SHAPE_NAMES = [*SHAPES, "stale:30d"]
# `make test` runs every test below on three shapes: stale (the newest contact two weeks
# old: the slowest), sparse (a few contacts over years: two pages, where the
# boundary loss hid) and imports (most contacts on a few instants: ties on every edge);
# the other shapes are `slow` (`make test-slow`, CI), half of this file's CPU.
FAST_SHAPES = ("stale", "sparse", "imports")
EVERY_SHAPE = [
    s if s in FAST_SHAPES else pytest.param(s, marks=pytest.mark.slow) for s in SHAPE_NAMES
]
DEEP = 50.0  # us a skipped row: a page 32 deep takes 80 ms more than page 1
RUNNER = WINDOWS_RUNNER
SEGMENT = """\
version: 1
name: shaped
filter: %s
output: {format: jsonl, path: out/shaped.jsonl}
"""


def wanted(api: Sandbox) -> dict[str, Any]:
    """The segment's filter: everyone, or what the shape's segment reads."""
    return {
        "isContact": False,
        "applicableFilters": [],
        **segment_filter(api.options.shape, api.anchor),
    }


def body_for(api: Sandbox) -> dict[str, Any]:
    return full_body(**wanted(api))


def segment_for(api: Sandbox) -> str:
    return SEGMENT % orjson.dumps(wanted(api)).decode()


def export(project: Path, api: Sandbox, *options: str) -> tuple[bytes, dict[str, Any], str]:
    """The export's file, its results entry and its output; fails the test on an error."""
    done, entry = export_ok(project, api, *options)
    return (project / "out" / "shaped.jsonl").read_bytes(), entry, done.stdout


def fetch(api: Sandbox, body: dict[str, Any], **settings: Any) -> tuple[list[Any], PageFetcher]:
    config = ApiSettings(base_url=api.url, retry=FAST, max_pages=100_000, **settings)
    fetcher = PageFetcher(config, api.options.token, body, as_of=AS_OF)
    try:
        ids = [record["_id"] for page in fetcher.pages() for record in page.records]
    finally:
        fetcher.close()
    return ids, fetcher


def test_each_shape_is_the_data_it_names(sandbox: Start) -> None:
    anchor = ms(ANCHOR) or 0
    day = 86_400_000

    def created(shape: str) -> list[int]:
        api = sandbox(users=5000, shape=shape)
        return [ms(f.created_at) or 0 for f in api.population.facts]

    stale, uniform = created("stale:14d"), created("uniform")
    assert anchor - stale[0] >= 14 * day > anchor - uniform[0]
    assert stale == sorted(stale, reverse=True)  # newest first, as the API lists
    imports = Counter(created("imports"))
    assert sum(n for n in imports.values() if n >= 500) > 0.7 * 5000  # a few bulk instants
    growth = created("growth")
    assert sum(1 for c in growth if c > anchor - 100 * day) > 0.6 * 5000
    api = sandbox(users=5000, shape="sparse")
    matched = api.truth(body_for(api))
    assert 20 <= len(matched) <= 100 and segment_filter("sparse", api.anchor) == {"tags": [RARE]}
    stamps = sorted(f.created_at for f in api.population.facts if f.id in set(matched))
    assert (ms(stamps[-1]) or 0) - (ms(stamps[0]) or 0) > 3 * 365 * day  # over years
    api = sandbox(users=5000, shape="past")
    bounds = segment_filter("past", api.anchor)["createdAt"]
    assert bounds["endsAt"] < text(anchor - 199 * day) and len(api.truth(body_for(api))) > 1000


@pytest.mark.parametrize("cost", [0.0, DEEP], ids=["free", "deep"])
@pytest.mark.parametrize("shape", EVERY_SHAPE)
def test_every_shape_gives_the_file_page_numbers_give(
    sandbox: Start, tmp_path: Path, shape: str, cost: float
) -> None:
    # Replies come back in any order (many at once); rows go out in the list's.
    users = 6000 if cost == 0 else 3000  # free: windows' few requests more, on 120 pages
    # Free: 50 ms a reply, an API's own, and 8 at once. The depth decision's faults on a
    # starved machine at 2 ms and auto (a burst over the deep pages, slow start's queue)
    # are test_depth_decision*.py's; here, at 2 ms and auto, the sparse shape's list of a
    # few pages took 14 requests against page numbers' 12 once in 18 loaded runs: replies
    # racing in slow start, two pages asked past the end. Counted on a handful of
    # requests, the bound is about the windows, not that race.
    latency = 50 if cost == 0 else 2
    api = sandbox(
        users=users, page_size=50, seed=3, shape=shape, skip_cost_us=cost, latency_ms=latency
    )
    files, requests, said = {}, {}, {}
    for windows in ("true", "false"):
        project = make_project(tmp_path / windows, {"shaped": segment_for(api)}, RUNNER % windows)
        before = api.stats["requests"]
        fixed = ("--concurrency", "8") if cost == 0 else ()
        files[windows], entry, said[windows] = export(project, api, *fixed)
        requests[windows] = api.stats["requests"] - before
        assert (entry["windows"] >= 1) == (windows == "true") and entry["note"] == ""
    truth = api.truth(body_for(api))
    assert files["true"] == files["false"]
    assert [orjson.loads(line)["_id"] for line in files["true"].splitlines()] == truth
    if cost == 0:
        # Where depth is free the first window reads on by page number, finding where the
        # list ends first as page numbers do: at most a tenth more requests, or the two
        # pages of the check for contacts without createdAt on a list of a few pages (the
        # sparse shape's: 16 against 14).
        assert requests["true"] <= max(1.1 * requests["false"], requests["false"] + 2)


@pytest.mark.parametrize("shape", EVERY_SHAPE)
def test_windows_on_every_shape_are_a_snapshot_while_contacts_arrive(
    sandbox: Start, shape: str
) -> None:
    api = sandbox(users=3000, seed=5, shape=shape, churn=2, churn_at="now", skip_cost_us=DEEP)
    body = body_for(api)
    truth = api.truth(body)
    ids, fetcher = fetch(api, body, concurrency=4)
    assert api.inserted and fetcher.note == ""
    assert ids == truth  # none missed, none twice, none created after the as-of, in order


@pytest.mark.parametrize("shape", EVERY_SHAPE)
def test_contacts_tied_on_a_window_edge_are_all_exported_on_every_shape(
    sandbox: Start, shape: str
) -> None:
    options = {"users": 3000, "seed": 9, "shape": shape, "skip_cost_us": DEEP}
    first = sandbox(**options)
    body = body_for(first)
    _, fetcher = fetch(first, body, concurrency=4)
    assert isinstance(fetcher.paging, Windows)
    edges = [w.start for w in fetcher.paging.plan.windows if w.start is not None]
    if not edges:  # one window holds the whole list (sparse): its own range's bound
        edges = [ms(body["createdAt"]["startAt"]) or ms(ANCHOR) or 0]
    api = sandbox(**options, ties=130, tie_at=text(edges[0]))
    truth = api.truth(body)
    ids, fetcher = fetch(api, body, concurrency=4)
    assert fetcher.note == "" and ids == truth
    assert fetcher.duplicates == 0, fetcher.duplicates  # (the ties read twice are its own)


@pytest.mark.parametrize("shape", EVERY_SHAPE)
def test_a_window_that_moves_on_every_shape_loses_nothing(sandbox: Start, shape: str) -> None:
    api = sandbox(users=3000, page_size=25, seed=8, shape=shape, churn=1, churn_at="top",
                  skip_cost_us=DEEP)  # fmt: skip
    body = body_for(api)
    truth = set(api.truth(body))
    ids, fetcher = fetch(api, body, concurrency=8)
    assert fetcher.note == "" and len(ids) == len(set(ids))
    assert truth <= set(ids) <= truth | set(api.inserted)


class BottomUp:
    """The run's ``nth`` request for page 1 of its list (the first request's) answered only
    once the ``nth`` page 2 of that list was, asked in the same round, and a contact put
    in on top of the list between the two: the list's first pages answered bottom up, as
    a loaded server may, while contacts are imported. ``reversed``: so it went (not that
    page 1 gave up waiting, after 10 s)."""

    def __init__(self, api: Sandbox, nth: int) -> None:
        self.api, self.page, self.nth, self.changed = api, api.page, nth, threading.Condition()
        self.counts = Counter[int]()  # requests for pages 1 of the list, and pages 2 served
        self.ours, self.reversed = RunsList(), False

    def __call__(self, body: dict[str, Any]) -> bytes:
        with self.changed:
            ours = self.ours(body)
            self.counts[1] += ours and body["page"] == 1
            if ours and body["page"] == 1 and self.counts[1] == self.nth:
                self.reversed = self.changed.wait_for(lambda: self.counts[2] >= self.nth, 10)
                self.api.arrivals.copy_top(1, self.api.matches(body))
        reply: bytes = self.page(body)
        with self.changed:
            self.counts[2] += ours and body["page"] == 2
            self.changed.notify_all()
        return reply


@pytest.mark.parametrize(
    ("shape", "windows"),
    [
        *((shape, True) for shape in SHAPE_NAMES),
        *((shape, False) for shape in ("sparse", "uniform", "growth")),
    ],
)
def test_pages_answered_bottom_up_while_contacts_are_put_in_lose_nothing(
    sandbox: Start, monkeypatch: pytest.MonkeyPatch, shape: str, windows: bool
) -> None:
    # Page 2 answered before page 1, a contact put in on top between them: the record at
    # their boundary is on neither, and no record repeats where the list has two pages
    # (sparse). The last page read again shows it moved down: the list is read once more,
    # in order (the first window lost that record before it looked). One contact: churn
    # on every page served (test_a_window_that_moves...) pushes a page down by more than
    # a page now and then on a loaded machine, which windows take for an API out of order.
    api = sandbox(users=3000, page_size=25, seed=8, shape=shape)
    # (the first round finds where the list ends, both ways: the pass's page 1 is the 2nd)
    bottom_up = BottomUp(api, nth=2)
    monkeypatch.setattr(api, "page", bottom_up)
    body = body_for(api)
    truth = set(api.truth(body))
    ids, fetcher = fetch(api, body, concurrency=8, windows=windows)
    assert bottom_up.reversed and fetcher.note == ""
    assert len(ids) == len(set(ids)) and truth <= set(ids) <= truth | set(api.inserted)
    assert fetcher.reread  # the moved list was read once more


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_list_handed_to_page_numbers_past_the_first_window_loses_nothing(
    sandbox: Start, seed: int
) -> None:
    # Growth at 50 ms: the first windows are shallow, so the list goes on by page
    # number only once deeper pages told that depth costs nothing, in the middle of a
    # window, with a short page's records kept for page numbers' next page (30 of them
    # were lost in 3 of 4 runs before that was fixed).
    api = sandbox(users=6000, seed=seed, shape="growth", latency_ms=50)
    body = body_for(api)
    config = ApiSettings(base_url=api.url, retry=FAST, max_pages=100_000)
    later = AS_OF + dt.timedelta(hours=12)  # the run half a day after the newest contact
    fetcher = PageFetcher(config, api.options.token, body, as_of=later)
    try:
        ids = [record["_id"] for page in fetcher.pages() for record in page.records]
    finally:
        fetcher.close()
    assert isinstance(fetcher.paging, Windows)
    assert ids == api.truth(body)
