"""`make bench`: is the runner limited by the network, not by itself?

Starts the sandbox (a separate process) and measures, in one run:
1. the limit: a bare requests.Session loop posting page 1..N and parsing each reply
   (run just before each export, so each ratio compares neighbours in time);
2. `segments export` to CSV (nested columns + a computed phone) and JSONL, 10k and 100k contacts;
3. 50 ms added per page at --concurrency 1, 4 and 8;
4. peak memory (max RSS) of exports of 10k and 1M contacts, of 1M contacts to XLSX, and
   what excluding a 1M-contact segment adds (bench/compose_memory.py).
5. deep lists and busy servers (bench/deep.py): createdAt windows against page numbers
   on a server that pays for skipped rows; concurrency auto against a fixed 6 on a
   server that serves 6 at once.
6. zero latency, 100,000 contacts (bench/cpu.py): JSONL and CSV exports over the
   http.client + orjson loop (bench/bare_loop.py), windows off and on.
7. issue 23's targets on every data shape (bench/shapes.py), one row a shape.
Each figure is the median of several runs; ratios come from the same run.
Writes bench/results.json and prints a table.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import requests

from bench.common import CSV_SEGMENT, JSONL_SEGMENT, ROOT, TOKEN, SandboxProcess, table
from bench.compose_memory import measure as compose_measure
from bench.cpu import measure as cpu
from bench.deep import measure as deep
from bench.xlsx_memory import measure as xlsx_measure
from runner.spec.schema import filter_defaults

# Zero-latency ratios swing with this VM's neighbours: more runs. Latency and memory
# figures barely move: fewer.
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
STEADY_RUNS = min(RUNS, 3)
BIG = int(os.environ.get("BENCH_BIG", "1000000"))

BODY = {"isContact": False, "applicableFilters": []}
RUNNER_YAML = """\
version: 1
api: {concurrency: %d, max_pages: 1000000}
timezone: UTC
"""


def bare_loop(url: str) -> tuple[float, int]:
    """Records per second of the plainest client: post, parse, next page, write nothing."""
    body = {**filter_defaults(), **BODY, "isExport": "none"}
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "authtype": "Key",
        "Content-Type": "application/json",
    }
    records = 0
    start = time.perf_counter()
    with requests.Session() as session:
        page = 1
        while True:
            body["page"] = page
            reply = session.post(url + "/inbox/users", data=orjson.dumps(body), headers=headers)
            data = orjson.loads(reply.content)["data"]
            if not data:
                break
            records += len(data)
            page += 1
    return records / (time.perf_counter() - start), records


def export(project: Path, url: str, segment: str, concurrency: int) -> dict[str, Any]:
    (project / "runner.yaml").write_text(RUNNER_YAML % concurrency)
    results = project / "results.json"
    env = {**os.environ, "FLOWMATIX_API_URL": url, "FLOWMATIX_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            "export",
            segment,
            "--results",
            str(results),
            "--progress",
            "log",
        ],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"export {segment} failed")
    (entry,) = json.loads(results.read_text())["results"]
    return {
        "rows": entry["rows"],
        "seconds": entry["seconds"],
        "max_rss_mb": usage.ru_maxrss / 1024,
        "rate": entry["rows"] / entry["seconds"],
    }


def median(values: list[float]) -> float:
    return statistics.median(values)


def repeat(fn: Callable[[], dict[str, Any]], key: str) -> dict[str, Any]:
    runs = [fn() for _ in range(STEADY_RUNS)]
    return {**runs[0], key: median([r[key] for r in runs]), "runs": [r[key] for r in runs]}


Row = list[str]


def main() -> int:
    out: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "processor": _cpu(),
        },
        "runs_per_figure": {"zero_latency": RUNS, "latency_and_memory": STEADY_RUNS},
    }
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="segments-bench-") as tmp:
        project = Path(tmp)
        (project / "segments").mkdir()
        (project / "segments" / "csv.yaml").write_text(CSV_SEGMENT)
        (project / "segments" / "jsonl.yaml").write_text(JSONL_SEGMENT)
        for users in (10_000, 100_000):
            rows += zero_latency(project, users, out)
        rows += latency(project, out)
        rows += memory(project, out)

        out["deep"], deep_rows = deep(project)
        rows += deep_rows
        # Issue 23's zero-latency targets: JSONL and CSV over the http.client loop.
        out["cpu"], cpu_rows = cpu(project / "cpu")
        rows += cpu_rows
        from bench.shapes import HEADER, SHAPES  # here: it imports this module
        from bench.shapes import measure as shapes

        out["shapes"], shape_rows = shapes(project, SHAPES)

    text = table([["benchmark", "figure", "ratio", "max RSS"], *rows])
    text += "\n\n" + table([HEADER, *shape_rows])
    print(text)
    out["table"] = text
    target = ROOT / "bench" / "results.json"
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


def zero_latency(project: Path, users: int, out: dict[str, Any]) -> list[Row]:
    """Exports of ``users`` contacts to CSV and JSONL at concurrency 1 and 4, each run
    beside a bare loop run just before it."""
    rows: list[Row] = []
    api = SandboxProcess(users)
    try:
        bare_loop(api.url)  # warm the sandbox's filter cache
        for fmt in ("csv", "jsonl"):
            for conc in (1, 4):
                # Interleave: each export is compared with a bare loop run just
                # before it, so a noisy neighbour hits both sides of a ratio.
                bares, rates = [], []
                for _ in range(RUNS):
                    bares.append(bare_loop(api.url)[0])
                    rates.append(export(project, api.url, f"bench-{fmt}", conc)["rate"])
                ratios = [r / b for r, b in zip(rates, bares, strict=True)]
                entry = {
                    "rate": median(rates),
                    "bare": median(bares),
                    "ratio_to_bare": median(ratios),
                    "ratios": ratios,
                }
                out[f"export_{fmt}_{users}_c{conc}"] = entry
                rows.append(
                    [
                        f"export {fmt}, {users:,}, concurrency {conc}",
                        f"{entry['rate']:,.0f} rec/s (bare {entry['bare']:,.0f})",
                        f"{entry['ratio_to_bare']:.2f}",
                        "",
                    ]
                )
    finally:
        api.stop()
    return rows


def latency(project: Path, out: dict[str, Any]) -> list[Row]:
    """10,000 contacts with 50 ms added per page, at concurrency 1, 4 and 8."""
    rows: list[Row] = []
    api = SandboxProcess(10_000, latency_ms=50)
    try:
        base = None
        for conc in (1, 4, 8):
            res = repeat(lambda conc=conc: export(project, api.url, "bench-csv", conc), "seconds")
            base = base or res["seconds"]
            speedup = base / res["seconds"]
            out[f"latency50_c{conc}"] = {**res, "speedup_vs_c1": speedup}
            rows.append(
                [
                    f"50 ms/page, 10,000, concurrency {conc}",
                    f"{res['seconds']:.2f} s",
                    f"x{speedup:.1f}",
                    f"{res['max_rss_mb']:.0f} MB",
                ]
            )
    finally:
        api.stop()
    return rows


def memory(project: Path, out: dict[str, Any]) -> list[Row]:
    """Peak memory of CSV exports of 10,000 and BIG contacts, and of BIG to XLSX."""
    rows: list[Row] = []
    mem: dict[int, float] = {}
    for users in (10_000, BIG):
        api = SandboxProcess(users, page_size=200)
        try:
            res = repeat(lambda url=api.url: export(project, url, "bench-csv", 4), "max_rss_mb")
            mem[users] = res["max_rss_mb"]
            out[f"memory_{users}"] = res
            rows.append(
                [
                    f"peak memory, {users:,} contacts (csv)",
                    f"{res['rows']:,} rows",
                    "",
                    f"{res['max_rss_mb']:.0f} MB",
                ]
            )
        finally:
            api.stop()
    out["memory_ratio"] = mem[BIG] / mem[10_000]
    rows.append([f"memory {BIG:,} / 10,000", "", f"{out['memory_ratio']:.2f}", ""])

    out[f"memory_xlsx_{BIG}"] = xlsx = xlsx_measure(BIG)
    rows.append(
        [
            f"peak memory, {BIG:,} contacts (xlsx)",
            f"{xlsx['rows']:,} rows, {xlsx['seconds']:.0f} s",
            "",
            f"{xlsx['max_rss_mb']:.0f} MB",
        ]
    )
    out[f"memory_exclude_{BIG}"] = composed = compose_measure(BIG)
    rows.append(
        [
            f"peak memory, excluding a {BIG:,}-contact segment (csv)",
            f"+{composed['exclude_extra_mb']:.1f} MB (only: +{composed['only_extra_mb']:.1f} MB)",
            f"limit +{composed['limit_mb']} MB",
            f"{composed['exclude']['mb']:.0f} MB",
        ]
    )
    return rows


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
