"""Zero latency: the export against the bare loop, JSONL and CSV, windows off and on.

.venv/bin/python -m bench.cpu [CONTACTS] [RUNS] [--before TREE]

Starts one sandbox (zero latency, default 100,000 contacts), then RUNS times (default
3) for each of ``api.windows: false`` and the default: the bare loop
(bench/bare_loop.py), a JSONL export, the bare loop, a CSV export (bench/run.py's
nine columns), concurrency auto. Each export's rate (rows over the seconds counted
inside it, without interpreter start-up) is divided by the bare loop's run just
before it, so a noisy neighbour hits both sides of a ratio; the table gives medians,
the export process's CPU seconds (start-up included) beside the bare loop's, and the
export's peak RSS. ``--before TREE`` runs each export a second time with
the code of another checkout (``PYTHONPATH=TREE``) right after this one's: the
before/after ratio, also from neighbours in time. Issue 23's targets: JSONL at
least 0.9 of the bare loop, CSV at least 0.8.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.bare_loop import bare_loop
from bench.common import (
    CSV_SEGMENT,
    JSONL_SEGMENT,
    ROOT,
    TOKEN,
    SandboxProcess,
    run_export,
    table,
)

RUNNER_YAML = """\
version: 1
api: {max_pages: 1000000, windows: %s}
timezone: UTC
"""
Row = list[str]


def export(project: Path, url: str, fmt: str, code: Path) -> dict[str, float]:
    """One ``segments export`` run with the code at ``code``: rows/s, peak RSS, and the
    process's CPU seconds (user + system, start-up included)."""
    run = run_export(project, url, f"bench-{fmt}", code)
    return {"rate": run.rate, "max_rss_mb": run.max_rss_mb, "cpu": run.cpu}


def measure(
    project: Path,
    users: int = 100_000,
    runs: int = 3,
    before: Path | None = None,
    windows_settings: tuple[str, ...] = ("false", "true"),
) -> tuple[dict[str, Any], list[Row]]:
    """The figures (for results.json) and the table rows; ``windows_settings``: the
    values of ``api.windows`` measured (``true`` is the default)."""
    (project / "segments").mkdir(parents=True, exist_ok=True)
    (project / "segments" / "csv.yaml").write_text(CSV_SEGMENT)
    (project / "segments" / "jsonl.yaml").write_text(JSONL_SEGMENT)
    out: dict[str, Any] = {}
    rows: list[Row] = []
    api = SandboxProcess(users)
    try:
        bare_loop(api.url, TOKEN)  # warm the sandbox's filter cache
        for windows in windows_settings:
            (project / "runner.yaml").write_text(RUNNER_YAML % windows)
            runs_of: dict[str, list[dict[str, float]]] = {}
            for _ in range(runs):
                for fmt in ("jsonl", "csv"):
                    loop = bare_loop(api.url, TOKEN)
                    bare = loop.rate
                    trees = [("after", ROOT), ("before", before)] if before else [("", ROOT)]
                    for tag, code in trees:
                        run = export(project, api.url, fmt, code)
                        runs_of.setdefault(f"{fmt} {tag}".strip(), []).append(
                            {**run, "bare": bare, "ratio": run["rate"] / bare, "bare_cpu": loop.cpu}
                        )
            for key, figures in runs_of.items():
                entry: dict[str, Any] = {
                    k: statistics.median(f[k] for f in figures) for k in figures[0]
                }
                entry["ratios"] = [f["ratio"] for f in figures]
                out[f"{key} windows {windows}"] = entry
                rows.append(_row(f"{key}, {users:,}, windows {windows}", entry))
    finally:
        api.stop()
    return out, rows


def _row(label: str, entry: dict[str, Any]) -> Row:
    return [
        f"zero latency: {label}",
        f"{entry['rate']:,.0f} rec/s (bare {entry['bare']:,.0f}), "
        f"CPU {entry['cpu']:.2f} s (bare {entry['bare_cpu']:.2f} s)",
        f"{entry['ratio']:.2f}",
        f"{entry['max_rss_mb']:.0f} MB",
    ]


def main(argv: list[str]) -> int:
    before = None
    if "--before" in argv:
        at = argv.index("--before")
        before = Path(argv[at + 1]).resolve()
        argv = argv[:at] + argv[at + 2 :]
    users = int(argv[0]) if argv else 100_000
    runs = int(argv[1]) if len(argv) > 1 else 3
    with tempfile.TemporaryDirectory(prefix="segments-bench-") as tmp:
        figures, rows = measure(Path(tmp), users, runs, before)
    print(table([["benchmark", "figure", "ratio", "max RSS"], *rows]))
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
