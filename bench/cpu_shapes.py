"""CPU seconds of an export before and after a change, on several data shapes.

.venv/bin/python -m bench.cpu_shapes BEFORE_TREE [CONTACTS] [PAIRS] [SHAPE ...]

For each shape (default uniform, stale:14d, imports, growth) one zero-latency sandbox
(``segments sandbox --shape``, default 30,000 contacts, bench/shapes.py's filter for
the shape), then PAIRS times (default 2) for JSONL and for the nine-column CSV of
bench/run.py, windows off and on: an export with this checkout's code, then one with
BEFORE_TREE's (``PYTHONPATH``), A B A B. Prints each one's median CPU seconds (user +
system of the whole process, start-up included: the figure a loaded machine does not
swing the way it swings wall time), the median of the pairs' after/before ratios, and
the wall seconds counted inside the export; and whether both wrote the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson
import yaml

from bench.common import CSV_SEGMENT, JSONL_SEGMENT, TOKEN, table
from bench.shapes import ANCHOR, _anchor, shaped_sandbox
from runner.sandbox.shapes import segment_filter

ROOT = Path(__file__).resolve().parent.parent
SHAPES = ["uniform", "stale:14d", "imports", "growth"]
Figures = dict[str, float | str]
RUNNER_YAML = "version: 1\napi: {max_pages: 1000000, windows: %s}\ntimezone: UTC\n"


def segments(project: Path, shape: str) -> None:
    wanted = {"isContact": False, "applicableFilters": [], **segment_filter(shape, _anchor())}
    for name, text in (("csv", CSV_SEGMENT), ("jsonl", JSONL_SEGMENT)):
        spec = yaml.safe_load(text)
        spec["filter"] = wanted
        (project / "segments" / f"{name}.yaml").write_text(orjson.dumps(spec).decode())


def export(project: Path, url: str, fmt: str, code: Path) -> Figures:
    results = project / "results.json"
    env = {**os.environ, "FLOWMATIX_API_URL": url, "FLOWMATIX_TOKEN": TOKEN}
    env["PYTHONPATH"] = str(code)
    cmd = [sys.executable, "-m", "runner", "export", f"bench-{fmt}", "--as-of", ANCHOR]
    proc = subprocess.Popen(
        [*cmd, "--results", str(results)],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"export {fmt} with {code} failed")
    (entry,) = json.loads(results.read_text())["results"]
    written = project / "out" / f"bench.{fmt}"
    return {
        "cpu": usage.ru_utime + usage.ru_stime,
        "seconds": entry["seconds"],
        "sha": hashlib.sha256(written.read_bytes()).hexdigest(),
    }


def main(argv: list[str]) -> int:
    before = Path(argv[0]).resolve()
    users = int(argv[1]) if len(argv) > 1 else 30_000
    pairs = int(argv[2]) if len(argv) > 2 else 2
    shapes = argv[3:] or SHAPES
    rows = [["shape", "export", "CPU after / before (s)", "ratio", "wall after / before", "bytes"]]
    with tempfile.TemporaryDirectory(prefix="segments-bench-") as tmp:
        project = Path(tmp)
        (project / "segments").mkdir()
        for shape in shapes:
            segments(project, shape)
            server = shaped_sandbox(shape, users)
            try:
                for windows in ("false", "true"):
                    (project / "runner.yaml").write_text(RUNNER_YAML % windows)
                    for fmt in ("jsonl", "csv"):
                        url = server.url
                        runs = [
                            (export(project, url, fmt, ROOT), export(project, url, fmt, before))
                            for _ in range(pairs)
                        ]
                        rows.append(_row(shape, f"{fmt}, windows {windows}", runs))
            finally:
                server.stop()
    print(table(rows))
    return 0


def _row(shape: str, label: str, runs: list[tuple[Figures, Figures]]) -> list[str]:
    def median(side: int, key: str) -> float:
        return statistics.median(float(run[side][key]) for run in runs)

    ratio = statistics.median(float(a["cpu"]) / float(b["cpu"]) for a, b in runs)
    same = all(a["sha"] == b["sha"] for a, b in runs)
    return [
        shape,
        label,
        f"{median(0, 'cpu'):.2f} / {median(1, 'cpu'):.2f}",
        f"{ratio:.2f}",
        f"{median(0, 'seconds'):.2f} / {median(1, 'seconds'):.2f}",
        "same" if same else "DIFFERENT",
    ]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
