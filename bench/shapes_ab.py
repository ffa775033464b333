"""Issue 23 item 2, before and after, side by side (`python -m bench.shapes_ab TREE
[SHAPE ...]`: TREE another checkout, e.g. main's). For each shape (bench.shapes), against
one sandbox process per setting, the exports of this checkout and of TREE take turns
(A B A B, ``BENCH_AB_RUNS`` pairs, 3 by default), so that a noisy neighbour hits both:

1. zero latency, ``BENCH_SHAPES_BIG`` contacts: the default export against
   `api.windows: false` (target >= 0.9);
2. 50 ms a reply, ``BENCH_SHAPES_SMALL`` contacts: the same (target >= 0.9);
3. 10 us a skipped row and 20 ms a reply, ``BENCH_SHAPES_BIG`` contacts: the default
   against page numbers at concurrency 4 (target >= 5), and the same ids.

Each figure is the median of the per-pair ratios (the default's seconds over the
other's, taken next to each other), with their lowest. Prints a table, every shape a
row, and writes bench/shapes_ab.json.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from bench.common import ROOT, table
from bench.shapes import BIG, SEGMENT, SHAPES, SMALL, _anchor, export, shaped_sandbox
from runner.sandbox.shapes import segment_filter

RUNS = int(__import__("os").environ.get("BENCH_AB_RUNS", "3"))
SETTINGS = {  # contacts, latency (ms), more sandbox options, the export compared
    "zero": (BIG, 0, [], ("auto", False)),
    "50ms": (SMALL, 50, [], ("auto", False)),
    "offset": (BIG, 20, ["--skip-cost-us", "10"], ("4", False)),
}


def pairs(project: Path, url: str, other: tuple[str, bool], trees: dict[str, Path]) -> Any:
    """Per tree: the ratios (other's seconds / the default's), the default's windows
    and how it read, and whether every export gave the same ids."""
    out: dict[str, Any] = {name: {"ratios": [], "same": True} for name in trees}
    for _ in range(RUNS):
        for name, tree in trees.items():
            default = export(project, url, "auto", True, tree=tree)
            plain = export(project, url, *other, tree=tree)
            got = out[name]
            got["ratios"].append(plain["seconds"] / default["seconds"])
            got["same"] = got["same"] and default["ids"] == plain["ids"]
            got["windows"], got["read_as"] = default["windows"], default.get("read_as", "")
    for got in out.values():
        got["median"], got["low"] = statistics.median(got["ratios"]), min(got["ratios"])
    return out


def one_shape(project: Path, shape: str, trees: dict[str, Path]) -> dict[str, Any]:
    wanted = {"isContact": False, "applicableFilters": [], **segment_filter(shape, _anchor())}
    (project / "segments" / "shaped.yaml").write_text(SEGMENT % orjson.dumps(wanted).decode())
    out = {}
    for setting, (users, latency, args, other) in SETTINGS.items():
        server = shaped_sandbox(shape, users, latency, *args)
        try:
            out[setting] = pairs(project, server.url, other, trees)
        finally:
            server.stop()
    return out


def cell(got: dict[str, Any]) -> str:
    return f"{got['median']:.2f} ({got['low']:.2f}; {got['windows']} w)"


def main(argv: list[str]) -> int:
    before = Path(argv[0]).resolve()
    trees = {"after": ROOT, "before": before}
    shapes = argv[1:] or SHAPES
    header = ["shape"] + [f"{s}: {t}" for s in SETTINGS for t in trees] + [""]
    rows, out = [header], {}
    with tempfile.TemporaryDirectory(prefix="segments-shapes-ab-") as tmp:
        project = Path(tmp)
        (project / "segments").mkdir()
        for shape in shapes:
            got = out[shape] = one_shape(project, shape, trees)
            same = all(got[s][t]["same"] for s in SETTINGS for t in trees)
            cells = [cell(got[s][t]) for s in SETTINGS for t in trees]
            rows.append([shape, *cells, "same ids" if same else "IDS DIFFER"])
            print(table([header, rows[-1]]), flush=True)
    text = table(rows)
    print(text)
    target = ROOT / "bench" / "shapes_ab.json"
    target.write_text(json.dumps({**out, "table": text}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
