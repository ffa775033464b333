"""Peak memory of an XLSX export: the sandbox + `segments export` with format xlsx.

.venv/bin/python -m bench.xlsx_memory [CONTACTS]     (default 1,000,000: the target is < 100 MB)

The export's own process is measured (wait4's max RSS), the sandbox runs apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import CSV_SEGMENT, TOKEN, SandboxProcess

SEGMENT = CSV_SEGMENT.replace("name: bench-csv", "name: bench-xlsx").replace(
    "  path: out/bench.csv", "  format: xlsx\n  path: out/bench.xlsx"
)


def measure(contacts: int) -> dict[str, Any]:
    """Export ``contacts`` sandbox contacts to XLSX; rows, seconds, bytes and max RSS."""
    with tempfile.TemporaryDirectory(prefix="segments-xlsxmem-") as tmp:
        root = Path(tmp)
        (root / "segments").mkdir()
        (root / "segments" / "xlsx.yaml").write_text(SEGMENT)
        (root / "runner.yaml").write_text("version: 1\ntimezone: UTC\napi: {max_pages: 1000000}\n")
        api = SandboxProcess(contacts, page_size=200)
        try:
            env = {**os.environ, "FLOWMATIX_API_URL": api.url, "FLOWMATIX_TOKEN": TOKEN}
            proc = subprocess.Popen(
                [sys.executable, "-m", "runner", "export", "--results", "r.json"],
                cwd=root,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            api.stop()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError("the xlsx export failed")
        (result,) = json.loads((root / "r.json").read_text())["results"]
        return {
            "rows": result["rows"],
            "seconds": result["seconds"],
            "bytes": result["bytes"],
            "max_rss_mb": usage.ru_maxrss / 1024,
        }


def main() -> int:
    contacts = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    res = measure(contacts)
    print(
        f"{res['rows']:,} rows to XLSX, {res['bytes'] / 2**20:,.0f} MiB, "
        f"{res['seconds']:.0f} s: max RSS {res['max_rss_mb']:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
