"""`make bench`: every benchmark target of the project, one step after another.

Each step starts the sandboxes it needs (separate processes) and prints its time:

- ``zero``: zero latency, CSV and JSONL exports of 10,000 and 100,000 contacts against
  the bare ``http.client`` + ``orjson`` loop run just before each (bench/cpu.py), the
  default and, at 100,000, ``api.windows: false`` (issues 7 and 23);
- ``latency``: 10,000 contacts, 50 ms a reply, concurrency 1, 4 and 8 (issue 7);
- ``memory``: peak RSS of CSV exports of 10,000 and of ``BENCH_BIG`` contacts (issue 7),
  and of the big one excluding, then only in, a segment of the same contacts
  (bench/compose_memory.py, issue 28): one run each at the big size;
- ``xlsx``: peak RSS of the big export to XLSX (bench/xlsx_memory.py, issue 6), against
  the memory step's sandbox (generating 1,000,000 contacts takes minutes);
- ``deep``: 34,000 contacts, 10 us a skipped row, against page numbers; capacity 6
  against a fixed 6 (bench/deep.py, issue 17);
- ``shapes``: issue 23's targets on every data shape (bench/shapes.py).

Environment: ``BENCH_ONLY=memory,xlsx`` runs only those steps (in the order above);
``BENCH_BIG=N`` sizes the memory and xlsx steps (default 1,000,000, the targets' size);
``BENCH_RUNS=N`` runs per figure of the zero, latency and 10,000-contact memory
figures (default 3, medians). Writes bench/results.json and prints the tables.
"""

from __future__ import annotations

import difflib
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import compose_memory, xlsx_memory
from bench.common import CSV_SEGMENT, ROOT, SandboxProcess, run_export, table
from bench.cpu import measure as cpu
from bench.deep import measure as deep
from bench.shapes import HEADER as SHAPES_HEADER
from bench.shapes import SHAPES
from bench.shapes import measure as shapes

Row = list[str]
HEADER = ["benchmark", "figure", "ratio", "max RSS"]
LATENCY_YAML = "version: 1\napi: {concurrency: %d, max_pages: 1000000}\ntimezone: UTC\n"


@dataclass(frozen=True)
class Settings:
    """What the environment asks of a run (module docstring)."""

    only: tuple[str, ...]
    big: int = 1_000_000
    runs: int = 3


class UsageError(ValueError):
    """A setting a person can fix: the message names it, its value and the choices."""


def settings_from(env: Mapping[str, str]) -> Settings:
    """``BENCH_ONLY``, ``BENCH_BIG`` and ``BENCH_RUNS`` read and checked."""
    names = [n.strip() for n in env.get("BENCH_ONLY", "").split(",") if n.strip()]
    unknown = [n for n in names if n not in STEPS]
    if unknown:
        near = difflib.get_close_matches(unknown[0], STEPS, 1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        steps = ", ".join(STEPS)
        raise UsageError(f"BENCH_ONLY: unknown step {unknown[0]!r} ({hint}the steps: {steps})")
    only = tuple(n for n in STEPS if n in names) if names else tuple(STEPS)
    return Settings(only, _count(env, "BENCH_BIG", 1_000_000), _count(env, "BENCH_RUNS", 3))


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").replace("_", "").replace(",", "")
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"{name}: {env[name]!r} is not a whole number of at least 1")
    return int(text)


@dataclass
class Context:
    """What the steps share: the settings, a project folder, the figures so far, and the
    big sandbox (started by the first step that needs it, stopped after the last)."""

    settings: Settings
    project: Path
    out: dict[str, Any] = field(default_factory=dict)
    _big: SandboxProcess | None = None

    def big_sandbox(self) -> SandboxProcess:
        if self._big is None:
            self._big = SandboxProcess(self.settings.big, page_size=200)
        return self._big

    def stop_big(self) -> None:
        if self._big is not None:
            self._big.stop()
            self._big = None


def zero(ctx: Context) -> list[Row]:
    """Zero latency against the bare loop: 10,000 (default), 100,000 (windows off, on)."""
    rows: list[Row] = []
    for users, settings in ((10_000, ("true",)), (100_000, ("false", "true"))):
        figures, found = cpu(
            ctx.project / f"zero-{users}", users, ctx.settings.runs, None, settings
        )
        ctx.out[f"zero_{users}"] = figures
        rows += found
    return rows


def latency(ctx: Context) -> list[Row]:
    """10,000 contacts, 50 ms a reply, concurrency 1, 4 and 8 taking turns."""
    project = ctx.project / "latency"
    (project / "segments").mkdir(parents=True)
    (project / "segments" / "csv.yaml").write_text(CSV_SEGMENT)
    seconds: dict[int, list[float]] = {1: [], 4: [], 8: []}
    rss: dict[int, float] = {}
    api = SandboxProcess(10_000, latency_ms=50)
    try:
        for _ in range(ctx.settings.runs):
            for conc in seconds:
                (project / "runner.yaml").write_text(LATENCY_YAML % conc)
                run = run_export(project, api.url, "bench-csv")
                seconds[conc].append(run.seconds)
                rss[conc] = max(rss.get(conc, 0.0), run.max_rss_mb)
    finally:
        api.stop()
    base = statistics.median(seconds[1])
    rows = []
    for conc, runs in seconds.items():
        mid = statistics.median(runs)
        ctx.out[f"latency50_c{conc}"] = {"seconds": mid, "runs": runs, "speedup_vs_c1": base / mid}
        rows.append(
            [
                f"50 ms/page, 10,000, concurrency {conc}",
                f"{mid:.2f} s",
                f"x{base / mid:.1f}",
                f"{rss[conc]:.0f} MB",
            ]
        )
    return rows


def memory(ctx: Context) -> list[Row]:
    """Peak RSS at 10,000 (median of the runs) and, once each, at the big size: alone,
    excluding and only in a segment of the same contacts."""
    small = SandboxProcess(10_000, page_size=200)
    try:
        tens = [compose_memory.alone(small.url) for _ in range(ctx.settings.runs)]
    finally:
        small.stop()
    ten = statistics.median(r["mb"] for r in tens)
    big = ctx.settings.big
    url = ctx.big_sandbox().url
    alone = compose_memory.alone(url)
    composed = compose_memory.measure_on(url, big, alone)
    ctx.out["memory_10000"] = {"max_rss_mb": ten, "runs": [r["mb"] for r in tens]}
    ctx.out[f"memory_{big}"] = {"max_rss_mb": alone["mb"], "seconds": alone["seconds"]}
    ctx.out["memory_ratio"] = alone["mb"] / ten
    ctx.out[f"memory_exclude_{big}"] = composed
    return [
        ["peak memory, 10,000 contacts (csv)", f"{tens[0]['rows']:,} rows", "", f"{ten:.0f} MB"],
        [
            f"peak memory, {big:,} contacts (csv)",
            f"{alone['rows']:,} rows, {alone['seconds']:.0f} s",
            f"{alone['mb'] / ten:.2f} of 10,000",
            f"{alone['mb']:.0f} MB",
        ],
        [
            f"peak memory, excluding a {big:,}-contact segment (csv)",
            f"{composed['exclude_extra_mb']:+.1f} MB (only: {composed['only_extra_mb']:+.1f} MB)",
            f"limit +{composed['limit_mb']} MB",
            f"{composed['exclude']['mb']:.0f} MB",
        ],
    ]


def xlsx(ctx: Context) -> list[Row]:
    """The big export to XLSX, once."""
    big = ctx.settings.big
    ctx.out[f"memory_xlsx_{big}"] = res = xlsx_memory.measure_on(ctx.big_sandbox().url)
    return [
        [
            f"peak memory, {big:,} contacts (xlsx)",
            f"{res['rows']:,} rows, {res['seconds']:.0f} s",
            f"limit {res['limit_mb']} MB",
            f"{res['max_rss_mb']:.0f} MB",
        ]
    ]


def deep_step(ctx: Context) -> list[Row]:
    ctx.out["deep"], rows = deep(ctx.project / "deep")
    return rows


def shapes_step(ctx: Context) -> list[Row]:
    ctx.out["shapes"], rows = shapes(ctx.project / "shapes", SHAPES)
    return rows


# In the order they run; the steps of BENCH_BIG's sandbox are next to each other.
STEPS: dict[str, Callable[[Context], list[Row]]] = {
    "zero": zero,
    "latency": latency,
    "memory": memory,
    "xlsx": xlsx,
    "deep": deep_step,
    "shapes": shapes_step,
}
BIG_STEPS = ("memory", "xlsx")


def run(settings: Settings, project: Path) -> dict[str, Any]:
    """Every step of ``settings``, each timed (wall clock, and the CPU of the processes it
    started: the exports and the sandboxes); the figures and the tables."""
    ctx = Context(settings, project)
    tables: dict[str, list[Row]] = {}
    times: dict[str, dict[str, float]] = {}
    try:
        for name in settings.only:
            print(f"bench: {name} ...", flush=True)
            start, cpu_before = time.perf_counter(), _children_cpu()
            (project / name).mkdir()
            tables[name] = STEPS[name](ctx)
            if not any(n in BIG_STEPS for n in settings.only[settings.only.index(name) + 1 :]):
                ctx.stop_big()
            times[name] = {
                "seconds": time.perf_counter() - start,
                "cpu": _children_cpu() - cpu_before,
            }
            print(f"bench: {name} took {_took(times[name])}", flush=True)
    finally:
        ctx.stop_big()
    return {**ctx.out, "steps": times, "tables": tables}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _took(t: Mapping[str, float]) -> str:
    return f"{t['seconds']:,.0f} s (CPU of its processes {t['cpu']:,.0f} s)"


def report(settings: Settings, figures: dict[str, Any]) -> str:
    """The tables: the figures, the shapes, and each step's time."""
    tables = figures["tables"]
    rows = [row for name, found in tables.items() if name != "shapes" for row in found]
    parts = [table([HEADER, *rows])] if rows else []
    if "shapes" in tables:
        parts.append(table([SHAPES_HEADER, *tables["shapes"]]))
    steps = [[name, _took(t)] for name, t in figures["steps"].items()]
    total = {k: sum(t[k] for t in figures["steps"].values()) for k in ("seconds", "cpu")}
    steps.append(["total", _took(total)])
    parts.append(table([["step", "time"], *steps]))
    parts.append(
        f"BENCH_BIG={settings.big:,} BENCH_RUNS={settings.runs}, {_machine()['cpus']} CPUs"
    )
    return "\n\n".join(parts)


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": _cpu(),
        "load_average": os.getloadavg(),
    }


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(
    env: Mapping[str, str] = os.environ, target: Path = ROOT / "bench" / "results.json"
) -> int:
    try:
        settings = settings_from(env)
    except UsageError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="segments-bench-") as tmp:
        figures = run(settings, Path(tmp))
    text = report(settings, figures)
    print(text)
    out = {"machine": _machine(), "settings": asdict(settings), **figures, "table": text}
    target.write_text(json.dumps(out, indent=2, default=list) + "\n")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
