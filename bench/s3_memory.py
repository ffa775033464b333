"""Peak memory of a large S3 export: moto's server + the sandbox + `segments export`.

.venv/bin/python -m bench.s3_memory [CONTACTS]     (default 300,000: ~290 MB of JSONL)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import TOKEN, SandboxProcess
from tests.integration.s3servers import run_server

SEGMENT = """\
version: 1
name: big
filter: {isContact: false, applicableFilters: []}
output:
  format: jsonl
  path: s3://exports/big/all.jsonl
  s3: {part_size_mb: 8}
"""


def main() -> int:
    contacts = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    with tempfile.TemporaryDirectory(prefix="segments-s3mem-") as tmp:
        root = Path(tmp)
        (root / "segments").mkdir()
        (root / "segments" / "big.yaml").write_text(SEGMENT)
        (root / "runner.yaml").write_text("version: 1\ntimezone: UTC\n")
        api = SandboxProcess(contacts, page_size=200)
        try:
            with run_server("moto", root) as s3:
                s3.client().create_bucket(Bucket="exports")
                env = {**os.environ, "FLOWMATIX_API_URL": api.url, "FLOWMATIX_TOKEN": TOKEN}
                env.update({k: v for k, v in s3.env().items() if v is not None})
                proc = subprocess.Popen(
                    [sys.executable, "-m", "runner", "export", "--results", "r.json"],
                    cwd=root,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                _, _, usage = os.wait4(proc.pid, 0)
                (result,) = json.loads((root / "r.json").read_text())["results"]
                size = s3.client().head_object(Bucket="exports", Key="big/all.jsonl")[
                    "ContentLength"
                ]
        finally:
            api.stop()
    print(
        f"{result['rows']:,} rows, {size / 2**20:,.0f} MiB object in 8 MiB parts, "
        f"{result['seconds']:.1f} s, status {result['status']}: "
        f"max RSS {usage.ru_maxrss / 1024:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
