"""``segments freshness``: per segment, how old its last published export is.

>>> from runner.history.freshness import Freshness, Judgement, SegmentFreshness
>>> never = SegmentFreshness("vip", Judgement(Freshness.NEVER, "26h", None, None), None)
>>> print(render_text([never]), end="")
SEGMENT  FRESHNESS  WITHIN  LAST PUBLISHED (UTC)  AGE  LAST RUN
vip      never      26h     -                     -    -
1 segment: 0 fresh, 0 stale, 1 never published
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from runner.history.freshness import Freshness, SegmentFreshness, age_text
from runner.history.record import RunRecord
from runner.report.table import format_table


def _last_run(newest: RunRecord | None) -> str:
    if newest is None:
        return "-"
    note = f": {newest.error}" if newest.error else ""
    text = f"{newest.status} {newest.ended[:16].replace('T', ' ')}{note}"
    return text if len(text) <= 80 else text[:79] + "…"


def render_text(items: Sequence[SegmentFreshness]) -> str:
    """A table, then one line counting each state."""
    table = [["SEGMENT", "FRESHNESS", "WITHIN", "LAST PUBLISHED (UTC)", "AGE", "LAST RUN"]]
    for item in items:
        j = item.judgement
        last = j.last_success
        table.append(
            [
                item.name,
                str(j.state),
                (j.within or "").strip() or "-",
                last.ended[:16].replace("T", " ") if last else "-",
                age_text(j.age) if j.age is not None else "-",
                _last_run(item.newest),
            ]
        )
    counts = {state: sum(i.judgement.state is state for i in items) for state in Freshness}
    noun = "segment" if len(items) == 1 else "segments"
    summary = (
        f"{len(items)} {noun}: {counts[Freshness.FRESH]} fresh, {counts[Freshness.STALE]} "
        f"stale, {counts[Freshness.NEVER]} never published"
    )
    if counts[Freshness.UNKNOWN]:
        summary += f", {counts[Freshness.UNKNOWN]} unknown (history unreadable)"
    errors = "".join(f"{i.name}: {i.judgement.describe()}\n" for i in items if i.judgement.error)
    return format_table(table) + summary + "\n" + errors


def render_json(items: Sequence[SegmentFreshness]) -> str:
    """A JSON list: name, freshness, fresh_within, last_success, age_seconds, last_run."""
    rows = [
        {
            "name": i.name,
            "freshness": str(i.judgement.state),
            "fresh_within": i.judgement.within,
            "last_success": i.judgement.last_success.ended if i.judgement.last_success else None,
            "age_seconds": None if i.judgement.age is None else i.judgement.age.total_seconds(),
            "last_run": i.newest.to_dict() if i.newest else None,
            "error": i.judgement.error or None,
        }
        for i in items
    ]
    return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
