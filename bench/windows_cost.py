"""What createdAt windows cost where they cannot help: a zero-latency server with no cost
for skipped rows (`python -m bench.windows_cost [CONTACTS] [PAGE_SIZE] [CONCURRENCY]`).

The same CSV export (bench/run.py's nine columns) with `api.windows: true` and `false`,
alternating, three times each, against one sandbox: records per second and peak RSS of
each run, then the medians. Defaults: 300,000 contacts, pages of 200, concurrency 4
(the shape of `make bench`'s memory runs).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from bench.common import CSV_SEGMENT, SandboxProcess, run_export

RUNNER_YAML = """\
version: 1
api: {concurrency: %d, max_pages: 1000000, windows: %s}
timezone: UTC
"""


def main(argv: list[str]) -> int:
    users, page_size, concurrency = _args(argv)
    figures: dict[str, list[tuple[float, float]]] = {"true": [], "false": []}
    with tempfile.TemporaryDirectory(prefix="segments-bench-") as tmp:
        project = Path(tmp)
        (project / "segments").mkdir()
        (project / "segments" / "csv.yaml").write_text(CSV_SEGMENT)
        api = SandboxProcess(users, page_size=page_size)
        try:
            for windows in ["false", "true"] * 3:
                (project / "runner.yaml").write_text(RUNNER_YAML % (concurrency, windows))
                result = run_export(project, api.url, "bench-csv")
                rate, rss = result.rate, result.max_rss_mb
                figures[windows].append((rate, rss))
                print(f"windows {windows}: {rate:,.0f} rec/s, {rss:.0f} MB")
        finally:
            api.stop()
    for windows, runs in figures.items():
        rate = statistics.median(r for r, _ in runs)
        rss = statistics.median(m for _, m in runs)
        print(f"median, windows {windows}: {rate:,.0f} rec/s, {rss:.0f} MB")
    return 0


def _args(argv: list[str]) -> tuple[int, int, int]:
    defaults = [300_000, 200, 4]
    given = [int(a) for a in argv[:3]]
    users, page_size, concurrency = given + defaults[len(given) :]
    return users, page_size, concurrency


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
