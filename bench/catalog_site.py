"""`segments catalog` at scale: 500 segments with 365 runs each (targets: under 10 s on
2 cores, the site under 25 MB; the page interactive in under 2 s is measured by the
browser test tests/browser/test_catalog_page.py on the same project).

.venv/bin/python -m bench.catalog_site [SEGMENTS RUNS]

The project is written in a second: segment files of several shapes (tags, bots,
ranges, presets, splits, deltas), and each segment's history as the local store
keeps it (``runs.jsonl``, one :class:`RunRecord` a line: real records, written
directly instead of by 182,500 exports). Then `segments catalog` runs as a user
types it, as a child process; the median of three runs is printed with the site's size.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from runner.history.layout import HISTORY_DIR
from runner.history.record import RunRecord, RunStatus, new_run_id, utc_text

SEGMENTS, RUNS = 500, 365
END = dt.datetime(2026, 11, 25, 5, tzinfo=dt.UTC)
OWNERS = ["ana@example.com", "bo@example.com", "chen@example.com", "dee@example.com"]
SHAPES = [
    "  tags: [vip{i}]\n  applicableFilters: [lastSeenAt]\n  lastSeenAt:\n"
    '    {{startAt: "{{{{ now | minus(days=7) | api }}}}", endsAt: "{{{{ now | api }}}}"}}\n',
    "  _botWhatsapp: ['64f1a2b3c4d5e6f7a8b9{i:04x}']\n  status: [OPEN, ONHOLD]\n"
    "  applicableFilters: [userInteracted]\n",
    "  isContact: false\n  applicableFilters: [createdAt]\n"
    '  createdAt: {{startAt: "{{{{ now | minus(days=30) | api }}}}", endsAt: ""}}\n',
]
OUTPUTS = [
    "output: {{path: out/{name}.csv}}\n",
    "output: {{path: out/{name}.jsonl, format: jsonl, delta: true}}\n",
    "output: {{path: out/{name}.csv, preset: meta_custom_audience}}\n",
]


def segment_file(i: int) -> str:
    name = f"segment-{i:04d}"
    return (
        f"version: 1\nname: {name}\nowner: {OWNERS[i % len(OWNERS)]}\n"
        f"description: Audience number {i} for the weekly campaign.\n"
        f"labels: [daily, team-{i % 7}]\nfilter:\n{SHAPES[i % len(SHAPES)].format(i=i)}"
        + OUTPUTS[i % len(OUTPUTS)].format(name=name)
        + ("expect: {fresh_within: 26h}\n" if i % 2 else "")
    )


def history_lines(name: str, runs: int, delta: bool, rng: random.Random) -> bytes:
    """``runs`` daily runs as ``runs.jsonl`` holds them: each line is a real record's
    ``to_dict()`` with its values changed (building 182,500 RunRecords takes a minute;
    the catalog reads them back through RunRecord, which checks every line)."""
    template = RunRecord(
        run_id=new_run_id(utc_text(END)), segment=name, status=RunStatus.SUCCESS, ended=""
    ).to_dict()
    rows = rng.randrange(1_000, 200_000)
    lines = []
    for day in range(runs):
        ended = utc_text(END - dt.timedelta(days=runs - 1 - day, seconds=-rng.randrange(600)))
        failed = rng.random() < 0.02
        rows = max(0, rows + rng.randrange(-rows // 50 - 1, rows // 40 + 2))
        stamp = ended.replace("-", "").replace(":", "")
        changes = {
            "run_id": f"{stamp}-{rng.getrandbits(48):012x}",
            "status": "failed" if failed else "success",
            "ended": ended,
            "seconds": round(rng.uniform(5, 300), 3),
            "rows": 0 if failed else rows,
            "body_fingerprint": f"{rng.getrandbits(256):064x}",
            "git_commit": f"{(day // 30) * 7919:040x}",
            "error": "page 3: HTTP 500 from the API" if failed else "",
            "added": rng.randrange(500) if delta and not failed else None,
            "removed": rng.randrange(500) if delta and not failed else None,
        }
        lines.append(orjson.dumps({**template, **changes}))
    assert RunRecord.from_json(lines[-1]).ended == ended  # the lines are records
    return b"\n".join(lines) + b"\n"


def make_project(root: Path, segments: int = SEGMENTS, runs: int = RUNS) -> Path:
    """A project of ``segments`` segment files and ``runs`` recorded runs each; the last
    segment has never run (the catalog must not show it fresh)."""
    rng = random.Random(26)
    (root / "segments").mkdir(parents=True)
    (root / "runner.yaml").write_text("version: 1\ntimezone: UTC\noutput_root: .\n", "utf-8")
    for i in range(segments):
        name = f"segment-{i:04d}"
        (root / "segments" / f"{name}.yaml").write_text(segment_file(i), "utf-8")
        if i == segments - 1:
            continue
        folder = root / HISTORY_DIR / name
        folder.mkdir(parents=True)
        delta = OUTPUTS[i % len(OUTPUTS)].find("delta") >= 0
        (folder / "runs.jsonl").write_bytes(history_lines(name, runs, delta, rng))
    return root


def site_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> int:
    segments, runs = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (SEGMENTS, RUNS)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        project = make_project(Path(tmp) / "project", segments, runs)
        made = time.perf_counter() - start
        times = []
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "runner", "-C", str(project), "catalog", "--out", "site"],
                check=True,
                capture_output=True,
                cwd=project,
            )
            times.append(time.perf_counter() - start)
        size = site_bytes(project / "site")
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = (used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime) / 3
    print(
        f"{segments} segments x {runs} runs (project written in {made:.1f} s): "
        f"segments catalog {statistics.median(times):.2f} s (median of 3: "
        f"{', '.join(f'{t:.2f}' for t in times)}), {cpu_s:.2f} s of CPU each, "
        f"site {size / 1e6:.1f} MB; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
