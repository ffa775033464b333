"""What the benchmarks share: the sandbox as a separate process, the CSV and JSONL segments, a
table.

Every bench module imports from here, and none from another bench module's caller
(``bench.run`` imports ``bench.deep``, ``bench.xlsx_memory`` and ``bench.compose_memory``):
no import cycle.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Shares no 6-character piece with a segment name or path: the redaction masks any
# such piece of the token (runner/fetch/redact.py), a "bench-" in "bench-csv" too.
TOKEN = "tok-Zq9-VERY-SECRET"
TEARDOWN_S = 10  # how long a stopped sandbox may take to exit once it gave its count
# The nine columns of the CSV export (the block under ``output:``); bench.same_bytes adds
# more to them.
COLUMNS = """\
  columns:
    - {name: id, path: _id}
    - {name: name, path: profile.userDetails.name}
    - {name: email, path: profile.userDetails.contact.email}
    - {name: phone, expr: e164(profile.userDetails.contact.phone)}
    - {name: plan, expr: attr("plan")}
    - {name: tags, path: profile.userDetails.tags}
    - {name: country, path: profile.userDetails.country}
    - {name: last_message, path: lastMessage.text}
    - {name: created, path: createdAt}
"""
CSV_SEGMENT = (
    """\
version: 1
name: bench-csv
filter: {isContact: false, applicableFilters: []}
output:
  path: out/bench.csv
"""
    + COLUMNS
)
JSONL_SEGMENT = """\
version: 1
name: bench-jsonl
filter: {isContact: false, applicableFilters: []}
output: {format: jsonl, path: out/bench.jsonl}
"""


@dataclass(frozen=True)
class Export:
    """One ``segments export`` process: its own ``--results`` entry, and what the kernel
    counted for it (``wait4``): peak RSS and CPU seconds, interpreter start-up included."""

    entry: dict[str, Any]
    max_rss_mb: float
    cpu: float

    @property
    def rows(self) -> int:
        return int(self.entry["rows"])

    @property
    def seconds(self) -> float:
        """Counted inside the export, without interpreter start-up."""
        return float(self.entry["seconds"])

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def run_export(
    project: Path, url: str, segment: str, tree: Path = ROOT, args: Sequence[str] = ()
) -> Export:
    """``segments export SEGMENT`` in ``project`` against the sandbox at ``url``, with the
    code of the checkout ``tree`` (``PYTHONPATH``: another checkout's runner, to compare
    before and after with the same bench code)."""
    results = project / "results.json"
    env = {**os.environ, "FLOWMATIX_API_URL": url, "FLOWMATIX_TOKEN": TOKEN}
    env["PYTHONPATH"] = str(tree)
    cmd = [sys.executable, "-m", "runner", "export", segment, "--results", str(results), *args]
    proc = subprocess.Popen(
        cmd, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    # Read before waiting: a full pipe would stop the export; wait4 then gives its rusage.
    with proc.stderr:
        errors = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = errors.decode("utf-8", "replace")[-2000:]
        raise RuntimeError(f"export {segment} with {tree} failed ({proc.returncode}): {tail}")
    (entry,) = json.loads(results.read_text())["results"]
    return Export(entry, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


class SandboxProcess:
    """``segments sandbox`` in its own process on a free port, as every benchmark starts
    it; ``extra``: more of its options (``--shape``, ``--capacity``, ``--anchor``, ...).
    :meth:`stop` ends it as a user would and returns its last count."""

    def __init__(
        self, users: int, latency_ms: float = 0, page_size: int = 50, extra: Sequence[str] = ()
    ) -> None:
        cmd = [sys.executable, "-m", "runner", "sandbox", "--port", "0", "--token", TOKEN]
        cmd += ["--users", str(users), "--page-size", str(page_size)]
        cmd += ["--latency-ms", str(latency_ms), *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        self.url = ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("export FLOWMATIX_API_URL="):
                self.url = line.split("=", 1)[1].strip()
                break
        if not self.url:
            raise RuntimeError("sandbox did not start")

    def stop(self) -> dict[str, int]:
        """SIGTERM (the sandbox's normal end); the requests it served and turned away, from
        its last line (``sandbox: 1,234 requests, 12 turned away (1.0%) at capacity 6``),
        or nothing if it ended without one."""
        self.proc.terminate()
        assert self.proc.stdout is not None
        last = ""
        for line in self.proc.stdout:  # up to its count, not its exit: see below
            if " turned away" in line:
                last = line
                break
        try:
            self.proc.wait(timeout=TEARDOWN_S)
        except subprocess.TimeoutExpired:
            # It has said all it had to: freeing a million contacts' objects took minutes
            # at load 13 (a 200,000-contact one 5 s), CPU the next step would pay for.
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        if not last:
            return {}
        words = last.replace(",", "").split()
        return {"requests": int(words[1]), "turned_away": int(words[3])}


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
