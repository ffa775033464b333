"""What a person sees after an export: a table of the segments, then what went wrong."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from runner.history import RunStatus
from runner.problems import counted
from runner.report.table import format_table
from runner.run.record import DONE

if TYPE_CHECKING:
    from runner.run.record import ExportResult


STOPPED = (RunStatus.FAILED, RunStatus.GUARD)  # each with an error to show
UNDONE = (*STOPPED, RunStatus.INTERRUPTED, RunStatus.SKIPPED)  # counted in the last line


def summary(results: Sequence[ExportResult]) -> str:
    """The table of every segment's figures, the rows a preset left out, the errors and a count."""
    rows = [
        ["SEGMENT", "ROWS", "PAGES", "DUPLICATES", "RETRIES", "SECONDS", "DESTINATION", "STATUS"]
    ]
    for r in results:
        rows.append(
            [
                r.segment,
                f"{r.rows:,}",
                str(r.pages),
                str(r.duplicates),
                str(r.retries),
                f"{r.seconds:.2f}",
                r.destination or "-",
                str(r.status),
            ]
        )
    text = format_table(rows)
    text += "".join(map(_left_out, results))
    for r in results:
        sets = [counted(r.parts, "part")] if r.parts else []
        sets += [counted(r.held_out_parts, "holdout part")] if r.held_out_parts else []
        if sets:
            text += f"{r.segment}: {' and '.join(sets)} beside {r.destination} (output.split)\n"
    for r in results:
        if r.concurrency:
            mode = "auto" if r.auto_concurrency else "fixed"
            read = counted(r.windows, "createdAt window") if r.windows else "page numbers"
            read += f", {r.read_as}" if r.read_as else ""
            text += f"{r.segment}: concurrency settled at {r.concurrency} ({mode}), {read}\n"
        if r.note:
            text += f"warning: {r.segment}: {r.note}\n"
    for r in results:
        text += "".join(f"warning: {r.segment}: {line}\n" for line in r.warnings)
    for r in results:
        if r.status in STOPPED:  # an interrupt's error says only that: the table shows it
            text += f"error: {r.segment}: {r.error}\n"
    ok = sum(1 for r in results if r.status in DONE)
    counts = Counter(r.status for r in results if r.status not in DONE)
    tail = "".join(f", {counts[status]} {status}" for status in UNDONE if counts[status])
    return text + f"{ok} of {counted(len(results), 'segment')} exported{tail}\n"


def _left_out(r: ExportResult) -> str:
    """What the run left out of the file or left empty, and why ("" when nothing)."""
    text = ""
    if r.dropped_unmatchable:
        text += (
            f"{r.segment}: {r.dropped_unmatchable:,} rows with no e-mail or phone the "
            "platform can match were left out (dropped_unmatchable)\n"
        )
    if r.invalid_phones:
        text += (
            f"{r.segment}: {r.invalid_phones:,} phone numbers libphonenumber says are "
            "not valid were left empty (invalid_phones)\n"
        )
    if r.after_as_of:
        text += (
            f"{r.segment}: {counted(r.after_as_of, 'contact')} created after the as-of, "
            "left for the next run (after_as_of)\n"
        )
    if r.undated:
        text += f"{r.segment}: {counted(r.undated, 'contact')} without createdAt " + (
            "(in no incremental window): exported, as a first run is a full export\n"
            if r.undated_included
            else "are not in this incremental run: nothing says when they arrived (a "
            "full export has them; the first run had those there then)\n"
        )
    return text
