"""What ``output.delta`` costs a whole export: peak RSS and seconds of ``segments export``
with and without it, against a sandbox of N contacts in its own process.

.venv/bin/python -m bench.delta_export [N]    (default 1,000,000)

Runs, in one project: plain, delta (the first: no snapshot yet, every row added),
delta again (1,000,000 ids compared with the stored snapshot), plain again. Each
export runs in a fresh child whose peak RSS (ru_maxrss) is read by its parent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import TOKEN, SandboxProcess

SEGMENT = """\
version: 1
name: {name}
filter: {{isContact: false, applicableFilters: []}}
output: {{path: out/{name}.csv, delta: {delta}, columns: [_id, createdAt]}}
"""
MEASURE = """\
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def project(root: Path) -> None:
    (root / "segments").mkdir(parents=True)
    (root / "runner.yaml").write_text("version: 1\n")
    for name, delta in (("plain", "false"), ("delta", "true")):
        (root / "segments" / f"{name}.yaml").write_text(SEGMENT.format(name=name, delta=delta))


def export(root: Path, name: str, url: str) -> tuple[int, float, float]:
    env = {**os.environ, "FLOWMATIX_API_URL": url, "FLOWMATIX_TOKEN": TOKEN}
    started = time.monotonic()
    command = [sys.executable, "-m", "runner", "export", name]
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], cwd=root, env=env, capture_output=True, text=True
    )
    code, peak = done.stdout.split()
    return int(code), float(peak), time.monotonic() - started


def main(users: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="delta-export-"))
    project(root)
    api = SandboxProcess(users, page_size=1000, extra=["--anchor", "2026-11-25T00:00:00Z"])
    try:
        print(f"{users:,} contacts; peak RSS of segments export (MB) and seconds")
        for name in ("plain", "delta", "delta", "plain"):
            code, peak, seconds = export(root, name, api.url)
            print(f"{name:6} exit {code}  {peak:7.1f} MB  {seconds:6.1f} s")
    finally:
        api.stop()
        shutil.rmtree(root)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
