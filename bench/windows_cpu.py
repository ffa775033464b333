"""The windowed path's own CPU at zero latency: one fetch of the same list with
``api.windows`` on and off, in turns (`python -m bench.windows_cpu [RUNS] [CONTACTS]`).

Against one sandbox in another process (zero latency, uniform shape), each run fetches
the whole list with :class:`~runner.fetch.fetcher.PageFetcher` (no rows, no file) and
counts this process's main-thread CPU (the thread that decodes each page, checks it
and passes it on: the one a zero-latency export waits for), the whole process's CPU and
the wall time; prints the medians. Windows on reads the list's first window by page
number, finds depth free and reads on by page number (``then page numbers``): the
difference is what the windowed path's per-page work costs.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time

from bench.common import TOKEN, SandboxProcess
from runner.fetch.fetcher import PageFetcher
from runner.spec import schema
from runner.spec.project import ApiSettings


def one(url: str, windows: bool) -> tuple[float, float, float]:
    """Main-thread CPU, process CPU and wall seconds of one fetch of the list."""
    settings = ApiSettings(
        base_url=url.removesuffix("/inbox/users"), windows=windows, max_pages=1_000_000
    )
    body = {**schema.filter_defaults(), "page": 1, "isExport": "none"}
    body.update(isContact=False, applicableFilters=[])
    fetcher = PageFetcher(settings, TOKEN, body, as_of=dt.datetime.now(dt.UTC))
    thread, process, wall = time.thread_time(), time.process_time(), time.monotonic()
    try:
        for _ in fetcher.pages():
            pass
    finally:
        fetcher.close()
    return time.thread_time() - thread, time.process_time() - process, time.monotonic() - wall


def main(argv: list[str]) -> int:
    runs = int(argv[0]) if argv else 7
    contacts = int(argv[1]) if len(argv) > 1 else 20_000
    api = SandboxProcess(contacts, 0, extra=["--shape", "uniform"])
    figures: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    try:
        for _ in range(runs):
            for windows in (True, False):
                figures[windows].append(one(api.url, windows))
    finally:
        api.stop()
    for windows in (True, False):
        runs_of = figures[windows]
        thread, process, wall = (statistics.median(f[i] for f in runs_of) for i in range(3))
        name = "windows on " if windows else "windows off"
        print(f"{name}: main thread {thread:.3f} s, process {process:.3f} s, wall {wall:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
