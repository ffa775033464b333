"""Where a run's time goes on the wire: every request's start and end, status and the
requests on the wire as it went out, and the stretches with nothing on the wire
(`python -m bench.wire_trace [SHAPE] [CONCURRENCY] [CAPACITY] [--windows-off]
[--learned] [-v]`; defaults: uniform, auto, 6).

One export's fetch against an in-process sandbox (6,000 contacts, 50 ms a reply, pages
of 50); ``--learned`` starts auto from the server's limit, as a next run would. Not part
of `make bench`: it explains the capacity rows of `bench.capacity` (a first run at
capacity 6 spends 0.7 to 0.9 s with nothing on the wire while the pages turned away
wait out their `Retry-After`).
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Any

from bench.traced import Traced
from runner.fetch.concurrency import Learned
from runner.fetch.fetcher import PageFetcher
from runner.fetch.transport import UrllibTransport
from runner.sandbox import Sandbox, SandboxOptions
from runner.sandbox.shapes import segment_filter
from runner.spec import schema
from runner.spec.project import ApiSettings

ANCHOR = "2026-11-25T00:00:00Z"
USERS = 6000


def main(argv: list[str]) -> int:
    words = [a for a in argv if not a.startswith("-")]
    shape = words[0] if words else "uniform"
    concurrency: Any = words[1] if len(words) > 1 else "auto"
    capacity = int(words[2]) if len(words) > 2 else 6
    concurrency = concurrency if concurrency == "auto" else int(concurrency)
    anchor = dt.datetime.fromisoformat(ANCHOR.replace("Z", "+00:00"))
    options = SandboxOptions(
        users=USERS, capacity=capacity, latency_ms=50, shape=shape, anchor=ANCHOR, token="t"
    )
    with Sandbox(options) as api:
        settings = ApiSettings(
            base_url=api.url,
            concurrency=concurrency,
            windows="--windows-off" not in argv,
            max_pages=1_000_000,
        )
        body = {**schema.filter_defaults(), "page": 1, "isExport": "none"}
        body.update({"isContact": False, "applicableFilters": [], **segment_filter(shape, anchor)})
        traced = Traced(UrllibTransport(settings, api.headers, settings.max_concurrency + 1))
        learned = Learned(capacity, capacity + 1) if "--learned" in argv else None
        fetcher = PageFetcher(settings, "t", body, transport=traced, as_of=anchor, learned=learned)
        traced.started = time.monotonic()
        rows = sum(len(page.records) for page in fetcher.pages())
        seconds = time.monotonic() - traced.started
        fetcher.close()
        print(
            f"{shape}, concurrency {concurrency}, capacity {capacity}: {rows:,} rows in "
            f"{seconds:.2f} s, {api.gate.report()}, settled at {fetcher.settled}"
        )
    gaps = traced.idle()
    print(
        f"nothing on the wire {sum(b - a for a, b in gaps):.2f} s: "
        + ", ".join(f"{a:.2f}-{b:.2f}" for a, b in gaps)
    )
    for line, request in zip(
        traced.show().splitlines(), sorted(traced.log, key=lambda r: r.began), strict=False
    ):
        if "-v" in argv or request.status != 200:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
