"""Before and after: `make bench`'s steps that the code's structure could move, with this
checkout's bench code and two checkouts' runners taking turns (issue 25).

.venv/bin/python -m bench.compare BEFORE_TREE [STEP ...]   (steps: zero latency memory big)

Both sides talk to the same sandbox process (this checkout's), and only ``PYTHONPATH``
differs between their ``segments export`` processes. ``BENCH_PAIRS`` pairs (default 3),
the two sides swapping places each pair (A B, B A, ...), so that neither always runs
first after a sandbox start or a neighbour's burst:

- ``zero``: zero latency, 10,000 and 100,000 contacts, CSV (the bench's nine columns)
  and JSONL, defaults (windows, concurrency auto); each export beside the bare
  ``http.client`` loop run just before it (bench/bare_loop.py);
- ``latency``: 10,000 contacts, 50 ms a reply, CSV at concurrency 1, 4 and 8;
- ``memory``: peak RSS of a CSV export of 10,000 contacts (concurrency 4, pages of 200);
- ``big``: the same at ``BENCH_BIG`` contacts (default 1,000,000), once each side.

Each cell: the median of each side, and the median of the per-pair after / before ratios
with their range. Prints the table and writes bench/compare.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.bare_loop import bare_loop
from bench.common import (
    CSV_SEGMENT,
    JSONL_SEGMENT,
    ROOT,
    TOKEN,
    Export,
    SandboxProcess,
    run_export,
    table,
)

PAIRS = int(os.environ.get("BENCH_PAIRS", "3"))
BIG = int(os.environ.get("BENCH_BIG", "1000000"))
RUNNER_YAML = "version: 1\napi: {concurrency: %s, max_pages: 1000000}\ntimezone: UTC\n"
HEADER = ["benchmark", "figure", "before", "after", "after / before (median, range)"]
Trees = dict[str, Path]
# One figure of one export: its name (higher is better or not is the reader's) and value.
Measure = Callable[[Export, float], dict[str, float]]


def sides(trees: Trees, pair: int) -> list[tuple[str, Path]]:
    """The two sides in this pair's order: before first in even pairs, after in odd."""
    order = list(trees.items())
    return order if pair % 2 == 0 else order[::-1]


def pairs(
    project: Path,
    url: str,
    segment: str,
    trees: Trees,
    count: int,
    measure: Measure,
    bare: bool = False,
) -> dict[str, list[dict[str, float]]]:
    """``count`` pairs of exports of ``segment``; ``measure`` picks each one's figures,
    given the export and, with ``bare``, the rate of the bare loop run just before it."""
    got: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for pair in range(count):
        for name, tree in sides(trees, pair):
            loop = bare_loop(url, TOKEN).rate if bare else 0.0
            got[name].append(measure(run_export(project, url, segment, tree), loop))
    return got


def with_bare_loop(run: Export, bare: float) -> dict[str, float]:
    return {"rec/s": run.rate, "ratio to bare loop": run.rate / bare, "CPU s": run.cpu}


def seconds(run: Export, _: float) -> dict[str, float]:
    return {"s": run.seconds}


def peak(run: Export, _: float) -> dict[str, float]:
    return {"MB": run.max_rss_mb, "s": run.seconds, "CPU s": run.cpu}


def rows_of(label: str, got: dict[str, list[dict[str, float]]]) -> list[list[str]]:
    """One row per figure: each side's median, then the per-pair ratios."""
    before, after = got["before"], got["after"]
    rows = []
    for key in before[0]:
        ratios = [a[key] / b[key] for a, b in zip(after, before, strict=True)]
        spread = f" ({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
        rows.append(
            [
                label,
                key,
                _figure(statistics.median(b[key] for b in before)),
                _figure(statistics.median(a[key] for a in after)),
                f"{statistics.median(ratios):.2f}{spread}",
            ]
        )
    return rows


def _figure(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def project_in(folder: Path, concurrency: str) -> Path:
    (folder / "segments").mkdir(parents=True, exist_ok=True)
    (folder / "segments" / "csv.yaml").write_text(CSV_SEGMENT)
    (folder / "segments" / "jsonl.yaml").write_text(JSONL_SEGMENT)
    (folder / "runner.yaml").write_text(RUNNER_YAML % concurrency)
    return folder


def zero(folder: Path, trees: Trees, out: dict[str, Any]) -> list[list[str]]:
    project = project_in(folder, "auto")
    rows = []
    for users in (10_000, 100_000):
        api = SandboxProcess(users)
        try:
            bare_loop(api.url, TOKEN)  # the sandbox's filter cache, warm for both sides
            for fmt in ("csv", "jsonl"):
                got = pairs(project, api.url, f"bench-{fmt}", trees, PAIRS, with_bare_loop, True)
                out[f"zero {fmt} {users}"] = got
                rows += rows_of(f"zero latency, {fmt}, {users:,}", got)
        finally:
            api.stop()
    return rows


def latency(folder: Path, trees: Trees, out: dict[str, Any]) -> list[list[str]]:
    rows = []
    api = SandboxProcess(10_000, latency_ms=50)
    try:
        for conc in (1, 4, 8):
            project = project_in(folder / f"c{conc}", str(conc))
            got = pairs(project, api.url, "bench-csv", trees, PAIRS, seconds)
            out[f"50ms c{conc}"] = got
            rows += rows_of(f"50 ms/page, 10,000, concurrency {conc}", got)
    finally:
        api.stop()
    return rows


def memory(folder: Path, trees: Trees, out: dict[str, Any], users: int, count: int) -> Any:
    project = project_in(folder, "4")
    api = SandboxProcess(users, page_size=200)
    try:
        got = pairs(project, api.url, "bench-csv", trees, count, peak)
    finally:
        api.stop()
    out[f"memory {users}"] = got
    return rows_of(f"peak memory, {users:,} contacts (csv)", got)


STEPS: dict[str, Callable[[Path, Trees, dict[str, Any]], list[list[str]]]] = {
    "zero": zero,
    "latency": latency,
    "memory": lambda folder, trees, out: memory(folder, trees, out, 10_000, PAIRS),
    "big": lambda folder, trees, out: memory(folder, trees, out, BIG, 1),
}


def main(argv: list[str]) -> int:
    if not argv or any(step not in STEPS for step in argv[1:]):
        print(__doc__.strip().splitlines()[3], file=sys.stderr)
        return 2
    trees = {"before": Path(argv[0]).resolve(), "after": ROOT}
    out: dict[str, Any] = {"trees": {k: str(v) for k, v in trees.items()}, "pairs": PAIRS}
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="segments-compare-") as tmp:
        for step in argv[1:] or STEPS:
            rows += STEPS[step](Path(tmp) / step, trees, out)
            print(table([HEADER, *rows]), flush=True)
    out["table"] = table([HEADER, *rows])
    target = ROOT / "bench" / "compare.json"
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
