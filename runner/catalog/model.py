"""What the catalog page shows, as plain JSON-ready values: the data model, apart from
the HTML that displays it (:mod:`runner.catalog.page`).

The page embeds :class:`CatalogData` in ``<script type="application/json"
id="catalog-data">``. Per segment (:class:`SegmentEntry`): who owns it and what it
is, its filter in plain English (:mod:`runner.catalog.plain`) with the raw body,
where its file goes, its freshness, and its runs oldest first.

Size decides the shape of the runs: 500 segments of 365 runs are 182,500 runs, and
the site must stay under 25 MB. Each run (:class:`RunEntry`) is an object with
``ended``, ``status``, ``rows`` and, for runs that computed deltas, ``added`` and
``removed``; what each run also has (seconds, git commit, body fingerprint, error)
is in :class:`RunDetails`, one list per field in the order of ``runs``. Commits are
indexes into ``commits`` (they change rarely); fingerprints are cut to their first
:data:`FINGERPRINT_DIGITS` hex digits (a body with a relative date has a new one
every run; ``segments history --format json`` has them whole).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, TypedDict

from runner.catalog.plain import describe, sentence
from runner.history.freshness import Judgement
from runner.history.record import RunRecord
from runner.spec.segment import Segment


class RunEntry(TypedDict, total=False):
    """One run. ``rows`` is null for a run that ended before counting (failed,
    interrupted); ``added`` and ``removed`` are there only for runs that computed deltas."""

    ended: str
    status: str
    rows: int | None
    added: int
    removed: int


class RunDetails(TypedDict):
    """The rest of each run, one list per field, in the order of ``runs``."""

    seconds: list[float]
    commit: list[int | None]  # index in SegmentEntry.commits; null: not run from git
    fingerprint: list[str]  # the first FINGERPRINT_DIGITS hex digits of body_fingerprint
    error: dict[str, str]  # run index (as text: a JSON key) -> its one-line error
    accepted_change: list[int]  # the indexes of runs --accept-change let publish


class SegmentEntry(TypedDict):
    name: str
    file: str
    description: str
    owner: str
    labels: list[str]
    filter_text: str
    filter_clauses: list[str]
    body: dict[str, Any]
    destination: str
    format: str
    preset: str | None
    split: str | None
    mode: str
    delta: bool
    fresh_within: str | None
    freshness: str  # fresh | stale | never | unknown (history unreadable)
    freshness_text: str
    history: str  # where the runs were read
    commits: list[str]
    runs: list[RunEntry]
    run_details: RunDetails


class CatalogData(TypedDict):
    generated: str  # when the catalog was built, ISO-8601 UTC
    as_of: str  # the clock the bodies were rendered with and freshness judged at
    runner_version: str
    project: str
    segments: list[SegmentEntry]


class ListEntry(TypedDict):
    """What the list of segments shows and searches, a few hundred bytes a segment: the
    page embeds these apart (``id="catalog-list"``) and is usable before it reads the
    runs of 500 segments (a 20 MB JSON.parse) when a segment is first opened."""

    name: str
    owner: str
    labels: list[str]
    description: str
    destination: str
    file: str
    filter_text: str
    freshness: str
    last: RunEntry | None  # the newest run
    last_rows: int | None  # the rows of the newest successful run


class CatalogList(TypedDict):
    generated: str
    as_of: str
    runner_version: str
    project: str
    segments: list[ListEntry]


def catalog_list(data: CatalogData) -> CatalogList:
    """The list the page shows first, from the whole data."""
    return {
        "generated": data["generated"],
        "as_of": data["as_of"],
        "runner_version": data["runner_version"],
        "project": data["project"],
        "segments": [_list_entry(entry) for entry in data["segments"]],
    }


def _list_entry(entry: SegmentEntry) -> ListEntry:
    runs = entry["runs"]
    published = (r["rows"] for r in reversed(runs) if r["status"] == "success")
    return {
        "name": entry["name"],
        "owner": entry["owner"],
        "labels": entry["labels"],
        "description": entry["description"],
        "destination": entry["destination"],
        "file": entry["file"],
        "filter_text": entry["filter_text"],
        "freshness": entry["freshness"],
        "last": runs[-1] if runs else None,
        "last_rows": next(published, None),
    }


FINGERPRINT_DIGITS = 12
COUNTED = frozenset({"success", "guard"})  # runs that reached the end of the pages


def split_text(seg: Segment) -> str | None:
    """``output.split`` in words: ``parts of at most 1,000,000 rows / 5 GB``; None: one file."""
    split = seg.output.split
    if split is None:
        return None
    limits = []
    if split.max_rows is not None:
        limits.append(f"{split.max_rows:,} rows")
    if split.max_bytes is not None:
        limits.append(f"{split.max_bytes:,} bytes")
    plain = " (one plain file when it fits)" if split.plain_if_one else ""
    return f"parts of at most {' / '.join(limits)}{plain}"


def run_entries(
    records: Sequence[RunRecord], commits: list[str]
) -> tuple[list[RunEntry], RunDetails]:
    """The runs as entries and their details; ``commits`` collects the distinct commits."""
    seen: dict[str, int] = {}
    runs: list[RunEntry] = []
    details: RunDetails = {
        "seconds": [],
        "commit": [],
        "fingerprint": [],
        "error": {},
        "accepted_change": [],
    }
    for n, r in enumerate(records):
        entry: RunEntry = {
            "ended": r.ended,
            "status": str(r.status),
            "rows": r.rows if r.status in COUNTED else None,
        }
        if r.added is not None:
            entry["added"] = r.added
            entry["removed"] = r.removed or 0
        runs.append(entry)
        details["seconds"].append(round(r.seconds, 1))
        details["commit"].append(
            None if r.git_commit is None else _index(r.git_commit, seen, commits)
        )
        details["fingerprint"].append(r.body_fingerprint[:FINGERPRINT_DIGITS])
        if r.error:
            details["error"][str(n)] = r.error
        if r.accepted_change:
            details["accepted_change"].append(n)
    return runs, details


def _index(value: str, seen: dict[str, int], values: list[str]) -> int:
    if value not in seen:
        seen[value] = len(values)
        values.append(value)
    return seen[value]


def segment_entry(
    seg: Segment,
    destination: str,
    history: str,
    records: Sequence[RunRecord],
    judgement: Judgement,
    run: dt.datetime,
) -> SegmentEntry:
    """Everything the page shows about ``seg``; ``run``: the clock its body was rendered at."""
    commits: list[str] = []
    runs, details = run_entries(records, commits)
    clauses = describe(seg.body, run)
    return {
        "name": seg.name,
        "file": seg.file,
        "description": seg.description,
        "owner": seg.owner,
        "labels": list(seg.labels),
        "filter_text": sentence(clauses),
        "filter_clauses": clauses,
        "body": dict(seg.body),
        "destination": destination,
        "format": seg.output.format,
        "preset": seg.output.preset,
        "split": split_text(seg),
        "mode": seg.mode,
        "delta": seg.output.delta,
        "fresh_within": seg.fresh_within,
        "freshness": str(judgement.state),
        "freshness_text": judgement.describe(),
        "history": history,
        "commits": commits,
        "runs": runs,
        "run_details": details,
    }
