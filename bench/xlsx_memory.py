"""Peak memory of an XLSX export: the sandbox + `segments export` with format xlsx.

.venv/bin/python -m bench.xlsx_memory [CONTACTS]     (default 1,000,000: the target is < 100 MB)

The export's own process is measured (wait4's max RSS), the sandbox runs apart.
`make bench` runs it as its `xlsx` step, against the sandbox its `memory` step uses.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import CSV_SEGMENT, SandboxProcess, run_export

SEGMENT = CSV_SEGMENT.replace("name: bench-csv", "name: bench-xlsx").replace(
    "  path: out/bench.csv", "  format: xlsx\n  path: out/bench.xlsx"
)
LIMIT_MB = 100


def measure_on(url: str) -> dict[str, Any]:
    """Export every contact of the sandbox at ``url`` to XLSX (pages of 200 are the
    sandbox's part); rows, seconds, bytes and max RSS."""
    with tempfile.TemporaryDirectory(prefix="segments-xlsxmem-") as tmp:
        root = Path(tmp)
        (root / "segments").mkdir()
        (root / "segments" / "xlsx.yaml").write_text(SEGMENT)
        (root / "runner.yaml").write_text("version: 1\ntimezone: UTC\napi: {max_pages: 1000000}\n")
        run = run_export(root, url, "bench-xlsx")
    return {
        "rows": run.rows,
        "seconds": run.seconds,
        "bytes": run.entry["bytes"],
        "max_rss_mb": run.max_rss_mb,
        "limit_mb": LIMIT_MB,
    }


def measure(contacts: int) -> dict[str, Any]:
    """:func:`measure_on` a sandbox of ``contacts`` contacts, pages of 200."""
    api = SandboxProcess(contacts, page_size=200)
    try:
        return measure_on(api.url)
    finally:
        api.stop()


def main() -> int:
    contacts = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    res = measure(contacts)
    print(
        f"{res['rows']:,} rows to XLSX, {res['bytes'] / 2**20:,.0f} MiB, "
        f"{res['seconds']:.0f} s: max RSS {res['max_rss_mb']:.0f} MB"
    )
    return 0 if res["max_rss_mb"] < LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
