"""The manifest written next to each export: what was asked, what came back, and its hash.

A reader trusts a manifest only for the file beside it whose ``sha256`` and ``bytes``
it matches (README "Manifests").
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


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


@dataclass(frozen=True)
class Manifest:
    """One export's manifest; the fields appear in the file in this order."""

    segment: str
    source_file: str
    source_git_blob: str | None
    request: Mapping[str, Any]  # method, url (without credentials), body
    as_of: str
    variables: Mapping[str, str]
    started_at: str
    finished_at: str
    pages: int
    rows: int
    duplicates_dropped: int
    dropped_unmatchable: int
    invalid_phones: int  # phone numbers libphonenumber says are not valid: left empty
    after_as_of: int  # contacts created after the as-of: left for the next run
    api_clock_skew_seconds: float | None  # the API's clock ahead of ours (Date header)
    without_created_at: Mapping[str, Any]  # incremental: count, exported (a first run) or not
    retries: int
    reread_after_churn: bool
    concurrency: Mapping[str, Any]  # auto (found as the run went) or not; settled: at what
    created_at_windows: int  # 0: the list was paged by page number only
    paging_note: str  # why the run stopped reading windows, if it did
    format: str
    compression: str
    preset: str | None
    columns: list[str]
    destination: str
    bytes: int
    sha256: str
    runner_version: str
    history: Mapping[str, Any]  # mode, incremental window, delta files, accepted change
    # output.columns that had no value in any row (a path the data never has)
    empty_columns: Sequence[str] = ()
    # output.split: every part in order (number, rows, bytes, sha256, destination); then
    # ``bytes`` and ``sha256`` are those of the parts joined. Left out when not split.
    parts: Sequence[Mapping[str, Any]] | None = None
    # exclude, only, holdout (runner.run.compose): left out when the segment has none
    audience: Mapping[str, Any] | None = None

    def to_bytes(
        self, scrub: Callable[[Any], Any] | None = None
    ) -> builtins.bytes:  # (a field is named bytes)
        """Indented JSON and a newline, the keys in field order (``parts`` only when split);
        ``scrub`` masks the API token in the whole document (the export's redaction)."""
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        parts, audience = fields.pop("parts"), fields.pop("audience")
        if audience is not None:
            fields["audience"] = audience
        if parts is not None:
            fields["part_count"], fields["parts"] = len(parts), list(parts)
        document = scrub(fields) if scrub is not None else fields
        return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"
