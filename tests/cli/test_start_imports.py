"""What a command loads: `segments validate` starts in a fresh interpreter without the
libraries only exports use (each costs every `segments` start its import time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import cli_env, run_cli

# A fresh interpreter (this process has imported everything): it validates, then says
# which of these it loaded.
PROBE = """\
import json, sys
from runner.cli import main
code = main(["validate"])
print(json.dumps({"code": int(code), "loaded": sorted(set(sys.argv[1:]) & set(sys.modules))}))
"""
EXPORT_ONLY = [
    "apprise",  # notify
    "boto3",  # s3
    "botocore",
    "openpyxl",
    "phonenumbers",  # phone columns and phone_region
    "pyarrow",  # parquet
    "requests",  # fetch
    "tenacity",
    "urllib3",
    "xlsxwriter",  # xlsx
]


def test_validate_loads_none_of_the_export_libraries(tmp_path: Path) -> None:
    assert run_cli("init", cwd=tmp_path).returncode == 0
    # the scaffolded segment has a phone column (e164), checked without libphonenumber;
    # a segment that names a phone_region loads it to check the region
    assert "e164(" in (tmp_path / "segments" / "recent-vip-contacts.yaml").read_text("utf-8")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *EXPORT_ONLY],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(done.stdout.splitlines()[-1])
    assert "1 segment valid" in done.stdout, done.stdout + done.stderr
    assert report == {"code": 0, "loaded": []}
