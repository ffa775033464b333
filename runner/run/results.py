"""The ``--results`` file: every segment's record
(:class:`~runner.run.record.ExportResult`), as JSON."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runner import __version__
from runner.run.record import DONE, ExportResult
from runner.sinks.local import write_atomically
from runner.spec.workspace import Workspace


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def results_document(
    ws: Workspace, results: Sequence[ExportResult], args: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "metadata": {
            "runner_version": __version__,
            "generated_at": _utc_now(),
            "as_of": ws.clock.iso(),
        },
        "args": dict(args),
        "results": [r.as_json() for r in results],
        "elapsed_seconds": round(sum(r.seconds for r in results), 3),
        "success": all(r.status in DONE for r in results),
    }


def write_results(path: Path, document: Mapping[str, Any]) -> None:
    """The results file, whole or not at all; DestinationError names the path and reason."""
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    write_atomically(path, text.encode("utf-8", "surrogatepass"))
