"""Deep lists and busy servers (issue 17), side by side in one run (part of `make bench`;
`python -m bench.deep` runs it alone).

1. A server that pays for skipped rows (34,000 contacts, 10 us per record before a
   page's offset, 20 ms a reply): the default export (createdAt windows, concurrency
   auto) against plain page numbers at concurrency 4; the same ids from both.
2. A server that serves 6 requests at once and turns more away with 429 (50 ms a
   reply): the default export against a fixed concurrency of 6; requests turned away.

Each sandbox is a separate process, started fresh for each export so that its count of
requests turned away is that export's. Writes bench/deep.json and prints a table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ROOT, TOKEN, SandboxProcess, table

USERS = int(os.environ.get("BENCH_DEEP_USERS", "34000"))
SEGMENT = """\
version: 1
name: deep
filter: {isContact: false, applicableFilters: []}
output: {path: out/deep.csv, columns: [{name: id, path: _id}]}
"""
RUNNER_YAML = """\
version: 1
api: {concurrency: %s, windows: %s, max_pages: 1000000}
timezone: UTC
"""


def export(project: Path, url: str, concurrency: str, windows: bool) -> dict[str, Any]:
    (project / "runner.yaml").write_text(RUNNER_YAML % (concurrency, str(windows).lower()))
    results = project / "results.json"
    env = {**os.environ, "FLOWMATIX_API_URL": url, "FLOWMATIX_TOKEN": TOKEN}
    cmd = [sys.executable, "-m", "runner", "export", "deep", "--results", str(results)]
    done = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"export failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    (entry,) = json.loads(results.read_text())["results"]
    ids = (project / "out" / "deep.csv").read_text("utf-8-sig").splitlines()[1:]
    return {
        "rows": entry["rows"],
        "seconds": entry["seconds"],
        "rate": entry["rows"] / entry["seconds"],
        "retries": entry["retries"],
        "concurrency": entry.get("concurrency"),
        "windows": entry.get("windows"),
        "ids": sorted(ids),
    }


def one(
    project: Path, server: tuple[float, list[str]], concurrency: str, windows: bool
) -> dict[str, Any]:
    """One export against a fresh sandbox (``server``: its latency and other options)."""
    latency_ms, extra = server
    api = SandboxProcess(USERS, latency_ms, extra=extra)
    try:
        result = export(project, api.url, concurrency, windows)
    finally:
        counts = api.stop()
    requests = max(1, counts["requests"])
    return {**result, **counts, "turned_away_share": counts["turned_away"] / requests}


def measure(project: Path) -> tuple[dict[str, Any], list[list[str]]]:
    """Both scenarios; their figures and rows for the bench table."""
    (project / "segments").mkdir(exist_ok=True)
    (project / "segments" / "deep.yaml").write_text(SEGMENT)
    deep = (20, ["--skip-cost-us", "10"])
    default = one(project, deep, "auto", True)
    plain = one(project, deep, "4", False)
    busy = (50, ["--capacity", "6"])
    auto = one(project, busy, "auto", True)
    fixed = one(project, busy, "6", True)
    out: dict[str, Any] = {
        "users": USERS,
        "offset_cost": {
            "default": _public(default),
            "plain_c4": _public(plain),
            "speedup": plain["seconds"] / default["seconds"],
            "same_ids": default["ids"] == plain["ids"] and len(default["ids"]) == USERS,
        },
        "capacity_6": {
            "default": _public(auto),
            "fixed_6": _public(fixed),
            "throughput_ratio": auto["rate"] / fixed["rate"],
        },
    }
    o, c = out["offset_cost"], out["capacity_6"]
    rows = [
        [
            f"deep list, {USERS:,}, 10 us/skipped row, 20 ms: default",
            f"{default['seconds']:.2f} s ({default['windows']} windows, "
            f"conc. {default['concurrency']})",
            f"x{o['speedup']:.1f}",
            "same ids" if o["same_ids"] else "IDS DIFFER",
        ],
        [
            "deep list: page numbers, concurrency 4",
            f"{plain['seconds']:.2f} s",
            "x1.0",
            "",
        ],
        [
            f"capacity 6, 50 ms, {USERS:,}: default (auto)",
            f"{auto['rate']:,.0f} rec/s, settled at {auto['concurrency']}, "
            f"{auto['turned_away_share']:.1%} turned away, {auto['retries']} retries",
            f"{c['throughput_ratio']:.2f}",
            "",
        ],
        [
            "capacity 6: fixed concurrency 6",
            f"{fixed['rate']:,.0f} rec/s, {fixed['turned_away_share']:.1%} turned away",
            "1.00",
            "",
        ],
    ]
    return out, rows


def _public(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "ids"}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="segments-deep-") as tmp:
        out, rows = measure(Path(tmp))
    text = table([["benchmark", "figure", "ratio", ""], *rows])
    print(text)
    out["table"] = text
    target = ROOT / "bench" / "deep.json"
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
