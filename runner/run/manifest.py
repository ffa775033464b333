"""The manifest written next to each export: what was asked, what came back, and its hash.

A reader trusts a manifest only for the file beside it whose ``sha256`` and ``bytes``
it matches (README "Manifests").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from runner import __version__
from runner.locations import public_url
from runner.run.plan import Plan
from runner.run.record import ExportResult
from runner.spec.segment import Segment
from runner.spec.workspace import Workspace


def git_blob_id(path: Path) -> str | None:
    """The git blob id of ``path``'s content when it lies in a git work tree."""
    resolved = path.resolve()
    if not any((parent / ".git").exists() for parent in resolved.parents):
        return None
    try:
        data = resolved.read_bytes()
    except OSError:
        return None
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


# The manifest's keys, in file order (README "Manifests"). A figure of the run's record
# appears under its own name, except these four.
ORDER = (
    *("segment", "source_file", "source_git_blob", "request", "as_of", "variables"),
    *("started_at", "finished_at", "pages", "rows", "duplicates_dropped"),
    *("dropped_unmatchable", "invalid_phones", "after_as_of", "api_clock_skew_seconds"),
    *("without_created_at", "retries", "reread_after_churn"),
    *("concurrency", "created_at_windows", "paging_note", "format", "compression"),
    *("preset", "columns", "destination", "bytes", "sha256", "runner_version", "history"),
    "empty_columns",
)
RENAMED = {
    "duplicates": "duplicates_dropped",
    "reread": "reread_after_churn",
    "windows": "created_at_windows",
    "note": "paging_note",
    "api_clock_skew": "api_clock_skew_seconds",
}


def history_fields(
    plan: Plan, accepted_change: bool, delta: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The manifest's ``history``: the mode, an incremental run's window, whether
    ``--accept-change`` let it through, and the delta files (``delta``, if any)."""
    fields: dict[str, Any] = {"mode": plan.seg.mode}
    if plan.window is not None:
        fields["created_at"] = plan.window.created_at
    if accepted_change:
        fields["accepted_change"] = True
    if delta is not None:
        fields["delta"] = delta
    return fields


@dataclass(frozen=True)
class Manifest:
    """One export's manifest: what was asked, the run's record, its history and parts."""

    result: ExportResult  # the figures: the same record the history and the summary show
    source_file: str
    request: Mapping[str, Any]  # method, url (without credentials), body
    as_of: str
    variables: Mapping[str, str]
    format: str
    compression: str
    preset: str | None
    columns: list[str]
    history: Mapping[str, Any]  # mode, incremental window, delta files, accepted change
    # output.split: every part in order (number, rows, bytes, sha256, destination); then
    # ``bytes`` and ``sha256`` are those of the parts joined. Left out when not split.
    parts: Sequence[Mapping[str, Any]] | None = None
    # exclude, only, holdout (runner.run.compose): left out when the segment has none
    audience: Mapping[str, Any] | None = None
    source_git_blob: str | None = None
    runner_version: str = __version__

    @classmethod
    def of(
        cls,
        seg: Segment,
        ws: Workspace,
        result: ExportResult,
        columns: list[str],
        history: Mapping[str, Any],
        parts: Sequence[Mapping[str, Any]] | None = None,
        audience: Mapping[str, Any] | None = None,
    ) -> Manifest:
        """The manifest of ``seg``'s run whose record is ``result``."""
        output = seg.output
        request = {"method": "POST", "url": public_url(ws.project.api.url), "body": seg.body}
        return cls(
            result,
            seg.file,
            request,
            ws.clock.iso(),
            dict(ws.variables),
            output.format,
            output.compression,
            output.preset,
            columns,
            history,
            parts,
            audience,
            git_blob_id(Path(seg.file)),
        )

    def document(self) -> dict[str, Any]:
        """The manifest as JSON values, the keys in file order (``parts`` only when split)."""
        figures = {RENAMED.get(k, k): v for k, v in self.result.as_json().items()}
        figures["without_created_at"] = {
            "count": self.result.undated,
            "exported": self.result.undated_included,
        }
        figures["concurrency"] = {
            "auto": self.result.auto_concurrency,
            "settled": self.result.concurrency,
        }
        asked = dict(vars(self))  # what was asked, and the record itself (not a key)
        values = {**figures, **asked}
        fields = {key: values[key] for key in ORDER}
        if self.audience is not None:
            fields["audience"] = self.audience
        if self.parts is not None:
            fields["part_count"], fields["parts"] = len(self.parts), list(self.parts)
        return fields

    def to_bytes(self, scrub: Callable[[Any], Any] | None = None) -> bytes:
        """Indented JSON and a newline; ``scrub`` masks the API token in the whole
        document (the export's redaction)."""
        document = self.document()
        document = scrub(document) if scrub is not None else document
        return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
