"""The same files from two checkouts: CSV, JSONL, XLSX and Parquet, byte for byte.

.venv/bin/python -m bench.same_bytes OTHER_TREE [CONTACTS]

Starts one sandbox (default 20,000 contacts, about one in ten hostile: quotes, line
breaks, formula starts, emoji, empty names) and exports each segment of
:data:`SEGMENTS` twice, at one ``--as-of``: with this checkout's code and with
OTHER_TREE's (``PYTHONPATH``). CSV, JSONL and Parquet files must be equal byte for
byte; an XLSX file is a zip whose ``docProps/core.xml`` holds the time it was made,
so there every member must be equal and that one equal once its dates are masked.
Prints one line a segment and exits 1 on any difference. A speed change that keeps
the output has to pass this against main.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bench import common
from bench.common import ROOT, TOKEN, SandboxProcess

AS_OF = "2030-01-01T00:00:00Z"
FILTER = "filter: {isContact: false, applicableFilters: []}"
COLUMNS = (
    common.COLUMNS
    + """\
    - {name: country_or_none, path: profile.userDetails.country, default: "=none"}
    - {name: online, path: isOnline}
    - {name: version, path: __v}
    - {name: notes, path: profile.notes}
    - {name: first_tag, expr: first(profile.userDetails.tags)}
    - {name: tag_count, expr: count(profile.userDetails.tags)}
"""
)
# name -> (output path, the rest of the output block: format, options, columns).
SEGMENTS = {
    "csv-columns": ("a.csv", COLUMNS),
    "csv-every-field": ("b.csv", ""),
    "csv-semicolon-bom-gzip": (
        "c.csv.gz",
        "  compression: gzip\n  csv: {delimiter: ';', bom: true, list_separator: ', '}\n" + COLUMNS,
    ),
    "tsv-no-guard": ("d.tsv", "  csv: {delimiter: '\t', formula_guard: false}\n" + COLUMNS),
    "csv-space": ("e.csv", "  csv: {delimiter: ' '}\n" + COLUMNS),
    "csv-one-column": ("f.csv", "  columns: [{name: name, path: profile.userDetails.name}]\n"),
    "csv-preset": ("g.csv", "  preset: klaviyo\n"),
    "jsonl-raw": ("h.jsonl", "  format: jsonl\n"),
    "jsonl-columns": ("i.jsonl", "  format: jsonl\n" + COLUMNS),
    "xlsx-columns": ("j.xlsx", "  format: xlsx\n" + COLUMNS),
    "parquet-columns": ("k.parquet", "  format: parquet\n" + COLUMNS),
    "parquet-every-field": ("l.parquet", "  format: parquet\n"),
}
_DATES = re.compile(rb"<dcterms:(created|modified)[^>]*>[^<]*<")


def write_project(root: Path) -> None:
    (root / "segments").mkdir(parents=True)
    (root / "runner.yaml").write_text("version: 1\napi: {max_pages: 1000000}\ntimezone: UTC\n")
    for name, (path, output) in SEGMENTS.items():
        text = f"version: 1\nname: {name}\n{FILTER}\noutput:\n  path: out/{path}\n{output}"
        (root / "segments" / f"{name}.yaml").write_text(text)


def export_all(root: Path, url: str, code: Path) -> None:
    env = {**os.environ, "FLOWMATIX_API_URL": url, "FLOWMATIX_TOKEN": TOKEN}
    env["PYTHONPATH"] = str(code)
    command = [sys.executable, "-m", "runner", "export", "--as-of", AS_OF]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"export with {code} failed:\n{done.stdout}{done.stderr}")


def differences(ours: bytes, theirs: bytes, xlsx: bool) -> str:
    """'' when the two files hold the same export, else what differs."""
    if not xlsx:
        return "" if ours == theirs else f"{len(ours):,} bytes vs {len(theirs):,}, not equal"
    with zipfile.ZipFile(io.BytesIO(ours)) as a, zipfile.ZipFile(io.BytesIO(theirs)) as b:
        if a.namelist() != b.namelist():
            return "different zip members"
        for name in a.namelist():
            left, right = a.read(name), b.read(name)
            if name == "docProps/core.xml":
                left, right = _DATES.sub(b"<", left), _DATES.sub(b"<", right)
            if left != right:
                return f"{name} differs"
    return ""


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    other = Path(argv[0]).resolve()
    users = int(argv[1]) if len(argv) > 1 else 20_000
    failed = 0
    with tempfile.TemporaryDirectory(prefix="segments-same-") as tmp:
        ours, theirs = Path(tmp) / "ours", Path(tmp) / "theirs"
        write_project(ours)
        write_project(theirs)
        api = SandboxProcess(users)
        try:
            export_all(ours, api.url, ROOT)
            export_all(theirs, api.url, other)
        finally:
            api.stop()
        for name, (path, _) in SEGMENTS.items():
            mine = (ours / "out" / path).read_bytes()
            problem = differences(
                mine, (theirs / "out" / path).read_bytes(), path.endswith(".xlsx")
            )
            failed += bool(problem)
            print(f"{name:24s} {path:10s} {len(mine):>12,} bytes  {problem or 'same'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
