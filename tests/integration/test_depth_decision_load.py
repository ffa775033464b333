"""The windows' depth decision on a loaded machine (issue 23), against the sandbox over a
real socket: the machine starves for a while (every reply the sandbox serves from one
moment to another comes 30 ms late, whatever its page) while the first window reads its
deep pages. A list that costs nothing a skipped row is still read by page numbers
(before: the late deep pages read as depth's cost, and windows were kept), and lists
that cost 10 and 50 us a skipped row still by windows, at 2 ms a reply, at ``auto`` and
at a fixed 8. (A CPU hog beside them: ``bench/decisions.py``, which counts decisions.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.sandbox import Sandbox
from tests.conftest import (
    EVERYONE_IDS,
    WINDOWS_RUNNER,
    export_ok,
    full_body,
    make_project,
)

Start = Callable[..., Sandbox]
STALL = 0.030  # seconds every reply takes more while the machine starves
PAGE_NUMBERS = "then page numbers: deep pages cost no more than page 1"


class Burst:
    """The sandbox's ``page`` (wrapped on the instance), every reply ``STALL`` late from
    the moment page ``first`` of the whole list is asked until page ``last`` is: a
    stretch of time, over every reply served in it, whatever its page. Pages of the
    first window's pass: where the list ends is found before it (pages 1, 2, 4 ...),
    and the pass begins at page 1 again (the probe's last pages, which may go out
    meanwhile, far past the pass's, do not count)."""

    def __init__(self, api: Sandbox, first: int, last: int) -> None:
        self.serve = api.page
        self.first, self.last = first, last
        self.on = self.over = False
        self.ones = 0  # page 1 of the whole list asked: the probe's, then the pass's
        self.stalled = 0  # replies made late
        self.front = 0  # the pass's deepest page asked
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> bytes:
        whole = not (body.get("createdAt") or {}).get("startAt")  # the list, or a window
        with self.lock:
            self.ones += whole and body["page"] == 1
            # (the probe's last pages, far past the pass, may still be asked meanwhile)
            whole = whole and self.ones >= 2 and body["page"] <= self.front + 16
            self.front = max(self.front, body["page"]) if whole else self.front
            if whole and not self.over and body["page"] >= self.first:
                self.on = True
            if whole and body["page"] >= self.last:
                self.on, self.over = False, True
            late = self.on
            self.stalled += late
        reply = self.serve(body)
        if late:
            time.sleep(STALL)
        return reply


@pytest.mark.parametrize("concurrency", ["auto", "8"])
@pytest.mark.parametrize("cost", [0.0, 10.0, 50.0], ids=["free", "10us", "50us"])
@pytest.mark.parametrize(("first", "last"), [(22, 60), (15, 400)], ids=["deep-third", "to-end"])
def test_a_starved_machine_reads_a_free_list_by_page_numbers_and_a_deep_one_by_windows(
    sandbox: Start,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    concurrency: str,
    cost: float,
    first: int,
    last: int,
) -> None:
    api = sandbox(users=6000, page_size=50, seed=4, latency_ms=2, skip_cost_us=cost)
    burst = Burst(api, first, last)
    monkeypatch.setattr(api, "page", burst)
    project = make_project(tmp_path, {"everyone": EVERYONE_IDS}, WINDOWS_RUNNER % "true")
    fixed = () if concurrency == "auto" else ("--concurrency", concurrency)
    done, entry = export_ok(project, api, *fixed)
    ids = (project / "out" / "everyone.csv").read_text("utf-8-sig").splitlines()[1:]
    assert ids == api.truth(full_body(isContact=False, applicableFilters=[]))
    assert burst.stalled > 20  # the burst was there, over the deep pages
    if cost == 0:
        assert entry["windows"] == 1, done.stdout  # page numbers from page 1 to the end
    else:
        assert entry["windows"] > 1 and PAGE_NUMBERS not in done.stdout, done.stdout
