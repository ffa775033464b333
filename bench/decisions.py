"""How often the windows' depth decision is wrong on a loaded machine (issue 23):
``python bench/decisions.py [N] [USERS]`` (a file, not ``-m``, so that
``PYTHONPATH=OTHER_TREE`` measures another checkout's runner with this script).

For each of 2 ms and 50 ms a reply, concurrency ``auto`` and 8, and a list that costs
nothing a skipped row ("free") and one that costs 10 us ("deep"): ``N`` fetches of
``USERS`` contacts (a ``PageFetcher`` in this process against a ``segments sandbox``
process), while a CPU hog (a process spinning in Python) runs beside them. A fetch
keeps windows when it opened more than one ``createdAt`` window. Wrong: windows kept on
a free list, or none on a deep one. Prints one line a case and the two totals.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))  # bench.common, after PYTHONPATH

import runner
from bench.common import TOKEN, SandboxProcess
from runner.fetch.fetcher import PageFetcher
from runner.spec.project import ApiSettings, RetryPolicy
from runner.spec.schema import filter_defaults

ANCHOR = "2026-11-25T00:00:00Z"
AS_OF = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
BODY = {**filter_defaults(), "isContact": False, "applicableFilters": [], "page": 1}
BODY["isExport"] = "none"
FAST = RetryPolicy(max_attempts=12, backoff_initial=0.01, backoff_max=0.05, deadline=60)
HOG = "while True: pass"


def windows_kept(url: str, concurrency: str) -> bool:
    api = ApiSettings(base_url=url, retry=FAST, max_pages=100_000)
    fixed = None if concurrency == "auto" else int(concurrency)
    fetcher = PageFetcher(api, TOKEN, BODY, concurrency=fixed, as_of=AS_OF)
    try:
        for _ in fetcher.pages():
            pass
    finally:
        fetcher.close()
    return fetcher.paging.figures.windows > 1


def main(argv: list[str]) -> int:
    runs = int(argv[0]) if argv else 10
    users = int(argv[1]) if len(argv) > 1 else 4000
    print(f"runner: {Path(runner.__file__).parent}", flush=True)
    hog = subprocess.Popen([sys.executable, "-c", HOG])
    wrong = {"free": 0, "deep": 0}
    total = {"free": 0, "deep": 0}
    try:
        for latency in (2, 50):
            for cost in ("free", "deep"):
                skip = "0" if cost == "free" else "10"
                extra = ["--anchor", ANCHOR, "--skip-cost-us", skip]
                server = SandboxProcess(users, latency, extra=extra)
                try:
                    for concurrency in ("auto", "8"):
                        kept = sum(windows_kept(server.url, concurrency) for _ in range(runs))
                        bad = kept if cost == "free" else runs - kept
                        wrong[cost] += bad
                        total[cost] += runs
                        print(
                            f"{latency:>2} ms, {cost}, concurrency {concurrency:>4}: "
                            f"windows kept {kept} of {runs} (wrong: {bad})",
                            flush=True,
                        )
                finally:
                    server.stop()
    finally:
        hog.kill()
        hog.wait()
    print(
        f"kept windows on free lists: {wrong['free']} of {total['free']}; "
        f"page numbers on deep lists: {wrong['deep']} of {total['deep']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
