"""Auto concurrency against a server that serves 6 at once, and fixed concurrency 8
against 1, on every data shape (issue 23, item 3), this checkout against another
(`python -m bench.capacity [--before TREE] [SHAPE ...]`).

For each shape (`segments sandbox --shape`), 6,000 contacts, 50 ms a reply:

1. capacity 6 (a seventh request at once is turned away with 429 and `Retry-After: 1`):
   auto on its first run against the server (nothing learned), auto on the next run
   (from what the first one learned, `.segments/concurrency.json`) and a fixed 6, each
   on a fresh server; auto's records per second over the fixed 6's, and the share of
   requests turned away (targets: at least 0.85, at most 5 %);
2. no capacity: `--concurrency 8` against `--concurrency 1` (target: at least x5; a
   list of P pages cannot go past x min(8, P)).

Every figure is a ratio of two runs of the same code, one right after the other; with
``--before TREE`` each set runs with that tree's code too, the two taking turns (A B A
B), so that a noisy neighbour hits both. Writes bench/capacity.json and prints a table.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from bench.common import TOKEN, table
from bench.shapes import ANCHOR, RUNNER_YAML, SEGMENT, SHAPES, _anchor, shaped_sandbox
from runner.fetch.learned import FILE, keep, recall
from runner.sandbox.shapes import segment_filter
from runner.spec.project import ApiSettings

ROOT = Path(__file__).resolve().parent.parent
USERS = int(os.environ.get("BENCH_CAPACITY_USERS", "6000"))
ROUNDS = int(os.environ.get("BENCH_CAPACITY_ROUNDS", "2"))
BUSY = ["--capacity", "6"]  # and 50 ms a reply


def export(project: Path, url: str, concurrency: str, tree: Path) -> dict[str, Any]:
    """One `segments export` with ``tree``'s code: its figures (seconds counted inside
    the export, without interpreter start-up)."""
    (project / "runner.yaml").write_text(RUNNER_YAML % (concurrency, "true"))
    results = project / "results.json"
    env = {**os.environ, "PYTHONPATH": str(tree), "FLOWMATIX_API_URL": url}
    env["FLOWMATIX_TOKEN"] = TOKEN
    cmd = [sys.executable, "-m", "runner", "export", "shaped", "--as-of", ANCHOR]
    done = subprocess.run(
        [*cmd, "--results", str(results)], cwd=project, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"export failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    (entry,) = json.loads(results.read_text())["results"]
    return dict(entry)


def capacity(project: Path, tree: Path) -> dict[str, Any]:
    """Auto's first run, auto's next run (from what the first learned), a fixed 6."""
    state = project / ".segments"
    (state / FILE).unlink(missing_ok=True)
    runs: dict[str, Any] = {}
    first = ""
    for name, concurrency in (("auto", "auto"), ("learned", "auto"), ("fixed6", "6")):
        server = shaped_sandbox(_shape(project), USERS, 50, *BUSY)
        url = ApiSettings(base_url=server.url).url
        if name == "learned" and (learned := recall(state, first)) is not None:
            keep(state, url, learned)
        try:
            result = export(project, server.url, concurrency, tree)
        finally:
            counts = server.stop()
        if name == "auto":
            first = url
        else:
            (state / FILE).unlink(missing_ok=True)
        rate = result["rows"] / result["seconds"]
        away = counts["turned_away"] / max(1, counts["requests"])
        runs[name] = {"rate": rate, "settled": result["concurrency"], "away": away, **counts}
    for name in ("auto", "learned"):
        runs[name]["ratio"] = runs[name]["rate"] / runs["fixed6"]["rate"]
    return runs


def speedup(project: Path, tree: Path) -> dict[str, Any]:
    """`--concurrency 8` against `1`, 50 ms a reply, no capacity; the pages asked."""
    server = shaped_sandbox(_shape(project), USERS, 50)
    try:
        c8 = export(project, server.url, "8", tree)
        c1 = export(project, server.url, "1", tree)
    finally:
        counts = server.stop()
    pages = -(-c1["rows"] // 50)
    return {
        "c8": c8["seconds"],
        "c1": c1["seconds"],
        "x": c1["seconds"] / c8["seconds"],
        "pages": pages,
        "requests": counts["requests"],
    }


def _shape(project: Path) -> str:
    return (project / "shape.txt").read_text()


def one_shape(project: Path, shape: str, trees: list[tuple[str, Path]]) -> dict[str, Any]:
    wanted = {"isContact": False, "applicableFilters": [], **segment_filter(shape, _anchor())}
    (project / "segments" / "shaped.yaml").write_text(SEGMENT % orjson.dumps(wanted).decode())
    (project / "shape.txt").write_text(shape)
    out: dict[str, Any] = {name: {"capacity": [], "speedup": []} for name, _ in trees}
    for _ in range(ROUNDS):
        for name, tree in trees:  # A B A B
            out[name]["capacity"].append(capacity(project, tree))
            out[name]["speedup"].append(speedup(project, tree))
    return out


def summary(runs: dict[str, Any]) -> dict[str, Any]:
    """Medians (and ranges) over the rounds."""
    cap, fast = runs["capacity"], runs["speedup"]

    def spread(values: list[float]) -> tuple[float, float, float]:
        return statistics.median(values), min(values), max(values)

    return {
        "auto": spread([r["auto"]["ratio"] for r in cap]),
        "auto_away": max(r["auto"]["away"] for r in cap),
        "auto_settled": sorted({r["auto"]["settled"] for r in cap}),
        "learned": spread([r["learned"]["ratio"] for r in cap]),
        "learned_away": max(r["learned"]["away"] for r in cap),
        "x8": spread([r["x"] for r in fast]),
        "pages": fast[0]["pages"],
    }


def row(shape: str, name: str, s: dict[str, Any]) -> list[str]:
    def fig(t: tuple[float, float, float]) -> str:
        return f"{t[0]:.2f} ({t[1]:.2f}-{t[2]:.2f})"

    return [
        shape,
        name,
        f"{fig(s['auto'])}, {s['auto_away']:.1%} away, settled {s['auto_settled']}",
        f"{fig(s['learned'])}, {s['learned_away']:.1%} away",
        f"x{s['x8'][0]:.1f} (x{s['x8'][1]:.1f}-{s['x8'][2]:.1f}), bound x{min(8, s['pages'])}",
    ]


HEADER = [
    "shape",
    "code",
    f"capacity 6, 50 ms, {USERS:,}: first run auto / fixed 6 (median, range)",
    "next run (learned) / fixed 6",
    "50 ms: conc. 8 vs 1",
]


def main(argv: list[str]) -> int:
    trees = [("after", ROOT)]
    if "--before" in argv:
        at = argv.index("--before")
        trees.append(("before", Path(argv[at + 1]).resolve()))
        argv = argv[:at] + argv[at + 2 :]
    shapes = argv or SHAPES
    out: dict[str, Any] = {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="segments-capacity-") as tmp:
        project = Path(tmp)
        (project / "segments").mkdir()
        for shape in shapes:
            runs = one_shape(project, shape, trees)
            out[shape] = {name: {"runs": r, "summary": summary(r)} for name, r in runs.items()}
            for name, _ in reversed(trees):
                rows.append(row(shape, name, out[shape][name]["summary"]))
    text = table([HEADER, *rows])
    print(text)
    target = ROOT / "bench" / "capacity.json"
    target.write_text(json.dumps({**out, "table": text}, indent=2) + "\n")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
