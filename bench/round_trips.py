"""Round trips a default read spends on a short list (issue 23: `python -m bench.round_trips
[--before TREE] [READS]`; not part of `make bench`).

One fetch (createdAt windows on, the default) of a list of 1, 3 and 10 pages of 50 from
an in-process sandbox at 100 ms a reply, at 4 and 8 requests at once and auto: the
requests, and the round trips, the longest chain of requests each sent after the reply
before it came (counted, not timed: the sandbox's 100 ms are longer than any gap between
the requests of one round). A plain loop that sends pages 1..k at once needs
ceil((pages + 1) / k) round trips (auto starts at 2 at once: slow start). The fewest and
the most of READS reads (5 by default); with ``--before TREE`` the same in TREE's code,
each setting's reads taking turns with this checkout's.

Each tree's reads run in a child process whose ``PYTHONPATH`` is that tree (run as the
child, this file imports only ``runner``, from that tree).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

from bench.traced import Traced

ROOT = Path(__file__).resolve().parent.parent
PAGES = (1, 3, 10)
SETTINGS: tuple[int | str, ...] = (4, 8, "auto")
ANCHOR = "2026-11-25T00:00:00Z"


def child(pages: int, concurrency: int | Literal["auto"]) -> dict[str, int]:
    """One read in this process (``runner`` from ``PYTHONPATH``): requests, round trips."""
    from runner.fetch.fetcher import PageFetcher
    from runner.fetch.transport import UrllibTransport
    from runner.sandbox import Sandbox, SandboxOptions
    from runner.spec import schema
    from runner.spec.project import ApiSettings

    options = SandboxOptions(users=50 * pages - 10, latency_ms=100, anchor=ANCHOR, token="t")
    as_of = dt.datetime.fromisoformat(ANCHOR.replace("Z", "+00:00"))
    with Sandbox(options) as api:
        settings = ApiSettings(base_url=api.url, concurrency=concurrency)
        timed = Traced(UrllibTransport(settings, api.headers, settings.max_concurrency + 1))
        body = {**schema.filter_defaults(), "page": 1, "isExport": "none"}
        body.update(isContact=False, applicableFilters=[])
        fetcher = PageFetcher(settings, "t", body, transport=timed, as_of=as_of)
        rows = sum(len(page.records) for page in fetcher.pages())
        fetcher.close()
    assert rows == options.users, rows
    return {"requests": len(timed.log), "round_trips": timed.round_trips()}


def read(tree: Path, pages: int, concurrency: int | str) -> dict[str, int]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    args = [sys.executable, __file__, "--child", str(pages), str(concurrency)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    result: dict[str, int] = json.loads(done.stdout)
    return result


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        setting: int | Literal["auto"] = "auto" if argv[2] == "auto" else int(argv[2])
        print(json.dumps(child(int(argv[1]), setting)))
        return 0
    trees = {"after": ROOT}
    if "--before" in argv:
        at = argv.index("--before")
        trees = {"before": Path(argv[at + 1]), **trees}
        argv = argv[:at] + argv[at + 2 :]
    reads = int(argv[0]) if argv else 5
    print(
        "| pages | at once | loop | "
        + " | ".join(f"{t}: round trips, requests" for t in trees)
        + " |"
    )
    print("|---|---|---|" + "---|" * len(trees))
    for pages in PAGES:
        for concurrency in SETTINGS:
            got: dict[str, list[dict[str, int]]] = {name: [] for name in trees}
            for _ in range(reads):
                for name, tree in trees.items():
                    got[name].append(read(tree, pages, concurrency))
            loop = "-" if concurrency == "auto" else math.ceil((pages + 1) / int(concurrency))
            cells = [_cell(runs) for runs in got.values()]
            print(f"| {pages} | {concurrency} | {loop} | " + " | ".join(cells) + " |", flush=True)
    return 0


def _cell(runs: list[dict[str, Any]]) -> str:
    trips = sorted(r["round_trips"] for r in runs)
    sent = sorted(r["requests"] for r in runs)
    return f"{trips[0]}-{trips[-1]}, {sent[0]}-{sent[-1]}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
