"""Issue 23's targets on every data shape (`python -m bench.shapes [SHAPE ...]`; part of
`make bench`). One row per shape (`segments sandbox --shape`), each ratio measured side
by side against the same sandbox process, runs alternating (A B A B) so that a noisy
neighbour hits both sides:

1. zero latency, 20,000 contacts: the default export against `api.windows: false`
   (both concurrency auto), three runs each, medians of seconds (target >= 0.9);
2. 50 ms a reply, 6,000 contacts: the same two, twice each (target >= 0.9); and the
   default at `--concurrency 8` against `--concurrency 1` (target >= 5; a list of P
   pages needs P + 1 requests, the last one empty, so it cannot go past x min(8, P + 1):
   the column says P and that bound);
3. a server that pays 10 us a skipped row, 20 ms a reply, 20,000 contacts: the default
   against page numbers at concurrency 4 (target >= 5), the same ids;
4. a server that serves 6 at once and turns more away with 429, 50 ms, 6,000 contacts:
   the default (auto) against a fixed 6 (target >= 0.85, at most 5 % turned away), on
   its first run against the server and on the next (from what the first learned).

Exports run as `segments export` in their own process (seconds counted inside the
export, without interpreter start-up). Writes bench/shapes.json and prints a table.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from bench.common import ROOT, TOKEN, SandboxProcess, table
from runner.fetch.learned import FILE, keep, recall
from runner.sandbox.shapes import segment_filter
from runner.spec.project import ApiSettings

ANCHOR = "2026-11-25T00:00:00Z"
SHAPES = ["uniform", "stale:14d", "imports", "growth", "weekly", "sparse", "past"]
PAGE = 50  # the sandbox's page size
BIG = int(os.environ.get("BENCH_SHAPES_BIG", "20000"))
SMALL = int(os.environ.get("BENCH_SHAPES_SMALL", "6000"))
SEGMENT = """\
version: 1
name: shaped
filter: %s
output: {path: out/shaped.csv, columns: [{name: id, path: _id}]}
"""
RUNNER_YAML = """\
version: 1
api: {concurrency: %s, windows: %s, max_pages: 1000000}
timezone: UTC
"""


def shaped_sandbox(shape: str, users: int, latency_ms: float = 0, *extra: str) -> SandboxProcess:
    """A sandbox of ``users`` contacts in ``shape``, dated from the bench's anchor."""
    return SandboxProcess(users, latency_ms, extra=["--shape", shape, "--anchor", ANCHOR, *extra])


def export(
    project: Path,
    url: str,
    concurrency: str,
    windows: bool,
    learned: bool = False,
    tree: Path = ROOT,
) -> dict[str, Any]:
    """One `segments export` run: its seconds, rows, windows, how it read, and its ids.
    Each starts from nothing learned of the API (a sandbox on a port an earlier one had
    would start from its limit) unless ``learned``. ``tree``: the checkout whose code
    exports (another one's, to compare before and after)."""
    if not learned:
        (project / ".segments" / FILE).unlink(missing_ok=True)
    (project / "runner.yaml").write_text(RUNNER_YAML % (concurrency, str(windows).lower()))
    results = project / "results.json"
    env = {**os.environ, "FLOWMATIX_API_URL": url, "FLOWMATIX_TOKEN": TOKEN}
    env["PYTHONPATH"] = str(tree)
    cmd = [sys.executable, "-m", "runner", "export", "shaped", "--as-of", ANCHOR]
    done = subprocess.run(
        [*cmd, "--results", str(results)], cwd=project, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"export failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    (entry,) = json.loads(results.read_text())["results"]
    ids = (project / "out" / "shaped.csv").read_text("utf-8-sig").splitlines()[1:]
    return {**entry, "ids": ids}


def alternate(project: Path, url: str, runs: int) -> tuple[float, float, dict[str, Any]]:
    """Median seconds of the default export and of `windows: false`, A B A B; the last
    default run's results (and whether every run gave the same ids)."""
    default, plain, same, last = [], [], True, {}
    for _ in range(runs):
        last = export(project, url, "auto", True)
        other = export(project, url, "auto", False)
        default.append(last["seconds"])
        plain.append(other["seconds"])
        same = same and last["ids"] == other["ids"]
    return statistics.median(default), statistics.median(plain), {**last, "same": same}


def one_shape(project: Path, shape: str) -> dict[str, Any]:
    """The four measurements of the module docstring, for one shape."""
    wanted = {"isContact": False, "applicableFilters": [], **segment_filter(shape, _anchor())}
    (project / "segments" / "shaped.yaml").write_text(SEGMENT % orjson.dumps(wanted).decode())
    out: dict[str, Any] = {}
    server = shaped_sandbox(shape, BIG)
    try:
        d, p, last = alternate(project, server.url, 3)
        out["zero"] = {"default": d, "plain": p, "ratio": p / d, "same": last["same"]}
        out["zero"]["read"] = last.get("read_as", "")
    finally:
        server.stop()
    server = shaped_sandbox(shape, SMALL, 50)
    try:
        d, p, last = alternate(project, server.url, 2)
        eight = export(project, server.url, "8", True)
        c1 = export(project, server.url, "1", True)["seconds"]
        c8, pages = eight["seconds"], math.ceil(eight["rows"] / PAGE)
        out["latency50"] = {"default": d, "plain": p, "ratio": p / d, "same": last["same"]}
        out["latency50"].update(c8=c8, c1=c1, speedup_c8=c1 / c8, pages=pages)
    finally:
        server.stop()
    out["offset_cost"] = offset_cost(project, shape)
    out["capacity_6"] = capacity(project, shape)
    return out


def offset_cost(project: Path, shape: str) -> dict[str, Any]:
    server = shaped_sandbox(shape, BIG, 20, "--skip-cost-us", "10")
    try:
        default = export(project, server.url, "auto", True)
        plain = export(project, server.url, "4", False)
    finally:
        server.stop()
    return {
        "default": default["seconds"],
        "windows": default["windows"],
        "plain_c4": plain["seconds"],
        "speedup": plain["seconds"] / default["seconds"],
        "same": default["ids"] == plain["ids"],
    }


def capacity(project: Path, shape: str) -> dict[str, Any]:
    """Auto on its first run against the server (nothing learned), auto on the next
    run against the same API (it starts from what the first learned: its address is
    the new server's), and a fixed 6, each on a server of its own."""
    state = project / ".segments"
    runs, first = {}, ""
    for name, concurrency in (("auto", "auto"), ("learned", "auto"), ("fixed6", "6")):
        server = shaped_sandbox(shape, SMALL, 50, "--capacity", "6")
        url = ApiSettings(base_url=server.url).url
        if name == "learned" and (learned := recall(state, first)) is not None:
            keep(state, url, learned)
        try:
            result = export(project, server.url, concurrency, True, learned=name == "learned")
        finally:
            counts = server.stop()
        first = first or url
        rate = result["rows"] / result["seconds"]
        runs[name] = {"rate": rate, "settled": result["concurrency"], **counts}
    fixed = runs["fixed6"]["rate"]
    for name in ("auto", "learned"):
        runs[name]["ratio"] = runs[name]["rate"] / fixed
        runs[name]["away"] = runs[name]["turned_away"] / max(1, runs[name]["requests"])
    return {**runs, "ratio": runs["auto"]["ratio"], "turned_away_share": runs["auto"]["away"]}


def rows(shape: str, r: dict[str, Any]) -> list[str]:
    z, lat, off, cap = r["zero"], r["latency50"], r["offset_cost"], r["capacity_6"]
    same = all(x["same"] for x in (z, lat, off))
    return [
        shape,
        f"{z['default']:.2f} / {z['plain']:.2f} s = {z['ratio']:.2f}",
        f"{lat['default']:.2f} / {lat['plain']:.2f} s = {lat['ratio']:.2f}",
        f"x{lat['speedup_c8']:.1f} ({lat['pages']:,} pages: at most x{min(8, lat['pages'] + 1)})",
        f"x{off['speedup']:.1f} ({off['windows']} windows)",
        f"{cap['ratio']:.2f}, {cap['turned_away_share']:.1%} away",
        f"{cap['learned']['ratio']:.2f}, {cap['learned']['away']:.1%} away",
        "same ids" if same else "IDS DIFFER",
    ]


HEADER = [
    "shape",
    f"zero latency, {BIG:,}: default / windows:false",
    f"50 ms, {SMALL:,}: default / windows:false",
    "50 ms: conc. 8 vs 1",
    f"10 us/row, 20 ms, {BIG:,}: vs page numbers c4",
    f"capacity 6, 50 ms, {SMALL:,}: auto vs 6",
    "next run (learned) vs 6",
    "",
]


def measure(project: Path, shapes: list[str]) -> tuple[dict[str, Any], list[list[str]]]:
    (project / "segments").mkdir(exist_ok=True)
    out = {shape: one_shape(project, shape) for shape in shapes}
    return out, [rows(shape, r) for shape, r in out.items()]


def _anchor() -> dt.datetime:
    return dt.datetime.fromisoformat(ANCHOR.replace("Z", "+00:00"))


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="segments-shapes-") as tmp:
        out, table_rows = measure(Path(tmp), argv or SHAPES)
    text = table([HEADER, *table_rows])
    print(text)
    target = ROOT / "bench" / "shapes.json"
    target.write_text(json.dumps({**out, "table": text}, indent=2) + "\n")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
