"""What the benchmarks share: the sandbox as a separate process, the CSV and JSONL segments, a
table.

Every bench module imports from here, and none from another bench module's caller
(``bench.run`` imports ``bench.deep``, ``bench.xlsx_memory`` and ``bench.compose_memory``):
no import cycle.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Shares no 6-character piece with a segment name or path: the redaction masks any
# such piece of the token (runner/fetch/redact.py), a "bench-" in "bench-csv" too.
TOKEN = "tok-Zq9-VERY-SECRET"
CSV_SEGMENT = """\
version: 1
name: bench-csv
filter: {isContact: false, applicableFilters: []}
output:
  path: out/bench.csv
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
JSONL_SEGMENT = """\
version: 1
name: bench-jsonl
filter: {isContact: false, applicableFilters: []}
output: {format: jsonl, path: out/bench.jsonl}
"""


class SandboxProcess:
    def __init__(self, users: int, latency_ms: float = 0, page_size: int = 50) -> None:
        cmd = [
            sys.executable,
            "-m",
            "runner",
            "sandbox",
            "--port",
            "0",
            "--users",
            str(users),
            "--token",
            TOKEN,
            "--page-size",
            str(page_size),
            "--latency-ms",
            str(latency_ms),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.url = ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("export FLOWMATIX_API_URL="):
                self.url = line.split("=", 1)[1].strip()
                break
        if not self.url:
            raise RuntimeError("sandbox did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
