"""``segments overlap``: each pair's shared contacts and Jaccard index, as a table or JSON.

>>> from runner.history.overlap import Pair
>>> print(render_text([], [Pair("vip", "news", 1200, 3400, 800)]), end="")
A    B     A IDS  B IDS  SHARED  JACCARD
vip  news  1,200  3,400     800   0.2105
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from runner.history.overlap import Audience, Pair
from runner.report.table import format_table


def render_text(audiences: Sequence[Audience], found: Sequence[Pair]) -> str:
    """The snapshots compared (segment, ids, the run that published them), the pairs'
    table, then each segment with no snapshot and why."""
    lines = [
        f"{a.segment}: {a.ids:,} ids published by run {a.run.run_id} (as of {a.run.as_of})\n"
        for a in audiences
        if a.digests is not None and a.run is not None
    ]
    table = [["A", "B", "A IDS", "B IDS", "SHARED", "JACCARD"]] + [
        [p.a, p.b, f"{p.a_ids:,}", f"{p.b_ids:,}", f"{p.shared:,}", f"{p.jaccard:.4f}"]
        for p in found
    ]
    text = "".join(lines) + (format_table(table, right={2, 3, 4, 5}) if found else "")
    if not found:
        text += "no pair to compare: overlap needs two segments with an id snapshot\n"
    return text + "".join(
        f"no snapshot: {a.segment}: {a.missing}\n" for a in audiences if a.missing
    )


def render_json(audiences: Sequence[Audience], found: Sequence[Pair]) -> str:
    segments: list[dict[str, Any]] = [
        {
            "name": a.segment,
            "ids": a.ids if a.digests is not None else None,
            "run_id": a.run.run_id if a.run is not None else None,
            "as_of": a.run.as_of if a.run is not None else None,
            "missing": a.missing or None,
        }
        for a in audiences
    ]
    pairs = [
        {
            "a": p.a,
            "b": p.b,
            "a_ids": p.a_ids,
            "b_ids": p.b_ids,
            "shared": p.shared,
            "jaccard": p.jaccard,
        }
        for p in found
    ]
    return json.dumps({"segments": segments, "pairs": pairs}, indent=2, ensure_ascii=False) + "\n"
