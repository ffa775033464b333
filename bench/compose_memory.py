"""Memory an exclusion costs: issue 28's target, at most 30 MB more peak RSS to exclude
a 1,000,000-contact segment than to export the segment alone.

.venv/bin/python -m bench.compose_memory [N]    (default 1,000,000; also in `make bench`)

The sandbox (its own process) serves N contacts. Three exports, each a fresh
``segments export`` process whose peak RSS (``ru_maxrss`` from ``wait4``) is its own:

- ``alone``: every contact, to CSV (the bench's nine columns);
- ``exclude``: the same segment with ``exclude: [others]``, where ``others`` selects
  the same N contacts by another request body (so its N ids are fetched and held);
  nothing is left to publish;
- ``only``: ``only: [others]``: the same N ids held, and all N rows published.

The figure is each composed export's peak less ``alone``'s. The ids of ``others`` are
kept as 12-byte digests (runner.fetch.records.SeenIds, about 20 bytes an id with the
table's free slots), never as values or rows.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import CSV_SEGMENT, SandboxProcess, run_export

LIMIT_MB = 30
RUNNER_YAML = "version: 1\ntimezone: UTC\napi: {concurrency: 4, max_pages: 1000000}\n"
# The same contacts as bench-csv's filter, asked with another body: another request.
OTHERS = """\
version: 1
name: others
filter: {isContact: false, applicableFilters: [], tags: []}
output: {path: out/others.csv, columns: [_id]}
"""


def _export(root: Path, url: str, composition: str) -> dict[str, Any]:
    (root / "segments" / "bench.yaml").write_text(CSV_SEGMENT + composition)
    run = run_export(root, url, "bench-csv")
    return {"rows": run.rows, "seconds": run.seconds, "mb": run.max_rss_mb}


def measure_on(url: str, contacts: int, alone: dict[str, Any] | None = None) -> dict[str, Any]:
    """Peak RSS of the three exports (see the module) against the sandbox at ``url``
    (``contacts`` contacts, pages of 200) and the two differences; ``alone``: that export's
    figures when they were just measured against the same sandbox (`make bench`'s memory
    step measures it as the big export's peak), so it is not run twice."""
    with tempfile.TemporaryDirectory(prefix="segments-composemem-") as tmp:
        root = Path(tmp)
        (root / "segments").mkdir()
        (root / "segments" / "others.yaml").write_text(OTHERS)
        (root / "runner.yaml").write_text(RUNNER_YAML)
        runs = {
            "alone": alone or _export(root, url, ""),
            "exclude": _export(root, url, "exclude: [others]\n"),
            "only": _export(root, url, "only: [others]\n"),
        }
    if runs["alone"]["rows"] != contacts or runs["only"]["rows"] != contacts:
        raise RuntimeError(f"expected {contacts:,} rows: {runs}")
    if runs["exclude"]["rows"] != 0:
        raise RuntimeError(f"the exclusion left rows: {runs}")
    base = runs["alone"]["mb"]
    return {
        **runs,
        "exclude_extra_mb": runs["exclude"]["mb"] - base,
        "only_extra_mb": runs["only"]["mb"] - base,
        "limit_mb": LIMIT_MB,
    }


def alone(url: str) -> dict[str, Any]:
    """The export of every contact alone (the baseline of :func:`measure_on`)."""
    with tempfile.TemporaryDirectory(prefix="segments-composemem-") as tmp:
        root = Path(tmp)
        (root / "segments").mkdir()
        (root / "runner.yaml").write_text(RUNNER_YAML)
        return _export(root, url, "")


def measure(contacts: int) -> dict[str, Any]:
    """:func:`measure_on` a sandbox of its own."""
    api = SandboxProcess(contacts, page_size=200)
    try:
        return measure_on(api.url, contacts)
    finally:
        api.stop()


def main() -> int:
    contacts = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    res = measure(contacts)
    print(
        f"{contacts:,} contacts to CSV: alone {res['alone']['mb']:.0f} MB peak RSS "
        f"({res['alone']['seconds']:.0f} s); excluding a {contacts:,}-contact segment "
        f"+{res['exclude_extra_mb']:.1f} MB ({res['exclude']['seconds']:.0f} s), "
        f"only in it +{res['only_extra_mb']:.1f} MB ({res['only']['seconds']:.0f} s); "
        f"limit +{LIMIT_MB} MB"
    )
    worst = max(res["exclude_extra_mb"], res["only_extra_mb"])
    return 0 if worst <= LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
