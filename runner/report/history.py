"""``segments history``: the runs of each segment as a table with a sparkline, or JSON.

>>> sparkline([1000, 980, None, 480, 1010])
'██·▄█'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from fractions import Fraction

from runner.history.guard import percent
from runner.history.record import RunRecord, RunStatus
from runner.problems import counted
from runner.report.table import format_table

BARS = "▁▂▃▄▅▆▇█"
NO_ROWS = "·"  # a run that ended before it had a row count (failed, interrupted)
NOTE_WIDTH = 70
NUMBERS = {2, 3, 4, 5, 6}  # columns that line up on the right


def sparkline(values: Sequence[int | None]) -> str:
    """One bar per value, in eighths of the largest (█); half of it is ▄; None is ·.

    Bars start at zero, not at the smallest value, so a drop to half looks like half
    (0 rows, which no bar can show, is the lowest bar ▁).
    """
    top = max((v for v in values if v is not None), default=0)
    steps = len(BARS)

    def bar(v: int) -> str:
        eighths = -(-v * steps // top) if top > 0 else 0  # rounded up
        return BARS[max(0, eighths - 1)]

    return "".join(NO_ROWS if v is None else bar(v) for v in values)


def _counted(record: RunRecord) -> int | None:
    """The rows a run counted: runs that reached the end (published or guarded)."""
    return record.rows if record.status in (RunStatus.SUCCESS, RunStatus.GUARD) else None


def _cut(text: str, width: int = NOTE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _note(record: RunRecord) -> str:
    parts = []
    if record.error:
        parts.append(record.error)
    if record.accepted_change:
        parts.append("change accepted (--accept-change)")
    if record.added is not None:
        parts.append(f"+{record.added} -{record.removed or 0} ids")
    if record.mode == "incremental" and record.window_end:
        parts.append(f"created {record.window_start or '…'} .. {record.window_end}")
    return _cut("; ".join(parts))


def _rows(runs: Sequence[RunRecord]) -> list[list[str]]:
    table = [["ended (UTC)", "status", "rows", "change", "pages", "retries", "seconds", "note"]]
    previous: int | None = None
    for record in runs:
        counted = _counted(record)
        change = ""
        if counted is not None and previous is not None:
            change = percent(Fraction(counted - previous, previous)) if previous else "new"
        table.append(
            [
                record.ended[:16].replace("T", " "),
                str(record.status),
                "" if counted is None else f"{counted:,}",
                change,
                str(record.pages),
                str(record.retries),
                f"{record.seconds:.1f}",
                _note(record),
            ]
        )
        if record.ok:
            previous = record.rows
    return table


def render_text(history: Mapping[str, Sequence[RunRecord]], where: str) -> str:
    """Each segment: a title line with the sparkline of rows, then its runs, oldest first."""
    out = []
    for segment, runs in history.items():
        if not runs:
            out.append(f"{segment}: no runs recorded in {where}\n")
            continue
        line = sparkline([_counted(r) for r in runs])
        ok = sum(r.ok for r in runs)
        title = f"{segment}  {line}  ({counted(len(runs), 'run')}, {ok} successful)\n"
        out.append(title + format_table(_rows(runs), right=NUMBERS))
    return "\n".join(out)


def render_json(history: Mapping[str, Sequence[RunRecord]]) -> str:
    """A JSON list of runs (each names its segment), segment by segment, oldest first."""
    runs = [record.to_dict() for records in history.values() for record in records]
    return json.dumps(runs, indent=2, ensure_ascii=False) + "\n"
