"""An ``--as-of`` inside the data: half the dated contacts created after it, listed above
the range the windows read (`python -m bench.as_of_inside [SHAPE ...] [--users N]
[--missing SHARE]`; defaults: uniform weekly growth, 20,000, 0.06).

For each shape, one export's fetch by windows (the default) and one by page numbers
(`api.windows: false`), each against its own in-process sandbox at 20 ms a reply and
10 us a skipped row, pages of 40, ``SHARE`` of the contacts without createdAt (listed
last), the as-of at the median dated ``createdAt``: seconds, requests, and requests
for the segment's own list (no range: the check for contacts no window sees), and
whether both read the same ids. Before the check went in rounds
(runner/fetch/windows/jump.py) it read every page past the range's count one at a
time: a blind stand-in's 20,000 took 64.5 s by windows against 9.1 s by page numbers.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Any

from bench.common import table
from runner.fetch.fetcher import PageFetcher
from runner.sandbox import Sandbox, SandboxOptions
from runner.spec import schema
from runner.spec.project import ApiSettings

ANCHOR = "2026-11-25T00:00:00Z"


def median_created(api: Sandbox) -> dt.datetime:
    dated = sorted(f.created_at for f in api.population.facts if f.created_at)
    return dt.datetime.fromisoformat(dated[len(dated) // 2].replace("Z", "+00:00"))


def fetch(
    shape: str, users: int, missing: float, windows: bool
) -> tuple[float, int, int, list[Any]]:
    options = SandboxOptions(
        users=users,
        latency_ms=20,
        skip_cost_us=10,
        page_size=40,
        shape=shape,
        anchor=ANCHOR,
        missing_created=missing,
        token="t",
    )
    with Sandbox(options) as api:
        as_of = median_created(api)
        asked = {"all": 0, "own": 0}
        serve = api.page

        def page(body: dict[str, Any]) -> bytes:
            asked["all"] += 1
            asked["own"] += "createdAt" not in (body.get("applicableFilters") or [])
            return serve(body)

        api.page = page  # type: ignore[method-assign]
        settings = ApiSettings(base_url=api.url, windows=windows, max_pages=1_000_000)
        body = {**schema.filter_defaults(), "page": 1, "isExport": "none"}
        body.update({"isContact": False, "applicableFilters": []})
        fetcher = PageFetcher(settings, "t", body, as_of=as_of)
        began = time.monotonic()
        ids = [r["_id"] for page_ in fetcher.pages() for r in page_.records]
        seconds = time.monotonic() - began
        fetcher.close()
    return seconds, asked["all"], asked["own"], ids


def main(argv: list[str]) -> int:
    words = [a for a in argv if not a.startswith("--")]
    users = int(argv[argv.index("--users") + 1]) if "--users" in argv else 20_000
    missing = float(argv[argv.index("--missing") + 1]) if "--missing" in argv else 0.06
    shapes = [w for w in words if not w.replace(".", "").isdigit()] or [
        "uniform",
        "weekly",
        "growth",
    ]
    rows = [
        ["shape", "windows s", "requests (own list)", "page numbers s", "requests", "x", "same ids"]
    ]
    for shape in shapes:
        w_s, w_all, w_own, w_ids = fetch(shape, users, missing, True)
        p_s, p_all, _, p_ids = fetch(shape, users, missing, False)
        rows.append(
            [
                shape,
                f"{w_s:.2f}",
                f"{w_all} ({w_own})",
                f"{p_s:.2f}",
                str(p_all),
                f"{p_s / w_s:.2f}",
                str(sorted(map(str, w_ids)) == sorted(map(str, p_ids))),
            ]
        )
    about = f"{users:,} contacts, {missing:.0%} without createdAt, as-of at the median"
    print(f"{about}, 20 ms, 10 us a skipped row")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
