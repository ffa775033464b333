"""The check for contacts outside every window in rounds (runner/fetch/windows/jump.py)
against the sandbox over a real socket: an ``--as-of`` inside the data (every contact
created after it listed above the range) and contacts without createdAt listed last.
The file is the one page numbers give, byte for byte; the check asks a few dozen pages
where it read the list again one page at a time (a blind stand-in: 502 requests, 63 s
against page numbers' 9); and where a contact is put in while its rounds are read, it
reads on one page at a time and loses nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from runner.sandbox import Sandbox
from tests.conftest import WINDOWS_RUNNER, api_env, full_body, make_project, run_cli

Start = Callable[..., Sandbox]
DEEP = 50.0  # us a skipped row: windows pay there and are kept
SIZE = 25
EVERYONE = """\
version: 1
name: everyone
filter: {isContact: false, applicableFilters: []}
output: {format: jsonl, path: out/everyone.jsonl}
"""


def export(root: Path, api: Sandbox, windows: str, as_of: str) -> tuple[list[Any], bytes, str]:
    project = make_project(root / windows, {"everyone": EVERYONE}, WINDOWS_RUNNER % windows)
    done = run_cli("export", "--as-of", as_of, "--results", "r.json", cwd=project, env=api_env(api))
    assert done.returncode == 0, done.stdout + done.stderr
    entry: dict[str, Any] = json.loads((project / "r.json").read_text())["results"][0]
    assert (entry["windows"] >= 1) == (windows == "true")
    data = (project / "out" / "everyone.jsonl").read_bytes()
    return [orjson.loads(line)["_id"] for line in data.splitlines()], data, done.stdout


def median(api: Sandbox) -> str:
    """The as-of: the median createdAt, so half the dated contacts come after it."""
    dated = sorted(f.created_at for f in api.population.facts if f.created_at)
    return dated[len(dated) // 2]


def expected(api: Sandbox, as_of: str) -> set[Any]:
    return {f.id for f in api.population.facts if not f.created_at or f.created_at <= as_of}


class Unranged:
    """Counts the requests for the segment's own list (no createdAt range: the check's,
    while windows read); with ``insert_at``, a contact put in on top of that list once
    its page ``insert_at`` was served the first time."""

    def __init__(self, api: Sandbox, insert_at: int = 0) -> None:
        self.api, self.page, self.insert_at = api, api.page, insert_at
        self.lock, self.asked, self.inserted = threading.Lock(), 0, 0
        self.on_wire = self.most = 0  # the segment's own list's requests being served

    def __call__(self, body: dict[str, Any]) -> bytes:
        if "createdAt" in (body.get("applicableFilters") or []):
            return self.page(body)
        with self.lock:
            self.on_wire += 1
            self.most = max(self.most, self.on_wire)
        reply: bytes = self.page(body)
        with self.lock:
            self.on_wire -= 1
            self.asked += 1
            if body["page"] == self.insert_at and not self.inserted:
                self.api.arrivals.copy_top(1, self.api.matches(body))
                self.inserted = 1
        return reply


@pytest.mark.parametrize("missing", [0.0, 0.05], ids=["all-dated", "5%-undated"])
def test_an_as_of_inside_the_data_is_checked_in_a_few_requests(
    sandbox: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: float
) -> None:
    api = sandbox(users=3000, seed=7, page_size=SIZE, missing_created=missing, skip_cost_us=DEEP)
    as_of = median(api)
    unranged = Unranged(api)
    monkeypatch.setattr(api, "page", unranged)
    ids, windowed, said = export(tmp_path, api, "true", as_of)
    checked, most = unranged.asked, unranged.most
    _, plain, _ = export(tmp_path, api, "false", as_of)
    assert windowed == plain and len(ids) == len(set(ids)) and set(ids) == expected(api, as_of)
    # 120 pages of 25 in the whole list; one at a time the check read 60 of the range's
    # own pages again and 60 of contacts after the as-of above them (122 and 123
    # requests, never two at once); in rounds it reads those 60 above, not the range's,
    # and about 40 more (two one at a time, the end, the pages after the range, the last
    # checks), several at once (the round trips: tests/unit/test_jump.py).
    assert checked <= 110 and most >= 4, (checked, most)
    undated = sum(not f.created_at for f in api.population.facts)
    assert (f"{undated:,} contacts outside every window" in said) == bool(undated)


def test_a_contact_put_in_while_the_rounds_are_read_loses_nothing(
    sandbox: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 10 % without createdAt, listed last: 8 pages after the range's last record. Put in
    # on top once the list's last page is read (the round that found where it ends),
    # the contact pushes the last record of each page below onto the next: read after
    # that, the page above the last loses its last record to the last page, read before.
    # The last page read again at the end shows the move: one page at a time from there.
    api = sandbox(users=2000, seed=8, page_size=SIZE, missing_created=0.1, skip_cost_us=DEEP)
    as_of = median(api)
    last = -(-len(api.truth(full_body(isContact=False, applicableFilters=[]))) // SIZE)
    unranged = Unranged(api, insert_at=last)
    monkeypatch.setattr(api, "page", unranged)
    ids, _, said = export(tmp_path, api, "true", as_of)
    assert unranged.inserted
    assert len(ids) == len(set(ids)) and set(ids) == expected(api, as_of)
    undated = sum(not f.created_at for f in api.population.facts)
    assert f"{undated:,} contacts outside every window" in said
