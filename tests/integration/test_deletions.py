"""Issue 22 against the sandbox over a real socket: contacts deleted while a list is read
by page number move the pages below them up, and the contact at each boundary is
skipped. The run finds where the list ends before its pass and reads that page again
after it: moved up, the list is read once more, and every contact that was never
deleted is in the file; deleted again during that second read, the run fails and
publishes nothing."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.errors import PagingError
from runner.fetch import PageFetcher
from runner.sandbox import Sandbox
from runner.spec.project import ApiSettings
from tests.conftest import ANCHOR, EVERYONE_IDS, api_env, full_body, make_project, run_cli
from tests.integration.fetching import AS_OF, EVERYONE, FAST, fetched

Start = Callable[..., Sandbox]
SEGMENT = EVERYONE_IDS
RUNNER = """\
version: 1
api:
  windows: %s
  retry: {max_attempts: 12, backoff_initial: 0.01, backoff_max: 0.05, retry_after_cap: 0.05}
  timeout: {connect: 2, read: 5}
timezone: UTC
"""


@pytest.mark.parametrize(
    ("per_page", "pages", "concurrency"),
    [
        (1, 5, 1),  # one at a time, in order: each hides the contact at the next boundary
        (5, 1, 1),  # five at once
        (3, 10, 4),  # thirty, pages read four at a time
    ],
)
def test_contacts_deleted_during_a_page_number_pass_hide_no_survivor(
    sandbox: Start, per_page: int, pages: int, concurrency: int
) -> None:
    api = sandbox(users=2000, page_size=50, seed=per_page, churn=per_page, churn_at="delete")
    body = full_body(**EVERYONE)
    before = api.truth(body)
    config = ApiSettings(base_url=api.url, retry=FAST, windows=False, concurrency=concurrency)
    fetcher = PageFetcher(config, api.options.token, body, as_of=AS_OF)
    ids: list[Any] = []
    try:
        for page in fetcher.pages():
            ids += [record["_id"] for record in page.records]
            if page.number >= pages:  # deletions stop: the second read sees a still list
                api.options = dataclasses.replace(api.options, churn=0)
    finally:
        fetcher.close()
    survivors = set(before) - set(api.deleted)
    assert len(api.deleted) >= per_page * pages
    assert survivors <= set(ids), f"{len(survivors - set(ids))} survivors missing"
    assert len(ids) == len(set(ids)) and set(ids) <= set(before)
    assert fetcher.reread


@pytest.mark.parametrize("windows", ["false", "true"])
def test_deletions_that_go_on_through_the_second_read_fail_the_run(
    sandbox: Start, tmp_path: Path, windows: str
) -> None:
    # A server where depth costs nothing: the windows hand the list to page numbers.
    api = sandbox(users=3000, page_size=50, churn=2, churn_at="delete")
    project = make_project(tmp_path, {"everyone": SEGMENT}, RUNNER % windows)
    done = run_cli(
        "export", "--as-of", ANCHOR, "--results", "r.json", cwd=project, env=api_env(api)
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "contacts were deleted while the list was read, and again while it was read" in out
    assert "nothing published" in out and not (project / "out" / "everyone.csv").exists()
    entry = json.loads((project / "r.json").read_text())["results"][0]
    assert entry["status"] == "failed"


DEEP = 50.0  # us a skipped row: deep pages cost, so the windows are kept (no page numbers)


def _still_once_read_twice(api: Sandbox) -> list[tuple[str, int]]:
    """Deletions go on while each list is read once, and stop at the first page the run
    asks twice (a window's last page read again, or its second read): ``api.page``
    wrapped in this process. The pages served, in order, are returned. (Where the list
    ends is found before the first window's pass: that pass, from page 1 again, is the
    list's first read.)"""
    served: list[tuple[str, int]] = []
    seen: set[tuple[str, int]] = set()
    passing: list[bool] = []
    serve = api.page

    def page(body: dict[str, Any]) -> bytes:
        key = (json.dumps({k: v for k, v in body.items() if k != "page"}), body["page"])
        if key in seen and not passing:
            passing.append(True)  # the end probe asks each page once: the pass begins
            seen.clear()
        elif key in seen:
            api.options = dataclasses.replace(api.options, churn=0)
        seen.add(key)
        served.append(key)
        return serve(body)

    api.page = page  # type: ignore[method-assign]
    return served


@pytest.mark.parametrize(("per_page", "concurrency"), [(1, 1), (2, 1), (3, 4), (1, 4)])
def test_contacts_deleted_inside_a_window_while_it_is_read_hide_no_survivor(
    sandbox: Start, per_page: int, concurrency: int
) -> None:
    # One window of about 24 pages, every page served deleting contacts above it.
    api = sandbox(
        users=1200,
        page_size=50,
        seed=per_page,
        churn=per_page,
        churn_at="delete",
        skip_cost_us=DEEP,
    )
    body = full_body(**EVERYONE)
    before = api.truth(body)
    served = _still_once_read_twice(api)
    ids, fetcher = fetched(api, body, windows=True, concurrency=concurrency)
    survivors = set(before) - set(api.deleted)
    assert fetcher.windows >= 1 and not fetcher.read_as, fetcher.read_as  # windows read it
    assert len(api.deleted) >= 10 * per_page
    assert survivors <= set(ids), f"{len(survivors - set(ids))} survivors missing"
    assert len(ids) == len(set(ids)) and set(ids) <= set(before)
    assert fetcher.reread and len(served) > len(set(served))


@pytest.mark.parametrize("per_page", [1, 3])
def test_deletions_inside_windows_through_the_second_read_fail_the_run(
    sandbox: Start, tmp_path: Path, per_page: int
) -> None:
    api = sandbox(users=3000, page_size=50, churn=per_page, churn_at="delete", skip_cost_us=DEEP)
    project = make_project(tmp_path, {"everyone": SEGMENT}, RUNNER % "true")
    done = run_cli(
        "export", "--as-of", ANCHOR, "--results", "r.json", cwd=project, env=api_env(api)
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "createdAt window" in out and "then page numbers" not in out  # windows read it
    assert "everyone: contacts were deleted while the list was read, and again while" in out
    assert re.search(
        # (or by page numbers: deleted while windows read above the page where the end
        # probe held them, and the list was handed to page numbers from page 1)
        r"a second time \((its first window: |createdAt \S+ to \S+: )?its last page moved up by [1-9]",
        out,
    ), out
    assert "nothing published" in out and not (project / "out" / "everyone.csv").exists()
    assert "Traceback" not in out
    entry = json.loads((project / "r.json").read_text())["results"][0]
    assert entry["status"] == "failed"


def _delete_one_at(
    api: Sandbox,
    request: int,
    counted: Callable[[dict[str, Any]], bool] = lambda _: True,
    contacts: int = 1,
) -> None:
    """One contact (or ``contacts`` at once) deleted, anywhere below page 1 of the list
    served, as the ``request``-th request that ``counted`` counts is served, and no
    other: ``api.page`` wrapped."""
    count, serve = [0], api.page

    def page(body: dict[str, Any]) -> bytes:
        if counted(body):
            count[0] += 1
            if count[0] == request:
                api.options = dataclasses.replace(api.options, churn=contacts)
        try:
            return serve(body)
        finally:
            if api.deleted:
                api.options = dataclasses.replace(api.options, churn=0)

    api.page = page  # type: ignore[method-assign]


def _single_deletions(
    sandbox: Start,
    windows: bool,
    concurrency: int,
    moments: range = range(3, 40, 3),
    *,
    restarts: bool = False,
    **options: Any,
) -> list[str]:
    """For one deletion at each of many moments of a read: the runs that passed on a
    list without a contact that was never deleted (refusing is allowed). Where deep
    pages cost, windows read the list, but where ``restarts`` (page numbers may read it
    again from page 1 before a window below the first opens)."""
    silent = []
    for request in moments:
        shape = {"users": 1200, "page_size": 50, **options}
        api = sandbox(seed=request, churn=0, churn_at="delete", **shape)
        body = full_body(**EVERYONE)
        before = api.truth(body)
        _delete_one_at(api, request)
        try:
            ids, fetcher = fetched(api, body, windows=windows, concurrency=concurrency)
        except PagingError:
            continue  # refused: nothing would be published
        finally:
            api.stop()
        assert len(api.deleted) >= 1 or request > 24, request  # 24 pages: later, none
        windowed = fetcher.windows >= 2 or (restarts and "page number" in fetcher.note)
        assert windowed or "skip_cost_us" not in options, (fetcher.windows, fetcher.note)
        missing = set(before) - set(api.deleted) - set(ids)
        if missing:
            silent.append(f"deleted at request {request}: {len(missing)} never read")
    return silent


@pytest.mark.parametrize("concurrency", [1, 4])
def test_one_contact_deleted_at_any_moment_of_a_page_number_read_hides_no_survivor(
    sandbox: Start, concurrency: int
) -> None:
    # A blind stand-in deleted one contact at a chosen request (2026-12-07): page
    # numbers never passed on a list without a survivor (their end probe comes first).
    assert _single_deletions(sandbox, windows=False, concurrency=concurrency) == []


@pytest.mark.parametrize("concurrency", [1, 4])
def test_one_contact_deleted_while_the_first_window_reads_on_hides_no_survivor(
    sandbox: Start, concurrency: int
) -> None:
    # The same blind fuzz: with windows, 24 of its 34 lost contacts were the first
    # window's, reading on by page number without knowing where the list ended (7 of
    # these 13 moments lost one). It finds the end first now, as page numbers do.
    assert _single_deletions(sandbox, windows=True, concurrency=concurrency) == []


@pytest.mark.parametrize("concurrency", [1, 4])
def test_one_contact_deleted_while_windows_below_the_first_read_hides_no_survivor(
    sandbox: Start, concurrency: int
) -> None:
    # Deep pages dear: the first window stops at its depth and two or three windows read
    # the rest, each read once with no page of its own read before its others. A
    # deletion while they were read lost a contact at 5 of 16 moments at 4 at once, 6 of
    # 7 one at a time (2026-12-07); the page the end probe found, read again once they
    # are read, shows it now, and page numbers read the list once more.
    moments = range(73, 102, 14)
    silent = _single_deletions(sandbox, True, concurrency, moments, users=4000, skip_cost_us=DEEP)
    assert silent == []


def _in_the_check(body: dict[str, Any]) -> bool:
    """A request of the segment's own list past its page 1: the check for contacts
    outside every window, reading the pages past the windows' count."""
    return "createdAt" not in (body.get("applicableFilters") or []) and body["page"] >= 2


@pytest.mark.parametrize(("concurrency", "contacts"), [(1, 1), (4, 1), (1, 2), (4, 2)])
def test_one_contact_deleted_while_the_check_reads_is_refused_not_lost(
    sandbox: Start, concurrency: int, contacts: int
) -> None:
    # (two at once: another member of the kind, as a blind fuzz's K=2 runs)
    # A fifth of the contacts without createdAt, listed last: the check reads them,
    # page by page past the windows' count. A blind fuzz lost one of them in 10 runs.
    outcomes = []
    for nth in range(1, 6):
        api = sandbox(
            users=1200, page_size=50, seed=nth, churn=0, churn_at="delete", missing_created=0.2
        )
        body = full_body(**EVERYONE)
        before = api.truth(body)
        _delete_one_at(api, nth, _in_the_check, contacts)
        try:
            ids, _ = fetched(api, body, windows=True, concurrency=concurrency)
        except PagingError as exc:
            outcomes.append("refused: " + str(exc)[:100])
            continue
        finally:
            api.stop()
        assert api.deleted, nth
        missing = set(before) - set(api.deleted) - set(ids)
        outcomes.append(f"{len(missing)} never read" if missing else "whole")
    assert not [o for o in outcomes if o.endswith("never read")], outcomes
    assert any("check for contacts outside every" in o for o in outcomes), outcomes


@pytest.mark.parametrize("over", [0, 1])
@pytest.mark.parametrize("windows", [True, False])
def test_a_list_as_long_as_max_pages_still_finds_its_end_and_its_deletions(
    sandbox: Start, windows: bool, over: int
) -> None:
    # A review (2026-12-07): the end probe dropped the pages past max_pages + 1 instead
    # of asking that page, so a list of 20 pages at max_pages 20 or 21 had no end (pages
    # 1, 2, 4, 8, 16 with records, 32 dropped): no page to read again, and a contact
    # deleted during the pass hid another, both ways.
    api = sandbox(users=1000, page_size=50, seed=1, churn=1, churn_at="delete")
    body = full_body(**EVERYONE)
    before = api.truth(body)
    pages = -(-len(before) // 50)
    config = ApiSettings(
        base_url=api.url, retry=FAST, windows=windows, concurrency=1, max_pages=pages + over
    )
    fetcher = PageFetcher(config, api.options.token, body, as_of=AS_OF)
    ids: list[Any] = []
    try:
        for page in fetcher.pages():
            ids += [record["_id"] for record in page.records]
            if page.number >= 5:  # deletions stop: the second read sees a still list
                api.options = dataclasses.replace(api.options, churn=0)
    finally:
        fetcher.close()
    survivors = set(before) - set(api.deleted)
    assert api.deleted and survivors <= set(ids), len(survivors - set(ids))
    assert len(ids) == len(set(ids)) and fetcher.reread
